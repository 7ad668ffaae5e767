"""Paired bootstrap intervals and paired tests of two frameworks' metrics on the same test rows.

A metric moves with the rows (another test set) and with the seed (another training run), so the
bootstrap resamples both: each replicate draws the rows once for both frameworks (paired: both
predicted the same rows, and a row that is hard for one is hard for the other, which cancels out of
the difference) and each framework's seeds on its own (separate training runs, not pairs). The tests
are paired for the same reason: McNemar's exact test on per-row correctness for accuracy, otherwise
a permutation test that swaps the two frameworks' predictions row by row. The permutation p-value
counts the observed arrangement as one of the permutations (the +1), so it is never 0.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import stats

from components.compare import weighted_metrics
from components.compare.permutation import permutation_tests, seed_pairs
from components.compare.weighted_metrics import (
    CHUNK_CELLS,
    WeightedMetric,
    WeightedSums,
    sum_columns,
)

ALPHA = 0.05
POWER = 0.80
TASKS = ("classification", "regression")


@dataclass(frozen=True)
class Interval:
    estimate: float
    low: float | None  # None when there is nothing to resample
    high: float | None


@dataclass(frozen=True)
class PairedMetric:
    metric: str
    tensorflow: Interval
    pytorch: Interval
    difference: Interval  # pytorch - tensorflow
    p_value: float  # the paired test's two-sided p-value, unadjusted, in (0, 1]
    test: str
    standard_error: float  # sqrt(se_tf**2 + se_pt**2) of each framework's bootstrap replicates


def compare_predictions(
    task: str,
    labels: np.ndarray,
    tensorflow: np.ndarray,
    pytorch: np.ndarray,
    metrics: Sequence[str],
    *,
    resamples: int = 2000,
    permutations: int = 2000,
    seed: int = 0,
) -> list[PairedMetric]:
    """Each metric's estimates, 95% paired-bootstrap intervals and paired test, in `metrics` order.

    classification: int `labels` [n], probabilities [seeds, n, k]; regression: float `labels` [n],
    predictions [seeds, n]. TensorFlow's seed i is paired with PyTorch's seed i for the tests.
    """
    if resamples < 2 or permutations < 1:
        raise ValueError("need at least 2 resamples and 1 permutation")
    labels, tensorflow, pytorch = _validated(task, labels, tensorflow, pytorch)
    classes = tensorflow.shape[2] if tensorflow.ndim == 3 else 0
    functions = _functions(task, labels, classes, metrics)
    bootstrap_rng, swap_rng = (
        np.random.default_rng(child) for child in np.random.SeedSequence(seed).spawn(2)
    )
    unit = np.ones((1, len(labels)))
    replicates = _bootstrap(labels, tensorflow, pytorch, functions, resamples, bootstrap_rng)
    tests = _paired_tests(labels, tensorflow, pytorch, functions, permutations, swap_rng)
    results = []
    for name, function in functions.items():
        tf_estimate = float(np.mean([function(labels, p, unit)[0] for p in tensorflow]))
        pt_estimate = float(np.mean([function(labels, p, unit)[0] for p in pytorch]))
        tf_replicates, pt_replicates = replicates[name]
        p_value, test = tests[name]
        results.append(
            PairedMetric(
                metric=name,
                tensorflow=_percentile_interval(tf_estimate, tf_replicates),
                pytorch=_percentile_interval(pt_estimate, pt_replicates),
                difference=_percentile_interval(
                    pt_estimate - tf_estimate, pt_replicates - tf_replicates
                ),
                p_value=p_value,
                test=test,
                standard_error=math.sqrt(_spread(tf_replicates) ** 2 + _spread(pt_replicates) ** 2),
            )
        )
    return results


def holm(p_values: Sequence[float]) -> list[float]:
    """Holm's step-down adjusted p-values, in the given order, capped at 1."""
    values = np.asarray(p_values, dtype=np.float64)
    order = np.argsort(values, kind="stable")
    stepped = values[order] * np.arange(len(values), 0, -1)
    adjusted = np.empty_like(values)
    adjusted[order] = np.minimum(np.maximum.accumulate(stepped), 1.0)
    return adjusted.tolist()


