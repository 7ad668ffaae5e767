"""Metrics on validated predictions, overall and per slice: classification (plain numpy, plus
scikit-learn's ROC AUC and average precision for a binary label) and regression (RMSE, MAE, R²).

Conventions (each matches scikit-learn with the arguments named, which the tests hold it to):
- predicted class = argmax of the probabilities, the first class on a tie;
- macro-F1 averages F1 over the classes present in the truth or the predictions, like
  `f1_score(average="macro")` with its default labels. A class absent from both says nothing about
  the model; counting it as F1 = 0 would make a perfect model score 2/3 on a slice that holds one
  class of three (the penguins of Torgersen are all Adelie);
- log loss uses the natural log, the true class's probability clipped to [1e-15, 1]
  (`log_loss(labels=range(k))` up to that clipping);
- ECE: equal-width confidence bins (0, 1/15], ..., (14/15, 1] over the top probability (the first
  bin also takes 0); sum over bins of (bin rows / rows) * |bin accuracy - bin mean confidence|;
- binary only: roc_auc is `roc_auc_score` and pr_auc `average_precision_score` of the second
  class's probability (the second class in the spec's `classes` is the positive one); a slice
  holding one class has neither;
- regression: rmse = sqrt(mean squared error), mae, and r2 = `r2_score` (1 - SS_res / SS_tot;
  with a constant truth 1.0 when the predictions are exact, else 0.0).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from components.common.errors import TandemError
from components.common.features import label_indices
from components.common.targets import is_regression, label_values
from components.evaluate.predictions import ID, outputs_of

ECE_BINS = 15
LOG_LOSS_EPSILON = 1e-15
METRICS = ("accuracy", "macro_f1", "log_loss", "ece")
BINARY_METRICS = ("roc_auc", "pr_auc")
REGRESSION_METRICS = ("rmse", "mae", "r2")
MISSING_SLICE = "__missing__"


def class_arrays(labels, probabilities) -> tuple[np.ndarray, np.ndarray]:
    """int64 labels [n] and float64 probabilities [n, classes], or a ValueError naming the
    shapes that do not fit."""
    labels = np.asarray(labels, dtype=np.int64)
    probabilities = np.asarray(probabilities, dtype=np.float64)
    if probabilities.ndim != 2 or labels.shape != (probabilities.shape[0],):
        raise ValueError(
            f"labels of shape {labels.shape} do not fit probabilities of shape "
            f"{probabilities.shape}; expected [n] and [n, classes]"
        )
    return labels, probabilities


def _inputs(labels: np.ndarray, probabilities: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    labels, probabilities = class_arrays(labels, probabilities)
    if len(labels) == 0:
        raise ValueError("metrics of zero rows are undefined")
    if labels.min() < 0 or labels.max() >= probabilities.shape[1]:
        raise ValueError(f"labels must be class indices in [0, {probabilities.shape[1]})")
    return labels, probabilities


def predicted_classes(probabilities: np.ndarray) -> np.ndarray:
    return np.argmax(probabilities, axis=1)


def confusion_matrix(labels: np.ndarray, predicted: np.ndarray, n_classes: int) -> np.ndarray:
    """int64 [n_classes, n_classes]: rows are the true class, columns the predicted one."""
    labels = np.asarray(labels, dtype=np.int64)
    predicted = np.asarray(predicted, dtype=np.int64)
    if labels.shape != predicted.shape:
        raise ValueError(f"{labels.shape[0]} labels but {predicted.shape[0]} predictions")
    if len(labels) and (
        min(labels.min(), predicted.min()) < 0 or max(labels.max(), predicted.max()) >= n_classes
    ):
        raise ValueError(f"class indices must lie in [0, {n_classes})")
    cells = np.bincount(labels * n_classes + predicted, minlength=n_classes * n_classes)
    return cells.reshape(n_classes, n_classes)


def macro_f1(matrix: np.ndarray) -> float:
    """Mean F1 over the classes present in the truth or the predictions of a confusion matrix."""
    true_positives = np.diag(matrix).astype(np.float64)
    actual, predicted = matrix.sum(axis=1), matrix.sum(axis=0)
    present = (actual + predicted) > 0
    # F1 = 2TP / (2TP + FP + FN) = 2TP / (actual + predicted): defined for every present class.
    f1 = 2 * true_positives[present] / (actual[present] + predicted[present])
    return float(f1.mean())


def log_loss(labels: np.ndarray, probabilities: np.ndarray) -> float:
    labels, probabilities = _inputs(labels, probabilities)
    true_class = probabilities[np.arange(len(labels)), labels]
    return float(-np.log(np.clip(true_class, LOG_LOSS_EPSILON, 1.0)).mean())


@dataclass(frozen=True)
class CalibrationBins:
    """Per confidence bin: rows, accuracy and mean top probability (NaN where a bin is empty)."""

    edges: np.ndarray
    counts: np.ndarray
    accuracy: np.ndarray
    confidence: np.ndarray


def calibration_bins(
    labels: np.ndarray, probabilities: np.ndarray, bins: int = ECE_BINS
) -> CalibrationBins:
    labels, probabilities = _inputs(labels, probabilities)
    if bins < 1:
        raise ValueError("bins must be >= 1")
    edges = np.linspace(0.0, 1.0, bins + 1)
    confidence = probabilities.max(axis=1)
    correct = (predicted_classes(probabilities) == labels).astype(np.float64)
    # right=True: bin i holds (edges[i], edges[i+1]]; a confidence of exactly 1 lands in the last.
    which = np.clip(np.digitize(confidence, edges[1:-1], right=True), 0, bins - 1)
    counts = np.bincount(which, minlength=bins)
    with np.errstate(invalid="ignore", divide="ignore"):
        accuracy = np.bincount(which, weights=correct, minlength=bins) / counts
        mean_confidence = np.bincount(which, weights=confidence, minlength=bins) / counts
    return CalibrationBins(edges, counts, accuracy, mean_confidence)


def expected_calibration_error(
    labels: np.ndarray, probabilities: np.ndarray, bins: int = ECE_BINS
) -> float:
    binned = calibration_bins(labels, probabilities, bins)
    filled = binned.counts > 0
    gaps = np.abs(binned.accuracy[filled] - binned.confidence[filled])
    return float((binned.counts[filled] / binned.counts.sum() * gaps).sum())


def classification_metrics(labels: np.ndarray, probabilities: np.ndarray) -> dict[str, float]:
    """accuracy, macro_f1, log_loss and ece of int class `labels` [n] and `probabilities` [n, k]."""
    labels, probabilities = _inputs(labels, probabilities)
    predicted = predicted_classes(probabilities)
    matrix = confusion_matrix(labels, predicted, probabilities.shape[1])
    return {
        "accuracy": float((predicted == labels).mean()),
        "macro_f1": macro_f1(matrix),
        "log_loss": log_loss(labels, probabilities),
        "ece": expected_calibration_error(labels, probabilities),
    }


def binary_metrics(labels: np.ndarray, probabilities: np.ndarray) -> dict[str, float]:
    """roc_auc and pr_auc of a binary label (class 1 positive); {} when only one class is there."""
    from sklearn.metrics import average_precision_score, roc_auc_score

    labels, probabilities = _inputs(labels, probabilities)
    if probabilities.shape[1] != 2:
        raise ValueError(f"ROC and PR AUC need 2 classes, not {probabilities.shape[1]}")
    if len(np.unique(labels)) < 2:
        return {}
    return {
        "roc_auc": float(roc_auc_score(labels, probabilities[:, 1])),
        "pr_auc": float(average_precision_score(labels, probabilities[:, 1])),
    }


def regression_metrics(labels: np.ndarray, predictions: np.ndarray) -> dict[str, float]:
    """rmse, mae and r2 of float `labels` [n] and `predictions` [n]."""
    labels = np.asarray(labels, dtype=np.float64)
    predictions = np.asarray(predictions, dtype=np.float64)
    if labels.ndim != 1 or labels.shape != predictions.shape:
        raise ValueError(
            f"labels of shape {labels.shape} do not fit predictions of shape {predictions.shape}"
        )
    if len(labels) == 0:
        raise ValueError("metrics of zero rows are undefined")
    errors = predictions - labels
    residual = float((errors**2).sum())
    total = float(((labels - labels.mean()) ** 2).sum())
    constant_truth_r2 = 1.0 if residual == 0 else 0.0
    return {
        "rmse": float(np.sqrt((errors**2).mean())),
        "mae": float(np.abs(errors).mean()),
        "r2": 1.0 - residual / total if total > 0 else constant_truth_r2,
    }


def truth(table: pa.Table, manifest: dict) -> np.ndarray:
    """The rows' true labels as the metrics take them: class indices, or numbers."""
    return (
        label_values(table, manifest) if is_regression(manifest) else label_indices(table, manifest)
    )


