"""A realistic `Comparison` built by hand: what `collect`, `stats` and `fairness` would produce
from two frameworks' MLflow runs, with Summary numbers computed from the runs' own values.

`make_comparison` is deterministic: the same arguments give the same numbers.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import replace

import numpy as np

from components.common.frameworks import NAMES, by_name
from components.common.layer_summary import Layer, render
from components.compare.catalogue import SLICE_PREFIX
from components.compare.model import (
    AuditItem,
    Comparison,
    PipelineRun,
    StepRun,
)
from components.compare.report import metric_comparisons, slice_comparisons
from components.compare.row_predictions import CLASSIFICATION, RowPredictions
from components.compare.stats import ALPHA, METHOD
from components.compare.verdict import verdict_lines
from components.evaluate.metrics import classification_metrics

EPOCHS = 20
SLICES = {"island": ("Biscoe", "Dream", "Torgersen"), "sex": ("female", "male")}
SLICE_VALUES = ("accuracy", "macro_f1", "log_loss", "ece", "count")
PARAMETER_COUNT = {"tensorflow": 4739, "pytorch": 4739}
FAILED_PARAMETER_COUNT = {"tensorflow": 4739, "pytorch": 5379}
FINGERPRINT = hashlib.sha256(b"penguins snapshot").hexdigest()
GIT_REVISION = hashlib.sha1(b"tandem").hexdigest()

# The test split every run predicted: rows, classes and labels.
TEST_ROWS = 120
CLASSES = ("Adelie", "Chinstrap", "Gentoo")
LABELS = np.random.default_rng(7).integers(0, len(CLASSES), TEST_ROWS)

# What the report shows: its h2 headings in order, and the banner of the failed variant.
HEADINGS = (
    "Verdict",
    "Fairness audit",
    "Architectures",
    "Side by side",
    "Training curves",
    "Quality",
    "Per slice",
    "Throughput and memory",
    "Serving latency and size",
    "Pipeline cost",
    "Runs",
)
BANNER = "Fairness audit failed: 1 item(s)"
# The architecture summary each framework's train run logs (`components.common.layer_summary`).
ARCHITECTURES = {
    framework: render(
        by_name(framework).label,
        "mlp",
        [Layer("hidden_0", "Dense", "64", 640), Layer("outputs", "Dense", "3", 195)],
    )
    for framework in NAMES
}

# Per framework: (mean over seeds, spread between seeds) of every metric a run logs.
PIPELINE = {
    "tensorflow": {"wall_s": (21.9, 0.8), "stages_s": (20.7, 0.8)},
    "pytorch": {"wall_s": (33.5, 1.2), "stages_s": (11.6, 0.5)},
}
EVALUATE = {
    "tensorflow": {
        "accuracy": (0.962, 0.008),
        "macro_f1": (0.955, 0.009),
        "log_loss": (0.118, 0.012),
        "ece": (0.031, 0.004),
        "latency.batch_1.p50_ms": (0.92, 0.05),
        "latency.batch_1.p99_ms": (2.10, 0.20),
        "latency.batch_256.p50_ms": (3.40, 0.15),
        "latency.batch_256.p99_ms": (6.80, 0.40),
        "model_size_bytes": (58_214.0, 0.0),
        "peak_rss_mb": (742.0, 9.0),
    },
    "pytorch": {
        "accuracy": (0.967, 0.007),
        "macro_f1": (0.961, 0.008),
        "log_loss": (0.104, 0.011),
        "ece": (0.027, 0.004),
        "latency.batch_1.p50_ms": (0.21, 0.02),
        "latency.batch_1.p99_ms": (0.58, 0.06),
        "latency.batch_256.p50_ms": (1.90, 0.10),
        "latency.batch_256.p99_ms": (3.70, 0.30),
        "model_size_bytes": (24_577.0, 0.0),
        "peak_rss_mb": (388.0, 6.0),
    },
}
TRAIN = {
    "tensorflow": {
        "samples_per_s": (6_120.0, 240.0),
        "fit_s": (9.8, 0.4),
        "peak_rss_mb": (1_210.0, 15.0),
        "step_s": (0.0052, 0.0002),
    },
    "pytorch": {
        "samples_per_s": (8_930.0, 310.0),
        "fit_s": (6.7, 0.3),
        "peak_rss_mb": (640.0, 11.0),
        "step_s": (0.0036, 0.0002),
    },
}


def make_comparison(
    failed_audit: bool = False,
    seeds: Iterable[int] | Mapping[str, Iterable[int]] = (0, 1, 2),
    frameworks: Iterable[str] = NAMES,
) -> Comparison:
    """Three seeds per framework by default, 20-epoch curves and two slice features.

    `seeds` may map a framework to its own seeds (a framework with runs for only some seeds);
    `failed_audit` makes the parameter counts differ by more than 5%, and the audit say so.
    """
    frameworks = tuple(frameworks)
    seeds_of = seeds if isinstance(seeds, Mapping) else dict.fromkeys(frameworks, seeds)
    counts = FAILED_PARAMETER_COUNT if failed_audit else PARAMETER_COUNT
    runs = tuple(
        make_run(framework, seed, counts[framework])
        for framework in frameworks
        for seed in seeds_of.get(framework, ())
    )
    both = all(any(run.framework == framework for run in runs) for framework in NAMES)
    comparison = Comparison(
        spec_name="penguins",
        experiment="tandem-penguins",
        tracking_uri="sqlite:///tandem-runs/mlflow.db",
        run_group="bench-2026-05-04",
        runs=runs,
        metrics=metric_comparisons(list(runs), row_predictions(runs)) if both else (),
        slices=slice_comparisons(list(runs)),
        audit=_audit(runs, counts),
        method=METHOD,
        alpha=ALPHA,
        architectures={framework: ARCHITECTURES[framework] for framework in frameworks},
        test_rows=TEST_ROWS,
    )
    return replace(comparison, verdict=verdict_lines(comparison) if both else ())


def predictions(framework: str, seed: int) -> np.ndarray:
    """[TEST_ROWS, classes] probabilities of one run: right on about its framework's accuracy
    share of the rows, confident where right."""
    rng = np.random.default_rng([NAMES.index(framework), seed, 1])
    accuracy = EVALUATE[framework]["accuracy"][0]
    right = rng.random(TEST_ROWS) < accuracy
    chosen = np.where(right, LABELS, (LABELS + rng.integers(1, len(CLASSES), TEST_ROWS)) % 3)
    logits = rng.normal(0.0, 0.5, (TEST_ROWS, len(CLASSES)))
    logits[np.arange(TEST_ROWS), chosen] += 3.0
    probabilities = np.exp(logits)
    return probabilities / probabilities.sum(axis=1, keepdims=True)


def row_predictions(runs: Iterable[PipelineRun]) -> RowPredictions:
    """What `row_predictions.load_row_predictions` reads back for `runs` from MLflow."""
    outputs = {
        framework: np.stack(
            [predictions(framework, run.seed) for run in runs if run.framework == framework]
        )
        for framework in NAMES
    }
    return RowPredictions(CLASSIFICATION, CLASSES, LABELS, outputs)


def make_run(framework: str, seed: int, parameter_count: int | None = None) -> PipelineRun:
    """One framework's pipeline run for one seed: train and evaluate step runs with metrics."""
    rng = np.random.default_rng([NAMES.index(framework), seed])
    parameter_count = parameter_count or PARAMETER_COUNT[framework]
    tags = {
        "tandem.framework": framework,
        "tandem.dataset_fingerprint": FINGERPRINT,
        "tandem.git_revision": GIT_REVISION,
        "tandem.seed": str(seed),
    }
    train = StepRun(
        run_id=_run_id(framework, seed, "train"),
        params=_params(seed, parameter_count),
        metrics=_draw(TRAIN[framework], rng),
        tags=tags,
        history=_history(rng, framework),
    )
    evaluate = StepRun(
        run_id=_run_id(framework, seed, "evaluate"),
        params={},
        metrics={
            **_draw(EVALUATE[framework], rng),
            **classification_metrics(LABELS, predictions(framework, seed)),
            **_slice_metrics(rng, framework),
        },
        tags=tags,
    )
    cost = _draw(PIPELINE[framework], rng)
    cost["overhead_s"] = cost["wall_s"] - cost["stages_s"]
    return PipelineRun(
        framework=framework,
        seed=seed,
        run_id=_run_id(framework, seed, "pipeline"),
        run_name=f"{framework}-seed{seed}",
        tags=tags,
        train=train,
        evaluate=evaluate,
        pipeline=StepRun(_run_id(framework, seed, "pipeline"), {}, cost, tags),
    )


