"""Draft a benchmark spec from a data file, so a new dataset needs no hand-written YAML.

Writing a spec by hand means listing every column, its type, every category and which columns
have gaps; a typo there quarantines good rows. `infer_spec` reads the file once with pyarrow and
writes all of that down: the result saves as YAML and ingests without edits, and the user only
reviews it. Values are recorded as the text ingest compares against (missing-value tokens count
as missing, CSV cells stay text rather than being guessed as booleans). A CSV whose first row is
all numbers has no header (`header: false`). A free-text column becomes a text feature and a run of
numbered numeric columns an array feature (`infer_tensors`); either is the model's only input, so
the other columns are then ignored and the family is the one that reads it (transformer, cnn).
Columns that cannot be features (dates, all-missing, too many categories) are put in
`ignore_columns`. Every decision is a line saying why (`init-spec` prints them on stderr, not as
Python warnings).
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
    CNNModel,
    CNNParams,
    DatasetSpec,
    Feature,
    Spec,
    Task,
    TrainingSpec,
    TransformerModel,
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
from components.spec.infer_tensors import (
    MIN_POOLED_SIDE,
    Proposal,
    array_feature,
    cnn_channels,
    text_feature,
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
    line per decision a reviewer should see: a missing header, which task was chosen, a text or
    array feature and the family that reads it, each column put in ignore_columns, and why.
    """
    data, source = _locate(str(data))
    table, data_format, header = _read(data)
    say = explain or (lambda line: None)
    if not header:
        say(
            f"header: false — the first row ({_preview(table.slice(0, 1))}) holds only numbers, "
            f"so it is data, not column names; the columns are named f0..f{table.num_columns - 1}"
        )
    _check_column(data, table, label, "label")
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

    available = [c for c in table.column_names if c not in (label, id_column)]
    features, ignored, training = _inputs(table, available, max_categories, say)
    try:
        return Spec(
            name=name if name is not None else _name_from(data.name),
            dataset=DatasetSpec(
                source=source,
                format=data_format,
                task=chosen,
                label=label,
                classes=classes,
                id=id_column,
                features=features,
                ignore_columns=ignored,
                missing_values=list(DEFAULT_MISSING_VALUES),
                header=header,
            ),
            training=training,
        )
    except ValidationError as exc:
        raise TandemError(validation_message(data, exc)) from None


def _inputs(
    table: pa.Table, available: list[str], max_categories: int, say: Callable[[str], None]
) -> tuple[list[Feature], list[str], TrainingSpec]:
    """The features the `available` columns make, the columns to ignore (each said with its
    reason, in table order) and the training settings: with a text or array input, that input is
    the only feature and the family is the one that reads it."""
    features: list[Feature] = []
    texts: list[Proposal] = []
    ignored: dict[str, str] = {}
    for column_name in available:
        feature = _feature(column_name, table.column(column_name), max_categories)
        if isinstance(feature, Proposal):
            texts.append(feature)
        elif isinstance(feature, Feature):
            features.append(feature)
        else:
            ignored[column_name] = feature
    training = TrainingSpec()
    tensor = _tensor_input(table, features, texts, available)
    if tensor is not None:
        say(tensor.reason)
        alone = (
            f"the {tensor.feature.type} feature '{tensor.feature.name}' is the model's only input "
            "(text and array features are not combined with other features)"
        )
        for other in [*(f.name for f in features), *(t.feature.name for t in texts)]:
            if other not in tensor.columns:
                ignored[other] = alone
        features = [tensor.feature]
        training = _training_for(tensor.feature, say)
    in_table_order = [c for c in available if c in ignored]
    for column_name in in_table_order:
        say(f"column '{column_name}' goes to ignore_columns: {ignored[column_name]}")
    return features, in_table_order, training


def _tensor_input(
    table: pa.Table, features: list[Feature], texts: list[Proposal], available: list[str]
) -> Proposal | None:
    """The one text or array input, if the table has one: a run of numbered numeric columns
    first (the stricter test), else the text column with the longest values."""
    numeric = {f.name: table.column(f.name) for f in features if f.type == "numeric"}
    array = array_feature(numeric, available)
    if array is not None:
        return array
    return max(texts, key=lambda text: text.feature.max_length, default=None)


