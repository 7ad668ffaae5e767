"""Means, intervals and Welch's test equal scipy's reference computations."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from components.compare.stats import compare_metric, summarise

TF = [0.90, 0.92, 0.95]
PT = [0.97, 0.98, 0.99]


def test_summary_is_the_t_interval_of_the_mean():
    summary = summarise(TF)
    low, high = stats.t.interval(0.95, len(TF) - 1, loc=np.mean(TF), scale=stats.sem(TF))
    assert summary.mean == pytest.approx(np.mean(TF))
    assert (summary.ci_low, summary.ci_high) == pytest.approx((low, high))
    assert summary.n == 3


def test_a_single_value_has_no_interval_and_no_test():
    compared = compare_metric("m", "M", "", True, [0.9], PT)
    assert compared.tensorflow.ci_low == compared.tensorflow.ci_high == 0.9
    assert compared.p_value is None
    assert not compared.significant
    assert compared.better is None


def test_welch_p_value_and_difference_interval():
    compared = compare_metric("m", "M", "", True, TF, PT)
    reference = stats.ttest_ind(PT, TF, equal_var=False)
    assert compared.p_value == pytest.approx(reference.pvalue)
    assert compared.difference == pytest.approx(np.mean(PT) - np.mean(TF))
    interval = reference.confidence_interval(0.95)
    assert compared.difference_ci == pytest.approx((interval.low, interval.high))
    assert compared.significant == (reference.pvalue < 0.05)


@pytest.mark.parametrize(
    ("higher_is_better", "better"), [(True, "pytorch"), (False, "tensorflow"), (None, None)]
)
def test_the_better_framework_follows_the_metric_direction(higher_is_better, better):
    compared = compare_metric("m", "M", "", higher_is_better, [1.0, 1.1, 1.2], [5.0, 5.1, 5.2])
    assert compared.significant
    assert compared.better == better


def test_overlapping_seeds_are_not_significant():
    compared = compare_metric("m", "M", "", True, [0.9, 0.95, 1.0], [0.91, 0.96, 0.99])
    assert not compared.significant
    assert compared.better is None


def test_identical_constant_values_are_equal_and_different_constants_differ():
    same = compare_metric("m", "M", "", True, [1.0, 1.0, 1.0], [1.0, 1.0, 1.0])
    assert (same.p_value, same.significant) == (1.0, False)
    apart = compare_metric("m", "M", "", True, [1.0, 1.0, 1.0], [0.5, 0.5, 0.5])
    assert (apart.p_value, apart.significant, apart.better) == (0.0, True, "tensorflow")
