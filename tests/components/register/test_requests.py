"""What the served model refuses before scoring: unknown categories and over-long batches."""

from __future__ import annotations

import pandas as pd

from components.register.requests import categories, request_problem

ALLOWED = {"island": ["Biscoe", "Dream", "Torgersen"], "sex": ["female", "male"]}


def _frame(islands: list, sexes: list | None = None) -> pd.DataFrame:
    return pd.DataFrame(
        {"island": islands, "bill_length_mm": 40.0, "sex": sexes or ["male"] * len(islands)}
    )


def test_known_and_missing_categories_are_scored():
    assert request_problem(_frame(["Biscoe", None, "Dream"]), ALLOWED, max_rows=10) is None


def test_unknown_categories_name_the_column_and_the_values():
    problem = request_problem(
        _frame(["Biscoe", "Atlantis", "Lemuria", "Atlantis"]), ALLOWED, max_rows=10
    )
    assert problem == (
        "column 'island': unknown categories 'Atlantis', 'Lemuria'; "
        "expected one of Biscoe, Dream, Torgersen"
    )
    problem = request_problem(_frame(["Dream"], ["Male"]), ALLOWED, max_rows=10)
    assert problem == "column 'sex': unknown category 'Male'; expected one of female, male"


def test_more_rows_than_the_limit_names_the_limit():
    problem = request_problem(_frame(["Biscoe"] * 11), ALLOWED, max_rows=10)
    assert problem.startswith("11 rows in one request; the limit is 10 ")
    assert request_problem(_frame(["Biscoe"] * 10), ALLOWED, max_rows=10) is None


def test_categories_are_the_spec_values_of_categorical_features():
    manifest = {
        "dataset_spec": {
            "features": [
                {"name": "island", "type": "categorical", "values": ["Biscoe", "Dream"]},
                {"name": "bill_length_mm", "type": "numeric", "values": None},
            ]
        }
    }
    assert categories(manifest) == {"island": ["Biscoe", "Dream"]}
