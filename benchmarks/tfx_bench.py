"""What TFX adds: the local TFX pipeline (LocalDagRunner, cache off) against the bare training
function (`components.tf_trainer.bare.train_bare`: the same Keras fit on the same snapshot, no
TFX) on the penguins snapshot. Both run in this process, interleaved (bare, TFX, bare, TFX …)
after a warm-up round; the overhead is the median of the per-round differences.
"""

from __future__ import annotations

import statistics
import tempfile
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

from benchmarks import DATA_DIR

NAME = "tfx"


def _summary(seconds: list[float]) -> dict:
    return {
        "seconds": seconds,
        "median_s": statistics.median(seconds),
        "min_s": min(seconds),
        "max_s": max(seconds),
    }


def run(rows=None, repeats: int = 3, console: Console | None = None) -> dict:
    """`rows` does not apply: the pipeline runs on the bundled penguins spec."""
    from components.common.spec import default_spec_path, load_spec
    from components.ingest.run import run_ingest
    from components.tf_trainer.bare import train_bare
    from pipelines.tfx_runner import run_local

    console = console or Console()
    loaded = load_spec(default_spec_path())
    work_dir = DATA_DIR / "tmp"
    work_dir.mkdir(parents=True, exist_ok=True)
    bare, dag, whole = [], [], []
    with tempfile.TemporaryDirectory(dir=work_dir) as root:
        snapshot = run_ingest(loaded, Path(root) / "ingest", track=False).snapshot_dir
        for round_ in range(repeats + 1):
            label = "warm-up" if round_ == 0 else f"round {round_}/{repeats}"
            with console.status(f"tfx bench {label}: bare training"):
                started = time.perf_counter()
                train_bare(snapshot, loaded.spec, Path(root) / f"bare-{round_}")
                bare_s = time.perf_counter() - started
            with console.status(f"tfx bench {label}: TFX pipeline"):
                started = time.perf_counter()
                result = run_local(
                    loaded, Path(root) / f"tfx-{round_}", snapshot_dir=snapshot, enable_cache=False
                )
                whole_s = time.perf_counter() - started
            if round_ > 0:
                bare.append(bare_s)
                dag.append(result.pipeline_wall_s)
                whole.append(whole_s)
    return {
        "spec": loaded.spec.name,
        "epochs": loaded.spec.training.epochs,
        "bare_training": _summary(bare),
        "tfx_pipeline_dag": _summary(dag),
        "tfx_run_local": _summary(whole),
        "overhead_s": statistics.median(d - b for d, b in zip(dag, bare, strict=True)),
        "ratio": statistics.median(d / b for d, b in zip(dag, bare, strict=True)),
    }


def render(result: dict, console: Console) -> None:
    table = Table(
        title=f"TFX pipeline vs bare training ({result['spec']}, {result['epochs']} epochs)",
        caption="medians of interleaved rounds after a warm-up",
    )
    for column in ("variant", "median s", "min-max s"):
        table.add_column(column, justify="left" if column == "variant" else "right")
    for key, label in (
        ("bare_training", "bare training (train_bare)"),
        ("tfx_pipeline_dag", "TFX pipeline (LocalDagRunner)"),
        ("tfx_run_local", "run_local (+ MLflow parent run)"),
    ):
        summary = result[key]
        table.add_row(
            label,
            f"{summary['median_s']:.1f}",
            f"{summary['min_s']:.1f}-{summary['max_s']:.1f}",
        )
    console.print(table)
    console.print(
        f"TFX's own cost: {result['overhead_s']:.1f} s per run "
        f"({result['ratio']:.1f}x the bare training time)"
    )
