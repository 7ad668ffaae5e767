"""Metrics against scikit-learn on real penguins predictions, ECE by hand, and slice metrics."""

from __future__ import annotations

import math

import numpy as np
import pyarrow as pa
import pytest
from sklearn import metrics as sk

from components.common.features import label_indices
from components.evaluate.metrics import (
    MISSING_SLICE,
    binary_metrics,
    calibration_bins,
    classification_metrics,
    confusion_matrix,
    regression_metrics,
    slice_metrics,
)
from components.evaluate.predictions import build_predictions, validate_predictions

METRIC_NAMES = {"accuracy", "macro_f1", "log_loss", "ece", "count"}


@pytest.fixture(scope="module")
def labels(test_split, manifest) -> np.ndarray:
    return label_indices(test_split, manifest)


@pytest.fixture(scope="module")
def probabilities(labels) -> np.ndarray:
    """Random but informative: Dirichlet noise, pulled towards the true class on 60% of rows."""
    rng = np.random.default_rng(11)
    noise = rng.dirichlet(np.ones(3), size=len(labels))
    informed = rng.random(len(labels)) < 0.6
    noise[informed] = 0.4 * noise[informed] + 0.6 * np.eye(3)[labels[informed]]
    return noise


@pytest.fixture(scope="module")
def predictions(test_split, manifest, labels, probabilities) -> pa.Table:
    table = build_predictions(
        test_split[manifest["id_column"]],
        test_split[manifest["label"]],
        probabilities,
        manifest["classes"],
    )
    return validate_predictions(table, test_split, manifest, "test predictions")


def test_metrics_equal_scikit_learn_on_penguins_predictions(labels, probabilities):
    predicted = probabilities.argmax(axis=1)
    assert 0.4 < sk.accuracy_score(labels, predicted) < 0.95  # neither trivial nor perfect
    result = classification_metrics(labels, probabilities)
    assert set(result) == {"accuracy", "macro_f1", "log_loss", "ece"}
    assert result["accuracy"] == pytest.approx(sk.accuracy_score(labels, predicted), abs=1e-9)
    assert result["macro_f1"] == pytest.approx(
        sk.f1_score(labels, predicted, average="macro"), abs=1e-9
    )
    assert result["log_loss"] == pytest.approx(
        sk.log_loss(labels, probabilities, labels=[0, 1, 2]), abs=1e-9
    )


def test_confusion_matrix_equals_scikit_learn(labels, probabilities):
    predicted = probabilities.argmax(axis=1)
    ours = confusion_matrix(labels, predicted, 3)
    np.testing.assert_array_equal(ours, sk.confusion_matrix(labels, predicted, labels=[0, 1, 2]))
    assert ours.sum() == 44
    assert ours.sum(axis=1).tolist() == np.bincount(labels, minlength=3).tolist()


def test_confusion_matrix_rows_are_the_true_class():
    matrix = confusion_matrix(np.array([0, 0, 2]), np.array([1, 1, 2]), 3)
    assert matrix.tolist() == [[0, 2, 0], [0, 0, 0], [0, 0, 1]]


def test_macro_f1_leaves_out_classes_absent_from_truth_and_predictions():
    # Like a Torgersen slice: only Adelie (0) and, wrongly predicted once, Gentoo (2).
    labels = np.array([0, 0, 0, 0])
    probabilities = np.array([[0.8, 0.1, 0.1], [0.7, 0.2, 0.1], [0.6, 0.1, 0.3], [0.2, 0.1, 0.7]])
    predicted = probabilities.argmax(axis=1)
    result = classification_metrics(labels, probabilities)
    present = sk.f1_score(labels, predicted, labels=[0, 2], average="macro", zero_division=0)
    assert result["macro_f1"] == pytest.approx(present, abs=1e-9)
    assert result["macro_f1"] == pytest.approx((6 / 7 + 0) / 2, abs=1e-12)
    every_class = sk.f1_score(labels, predicted, labels=[0, 1, 2], average="macro", zero_division=0)
    assert result["macro_f1"] != pytest.approx(every_class)


def test_a_perfect_model_on_a_one_class_slice_scores_one():
    labels = np.array([1, 1, 1])
    result = classification_metrics(labels, np.array([[0.0, 1.0, 0.0]] * 3))
    assert result == {"accuracy": 1.0, "macro_f1": 1.0, "log_loss": 0.0, "ece": 0.0}


def test_ece_of_a_hand_computed_example():
    labels = np.array([0, 0, 0, 1, 1])
    probabilities = np.array(
        [
            [0.90, 0.10],  # right, confidence 0.90: bin (13/15, 14/15]
            [0.10, 0.90],  # wrong, confidence 0.90: same bin -> accuracy 0.5 vs 0.9
            [0.70, 0.30],  # right, confidence 0.70: bin (10/15, 11/15]
            [0.30, 0.70],  # right, confidence 0.70: same bin -> accuracy 1.0 vs 0.7
            [0.55, 0.45],  # wrong, confidence 0.55: bin (8/15, 9/15] -> accuracy 0 vs 0.55
        ]
    )
    expected = 2 / 5 * 0.4 + 2 / 5 * 0.3 + 1 / 5 * 0.55
    assert classification_metrics(labels, probabilities)["ece"] == pytest.approx(
        expected, abs=1e-12
    )
    binned = calibration_bins(labels, probabilities)
    assert np.flatnonzero(binned.counts).tolist() == [8, 10, 13]
    assert binned.accuracy[13] == 0.5
    assert binned.confidence[10] == pytest.approx(0.7)


