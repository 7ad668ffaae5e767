"""Scale: both pipelines on the synthetic table at growing sizes (100k, 1M, 10M rows by default).

One pipeline round per framework and size (a 10M-row TFX run takes most of an hour here), so
nothing is interleaved: read the figures with the machine's ~30% process-to-process noise in
mind. Per run: the pipeline wall, each stage's own seconds, each stage's peak RSS and its RSS
when that peak's window started.

- cost per row: pipeline wall / rows. Its growth between the two largest sizes (1M → 10M by
  default) is the target (≤ 1.3): a pipeline whose cost per row grows has a step that does not
  stream (or a fixed cost that the smaller size hid is not the reason: fixed costs shrink per row).
- memory per stage: what the stage itself logged (its MLflow step run's `peak_rss_mb`, the
  step's process high-water mark, reset when the step starts, and `start_rss_mb`, the RSS at
  that reset; PyTorch's train step: rank 0) or, for TFX's built-in nodes, which run inside this
  process one after another, the same two figures around the node's executor. A peak includes
  what the process already held when the stage started (on the TFX side TensorFlow's baseline
  and earlier nodes' leftovers), so a stage is judged on its own increase, peak - start; a stage
  without a start figure (a step that does not log one) on its raw peak, and its result says so
  (`basis`). The growth of that figure between the two largest sizes is compared with the growth
  of what the stage must hold: a stage in `HOLDS_THE_SPLIT` keeps something per row in memory
  (named there, with why) and may grow as fast as the rows, never faster; every other stage
  streams, and its figure may grow at most `STREAMING_RSS_GROWTH` (its batches, sketches and
  buffers do not depend on the row count; the margin covers allocator noise). Figures below
  `RSS_FLOOR_MB` count as that floor.

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
from components.common.tracking import PEAK_RSS, START_RSS

NAME = "scale"
DEFAULT_ROWS = (100_000, 1_000_000, 10_000_000)
QUICK_ROWS = (5_000, 20_000)
COST_GROWTH_TARGET = 1.3
STREAMING_RSS_GROWTH = 1.5
# Memory figures below this count as this much when their growth is taken. A stage's own
# increase can be a few MiB at the smaller size (its buffers fit in pages the process had
# already mapped; allocator and lazy-import noise move it by tens of MiB either way), and a ratio
# over a few MiB says nothing: 4 → 20 MiB is "5x". Above the floor the ratio compares memory the
# stage really took.
RSS_FLOOR_MB = 64.0
# What a stage's memory growth is judged on.
OWN_INCREASE, RAW_PEAK = "own increase", "raw peak"
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
    """Cost-per-row growth and each stage's memory growth (`rss_growth`) from the smaller run to
    the larger, beside the growth of the rows; None with fewer than two sizes."""
    if len(pair) < 2:
        return None
    small, large = pair
    row_growth = large["rows"] / small["rows"]
    rss = {}
    for stage in large["stages"]:
        before = next((s for s in small["stages"] if s["stage"] == stage["stage"]), None)
        found = rss_growth(before, stage) if before else None
        if found:
            rss[stage["stage"]] = found
    return {
        "from_rows": small["rows"],
        "to_rows": large["rows"],
        "row_growth": row_growth,
        "cost_per_row_growth": (large["wall_s"] / large["rows"])
        / (small["wall_s"] / small["rows"]),
        "rss_growth": rss,
        "over_limit": sorted(
            name
            for name, found in rss.items()
            if found["growth"] > rss_growth_limit(name, row_growth)
        ),
    }


def rss_growth(small: dict, large: dict) -> dict | None:
    """One stage's memory from the smaller run to the larger: {basis, from_mb, to_mb, growth}.
    The basis is its own increase (peak - start RSS) when both runs recorded a start, else its
    raw peak; None unless both runs recorded a peak."""
    if not (small.get(PEAK_RSS) and large.get(PEAK_RSS)):
        return None
    before, after = own_increase_mb(small), own_increase_mb(large)
    basis = OWN_INCREASE
    if before is None or after is None:
        basis, before, after = RAW_PEAK, small[PEAK_RSS], large[PEAK_RSS]
    return {
        "basis": basis,
        "from_mb": before,
        "to_mb": after,
        "growth": max(after, RSS_FLOOR_MB) / max(before, RSS_FLOOR_MB),
    }


def own_increase_mb(stage: dict) -> float | None:
    """What the stage added to its process's memory: peak - RSS at its start; None without both."""
    peak, start = stage.get(PEAK_RSS), stage.get(START_RSS)
    return None if peak is None or start is None else peak - start


def rss_growth_limit(stage: str, row_growth: float) -> float:
    """How much a stage's own memory may grow when the rows grow `row_growth` times."""
    return row_growth if stage in HOLDS_THE_SPLIT else STREAMING_RSS_GROWTH


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
                f"{framework}: steps whose own memory grows faster than what they hold, {span}",
                float(len(found["over_limit"])) if found else None,
                0,
                higher_is_better=False,
            )
        )
    return targets


def render(result: dict, console: Console) -> None:
    table = Table(
        title="Scale: one round per size (seconds; MiB: each stage's peak RSS and its own "
        "increase, peak - RSS at its start)"
    )
    columns = ("framework", "rows", "stage", "own s", "peak RSS", "own increase", "holds the split")
    for column in columns:
        table.add_column(column, justify="left" if column in ("framework", "stage") else "right")
    for framework, found in result["runs"].items():
        for record in found:
            for stage in record["stages"]:
                table.add_row(
                    framework,
                    f"{record['rows']:,}",
                    stage["stage"],
                    number(stage["own_s"], 1),
                    number(stage.get(PEAK_RSS), 0),
                    _increase(stage),
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
                "",
            )
            table.add_section()
    console.print(table)
    for framework, found in result["growth"].items():
        if found:
            rss = ", ".join(
                f"{name} {stage['growth']:.2f}x"
                + (f" ({RAW_PEAK}, no start figure)" if stage["basis"] == RAW_PEAK else "")
                for name, stage in found["rss_growth"].items()
            )
            console.print(
                f"{framework}, {found['from_rows']:,} → {found['to_rows']:,} rows "
                f"({found['row_growth']:.0f}x): cost per row {found['cost_per_row_growth']:.2f}x; "
                f"own memory {rss or 'not logged'}"
            )
    for found in result["targets"]:
        console.print(verdict(found))


def _increase(stage: dict) -> str:
    """A stage's own increase for the table; a peak without a start figure says so."""
    increase = own_increase_mb(stage)
    if increase is None and stage.get(PEAK_RSS) is not None:
        return "no start figure"
    return number(increase, 0)
