"""Draft a benchmark spec from a data file, so a new dataset needs no hand-written YAML.

Writing a spec by hand means listing every column, its type, every category and which columns
have gaps; a typo there quarantines good rows. `infer_spec` reads the file once with pyarrow and
writes all of that down: the result saves as YAML and ingests without edits, and the user only
reviews it. Values are recorded as the text ingest compares against (missing-value tokens count
as missing, CSV cells stay text rather than being guessed as booleans). Columns that cannot be
features (free text, dates, all-missing) are put in `ignore_columns`, each with a line saying why
(`init-spec` prints them on stderr, not as Python warnings).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path, PurePosixPath

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
from pydantic import ValidationError

from components.common.errors import TandemError
from components.spec import (
    DEFAULT_MISSING_VALUES,
    DatasetSpec,
    Feature,
    Spec,
    Task,
    validation_message,
)
from components.spec.data_files import (
    FORMAT_SUFFIXES,
    PACKAGE_SCHEME,
    DataFile,
    format_of,
    locate,
    open_bytes,
)

MAX_SLICE_VALUES = 10
# A numeric label with at most this many distinct values (0/1, ratings 1-5) is read as classes.
MAX_NUMERIC_CLASSES = 20
_MISSING = pa.array(DEFAULT_MISSING_VALUES, type=pa.string())


def infer_spec(
    data: str | Path,
    label: str,
    id_column: str | None = None,
    name: str | None = None,
    max_categories: int = 50,
    task: Task | None = None,
    explain: Callable[[str], None] | None = None,
) -> Spec:
    """A spec for `data` (CSV or Parquet, named as `dataset.source` names it: a path, an
    `archive.zip#member` or `package://pkg/path`) predicting `label`; a TandemError says what to
    fix.

    The task is `task`, or inferred: a numeric label with more than MAX_NUMERIC_CLASSES distinct
    values is a regression target, any other label a classification one. `explain` receives one
    line per decision a reviewer should see: which task was chosen and why, and each column put
    in ignore_columns and why.
    """
    data, source = _locate(str(data))
    table, data_format = _read(data)
    _check_column(data, table, label, "label")
    say = explain or (lambda line: None)
    chosen, reason = _task(data, table.column(label), label, task, max_categories)
    say(f"task: {chosen} — {reason}")
    classes = None
    if chosen == "classification":
        classes = _sorted_text(_distinct(table.column(label)), table.column(label).type)
        if len(classes) < 2:
            raise TandemError(
                f"{data}: label '{label}' has {len(classes)} distinct value(s) {classes}; "
                "classification needs at least 2 classes. Pick another label column."
            )
    if id_column is not None:
        _check_column(data, table, id_column, "id")
        _check_unique(data, table.column(id_column), id_column)

    features: list[Feature] = []
    ignored: dict[str, str] = {}
    for column_name in table.column_names:
        if column_name in (label, id_column):
            continue
        feature = _feature(column_name, table.column(column_name), max_categories)
        if isinstance(feature, Feature):
            features.append(feature)
        else:
            ignored[column_name] = feature
    for column_name, why in ignored.items():
        say(f"column '{column_name}' goes to ignore_columns: {why}")
    try:
        return Spec(
            name=name if name is not None else _name_from(PurePosixPath(data.name).stem),
            dataset=DatasetSpec(
                source=source,
                format=data_format,
                task=chosen,
                label=label,
                classes=classes,
                id=id_column,
                features=features,
                ignore_columns=list(ignored),
                missing_values=list(DEFAULT_MISSING_VALUES),
            ),
        )
    except ValidationError as exc:
        raise TandemError(validation_message(data, exc)) from None


def _task(
    data: DataFile, column: pa.ChunkedArray, label: str, asked: Task | None, max_categories: int
) -> tuple[Task, str]:
    """The task for this label column, and the reason in words."""
    numeric = pa.types.is_integer(column.type) or pa.types.is_floating(column.type)
    distinct = len(_distinct(column))
    if asked == "regression" and not numeric:
        raise TandemError(
            f"{data}: --task regression needs a numeric label, but '{label}' holds "
            f"{column.type} values; pick a numeric label or --task classification"
        )
    if asked is not None:
        chosen: Task = asked
        reason = "as --task asked"
    elif numeric and distinct > MAX_NUMERIC_CLASSES:
        chosen, reason = (
            "regression",
            (
                f"label '{label}' is numeric with {distinct} distinct values (more than "
                f"{MAX_NUMERIC_CLASSES}); pass --task classification to treat them as classes"
            ),
        )
    else:
        kind = "numeric" if numeric else "text"
        chosen, reason = (
            "classification",
            (
                f"label '{label}' is {kind} with {distinct} distinct values"
                + ("; pass --task regression to predict it as a number" if numeric else "")
            ),
        )
    if chosen == "classification" and distinct > max_categories:
        hint = "" if not numeric else " or pass --task regression"
        raise TandemError(
            f"{data}: label '{label}' has {distinct} distinct values, too many classes (more "
            f"than {max_categories}); pick a categorical label{hint}"
        )
    return chosen, reason


def _locate(text: str) -> tuple[DataFile, str]:
    """The one file `text` names, and the source to write for it: a package:// text as given
    (it works on any machine with the package), anything else as an absolute path."""
    files = locate(text, Path.cwd(), "--data")
    if len(files) != 1:
        raise TandemError(f"--data: {text} names {len(files)} files; give one file")
    file = DataFile(files[0].path.resolve(), files[0].member)
    return file, text if text.startswith(PACKAGE_SCHEME) else str(file)


def _read(data: DataFile) -> tuple[pa.Table, str]:
    data_format = format_of(data.name)
    if data_format is None:
        raise TandemError(
            f"{data}: cannot tell the format from the suffix '{PurePosixPath(data.name).suffix}'"
            f"; rename it to end in one of {', '.join(FORMAT_SUFFIXES)}"
        )
    if data.member is not None and data_format != "csv":
        raise TandemError(f"{data}: archive members are read as CSV only; extract it first")
    try:
        with open_bytes(data) as stream:
            if data_format == "parquet":
                table = pq.read_table(stream)
            else:
                options = pacsv.ConvertOptions(
                    null_values=DEFAULT_MISSING_VALUES,
                    strings_can_be_null=True,
                    true_values=[],
                    false_values=[],
                )
                table = pacsv.read_csv(stream, convert_options=options)
    except (OSError, pa.ArrowException) as exc:
        raise TandemError(f"{data}: cannot read it as {data_format}: {exc}") from None
    repeated = sorted({c for c in table.column_names if table.column_names.count(c) > 1})
    if repeated:
        raise TandemError(f"{data}: column names repeat: {', '.join(repeated)}; rename them")
    return table, data_format


def _check_column(data: DataFile, table: pa.Table, column: str, role: str) -> None:
    if column not in table.column_names:
        raise TandemError(
            f"{data}: no column '{column}' to use as the {role}; "
            f"available columns: {', '.join(table.column_names)}"
        )


def _check_unique(data: DataFile, column: pa.ChunkedArray, column_name: str) -> None:
    counts = pc.value_counts(pc.drop_null(_text(column)))
    repeated = counts.field("values").filter(pc.greater(counts.field("counts"), 1))
    if len(repeated):
        examples = ", ".join(f"'{v}'" for v in repeated[:3].to_pylist())
        raise TandemError(
            f"{data}: id column '{column_name}' is not unique: {len(repeated)} value(s) occur "
            f"more than once (e.g. {examples}). Pick a unique column or leave the id out."
        )


def _feature(column_name: str, column: pa.ChunkedArray, max_categories: int) -> Feature | str:
    """The feature a column makes, or why it goes to ignore_columns."""
    if not column_name.strip():
        return "it has no name (typically the row numbers R or pandas wrote)"
    kind = column.type
    if column.null_count == len(column):
        return "every value is missing"
    if pa.types.is_integer(kind) or pa.types.is_floating(kind):
        return Feature(name=column_name, type="numeric", required=column.null_count == 0)
    if not (
        pa.types.is_string(kind)
        or pa.types.is_large_string(kind)
        or pa.types.is_boolean(kind)
        or pa.types.is_dictionary(kind)
    ):
        return f"its type {kind} is neither numeric nor categorical (e.g. a date)"
    distinct = _distinct(column)
    if len(distinct) == 0:
        return "every value is missing"
    if len(distinct) > max_categories:
        return (
            f"{len(distinct)} distinct values are too many for a categorical (max_categories="
            f"{max_categories}); free text, or an id column that was not declared?"
        )
    return Feature(
        name=column_name,
        type="categorical",
        required=_text(column).null_count == 0,
        values=_sorted_text(distinct, kind),
        slice=len(distinct) <= MAX_SLICE_VALUES,
    )


def _text(column: pa.ChunkedArray) -> pa.ChunkedArray:
    """The column as ingest compares it: text, with missing-value tokens as nulls."""
    text = pc.cast(column, pa.string())
    return pc.if_else(pc.is_in(text, value_set=_MISSING), pa.scalar(None, pa.string()), text)


def _distinct(column: pa.ChunkedArray) -> pa.Array:
    """The distinct present values of a column, as text."""
    return pc.unique(_text(column)).drop_null()


def _sorted_text(distinct: pa.Array, kind: pa.DataType) -> list[str]:
    """Numbers in numeric order (2 before 10), anything else as sorted text."""
    key = int if pa.types.is_integer(kind) else float if pa.types.is_floating(kind) else None
    return sorted(distinct.to_pylist(), key=key)


def _name_from(stem: str) -> str:
    name = re.sub(r"[^a-z0-9]+", "-", stem.lower()).strip("-")[:60].rstrip("-")
    return name or "dataset"
