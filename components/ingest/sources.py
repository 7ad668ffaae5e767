"""Reading the raw input: column checks before any work starts, then Arrow batches per file.

CSV is read with every column as text (so a quarantined row keeps its original values and a bad
cell becomes a reason, not a reader crash); Parquet keeps its types and validation casts them.
"""

from __future__ import annotations

import csv
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from components.common.errors import TandemError
from components.spec import DatasetSpec

_HEADER_SAMPLE_BYTES = 1 << 16


@dataclass(frozen=True)
class SourceFile:
    index: int
    path: Path
    format: Literal["csv", "parquet"]
    columns: tuple[str, ...]


def _csv_header(path: Path) -> tuple[list[str], int]:
    """Column names and the average length in bytes of the first lines."""
    with path.open("r", encoding="utf-8-sig", newline="") as handle:
        sample = handle.read(_HEADER_SAMPLE_BYTES)
    rows = list(csv.reader(sample.splitlines()))
    if not rows or not any(cell.strip() for cell in rows[0]):
        raise TandemError(f"{path}: the file is empty (expected a header line and data rows)")
    if len(rows) < 2:
        raise TandemError(f"{path}: the file has a header but no data rows")
    average = max(1, len(sample.encode()) // len(rows))
    return rows[0], average


def inspect_source(index: int, path: Path, fmt: Literal["csv", "parquet"]) -> SourceFile:
    """Read a file's column names (and that it has rows) without reading its data."""
    if path.stat().st_size == 0:
        raise TandemError(f"{path}: the file is empty (0 bytes)")
    if fmt == "csv":
        try:
            columns, _ = _csv_header(path)
        except UnicodeDecodeError as exc:
            raise TandemError(
                f"{path}: not UTF-8 text ({exc.reason}); save it as UTF-8 CSV"
            ) from None
    else:
        try:
            metadata = pq.read_metadata(path)
        except (pa.ArrowInvalid, OSError) as exc:
            raise TandemError(f"{path}: not a readable Parquet file: {exc}") from None
        if metadata.num_rows == 0:
            raise TandemError(f"{path}: the Parquet file has no rows")
        columns = metadata.schema.to_arrow_schema().names
    duplicated = sorted({c for c in columns if columns.count(c) > 1})
    if duplicated:
        raise TandemError(f"{path}: column names appear twice: {', '.join(duplicated)}")
    return SourceFile(index=index, path=path, format=fmt, columns=tuple(columns))


def check_columns(source: SourceFile, dataset: DatasetSpec, spec_path: Path) -> None:
    """Fail before any work when the file's columns do not match the spec."""
    present = set(source.columns)
    where = f"{source.path}"
    if dataset.label not in present:
        raise TandemError(
            f"{where}: the label column '{dataset.label}' (dataset.label in {spec_path}) is not in "
            f"the file; its columns are: {', '.join(source.columns)}"
        )
    if dataset.id is not None and dataset.id not in present:
        raise TandemError(
            f"{where}: the id column '{dataset.id}' (dataset.id in {spec_path}) is not in the file"
        )
    missing = [f.name for f in dataset.features if f.name not in present]
    if missing:
        raise TandemError(
            f"{where}: feature columns missing from the file: {', '.join(missing)} "
            f"(remove them from dataset.features in {spec_path}, or fix the file)"
        )
    known = {*(f.name for f in dataset.features), *dataset.key_columns, *dataset.ignore_columns}
    unknown = [c for c in source.columns if c not in known]
    if unknown:
        raise TandemError(
            f"{where}: columns not declared in the spec: {', '.join(unknown)} "
            f"(add each to dataset.features or dataset.ignore_columns in {spec_path})"
        )


def read_batches(
    source: SourceFile, dataset: DatasetSpec, batch_rows: int, columns: list[str] | None = None
) -> Iterator[tuple[int, pa.Table]]:
    """Yield (1-based number of the batch's first data row, batch) through the whole file."""
    columns = columns or list(source.columns)
    first_row = 1
    if source.format == "csv":
        _, average_row_bytes = _csv_header(source.path)
        reader = pacsv.open_csv(
            source.path,
            read_options=pacsv.ReadOptions(block_size=max(1 << 20, batch_rows * average_row_bytes)),
            convert_options=pacsv.ConvertOptions(
                column_types={name: pa.string() for name in columns},
                include_columns=columns,
                null_values=dataset.missing_values,
                strings_can_be_null=True,
                quoted_strings_can_be_null=False,
            ),
        )
        batches = iter(reader)
    else:
        batches = pq.ParquetFile(source.path).iter_batches(batch_size=batch_rows, columns=columns)
    try:
        for batch in batches:
            if batch.num_rows:
                yield first_row, pa.Table.from_batches([batch])
                first_row += batch.num_rows
    except pa.ArrowInvalid as exc:
        raise TandemError(
            f"{source.path}: unreadable near data row {first_row}: {exc} "
            "(check that every line has the same number of fields as the header)"
        ) from None
