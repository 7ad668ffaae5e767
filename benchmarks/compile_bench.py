"""Compile modes on the spec's benchmark model: torch.compile / eager and XLA / graph.

The model is the synthetic spec's MLP (`hidden_sizes`, batch size, optimizer from its training
section), built by each trainer's own model code, trained on the encoded train split of a
synthetic snapshot. Per framework two copies with the same initial weights train one epoch
each per round, alternating (A B A B) after a warm-up epoch that also compiles; inference
latency (p50/p99 of real calls, `components.evaluate.latency.measure_latency`) at batch 1 and
256 alternates the same way. Compile time — the first training step / first inference call
beyond a steady one — is reported apart. Whether the Inductor on-disk cache already held
entries before the first torch.compile is recorded: warm, compile time is mostly cache loads.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
from rich.console import Console
from rich.table import Table

from benchmarks import DATA_DIR, specs
from benchmarks.display import median_range, progress
from benchmarks.quiet import quiet
from benchmarks.stats import interleave, ratios, summary
from components.evaluate.latency import measure_latency

NAME = "compile"
DEFAULT_ROWS = 100_000
QUICK_ROWS = 5_000
LATENCY_BATCHES = (1, 256)
LATENCY_CALLS = 200
QUICK_LATENCY_CALLS = 20


def _encoded(rows: int):
    """(spec, x float32 [n, inputs], y int64 [n]) of a synthetic snapshot's train split."""
    import pyarrow.parquet as pq

    from components.common.features import encode, label_indices
    from components.ingest.run import run_ingest

    loaded = specs.synthetic(rows)
    with quiet():
        snapshot = run_ingest(loaded, DATA_DIR / "tmp" / "compile-ingest", track=False)
    table = pq.read_table(snapshot.snapshot_dir / "train")
    manifest = snapshot.manifest
    return loaded.spec, encode(table, manifest), label_indices(table, manifest)


def _inductor_cache() -> dict:
    from torch._inductor.runtime.runtime_utils import cache_dir

    directory = Path(cache_dir())
    warm = directory.is_dir() and any(directory.iterdir())
    return {"directory": str(directory), "warm_before_first_compile": warm}


