"""Paired bootstrap intervals and paired tests against independent references: scipy's paired
bootstrap and permutation test, a naive resampling loop over scikit-learn, statsmodels' McNemar
and Holm, exact enumeration of every swap."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from scipy import stats
from sklearn.metrics import f1_score, roc_auc_score
from statsmodels.stats.contingency_tables import mcnemar
from statsmodels.stats.multitest import multipletests

from components.compare.paired import (
    ALPHA,
    POWER,
    Interval,
    compare_predictions,
    detectable_difference,
    holm,
    ratio_of_means,
)
from components.evaluate.metrics import (
    LOG_LOSS_EPSILON,
    confusion_matrix,
    expected_calibration_error,
    macro_f1,
)

CLASSIFICATION = ["accuracy", "macro_f1", "log_loss", "ece"]
BINARY = [*CLASSIFICATION, "roc_auc", "pr_auc"]
REGRESSION = ["rmse", "mae", "r2"]
RANGES = {
    "accuracy": (0.0, 1.0),
    "macro_f1": (0.0, 1.0),
    "log_loss": (0.0, np.inf),
    "ece": (0.0, 1.0),
    "roc_auc": (0.0, 1.0),
    "pr_auc": (0.0, 1.0),
    "rmse": (0.0, np.inf),
    "mae": (0.0, np.inf),
    "r2": (-np.inf, 1.0),
}


def _softmax(logits: np.ndarray) -> np.ndarray:
    exponentials = np.exp(logits - logits.max(axis=-1, keepdims=True))
    return exponentials / exponentials.sum(axis=-1, keepdims=True)


def synthetic(seed: int, rows: int, classes: int, tf_seeds: int, pt_seeds: int):
    """Labels and both frameworks' probabilities [seeds, rows, classes]. Every row's difficulty
    is shared by both frameworks (so their errors correlate, which pairing exploits); seeds
    differ in noise and in a bias towards class 0 (so seeds matter as much as rows)."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, classes, rows)
    ease = rng.normal(size=(rows, classes))
    ease[np.arange(rows), labels] += 1.0

    def framework(seeds: int) -> np.ndarray:
        noise = np.linspace(0.3, 2.0, seeds)[:, None, None] * rng.normal(
            size=(seeds, rows, classes)
        )
        bias = np.zeros((seeds, 1, classes))
        bias[:, 0, 0] = np.linspace(-1.0, 1.0, seeds)
        return _softmax(ease + noise + bias)

    return labels, framework(tf_seeds), framework(pt_seeds)


def regression(seed: int, rows: int, tf_seeds: int, pt_seeds: int):
    rng = np.random.default_rng(seed)
    labels = rng.normal(100.0, 20.0, rows)
    shared = rng.normal(0.0, 8.0, rows)  # rows hard for both frameworks
    tf = labels + shared + rng.normal(0.0, 4.0, (tf_seeds, rows))
    pt = labels + shared + rng.normal(0.0, 3.0, (pt_seeds, rows))
    return labels, tf, pt


def planted(rows: int = 500, tf_right: float = 0.70, pt_right: float = 0.95):
    """Binary predictions right on a known share of rows (each framework's own rows)."""
    rng = np.random.default_rng(4)
    labels = rng.integers(0, 2, rows)

    def framework(share: float) -> np.ndarray:
        right = rng.random(rows) < share
        predicted = np.where(right, labels, 1 - labels)
        confidence = rng.uniform(0.55, 0.75, rows)  # TensorFlow's calibrated, PyTorch's not
        positive = np.where(predicted == 1, confidence, 1.0 - confidence)
        return np.column_stack([1.0 - positive, positive])[None]

    return labels, framework(tf_right), framework(pt_right)


def _within(interval: Interval, low: float, high: float, tolerance: float):
    assert interval.low == pytest.approx(low, abs=tolerance)
    assert interval.high == pytest.approx(high, abs=tolerance)


def _scipy_paired_interval(tf_rows, pt_rows, statistic) -> tuple[float, float]:
    reference = stats.bootstrap(
        (tf_rows, pt_rows),
        statistic,
        paired=True,
        vectorized=True,
        method="percentile",
        n_resamples=20_000,
        random_state=np.random.default_rng(1),
    )
    return reference.confidence_interval.low, reference.confidence_interval.high


def _mean_difference(tf_rows, pt_rows, axis=-1):
    return pt_rows.mean(axis=axis) - tf_rows.mean(axis=axis)