def detectable_difference(
    standard_error: float, tests: int, alpha: float = ALPHA, power: float = POWER
) -> float | None:
    """The smallest |difference| found with probability `power` at Holm's strictest level
    (alpha / tests, two-sided); None when the standard error is 0."""
    if tests < 1:
        raise ValueError("tests must be >= 1")
    if standard_error == 0:
        return None
    z = stats.norm.ppf(1 - alpha / (2 * tests)) + stats.norm.ppf(power)
    return float(z * standard_error)


def ratio_of_means(
    tensorflow: Sequence[float], pytorch: Sequence[float], *, resamples: int = 2000, seed: int = 0
) -> Interval:
    """mean(pytorch) / mean(tensorflow) with a 95% percentile bootstrap interval; each side's
    values are resampled on their own (the two frameworks' seeds are not pairs). Replicates whose
    TensorFlow mean is not positive have no ratio and are left out."""
    tf, pt = np.asarray(tensorflow, dtype=np.float64), np.asarray(pytorch, dtype=np.float64)
    if tf.size == 0 or pt.size == 0:
        raise ValueError("a ratio of means needs at least one value on each side")
    if tf.mean() <= 0:
        raise ValueError(f"the TensorFlow mean is {tf.mean()}: a ratio needs a positive one")
    estimate = float(pt.mean() / tf.mean())
    if tf.size < 2 or pt.size < 2:
        return Interval(estimate, None, None)
    rng = np.random.default_rng(seed)
    tf_means = tf[rng.integers(0, tf.size, (resamples, tf.size))].mean(axis=1)
    pt_means = pt[rng.integers(0, pt.size, (resamples, pt.size))].mean(axis=1)
    positive = tf_means > 0
    return _percentile_interval(estimate, pt_means[positive] / tf_means[positive])


