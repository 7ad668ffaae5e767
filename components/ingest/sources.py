"""Reading the raw input: column checks before any work starts, then Arrow batches per file.

CSV is read with every column as text (so a quarantined row keeps its original values and a bad
cell becomes a reason, not a reader crash); Parquet keeps its types and validation casts them. A
CSV without a header row (`dataset.header: false`) has its columns named f0, f1, ... in order,
pyarrow's own generated names.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from components.common.errors import TandemError
from components.ingest.array_columns import is_list_type, value_columns
from components.spec import DatasetSpec, Feature
from components.spec.data_files import DataFile, open_bytes

_HEADER_SAMPLE_BYTES = 1 << 16


@dataclass(frozen=True)
class SourceFile:
    index: int
    file: DataFile
    format: Literal["csv", "parquet"]
    columns: tuple[str, ...]
    row_bytes: int = 1
    """CSV: the average length in bytes of the first lines, which sizes the read blocks."""
    rows: int | None = None
    """Parquet: the row count its metadata states."""
    schema: pa.Schema | None = None
    """Parquet: the column types its metadata states."""


def generated_names(count: int) -> list[str]:
    """The names of a header-less CSV's columns, as pyarrow's `autogenerate_column_names` gives."""
    return [f"f{index}" for index in range(count)]


def _csv_header(file: DataFile, header: bool) -> tuple[list[str], int]:
    """Column names and the average length in bytes of the first lines."""
    with open_bytes(file) as stream, io.TextIOWrapper(stream, "utf-8-sig", newline="") as text:
        sample = text.read(_HEADER_SAMPLE_BYTES)
    rows = list(csv.reader(sample.splitlines()))
    if not rows or not any(cell.strip() for cell in rows[0]):
        expected = "a header line and data rows" if header else "data rows"
        raise TandemError(f"{file}: the file is empty (expected {expected})")
    if header and len(rows) < 2:
        raise TandemError(f"{file}: the file has a header but no data rows")
    average = max(1, len(sample.encode()) // len(rows))
    return (rows[0] if header else generated_names(len(rows[0]))), average


def _parquet_metadata(file: DataFile) -> pq.FileMetaData:
    with open_bytes(file) as stream:
        try:
            return pq.read_metadata(stream)
        except (pa.ArrowInvalid, OSError) as exc:
            raise TandemError(f"{file}: not a readable Parquet file: {exc}") from None


def inspect_source(
    index: int, file: DataFile, fmt: Literal["csv", "parquet"], header: bool = True
) -> SourceFile:
    """Read a file's column names (and that it has rows) without reading its data; `header`:
    whether a CSV's first line names its columns."""
    if file.member is None and file.path.stat().st_size == 0:
        raise TandemError(f"{file}: the file is empty (0 bytes)")
    schema = None
    if fmt == "csv":
        try:
            columns, row_bytes = _csv_header(file, header)
        except UnicodeDecodeError as exc:
            raise TandemError(
                f"{file}: not UTF-8 text ({exc.reason}); save it as UTF-8 CSV"
            ) from None
        rows = None
    else:
        metadata = _parquet_metadata(file)
        if metadata.num_rows == 0:
            raise TandemError(f"{file}: the Parquet file has no rows")
        schema = metadata.schema.to_arrow_schema()
        columns, row_bytes, rows = schema.names, 1, metadata.num_rows
    duplicated = sorted({c for c in columns if columns.count(c) > 1})
    if duplicated:
        raise TandemError(f"{file}: column names appear twice: {', '.join(duplicated)}")
    return SourceFile(index, file, fmt, tuple(columns), row_bytes, rows, schema)


