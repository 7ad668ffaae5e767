"""What KFP + TorchX add, and DDP scaling: the bare Lightning script (one process, then two under
torchrun) against the whole local KFP pipeline (kfp.local: ingest → TorchX train → evaluate →
push) on the penguins snapshot. Rounds are interleaved (1 process, 2 processes, pipeline, …) after
a warm-up round; samples/s is the trainer's own figure (training steps only, all ranks).
"""

from __future__ import annotations

import contextlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

from benchmarks import DATA_DIR

NAME = "torch"
VARIANTS = ("bare, 1 process", "bare, torchrun 2 processes", "KFP pipeline (kfp.local)")


def _bare(processes: int, spec: Path, snapshot: Path, work: Path) -> tuple[float, float]:
    """Wall seconds and samples/s of `python -m components.torch_trainer.train` on its own."""
    launcher = [sys.executable, "-m", "torch.distributed.run", f"--nproc_per_node={processes}"]
    command = [*launcher, "-m"] if processes > 1 else [sys.executable, "-m"]
    args = ["--spec", str(spec), "--snapshot", str(snapshot), "--model-dir", str(work / "model")]
    args += ["--runs-dir", str(work / "runs"), "--checkpoint-dir", str(work / "checkpoints")]
    environment = {**os.environ, "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"}
    started = time.perf_counter()
    subprocess.run(
        [*command, "components.torch_trainer.train", *args],
        check=True,
        capture_output=True,
        env=environment,
    )
    wall = time.perf_counter() - started
    summary = json.loads((work / "checkpoints" / "rank-0.json").read_text())
    return wall, summary["samples_per_s"]


def _summary(values: list[float]) -> dict:
    return {
        "values": values,
        "median": statistics.median(values),
        "min": min(values),
        "max": max(values),
    }


def run(rows=None, repeats: int = 3, console: Console | None = None) -> dict:
    """`rows` does not apply: the pipeline runs on the bundled penguins spec."""
    from components.common.spec import default_spec_path, load_spec
    from components.ingest.run import run_ingest
    from pipelines.torch_runner import run_local

    console = console or Console()
    loaded = load_spec(default_spec_path())
    work_dir = DATA_DIR / "tmp"
    work_dir.mkdir(parents=True, exist_ok=True)
    wall: dict[str, list[float]] = {variant: [] for variant in VARIANTS}
    rate: dict[str, list[float]] = {variant: [] for variant in VARIANTS[:2]}
    with tempfile.TemporaryDirectory(dir=work_dir) as root:
        snapshot = run_ingest(loaded, Path(root) / "ingest", track=False).snapshot_dir
        for round_ in range(repeats + 1):
            label = "warm-up" if round_ == 0 else f"round {round_}/{repeats}"
            for processes, variant in ((1, VARIANTS[0]), (2, VARIANTS[1])):
                with console.status(f"torch bench {label}: {variant}"):
                    work = Path(root) / f"bare-{processes}-{round_}"
                    seconds, samples = _bare(processes, loaded.path, snapshot, work)
                if round_ > 0:
                    wall[variant].append(seconds)
                    rate[variant].append(samples)
            # kfp.local prints every step's logs to stdout.
            with (
                console.status(f"torch bench {label}: {VARIANTS[2]}"),
                open(os.devnull, "w") as quiet,
                contextlib.redirect_stdout(quiet),
            ):
                result = run_local(loaded, Path(root) / f"kfp-{round_}")
            if round_ > 0:
                wall[VARIANTS[2]].append(result.pipeline_wall_s)
    one, two = rate[VARIANTS[0]], rate[VARIANTS[1]]
    return {
        "spec": loaded.spec.name,
        "epochs": loaded.spec.training.epochs,
        "wall_s": {variant: _summary(values) for variant, values in wall.items()},
        "samples_per_s": {variant: _summary(values) for variant, values in rate.items()},
        "ddp_speedup_2_vs_1": statistics.median(b / a for a, b in zip(one, two, strict=True)),
        "pipeline_over_bare_s": statistics.median(
            p - b for p, b in zip(wall[VARIANTS[2]], wall[VARIANTS[1]], strict=True)
        ),
    }


def render(result: dict, console: Console) -> None:
    table = Table(
        title=f"PyTorch: bare script vs KFP pipeline ({result['spec']}, {result['epochs']} epochs)",
        caption="medians of interleaved rounds after a warm-up",
    )
    for column in ("variant", "wall s", "min-max s", "samples/s", "min-max"):
        table.add_column(column, justify="left" if column == "variant" else "right")
    for variant, wall in result["wall_s"].items():
        rate = result["samples_per_s"].get(variant)
        table.add_row(
            variant,
            f"{wall['median']:.1f}",
            f"{wall['min']:.1f}-{wall['max']:.1f}",
            f"{rate['median']:,.0f}" if rate else "",
            f"{rate['min']:,.0f}-{rate['max']:,.0f}" if rate else "",
        )
    console.print(table)
    console.print(
        f"DDP 2 vs 1 process, samples/s: {result['ddp_speedup_2_vs_1']:.2f}x; "
        f"the KFP pipeline adds {result['pipeline_over_bare_s']:.1f} s over the 2-process script"
    )