def _latency_pair(calls: dict[str, dict[int, Callable[[], object]]], repeats: int, n: int) -> dict:
    """p50/p99 per variant and batch size over interleaved rounds; ratio of p50s per round."""
    variants = list(calls)
    measured = interleave(
        {
            name: lambda name=name: {
                size: measure_latency(call, n) for size, call in calls[name].items()
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


def _torch(spec, x: np.ndarray, y: np.ndarray, repeats: int, calls: int) -> dict:
    import torch
    from torch.nn import functional as F

    from components.torch_trainer.networks import build_network

    training = spec.training
    cache = _inductor_cache()
    torch.manual_seed(training.seeds[0])
    eager = build_network(training, x.shape[1], int(y.max()) + 1)
    twin = build_network(training, x.shape[1], int(y.max()) + 1)
    twin.load_state_dict(eager.state_dict())
    compiled = torch.compile(twin)
    inputs, labels = torch.from_numpy(x), torch.from_numpy(y)
    batches = [
        (inputs[i : i + training.batch_size], labels[i : i + training.batch_size])
        for i in range(0, len(labels), training.batch_size)
    ]

    def trainer(model: torch.nn.Module) -> tuple[Callable[[], None], Callable[[], float]]:
        optimizer = torch.optim.Adam(
            model.parameters(), lr=training.learning_rate, eps=training.adam_epsilon
        )

        def step(batch) -> None:
            optimizer.zero_grad(set_to_none=True)
            F.cross_entropy(model(batch[0]), batch[1]).backward()
            optimizer.step()

        def epoch() -> float:
            started = time.perf_counter()
            for batch in batches:
                step(batch)
            return len(labels) / (time.perf_counter() - started)

        return lambda: step(batches[0]), epoch

    first = {}
    epochs = {}
    for name, model in (("eager", eager), ("compile", compiled)):
        first_step, epochs[name] = trainer(model)
        first[name] = _first_call_s(first_step)
    rates = interleave(epochs, repeats)
    steady_step = {name: len(batches[0][1]) / statistics.median(rates[name]) for name in rates}

    eager.eval()
    inference_compiled = torch.compile(twin.eval())
    samples = {size: inputs[:size] for size in LATENCY_BATCHES}

    def infer(model: torch.nn.Module, size: int) -> Callable[[], object]:
        def call():
            with torch.inference_mode():
                return model(samples[size])

        return call

    inference_first = {
        f"batch_{size}": _first_call_s(infer(inference_compiled, size)) for size in LATENCY_BATCHES
    }
    latency = _latency_pair(
        {
            "eager": {size: infer(eager, size) for size in LATENCY_BATCHES},
            "compile": {size: infer(inference_compiled, size) for size in LATENCY_BATCHES},
        },
        repeats,
        calls,
    )
    return {
        "variants": ["eager", "compile"],
        "inductor_cache": cache,
        "train_samples_per_s": {name: summary(values) for name, values in rates.items()},
        "train_ratio": ratios(rates["compile"], rates["eager"]),
        "compile_s": {
            "first_train_step_s": first["compile"],
            "train_compile_s": first["compile"] - steady_step["compile"],
            "first_inference_call_s": inference_first,
        },
        "latency": latency,
    }


def _tensorflow(spec, x: np.ndarray, y: np.ndarray, repeats: int, calls: int) -> dict:
    import tensorflow as tf

    from components.tf_trainer.config import INPUTS
    from components.tf_trainer.model import build_model, compile_model
    from components.tf_trainer.training import StepTimer, set_seed

    training = spec.training
    set_seed(training.seeds[0])
    n_classes = int(y.max()) + 1
    models = {"graph": build_model(training, x.shape[1], n_classes)}
    models["xla"] = build_model(training, x.shape[1], n_classes)
    models["xla"].set_weights(models["graph"].get_weights())
    dataset = tf.data.Dataset.from_tensor_slices(({INPUTS: x}, y)).batch(training.batch_size)
    dataset = dataset.cache()

    def epoch(model) -> float:
        timer = StepTimer()
        model.fit(dataset, epochs=1, verbose=0, shuffle=False, callbacks=[timer])
        return len(y) / timer.epoch_seconds[0]

    first = {}
    for mode, model in models.items():
        compile_model(model, training, mode, task="classification")
        first[mode] = _first_call_s(
            lambda m=model: m.fit(dataset.take(1), epochs=1, verbose=0, shuffle=False)
        )
    rates = interleave({mode: lambda m=model: epoch(m) for mode, model in models.items()}, repeats)
    rates = {mode: rates[mode] for mode in models}

    functions = {
        mode: tf.function(
            lambda batch, m=model: m({INPUTS: batch}, training=False),
            jit_compile=mode == "xla",
        )
        for mode, model in models.items()
    }
    samples = {size: tf.constant(x[:size]) for size in LATENCY_BATCHES}

    def infer(mode: str, size: int) -> Callable[[], object]:
        return lambda: functions[mode](samples[size]).numpy()

    inference_first = {
        f"batch_{size}": _first_call_s(infer("xla", size)) for size in LATENCY_BATCHES
    }
    latency = _latency_pair(
        {mode: {size: infer(mode, size) for size in LATENCY_BATCHES} for mode in models},
        repeats,
        calls,
    )
    return {
        "variants": ["graph", "xla"],
        "train_samples_per_s": {mode: summary(values) for mode, values in rates.items()},
        "train_ratio": ratios(rates["xla"], rates["graph"]),
        "compile_s": {
            "first_train_step_s": first,
            "first_inference_call_s": inference_first,
        },
        "latency": latency,
    }


def run(
    rows: Sequence[int] | None = None,
    repeats: int = 3,
    console: Console | None = None,
    quick: bool = False,
) -> dict:
    """`rows`: the first size is the synthetic table the training data comes from."""
    size = rows[0] if rows else (QUICK_ROWS if quick else DEFAULT_ROWS)
    calls = QUICK_LATENCY_CALLS if quick else LATENCY_CALLS
    with progress(console) as bar:
        task = bar.add_task(f"compile modes: encoding {size:,} rows", total=2)
        spec, x, y = _encoded(size)
        bar.update(task, description="compile modes: torch eager vs torch.compile")
        with quiet():
            torch_result = _torch(spec, x, y, repeats, calls)
        bar.advance(task)
        bar.update(task, description="compile modes: TensorFlow graph vs XLA")
        with quiet():
            tf_result = _tensorflow(spec, x, y, repeats, calls)
        bar.advance(task)
    return {
        "spec": spec.name,
        "rows": size,
        "train_rows": len(y),
        "hidden_sizes": list(spec.training.hidden_sizes),
        "batch_size": spec.training.batch_size,
        "method": "one epoch per variant per round, variants alternating after a warm-up round; "
        "latency p50/p99 of real calls, same alternation",
        "pytorch": torch_result,
        "tensorflow": tf_result,
    }


def render(result: dict, console: Console) -> None:
    table = Table(
        title=(
            f"Compile modes ({result['spec']}, MLP {result['hidden_sizes']}, "
            f"batch {result['batch_size']}): ratio = compiled / baseline"
        )
    )
    for column in ("framework", "measure", "baseline", "compiled", "ratio"):
        table.add_column(column, justify="left" if column in ("framework", "measure") else "right")
    for framework in ("pytorch", "tensorflow"):
        found = result[framework]
        base, other = found["variants"]
        table.add_row(
            framework,
            f"train samples/s ({base} → {other})",
            median_range(found["train_samples_per_s"][base], 0),
            median_range(found["train_samples_per_s"][other], 0),
            median_range(found["train_ratio"], 3),
        )
        for size in LATENCY_BATCHES:
            latency = found["latency"][f"batch_{size}"]
            table.add_row(
                framework,
                f"inference p50 ms, batch {size}",
                median_range(latency[f"{base}_p50_ms"], 3),
                median_range(latency[f"{other}_p50_ms"], 3),
                median_range(latency["p50_ratio"], 3),
            )
        table.add_section()
    console.print(table)
    torch_compile = result["pytorch"]["compile_s"]
    cache = result["pytorch"]["inductor_cache"]
    xla_first = result["tensorflow"]["compile_s"]["first_train_step_s"]["xla"]
    console.print(
        f"torch.compile: first training step {torch_compile['first_train_step_s']:.1f} s "
        f"(compile ≈ {torch_compile['train_compile_s']:.1f} s), Inductor cache "
        f"{'warm' if cache['warm_before_first_compile'] else 'cold'} ({cache['directory']}); "
        f"XLA: first training step {xla_first:.1f} s"
    )