def _rmse_difference(tf_rows, pt_rows, axis=-1):
    return np.sqrt(pt_rows.mean(axis=axis)) - np.sqrt(tf_rows.mean(axis=axis))


@pytest.mark.parametrize("metric", ["accuracy", "log_loss"])
def test_one_seed_pair_difference_interval_is_scipys_paired_bootstrap(metric):
    labels, tf, pt = synthetic(seed=1, rows=300, classes=3, tf_seeds=1, pt_seeds=1)
    if metric == "accuracy":
        tf_rows, pt_rows = (p[0].argmax(axis=1) == labels for p in (tf, pt))
    else:
        tf_rows, pt_rows = (
            -np.log(np.clip(p[0][np.arange(len(labels)), labels], LOG_LOSS_EPSILON, 1))
            for p in (tf, pt)
        )
    (result,) = compare_predictions("classification", labels, tf, pt, [metric], resamples=4000)
    low, high = _scipy_paired_interval(
        tf_rows.astype(float), pt_rows.astype(float), _mean_difference
    )
    # Percentile endpoints at 4000 resamples wander by ~0.06 standard errors; an unpaired
    # bootstrap of these correlated frameworks would be about twice as wide.
    _within(result.difference, low, high, tolerance=0.1 * (high - low))
    assert result.difference.estimate == pytest.approx(pt_rows.mean() - tf_rows.mean())


def test_one_seed_pair_rmse_interval_is_scipys_paired_bootstrap():
    labels, tf, pt = regression(seed=2, rows=300, tf_seeds=1, pt_seeds=1)
    (result,) = compare_predictions("regression", labels, tf, pt, ["rmse"], resamples=4000)
    low, high = _scipy_paired_interval(
        (tf[0] - labels) ** 2, (pt[0] - labels) ** 2, _rmse_difference
    )
    _within(result.difference, low, high, tolerance=0.1 * (high - low))


def test_standard_error_combines_each_frameworks_bootstrap_spread():
    labels, tf, pt = synthetic(seed=1, rows=300, classes=3, tf_seeds=1, pt_seeds=1)
    (result,) = compare_predictions("classification", labels, tf, pt, ["accuracy"], resamples=4000)
    spreads = [
        stats.bootstrap(
            ((p[0].argmax(axis=1) == labels).astype(float),),
            np.mean,
            n_resamples=20_000,
            random_state=np.random.default_rng(2),
        ).standard_error
        for p in (tf, pt)
    ]
    assert result.standard_error == pytest.approx(np.hypot(*spreads), rel=0.05)


def _naive_bootstrap(labels, tf, pt, metric, replicates: int):
    """Index resampling of rows (shared) and of each framework's seeds, metric by sklearn."""
    rng = np.random.default_rng(3)
    values = np.empty((replicates, 2))
    for replicate in range(replicates):
        rows = rng.integers(0, len(labels), len(labels))
        for side, predictions in enumerate((tf, pt)):
            seeds = rng.integers(0, len(predictions), len(predictions))
            by_seed = {s: metric(labels[rows], predictions[s][rows]) for s in set(seeds.tolist())}
            values[replicate, side] = np.mean([by_seed[s] for s in seeds])
    return values


def _percentiles(values) -> tuple[float, float]:
    low, high = np.percentile(values, [100 * ALPHA / 2, 100 * (1 - ALPHA / 2)])
    return low, high


@pytest.mark.parametrize(
    ("metric", "classes", "score"),
    [
        ("macro_f1", 3, lambda y, p: f1_score(y, p.argmax(axis=1), average="macro")),
        ("roc_auc", 2, lambda y, p: roc_auc_score(y, p[:, 1])),
    ],
)
def test_rows_and_seeds_bootstrap_matches_a_naive_loop(metric, classes, score):
    labels, tf, pt = synthetic(seed=5, rows=150, classes=classes, tf_seeds=3, pt_seeds=2)
    (result,) = compare_predictions("classification", labels, tf, pt, [metric], permutations=10)
    naive = _naive_bootstrap(labels, tf, pt, score, replicates=400)
    # 400 naive replicates move an endpoint by ~0.13 standard errors. Leaving the seeds out of
    # the resampling would move the difference's endpoints by more than 0.4 of its width.
    for interval, values in (
        (result.tensorflow, naive[:, 0]),
        (result.pytorch, naive[:, 1]),
        (result.difference, naive[:, 1] - naive[:, 0]),
    ):
        low, high = _percentiles(values)
        _within(interval, low, high, tolerance=0.2 * (high - low))
    assert result.tensorflow.estimate == pytest.approx(np.mean([score(labels, p) for p in tf]))
    assert result.pytorch.estimate == pytest.approx(np.mean([score(labels, p) for p in pt]))


