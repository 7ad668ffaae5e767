"""Compile modes per network: torch.compile / eager and XLA / graph, training and inference.

Four cases, built by each trainer's own model code (`benchmarks.compile_training`) and trained on
a snapshot's train split as the trainers feed it (`components.common.features.network_inputs`):
- mlp: the synthetic spec's MLP (`hidden_sizes`, batch size, optimizer from its training
  section) on the synthetic table's encoded rows, one epoch over the train split per round;
- ft_transformer: the same training section with an FT-Transformer large enough for compilers
  to matter (`FT_TRANSFORMER`, batch `FT_BATCH`), `FT_STEPS` full batches per round (a step
  takes seconds on 2 vCPUs);
- transformer_text: the bundled rotten_tomatoes spec's training section (its `transformer`
  family and params, batch 64, optimizer) on the token ids of its real text (int64 [rows, 64]),
  `TEXT_STEPS` full batches per round;
- cnn_image: the bundled mnist_5k spec's training section (its `cnn` family and params) on its
  z-scored digit images (float32 [rows, 28, 28, 1]), `IMAGE_STEPS` full batches per round (every
  full batch of the split).
The bundled specs' data is ingested like the synthetic table's, into the benchmark's data
directory (a later run reuses the snapshot).
Per framework the two modes' networks start from the same weights and train one epoch each per
round, alternating (A B A B) after a warm-up round; inference latency (p50/p99 of real calls,
`components.evaluate.latency.measure_latency`) at batch 1 and 256 alternates the same way.
Compile time — the first training step / first inference call, and the first step beyond a
steady one — is reported apart, with how many of a case's graphs Inductor loaded from its
on-disk cache rather than compiled: cached, compile time is mostly loads.

For every case but mlp, each framework and mode also trains once in a fresh process
(`benchmarks.compile_worker`) for its peak RSS, so neither framework's memory counts against the
other; a case's four processes run at once, after its timings. --quick shrinks the
ft_transformer (`QUICK_FT_TRANSFORMER`, `QUICK_FT_BATCH`), trains the spec cases on
`QUICK_SPEC_STEPS` batches and measures the fresh-process RSS on the ft_transformer only: it
checks the cases run.
"""

from __future__ import annotations

import dataclasses
import json
import statistics
import tempfile
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from rich.console import Console
from rich.table import Table

from benchmarks import DATA_DIR, specs
from benchmarks.compile_training import (
    KERAS_MODES,
    TORCH_MODES,
    Trainer,
    inductor_cache_counts,
    inductor_cache_since,
    input_to_json,
    keras_trainers,
    torch_trainers,
)
from benchmarks.display import median_range, number, progress
from benchmarks.launch import run_module
from benchmarks.quiet import quiet
from benchmarks.stats import interleave, ratios, summary
from components.common.architectures import NetworkInput, parameter_count
from components.common.errors import TandemError
from components.evaluate.latency import measure_latency
from components.spec import (
    FTTransformerModel,
    FTTransformerParams,
    LoadedSpec,
    MLPModel,
    TrainingSpec,
    load_spec,
    spec_location,
)

NAME = "compile"
DEFAULT_ROWS = 100_000
QUICK_ROWS = 5_000
LATENCY_BATCHES = (1, 256)
LATENCY_CALLS = 200
QUICK_LATENCY_CALLS = 20
FT_TRANSFORMER = FTTransformerParams(d_token=192, n_blocks=3, n_heads=8, d_ffn=256)
FT_BATCH = 1024
FT_STEPS = 4
FT_LATENCY_CALLS = 20
QUICK_FT_TRANSFORMER = FTTransformerParams(d_token=32, n_blocks=1, n_heads=4, d_ffn=64)
QUICK_FT_BATCH = 256
QUICK_FT_STEPS = 2
TEXT_SPEC = "rotten_tomatoes"
IMAGE_SPEC = "mnist_5k"
TEXT_STEPS = 50
IMAGE_STEPS = 55
SPEC_LATENCY_CALLS = 50
# 4 batches of the specs' 64 rows: the 256 rows the largest latency batch reads.
QUICK_SPEC_STEPS = 4
FRAMEWORK_MODES = {"pytorch": TORCH_MODES, "tensorflow": KERAS_MODES}


