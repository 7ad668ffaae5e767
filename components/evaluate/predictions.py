"""The predictions contract: the one file a framework adapter hands the shared evaluator.

An adapter runs its exported model on the test split and writes `predictions.parquet`: one row per
test row with its id, its true label (a cross-check that the adapter read the rows it claims) and
one probability column per class, in the manifest's class order — or, for regression, a number
`label` and a `prediction` column in the label's units. Everything after this file is
framework-neutral, so `validate_predictions` is strict: a wrong row set, a shuffled label or logits
in place of probabilities would otherwise turn into plausible-looking metrics.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from components.common.errors import TandemError
from components.export import probability_column

PREDICTIONS_FILE = "predictions.parquet"
ID = "id"
LABEL = "label"
PREDICTION = "prediction"
SUM_TOLERANCE = 1e-4
_EXAMPLES = 3


def predictions_schema(classes: Sequence[str] | None) -> pa.Schema:
    """id, label, then one float64 probability column per class in class order; for regression
    (`classes` None) id, a float64 label and the float64 prediction."""
    if classes is None:
        numbers = [pa.field(LABEL, pa.float64()), pa.field(PREDICTION, pa.float64())]
        return pa.schema([pa.field(ID, pa.string()), *numbers])
    probabilities = [pa.field(probability_column(c), pa.float64()) for c in classes]
    return pa.schema([pa.field(ID, pa.string()), pa.field(LABEL, pa.string()), *probabilities])


def manifest_classes(manifest: dict) -> list[str] | None:
    """The classes the predictions carry a column for; None for regression."""
    return None if manifest["task"] == "regression" else list(manifest["classes"])


def _column(values, kind: pa.DataType) -> pa.Array:
    if isinstance(values, pa.ChunkedArray):
        values = values.combine_chunks()
    if isinstance(values, pa.Array):
        return values.cast(kind)
    return pa.array(list(values), kind)


def build_predictions(
    ids: Sequence[str] | pa.Array | pa.ChunkedArray,
    labels: Sequence | pa.Array | pa.ChunkedArray,
    outputs: np.ndarray,
    classes: Sequence[str] | None,
) -> pa.Table:
    """The predictions table for `ids` (test-split ids) and their `labels`: class names and [n, k]
    probabilities whose columns follow `classes`, or (classes None) numbers and [n] predictions."""
    outputs = np.asarray(outputs, dtype=np.float64)
    if classes is None:
        if outputs.ndim != 1:
            raise TandemError(
                f"the model returned predictions of shape {outputs.shape}, but a regression "
                "model gives one number per row: was the model trained on this snapshot?"
            )
        columns = [pa.array(outputs)]
    else:
        classes = list(classes)
        if outputs.ndim != 2 or outputs.shape[1] != len(classes):
            raise TandemError(
                f"the model returned probabilities of shape {outputs.shape}, but the snapshot "
                f"has {len(classes)} classes ({', '.join(classes)}): "
                "was the model trained on this snapshot?"
            )
        columns = [pa.array(outputs[:, j]) for j in range(len(classes))]
    schema = predictions_schema(classes)
    ids, labels = _column(ids, pa.string()), _column(labels, schema.field(LABEL).type)
    if not len(ids) == len(labels) == len(outputs):
        raise TandemError(
            f"{len(ids)} ids, {len(labels)} labels and {len(outputs)} prediction rows: "
            "the predictor must give exactly one of each per test row"
        )
    return pa.Table.from_arrays([ids, labels, *columns], schema=schema)


def probability_matrix(predictions: pa.Table, classes: Sequence[str]) -> np.ndarray:
    """float64 [rows, classes] from the probability columns; a missing value becomes NaN."""
    if not classes:
        return np.zeros((predictions.num_rows, 0))
    columns = [
        pc.fill_null(predictions.column(probability_column(c)).cast(pa.float64()), np.nan)
        for c in classes
    ]
    return np.column_stack([column.to_numpy() for column in columns])


def prediction_values(predictions: pa.Table) -> np.ndarray:
    """float64 [rows] regression predictions; a missing value becomes NaN."""
    column = predictions.column(PREDICTION).cast(pa.float64())
    return pc.fill_null(column, np.nan).to_numpy()


def outputs_of(predictions: pa.Table, manifest: dict) -> np.ndarray:
    """Probabilities [rows, classes], or regression predictions [rows]."""
    classes = manifest_classes(manifest)
    if classes is None:
        return prediction_values(predictions)
    return probability_matrix(predictions, classes)


def write_predictions(table: pa.Table, path: str | Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(table, path)
    return path


def read_predictions(path: str | Path) -> pa.Table:
    path = Path(path)
    try:
        return pq.read_table(path)
    except FileNotFoundError:
        raise TandemError(
            f"{path}: predictions file not found; the framework's predictor adapter writes it "
            "(run the predict step first)"
        ) from None
    except (pa.ArrowException, OSError) as exc:
        raise TandemError(
            f"{path}: not a readable Parquet predictions file ({exc}); "
            "run the predict step again to rewrite it"
        ) from None


def _examples(values: pa.Array | list) -> str:
    values = values.to_pylist() if isinstance(values, pa.Array) else list(values)
    shown = ", ".join(repr(v) for v in values[:_EXAMPLES])
    return f"{shown}, ..." if len(values) > _EXAMPLES else shown


def _check_columns(predictions: pa.Table, schema: pa.Schema, source: str) -> None:
    expected, actual = schema.names, predictions.column_names
    missing = [name for name in expected if name not in actual]
    unexpected = [name for name in actual if name not in expected]
    if missing or unexpected:
        problems = []
        if missing:
            problems.append(f"missing {', '.join(missing)}")
        if unexpected:
            problems.append(f"unexpected {', '.join(unexpected)}")
        raise TandemError(
            f"{source}: predictions must have exactly the columns {', '.join(expected)} "
            f"({'; '.join(problems)}); a prob_<class> column per manifest class, or one "
            f"'{PREDICTION}' column for regression: "
            "build the table with components.evaluate.predictions.build_predictions"
        )
    if len(set(actual)) != len(actual):
        raise TandemError(f"{source}: a predictions column appears twice: {', '.join(actual)}")
    for field in schema:
        actual_type = predictions.schema.field(field.name).type
        if field.type == pa.string():
            fits = pa.types.is_string(actual_type) or pa.types.is_large_string(actual_type)
            wanted = "text"
        else:
            fits = pa.types.is_floating(actual_type) or pa.types.is_integer(actual_type)
            wanted = "numbers"
        if not fits:
            raise TandemError(
                f"{source}: column {field.name} has type {actual_type}; it must hold {wanted}"
            )


def _check_ids(ids: pa.Array, test_ids: pa.Array, id_column: str, source: str) -> None:
    if ids.null_count:
        raise TandemError(f"{source}: {ids.null_count} prediction rows have no id")
    counts = pc.value_counts(ids)
    repeated = counts.field("values").filter(pc.greater(counts.field("counts"), 1))
    if len(repeated):
        raise TandemError(
            f"{source}: {len(repeated)} ids appear more than once (e.g. {_examples(repeated)}); "
            "the predictor must give one row per test row"
        )
    missing = test_ids.filter(pc.invert(pc.is_in(test_ids, value_set=ids)))
    unexpected = ids.filter(pc.invert(pc.is_in(ids, value_set=test_ids)))
    if len(missing) or len(unexpected):
        problems = []
        if len(missing):
            problems.append(
                f"{len(missing)} test rows have no prediction (e.g. {_examples(missing)})"
            )
        if len(unexpected):
            problems.append(
                f"{len(unexpected)} ids are not in the test split (e.g. {_examples(unexpected)})"
            )
        raise TandemError(
            f"{source}: the prediction ids do not match the test split's {id_column} column: "
            f"{'; '.join(problems)}. Predict on the test split of this same snapshot."
        )


def _check_labels(ordered: pa.Table, test_labels: pa.Array, label: str, source: str) -> None:
    same = pc.fill_null(pc.equal(ordered.column(LABEL), test_labels), False)
    wrong = np.flatnonzero(~same.to_numpy(zero_copy_only=False))
    if len(wrong):
        first = int(wrong[0])
        raise TandemError(
            f"{source}: {len(wrong)} rows carry a label different from the test split's {label} "
            f"(first: id {ordered.column(ID)[first].as_py()!r} has "
            f"{ordered.column(LABEL)[first].as_py()!r}, the test split says "
            f"{test_labels[first].as_py()!r}); the predictor must copy each row's label unchanged"
        )


def _check_predictions(ordered: pa.Table, source: str) -> None:
    values = prediction_values(ordered)
    not_finite = np.flatnonzero(~np.isfinite(values))
    if len(not_finite):
        raise TandemError(
            f"{source}: {len(not_finite)} rows have a prediction that is NaN, infinite or "
            f"missing (first: id {ordered.column(ID)[int(not_finite[0])].as_py()!r}); check the "
            "model for numeric overflow"
        )


def _check_probabilities(ordered: pa.Table, classes: Sequence[str], source: str) -> None:
    matrix = probability_matrix(ordered, classes)
    ids = ordered.column(ID)

    def first_id(rows: np.ndarray) -> str:
        return repr(ids[int(rows[0])].as_py())

    not_finite = np.flatnonzero(~np.isfinite(matrix).all(axis=1))
    if len(not_finite):
        raise TandemError(
            f"{source}: {len(not_finite)} rows have a probability that is NaN, infinite or "
            f"missing (first: id {first_id(not_finite)}); check the model for numeric overflow"
        )
    negative = np.flatnonzero((matrix < 0).any(axis=1))
    if len(negative):
        raise TandemError(
            f"{source}: {len(negative)} rows have a negative probability (first: id "
            f"{first_id(negative)}); write softmax probabilities, not logits"
        )
    sums = matrix.sum(axis=1)
    off = np.flatnonzero(np.abs(sums - 1.0) > SUM_TOLERANCE)
    if len(off):
        raise TandemError(
            f"{source}: {len(off)} rows have probabilities that do not sum to 1 within "
            f"{SUM_TOLERANCE:g} (first: id {first_id(off)} sums to {sums[off[0]]:.6g}); "
            "apply softmax over all classes"
        )


def validate_predictions(
    predictions: pa.Table, test_split: pa.Table, manifest: dict, source: str
) -> pa.Table:
    """Check predictions against the test split they claim to cover; a TandemError naming `source`
    says what is wrong. Returns them in the contract's column types and the test split's row order.
    """
    classes = manifest_classes(manifest)
    schema = predictions_schema(classes)
    _check_columns(predictions, schema, source)
    predictions = pa.Table.from_arrays(
        [predictions.column(f.name).cast(f.type).combine_chunks() for f in schema], schema=schema
    )
    id_column = manifest["id_column"]
    ids = predictions.column(ID).combine_chunks()
    test_ids = test_split.column(id_column).combine_chunks().cast(pa.string())
    _check_ids(ids, test_ids, id_column, source)
    ordered = predictions.take(pc.index_in(test_ids, value_set=ids))
    label_type = schema.field(LABEL).type
    test_labels = test_split.column(manifest["label"]).combine_chunks().cast(label_type)
    _check_labels(ordered, test_labels, manifest["label"], source)
    if classes is None:
        _check_predictions(ordered, source)
    else:
        _check_probabilities(ordered, classes, source)
    return ordered
