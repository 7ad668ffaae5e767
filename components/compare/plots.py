"""The comparison's plots as PNG files: training curves, and bars with 95% CIs per metric.

Built on `matplotlib.figure.Figure` with an Agg canvas, never pyplot (as in
`components.evaluate.plots`). A plot whose data is missing altogether is not written; a metric
missing for a framework or some runs leaves a gap, never an error.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.ticker import EngFormatter

from components.common.frameworks import FRAMEWORKS, NAMES
from components.compare.catalogue import METRICS, QUALITY, slice_name
from components.compare.model import Comparison, MetricComparison, Summary

DPI = 110
FRAMEWORK_COLOURS = {framework.name: framework.colour for framework in FRAMEWORKS}
FRAMEWORK_LABELS = {framework.name: framework.label for framework in FRAMEWORKS}
CURVE_STYLES = {"train": "-", "val": "--"}

QUALITY_KEYS = tuple(d.key for d in METRICS if d.group == QUALITY)
THROUGHPUT_KEYS = ("train.samples_per_s", "train.fit_s")
MEMORY_KEYS = ("train.peak_rss_mb", "evaluate.peak_rss_mb")
LATENCY_KEYS = {
    batch: (f"latency.batch_{batch}.p50_ms", f"latency.batch_{batch}.p99_ms") for batch in (1, 256)
}
SIZE_KEYS = ("model_size_bytes",)
COST_KEYS = ("pipeline.wall_s", "pipeline.stages_s", "pipeline.overhead_s")


def write_plots(comparison: Comparison, directory: str | Path) -> dict[str, Path]:
    """Write every plot the data allows into `directory`; returns plot name → PNG path.

    Names: loss_curves, accuracy_curves (classification), rmse_curves (regression), quality,
    slices, throughput, memory, latency, model_size, cost.
    """
    directory = Path(directory)
    metrics = {m.metric: m for m in comparison.metrics}
    figures = {
        "loss_curves": _curves(comparison, "loss", "Loss per epoch"),
        "accuracy_curves": _curves(comparison, "accuracy", "Accuracy per epoch"),
        "rmse_curves": _curves(comparison, "rmse", "RMSE per epoch (standardised target)"),
        "quality": _metric_panels(metrics, QUALITY_KEYS, "Quality on the test split"),
        "slices": _slices(comparison.slices),
        "throughput": _metric_panels(metrics, THROUGHPUT_KEYS, "Training throughput and time"),
        "memory": _memory(metrics),
        "latency": _latency(metrics),
        "model_size": _metric_panels(metrics, SIZE_KEYS, "Exported model size"),
        "cost": _metric_panels(metrics, COST_KEYS, "Pipeline cost per run"),
    }
    return {
        name: _save(figure, directory / f"{name}.png")
        for name, figure in figures.items()
        if figure is not None
    }


def _save(figure: Figure, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    FigureCanvasAgg(figure)
    figure.savefig(path, format="png", dpi=DPI)
    figure.clear()
    return path


def _framework_legend(axes: Axes, frameworks: Sequence[str], extra: Sequence[Line2D] = ()) -> None:
    handles = [
        Line2D([], [], color=FRAMEWORK_COLOURS[f], lw=6, label=FRAMEWORK_LABELS[f])
        for f in frameworks
    ]
    axes.legend(handles=[*handles, *extra], loc="best", fontsize="small")


def _curves(comparison: Comparison, quantity: str, title: str) -> Figure | None:
    """Every run's train (solid) and validation (dashed) series; colour = framework."""
    figure = Figure(figsize=(8, 4.5), layout="constrained")
    axes = figure.add_subplot()
    drawn: set[str] = set()
    for run in comparison.runs:
        for phase, style in CURVE_STYLES.items():
            series = run.train.history.get(f"{phase}_{quantity}")
            if not series:
                continue
            epochs, values = zip(*series, strict=True)
            colour = FRAMEWORK_COLOURS.get(run.framework, "gray")
            axes.plot(epochs, values, style, color=colour, lw=1.2, alpha=0.85)
            drawn.add(run.framework)
    if not drawn:
        return None
    axes.set_xlabel("epoch")
    axes.set_ylabel(quantity)
    axes.set_title(f"{title} (one line per seed)")
    axes.grid(alpha=0.3)
    phases = [Line2D([], [], color="black", ls=s, label=p) for p, s in CURVE_STYLES.items()]
    _framework_legend(axes, [f for f in NAMES if f in drawn], phases)
    return figure


def _finite(summary: Summary) -> bool:
    return summary.n > 0 and math.isfinite(summary.mean)


def _is_number(value: float | None) -> bool:
    return value is not None and math.isfinite(value)


def _bar(axes: Axes, x: float, width: float, framework: str, summary: Summary) -> None:
    """One framework's mean with its 95% interval as error bar, and each seed's value as a dot.

    A biased metric's bootstrap interval (ECE grows on resampled rows) can lie beside the mean:
    the bar then reaches from the mean to the interval's far end."""
    low = summary.ci_low if _is_number(summary.ci_low) else summary.mean
    high = summary.ci_high if _is_number(summary.ci_high) else summary.mean
    colour = FRAMEWORK_COLOURS[framework]
    axes.bar(x, summary.mean, width, color=colour, edgecolor="black", lw=0.5)
    axes.errorbar(
        x,
        summary.mean,
        yerr=[[max(0.0, summary.mean - low)], [max(0.0, high - summary.mean)]],
        color="black",
        capsize=4,
    )
    jitter = np.linspace(-width / 5, width / 5, summary.n) if summary.n > 1 else [0.0]
    axes.scatter(x + np.asarray(jitter), summary.values, s=10, color="black", zorder=3)


