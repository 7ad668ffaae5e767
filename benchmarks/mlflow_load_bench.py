"""MLflow on PostgreSQL under 8 training runs logging at once (`benchmarks.mlflow_load`).

A fresh local stack (`make up`'s: PostgreSQL + `mlflow server`, one worker) in a temporary
directory, then an untimed warm-up load and `repeats` timed loads, each in an experiment of its
own: per load, the p50/p99/max seconds of one log call (one epoch's `log_batch`, as the trainers
log), the metric points per second from the first call to the last, and what the server lost.
Every load is checked, the warm-up too: the target is 0 lost points and 0 failed runs over all.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from rich.console import Console
from rich.table import Table

from benchmarks.display import median_range, progress, target, verdict
from benchmarks.mlflow_load import LoadShape, run_load
from benchmarks.stats import summary
from tandem.stack import local_stack

NAME = "mlflow-load"
SHAPE = LoadShape(runs=8, epochs=50, metrics=5)
QUICK_SHAPE = LoadShape(runs=8, epochs=5, metrics=5)
FIGURES = ("call_p50_ms", "call_p99_ms", "call_max_ms", "points_per_s", "logging_wall_s")


@contextmanager
def fresh_stack() -> Iterator[local_stack.StackInfo]:
    """A stack of its own under /tmp (short enough for PostgreSQL's socket path, reachable by
    the `postgres` user), stopped and removed afterwards."""
    state_dir = Path(tempfile.mkdtemp(prefix="tandem-stack-"))
    try:
        yield local_stack.start(state_dir, mlflow_port=local_stack.free_port())
    finally:
        local_stack.stop(state_dir)
        shutil.rmtree(state_dir, ignore_errors=True)


def run(
    rows: Sequence[int] | None = None,
    repeats: int = 3,
    console: Console | None = None,
    quick: bool = False,
) -> dict:
    """`rows` does not apply: the load's shape is fixed (SHAPE; --quick: QUICK_SHAPE)."""
    shape = QUICK_SHAPE if quick else SHAPE
    with progress(console) as bar, fresh_stack() as stack:
        task = bar.add_task("MLflow load: warm-up", total=repeats + 1)
        loads = []
        for round_ in range(repeats + 1):
            label = "warm-up" if round_ == 0 else f"round {round_}/{repeats}"
            bar.update(task, description=f"MLflow load: {label}")
            loads.append(run_load(stack.tracking_uri, shape, experiment=f"{NAME}-{round_}"))
            bar.advance(task)
    figures = [load.figures() for load in loads]
    timed = figures[1:]
    lost = sum(f["lost_points"] for f in figures)
    failed = [f"load {i}: {why}" for i, f in enumerate(figures) for why in f["failed_runs"]]
    return {
        "runs": shape.runs,
        "epochs": shape.epochs,
        "metrics_per_call": shape.metrics,
        "points_per_load": shape.points,
        "loads": len(loads),
        "backend": "postgresql",
        "mlflow_workers": local_stack.MLFLOW_WORKERS,
        **{
            name: None if any(f[name] is None for f in timed) else summary([f[name] for f in timed])
            for name in FIGURES
        },
        "lost_points": lost,
        "extra_points": sum(f["extra_points"] for f in figures),
        "failed_runs": failed,
        "targets": [
            target("MLflow load: lost metric points", lost, 0, higher_is_better=False),
            target("MLflow load: failed runs", len(failed), 0, higher_is_better=False),
        ],
    }


def render(result: dict, console: Console) -> None:
    table = Table(
        title=f"MLflow on PostgreSQL: {result['runs']} runs at once, {result['epochs']} log "
        f"calls each of {result['metrics_per_call']} metrics (median (min-max) of the rounds)"
    )
    for column in ("log call p50", "p99", "max", "points/s", "lost", "extra", "failed runs"):
        table.add_column(column, justify="right")
    table.add_row(
        median_range(result["call_p50_ms"], 1, " ms"),
        median_range(result["call_p99_ms"], 1, " ms"),
        median_range(result["call_max_ms"], 1, " ms"),
        median_range(result["points_per_s"], 0),
        str(result["lost_points"]),
        str(result["extra_points"]),
        str(len(result["failed_runs"])),
    )
    console.print(table)
    for failure in result["failed_runs"]:
        console.print(f"[red]{failure}[/red]")
    for goal in result["targets"]:
        console.print(verdict(goal))
