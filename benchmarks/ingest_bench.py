"""Ingest speed: tandem's Beam ingest against bare pyarrow on the same synthetic CSV.

The reference is `pyarrow.csv.read_csv` + `pyarrow.parquet.write_table` — the fastest a
CSV-to-Parquet conversion gets here, with no validation, split or statistics. Each round runs
the reference (A) then tandem (B) in this one process (A B A B ...), after one untimed warm-up
round; the ratio is the median of the per-round ratios. On 2 shared vCPUs the same run can be
~30% slower in one process than in the next, so this paired ratio is the figure to quote, not
either absolute rate.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

import pyarrow.csv as pacsv
import pyarrow.parquet as pq
from rich.console import Console
from rich.progress import Progress
from rich.table import Table

from benchmarks import DATA_DIR
from benchmarks.display import median_range, progress, target, verdict
from benchmarks.stats import interleave, ratios, summary
from benchmarks.synthetic import bad_row_count, make_dataset, without_id_check
from components.ingest.run import run_ingest
from components.spec import load_spec

NAME = "ingest"
DEFAULT_ROWS = (100_000, 1_000_000)
QUICK_ROWS = (5_000,)
DEFAULT_REPEATS = 3
TARGET_RATIO = 0.5
TARGET_ROWS = 1_000_000
TIMING_KEYS = ("fingerprint_s", "beam_s", "total_s")
# The spec's id column makes ingest read the ids in a pass of their own to find repeats.
VARIANTS = ("pyarrow", "tandem", "tandem, no id check")


def _pyarrow_once(csv_path: Path, work_dir: Path) -> float:
    with tempfile.TemporaryDirectory(dir=work_dir) as out:
        started = time.perf_counter()
        table = pacsv.read_csv(csv_path)
        pq.write_table(table, Path(out) / "data.parquet")
        return time.perf_counter() - started


def _tandem_once(spec_path: Path, work_dir: Path, rows: int) -> tuple[float, dict[str, float]]:
    loaded = load_spec(spec_path)
    # A fresh output directory every time: the run can never be a snapshot cache hit.
    with tempfile.TemporaryDirectory(dir=work_dir) as out:
        started = time.perf_counter()
        result = run_ingest(loaded, Path(out), track=False)
        seconds = time.perf_counter() - started
    assert result.cache_hit is False, "ingest hit the snapshot cache: nothing was measured"
    counts = result.counts
    expected_bad = bad_row_count(rows)
    assert counts["read"] == rows, f"ingest read {counts['read']} rows, expected {rows}"
    assert counts["quarantined"] == expected_bad, (
        f"ingest quarantined {counts['quarantined']} rows, expected {expected_bad}"
    )
    return seconds, dict(result.timings)


def _summary(rows: int, seconds: list[float]) -> dict:
    """The shared summary of the seconds, plus the rate at the median."""
    measured = summary(seconds)
    return {**measured, "rows_per_s": rows / measured["median"]}


def _case(rows: int, repeats: int, bar: Progress) -> dict:
    """One row count: pyarrow, tandem, tandem without the id pass, interleaved per round."""
    task = bar.add_task(f"{rows:,} rows: generating data", total=len(VARIANTS) * (repeats + 1))
    spec_path = make_dataset(rows, DATA_DIR)
    no_id_spec = without_id_check(spec_path)
    csv_path = Path(load_spec(spec_path).spec.dataset.source)
    work_dir = DATA_DIR / "tmp"
    work_dir.mkdir(parents=True, exist_ok=True)

    def measured(variant: str):
        def run_once() -> tuple[float, dict | None]:
            if variant == "pyarrow":
                result = _pyarrow_once(csv_path, work_dir), None
            else:
                spec = spec_path if variant == "tandem" else no_id_spec
                result = _tandem_once(spec, work_dir, rows)
            bar.advance(task)
            return result

        return run_once

    results = interleave(
        {variant: measured(variant) for variant in VARIANTS},
        repeats,
        on_start=lambda label, variant: bar.update(
            task, description=f"{rows:,} rows, {label}: {variant}"
        ),
    )
    bar.update(task, description=f"{rows:,} rows: done")
    seconds = {variant: [took for took, _ in values] for variant, values in results.items()}
    case = {
        "rows": rows,
        "repeats": repeats,
        "csv_bytes": csv_path.stat().st_size,
        "quarantined": bad_row_count(rows),
        "pyarrow": _summary(rows, seconds["pyarrow"]),
    }
    for variant in VARIANTS[1:]:
        # tandem_rate / pyarrow_rate for one round = pyarrow seconds / tandem seconds.
        case[variant] = {
            **_summary(rows, seconds[variant]),
            "timings_s": {
                key: summary([spent[key] for _, spent in results[variant]]) for key in TIMING_KEYS
            },
            "ratio": ratios(seconds["pyarrow"], seconds[variant]),
        }
    return case


def run(
    rows: Sequence[int] | None = None,
    repeats: int = DEFAULT_REPEATS,
    console: Console | None = None,
    quick: bool = False,
) -> dict:
    """Measure every row count; the result is what run.py writes as JSON."""
    with progress(console) as bar:
        cases = [
            _case(count, repeats, bar) for count in rows or (QUICK_ROWS if quick else DEFAULT_ROWS)
        ]
    at_target = next((c for c in cases if c["rows"] == TARGET_ROWS), None)
    return {
        "reference": "pyarrow.csv.read_csv + pyarrow.parquet.write_table",
        "cases": cases,
        "target": target(
            f"tandem ingest >= {TARGET_RATIO}x the bare pyarrow rate at {TARGET_ROWS:,} rows",
            at_target["tandem"]["ratio"]["median"] if at_target else None,
            TARGET_RATIO,
            higher_is_better=True,
        ),
    }


def render(result: dict, console: Console) -> None:
    table = Table(
        title="Ingest: CSV → Parquet",
        caption=(
            "medians of A/B-interleaved rounds after a warm-up; ratio = tandem rate / pyarrow rate"
        ),
    )
    for column in ("rows", "variant", "median s", "rows/s", "ratio"):
        table.add_column(column, justify="left" if column == "variant" else "right")
    for case in result["cases"]:
        reference = case["pyarrow"]
        table.add_row(
            f"{case['rows']:,}",
            "pyarrow",
            median_range(reference),
            f"{reference['rows_per_s']:,.0f}",
        )
        for variant in VARIANTS[1:]:
            measured = case[variant]
            table.add_row(
                "",
                variant,
                median_range(measured),
                f"{measured['rows_per_s']:,.0f}",
                median_range(measured["ratio"], 3),
                end_section=variant == VARIANTS[-1],
            )
    console.print(table)
    for case in result["cases"]:
        for variant in VARIANTS[1:]:
            timings = case[variant]["timings_s"]
            parts = ", ".join(f"{k} {v['median']:.2f}" for k, v in timings.items())
            console.print(f"{case['rows']:,} rows, {variant} timings (median): {parts}")
    console.print(verdict(result["target"]))