def _draw_comparisons(
    axes: Axes, comparisons: Sequence[MetricComparison], names: Sequence[str]
) -> set[str]:
    """Bars per comparison (x position) and framework; returns the frameworks drawn."""
    width = 0.38
    drawn = set()
    for x, comparison in enumerate(comparisons):
        for offset, framework in zip((-width / 2, width / 2), NAMES, strict=True):
            summary = getattr(comparison, framework)
            if _finite(summary):
                _bar(axes, x + offset, width, framework, summary)
                drawn.add(framework)
    axes.set_xticks(range(len(comparisons)), names)
    axes.grid(axis="y", alpha=0.3)
    return drawn


def _with_data(metrics: dict[str, MetricComparison], keys: Sequence[str]) -> list[MetricComparison]:
    present = (metrics[key] for key in keys if key in metrics)
    return [m for m in present if _finite(m.tensorflow) or _finite(m.pytorch)]


def _unit_label(comparison: MetricComparison) -> str:
    return f"{comparison.label} ({comparison.unit})" if comparison.unit else comparison.label


def _metric_panels(
    metrics: dict[str, MetricComparison], keys: Sequence[str], title: str
) -> Figure | None:
    """One panel per metric (their scales differ), both frameworks side by side in each."""
    comparisons = _with_data(metrics, keys)
    if not comparisons:
        return None
    figure = Figure(figsize=(3.2 * len(comparisons) + 1, 4), layout="constrained")
    panels = figure.subplots(1, len(comparisons), squeeze=False)[0]
    drawn: set[str] = set()
    for axes, comparison in zip(panels, comparisons, strict=True):
        drawn |= _draw_comparisons(axes, [comparison], [""])
        axes.set_xticks([])
        axes.set_title(_unit_label(comparison), fontsize="medium")
        if comparison.unit == "bytes":
            axes.yaxis.set_major_formatter(EngFormatter(unit="B"))
    figure.suptitle(f"{title} — mean and 95% interval")
    _framework_legend(panels[0], [f for f in NAMES if f in drawn])
    return figure


def _draw_group(
    axes: Axes,
    metrics: dict[str, MetricComparison],
    names: dict[str, str],
    title: str,
) -> None:
    """Metrics of one unit on one axis, a group of two bars per metric; `names` maps key → tick."""
    comparisons = _with_data(metrics, list(names))
    drawn = _draw_comparisons(axes, comparisons, [names[c.metric] for c in comparisons])
    axes.set_ylabel(comparisons[0].unit)
    axes.set_title(title)
    _framework_legend(axes, [f for f in NAMES if f in drawn])


def _memory(metrics: dict[str, MetricComparison]) -> Figure | None:
    if not _with_data(metrics, MEMORY_KEYS):
        return None
    figure = Figure(figsize=(7, 4), layout="constrained")
    names = dict(zip(MEMORY_KEYS, ("training", "serving (evaluation)"), strict=True))
    _draw_group(figure.add_subplot(), metrics, names, "Peak memory (RSS) — mean and 95% CI")
    return figure


def _latency(metrics: dict[str, MetricComparison]) -> Figure | None:
    """p50 and p99 per batch size, one panel per batch size (their scales differ)."""
    batches = [b for b, keys in LATENCY_KEYS.items() if _with_data(metrics, keys)]
    if not batches:
        return None
    figure = Figure(figsize=(4.5 * len(batches) + 1, 4), layout="constrained")
    panels = figure.subplots(1, len(batches), squeeze=False)[0]
    for axes, batch in zip(panels, batches, strict=True):
        names = dict(zip(LATENCY_KEYS[batch], ("p50", "p99"), strict=True))
        _draw_group(axes, metrics, names, f"batch {batch}")
    figure.suptitle("Inference latency — mean and 95% CI over seeds")
    return figure


def _slices(slices: Sequence[MetricComparison]) -> Figure | None:
    """Each slice's accuracy (or RMSE) with CIs, slices grouped by feature."""
    named = {m.metric: slice_name(m.metric) for m in slices}
    comparisons = [
        m for m in slices if named[m.metric] and (_finite(m.tensorflow) or _finite(m.pytorch))
    ]
    if not comparisons:
        return None
    comparisons.sort(key=lambda m: named[m.metric])
    labels = [f"{feature}\n{value}" for feature, value, _ in (named[m.metric] for m in comparisons)]
    quantity = named[comparisons[0].metric][2]
    figure = Figure(figsize=(max(6.0, 0.9 * len(comparisons) + 2), 4.5), layout="constrained")
    axes = figure.add_subplot()
    drawn = _draw_comparisons(axes, comparisons, labels)
    axes.set_ylabel(quantity)
    title = "Accuracy" if quantity == "accuracy" else quantity.upper()
    axes.set_title(f"{title} per slice — mean and 95% CI over seeds")
    _framework_legend(axes, [f for f in NAMES if f in drawn])
    return figure
