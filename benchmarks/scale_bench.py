"""Scale: both pipelines on the synthetic table at growing sizes (100k, 1M, 10M rows by default).

One pipeline round per framework and size (a 10M-row TFX run takes most of an hour here), so
nothing is interleaved: read the figures with the machine's ~30% process-to-process noise in
mind. Per run: the pipeline wall, each stage's own seconds and each stage's peak RSS.

- cost per row: pipeline wall / rows. Its growth between the two largest sizes (1M → 10M by
  default) is the target (≤ 1.3): a pipeline whose cost per row grows has a step that does not
  stream (or a fixed cost that the smaller size hid is not the reason: fixed costs shrink per row).
- peak RSS per stage: what the stage itself logged (`peak_rss_mb` of its MLflow step run: the
  step's process high-water mark, reset when the step starts; PyTorch's train step: rank 0) or,
  for TFX's built-in nodes, which run inside this process one after another, the process's
  high-water mark while the node's executor ran (reset when it starts: it includes the
  process's baseline, TensorFlow and earlier nodes' memory still held). A stage's RSS growth
  between the two largest sizes is compared with the growth of what it must hold: a stage in
  `HOLDS_THE_SPLIT` keeps something per row in memory (named there, with why) and may grow as
  fast as the rows, never faster; every other stage streams, and its peak may grow at most
  `STREAMING_RSS_GROWTH` (its batches, sketches and buffers do not depend on the row count; the
  margin covers allocator noise).

Not in the default `make bench` (too long): `python -m benchmarks.run --only scale`, or
`make bench BENCH_ARGS=--with-scale` to add it to the whole suite.
"""

from __future__ import annotations

import tempfile
from collections.abc import Sequence
from pathlib import Path

from rich.console import Console
from rich.table import Table

from benchmarks import DATA_DIR, specs
from benchmarks.display import number, progress, target, verdict
from benchmarks.pipelines_bench import BIG_EPOCHS, FRAMEWORKS, pipeline_round

NAME = "scale"
DEFAULT_ROWS = (100_000, 1_000_000, 10_000_000)
QUICK_ROWS = (5_000, 20_000)
COST_GROWTH_TARGET = 1.3
STREAMING_RSS_GROWTH = 1.5
# Stages that hold something per row in memory by design, and why (the rest stream).
HOLDS_THE_SPLIT = {
    "ingest": "the repeated-id check keeps every row's id (a side input of the ids seen twice is "
    "found from all of them)",
    "train": "the PyTorch trainer keeps its shard of the encoded train split as tensors (a "
    "DataLoader over files would cost the per-batch reads the bare loop does not pay)",
    "Trainer": "the TensorFlow trainer fits Keras on the transformed train split in memory",
    "evaluate": "the judge predicts the whole test split and keeps its predictions",
    "SharedEvaluator": "the judge predicts the whole test split and keeps its predictions",
}


def run(
    rows: Sequence[int] | None = None,
    repeats: int = 1,
    console: Console | None = None,
    quick: bool = False,
) -> dict:
    """`repeats` is ignored: one round per size (the suite passes it to every benchmark)."""
    sizes = sorted(set(rows or (QUICK_ROWS if quick else DEFAULT_ROWS)))
    work_root = DATA_DIR / "tmp"
    work_root.mkdir(parents=True, exist_ok=True)
    runs: dict[str, list[dict]] = {framework: [] for framework in FRAMEWORKS}
    with progress(console) as bar, tempfile.TemporaryDirectory(dir=work_root) as root:
        task = bar.add_task("scale", total=len(sizes) * len(FRAMEWORKS))
        for size in sizes:
            loaded = specs.synthetic(size, epochs=BIG_EPOCHS)
            for framework in FRAMEWORKS:
                bar.update(task, description=f"scale: {framework}, {size:,} rows")
                work = Path(root) / f"{framework}-{size}"
                work.mkdir()
                record = pipeline_round(framework, loaded, work)
                runs[framework].append({"rows": size, **record})
                bar.advance(task)
    growth = {framework: growth_between(found[-2:]) for framework, found in runs.items()}
    return {
        "epochs": BIG_EPOCHS,
        "holds_the_split": HOLDS_THE_SPLIT,
        "runs": runs,
        "growth": growth,
        "targets": _targets(growth),
    }


