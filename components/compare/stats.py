"""How the comparison judges each figure; the numbers come from `paired`.

- Quality metrics (accuracy, RMSE, ...): both frameworks predicted the same test rows, so they
  are compared paired, on those rows and over the seeds: a bootstrap over rows and seeds for the
  intervals, a paired test per metric, Holm's correction across the table, and the smallest
  difference the run could have detected. The paired test asks whether these trained models
  differ on these rows; only the interval also carries the spread between seeds. A difference is
  called when both agree: a retrained seed can move a metric more than the rows do.
- Cost figures (throughput, times, latency, memory, size, pipeline wall): each seed measures each
  once, so they are compared as PyTorch ÷ TensorFlow with a bootstrap interval over the seeds,
  and called different when that interval excludes 1.
- Slices: means and t intervals over seeds, descriptive only; with a handful of rows per slice
  value, one test per value would find differences by chance.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np
from scipy import stats

from components.common.frameworks import PYTORCH, TENSORFLOW
from components.compare.catalogue import MetricDef
from components.compare.model import MetricComparison, Ratio, Summary
from components.compare.paired import (
    ALPHA,
    POWER,
    Interval,
    compare_predictions,
    detectable_difference,
    holm,
    ratio_of_means,
)
from components.compare.row_predictions import RowPredictions

METHOD = (
    "quality: a paired bootstrap over test rows and seeds (95% percentile intervals) and a paired "
    "test on the same rows (McNemar's exact test for accuracy, a paired permutation test for the "
    "other metrics), Holm-adjusted across the quality metrics; a difference is significant when "
    f"the adjusted p < {ALPHA} and its interval excludes 0; cost: PyTorch ÷ TensorFlow of the "
    "means over seeds with a 95% bootstrap interval over seeds, different when it excludes 1; "
    f"the detectable difference is the one found with {POWER:.0%} power at Holm's strictest level"
)

Values = tuple[Sequence[float], Sequence[float]]


def summarise(values: Sequence[float]) -> Summary:
    """Mean and the t-based 95% interval of the mean over seeds (the mean itself when n < 2)."""
    data = np.asarray(values, dtype=float)
    if data.size == 0:
        raise ValueError("no values to summarise")
    mean = float(data.mean())
    if data.size < 2:
        return Summary(tuple(data.tolist()), mean, mean, mean)
    half = stats.t.ppf(1 - ALPHA / 2, data.size - 1) * data.std(ddof=1) / math.sqrt(data.size)
    return Summary(tuple(data.tolist()), mean, float(mean - half), float(mean + half))


def _difference(values: Values) -> float:
    tensorflow, pytorch = values
    return float(np.mean(pytorch) - np.mean(tensorflow))


def _excludes_zero(interval: Interval) -> bool:
    return (
        interval.low is not None
        and interval.high is not None
        and not interval.low <= 0 <= interval.high
    )


def quality_comparisons(
    definitions: Sequence[MetricDef], values: Mapping[str, Values], rows: RowPredictions
) -> list[MetricComparison]:
    """The quality metrics, judged paired on the test rows; `values[key]` are the per-seed values
    the runs logged (the means shown), `rows` the predictions they were computed from."""
    if not definitions:
        return []
    results = compare_predictions(
        rows.task,
        rows.labels,
        rows.outputs[TENSORFLOW.name],
        rows.outputs[PYTORCH.name],
        [definition.name for definition in definitions],
    )
    adjusted = holm([result.p_value for result in results])
    compared = []
    for definition, result, p_value in zip(definitions, results, adjusted, strict=True):
        tensorflow, pytorch = values[definition.key]
        compared.append(
            MetricComparison(
                metric=definition.key,
                label=definition.label,
                unit=definition.unit,
                higher_is_better=definition.higher_is_better,
                tensorflow=Summary(
                    tuple(tensorflow),
                    float(np.mean(tensorflow)),
                    result.tensorflow.low,
                    result.tensorflow.high,
                ),
                pytorch=Summary(
                    tuple(pytorch), float(np.mean(pytorch)), result.pytorch.low, result.pytorch.high
                ),
                difference=_difference(values[definition.key]),
                difference_ci=(result.difference.low, result.difference.high),
                p_value=p_value,
                significant=p_value < ALPHA and _excludes_zero(result.difference),
                test=result.test,
                p_raw=result.p_value,
                detectable=detectable_difference(result.standard_error, len(results)),
            )
        )
    return compared


def _ratio(tensorflow: Sequence[float], pytorch: Sequence[float]) -> Ratio | None:
    """None when TensorFlow's mean is not positive (a ratio to it means nothing)."""
    if np.mean(tensorflow) <= 0:
        return None
    interval = ratio_of_means(tensorflow, pytorch)
    return Ratio(interval.estimate, interval.low, interval.high)


def cost_comparison(definition: MetricDef, values: Values) -> MetricComparison:
    """A cost figure: each side's mean over seeds and PyTorch ÷ TensorFlow with its interval."""
    tensorflow, pytorch = values
    ratio = _ratio(tensorflow, pytorch)
    return MetricComparison(
        metric=definition.key,
        label=definition.label,
        unit=definition.unit,
        higher_is_better=definition.higher_is_better,
        tensorflow=summarise(tensorflow),
        pytorch=summarise(pytorch),
        difference=_difference(values),
        difference_ci=None,
        p_value=None,
        significant=ratio is not None and ratio.excludes_one,
        test="ratio of the means over seeds, bootstrap over seeds",
        ratio=ratio,
    )


def descriptive_comparison(
    metric: str, label: str, higher_is_better: bool | None, values: Values
) -> MetricComparison:
    """Each side's mean and t interval over seeds and the difference; no test."""
    tensorflow, pytorch = values
    return MetricComparison(
        metric=metric,
        label=label,
        unit="",
        higher_is_better=higher_is_better,
        tensorflow=summarise(tensorflow),
        pytorch=summarise(pytorch),
        difference=_difference(values),
        difference_ci=None,
        p_value=None,
        significant=False,
    )
