"""The PyTorch trainer against the bare torch loop, and its DDP scaling: one process vs two
(torchrun, gloo) at the same global batch, on the synthetic benchmark spec.

The trainer script (`python -m components.torch_trainer.train`, Lightning Fabric) and the bare loop
(`benchmarks.bare_torch`: same network, sampler, batches and optimizer, steps timed alike) run as
one process, then under torchrun with 2 processes, alternating after a warm-up round; trainer
efficiency is the trainer's samples/s / the bare loop's, paired per round. The spec's batch size
is the global batch: each of N processes takes batch_size / N rows a step
(`components.torch_trainer.batching`), so both variants run the same optimisation; the batch
each process used is read back from the run's MLflow params to prove it. samples/s is each
program's own figure (training steps only, all ranks, first step excluded). torchrun sets
OMP_NUM_THREADS=1 per rank, so on 2 vCPUs the two variants use the same number of cores for
compute.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Sequence
from pathlib import Path

from rich.console import Console
from rich.table import Table

from benchmarks import DATA_DIR, specs
from benchmarks.display import median_range, progress
from benchmarks.launch import run_module
from benchmarks.quiet import quiet
from benchmarks.stats import interleave, ratios, summary

NAME = "ddp"
DEFAULT_ROWS = 100_000
QUICK_ROWS = 5_000
EPOCHS = 2
PROCESSES = (1, 2)


def _per_process_batch(runs_dir: Path) -> int:
    """The batch_size_per_process param the trainer logged (its only run in runs_dir)."""
    from mlflow.tracking import MlflowClient

    from components.common.tracking import tracking_uri

    client = MlflowClient(tracking_uri(runs_dir))
    experiments = [e.experiment_id for e in client.search_experiments()]
    (run,) = client.search_runs(experiments)
    return int(run.data.params["batch_size_per_process"])


def _bare(processes: int, spec: Path, snapshot: Path, work: Path) -> dict:
    with tempfile.TemporaryDirectory(dir=work) as out:
        result = Path(out) / "bare.json"
        wall = run_module(
            "benchmarks.bare_torch",
            ["--spec", spec, "--snapshot", snapshot, "--out", result],
            processes,
        )
        document = json.loads(result.read_text())
        assert document["world_size"] == processes, document
        return {"wall_s": wall, "samples_per_s": document["samples_per_s"]}


def _train(processes: int, spec: Path, snapshot: Path, work: Path) -> dict:
    with tempfile.TemporaryDirectory(dir=work) as out:
        root = Path(out)
        args = ["--spec", spec, "--snapshot", snapshot, "--model-dir", root / "model"]
        args += ["--runs-dir", root / "runs", "--checkpoint-dir", root / "checkpoints"]
        wall = run_module("components.torch_trainer.train", args, processes)
        summary_ = json.loads((root / "checkpoints" / "rank-0.json").read_text())
        assert summary_["world_size"] == processes, summary_
        return {
            "wall_s": wall,
            "samples_per_s": summary_["samples_per_s"],
            "per_process_batch": _per_process_batch(root / "runs"),
        }


def run(
    rows: Sequence[int] | None = None,
    repeats: int = 3,
    console: Console | None = None,
    quick: bool = False,
) -> dict:
    """`rows`: the first size is the synthetic table trained on."""
    from components.ingest.run import run_ingest

    size = rows[0] if rows else (QUICK_ROWS if quick else DEFAULT_ROWS)
    loaded = specs.synthetic(size, epochs=EPOCHS)
    work = DATA_DIR / "tmp"
    work.mkdir(parents=True, exist_ok=True)
    with progress(console) as bar, tempfile.TemporaryDirectory(dir=work) as root:
        # --quick is a smoke run: its one round needs no warm-up before it.
        rounds = repeats if quick else repeats + 1
        task = bar.add_task("DDP", total=2 * len(PROCESSES) * rounds)
        with quiet():
            snapshot = run_ingest(loaded, Path(root) / "ingest", track=False).snapshot_dir

        def variant(program, processes: int):
            def measure():
                result = program(processes, loaded.path, snapshot, Path(root))
                bar.advance(task)
                return result

            return measure

        variants = {}
        for n in PROCESSES:
            variants[_label(n)] = variant(_train, n)
            variants[f"bare {_label(n)}"] = variant(_bare, n)
        measured = interleave(
            variants,
            repeats,
            warmup=not quick,
            on_start=lambda label, name: bar.update(task, description=f"DDP {label}: {name}"),
        )
    results = {_label(n): measured[_label(n)] for n in PROCESSES}
    bare = {_label(n): measured[f"bare {_label(n)}"] for n in PROCESSES}
    one, two = (results[name] for name in results)
    global_batch = loaded.spec.training.batch_size
    return {
        "spec": loaded.spec.name,
        "rows": size,
        "epochs": EPOCHS,
        "global_batch": global_batch,
        "per_process_batch": {
            name: sorted({r["per_process_batch"] for r in values})
            for name, values in results.items()
        },
        "global_batch_constant": all(
            r["per_process_batch"] * n == global_batch
            for n, values in zip(PROCESSES, results.values(), strict=True)
            for r in values
        ),
        **{
            key: {name: summary([r[key] for r in values]) for name, values in results.items()}
            for key in ("samples_per_s", "wall_s")
        },
        "bare_samples_per_s": {
            name: summary([r["samples_per_s"] for r in values]) for name, values in bare.items()
        },
        "efficiency": {
            name: ratios(
                [r["samples_per_s"] for r in results[name]],
                [r["samples_per_s"] for r in bare[name]],
            )
            for name in results
        },
        "speedup_2_vs_1": ratios(
            [r["samples_per_s"] for r in two], [r["samples_per_s"] for r in one]
        ),
    }


def _label(processes: int) -> str:
    return f"{processes} process{'es' if processes > 1 else ''}"


def render(result: dict, console: Console) -> None:
    table = Table(
        title=(
            f"Lightning trainer vs bare torch loop, DDP scaling ({result['spec']}, "
            f"{result['epochs']} epochs, global batch {result['global_batch']})"
        )
    )
    columns = (
        "processes",
        "batch per process",
        "trainer samples/s",
        "bare samples/s",
        "trainer / bare",
        "trainer wall s (incl. start-up)",
    )
    for column in columns:
        table.add_column(column, justify="left" if column == "processes" else "right")
    for name, rate in result["samples_per_s"].items():
        table.add_row(
            name,
            ", ".join(map(str, result["per_process_batch"][name])),
            median_range(rate, 0),
            median_range(result["bare_samples_per_s"][name], 0),
            median_range(result["efficiency"][name], 2),
            median_range(result["wall_s"][name], 1),
        )
    console.print(table)
    constant = "yes" if result["global_batch_constant"] else "[red]NO[/red]"
    console.print(
        f"trainer, 2 vs 1 process, samples/s: {median_range(result['speedup_2_vs_1'], 2, 'x')}; "
        f"global batch held constant: {constant}"
    )
