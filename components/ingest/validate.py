"""Row validation on whole Arrow record batches: typed good rows out, bad rows with a reason.

Every check is a vectorised pyarrow/numpy operation over the batch; no Python loop per row. A row
gets the *first* failing check as its reason, written as `<kind>:<column>` so reasons can be
counted (e.g. `missing_value:sex`, `not_a_number:bill_length_mm`, `unknown_category:island`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from components.spec import DatasetSpec

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
        raw = table.column(feature.name).chunk(0)
        if feature.type == "numeric":
            values = _numbers(raw, feature.name, feature.required, reasons, missing, numeric_token)
        else:
            values = _as_text(raw, missing)
            if feature.required:
                reasons.flag(pc.is_null(values), f"missing_value:{feature.name}")
            allowed = pa.array(feature.values, type=pa.string())
            unknown = pc.and_(pc.is_valid(values), pc.invert(pc.is_in(values, value_set=allowed)))
            reasons.flag(unknown, f"unknown_category:{feature.name}")
        columns[feature.name] = values

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


def _quarantine_rows(
    table: pa.Table, rows: np.ndarray, reasons: pa.Array, source_file: str, first_row: int
) -> pa.Table:
    """The original values of `rows` as text, with where they came from and why they are out."""
    taken = table.take(rows)
    out = pa.table({name: pc.cast(taken.column(name), pa.string()) for name in taken.column_names})
    out = out.append_column(SOURCE_FILE, pa.array([source_file] * len(rows), type=pa.string()))
    out = out.append_column(SOURCE_ROW, pa.array(rows + first_row, type=pa.int64()))
    return out.append_column(REASON, reasons)
