"""How each figure is judged: t intervals over seeds, cost ratios, descriptive slices, and quality
metrics paired on the test rows with Holm's correction."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats
from statsmodels.stats.multitest import multipletests

from components.compare.catalogue import metric_def
from components.compare.row_predictions import CLASSIFICATION, RowPredictions
from components.compare.stats import (
    cost_comparison,
    descriptive_comparison,
    quality_comparisons,
    summarise,
)
from components.evaluate.metrics import classification_metrics

TF = [0.90, 0.92, 0.95]
PT = [0.97, 0.98, 0.99]


def test_summary_is_the_t_interval_of_the_mean():
    summary = summarise(TF)
    low, high = stats.t.interval(0.95, len(TF) - 1, loc=np.mean(TF), scale=stats.sem(TF))
    assert summary.mean == pytest.approx(np.mean(TF))
    assert (summary.ci_low, summary.ci_high) == pytest.approx((low, high))
    assert summary.n == 3


def test_a_single_value_has_no_interval():
    summary = summarise([0.9])
    assert summary.ci_low == summary.ci_high == 0.9


def test_a_cost_figure_is_a_ratio_called_different_when_its_interval_excludes_one():
    latency = metric_def("latency.batch_1.p50_ms")
    faster = cost_comparison(latency, ([1.0, 1.1, 0.9], [0.40, 0.45, 0.50]))
    assert faster.ratio.estimate == pytest.approx(0.45)
    assert faster.ratio.high < 1
    assert (faster.significant, faster.better, faster.p_value) == (True, "pytorch", None)
    alike = cost_comparison(latency, ([1.0, 1.2, 0.8], [0.9, 1.1, 1.3]))
    assert alike.ratio.low < 1 < alike.ratio.high
    assert (alike.significant, alike.better) == (False, None)


def test_a_cost_figure_with_one_seed_or_a_non_positive_base_has_no_interval_or_ratio():
    fit = metric_def("train.fit_s")
    single = cost_comparison(fit, ([10.0], [5.0]))
    assert (single.ratio.estimate, single.ratio.low, single.significant) == (0.5, None, False)
    overhead = cost_comparison(metric_def("pipeline.overhead_s"), ([-0.5, 0.2], [3.0, 4.0]))
    assert (overhead.ratio, overhead.significant) == (None, False)


def test_a_slice_is_descriptive():
    compared = descriptive_comparison(
        "slice.island.Dream.accuracy", "island = Dream", True, (TF, PT)
    )
    assert compared.difference == pytest.approx(np.mean(PT) - np.mean(TF))
    assert (compared.p_value, compared.difference_ci, compared.significant) == (None, None, False)


def _rows(tensorflow_right: float, pytorch_right: float, seeds: int = 3) -> RowPredictions:
    """Three-class predictions on 300 rows, right on about the given shares."""
    rng = np.random.default_rng(3)
    labels = rng.integers(0, 3, 300)

    def side(share: float) -> np.ndarray:
        outputs = np.full((seeds, 300, 3), 0.1)
        for seed in range(seeds):
            chosen = np.where(rng.random(300) < share, labels, (labels + 1) % 3)
            outputs[seed, np.arange(300), chosen] = 0.8
        return outputs

    return RowPredictions(
        CLASSIFICATION,
        ("a", "b", "c"),
        labels,
        {"tensorflow": side(tensorflow_right), "pytorch": side(pytorch_right)},
    )


def test_quality_metrics_are_holm_adjusted_and_state_what_they_could_detect():
    rows = _rows(0.70, 0.95)
    definitions = [metric_def(key) for key in ("accuracy", "macro_f1", "log_loss")]
    logged = {
        name: [classification_metrics(rows.labels, seed) for seed in rows.outputs[name]]
        for name in ("tensorflow", "pytorch")
    }
    values = {
        d.key: tuple([run[d.name] for run in logged[name]] for name in ("tensorflow", "pytorch"))
        for d in definitions
    }
    compared = quality_comparisons(definitions, values, rows)
    raw = [m.p_raw for m in compared]
    assert [m.p_value for m in compared] == pytest.approx(multipletests(raw, method="holm")[1])
    accuracy = compared[0]
    assert accuracy.tensorflow.values == tuple(values["accuracy"][0])  # the logged values
    assert accuracy.significant and accuracy.better == "pytorch"
    assert all(m.detectable > 0 for m in compared)
    assert compared[2].better == "pytorch"  # lower log loss