def _draw(means: dict[str, tuple[float, float]], rng: np.random.Generator) -> dict[str, float]:
    return {
        name: float(mean + spread * rng.standard_normal()) for name, (mean, spread) in means.items()
    }


def _history(rng: np.random.Generator, framework: str) -> dict[str, list[tuple[int, float]]]:
    epochs = np.arange(1, EPOCHS + 1)
    speed = 0.28 if framework == "pytorch" else 0.22
    train_loss = 1.1 * np.exp(-speed * epochs) + 0.06 + rng.normal(0, 0.01, EPOCHS)
    val_loss = train_loss + 0.03 + rng.normal(0, 0.015, EPOCHS)
    series = {
        "train_loss": train_loss,
        "val_loss": val_loss,
        "train_accuracy": 1 - 0.6 * np.exp(-speed * epochs) - rng.uniform(0, 0.01, EPOCHS),
        "val_accuracy": 0.98 - 0.6 * np.exp(-speed * epochs) - rng.uniform(0, 0.02, EPOCHS),
    }
    return {
        name: [(int(e), float(v)) for e, v in zip(epochs, values, strict=True)]
        for name, values in series.items()
    }


def _slice_metrics(rng: np.random.Generator, framework: str) -> dict[str, float]:
    base = EVALUATE[framework]["accuracy"][0]
    metrics = {}
    for feature, values in SLICES.items():
        for index, value in enumerate(values):
            prefix = f"{SLICE_PREFIX}{feature}.{value}."
            accuracy = min(1.0, base - 0.02 * index + rng.normal(0, 0.01))
            metrics[prefix + "accuracy"] = accuracy
            metrics[prefix + "macro_f1"] = accuracy - 0.01
            metrics[prefix + "log_loss"] = 0.1 + 0.02 * index
            metrics[prefix + "ece"] = 0.03
            metrics[prefix + "count"] = float(20 + 5 * index)
    return metrics


