"""The evaluator's metrics under many row weightings at once: `metric(labels, outputs, weights)`
with weights [B, n] returns [B].

A bootstrap replicate is the test rows weighted by how often it drew each one, and a swap of two
models' predictions is their stacked rows weighted 0 or 1. Most metrics are a function of weighted
column sums of per-row values (`WeightedSums`: correctness, confusion counts, log loss, calibration
gaps, errors), so one matrix product serves a whole chunk of weightings; ROC and PR AUC take one
sort of the scores and cumulative weights, tied scores grouped. Unit weights reproduce
`components.evaluate.metrics` (its docstring states the conventions) and integer weights the metric
of the rows repeated that often. A weighting without both classes has no ROC AUC (NaN), one without
a positive row no PR AUC. Weights laid out rows-first (`np.asfortranarray`) make the AUCs faster.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Mapping
from dataclasses import dataclass

import numpy as np

from components.evaluate.metrics import (
    ECE_BINS,
    LOG_LOSS_EPSILON,
    class_arrays,
    predicted_classes,
)

# Rows x weightings held at once: 2M float64 weights are 16 MB.
CHUNK_CELLS = 2_000_000
# SS_tot at most this fraction of Σ (label - mean)² is a constant truth's rounding error.
CONSTANT_TRUTH = 1e-10

WeightedMetric = Callable[[np.ndarray, np.ndarray, np.ndarray], np.ndarray]


@dataclass(frozen=True)
class WeightedSums:
    """A metric of weighted column sums: `finish(weights @ rows(labels, outputs))`."""

    rows: Callable[[np.ndarray, np.ndarray], np.ndarray]  # [n, columns]
    finish: Callable[[np.ndarray], np.ndarray]  # sums [B, columns] -> [B]

    def __call__(self, labels: np.ndarray, outputs: np.ndarray, weights: np.ndarray) -> np.ndarray:
        rows = self.rows(labels, outputs)
        return self.finish(_weights(weights, len(rows)) @ rows)


def _weights(weights: np.ndarray, rows: int) -> np.ndarray:
    weights = np.asarray(weights, dtype=np.float64)
    if weights.ndim != 2 or weights.shape[1] != rows:
        raise ValueError(f"weights of shape {weights.shape} do not fit {rows} rows; need [B, rows]")
    return weights


def _regression(labels: np.ndarray, predictions: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    labels = np.asarray(labels, dtype=np.float64)
    predictions = np.asarray(predictions, dtype=np.float64)
    if labels.ndim != 1 or labels.shape != predictions.shape:
        raise ValueError(
            f"labels of shape {labels.shape} do not fit predictions of shape {predictions.shape}"
        )
    return labels, predictions


def _with_ones(values: np.ndarray) -> np.ndarray:
    """[n, c + 1]: the per-row values and a last column of ones (its sum is the total weight)."""
    values = values.reshape(len(values), -1)
    return np.hstack([values, np.ones((len(values), 1))])


def _mean(sums: np.ndarray) -> np.ndarray:
    return sums[:, 0] / sums[:, 1]


def row_log_loss(labels: np.ndarray, probabilities: np.ndarray) -> np.ndarray:
    """Each row's log loss: -log of the true class's probability clipped to [1e-15, 1]."""
    labels, probabilities = class_arrays(labels, probabilities)
    true_class = probabilities[np.arange(len(labels)), labels]
    return -np.log(np.clip(true_class, LOG_LOSS_EPSILON, 1.0))


def _correct(labels: np.ndarray, probabilities: np.ndarray) -> np.ndarray:
    labels, probabilities = class_arrays(labels, probabilities)
    return (predicted_classes(probabilities) == labels).astype(np.float64)


def _confusion_rows(labels: np.ndarray, probabilities: np.ndarray) -> np.ndarray:
    """[n, 3k]: one-hot true class, one-hot predicted class, one-hot true class if correct."""
    labels, probabilities = class_arrays(labels, probabilities)
    one_hot = np.eye(probabilities.shape[1])
    predicted = predicted_classes(probabilities)
    truth = one_hot[labels]
    return np.hstack([truth, one_hot[predicted], truth * (predicted == labels)[:, None]])


def _macro_f1(sums: np.ndarray) -> np.ndarray:
    actual, predicted, true_positives = np.split(sums, 3, axis=1)
    # F1 = 2TP / (actual + predicted), averaged over the classes present in either.
    denominator = actual + predicted
    present = denominator > 0
    f1 = np.divide(2 * true_positives, denominator, out=np.zeros_like(denominator), where=present)
    return f1.sum(axis=1) / present.sum(axis=1)


def _calibration_rows(labels: np.ndarray, probabilities: np.ndarray) -> np.ndarray:
    """[n, bins + 1]: correct - confidence in the row's confidence bin, then ones."""
    labels, probabilities = class_arrays(labels, probabilities)
    edges = np.linspace(0.0, 1.0, ECE_BINS + 1)
    confidence = probabilities.max(axis=1)
    correct = (predicted_classes(probabilities) == labels).astype(np.float64)
    which = np.clip(np.digitize(confidence, edges[1:-1], right=True), 0, ECE_BINS - 1)
    return _with_ones(np.eye(ECE_BINS)[which] * (correct - confidence)[:, None])


