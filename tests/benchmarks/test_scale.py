"""The scale round's growth figures: cost per row and each stage's own memory against its limit."""

from __future__ import annotations

import pytest
from rich.console import Console

from benchmarks.scale_bench import (
    OWN_INCREASE,
    RAW_PEAK,
    RSS_FLOOR_MB,
    STREAMING_RSS_GROWTH,
    growth_between,
    render,
)


def record(rows: int, wall_s: float, rss: dict[str, float | tuple[float, float]]) -> dict:
    """A run's record; a stage's memory is its peak (no start figure) or (start, peak)."""
    stages = []
    for name, mb in rss.items():
        start, peak = mb if isinstance(mb, tuple) else (None, mb)
        stage = {"stage": name, "own_s": 1.0, "peak_rss_mb": peak}
        stages.append(stage if start is None else {**stage, "start_rss_mb": start})
    return {"rows": rows, "wall_s": wall_s, "stages": stages}


def test_cost_per_row_growth_compares_seconds_per_row():
    found = growth_between([record(1_000, 10.0, {}), record(10_000, 130.0, {})])
    assert found["row_growth"] == 10
    assert found["cost_per_row_growth"] == pytest.approx(1.3)


def test_without_start_figures_a_streaming_stage_is_judged_on_its_raw_peak():
    small = record(1_000, 10.0, {"StatisticsGen": 1000.0, "train": 500.0, "Transform": 1000.0})
    large = record(
        10_000,
        100.0,
        {
            "StatisticsGen": 1000.0 * (STREAMING_RSS_GROWTH + 0.1),
            "train": 4_900.0,
            "Transform": 1100.0,
        },
    )
    found = growth_between([small, large])
    assert found["over_limit"] == ["StatisticsGen"]
    assert found["rss_growth"]["train"]["growth"] == pytest.approx(9.8)
    assert {stage["basis"] for stage in found["rss_growth"].values()} == {RAW_PEAK}


def test_a_holding_stage_growing_faster_than_the_rows_is_over_its_limit():
    found = growth_between(
        [record(1_000, 1.0, {"train": 100.0}), record(2_000, 2.0, {"train": 300.0})]
    )
    assert found["over_limit"] == ["train"]


def test_a_streaming_stage_whose_own_increase_outgrows_its_limit_is_flagged():
    # A constant 1.5 GB baseline hides it in the raw peak: 1,600 → 1,900 MiB is 1.19x.
    small = record(1_000, 1.0, {"Transform": (1_500.0, 1_600.0)})
    large = record(10_000, 10.0, {"Transform": (1_500.0, 1_900.0)})
    found = growth_between([small, large])
    stage = found["rss_growth"]["Transform"]
    assert stage == {"basis": OWN_INCREASE, "from_mb": 100.0, "to_mb": 400.0, "growth": 4.0}
    assert found["over_limit"] == ["Transform"]


def test_a_stage_whose_raw_peak_grew_only_with_what_the_process_already_held_passes():
    # Earlier nodes leave more behind at the larger size; what the node adds stays ~200 MiB.
    small = record(1_000, 1.0, {"StatisticsGen": (300.0, 500.0)})
    large = record(10_000, 10.0, {"StatisticsGen": (2_800.0, 3_010.0)})
    found = growth_between([small, large])
    assert found["rss_growth"]["StatisticsGen"]["growth"] == pytest.approx(1.05)
    assert found["over_limit"] == []


def test_small_own_increases_count_as_the_floor():
    small = record(1_000, 1.0, {"Transform": (1_500.0, 1_504.0), "StatisticsGen": (900.0, 905.0)})
    large = record(
        10_000,
        10.0,
        {"Transform": (1_500.0, 1_540.0), "StatisticsGen": (900.0, 900.0 + 3 * RSS_FLOOR_MB)},
    )
    found = growth_between([small, large])
    assert found["rss_growth"]["Transform"]["growth"] == 1.0  # 4 → 40 MiB: noise, not 10x
    assert found["rss_growth"]["StatisticsGen"]["growth"] == pytest.approx(3.0)
    assert found["over_limit"] == ["StatisticsGen"]


def test_a_stage_with_a_start_figure_at_one_size_only_is_judged_on_its_raw_peak():
    small = record(1_000, 1.0, {"train": (1_000.0, 1_100.0)})
    large = record(10_000, 10.0, {"train": 2_000.0})
    stage = growth_between([small, large])["rss_growth"]["train"]
    assert stage["basis"] == RAW_PEAK
    assert stage["growth"] == pytest.approx(2_000 / 1_100)


def test_one_size_has_no_growth():
    assert growth_between([record(1_000, 1.0, {})]) is None


def test_the_table_shows_each_stages_peak_and_own_increase():
    small = record(1_000, 1.0, {"Transform": (1_500.0, 1_600.0), "train": 700.0})
    large = record(10_000, 10.0, {"Transform": (1_500.0, 1_900.0), "train": 900.0})
    growth = growth_between([small, large])
    result = {"runs": {"tensorflow": [small, large]}, "growth": {"tensorflow": growth}}
    console = Console(record=True, width=300)
    render({**result, "targets": []}, console)
    text = console.export_text()
    rows = [[cell.strip() for cell in line.split("│")[1:-1]] for line in text.splitlines()]
    assert ["tensorflow", "10,000", "Transform", "1.0", "1,900", "400", ""] in rows
    assert ["tensorflow", "10,000", "train", "1.0", "900", "no start figure", "yes"] in rows
    assert "own memory Transform 4.00x, train 1.29x (raw peak, no start figure)" in text