def _check_list_column(source: SourceFile, feature: Feature, spec_path: Path) -> None:
    """An array feature without `columns` reads the list-typed Parquet column of its name."""
    where = f"{source.file}: array feature '{feature.name}'"
    if source.schema is None:
        raise TandemError(
            f"{where} has no 'columns', so it reads a list column of its name, which a CSV file "
            f"cannot hold; set its columns (a glob like pixel_* or a list) in {spec_path}"
        )
    if feature.name not in source.schema.names:
        raise TandemError(f"{where}: the file has no list column '{feature.name}'")
    kind = source.schema.field(feature.name).type
    numbers = is_list_type(kind) and (
        pa.types.is_integer(kind.value_type) or pa.types.is_floating(kind.value_type)
    )
    if not numbers:
        raise TandemError(f"{where}: column '{feature.name}' is {kind}, not a list of numbers")
    if pa.types.is_fixed_size_list(kind) and kind.list_size != feature.size:
        raise TandemError(
            f"{where}: column '{feature.name}' holds {kind.list_size} values per row but shape "
            f"{feature.shape} needs {feature.size}"
        )


def array_source_columns(source: SourceFile, feature: Feature, dataset: DatasetSpec) -> list[str]:
    """The columns of `source` an array feature with `columns` reads: exactly `feature.size` of
    them, else a TandemError naming the file, the feature and both counts."""
    wanted = value_columns(feature, dataset, source.columns)
    found = [name for name in wanted if name in source.columns]
    if len(found) != feature.size:
        if isinstance(feature.columns, str):
            given = f"its columns '{feature.columns}' match {len(found)}"
        else:
            absent = [name for name in wanted if name not in source.columns]
            shown = ", ".join(absent[:5]) + (", ..." if len(absent) > 5 else "")
            given = f"only {len(found)} of its listed columns are in the file (not: {shown})"
        raise TandemError(
            f"{source.file}: array feature '{feature.name}' needs {feature.size} values (shape "
            f"{feature.shape}) but {given}"
        )
    return found


def check_columns(source: SourceFile, dataset: DatasetSpec, spec_path: Path) -> None:
    """Fail before any work when the file's columns do not match the spec."""
    present = set(source.columns)
    where = f"{source.file}"
    if dataset.label not in present:
        raise TandemError(
            f"{where}: the label column '{dataset.label}' (dataset.label in {spec_path}) is not in "
            f"the file; its columns are: {', '.join(source.columns)}"
        )
    if dataset.id is not None and dataset.id not in present:
        raise TandemError(
            f"{where}: the id column '{dataset.id}' (dataset.id in {spec_path}) is not in the file"
        )
    read_by_arrays = []
    for feature in (f for f in dataset.features if f.type == "array"):
        if feature.columns is None:
            _check_list_column(source, feature, spec_path)
        else:
            read_by_arrays += array_source_columns(source, feature, dataset)
    named = [f.name for f in dataset.features if f.type != "array" or f.columns is None]
    missing = [name for name in named if name not in present]
    if missing:
        raise TandemError(
            f"{where}: feature columns missing from the file: {', '.join(missing)} "
            f"(remove them from dataset.features in {spec_path}, or fix the file)"
        )
    known = {*named, *read_by_arrays, *dataset.key_columns, *dataset.ignore_columns}
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
    with open_bytes(source.file) as stream:
        if source.format == "csv":
            batches = pacsv.open_csv(
                stream,
                read_options=pacsv.ReadOptions(
                    block_size=max(1 << 20, batch_rows * source.row_bytes),
                    autogenerate_column_names=not dataset.header,
                ),
                convert_options=pacsv.ConvertOptions(
                    column_types={name: pa.string() for name in columns},
                    include_columns=columns,
                    null_values=dataset.missing_values,
                    strings_can_be_null=True,
                    quoted_strings_can_be_null=False,
                ),
            )
        else:
            batches = pq.ParquetFile(stream).iter_batches(batch_size=batch_rows, columns=columns)
        try:
            for batch in batches:
                if batch.num_rows:
                    yield first_row, pa.Table.from_batches([batch])
                    first_row += batch.num_rows
        except pa.ArrowInvalid as exc:
            raise TandemError(
                f"{source.file}: unreadable near data row {first_row}: {exc} "
                f"(check that every line has the same number of fields as the "
                f"{'header' if dataset.header else 'first line'})"
            ) from None