def _expected_calibration_error(sums: np.ndarray) -> np.ndarray:
    # (bin weight / total) * |bin accuracy - bin confidence| = |Σ correct - Σ confidence| / total.
    return np.abs(sums[:, :-1]).sum(axis=1) / sums[:, -1]


accuracy = WeightedSums(lambda labels, p: _with_ones(_correct(labels, p)), _mean)
macro_f1 = WeightedSums(_confusion_rows, _macro_f1)
log_loss = WeightedSums(lambda labels, p: _with_ones(row_log_loss(labels, p)), _mean)
expected_calibration_error = WeightedSums(_calibration_rows, _expected_calibration_error)


@dataclass(frozen=True)
class _Ranked:
    """The rows of each class in descending score of class 1, under weights laid out [rows, B]."""

    by_row: np.ndarray  # the weights transposed, [rows, B]
    positive: np.ndarray  # positive rows' indices, highest score first
    negative: np.ndarray
    positive_scores: np.ndarray  # their negated scores, ascending (for searchsorted)
    negative_scores: np.ndarray

    def cumulative(self, rows: np.ndarray) -> np.ndarray:
        """[len(rows) + 1, B]: 0, then the running weight of `rows` in order."""
        running = np.zeros((len(rows) + 1, self.by_row.shape[1]))
        np.take(self.by_row, rows, axis=0, out=running[1:], mode="clip")  # unbuffered
        np.cumsum(running[1:], axis=0, out=running[1:])
        return running

    def negatives_through(self, side: str) -> np.ndarray:
        """Per positive row, how many negative rows score above it (`side="left"`) or at least
        as high (`side="right"`)."""
        return np.searchsorted(self.negative_scores, self.positive_scores, side=side)


def _ranked(labels: np.ndarray, probabilities: np.ndarray, weights: np.ndarray) -> _Ranked:
    labels, probabilities = class_arrays(labels, probabilities)
    weights = _weights(weights, len(labels))
    if probabilities.shape[1] != 2:
        raise ValueError(f"ROC and PR AUC need 2 classes, not {probabilities.shape[1]}")
    negated = -probabilities[:, 1]
    positive, negative = np.flatnonzero(labels == 1), np.flatnonzero(labels != 1)
    positive = positive[np.argsort(negated[positive], kind="stable")]
    negative = negative[np.argsort(negated[negative], kind="stable")]
    return _Ranked(weights.T, positive, negative, negated[positive], negated[negative])


def _ratio(numerator: np.ndarray, denominator: np.ndarray) -> np.ndarray:
    return np.divide(
        numerator, denominator, out=np.full_like(numerator, np.nan), where=denominator > 0
    )