def test_accuracy_p_value_is_mcnemars_exact_test_pooled_over_seed_pairs():
    labels, tf, pt = synthetic(seed=6, rows=200, classes=3, tf_seeds=3, pt_seeds=4)
    (result,) = compare_predictions("classification", labels, tf, pt, ["accuracy"])
    tf_right = tf.argmax(axis=2) == labels
    pt_right = pt[:3].argmax(axis=2) == labels  # PyTorch's fourth seed has no partner
    table = [
        [(tf_right & pt_right).sum(), (tf_right & ~pt_right).sum()],
        [(~tf_right & pt_right).sum(), (~tf_right & ~pt_right).sum()],
    ]
    assert result.p_value == pytest.approx(mcnemar(table, exact=True).pvalue, rel=1e-12)
    assert result.test == "McNemar's exact test on per-row correctness, pooled over 3 seed pairs"


def _pairwise_roc_auc(labels, probabilities) -> float:
    """P(positive scores above negative) + P(tie) / 2, over every (positive, negative) pair."""
    score = probabilities[:, 1]
    positive, negative = score[labels == 1][:, None], score[labels == 0][None, :]
    return float(np.mean((positive > negative) + 0.5 * (positive == negative)))


def _average_precision_by_definition(labels, probabilities) -> float:
    """Mean over positive rows of the precision among rows scoring at least as high."""
    score = probabilities[:, 1]
    at_least = score[None, :] >= score[labels == 1][:, None]
    return float(np.mean((at_least & (labels == 1)).sum(axis=1) / at_least.sum(axis=1)))


# Each recomputed metric, by a definition independent of the weighted code; the evaluator's
# macro-F1 and ECE are held to scikit-learn by its own tests.
RECOMPUTED = [
    ("macro_f1", 3, 8, lambda y, p: macro_f1(confusion_matrix(y, p.argmax(axis=1), p.shape[1]))),
    ("ece", 3, 8, expected_calibration_error),
    ("roc_auc", 2, 18, _pairwise_roc_auc),
    ("pr_auc", 2, 18, _average_precision_by_definition),
]


@pytest.mark.parametrize(
    ("metric", "classes", "seed", "score"), RECOMPUTED, ids=[r[0] for r in RECOMPUTED]
)
def test_permutation_p_value_of_a_recomputed_metric_matches_exact_enumeration(
    metric, classes, seed, score
):
    labels, tf, pt = synthetic(seed=seed, rows=10, classes=classes, tf_seeds=2, pt_seeds=2)

    def statistic(swapped) -> float:
        return np.mean(
            [
                score(labels, np.where(swapped[:, None], tf_seed, pt_seed))
                - score(labels, np.where(swapped[:, None], pt_seed, tf_seed))
                for tf_seed, pt_seed in zip(tf, pt, strict=True)
            ]
        )

    observed = abs(statistic(np.zeros(10, dtype=bool)))
    every_swap = [
        abs(statistic(np.array(swaps, dtype=bool)))
        for swaps in itertools.product([False, True], repeat=10)
    ]
    exact = np.mean(np.array(every_swap) >= observed - 1e-12)
    assert 0.05 < exact < 0.95  # a case where the p-value says something
    (result,) = compare_predictions("classification", labels, tf, pt, [metric], permutations=4000)
    # Monte-Carlo error at 4000 permutations is at most 0.008.
    assert result.p_value == pytest.approx(exact, abs=0.03)


def test_permutation_p_value_of_log_loss_is_scipys_paired_permutation_test():
    labels, tf, pt = synthetic(seed=9, rows=12, classes=2, tf_seeds=1, pt_seeds=1)
    tf_rows, pt_rows = (
        -np.log(np.clip(p[0][np.arange(len(labels)), labels], LOG_LOSS_EPSILON, 1))
        for p in (tf, pt)
    )
    exact = stats.permutation_test(
        (tf_rows, pt_rows), _mean_difference, permutation_type="samples", vectorized=True
    ).pvalue
    assert 0.05 < exact < 0.95
    (result,) = compare_predictions(
        "classification", labels, tf, pt, ["log_loss"], permutations=4000
    )
    assert result.p_value == pytest.approx(exact, abs=0.03)
    assert "per-row log loss" in result.test


