"""The paired permutation test of two frameworks that predicted the same rows.

With no difference between them, a row's TensorFlow and PyTorch predictions are exchangeable: each
permutation swaps every row's two predictions with probability 1/2 (the same swap in every seed
pair) and recomputes T = mean over seed pairs of metric(PyTorch) - metric(TensorFlow). The p-value
(1 + #{|T_swapped| >= |T_observed|}) / (1 + permutations) counts the observed arrangement as one of
the arrangements: that keeps the test valid at any number of permutations, and p never 0.

A metric that is a mean of per-row values is tested on those values, where a swap only flips a
row's difference: log loss, mae on absolute errors, rmse and r2 on squared errors (both are monotone
in their sum on the same labels). The others are recomputed for every swap.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Mapping

import numpy as np

from components.compare.weighted_metrics import (
    CHUNK_CELLS,
    WeightedMetric,
    WeightedSums,
    absolute_errors,
    row_log_loss,
    squared_errors,
    sum_columns,
)

# A swap that reproduces the observed statistic differs from it only by rounding, and must count.
TIE_TOLERANCE = 1e-12
ROW_VALUES: dict[str, tuple[str, Callable[[np.ndarray, np.ndarray], np.ndarray]]] = {
    "log_loss": ("per-row log loss", row_log_loss),
    "rmse": ("per-row squared errors", squared_errors),
    "r2": ("per-row squared errors", squared_errors),
    "mae": ("per-row absolute errors", absolute_errors),
}
NAMES = {"macro_f1": "macro-F1", "ece": "ECE", "roc_auc": "ROC AUC", "pr_auc": "PR AUC"}


def seed_pairs(pairs: int) -> str:
    return f"{pairs} seed pair{'s' if pairs != 1 else ''}"


def permutation_tests(
    labels: np.ndarray,
    tensorflow: np.ndarray,
    pytorch: np.ndarray,
    metrics: Mapping[str, WeightedMetric],
    permutations: int,
    rng: np.random.Generator,
) -> dict[str, tuple[float, str]]:
    """Per metric, (two-sided p-value, the test in words), tensorflow[i] paired with pytorch[i]."""
    rows = len(labels)
    test = f"paired permutation test ({permutations} random row swaps)"
    over = seed_pairs(len(tensorflow))
    described, differences, recomputed = {}, {}, {}
    for name, metric in metrics.items():
        if name in ROW_VALUES:
            values, row_value = ROW_VALUES[name]
            differences[name] = np.mean(
                [
                    row_value(labels, pt) - row_value(labels, tf)
                    for tf, pt in zip(tensorflow, pytorch, strict=True)
                ],
                axis=0,
            )
            described[name] = f"{test} on {values}, {over}"
        else:
            recomputed[name] = metric
            described[name] = f"{test} of {NAMES[name]} recomputed per swap, {over}"
    flipped = list(differences)
    flippable = np.column_stack([differences[name] for name in flipped] or [np.zeros(rows)])
    swapper = _Swapped(labels, tensorflow, pytorch, recomputed)

    def statistics(swapped: np.ndarray) -> dict[str, np.ndarray]:
        flips = (1.0 - 2.0 * swapped) @ flippable / rows
        return {name: flips[:, column] for column, name in enumerate(flipped)} | swapper.statistics(
            swapped
        )

    observed = {
        name: abs(float(value[0])) for name, value in statistics(np.zeros((1, rows), bool)).items()
    }
    tolerance = {
        name: TIE_TOLERANCE * max(1.0, float(np.abs(values).mean()))
        for name, values in differences.items()
    } | dict.fromkeys(recomputed, TIE_TOLERANCE)
    extreme = dict.fromkeys(observed, 0)
    chunk = max(1, CHUNK_CELLS // (2 * rows))
    for start in range(0, permutations, chunk):
        for name, values in statistics(_swaps(rng, min(chunk, permutations - start), rows)).items():
            extreme[name] += int((np.abs(values) >= observed[name] - tolerance[name]).sum())
    return {
        name: ((1 + extreme[name]) / (1 + permutations), description)
        for name, description in described.items()
    }


def _swaps(rng: np.random.Generator, permutations: int, rows: int) -> np.ndarray:
    """[permutations, rows] booleans, each True with probability 1/2 (eight per random byte)."""
    random_bytes = rng.integers(0, 256, (permutations, -(-rows // 8)), dtype=np.uint8)
    return np.unpackbits(random_bytes, axis=1, count=rows).view(bool)


class _Swapped:
    """Recomputed metrics' statistics under row swaps.

    A `WeightedSums` metric moves linearly: swapping rows M adds M @ (columns_pt - columns_tf) to
    TensorFlow's column sums and takes it from PyTorch's. The AUCs see both frameworks' rows
    stacked, [TensorFlow rows, PyTorch rows], weighted 0 or 1 to pick each row's side."""

    def __init__(
        self,
        labels: np.ndarray,
        tensorflow: np.ndarray,
        pytorch: np.ndarray,
        metrics: Mapping[str, WeightedMetric],
    ):
        sides = {(0, pair): outputs for pair, outputs in enumerate(tensorflow)}
        sides |= {(1, pair): outputs for pair, outputs in enumerate(pytorch)}
        columns, blocks = sum_columns(labels, sides, metrics)
        # Per (seed pair, metric): the metric, both sides' column sums, where its shift sits.
        self.linear: list[tuple[str, WeightedSums, np.ndarray, np.ndarray, slice]] = []
        moved, start = [], 0
        for pair in range(len(tensorflow)):
            for name, metric in metrics.items():
                if isinstance(metric, WeightedSums):
                    tf_columns = columns[:, blocks[(0, pair), name]]
                    pt_columns = columns[:, blocks[(1, pair), name]]
                    moved.append(pt_columns - tf_columns)
                    shift = slice(start, start + tf_columns.shape[1])
                    self.linear.append(
                        (name, metric, tf_columns.sum(axis=0), pt_columns.sum(axis=0), shift)
                    )
                    start = shift.stop
        moved = np.hstack(moved) if moved else np.zeros((len(labels), 0))
        # Columns equal on both sides (the true class, the ones) never move: leave them out.
        self.width = moved.shape[1]
        self.moving = np.flatnonzero(np.any(moved != 0, axis=0))
        self.moved = np.ascontiguousarray(moved[:, self.moving])
        self.recomputed = {
            name: metric for name, metric in metrics.items() if not isinstance(metric, WeightedSums)
        }
        self.stacked_labels = np.concatenate([labels, labels])
        self.stacked = [
            np.concatenate([tf, pt]) for tf, pt in zip(tensorflow, pytorch, strict=True)
        ]

    def statistics(self, swapped: np.ndarray) -> dict[str, np.ndarray]:
        """Per metric, [B] statistics of swap masks `swapped` [B, rows]."""
        shifts = np.zeros((len(swapped), self.width))
        shifts[:, self.moving] = swapped.astype(np.float64) @ self.moved
        differences = defaultdict(list)
        for name, metric, tf_sums, pt_sums, shift in self.linear:
            moved = shifts[:, shift]
            differences[name].append(
                metric.finish(pt_sums - moved) - metric.finish(tf_sums + moved)
            )
        if self.recomputed:
            # Rows-first weights (a transposed [2 rows, B]) keep the AUCs' row gathers fast.
            kept = swapped.T
            tf_weights = np.vstack([~kept, kept]).astype(np.float64).T
            pt_weights = np.vstack([kept, ~kept]).astype(np.float64).T
            for name, metric in self.recomputed.items():
                differences[name] = [
                    metric(self.stacked_labels, outputs, pt_weights)
                    - metric(self.stacked_labels, outputs, tf_weights)
                    for outputs in self.stacked
                ]
        return {name: np.mean(values, axis=0) for name, values in differences.items()}
