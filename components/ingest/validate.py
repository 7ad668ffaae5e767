"""Row validation on whole Arrow record batches: typed good rows out, bad rows with a reason.

Every check is a vectorised pyarrow/numpy operation over the batch; no Python loop per row. A row
gets the *first* failing check as its reason, written as `<kind>:<column>` so reasons can be
counted (e.g. `missing_value:sex`, `not_a_number:bill_length_mm`, `unknown_category:island`).
A text or array feature is always required (a row without it has no input); the reasons of an
array name the feature, never one of the columns its values come from.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from components.ingest.array_columns import is_list_type, value_columns
from components.spec import DatasetSpec, Feature

SOURCE_FILE = "_source_file"
SOURCE_ROW = "_source_row"
REASON = "_reason"
SYNTHETIC_ID = "tandem_row_id"

_NUMBER = r"(?i)^\s*[+-]?((\d+\.?\d*|\.\d+)(e[+-]?\d+)?|nan|inf|infinity)\s*$"
_SLICE_ROWS = 4096


@dataclass(frozen=True)
class ValidatedBatch:
    """`typed` holds every row of the batch (a bad cell is null there), `accepted` marks the rows
    that passed every check: the caller takes each split's rows from `typed` in one copy."""

    typed: pa.Table
    accepted: np.ndarray
    quarantine: pa.Table

    @property
    def good(self) -> pa.Table:
        return self.typed.filter(self.accepted)


class _Reasons:
    """Collects the first failing reason per row as small integer codes."""

    def __init__(self, num_rows: int) -> None:
        self.codes = np.zeros(num_rows, dtype=np.int32)
        self.labels: list[str] = [""]

    def flag(self, mask: pa.Array | np.ndarray, reason: str) -> None:
        mask = _to_numpy_mask(mask)
        if not mask.any():
            return
        self.labels.append(reason)
        self.codes[(self.codes == 0) & mask] = len(self.labels) - 1

    @property
    def bad(self) -> np.ndarray:
        return self.codes != 0

    def reasons_of(self, rows: np.ndarray) -> pa.Array:
        return pa.array(np.asarray(self.labels, dtype=object)[self.codes[rows]], type=pa.string())


def _to_numpy_mask(mask: pa.Array | pa.ChunkedArray | np.ndarray) -> np.ndarray:
    if isinstance(mask, np.ndarray):
        return mask
    return pc.fill_null(mask, False).to_numpy(zero_copy_only=False)


def _as_text(column: pa.Array, missing: pa.Array) -> pa.Array:
    """String view of a column with the spec's missing-value tokens turned into nulls."""
    if pa.types.is_dictionary(column.type):
        column = column.dictionary_decode()
    text = column if pa.types.is_string(column.type) else pc.cast(column, pa.string())
    return pc.if_else(pc.is_in(text, value_set=missing), pa.scalar(None, pa.string()), text)


def _is_number(token: str) -> bool:
    try:
        pc.cast(pa.array([token]), pa.float64())
    except pa.ArrowInvalid:
        return False
    return True


def _parse_numeric(
    column: pa.Array, missing: pa.Array, numeric_token: bool
) -> tuple[pa.Array, np.ndarray]:
    """float64 values plus a mask of present values that are not numbers.

    Text that casts as a whole holds no missing-value token unless a token is itself a number
    (`numeric_token`, say -999), so the tokens are only looked up in slices that fail to cast.
    """
    if pa.types.is_integer(column.type) or pa.types.is_floating(column.type):
        return pc.cast(column, pa.float64()), np.zeros(len(column), dtype=bool)
    if numeric_token or not pa.types.is_string(column.type):
        column = _as_text(column, missing)
    return _parse_text(column, missing)


def _parse_text(text: pa.StringArray, missing: pa.Array) -> tuple[pa.Array, np.ndarray]:
    """The plain cast is the fast path; a failing column is retried in slices so that only the
    slices holding an offending cell pay for the regular expression (numbers, NaN and
    infinities, surrounding blanks), which costs several casts."""
    try:
        return pc.cast(text, pa.float64()), np.zeros(len(text), dtype=bool)
    except pa.ArrowInvalid:
        pass
    if len(text) > _SLICE_ROWS:
        parts = [
            _parse_text(text.slice(start, _SLICE_ROWS), missing)
            for start in range(0, len(text), _SLICE_ROWS)
        ]
        return pa.concat_arrays([values for values, _ in parts]), np.concatenate(
            [not_a_number for _, not_a_number in parts]
        )
    # A copy, not a view: pyarrow 18's if_else writes invalid offsets for a sliced string input.
    text = _as_text(pa.concat_arrays([text]), missing)
    try:
        return pc.cast(text, pa.float64()), np.zeros(len(text), dtype=bool)
    except pa.ArrowInvalid:
        pass
    parsable = pc.match_substring_regex(text, _NUMBER)
    not_a_number = _to_numpy_mask(pc.invert(parsable))
    kept = pc.if_else(pc.fill_null(parsable, False), text, pa.scalar(None, pa.string()))
    return pc.cast(pc.utf8_trim_whitespace(kept), pa.float64()), not_a_number


