"""The scale round's growth figures: cost per row and each stage's peak RSS against its limit."""

from __future__ import annotations

import pytest

from benchmarks.scale_bench import STREAMING_RSS_GROWTH, growth_between


def record(rows: int, wall_s: float, rss: dict[str, float]) -> dict:
    stages = [{"stage": name, "own_s": 1.0, "peak_rss_mb": mb} for name, mb in rss.items()]
    return {"rows": rows, "wall_s": wall_s, "stages": stages}


def test_cost_per_row_growth_compares_seconds_per_row():
    found = growth_between([record(1_000, 10.0, {}), record(10_000, 130.0, {})])
    assert found["row_growth"] == 10
    assert found["cost_per_row_growth"] == pytest.approx(1.3)


def test_a_streaming_stage_may_not_grow_with_the_rows_but_a_holding_one_may():
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
    assert found["peak_rss_growth"]["train"] == pytest.approx(9.8)


def test_a_holding_stage_growing_faster_than_the_rows_is_over_its_limit():
    found = growth_between(
        [record(1_000, 1.0, {"train": 100.0}), record(2_000, 2.0, {"train": 300.0})]
    )
    assert found["over_limit"] == ["train"]


def test_one_size_has_no_growth():
    assert growth_between([record(1_000, 1.0, {})]) is None