@dataclass(frozen=True)
class Case:
    """A network the compile modes are compared on."""

    name: str
    training: TrainingSpec
    steps: int | None
    """Full batches per round; None: one epoch over the whole train split."""
    latency_calls: int
    peak_rss: bool
    """Also train each framework and mode once in a fresh process for its peak RSS."""
    spec: str | None = None
    """The bundled spec whose train split the case trains on; None: the synthetic table."""


def _spec_case(name: str, spec: str, steps: int, quick: bool) -> Case:
    """A case of a bundled spec's own training section (model family and params, batch size,
    optimizer) on its own data."""
    training = load_spec(spec_location(spec)).spec.training
    return Case(
        name,
        training,
        QUICK_SPEC_STEPS if quick else steps,
        QUICK_LATENCY_CALLS if quick else SPEC_LATENCY_CALLS,
        # A quick run measures the fresh-process RSS on the ft_transformer case only: the same
        # worker path, without eight more process start-ups (the worker's text and image inputs
        # have their own test).
        peak_rss=not quick,
        spec=spec,
    )


def cases(training: TrainingSpec, quick: bool) -> list[Case]:
    """The mlp case (the benchmark spec's training section), the ft_transformer case, and the
    text and image cases of the bundled specs."""
    ft_transformer = training.model_copy(
        update={
            "model": FTTransformerModel(
                family="ft_transformer",
                params=QUICK_FT_TRANSFORMER if quick else FT_TRANSFORMER,
            ),
            "batch_size": QUICK_FT_BATCH if quick else FT_BATCH,
        }
    )
    calls = QUICK_LATENCY_CALLS if quick else LATENCY_CALLS
    return [
        Case("mlp", training, None, calls, peak_rss=False),
        Case(
            "ft_transformer",
            ft_transformer,
            QUICK_FT_STEPS if quick else FT_STEPS,
            QUICK_LATENCY_CALLS if quick else FT_LATENCY_CALLS,
            peak_rss=True,
        ),
        _spec_case("transformer_text", TEXT_SPEC, TEXT_STEPS, quick),
        _spec_case("cnn_image", IMAGE_SPEC, IMAGE_STEPS, quick),
    ]


