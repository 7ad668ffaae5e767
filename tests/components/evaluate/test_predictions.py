"""The predictions contract: schema, round trip, reordering, and every way a file can be wrong."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest

from components.common.errors import TandemError
from components.evaluate.predictions import (
    PREDICTIONS_FILE,
    build_predictions,
    probability_matrix,
    read_predictions,
    validate_predictions,
    write_predictions,
)
from components.export import probability_column

SOURCE = "runs/torch/predictions.parquet"


@pytest.fixture
def parts(test_split, manifest) -> tuple[list, list, np.ndarray]:
    """Test-split ids and labels with random (Dirichlet) probabilities: valid, fresh per test."""
    rng = np.random.default_rng(7)
    ids = test_split[manifest["id_column"]].to_pylist()
    labels = test_split[manifest["label"]].to_pylist()
    return ids, labels, rng.dirichlet(np.ones(len(manifest["classes"])), size=len(ids))


def _build(parts, manifest) -> pa.Table:
    ids, labels, probabilities = parts
    return build_predictions(ids, labels, probabilities, manifest["classes"])


def _fails(predictions: pa.Table, test_split, manifest, *phrases: str) -> str:
    with pytest.raises(TandemError) as raised:
        validate_predictions(predictions, test_split, manifest, SOURCE)
    message = str(raised.value)
    assert message.startswith(f"{SOURCE}: ")
    for phrase in phrases:
        assert phrase in message
    return message


def test_contract_names():
    assert PREDICTIONS_FILE == "predictions.parquet"
    assert probability_column("Gentoo") == "prob_Gentoo"


def test_build_predictions_schema_and_values(parts, manifest):
    table = _build(parts, manifest)
    assert table.column_names == ["id", "label", "prob_Adelie", "prob_Chinstrap", "prob_Gentoo"]
    assert [str(t) for t in table.schema.types] == ["string", "string", *["double"] * 3]
    assert table.num_rows == 44
    np.testing.assert_array_equal(probability_matrix(table, manifest["classes"]), parts[2])
    assert table["id"].to_pylist() == parts[0]


def test_build_predictions_refuses_a_class_count_mismatch(parts, manifest):
    ids, labels, probabilities = parts
    with pytest.raises(TandemError, match=r"shape \(44, 2\).*3 classes \(Adelie, Chinstrap"):
        build_predictions(ids, labels, probabilities[:, :2], manifest["classes"])
    with pytest.raises(TandemError, match="44 ids, 43 labels and 44 prediction rows"):
        build_predictions(ids, labels[:-1], probabilities, manifest["classes"])


def test_valid_predictions_pass_and_come_back_in_test_split_order(parts, test_split, manifest):
    table = _build(parts, manifest)
    shuffled = table.take(np.random.default_rng(1).permutation(table.num_rows))
    assert shuffled["id"].to_pylist() != table["id"].to_pylist()
    validated = validate_predictions(shuffled, test_split, manifest, SOURCE)
    assert validated["id"].to_pylist() == test_split[manifest["id_column"]].to_pylist()
    assert validated.equals(table)


def test_probabilities_given_as_float32_are_accepted_as_float64(parts, test_split, manifest):
    table = _build(parts, manifest)
    column = table.schema.get_field_index("prob_Gentoo")
    narrow = table.set_column(column, "prob_Gentoo", table["prob_Gentoo"].cast(pa.float32()))
    # float32 rounding keeps each row's sum within the 1e-4 tolerance.
    validated = validate_predictions(narrow, test_split, manifest, SOURCE)
    assert validated.schema.field("prob_Gentoo").type == pa.float64()


def test_write_then_read_round_trips(parts, manifest, tmp_path):
    table = _build(parts, manifest)
    path = write_predictions(table, tmp_path / "nested" / PREDICTIONS_FILE)
    assert path.is_file()
    assert read_predictions(path).equals(table)


def test_read_predictions_names_the_path_of_a_missing_or_broken_file(tmp_path):
    missing = tmp_path / "absent.parquet"
    with pytest.raises(TandemError, match=rf"{missing}: predictions file not found"):
        read_predictions(missing)
    broken = tmp_path / "broken.parquet"
    broken.write_text("id,label\n")
    with pytest.raises(TandemError, match=rf"{broken}: not a readable Parquet"):
        read_predictions(broken)


def test_a_missing_test_row_is_refused(parts, test_split, manifest):
    ids, labels, probabilities = parts
    table = build_predictions(ids[1:], labels[1:], probabilities[1:], manifest["classes"])
    _fails(table, test_split, manifest, "1 test rows have no prediction", repr(ids[0]))


def test_an_unexpected_id_is_refused(parts, test_split, manifest):
    ids, labels, probabilities = parts
    table = build_predictions(
        [*ids, "elsewhere.csv:1"],
        [*labels, labels[0]],
        np.vstack([probabilities, probabilities[:1]]),
        manifest["classes"],
    )
    message = _fails(
        table, test_split, manifest, "1 ids are not in the test split", "'elsewhere.csv:1'"
    )
    assert "have no prediction" not in message


def test_unexpected_ids_show_at_most_three_examples(parts, test_split, manifest):
    ids, labels, probabilities = parts
    renamed = [f"other:{i}" for i in range(5)] + ids[5:]
    table = build_predictions(renamed, labels, probabilities, manifest["classes"])
    message = _fails(
        table,
        test_split,
        manifest,
        "5 test rows have no prediction",
        "5 ids are not in the test split (e.g. 'other:0', 'other:1', 'other:2', ...)",
    )
    assert "'other:3'" not in message


def test_a_duplicated_id_is_refused(parts, test_split, manifest):
    ids, labels, probabilities = parts
    table = build_predictions(
        [*ids, ids[3]],
        [*labels, labels[3]],
        np.vstack([probabilities, probabilities[3:4]]),
        manifest["classes"],
    )
    _fails(table, test_split, manifest, "1 ids appear more than once", repr(ids[3]))


def test_a_missing_id_value_is_refused(parts, test_split, manifest):
    ids, labels, probabilities = parts
    table = build_predictions([None, *ids[1:]], labels, probabilities, manifest["classes"])
    _fails(table, test_split, manifest, "1 prediction rows have no id")


@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_a_non_finite_probability_is_refused(parts, test_split, manifest, bad):
    ids, labels, probabilities = parts
    probabilities[5, 1] = bad
    probabilities[9, 0] = bad
    table = build_predictions(ids, labels, probabilities, manifest["classes"])
    _fails(table, test_split, manifest, "2 rows have a probability that is NaN", repr(ids[5]))


def test_a_null_probability_is_refused(parts, test_split, manifest):
    table = _build(parts, manifest)
    values = table["prob_Adelie"].to_pylist()
    values[2] = None
    table = table.set_column(2, "prob_Adelie", pa.array(values, pa.float64()))
    _fails(table, test_split, manifest, "1 rows have a probability that is NaN", repr(parts[0][2]))


def test_a_negative_probability_is_refused(parts, test_split, manifest):
    ids, labels, probabilities = parts
    probabilities[4] = [-0.1, 0.6, 0.5]  # sums to 1: only the sign is wrong
    table = build_predictions(ids, labels, probabilities, manifest["classes"])
    _fails(
        table, test_split, manifest, "1 rows have a negative probability", repr(ids[4]), "logits"
    )


def test_probabilities_not_summing_to_one_are_refused(parts, test_split, manifest):
    ids, labels, probabilities = parts
    probabilities[6] = [0.5, 0.3, 0.1]
    probabilities[8] = [0.5, 0.3, 0.3]
    table = build_predictions(ids, labels, probabilities, manifest["classes"])
    _fails(
        table,
        test_split,
        manifest,
        "2 rows have probabilities that do not sum to 1",
        f"first: id {ids[6]!r} sums to 0.9)",
    )


def test_a_sum_off_by_less_than_the_tolerance_passes(parts, test_split, manifest):
    ids, labels, probabilities = parts
    probabilities[6] *= 1 + 5e-5
    table = build_predictions(ids, labels, probabilities, manifest["classes"])
    assert validate_predictions(table, test_split, manifest, SOURCE).num_rows == 44


def test_a_missing_probability_column_is_refused(parts, test_split, manifest):
    table = _build(parts, manifest).drop_columns(["prob_Gentoo"])
    message = _fails(table, test_split, manifest, "missing prob_Gentoo")
    assert "unexpected" not in message


def test_a_column_for_an_unknown_class_is_refused(parts, test_split, manifest):
    table = _build(parts, manifest).rename_columns(
        ["id", "label", "prob_Adelie", "prob_Chinstrap", "prob_Emperor"]
    )
    _fails(table, test_split, manifest, "missing prob_Gentoo; unexpected prob_Emperor")


def test_a_text_probability_column_is_refused(parts, test_split, manifest):
    table = _build(parts, manifest)
    table = table.set_column(3, "prob_Chinstrap", table["prob_Chinstrap"].cast(pa.string()))
    _fails(table, test_split, manifest, "column prob_Chinstrap has type string")


def test_a_label_mismatch_is_refused(parts, test_split, manifest):
    ids, labels, probabilities = parts
    wrong = "Gentoo" if labels[10] != "Gentoo" else "Adelie"
    labels[10] = wrong
    table = build_predictions(ids, labels, probabilities, manifest["classes"])
    _fails(
        table,
        test_split,
        manifest,
        "1 rows carry a label different from the test split's species",
        f"id {ids[10]!r} has {wrong!r}",
    )


@pytest.fixture
def regression_parts(regression_snapshot) -> tuple[pa.Table, dict, pa.Table]:
    """The regression test split, its manifest, and valid predictions (label + noise)."""
    import pyarrow.parquet as pq

    manifest = regression_snapshot.manifest
    test = pq.read_table(regression_snapshot.snapshot_dir / "test")
    labels = test[manifest["label"]]
    noisy = labels.to_numpy() + np.random.default_rng(2).normal(0, 100, size=len(labels))
    table = build_predictions(test[manifest["id_column"]], labels, noisy, None)
    return test, manifest, table


def test_regression_predictions_carry_a_number_label_and_a_prediction(regression_parts):
    test, manifest, table = regression_parts
    assert table.schema.names == ["id", "label", "prediction"]
    assert table.schema.field("label").type == pa.float64()
    shuffled = table.take(np.random.default_rng(1).permutation(table.num_rows))
    ordered = validate_predictions(shuffled, test, manifest, SOURCE)
    assert ordered["id"].to_pylist() == test[manifest["id_column"]].to_pylist()


def test_a_regression_prediction_that_is_not_finite_is_refused(regression_parts):
    test, manifest, table = regression_parts
    values = table["prediction"].to_numpy().copy()
    values[3] = np.nan
    broken = table.set_column(2, "prediction", pa.array(values))
    _fails(broken, test, manifest, "1 rows have a prediction that is NaN")


def test_a_regression_label_changed_on_the_way_is_refused(regression_parts):
    test, manifest, table = regression_parts
    labels = table["label"].to_numpy().copy()
    labels[0] += 1.0
    broken = table.set_column(1, "label", pa.array(labels))
    _fails(broken, test, manifest, "1 rows carry a label different from the test split's")


def test_probabilities_in_place_of_a_regression_prediction_are_refused(regression_parts):
    test, manifest, _ = regression_parts
    ids = test[manifest["id_column"]]
    with pytest.raises(TandemError, match="a regression model gives one number per row"):
        build_predictions(ids, test[manifest["label"]], np.zeros((len(ids), 3)), None)