def _audit(runs: tuple[PipelineRun, ...], counts: dict[str, int]) -> tuple[AuditItem, ...]:
    tensorflow, pytorch = counts["tensorflow"], counts["pytorch"]
    within = abs(pytorch - tensorflow) / max(tensorflow, pytorch) <= 0.05
    seeds = {f: sorted(r.seed for r in runs if r.framework == f) for f in NAMES}
    return (
        AuditItem(
            name="Same dataset snapshot",
            passed=True,
            detail="every run trained and evaluated on one dataset fingerprint",
            values=dict.fromkeys(NAMES, FINGERPRINT[:12]),
        ),
        AuditItem(
            name="Same architecture (parameter counts within 5%)",
            passed=within,
            detail=f"parameter counts {tensorflow} and {pytorch}",
            values={"tensorflow": str(tensorflow), "pytorch": str(pytorch)},
        ),
        AuditItem(
            name="Same seeds",
            passed=seeds["tensorflow"] == seeds["pytorch"],
            detail="both frameworks ran the same seeds",
            values={f: ", ".join(map(str, s)) for f, s in seeds.items()},
        ),
        AuditItem(
            name="Same hyperparameters",
            passed=True,
            detail="optimizer, learning rate, batch size and epochs agree",
            values=dict.fromkeys(NAMES, "adam, 0.01, 32, 20"),
        ),
    )


def _params(seed: int, parameter_count: int) -> dict[str, str]:
    return {
        "model": "mlp",
        "hidden_sizes": "[64, 32]",
        "optimizer": "adam",
        "learning_rate": "0.01",
        "batch_size": "32",
        "epochs": str(EPOCHS),
        "seed": str(seed),
        "parameter_count": str(parameter_count),
        "compile": "eager",
        "world_size": "1",
    }


def _run_id(framework: str, seed: int, step: str) -> str:
    return hashlib.md5(f"{framework}/{seed}/{step}".encode()).hexdigest()
