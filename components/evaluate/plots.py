"""Evaluation plots as PNG files: for classification a confusion matrix and a reliability
(calibration) diagram; for regression predicted against true values and the residuals.

Figures are built on `matplotlib.figure.Figure` with an explicit Agg canvas, never through pyplot:
importing this module selects no backend and touches no global state, and a figure is plain
garbage once its function returns (pyplot would keep every figure alive until closed).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from components.evaluate.metrics import (
    ECE_BINS,
    calibration_bins,
    expected_calibration_error,
    regression_metrics,
)

DPI = 120


def _save(figure: Figure, path: str | Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    FigureCanvasAgg(figure)
    figure.savefig(path, format="png", dpi=DPI)
    figure.clear()
    return path


def plot_confusion_matrix(
    matrix: np.ndarray, classes: Sequence[str], path: str | Path, title: str
) -> Path:
    """Counts per (true class, predicted class), each cell annotated with its count."""
    matrix = np.asarray(matrix)
    classes = list(classes)
    if matrix.shape != (len(classes), len(classes)):
        raise ValueError(f"a {matrix.shape} matrix does not fit {len(classes)} classes")
    size = 2.5 + 0.6 * len(classes)
    figure = Figure(figsize=(size + 1, size), layout="constrained")
    axes = figure.add_subplot()
    image = axes.imshow(matrix, cmap="Blues", vmin=0)
    figure.colorbar(image, ax=axes, label="rows")
    ticks = np.arange(len(classes))
    axes.set_xticks(ticks, classes, rotation=45, ha="right")
    axes.set_yticks(ticks, classes)
    axes.set_xlabel("predicted class")
    axes.set_ylabel("true class")
    axes.set_title(title)
    darkest = matrix.max() if matrix.size else 0
    for (row, column), count in np.ndenumerate(matrix):
        color = "white" if darkest and count > darkest / 2 else "black"
        axes.text(column, row, str(count), ha="center", va="center", color=color)
    return _save(figure, path)


def plot_calibration(
    labels: np.ndarray,
    probabilities: np.ndarray,
    path: str | Path,
    title: str,
    bins: int = ECE_BINS,
) -> Path:
    """Reliability diagram: accuracy per confidence bin against the diagonal of perfect
    calibration (with each bin's mean confidence marked), and below it the rows per bin."""
    binned = calibration_bins(labels, probabilities, bins)
    ece = expected_calibration_error(labels, probabilities, bins)
    lefts, widths = binned.edges[:-1], np.diff(binned.edges)
    filled = binned.counts > 0

    figure = Figure(figsize=(5.5, 6.5), layout="constrained")
    top, bottom = figure.subplots(2, 1, sharex=True, height_ratios=[3, 1])
    top.bar(
        lefts[filled],
        binned.accuracy[filled],
        width=widths[filled],
        align="edge",
        edgecolor="black",
        color="tab:blue",
        label="accuracy",
    )
    top.plot(
        binned.confidence[filled],
        binned.accuracy[filled],
        "o",
        color="tab:orange",
        label="mean confidence",
    )
    top.plot([0, 1], [0, 1], "--", color="gray", label="perfect calibration")
    top.set_xlim(0, 1)
    top.set_ylim(0, 1)
    top.set_ylabel("accuracy")
    top.set_title(f"{title} (ECE {ece:.3f})")
    top.legend(loc="upper left")
    bottom.bar(lefts, binned.counts, width=widths, align="edge", edgecolor="black", color="gray")
    bottom.set_xlabel("confidence (top class probability)")
    bottom.set_ylabel("rows")
    return _save(figure, path)


def plot_predicted_vs_true(
    labels: np.ndarray, predictions: np.ndarray, path: str | Path, title: str
) -> Path:
    """Each test row's prediction against its true value, with the diagonal of a perfect model;
    below it the histogram of the residuals (prediction - truth)."""
    metrics = regression_metrics(labels, predictions)
    figure = Figure(figsize=(5.5, 7), layout="constrained")
    top, bottom = figure.subplots(2, 1, height_ratios=[3, 1.2])
    top.scatter(labels, predictions, s=6, alpha=0.35, color="tab:blue", edgecolors="none")
    low = float(min(labels.min(), predictions.min()))
    high = float(max(labels.max(), predictions.max()))
    top.plot([low, high], [low, high], "--", color="gray", label="prediction = truth")
    top.set_xlabel("true value")
    top.set_ylabel("prediction")
    top.set_title(f"{title} (RMSE {metrics['rmse']:.4g}, R² {metrics['r2']:.3f})")
    top.legend(loc="upper left")
    bottom.hist(predictions - labels, bins=50, color="gray", edgecolor="black")
    bottom.set_xlabel("residual (prediction - truth)")
    bottom.set_ylabel("rows")
    return _save(figure, path)