def growth_between(pair: list[dict]) -> dict | None:
    """Cost-per-row growth and each stage's peak-RSS growth from the smaller run to the larger,
    beside the growth of the rows; None with fewer than two sizes."""
    if len(pair) < 2:
        return None
    small, large = pair
    row_growth = large["rows"] / small["rows"]
    rss = {}
    for stage in large["stages"]:
        before = _stage_rss(small, stage["stage"])
        after = stage.get("peak_rss_mb")
        if before and after:
            rss[stage["stage"]] = after / before
    return {
        "from_rows": small["rows"],
        "to_rows": large["rows"],
        "row_growth": row_growth,
        "cost_per_row_growth": (large["wall_s"] / large["rows"])
        / (small["wall_s"] / small["rows"]),
        "peak_rss_growth": rss,
        "over_limit": sorted(
            name for name, ratio in rss.items() if ratio > rss_growth_limit(name, row_growth)
        ),
    }


def rss_growth_limit(stage: str, row_growth: float) -> float:
    """How much a stage's peak RSS may grow when the rows grow `row_growth` times."""
    return row_growth if stage in HOLDS_THE_SPLIT else STREAMING_RSS_GROWTH


def _stage_rss(record: dict, name: str) -> float | None:
    return next((s.get("peak_rss_mb") for s in record["stages"] if s["stage"] == name), None)


def _targets(growth: dict[str, dict | None]) -> list[dict]:
    targets = []
    for framework, found in growth.items():
        span = f"{found['from_rows']:,} → {found['to_rows']:,} rows" if found else "two sizes"
        targets.append(
            target(
                f"{framework} pipeline cost per row grows <= {COST_GROWTH_TARGET}x, {span}",
                found["cost_per_row_growth"] if found else None,
                COST_GROWTH_TARGET,
                higher_is_better=False,
            )
        )
        targets.append(
            target(
                f"{framework}: steps whose peak RSS grows faster than what they hold, {span}",
                float(len(found["over_limit"])) if found else None,
                0,
                higher_is_better=False,
            )
        )
    return targets


def render(result: dict, console: Console) -> None:
    table = Table(title="Scale: one round per size (seconds; peak RSS MiB)")
    for column in ("framework", "rows", "stage", "own s", "peak RSS MiB", "holds the split"):
        table.add_column(column, justify="left" if column in ("framework", "stage") else "right")
    for framework, found in result["runs"].items():
        for record in found:
            for stage in record["stages"]:
                table.add_row(
                    framework,
                    f"{record['rows']:,}",
                    stage["stage"],
                    number(stage["own_s"], 1),
                    number(stage.get("peak_rss_mb"), 0),
                    "yes" if stage["stage"] in HOLDS_THE_SPLIT else "",
                )
            per_row_us = record["wall_s"] / record["rows"] * 1e6
            table.add_row(
                framework,
                f"{record['rows']:,}",
                "[bold]pipeline wall[/bold]",
                number(record["wall_s"], 1),
                f"{per_row_us:,.1f} µs/row",
                "",
            )
            table.add_section()
    console.print(table)
    for framework, found in result["growth"].items():
        if found:
            rss = ", ".join(
                f"{name} {ratio:.2f}x" for name, ratio in found["peak_rss_growth"].items()
            )
            console.print(
                f"{framework}, {found['from_rows']:,} → {found['to_rows']:,} rows "
                f"({found['row_growth']:.0f}x): cost per row {found['cost_per_row_growth']:.2f}x; "
                f"peak RSS {rss or 'not logged'}"
            )
    for found in result["targets"]:
        console.print(verdict(found))
