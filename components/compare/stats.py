"""Means, 95% confidence intervals over seeds and Welch's t-test, metric by metric.

Seeds are few (3 by default), so intervals use Student's t, and the two frameworks' variances
are not assumed equal: the difference's interval uses the Welch-Satterthwaite degrees of freedom,
the same the test uses. With fewer than two values on a side there is no interval and no test.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from scipy import stats

from components.compare.model import MetricComparison, Summary

ALPHA = 0.05  # two-sided: 95% intervals, significant when p < 0.05
TEST_NAME = "Welch's two-sided t-test over seeds (unequal variances)"


def summarise(values: Sequence[float]) -> Summary:
    """Mean and the t-based 95% interval of the mean (the mean itself when n < 2)."""
    data = np.asarray(values, dtype=float)
    if data.size == 0:
        raise ValueError("no values to summarise")
    mean = float(data.mean())
    if data.size < 2:
        return Summary(tuple(data.tolist()), mean, mean, mean)
    half = stats.t.ppf(1 - ALPHA / 2, data.size - 1) * data.std(ddof=1) / math.sqrt(data.size)
    return Summary(tuple(data.tolist()), mean, float(mean - half), float(mean + half))


def _welch(a: np.ndarray, b: np.ndarray) -> tuple[float | None, tuple[float, float]]:
    """p-value of mean(b) != mean(a), and the 95% interval of mean(b) - mean(a)."""
    difference = float(b.mean() - a.mean())
    if a.size < 2 or b.size < 2:
        return None, (difference, difference)
    var_a, var_b = a.var(ddof=1) / a.size, b.var(ddof=1) / b.size
    standard_error = math.sqrt(var_a + var_b)
    if standard_error == 0:
        # Every seed gave the same value on both sides: the means are exactly equal or not.
        return (1.0 if difference == 0 else 0.0), (difference, difference)
    dof = (var_a + var_b) ** 2 / (var_a**2 / (a.size - 1) + var_b**2 / (b.size - 1))
    p_value = float(stats.ttest_ind(b, a, equal_var=False).pvalue)
    half = float(stats.t.ppf(1 - ALPHA / 2, dof)) * standard_error
    return p_value, (difference - half, difference + half)


def compare_metric(
    metric: str,
    label: str,
    unit: str,
    higher_is_better: bool | None,
    tensorflow: Sequence[float],
    pytorch: Sequence[float],
) -> MetricComparison:
    """One metric side by side; the difference is pytorch - tensorflow."""
    a, b = np.asarray(tensorflow, dtype=float), np.asarray(pytorch, dtype=float)
    p_value, interval = _welch(a, b)
    return MetricComparison(
        metric=metric,
        label=label,
        unit=unit,
        higher_is_better=higher_is_better,
        tensorflow=summarise(a),
        pytorch=summarise(b),
        difference=float(b.mean() - a.mean()),
        difference_ci=interval,
        p_value=p_value,
        significant=p_value is not None and p_value < ALPHA,
    )