def _training_for(feature: Feature, say: Callable[[str], None]) -> TrainingSpec:
    """Training settings with the family that reads `feature`."""
    if feature.type == "text":
        say(f"family: transformer — it reads the text feature '{feature.name}'")
        return TrainingSpec(model=TransformerModel(family="transformer"))
    channels = cnn_channels(feature.shape)
    say(
        f"family: cnn with channels {channels} — it reads the array feature '{feature.name}' "
        f"(one convolution block per halving of its side, {min(feature.shape[:-1])}, while that "
        f"stays at least {MIN_POOLED_SIDE})"
    )
    return TrainingSpec(model=CNNModel(family="cnn", params=CNNParams(channels=channels)))


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


def _read(data: DataFile) -> tuple[pa.Table, str, bool]:
    """The table, its format, and whether it has a header row (a CSV whose first row is all
    numbers has none: it is read again with the columns named f0, f1, ... as ingest names them)."""
    data_format = format_of(data.name)
    if data_format is None:
        raise TandemError(
            f"{data}: cannot tell the format from the suffix '{PurePosixPath(data.name).suffix}'"
            f"; rename it to end in one of {', '.join(FORMAT_SUFFIXES)}"
        )
    if data.member is not None and data_format != "csv":
        raise TandemError(f"{data}: archive members are read as CSV only; extract it first")
    table = _read_table(data, data_format, header=True)
    header = data_format == "parquet" or not _first_row_is_data(table.column_names)
    if not header:
        table = _read_table(data, data_format, header=False)
    repeated = sorted({c for c in table.column_names if table.column_names.count(c) > 1})
    if repeated:
        raise TandemError(f"{data}: column names repeat: {', '.join(repeated)}; rename them")
    return table, data_format, header


def _read_table(data: DataFile, data_format: str, header: bool) -> pa.Table:
    try:
        with open_bytes(data) as stream:
            if data_format == "parquet":
                return pq.read_table(stream)
            options = pacsv.ConvertOptions(
                null_values=DEFAULT_MISSING_VALUES,
                strings_can_be_null=True,
                true_values=[],
                false_values=[],
            )
            reading = pacsv.ReadOptions(autogenerate_column_names=not header)
            return pacsv.read_csv(stream, read_options=reading, convert_options=options)
    except (OSError, pa.ArrowException) as exc:
        raise TandemError(f"{data}: cannot read it as {data_format}: {exc}") from None


def _first_row_is_data(names: list[str]) -> bool:
    """A first row of numbers only is data, unless it counts 0, 1, 2, ... (the names pandas
    writes for unnamed columns)."""
    if not names or not all(_is_number(name) for name in names):
        return False
    return [name.strip() for name in names] != [str(i) for i in range(len(names))]


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _preview(row: pa.Table) -> str:
    """A row's first values, for a message: `0, 0, 0, ...`."""
    values = [str(column[0].as_py()) for column in row.columns[:3]]
    return ", ".join(values) + (", ..." if row.num_columns > 3 else "")


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


def _feature(
    column_name: str, column: pa.ChunkedArray, max_categories: int
) -> Feature | Proposal | str:
    """The feature a column makes (a text feature as a Proposal, with its reason), or why it
    goes to ignore_columns."""
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
    if not pa.types.is_boolean(kind):
        text = text_feature(column_name, _text(column))
        if text is not None:
            return text
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


def _name_from(file_name: str) -> str:
    """The file name without its format suffix (`reviews.csv.gz` → `reviews`), as a spec name."""
    suffix = next((end for end in FORMAT_SUFFIXES if file_name.lower().endswith(end)), "")
    stem = file_name[: len(file_name) - len(suffix)] if suffix else PurePosixPath(file_name).stem
    name = re.sub(r"[^a-z0-9]+", "-", stem.lower()).strip("-")[:60].rstrip("-")
    return name or "dataset"