def test_ece_bins_are_closed_on_the_right():
    # 0.6 is exactly the edge 9/15: it belongs to (8/15, 9/15], with the 0.55 row.
    labels = np.array([0, 1])
    probabilities = np.array([[0.6, 0.4], [0.55, 0.45]])
    binned = calibration_bins(labels, probabilities)
    assert np.flatnonzero(binned.counts).tolist() == [8]
    assert classification_metrics(labels, probabilities)["ece"] == pytest.approx(
        abs(0.5 - 0.575), abs=1e-12
    )


def test_log_loss_clips_a_zero_probability_for_the_true_class():
    labels = np.array([0, 1])
    probabilities = np.array([[0.0, 1.0], [0.0, 1.0]])
    expected = (-math.log(1e-15) + 0.0) / 2
    assert classification_metrics(labels, probabilities)["log_loss"] == pytest.approx(expected)


def test_slice_metrics_names_and_counts(predictions, test_split, manifest):
    result = slice_metrics(predictions, test_split, manifest)
    islands = {"Biscoe", "Dream", "Torgersen"}
    expected = {
        f"slice.{feature}.{value}.{metric}"
        for feature, values in (("island", islands), ("sex", {"female", "male"}))
        for value in values
        for metric in METRIC_NAMES
    }
    assert set(result) == expected
    for feature, values in (("island", islands), ("sex", {"female", "male"})):
        counts = [result[f"slice.{feature}.{value}.count"] for value in values]
        assert sum(counts) == test_split.num_rows == 44
    assert result["slice.island.Dream.count"] == test_split["island"].to_pylist().count("Dream")


def test_one_slice_accuracy_by_hand(predictions, test_split, manifest):
    result = slice_metrics(predictions, test_split, manifest)
    classes = manifest["classes"]
    right = total = 0
    for test_row, prediction in zip(test_split.to_pylist(), predictions.to_pylist(), strict=True):
        if test_row["island"] != "Dream":
            continue
        scores = [prediction[f"prob_{name}"] for name in classes]
        right += classes[scores.index(max(scores))] == test_row["species"]
        total += 1
    assert total == 14
    assert result["slice.island.Dream.accuracy"] == pytest.approx(right / total, abs=1e-12)


def test_slice_macro_f1_and_log_loss_equal_scikit_learn(
    predictions, test_split, manifest, labels, probabilities
):
    result = slice_metrics(predictions, test_split, manifest)
    rows = np.array(test_split["sex"].to_pylist()) == "female"
    predicted = probabilities[rows].argmax(axis=1)
    assert result["slice.sex.female.macro_f1"] == pytest.approx(
        sk.f1_score(labels[rows], predicted, average="macro"), abs=1e-9
    )
    assert result["slice.sex.female.log_loss"] == pytest.approx(
        sk.log_loss(labels[rows], probabilities[rows], labels=[0, 1, 2]), abs=1e-9
    )


def test_slice_metrics_join_predictions_by_id_not_position(predictions, test_split, manifest):
    shuffled = predictions.take(np.random.default_rng(3).permutation(predictions.num_rows))
    assert slice_metrics(shuffled, test_split, manifest) == slice_metrics(
        predictions, test_split, manifest
    )


def test_missing_slice_values_are_reported_as_missing(predictions, test_split, manifest):
    sex = test_split["sex"].to_pylist()
    sex[0] = sex[1] = None
    index = test_split.schema.get_field_index("sex")
    with_gaps = test_split.set_column(index, pa.field("sex", pa.string()), pa.array(sex))
    result = slice_metrics(predictions, with_gaps, manifest)
    assert result[f"slice.sex.{MISSING_SLICE}.count"] == 2
    assert sum(result[f"slice.sex.{v}.count"] for v in ("female", "male", MISSING_SLICE)) == 44


def test_regression_metrics_equal_scikit_learns_on_fixed_predictions():
    rng = np.random.default_rng(3)
    labels = rng.gamma(2.0, 1500.0, size=200)
    predictions = labels + rng.normal(0, 400.0, size=200)
    ours = regression_metrics(labels, predictions)
    assert ours["rmse"] == pytest.approx(math.sqrt(sk.mean_squared_error(labels, predictions)))
    assert ours["mae"] == pytest.approx(sk.mean_absolute_error(labels, predictions))
    assert ours["r2"] == pytest.approx(sk.r2_score(labels, predictions))


@pytest.mark.parametrize("predictions", [[5.0, 5.0, 5.0], [4.0, 5.0, 6.0]])
def test_r2_of_a_constant_truth_follows_scikit_learn(predictions):
    labels = np.full(3, 5.0)
    assert regression_metrics(labels, np.array(predictions))["r2"] == sk.r2_score(
        labels, predictions
    )


def test_binary_metrics_equal_scikit_learns_roc_auc_and_average_precision():
    rng = np.random.default_rng(5)
    labels = rng.integers(0, 2, size=300)
    positive = np.clip(0.3 * labels + rng.uniform(0, 0.7, size=300), 0, 1)
    probabilities = np.column_stack([1 - positive, positive])
    ours = binary_metrics(labels, probabilities)
    assert ours["roc_auc"] == pytest.approx(sk.roc_auc_score(labels, positive))
    assert ours["pr_auc"] == pytest.approx(sk.average_precision_score(labels, positive))
    assert binary_metrics(np.ones(4, dtype=int), probabilities[:4]) == {}