def _numbers(
    raw: pa.Array,
    name: str,
    required: bool,
    reasons: _Reasons,
    missing: pa.Array,
    numeric_token: bool,
) -> pa.Array:
    """float64 values of a numeric column; flags cells that are no number, missing (when
    required) or not finite."""
    values, not_a_number = _parse_numeric(raw, missing, numeric_token)
    reasons.flag(not_a_number, f"not_a_number:{name}")
    if required:
        reasons.flag(pc.is_null(values), f"missing_value:{name}")
    finite = pc.is_finite(values)
    reasons.flag(pc.and_(pc.is_valid(values), pc.invert(finite)), f"non_finite:{name}")
    return values


def _text(raw: pa.Array, name: str, reasons: _Reasons, missing: pa.Array) -> pa.Array:
    """A text feature's strings as they are; missing or blank text is quarantined."""
    text = _as_text(raw, missing)
    reasons.flag(pc.is_null(text), f"missing_value:{name}")
    reasons.flag(pc.equal(pc.utf8_trim_whitespace(text), ""), f"empty_text:{name}")
    return text


def _list_array(values: np.ndarray, offsets: np.ndarray, mask: pa.Array | None = None) -> pa.Array:
    """list<float32> rows from flat float32 values and row offsets."""
    return pa.ListArray.from_arrays(
        pa.array(offsets, pa.int32()), pa.array(values, pa.float32()), mask=mask
    )


def _rows_with(rows: np.ndarray, num_rows: int) -> np.ndarray:
    """A row mask from the row numbers of flagged values (a row may appear many times)."""
    return np.bincount(rows, minlength=num_rows) > 0


def _array_from_columns(
    table: pa.Table,
    feature: Feature,
    columns: list[str],
    reasons: _Reasons,
    missing: pa.Array,
    numeric_token: bool,
) -> pa.Array:
    """An array feature's cells, each parsed like a numeric feature's, as one list<float32> value
    per row (row-major: the cells in `columns` order)."""
    num_rows = table.num_rows
    matrix = np.empty((num_rows, len(columns)), dtype=np.float32)
    not_a_number = np.zeros(num_rows, dtype=bool)
    absent = np.zeros(num_rows, dtype=bool)
    # A number beyond float32's range becomes inf, and so non_finite.
    with np.errstate(over="ignore"):
        for index, name in enumerate(columns):
            raw = table.column(name).chunk(0)
            values, unparsed = _parse_numeric(raw, missing, numeric_token)
            not_a_number |= unparsed
            absent |= _to_numpy_mask(pc.is_null(values))
            matrix[:, index] = values.to_numpy(zero_copy_only=False)
    reasons.flag(not_a_number, f"not_a_number:{feature.name}")
    reasons.flag(absent, f"missing_value:{feature.name}")
    reasons.flag(~np.isfinite(matrix).all(axis=1), f"non_finite:{feature.name}")
    offsets = np.arange(num_rows + 1) * len(columns)
    return _list_array(matrix.reshape(-1), offsets)


def _array_from_list(raw: pa.Array, feature: Feature, reasons: _Reasons) -> pa.Array:
    """An array feature read from a list column, as list<float32>: a missing list, one of
    another length than the shape's, a missing or non-finite value each quarantine the row."""
    name = feature.name
    num_rows = len(raw)
    lengths = pc.list_value_length(raw)
    reasons.flag(pc.is_null(raw), f"missing_value:{name}")
    reasons.flag(pc.not_equal(lengths, feature.size), f"wrong_length:{name}")
    present_lengths = pc.fill_null(lengths, 0).to_numpy()
    flat = pc.list_flatten(raw)
    row_of_value = np.repeat(np.arange(num_rows), present_lengths)
    with np.errstate(over="ignore"):
        values = pc.cast(flat, pa.float64()).to_numpy(zero_copy_only=False).astype(np.float32)
    null_value = _to_numpy_mask(pc.is_null(flat))
    reasons.flag(_rows_with(row_of_value[null_value], num_rows), f"missing_value:{name}")
    non_finite = ~np.isfinite(values) & ~null_value
    reasons.flag(_rows_with(row_of_value[non_finite], num_rows), f"non_finite:{name}")
    offsets = np.concatenate([[0], np.cumsum(present_lengths)])
    return _list_array(values, offsets, mask=pc.is_null(raw))