def test_rmse_and_r2_are_tested_on_the_same_squared_errors():
    labels, tf, pt = regression(seed=3, rows=80, tf_seeds=3, pt_seeds=3)
    rmse, mae, r2 = compare_predictions("regression", labels, tf, pt, REGRESSION)
    assert rmse.p_value == r2.p_value
    assert "squared errors" in rmse.test and "absolute errors" in mae.test


def _assert_in_range(results):
    for result in results:
        low, high = RANGES[result.metric]
        for interval in (result.tensorflow, result.pytorch):
            # Not low <= estimate <= high: a bootstrap of ECE, say, is biased upwards.
            assert low <= interval.low <= interval.high <= high, result
            assert low <= interval.estimate <= high, result


@pytest.mark.parametrize("seed", [10, 11])
def test_intervals_stay_inside_each_metrics_range(seed):
    labels, tf, pt = synthetic(seed=seed, rows=40, classes=2, tf_seeds=3, pt_seeds=2)
    _assert_in_range(compare_predictions("classification", labels, tf, pt, BINARY))
    labels, tf, pt = regression(seed=seed, rows=40, tf_seeds=2, pt_seeds=3)
    _assert_in_range(compare_predictions("regression", labels, tf, pt, REGRESSION))


def test_a_perfect_model_against_one_always_wrong():
    labels = np.random.default_rng(12).integers(0, 2, 60)
    perfect = np.eye(2)[labels][None].repeat(2, axis=0)
    wrong = np.eye(2)[1 - labels][None].repeat(2, axis=0)
    results = {
        r.metric: r for r in compare_predictions("classification", labels, perfect, wrong, BINARY)
    }
    _assert_in_range(results.values())
    ideal = {
        "accuracy": 1.0,
        "macro_f1": 1.0,
        "log_loss": 0.0,
        "ece": 0.0,
        "roc_auc": 1.0,
        "pr_auc": 1.0,
    }
    worst = {
        "accuracy": 0.0,
        "macro_f1": 0.0,
        "log_loss": -np.log(LOG_LOSS_EPSILON),
        "ece": 1.0,
        "roc_auc": 0.0,
    }
    for metric, value in ideal.items():
        assert results[metric].tensorflow == Interval(value, value, value), metric
    for metric, value in worst.items():
        assert results[metric].pytorch.estimate == pytest.approx(value), metric
        assert results[metric].pytorch.low == pytest.approx(value), metric
        assert results[metric].p_value < 0.001, metric

    predictions = np.arange(30.0)  # whole numbers: errors of exactly 1
    exact = compare_predictions(
        "regression", predictions, predictions[None], predictions[None] + 1.0, REGRESSION
    )
    _assert_in_range(exact)
    rmse, mae, r2 = exact
    assert rmse.tensorflow == mae.tensorflow == Interval(0.0, 0.0, 0.0)
    assert r2.tensorflow == Interval(1.0, 1.0, 1.0)
    assert rmse.pytorch == mae.pytorch == Interval(1.0, 1.0, 1.0)


@pytest.mark.parametrize(
    ("task", "data", "metrics"),
    [
        ("classification", synthetic(13, 120, 2, 1, 1)[:2], BINARY),
        ("regression", regression(13, 120, 1, 1)[:2], REGRESSION),
    ],
)
def test_identical_frameworks_differ_by_exactly_nothing(task, data, metrics):
    labels, predictions = data
    for result in compare_predictions(task, labels, predictions, predictions, metrics):
        assert result.difference == Interval(0.0, 0.0, 0.0), result.metric
        assert result.p_value == 1.0, result.metric
        assert result.standard_error > 0, result.metric
        assert detectable_difference(result.standard_error, tests=len(metrics)) > 0


def test_identical_frameworks_over_several_seeds_centre_on_zero():
    """Each framework's seeds are resampled on their own, so the interval has width; the
    estimate and the paired test still see no difference."""
    labels, predictions, _ = synthetic(14, 120, 3, 3, 1)
    for result in compare_predictions(
        "classification", labels, predictions, predictions, CLASSIFICATION
    ):
        assert result.difference.estimate == 0.0
        assert result.difference.low < 0 < result.difference.high
        assert result.p_value == 1.0


def test_a_planted_difference_is_detected():
    labels, tf, pt = planted()
    results = compare_predictions("classification", labels, tf, pt, BINARY)
    for result in results:
        assert result.p_value < 0.001, result.metric
        assert result.p_value > 0, result.metric
        assert not result.difference.low <= 0 <= result.difference.high, result.metric
    accuracy = results[0]
    assert accuracy.tensorflow.estimate == pytest.approx(0.70, abs=0.05)
    assert accuracy.pytorch.estimate == pytest.approx(0.95, abs=0.03)
    # A permutation p-value counts the observed arrangement: never below 1 / (1 + permutations).
    assert results[2].p_value == 1 / 2001


