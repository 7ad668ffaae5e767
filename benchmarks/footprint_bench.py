"""Memory and serving: peak RSS of training and serving per framework, latency per export format.

Exports: the TF SavedModel comes from the TFX pipeline (`pipelines.tfx.local_runner`, the pushed
model) and the PyTorch model.pt2 + TorchScript from `export_model` after a bare torch run, both
on a small synthetic table with the benchmark spec's model (latency does not depend on what the
weights learned). "torchscript" is the same export with model.pt2 removed, which makes the
evaluator's adapter fall back to it.

- peak RSS: each job in a fresh process (`footprint_worker`, `bare_torch`), so one framework's
  imports never count against the other. Training: TF `train_bare` and the bare torch loop (one
  process) on the --rows table. Serving: load the export through the shared adapter, predict
  test rows at batch 1 and 256. One process each (RSS varies little between runs); the
  latencies printed by those processes are single-process figures.
- latency comparison: the three formats loaded in this process, alternating (SavedModel, pt2,
  TorchScript) after a warm-up round; ratio = format p50 / SavedModel p50 of the same round.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from collections.abc import Sequence
from pathlib import Path

from rich.console import Console
from rich.table import Table

from benchmarks import DATA_DIR, specs
from benchmarks.display import median_range, number, progress
from benchmarks.launch import run_module
from benchmarks.quiet import quiet
from benchmarks.stats import interleave, ratios, summary

NAME = "footprint"
DEFAULT_ROWS = 1_000_000
QUICK_ROWS = 5_000
EXPORT_ROWS = 20_000
QUICK_EXPORT_ROWS = 2_000
LATENCY_BATCHES = (1, 256)
LATENCY_CALLS = 200
QUICK_LATENCY_CALLS = 20
FORMATS = ("saved_model", "pt2", "torchscript")


def _exports(work: Path, rows: int) -> tuple[Path, dict[str, tuple[str, Path]]]:
    """(snapshot, format → (framework, model dir))."""
    from components.ingest.run import run_ingest
    from pipelines.tfx.local_runner import run_local

    loaded = specs.synthetic(rows)
    with quiet():
        snapshot = run_ingest(loaded, work / "ingest", track=False).snapshot_dir
        tfx = run_local(loaded, work / "tfx", snapshot_dir=snapshot, enable_cache=False)
    if tfx.pushed_model_dir is None:
        raise RuntimeError(f"the TFX pipeline did not push a model: {tfx.blessing}")
    pt2 = work / "torch-export"
    args = ["--spec", loaded.path, "--snapshot", snapshot, "--out", work / "torch-export.json"]
    run_module("benchmarks.bare_torch", [*args, "--export-dir", pt2])
    torchscript = work / "torchscript-export"
    shutil.copytree(pt2, torchscript, ignore=shutil.ignore_patterns("model.pt2"))
    return snapshot, {
        "saved_model": ("tensorflow", tfx.pushed_model_dir),
        "pt2": ("pytorch", pt2),
        "torchscript": ("pytorch", torchscript),
    }


def _worker(work: Path, job: str, args: list) -> dict:
    out = Path(tempfile.mkstemp(dir=work, suffix=".json")[1])
    run_module("benchmarks.footprint_worker", [job, *args, "--out", out])
    return json.loads(out.read_text())


def _training(work: Path, rows: int) -> dict:
    from components.ingest.run import run_ingest

    loaded = specs.synthetic(rows)
    with quiet():
        snapshot = run_ingest(loaded, work / "train-ingest", track=False).snapshot_dir
    common = ["--spec", loaded.path, "--snapshot", snapshot]
    tensorflow = _worker(work, "train-tensorflow", common)
    out = work / "bare-torch.json"
    run_module("benchmarks.bare_torch", [*common, "--out", out])
    pytorch = json.loads(out.read_text())
    return {
        "spec": loaded.spec.name,
        "rows": rows,
        "tensorflow": {k: tensorflow[k] for k in ("peak_rss_mb", "samples_per_s")},
        "pytorch": {k: pytorch[k] for k in ("peak_rss_mb", "samples_per_s")},
    }


def _latency_comparison(snapshot: Path, exports: dict, repeats: int, calls: int) -> dict:
    import pyarrow.parquet as pq

    from components.evaluate.latency import batch_of, measure_latency
    from components.export import load_predictor

    test = pq.read_table(snapshot / "test")
    batches = {size: batch_of(test, size) for size in LATENCY_BATCHES}
    predictors = {name: load_predictor(path, fw) for name, (fw, path) in exports.items()}
    for name, predictor in predictors.items():
        expected = "saved_model" if name == "saved_model" else name
        assert predictor.format == expected, f"{name} export loaded as {predictor.format}"

    def measure(name: str):
        return {
            size: measure_latency(lambda b=batch: predictors[name].predict(b), calls)
            for size, batch in batches.items()
        }

    measured = interleave({name: lambda n=name: measure(n) for name in FORMATS}, repeats)
    result = {}
    for size in LATENCY_BATCHES:
        p50 = {name: [r[size]["p50_ms"] for r in measured[name]] for name in FORMATS}
        result[f"batch_{size}"] = {
            name: {
                "p50_ms": summary(p50[name]),
                "p99_ms": summary([r[size]["p99_ms"] for r in measured[name]]),
                "p50_vs_saved_model": ratios(p50[name], p50["saved_model"]),
            }
            for name in FORMATS
        }
    return result


def run(
    rows: Sequence[int] | None = None,
    repeats: int = 3,
    console: Console | None = None,
    quick: bool = False,
) -> dict:
    """`rows`: the largest size is the table the training jobs train on."""
    train_rows = max(rows) if rows else (QUICK_ROWS if quick else DEFAULT_ROWS)
    export_rows = QUICK_EXPORT_ROWS if quick else EXPORT_ROWS
    calls = QUICK_LATENCY_CALLS if quick else LATENCY_CALLS
    work_root = DATA_DIR / "tmp"
    work_root.mkdir(parents=True, exist_ok=True)
    with progress(console) as bar, tempfile.TemporaryDirectory(dir=work_root) as root:
        work = Path(root)
        task = bar.add_task("footprint", total=3 + len(FORMATS))
        bar.update(task, description=f"footprint: exports (TFX, torch), {export_rows:,} rows")
        snapshot, exports = _exports(work, export_rows)
        bar.advance(task)
        bar.update(task, description=f"footprint: training peak RSS on {train_rows:,} rows")
        training = _training(work, train_rows)
        bar.advance(task)
        serving = {}
        for name, (framework, path) in exports.items():
            bar.update(task, description=f"footprint: serving {name} in a fresh process")
            serving[name] = _worker(
                work,
                "serve",
                [
                    *("--framework", framework, "--model-dir", path),
                    *("--snapshot", snapshot, "--calls", calls),
                ],
            )
            serving[name]["framework"] = framework
            bar.advance(task)
        bar.update(task, description="footprint: latency of the formats, interleaved")
        with quiet():
            comparison = _latency_comparison(snapshot, exports, repeats, calls)
        bar.advance(task)
    return {
        "export_spec_rows": export_rows,
        "latency_calls": calls,
        "training": training,
        "serving_fresh_process": serving,
        "latency_interleaved": comparison,
    }


def render(result: dict, console: Console) -> None:
    training = result["training"]
    memory = Table(title="Peak RSS, each job in a fresh process")
    for column in ("job", "framework", "peak RSS MiB", "samples/s", "model size KiB"):
        memory.add_column(column, justify="left" if column in ("job", "framework") else "right")
    for framework in ("tensorflow", "pytorch"):
        found = training[framework]
        memory.add_row(
            f"train ({training['rows']:,} rows, 1 process)",
            framework,
            number(found["peak_rss_mb"], 0),
            number(found["samples_per_s"], 0),
            "",
        )
    for name, found in result["serving_fresh_process"].items():
        memory.add_row(
            f"serve {name}",
            found["framework"],
            number(found["peak_rss_mb"], 0),
            "",
            number(found["model_size_bytes"] / 1024, 0),
        )
    console.print(memory)
    latency = Table(
        title="Inference latency per export format (interleaved in one process; ratio = p50 / "
        "SavedModel p50)"
    )
    for column in ("batch", "format", "p50 ms", "p99 ms", "p50 / SavedModel"):
        latency.add_column(column, justify="left" if column == "format" else "right")
    for size in LATENCY_BATCHES:
        for name, found in result["latency_interleaved"][f"batch_{size}"].items():
            latency.add_row(
                str(size),
                name,
                median_range(found["p50_ms"], 3),
                median_range(found["p99_ms"], 3),
                median_range(found["p50_vs_saved_model"], 3),
            )
        latency.add_section()
    console.print(latency)
