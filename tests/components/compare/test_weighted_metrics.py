"""Weighted metrics equal the evaluator's (and scikit-learn's) on the rows their weights repeat."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import average_precision_score, r2_score, roc_auc_score

from components.compare import weighted_metrics
from components.evaluate import metrics as evaluator

CLASSIFICATION = ("accuracy", "macro_f1", "log_loss", "ece")
BINARY = ("roc_auc", "pr_auc")
REGRESSION = ("rmse", "mae", "r2")


def _probabilities(rng: np.random.Generator, n: int, k: int, decimals: int | None = None):
    labels = rng.integers(0, k, n)
    logits = rng.normal(size=(n, k))
    logits[np.arange(n), labels] += 1.0
    probabilities = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    if decimals is not None:
        # Coarse probabilities: many rows tie on the score and on the top probability.
        probabilities = np.round(probabilities, decimals)
        probabilities[:, -1] = 1.0 - probabilities[:, :-1].sum(axis=1)
    # A certain row (confidence exactly 1, the last calibration bin) and a hopeless one.
    probabilities[0] = np.eye(k)[labels[0]]
    probabilities[1] = np.eye(k)[(labels[1] + 1) % k]
    return labels, probabilities


def _evaluated(labels, outputs, k: int | None) -> dict[str, float]:
    if k is None:
        return evaluator.regression_metrics(labels, outputs)
    values = evaluator.classification_metrics(labels, outputs)
    if k == 2:
        values |= evaluator.binary_metrics(labels, outputs)
    return values


def _cases():
    rng = np.random.default_rng(7)
    labels = rng.normal(50.0, 10.0, 120)
    predictions = labels + rng.normal(0.0, 4.0, 120)
    return [
        ("multiclass", *_probabilities(rng, 150, 4), 4, CLASSIFICATION),
        ("binary", *_probabilities(rng, 150, 2), 2, CLASSIFICATION + BINARY),
        ("binary ties", *_probabilities(rng, 150, 2, decimals=1), 2, CLASSIFICATION + BINARY),
        ("regression", labels, predictions, None, REGRESSION),
    ]


CASES = _cases()
IDS = [case[0] for case in CASES]


def _function(name: str):
    return (weighted_metrics.CLASSIFICATION | weighted_metrics.REGRESSION)[name]


@pytest.mark.parametrize(("case", "labels", "outputs", "k", "names"), CASES, ids=IDS)
def test_unit_weights_give_the_evaluators_metrics(case, labels, outputs, k, names):
    expected = _evaluated(labels, outputs, k)
    unit = np.ones((1, len(labels)))
    for name in names:
        assert _function(name)(labels, outputs, unit)[0] == pytest.approx(
            expected[name], rel=1e-12, abs=1e-15
        ), name


@pytest.mark.parametrize(("case", "labels", "outputs", "k", "names"), CASES, ids=IDS)
@pytest.mark.parametrize("layout", ["C", "F"])
def test_integer_weights_equal_the_metric_of_the_repeated_rows(
    case, labels, outputs, k, names, layout
):
    rng = np.random.default_rng(11)
    counts = rng.integers(0, 4, (6, len(labels)))  # zeros drop rows
    weights = np.asarray(counts, dtype=np.float64, order=layout)
    for name in names:
        values = _function(name)(labels, outputs, weights)
        assert values.shape == (6,)
        for row, value in zip(counts, values, strict=True):
            repeated = _evaluated(np.repeat(labels, row), np.repeat(outputs, row, axis=0), k)
            assert value == pytest.approx(repeated[name], rel=1e-12, abs=1e-15), name


def test_tied_scores_follow_scikit_learn():
    rng = np.random.default_rng(3)
    labels = rng.integers(0, 2, 400)
    score = np.round(rng.random(400) * 0.6 + 0.4 * labels, 1)  # 11 distinct scores
    probabilities = np.column_stack([1.0 - score, score])
    counts = rng.integers(0, 3, (4, 400))
    roc = weighted_metrics.roc_auc(labels, probabilities, counts)
    precision = weighted_metrics.pr_auc(labels, probabilities, counts)
    for row, auc, average in zip(counts, roc, precision, strict=True):
        assert auc == pytest.approx(roc_auc_score(labels, score, sample_weight=row), rel=1e-12)
        assert average == pytest.approx(
            average_precision_score(labels, score, sample_weight=row), rel=1e-12
        )


def test_a_weighting_without_both_classes_has_no_auc():
    labels = np.array([0, 0, 1, 1])
    probabilities = np.array([[0.9, 0.1], [0.6, 0.4], [0.3, 0.7], [0.2, 0.8]])
    only_negatives = np.array([[1.0, 2.0, 0.0, 0.0]])
    only_positives = np.array([[0.0, 0.0, 1.0, 1.0]])
    assert np.isnan(weighted_metrics.roc_auc(labels, probabilities, only_negatives)).all()
    assert np.isnan(weighted_metrics.pr_auc(labels, probabilities, only_negatives)).all()
    assert np.isnan(weighted_metrics.roc_auc(labels, probabilities, only_positives)).all()
    assert weighted_metrics.pr_auc(labels, probabilities, only_positives)[0] == 1.0


def test_r2_of_a_constant_weighted_truth_is_one_when_exact_else_zero():
    labels = np.array([0.1, 0.1, 0.1, 5.0])
    weights = np.array([[1.0, 2.0, 3.0, 0.0]])  # the weighted truth is all 0.1
    assert weighted_metrics.r2(labels, labels, weights)[0] == 1.0
    assert weighted_metrics.r2(labels, labels + 1.0, weights)[0] == 0.0
    assert weighted_metrics.r2(labels, labels + 1.0, np.ones((1, 4)))[0] == pytest.approx(
        r2_score(labels, labels + 1.0), rel=1e-12
    )


def test_weights_that_do_not_fit_the_rows_are_rejected():
    labels, probabilities = _probabilities(np.random.default_rng(0), 10, 3)
    with pytest.raises(ValueError, match="do not fit 10 rows"):
        weighted_metrics.accuracy(labels, probabilities, np.ones((2, 9)))
    with pytest.raises(ValueError, match="need 2 classes"):
        weighted_metrics.roc_auc(labels, probabilities, np.ones((1, 10)))
