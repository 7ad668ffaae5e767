"""Every run's predictions are lined up on the same test rows, or the comparison says why not."""

from __future__ import annotations

import numpy as np
import pytest

from components.common.errors import TandemError
from components.compare.row_predictions import RunPredictions, line_up
from components.evaluate.predictions import build_predictions

CLASSES = ("Adelie", "Gentoo")


def _table(ids, labels, first_class_probability, classes=CLASSES):
    probabilities = np.column_stack(
        [first_class_probability, 1 - np.asarray(first_class_probability)]
    )
    return build_predictions(ids, labels, probabilities, classes)


def test_runs_are_lined_up_in_the_first_runs_row_order():
    first = _table(["a", "b", "c"], ["Adelie", "Gentoo", "Adelie"], [0.9, 0.2, 0.6])
    shuffled = _table(["c", "a", "b"], ["Adelie", "Adelie", "Gentoo"], [0.1, 0.3, 0.7])
    rows = line_up(
        [
            RunPredictions("tensorflow", "tf seed 0", first),
            RunPredictions("pytorch", "pt seed 0", shuffled),
            RunPredictions("pytorch", "pt seed 1", first),
        ]
    )
    assert (rows.task, rows.classes, rows.rows) == ("classification", CLASSES, 3)
    assert rows.labels.tolist() == [0, 1, 0]
    assert rows.outputs["tensorflow"].shape == (1, 3, 2)
    assert rows.outputs["pytorch"][0, :, 0].tolist() == [0.3, 0.7, 0.1]
    assert rows.outputs["pytorch"][1, :, 0].tolist() == [0.9, 0.2, 0.6]


def test_regression_predictions_line_up_as_numbers():
    table = build_predictions(["a", "b"], [1.5, 2.5], np.array([1.0, 3.0]), None)
    rows = line_up(
        [RunPredictions("tensorflow", "tf", table), RunPredictions("pytorch", "pt", table)]
    )
    assert (rows.task, rows.classes) == ("regression", None)
    assert rows.labels.tolist() == [1.5, 2.5]
    assert rows.outputs["pytorch"].tolist() == [[1.0, 3.0]]


@pytest.mark.parametrize(
    ("other", "message"),
    [
        (_table(["a", "b"], ["Adelie", "Gentoo"], [0.5, 0.5]), "predicted 2 test rows, not the 3"),
        (_table(["a", "b", "d"], ["Adelie", "Gentoo", "Adelie"], [0.5] * 3), "predicted 3 test"),
        (
            _table(["a", "b", "c"], ["Gentoo", "Gentoo", "Adelie"], [0.5] * 3),
            "its test rows carry other labels",
        ),
        (
            _table(
                ["a", "b", "c"], ["Adelie", "Gentoo", "Adelie"], [0.5] * 3, ("Adelie", "Chinstrap")
            ),
            "its classes differ",
        ),
    ],
)
def test_runs_that_judged_different_rows_are_a_clear_error(other, message):
    first = _table(["a", "b", "c"], ["Adelie", "Gentoo", "Adelie"], [0.9, 0.2, 0.6])
    with pytest.raises(TandemError, match=message) as error:
        line_up(
            [
                RunPredictions("tensorflow", "tf seed 0", first),
                RunPredictions("pytorch", "pt seed 0", other),
            ]
        )
    assert str(error.value).startswith("pt seed 0: ")