def test_an_overwhelming_mcnemar_p_value_is_still_positive():
    labels = np.zeros(3000, dtype=int)
    right, wrong = np.eye(2)[labels][None], np.eye(2)[1 - labels][None]
    (result,) = compare_predictions(
        "classification", labels, right, wrong, ["accuracy"], resamples=2
    )
    assert 0 < result.p_value < 1e-300


def test_the_same_seed_gives_the_same_numbers():
    labels, tf, pt = synthetic(15, 60, 2, 2, 2)
    first = compare_predictions("classification", labels, tf, pt, BINARY, seed=4)
    assert compare_predictions("classification", labels, tf, pt, BINARY, seed=4) == first
    assert compare_predictions("classification", labels, tf, pt, BINARY, seed=5) != first


@pytest.mark.parametrize(
    ("task", "metrics", "classes", "message"),
    [
        ("classification", ["rmse"], 3, "unknown classification metric 'rmse'"),
        ("classification", ["roc_auc"], 3, "roc_auc needs a binary label"),
        ("regression", ["accuracy"], None, "unknown regression metric 'accuracy'"),
        ("ranking", ["accuracy"], 3, "task must be one of"),
    ],
)
def test_unknown_metrics_and_tasks_are_rejected(task, metrics, classes, message):
    if classes is None:
        labels, tf, pt = regression(16, 20, 1, 1)
    else:
        labels, tf, pt = synthetic(16, 20, classes, 1, 1)
    with pytest.raises(ValueError, match=message):
        compare_predictions(task, labels, tf, pt, metrics)


def test_predictions_that_do_not_fit_the_labels_are_rejected():
    labels, tf, pt = synthetic(17, 20, 3, 2, 2)
    with pytest.raises(ValueError, match="pytorch predictions of shape"):
        compare_predictions("classification", labels, tf, pt[:, :19], ["accuracy"])
    with pytest.raises(ValueError, match="3 classes, pytorch 2"):
        compare_predictions("classification", labels, tf, pt[:, :, :2], ["accuracy"])
    with pytest.raises(ValueError, match="class indices"):
        compare_predictions("classification", labels.astype(float), tf, pt, ["accuracy"])


@pytest.mark.parametrize(
    "p_values",
    [[0.01, 0.04, 0.03, 0.2], [0.5, 0.5, 0.001, 0.9, 0.02, 0.02], [0.3, 0.8, 0.9], [0.04]],
)
def test_holm_equals_statsmodels(p_values):
    assert holm(p_values) == pytest.approx(multipletests(p_values, method="holm")[1].tolist())


def test_holm_of_nothing_is_nothing():
    assert holm([]) == []


@pytest.mark.parametrize("tests", [1, 6])
def test_detectable_difference_is_the_power_calculation(tests):
    z_alpha = stats.norm.ppf(1 - 0.05 / (2 * tests))
    z_power = stats.norm.ppf(0.80)
    assert detectable_difference(0.02, tests) == pytest.approx((z_alpha + z_power) * 0.02)
    assert POWER == 0.80
    assert detectable_difference(0.0, tests) is None


def test_ratio_of_means_with_a_bootstrap_interval():
    ratio = ratio_of_means([10.0, 12.0, 11.0], [5.0, 6.5, 5.5])
    assert ratio.estimate == pytest.approx(17.0 / 33.0)
    assert ratio.low < ratio.estimate < ratio.high
    # No resampled mean ratio can leave [min(pt) / max(tf), max(pt) / min(tf)].
    assert ratio.low >= 5.0 / 12.0
    assert ratio.high <= 6.5 / 10.0


@pytest.mark.parametrize(("tensorflow", "pytorch"), [([10.0], [5.0, 6.0]), ([10.0, 12.0], [5.0])])
def test_ratio_of_single_values_has_no_interval(tensorflow, pytorch):
    ratio = ratio_of_means(tensorflow, pytorch)
    assert ratio.estimate == pytest.approx(np.mean(pytorch) / np.mean(tensorflow))
    assert ratio.low is None and ratio.high is None


@pytest.mark.parametrize("tensorflow", [[0.0, 0.0], [-1.0, 0.5]])
def test_ratio_over_a_non_positive_mean_is_refused(tensorflow):
    with pytest.raises(ValueError, match="positive"):
        ratio_of_means(tensorflow, [1.0, 2.0])