def _validated(
    task: str, labels: np.ndarray, tensorflow: np.ndarray, pytorch: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    if task not in TASKS:
        raise ValueError(f"task must be one of {TASKS}, not {task!r}")
    labels = np.asarray(labels)
    tensorflow = np.asarray(tensorflow, dtype=np.float64)
    pytorch = np.asarray(pytorch, dtype=np.float64)
    dimensions = 3 if task == "classification" else 2
    layout = "[seeds, n, classes]" if dimensions == 3 else "[seeds, n]"
    if labels.ndim != 1 or len(labels) == 0:
        raise ValueError(f"labels must be [n] with n > 0, not of shape {labels.shape}")
    for name, predictions in (("tensorflow", tensorflow), ("pytorch", pytorch)):
        if predictions.ndim != dimensions or predictions.shape[1] != len(labels):
            raise ValueError(
                f"{name} predictions of shape {predictions.shape} do not fit {len(labels)} "
                f"labels: expected {layout}"
            )
        if len(predictions) == 0:
            raise ValueError(f"{name} has no seeds")
    if task == "regression":
        return labels.astype(np.float64), tensorflow, pytorch
    if tensorflow.shape[2] != pytorch.shape[2]:
        raise ValueError(
            f"tensorflow has {tensorflow.shape[2]} classes, pytorch {pytorch.shape[2]}"
        )
    if not np.issubdtype(labels.dtype, np.integer):
        raise ValueError(f"classification labels must be class indices, not {labels.dtype}")
    if labels.min() < 0 or labels.max() >= tensorflow.shape[2]:
        raise ValueError(f"labels must be class indices in [0, {tensorflow.shape[2]})")
    return labels.astype(np.int64), tensorflow, pytorch


def _functions(
    task: str, labels: np.ndarray, classes: int, metrics: Sequence[str]
) -> dict[str, WeightedMetric]:
    known = (
        weighted_metrics.CLASSIFICATION if task == "classification" else weighted_metrics.REGRESSION
    )
    functions = {}
    for name in metrics:
        if name not in known:
            raise ValueError(f"unknown {task} metric {name!r}: choose from {sorted(known)}")
        if name in functions:
            raise ValueError(f"metric {name!r} is asked for twice")
        if name in weighted_metrics.BINARY_ONLY and classes != 2:
            raise ValueError(f"{name} needs a binary label, not {classes} classes")
        if name in weighted_metrics.BINARY_ONLY and len(np.unique(labels)) < 2:
            raise ValueError(f"{name} needs both classes among the labels")
        functions[name] = known[name]
    return functions


def _row_counts(rng: np.random.Generator, replicates: int, rows: int) -> np.ndarray:
    """[replicates, rows] times each row is drawn in n draws with replacement (multinomial),
    laid out rows-first for the AUCs' row gathers."""
    draws = rng.integers(0, rows, (replicates, rows), dtype=np.int32).astype(np.int64)
    draws += rows * np.arange(replicates)[:, None]
    counts = np.bincount(draws.ravel(), minlength=replicates * rows).reshape(replicates, rows)
    return np.asfortranarray(counts, dtype=np.float64)


def _bootstrap(
    labels: np.ndarray,
    tensorflow: np.ndarray,
    pytorch: np.ndarray,
    functions: dict[str, WeightedMetric],
    resamples: int,
    rng: np.random.Generator,
) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Per metric, each framework's [resamples] replicate values: the mean over its resampled
    seeds of the metric on rows weighted by the replicate's row counts (shared by both)."""
    replicates = {name: (np.empty(resamples), np.empty(resamples)) for name in functions}
    sides = {(0, seed): outputs for seed, outputs in enumerate(tensorflow)}
    sides |= {(1, seed): outputs for seed, outputs in enumerate(pytorch)}
    columns, blocks = sum_columns(labels, sides, functions)
    chunk = max(1, CHUNK_CELLS // len(labels))
    for start in range(0, resamples, chunk):
        size = min(chunk, resamples - start)
        weights = _row_counts(rng, size, len(labels))
        sums = weights @ columns
        for side, predictions in enumerate((tensorflow, pytorch)):
            seeds = rng.integers(0, len(predictions), (size, len(predictions)))
            for name, function in functions.items():
                per_seed = np.stack(
                    [
                        function.finish(sums[:, blocks[(side, seed), name]])
                        if isinstance(function, WeightedSums)
                        else function(labels, outputs, weights)
                        for seed, outputs in enumerate(predictions)
                    ]
                )
                chosen = per_seed[seeds, np.arange(size)[:, None]]
                replicates[name][side][start : start + size] = chosen.mean(axis=1)
    return replicates


def _paired_tests(
    labels: np.ndarray,
    tensorflow: np.ndarray,
    pytorch: np.ndarray,
    functions: dict[str, WeightedMetric],
    permutations: int,
    rng: np.random.Generator,
) -> dict[str, tuple[float, str]]:
    """Per metric, (p-value, the test in words), TensorFlow's seed i paired with PyTorch's i."""
    pairs = min(len(tensorflow), len(pytorch))
    tensorflow, pytorch = tensorflow[:pairs], pytorch[:pairs]
    others = {name: function for name, function in functions.items() if name != "accuracy"}
    tests = permutation_tests(labels, tensorflow, pytorch, others, permutations, rng)
    if "accuracy" in functions:
        tests["accuracy"] = (
            _mcnemar(labels, tensorflow, pytorch),
            f"McNemar's exact test on per-row correctness, pooled over {seed_pairs(pairs)}",
        )
    return tests


def _mcnemar(labels: np.ndarray, tensorflow: np.ndarray, pytorch: np.ndarray) -> float:
    tf_right = tensorflow.argmax(axis=2) == labels
    pt_right = pytorch.argmax(axis=2) == labels
    only_tf = int((tf_right & ~pt_right).sum())
    only_pt = int((pt_right & ~tf_right).sum())
    if only_tf + only_pt == 0:
        return 1.0
    p_value = stats.binomtest(only_tf, only_tf + only_pt, 0.5).pvalue
    # An exact p below the smallest float underflows to 0; report the smallest positive float.
    return float(max(p_value, np.finfo(np.float64).tiny))


def _percentile_interval(estimate: float, replicates: np.ndarray) -> Interval:
    finite = replicates[np.isfinite(replicates)]
    if finite.size == 0:
        return Interval(estimate, None, None)
    low, high = np.percentile(finite, [100 * ALPHA / 2, 100 * (1 - ALPHA / 2)])
    return Interval(estimate, float(low), float(high))


def _spread(replicates: np.ndarray) -> float:
    finite = replicates[np.isfinite(replicates)]
    return float(finite.std(ddof=1)) if finite.size > 1 else math.nan
