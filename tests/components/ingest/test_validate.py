"""validate_batch: every kind of bad cell becomes a counted reason; good rows come out typed."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest

from components.ingest.validate import REASON, SOURCE_FILE, SOURCE_ROW, SYNTHETIC_ID, validate_batch
from components.spec import DatasetSpec


@pytest.fixture
def dataset() -> DatasetSpec:
    return DatasetSpec(
        source="unused.csv",
        label="kind",
        classes=["a", "b"],
        features=[
            {"name": "x", "type": "numeric"},
            {"name": "y", "type": "numeric", "required": False},
            {"name": "colour", "type": "categorical", "values": ["red", "blue"]},
        ],
        missing_values=["", "NA"],
    )


def _text_table(rows: list[tuple]) -> pa.Table:
    names = ["kind", "x", "y", "colour"]
    return pa.table({n: pa.array([r[i] for r in rows], pa.string()) for i, n in enumerate(names)})


def test_each_bad_cell_gets_its_reason(dataset):
    table = _text_table(
        [
            ("a", "1.5", "2", "red"),  # good
            ("a", None, "2", "red"),  # missing required numeric
            ("a", "abc", "2", "red"),  # not a number
            ("a", "nan", "2", "red"),  # NaN
            ("b", "-inf", "2", "blue"),  # infinity
            ("a", "1", "2", "green"),  # unknown category
            ("c", "1", "2", "red"),  # unknown class
            (None, "1", "2", "red"),  # missing label
            ("b", "3", None, "blue"),  # optional value missing: kept
            ("a", "1", "2", None),  # missing required categorical
            ("b", "1e3", "NA", "blue"),  # missing token in an optional column: kept
        ]
    )
    result = validate_batch(table, dataset, "data.csv", first_row=1)
    reasons = dict(
        zip(
            result.quarantine[SOURCE_ROW].to_pylist(),
            result.quarantine[REASON].to_pylist(),
            strict=True,
        )
    )
    assert reasons == {
        2: "missing_value:x",
        3: "not_a_number:x",
        4: "non_finite:x",
        5: "non_finite:x",
        6: "unknown_category:colour",
        7: "unknown_class:kind",
        8: "missing_value:kind",
        10: "missing_value:colour",
    }
    assert result.good.num_rows == 3
    assert result.good[SYNTHETIC_ID].to_pylist() == ["data.csv:1", "data.csv:9", "data.csv:11"]
    assert result.good["x"].type == pa.float64()
    assert result.good["x"].to_pylist() == [1.5, 3.0, 1000.0]
    assert result.good["y"].to_pylist() == [2.0, None, None]


def test_quarantine_keeps_the_original_text_and_where_it_came_from(dataset):
    table = _text_table([("a", "1", "2", "red"), ("a", " 12 apples", "2", "red")])
    result = validate_batch(table, dataset, "part-7.csv", first_row=101)
    row = result.quarantine.to_pylist()[0]
    assert row["x"] == " 12 apples"
    assert row[SOURCE_FILE] == "part-7.csv"
    assert row[SOURCE_ROW] == 102
    assert row[REASON] == "not_a_number:x"


def test_first_failing_check_wins(dataset):
    table = _text_table([("z", "abc", "2", "green")])
    result = validate_batch(table, dataset, "d.csv", first_row=1)
    assert result.quarantine[REASON].to_pylist() == ["unknown_class:kind"]


def test_typed_parquet_columns_are_checked_too(dataset):
    table = pa.table(
        {
            "kind": pa.array(["a", "b", "a"]),
            "x": pa.array([1.0, float("nan"), None]),
            "y": pa.array([1, 2, 3], pa.int64()),
            "colour": pa.array(["red", "blue", "red"]).dictionary_encode(),
        }
    )
    result = validate_batch(table, dataset, "d.parquet", first_row=1)
    assert result.quarantine[REASON].to_pylist() == ["non_finite:x", "missing_value:x"]
    assert result.good["y"].to_pylist() == [1.0]
    assert result.good["colour"].to_pylist() == ["red"]


def test_repeated_ids_are_quarantined_after_other_checks_pass(dataset):
    spec = dataset.model_copy(update={"id": "key"})
    table = _text_table([("a", "1", "2", "red")] * 3).append_column(
        "key", pa.array(["k1", "k2", "k1"])
    )
    repeated = np.array([False, False, True])
    result = validate_batch(table, spec, "d.csv", first_row=1, repeated_id=repeated)
    assert result.good["key"].to_pylist() == ["k1", "k2"]
    assert result.quarantine[REASON].to_pylist() == ["duplicate_id:key"]


def test_bad_cells_deep_in_a_long_column_are_found_and_the_rest_parsed(dataset):
    """A column that fails to cast is retried in slices: every slice must still be parsed."""
    n = 10_000
    x = [str(i) for i in range(n)]
    x[6000], x[9999] = "abc", "NA"
    table = pa.table(
        {
            "kind": pa.array(["a"] * n),
            "x": pa.array(x),
            "y": pa.array([" 2.5 "] * n),
            "colour": pa.array(["red"] * n),
        }
    )
    result = validate_batch(table, dataset, "d.csv", first_row=1)
    assert result.quarantine[SOURCE_ROW].to_pylist() == [6001, 10000]
    assert result.quarantine[REASON].to_pylist() == ["not_a_number:x", "missing_value:x"]
    assert result.good["x"].to_pylist() == [float(i) for i in range(n) if i not in (6000, 9999)]
    assert result.good["y"].to_pylist() == [2.5] * (n - 2)


def test_a_missing_value_token_that_is_a_number_is_still_missing(dataset):
    spec = dataset.model_copy(update={"missing_values": ["", "-999"]})
    table = _text_table([("a", "1", "-999", "red"), ("a", "-999", "2", "red")])
    result = validate_batch(table, spec, "d.csv", first_row=1)
    assert result.quarantine[REASON].to_pylist() == ["missing_value:x"]
    assert result.good["y"].to_pylist() == [None]


def test_typed_rows_line_up_with_the_accepted_mask(dataset):
    table = _text_table([("a", "1", "2", "red"), ("c", "2", "2", "red"), ("b", "3", "", "blue")])
    result = validate_batch(table, dataset, "d.csv", first_row=1)
    assert result.accepted.tolist() == [True, False, True]
    assert result.typed["x"].to_pylist() == [1.0, 2.0, 3.0]
    assert result.good["x"].to_pylist() == [1.0, 3.0]
