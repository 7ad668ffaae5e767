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


@dataclass(frozen=True)
class ValidatedBatch:
    good: pa.Table
    quarantine: pa.Table


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


def _parse_numeric(column: pa.Array, missing: pa.Array) -> tuple[pa.Array, np.ndarray]:
    """float64 values plus a mask of present values that are not numbers.

    The plain cast is the fast path for clean columns; one regular expression (numbers, NaN and
    infinities, surrounding blanks) finds the offending cells only when it fails.
    """
    if pa.types.is_integer(column.type) or pa.types.is_floating(column.type):
        return pc.cast(column, pa.float64()), np.zeros(len(column), dtype=bool)
    text = _as_text(column, missing)
    try:
        return pc.cast(text, pa.float64()), np.zeros(len(column), dtype=bool)
    except pa.ArrowInvalid:
        pass
    parsable = pc.match_substring_regex(text, _NUMBER)
    not_a_number = _to_numpy_mask(pc.invert(parsable))
    kept = pc.if_else(pc.fill_null(parsable, False), text, pa.scalar(None, pa.string()))
    return pc.cast(pc.utf8_trim_whitespace(kept), pa.float64()), not_a_number


def validate_batch(
    batch: pa.RecordBatch | pa.Table,
    dataset: DatasetSpec,
    source_file: str,
    first_row: int,
    repeated_id: np.ndarray | None = None,
) -> ValidatedBatch:
    """Split one batch into typed good rows and quarantined rows (original values + reason).

    `first_row` is the 1-based data-row number of the batch's first row in `source_file`; it
    becomes `_source_row` in the quarantine output and the synthetic id when the spec has no id.
    `repeated_id` marks rows whose id was already seen earlier in the input (see `duplicates`).
    """
    table = batch if isinstance(batch, pa.Table) else pa.Table.from_batches([batch])
    table = table.combine_chunks()
    num_rows = table.num_rows
    missing = pa.array(dataset.missing_values, type=pa.string())
    reasons = _Reasons(num_rows)
    columns: dict[str, pa.Array] = {}

    if dataset.id is not None:
        ids = _as_text(table.column(dataset.id).chunk(0), missing)
        reasons.flag(pc.is_null(ids), f"missing_value:{dataset.id}")
        if repeated_id is not None:
            reasons.flag(repeated_id, f"duplicate_id:{dataset.id}")
        columns[dataset.id] = ids

    label = _as_text(table.column(dataset.label).chunk(0), missing)
    reasons.flag(pc.is_null(label), f"missing_value:{dataset.label}")
    classes = pa.array(dataset.classes, type=pa.string())
    reasons.flag(pc.invert(pc.is_in(label, value_set=classes)), f"unknown_class:{dataset.label}")
    columns[dataset.label] = label

    for feature in dataset.features:
        raw = table.column(feature.name).chunk(0)
        if feature.type == "numeric":
            values, not_a_number = _parse_numeric(raw, missing)
            reasons.flag(not_a_number, f"not_a_number:{feature.name}")
            if feature.required:
                reasons.flag(pc.is_null(values), f"missing_value:{feature.name}")
            finite = pc.is_finite(values)
            reasons.flag(
                pc.and_(pc.is_valid(values), pc.invert(finite)), f"non_finite:{feature.name}"
            )
        else:
            values = _as_text(raw, missing)
            if feature.required:
                reasons.flag(pc.is_null(values), f"missing_value:{feature.name}")
            allowed = pa.array(feature.values, type=pa.string())
            unknown = pc.and_(pc.is_valid(values), pc.invert(pc.is_in(values, value_set=allowed)))
            reasons.flag(unknown, f"unknown_category:{feature.name}")
        columns[feature.name] = values

    good_rows = np.flatnonzero(~reasons.bad)
    bad_rows = np.flatnonzero(reasons.bad)
    good = pa.table(columns).take(good_rows)
    if dataset.id is None:
        row_numbers = good_rows + first_row
        synthetic = pc.binary_join_element_wise(
            pa.scalar(source_file), pc.cast(pa.array(row_numbers), pa.string()), ":"
        )
        good = good.add_column(0, SYNTHETIC_ID, synthetic)
    quarantine = _quarantine_rows(
        table, bad_rows, reasons.reasons_of(bad_rows), source_file, first_row
    )
    return ValidatedBatch(good=good, quarantine=quarantine)


def _quarantine_rows(
    table: pa.Table, rows: np.ndarray, reasons: pa.Array, source_file: str, first_row: int
) -> pa.Table:
    """The original values of `rows` as text, with where they came from and why they are out."""
    original = {name: pc.cast(table.column(name), pa.string()) for name in table.column_names}
    out = pa.table(original).take(rows)
    out = out.append_column(SOURCE_FILE, pa.array([source_file] * len(rows), type=pa.string()))
    out = out.append_column(SOURCE_ROW, pa.array(rows + first_row, type=pa.int64()))
    return out.append_column(REASON, reasons)