def _feature_values(
    table: pa.Table,
    feature: Feature,
    dataset: DatasetSpec,
    reasons: _Reasons,
    missing: pa.Array,
    numeric_token: bool,
) -> pa.Array:
    """One feature's typed values for every row of the batch, its bad cells flagged."""
    if feature.type == "array" and feature.columns is not None:
        columns = value_columns(feature, dataset, table.column_names)
        return _array_from_columns(table, feature, columns, reasons, missing, numeric_token)
    raw = table.column(feature.name).chunk(0)
    if feature.type == "array":
        return _array_from_list(raw, feature, reasons)
    if feature.type == "text":
        return _text(raw, feature.name, reasons, missing)
    if feature.type == "numeric":
        return _numbers(raw, feature.name, feature.required, reasons, missing, numeric_token)
    values = _as_text(raw, missing)
    if feature.required:
        reasons.flag(pc.is_null(values), f"missing_value:{feature.name}")
    allowed = pa.array(feature.values, type=pa.string())
    unknown = pc.and_(pc.is_valid(values), pc.invert(pc.is_in(values, value_set=allowed)))
    reasons.flag(unknown, f"unknown_category:{feature.name}")
    return values


def validate_batch(
    batch: pa.RecordBatch | pa.Table,
    dataset: DatasetSpec,
    source_file: str,
    first_row: int,
    repeated_id: np.ndarray | None = None,
) -> ValidatedBatch:
    """Check one batch: its rows typed, which of them passed, and the quarantined rows (original
    values + reason).

    `first_row` is the 1-based data-row number of the batch's first row in `source_file`; it
    becomes `_source_row` in the quarantine output and the synthetic id when the spec has no id.
    `repeated_id` marks rows whose id was already seen earlier in the input (see `duplicates`).
    """
    table = batch if isinstance(batch, pa.Table) else pa.Table.from_batches([batch])
    table = table.combine_chunks()
    num_rows = table.num_rows
    missing = pa.array(dataset.missing_values, type=pa.string())
    numeric_token = any(_is_number(token) for token in dataset.missing_values)
    reasons = _Reasons(num_rows)
    columns: dict[str, pa.Array] = {}

    if dataset.id is not None:
        ids = _as_text(table.column(dataset.id).chunk(0), missing)
        reasons.flag(pc.is_null(ids), f"missing_value:{dataset.id}")
        if repeated_id is not None:
            reasons.flag(repeated_id, f"duplicate_id:{dataset.id}")
        columns[dataset.id] = ids

    raw_label = table.column(dataset.label).chunk(0)
    if dataset.task == "regression":
        columns[dataset.label] = _numbers(
            raw_label, dataset.label, True, reasons, missing, numeric_token
        )
    else:
        label = _as_text(raw_label, missing)
        reasons.flag(pc.is_null(label), f"missing_value:{dataset.label}")
        classes = pa.array(dataset.classes, type=pa.string())
        unknown_class = pc.invert(pc.is_in(label, value_set=classes))
        reasons.flag(unknown_class, f"unknown_class:{dataset.label}")
        columns[dataset.label] = label

    for feature in dataset.features:
        columns[feature.name] = _feature_values(
            table, feature, dataset, reasons, missing, numeric_token
        )

    typed = pa.table(columns)
    if dataset.id is None:
        row_numbers = np.arange(first_row, first_row + num_rows)
        synthetic = pc.binary_join_element_wise(
            pa.scalar(source_file), pc.cast(pa.array(row_numbers), pa.string()), ":"
        )
        typed = typed.add_column(0, SYNTHETIC_ID, synthetic)
    bad_rows = np.flatnonzero(reasons.bad)
    quarantine = _quarantine_rows(
        table, bad_rows, reasons.reasons_of(bad_rows), source_file, first_row
    )
    return ValidatedBatch(typed=typed, accepted=~reasons.bad, quarantine=quarantine)


def _original_text(column: pa.ChunkedArray) -> pa.ChunkedArray:
    """A column's values as text; a list as `[1.0, 2.5]`."""
    if is_list_type(column.type):
        joined = pc.binary_join(pc.cast(column, pa.list_(pa.string())), ", ")
        return pc.binary_join_element_wise("[", joined, "]", "")
    return pc.cast(column, pa.string())


def _quarantine_rows(
    table: pa.Table, rows: np.ndarray, reasons: pa.Array, source_file: str, first_row: int
) -> pa.Table:
    """The original values of `rows` as text, with where they came from and why they are out."""
    taken = table.take(rows)
    out = pa.table({name: _original_text(taken.column(name)) for name in taken.column_names})
    out = out.append_column(SOURCE_FILE, pa.array([source_file] * len(rows), type=pa.string()))
    out = out.append_column(SOURCE_ROW, pa.array(rows + first_row, type=pa.int64()))
    return out.append_column(REASON, reasons)