def case_rows(case: Case, train_rows: int) -> int:
    """The train rows a case trains on per round: all of them, or its steps' full batches (fewer
    steps when the split is short of them)."""
    if case.steps is None:
        return train_rows
    batch = case.training.batch_size
    steps = min(case.steps, train_rows // batch)
    if steps == 0:
        raise TandemError(
            f"--rows: the train split has {train_rows:,} rows, fewer than one {case.name} batch "
            f"({batch:,}); pass a larger --rows (the train split is ~70% of it)"
        )
    return steps * batch


@dataclass(frozen=True)
class TrainSplit:
    """A snapshot's train split as the trainers feed the network."""

    spec: str
    network_input: NetworkInput
    x: np.ndarray
    """float32 [rows, width] tabular rows, float32 [rows, *shape] arrays or int64 token ids."""
    y: np.ndarray
    """int64 [rows] class indices."""
    n_classes: int

    def head(self, rows: int) -> TrainSplit:
        return dataclasses.replace(self, x=self.x[:rows], y=self.y[:rows])


def train_split(loaded: LoadedSpec) -> TrainSplit:
    """The spec's train split through `network_inputs`, its data ingested once (ingest reuses
    the benchmark's snapshot of the same data and dataset section)."""
    import pyarrow.parquet as pq

    from components.common.features import label_indices, network_inputs
    from components.ingest.run import run_ingest

    with quiet():
        snapshot = run_ingest(loaded, DATA_DIR / "tmp" / "compile-ingest", track=False)
    table = pq.read_table(snapshot.snapshot_dir / "train")
    manifest = snapshot.manifest
    return TrainSplit(
        spec=loaded.spec.name,
        network_input=NetworkInput.from_manifest(loaded.spec.dataset, manifest),
        x=network_inputs(table, manifest, snapshot.snapshot_dir),
        y=label_indices(table, manifest),
        n_classes=len(manifest["classes"]),
    )


def _latency_pair(calls: dict[str, dict[int, Callable[[], object]]], repeats: int, n: int) -> dict:
    """p50/p99 per variant and batch size over interleaved rounds; ratio of p50s per round.
    Each measurement warms up with a tenth of its calls (the warm-up round came before)."""
    variants = list(calls)
    warmup = max(1, n // 10)
    measured = interleave(
        {
            name: lambda name=name: {
                size: measure_latency(call, n, warmup) for size, call in calls[name].items()
            }
            for name in variants
        },
        repeats,
    )
    result = {}
    for size in LATENCY_BATCHES:
        p50 = {name: [r[size]["p50_ms"] for r in measured[name]] for name in variants}
        p99 = {name: [r[size]["p99_ms"] for r in measured[name]] for name in variants}
        result[f"batch_{size}"] = {
            **{f"{name}_p50_ms": summary(p50[name]) for name in variants},
            **{f"{name}_p99_ms": summary(p99[name]) for name in variants},
            "p50_ratio": ratios(p50[variants[1]], p50[variants[0]]),
        }
    return result


def _first_call_s(call: Callable[[], object]) -> float:
    started = time.perf_counter()
    call()
    return time.perf_counter() - started


def _compare(
    trainers: dict[str, Trainer],
    inference: Callable[[], dict[str, dict[int, Callable[[], object]]]],
    rows: int,
    repeats: int,
    calls: int,
) -> dict:
    """Training and inference of a framework's baseline and compiled mode (in that order).
    `inference()`, called once training is over, gives each mode's call per batch size."""
    base, compiled = trainers
    first = {mode: _first_call_s(trainer.first_step) for mode, trainer in trainers.items()}
    seconds = interleave({mode: trainer.epoch for mode, trainer in trainers.items()}, repeats)
    steps = trainers[base].steps
    step_ms = {mode: [s / steps * 1000 for s in values] for mode, values in seconds.items()}
    predict = inference()
    inference_first = {
        f"batch_{size}": _first_call_s(predict[compiled][size]) for size in LATENCY_BATCHES
    }
    return {
        "variants": [base, compiled],
        "steps_per_epoch": steps,
        "train_step_ms": {mode: summary(values) for mode, values in step_ms.items()},
        "train_samples_per_s": {
            mode: summary([rows / s for s in values]) for mode, values in seconds.items()
        },
        "train_step_ratio": ratios(step_ms[compiled], step_ms[base]),
        "train_samples_per_s_ratio": ratios(seconds[base], seconds[compiled]),
        "compile_s": {
            "first_train_step_s": first,
            "train_compile_s": first[compiled] - statistics.median(step_ms[compiled]) / 1000,
            "first_inference_call_s": inference_first,
        },
        "latency": _latency_pair(predict, repeats, calls),
    }


def _torch(training: TrainingSpec, split: TrainSplit, repeats: int, calls: int) -> dict:
    import torch

    # Each case compiles as in a trainer process of its own. Dynamo keeps the input shapes it
    # saw per code object, and the mlp's, ft_transformer's and cnn's compiled forwards share one
    # (all three are nn.Sequential): another case's shapes would make it compile this one's
    # batch dimension dynamic, and the cnn, so compiled, failed in Inductor ("cannot determine
    # truth value of Relational") with torch 2.13. Inductor's on-disk cache is kept.
    torch.compiler.reset()
    cache = inductor_cache_counts()
    trainers = torch_trainers(
        training, split.network_input, split.x, split.y, split.n_classes, TORCH_MODES
    )
    samples = {size: torch.from_numpy(split.x[:size]) for size in LATENCY_BATCHES}

    def infer(model: torch.nn.Module, size: int) -> Callable[[], object]:
        def call():
            with torch.inference_mode():
                return model(samples[size])

        return call

    def inference() -> dict:
        models = {mode: trainer.model.eval() for mode, trainer in trainers.items()}
        return {
            mode: {size: infer(model, size) for size in LATENCY_BATCHES}
            for mode, model in models.items()
        }

    result = _compare(trainers, inference, len(split.y), repeats, calls)
    return {"inductor_cache": inductor_cache_since(cache), **result}


def _tensorflow(training: TrainingSpec, split: TrainSplit, repeats: int, calls: int) -> dict:
    import tensorflow as tf

    from components.tf_trainer.config import INPUTS

    trainers = keras_trainers(
        training, split.network_input, split.x, split.y, split.n_classes, KERAS_MODES
    )
    samples = {size: tf.constant(split.x[:size]) for size in LATENCY_BATCHES}

    def inference() -> dict:
        functions = {
            mode: tf.function(
                lambda batch, model=trainer.model: model({INPUTS: batch}, training=False),
                jit_compile=mode == "xla",
            )
            for mode, trainer in trainers.items()
        }
        return {
            mode: {
                size: lambda f=function, s=samples[size]: f(s).numpy() for size in LATENCY_BATCHES
            }
            for mode, function in functions.items()
        }

    return _compare(trainers, inference, len(split.y), repeats, calls)


def _training_rss(work: Path, training: TrainingSpec, split: TrainSplit) -> dict:
    """framework → mode → peak RSS of training in a fresh process (`compile_worker`).

    The four processes run at once: each one's peak RSS is its own whatever runs beside it, and
    one after another they would take minutes here (every one imports its framework and
    compiles). Their wall time is not a result.
    """
    (work / "training.json").write_text(training.model_dump_json())
    (work / "input.json").write_text(input_to_json(split.network_input))
    np.savez(work / "data.npz", x=split.x, y=split.y)

    def job(framework: str, mode: str) -> dict:
        out = work / f"rss-{framework}-{mode}.json"
        arguments = [
            *("--framework", framework, "--mode", mode, "--classes", split.n_classes),
            *("--training", work / "training.json", "--input", work / "input.json"),
            *("--data", work / "data.npz", "--out", out),
        ]
        run_module("benchmarks.compile_worker", arguments)
        return json.loads(out.read_text())

    jobs = [(framework, mode) for framework, modes in FRAMEWORK_MODES.items() for mode in modes]
    with ThreadPoolExecutor(max_workers=len(jobs)) as pool:
        futures = {key: pool.submit(job, *key) for key in jobs}
        return {
            framework: {mode: futures[framework, mode].result() for mode in modes}
            for framework, modes in FRAMEWORK_MODES.items()
        }


def _case(
    case: Case,
    split: TrainSplit,
    repeats: int,
    work: Path,
    starting: Callable[[str], None],
) -> dict:
    """The case's figures; `starting(label)` before each of its jobs (progress display)."""
    split = split.head(case_rows(case, len(split.y)))
    network_input = split.network_input
    result: dict = {
        "model": _model_label(case.training),
        "parameters": parameter_count(case.training, network_input, split.n_classes),
        "spec": split.spec,
        "input": {
            "kind": network_input.kind,
            "row_shape": list(network_input.row_shape),
            "dtype": network_input.dtype,
        },
        "batch_size": case.training.batch_size,
        "train_rows": len(split.y),
        "latency_calls": case.latency_calls,
    }
    for framework, measure in (("pytorch", _torch), ("tensorflow", _tensorflow)):
        starting(f"{case.name}, {framework}")
        with quiet():
            result[framework] = measure(case.training, split, repeats, case.latency_calls)
    if case.peak_rss:
        starting(f"{case.name}, peak RSS of training, each framework and mode in a fresh process")
        work.mkdir()
        for framework, found in _training_rss(work, case.training, split).items():
            result[framework]["training_rss"] = found
    return result


def _model_label(training: TrainingSpec) -> str:
    if isinstance(training.model, MLPModel):
        return f"mlp {training.hidden_sizes}"
    return training.model.describe()


def run(
    rows: Sequence[int] | None = None,
    repeats: int = 3,
    console: Console | None = None,
    quick: bool = False,
) -> dict:
    """`rows`: the first size is the synthetic table the mlp and ft_transformer cases' data
    comes from (the text and image cases train on their bundled specs' data)."""
    size = rows[0] if rows else (QUICK_ROWS if quick else DEFAULT_ROWS)
    work_root = DATA_DIR / "tmp"
    work_root.mkdir(parents=True, exist_ok=True)
    with progress(console) as bar, tempfile.TemporaryDirectory(dir=work_root) as root:
        task = bar.add_task(f"compile modes: encoding {size:,} rows", total=None)
        synthetic = specs.synthetic(size)
        planned = cases(synthetic.spec.training, quick)
        bundled = list(dict.fromkeys(case.spec for case in planned if case.spec))
        # Encoding each data set, then each case's jobs: every start completes the one before.
        jobs = sum(3 if case.peak_rss else 2 for case in planned)
        bar.update(task, total=1 + len(bundled) + jobs)

        def starting(label: str) -> None:
            bar.update(task, description=f"compile modes: {label}", advance=1)

        splits = {None: train_split(synthetic)}
        for name in bundled:
            starting(f"ingesting and encoding the {name} spec's data")
            splits[name] = train_split(load_spec(spec_location(name)))
        for case in planned:  # a --rows too small for a case fails before anything runs
            case_rows(case, len(splits[case.spec].y))
        found = {
            case.name: _case(case, splits[case.spec], repeats, Path(root) / case.name, starting)
            for case in planned
        }
        bar.advance(task)
    return {
        "spec": synthetic.spec.name,
        "rows": size,
        "train_rows": len(splits[None].y),
        "method": "per case and framework: one epoch per mode per round, modes alternating "
        "after a warm-up round; latency p50/p99 of real calls, same alternation; ratio = "
        "compiled / baseline time per round (train_samples_per_s_ratio: compiled / baseline "
        "samples/s). Peak RSS: each framework and mode training once in a fresh process",
        "cases": found,
    }


def _timing_table(name: str, case: dict) -> Table:
    table = Table(
        title=(
            f"Compile modes, {name}: {case['model']}, batch {case['batch_size']:,}, "
            f"{case['train_rows']:,} rows per epoch; ratio = compiled / baseline time "
            "(< 1: compiled is faster)"
        )
    )
    for column in ("framework", "measure", "baseline", "compiled", "ratio"):
        table.add_column(column, justify="left" if column in ("framework", "measure") else "right")
    for framework in FRAMEWORK_MODES:
        found = case[framework]
        base, other = found["variants"]
        table.add_row(
            framework,
            f"train ms/step ({base} → {other}, {found['steps_per_epoch']} steps/epoch)",
            median_range(found["train_step_ms"][base], 1),
            median_range(found["train_step_ms"][other], 1),
            median_range(found["train_step_ratio"], 3),
        )
        table.add_row(
            framework,
            "train samples/s (ratio: compiled / baseline, > 1: compiled is faster)",
            median_range(found["train_samples_per_s"][base], 0),
            median_range(found["train_samples_per_s"][other], 0),
            median_range(found["train_samples_per_s_ratio"], 3),
        )
        for size in LATENCY_BATCHES:
            latency = found["latency"][f"batch_{size}"]
            for percentile in ("p50", "p99"):
                table.add_row(
                    framework,
                    f"inference {percentile} ms, batch {size}",
                    median_range(latency[f"{base}_{percentile}_ms"], 3),
                    median_range(latency[f"{other}_{percentile}_ms"], 3),
                    median_range(latency["p50_ratio"], 3) if percentile == "p50" else "",
                )
        table.add_section()
    return table


def _compile_table(result: dict) -> Table:
    table = Table(
        title="Compile time, apart from the figures above: first step / call of each mode, and "
        "compile ≈ the compiled mode's first training step - its steady step"
    )
    columns = ("case", "framework", "first train step s", "compile ≈ s", "first inference s")
    for column in columns:
        table.add_column(column, justify="left" if column in columns[:2] else "right")
    for name, case in result["cases"].items():
        for framework in FRAMEWORK_MODES:
            found = case[framework]
            compile_s = found["compile_s"]
            first = ", ".join(
                f"{mode} {seconds:.1f}" for mode, seconds in compile_s["first_train_step_s"].items()
            )
            inference = ", ".join(
                f"batch {size.removeprefix('batch_')} {seconds:.1f}"
                for size, seconds in compile_s["first_inference_call_s"].items()
            )
            cache = found.get("inductor_cache")
            label = framework
            if cache is not None:
                label += (
                    f" (Inductor: {cache['fxgraph_cache_hits']} graphs from its cache, "
                    f"{cache['fxgraph_cache_misses']} compiled)"
                )
            table.add_row(name, label, first, number(compile_s["train_compile_s"], 1), inference)
    return table


def _rss_table(name: str, case: dict) -> Table:
    table = Table(
        title=f"Peak RSS of training, {name} ({case['model']}, batch {case['batch_size']:,}): "
        "each framework and mode in a fresh process; start = after imports, arrays and weights"
    )
    for column in ("framework", "mode", "steps", "start MiB", "peak MiB", "increase MiB"):
        table.add_column(column, justify="left" if column in ("framework", "mode") else "right")
    for framework in FRAMEWORK_MODES:
        for mode, found in case[framework]["training_rss"].items():
            table.add_row(
                framework,
                mode,
                str(found["steps"]),
                number(found["start_rss_mb"], 0),
                number(found["peak_rss_mb"], 0),
                number(found["increase_mb"], 0),
            )
    return table


def render(result: dict, console: Console) -> None:
    for name, case in result["cases"].items():
        console.print(_timing_table(name, case))
    console.print(_compile_table(result))
    for name, case in result["cases"].items():
        if "training_rss" in case["pytorch"]:
            console.print(_rss_table(name, case))
    console.print(
        f"Inductor cache: {result['cases']['mlp']['pytorch']['inductor_cache']['directory']}"
    )