def task_metrics(labels: np.ndarray, outputs: np.ndarray, manifest: dict) -> dict[str, float]:
    """The manifest's task's metrics: regression on predictions [n]; classification on
    probabilities [n, k], with ROC and PR AUC when k is 2."""
    if is_regression(manifest):
        return regression_metrics(labels, outputs)
    metrics = classification_metrics(labels, outputs)
    if outputs.shape[1] == 2:
        metrics.update(binary_metrics(labels, outputs))
    return metrics


def slice_features(manifest: dict) -> list[str]:
    """The categorical features the dataset spec marks `slice: true`, in spec order."""
    return [
        feature["name"]
        for feature in manifest["dataset_spec"]["features"]
        if feature["type"] == "categorical" and feature.get("slice")
    ]


def slice_metrics(predictions: pa.Table, test_split: pa.Table, manifest: dict) -> dict[str, float]:
    """`slice.<feature>.<value>.<metric>` and `.count` for every value of every slice feature
    present in the test split (a missing value is the value `__missing__`).

    `predictions` must have passed `validate_predictions`; they are matched to test rows by id.
    """
    id_column = manifest["id_column"]
    position = {row_id: i for i, row_id in enumerate(predictions.column(ID).to_pylist())}
    try:
        order = [position[row_id] for row_id in test_split.column(id_column).to_pylist()]
    except KeyError as exc:
        raise TandemError(
            f"test row {exc.args[0]!r} has no prediction: validate the predictions first"
        ) from None
    outputs = outputs_of(predictions.take(order), manifest)
    labels = truth(test_split, manifest)
    results: dict[str, float] = {}
    for feature in slice_features(manifest):
        if feature not in test_split.column_names:
            raise TandemError(
                f"the manifest marks '{feature}' as a slice feature but the test split has no "
                "such column: the snapshot is incomplete; run ingest again"
            )
        values = np.array(
            [
                MISSING_SLICE if v is None else str(v)
                for v in test_split.column(feature).to_pylist()
            ],
            dtype=object,
        )
        present = sorted(set(values) - {MISSING_SLICE})
        if MISSING_SLICE in values:
            present.append(MISSING_SLICE)
        for value in present:
            rows = values == value
            prefix = f"slice.{feature}.{value}"
            for metric, number in task_metrics(labels[rows], outputs[rows], manifest).items():
                results[f"{prefix}.{metric}"] = number
            results[f"{prefix}.count"] = float(rows.sum())
    return results
