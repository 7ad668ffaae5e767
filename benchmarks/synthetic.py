"""A seeded synthetic classification table (CSV) plus the tandem spec that describes it.

The table has an `id`, 16 features (12 float, 1 int, 3 categorical), and a 3-class label drawn
from a softmax over a fixed linear function of the features, so a model can learn it. A small,
exact number of rows carries one bad cell each (an empty required value, 'abc' in a numeric
column, or an unknown category), so every ingest run also exercises quarantine; the expected
count is `bad_row_count(rows)`.

Everything is vectorised numpy/pyarrow: a million rows take a few seconds to make.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from components.spec import DatasetSpec, Feature, Spec, load_spec, spec_to_yaml

# Bump when the generated data changes, so old files under benchmarks/data are not reused.
GENERATOR_VERSION = 1
BAD_ROW_FRACTION = 0.001
LABEL = "label"
CLASSES = ["class_a", "class_b", "class_c"]
ID = "id"
FLOAT_FEATURES = [f"x{i:02d}" for i in range(12)]
INT_FEATURE = "n_events"
CATEGORIES = {
    "color": ["red", "green", "blue"],
    "region": ["north", "south", "east", "west", "central"],
    "tier": ["bronze", "silver", "gold", "platinum", "diamond", "vip"],
}
UNKNOWN_CATEGORY = "zz_unknown"
NOT_A_NUMBER = "abc"


def bad_row_count(rows: int) -> int:
    """How many rows carry a bad cell (each exactly one, so each is quarantined once)."""
    return min(rows, max(3, round(rows * BAD_ROW_FRACTION)))


def _features_and_label(
    rng: np.random.Generator, rows: int
) -> tuple[dict[str, pa.Array], pa.Array]:
    columns: dict[str, pa.Array] = {}
    logits = np.zeros((rows, len(CLASSES)))
    # Standardised draws drive the label; the written values get per-column scale and offset.
    for name in FLOAT_FEATURES:
        z = rng.standard_normal(rows)
        logits += np.outer(z, rng.normal(0.0, 0.8, len(CLASSES)))
        scale, offset = rng.uniform(0.5, 50.0), rng.uniform(-100.0, 100.0)
        columns[name] = pa.array(np.round(offset + scale * z, 4))
    events = rng.poisson(3.0, rows)
    logits += np.outer((events - 3.0) / np.sqrt(3.0), rng.normal(0.0, 0.5, len(CLASSES)))
    columns[INT_FEATURE] = pa.array(events.astype(np.int64))
    for name, values in CATEGORIES.items():
        index = rng.integers(0, len(values), rows)
        logits += rng.normal(0.0, 0.7, (len(values), len(CLASSES)))[index]
        dictionary = pa.DictionaryArray.from_arrays(pa.array(index.astype(np.int32)), values)
        columns[name] = dictionary.cast(pa.string())
    # Gumbel-max: an exact draw from softmax(logits), row by row, without a Python loop.
    label_index = np.argmax(logits + rng.gumbel(size=logits.shape), axis=1)
    label = pa.DictionaryArray.from_arrays(pa.array(label_index.astype(np.int32)), CLASSES)
    return columns, label.cast(pa.string())


def _inject_bad_cells(rng: np.random.Generator, columns: dict[str, pa.Array], rows: int) -> None:
    """Give `bad_row_count(rows)` distinct rows one bad cell each, cycling over three kinds."""
    bad_rows = rng.choice(rows, size=bad_row_count(rows), replace=False)
    kinds = np.arange(len(bad_rows)) % 3
    required = [*FLOAT_FEATURES, INT_FEATURE, *CATEGORIES]
    changes: dict[str, list[tuple[np.ndarray, str | None]]] = {}
    for kind, pool, value in (
        (0, required, None),
        (1, FLOAT_FEATURES, NOT_A_NUMBER),
        (2, list(CATEGORIES), UNKNOWN_CATEGORY),
    ):
        chosen = bad_rows[kinds == kind]
        targets = rng.integers(0, len(pool), len(chosen))
        for i, name in enumerate(pool):
            changes.setdefault(name, []).append((chosen[targets == i], value))
    for name, edits in changes.items():
        column = columns[name]
        if any(value is not None for _, value in edits):
            column = pc.cast(column, pa.string())
        for where, value in edits:
            if len(where):
                mask = np.zeros(rows, dtype=bool)
                mask[where] = True
                column = pc.if_else(pa.array(mask), pa.scalar(value, column.type), column)
        columns[name] = column


def _table(rows: int, seed: int) -> pa.Table:
    rng = np.random.default_rng(seed)
    features, label = _features_and_label(rng, rows)
    _inject_bad_cells(rng, features, rows)
    ids = pc.binary_join_element_wise(
        "r", pc.cast(pa.array(np.arange(rows, dtype=np.int64)), pa.string()), ""
    )
    return pa.table({ID: ids, **features, LABEL: label})


def _spec(name: str, csv_path: Path) -> Spec:
    numeric = [*FLOAT_FEATURES, INT_FEATURE]
    features = [Feature(name=column, type="numeric", required=True) for column in numeric]
    features += [
        Feature(name=column, type="categorical", values=values, required=True)
        for column, values in CATEGORIES.items()
    ]
    dataset = DatasetSpec(
        source=str(csv_path.resolve()),
        format="csv",
        label=LABEL,
        classes=CLASSES,
        id=ID,
        features=features,
    )
    return Spec(name=name, dataset=dataset)


def without_id_check(spec_path: Path) -> Path:
    """The same dataset with its id column ignored: ingest then skips the repeated-id pass."""
    loaded = load_spec(spec_path)
    dataset = loaded.spec.dataset.model_copy(update={"id": None, "ignore_columns": [ID]})
    variant = spec_path.with_name(f"{spec_path.stem}-no-id.yaml")
    variant.write_text(spec_to_yaml(loaded.spec.model_copy(update={"dataset": dataset})))
    return variant


def make_dataset(rows: int, directory: Path, seed: int = 0) -> Path:
    """Write (unless present) the CSV and its spec under `directory`; return the spec path.

    The CSV is written under a temporary name and renamed, so an interrupted run never leaves
    a truncated file that a later run would take as complete. The spec is rewritten every time
    (it is tiny and holds the CSV's absolute path, which changes if the checkout moves).
    """
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    name = f"synthetic-{rows}-s{seed}-v{GENERATOR_VERSION}"
    csv_path = directory / f"{name}.csv"
    if not csv_path.is_file():
        partial = directory / f".{name}.{os.getpid()}.csv.partial"
        pacsv.write_csv(
            _table(rows, seed), partial, write_options=pacsv.WriteOptions(quoting_style="none")
        )
        partial.rename(csv_path)
    spec_path = directory / f"{name}.yaml"
    spec_path.write_text(spec_to_yaml(_spec(name, csv_path)), encoding="utf-8")
    return spec_path