def roc_auc(labels: np.ndarray, probabilities: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """P(a positive row outscores a negative one), a tie counting one half: the trapezoidal area
    under the ROC curve, as `roc_auc_score`."""
    ranked = _ranked(labels, probabilities, weights)
    negatives = ranked.cumulative(ranked.negative)
    above, through = ranked.negatives_through("left"), ranked.negatives_through("right")
    # Per positive row, the negative weight scoring above it plus half of that tied with it.
    beaten = negatives[above]
    if np.any(above != through):
        beaten = (beaten + negatives[through]) / 2
    positive_weights = ranked.by_row[ranked.positive]
    lost = np.einsum("ij,ij->j", positive_weights, beaten)
    both = positive_weights.sum(axis=0) * negatives[-1]
    return 1.0 - _ratio(lost, both)


def pr_auc(labels: np.ndarray, probabilities: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Σ over positive rows of (recall it adds) * precision at its score (rows tied with it
    included), as `average_precision_score`."""
    ranked = _ranked(labels, probabilities, weights)
    positives = ranked.cumulative(ranked.positive)
    negatives = ranked.cumulative(ranked.negative)
    tied = np.searchsorted(ranked.positive_scores, ranked.positive_scores, side="right")
    true_positives = positives[tied]
    flagged = true_positives + negatives[ranked.negatives_through("right")]
    precision = np.divide(true_positives, flagged, out=np.zeros_like(flagged), where=flagged > 0)
    gained = np.einsum("ij,ij->j", np.diff(positives, axis=0), precision)
    return _ratio(gained, positives[-1])


def squared_errors(labels: np.ndarray, predictions: np.ndarray) -> np.ndarray:
    labels, predictions = _regression(labels, predictions)
    return (predictions - labels) ** 2


def absolute_errors(labels: np.ndarray, predictions: np.ndarray) -> np.ndarray:
    labels, predictions = _regression(labels, predictions)
    return np.abs(predictions - labels)


rmse = WeightedSums(
    lambda labels, p: _with_ones(squared_errors(labels, p)), lambda sums: np.sqrt(_mean(sums))
)
mae = WeightedSums(lambda labels, p: _with_ones(absolute_errors(labels, p)), _mean)


def _r2_rows(labels: np.ndarray, predictions: np.ndarray) -> np.ndarray:
    """[n, 4]: squared error, label and squared label (centred on the mean label, which leaves
    SS_tot alone and keeps its subtraction exact enough), ones."""
    labels, predictions = _regression(labels, predictions)
    centred = labels - labels.mean()
    return _with_ones(np.column_stack([(predictions - labels) ** 2, centred, centred**2]))


def _r2(sums: np.ndarray) -> np.ndarray:
    """1 - SS_res / SS_tot; where the weighted truth is constant, 1.0 for exact predictions else
    0.0. A constant truth's SS_tot comes out as rounding (~1e-16 of Σ label²), not exactly 0."""
    residual, labels, squares, weight = sums.T
    total = squares - labels**2 / weight
    constant = total <= CONSTANT_TRUTH * squares
    with np.errstate(divide="ignore", invalid="ignore"):
        explained = 1.0 - residual / total
    return np.where(constant, np.where(residual == 0, 1.0, 0.0), explained)


r2 = WeightedSums(_r2_rows, _r2)


CLASSIFICATION: dict[str, WeightedMetric] = {
    "accuracy": accuracy,
    "macro_f1": macro_f1,
    "log_loss": log_loss,
    "ece": expected_calibration_error,
    "roc_auc": roc_auc,
    "pr_auc": pr_auc,
}
BINARY_ONLY = ("roc_auc", "pr_auc")
REGRESSION: dict[str, WeightedMetric] = {"rmse": rmse, "mae": mae, "r2": r2}


def sum_columns(
    labels: np.ndarray,
    outputs: Mapping[Hashable, np.ndarray],
    metrics: Mapping[str, WeightedMetric],
) -> tuple[np.ndarray, dict[tuple[Hashable, str], np.ndarray]]:
    """The per-row columns of every output's `WeightedSums` metrics side by side, each distinct
    column once (the ones, the true class, the centred label repeat across outputs and metrics),
    and which columns each (output key, metric name) reads. `weights @ columns` then evaluates
    them all: `metric.finish((weights @ columns)[:, blocks[key, name]])`."""
    index: dict[bytes, int] = {}
    kept, blocks = [], {}
    for key, output in outputs.items():
        for name, metric in metrics.items():
            if isinstance(metric, WeightedSums):
                positions = []
                for column in np.ascontiguousarray(metric.rows(labels, output).T):
                    position = index.setdefault(column.tobytes(), len(index))
                    if position == len(kept):
                        kept.append(column)
                    positions.append(position)
                blocks[key, name] = np.array(positions)
    columns = np.column_stack(kept) if kept else np.zeros((len(labels), 0))
    return columns, blocks
