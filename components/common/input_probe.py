"""The input probe: evidence, in MLflow, that both frameworks normalise features identically.

Each trainer encodes the same test-split rows with the preprocessing it really trains with
(tf.Transform's graph on the TensorFlow side, `features.network_inputs` on the PyTorch side) and
logs the matrix as the train run's `input_probe.json`. The comparison's fairness audit holds the
two matrices equal within `PROBE_TOLERANCE` — for a text feature that means the same token ids.

The rows are chosen where encodings go wrong, not only where they usually go right: besides the
first PROBE_ROWS rows, every numeric feature's minimum, maximum and first 0 (a 0.0 once reached
TFX as a missing value, tensorflow/tfx#6407), and the first row of each category value (up to
PROBE_ROWS values a feature); for a text feature its longest and shortest text and the first
beyond ASCII. So the probe stays small at any split size, and a bug that only touches zeros or
extremes still fails the audit.
"""

from __future__ import annotations

import functools
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from components.common.features import input_names

PROBE_ARTIFACT = "input_probe.json"
PROBE_ROWS = 16
PROBE_TOLERANCE = 1e-4


def probe_rows(snapshot_dir: Path, manifest: dict) -> pa.Table:
    """The probe's test rows, every feature present, in the snapshot's order (see the module)."""
    statistics = manifest["statistics"]
    numeric = list(statistics["numeric"])
    categorical = list(statistics["categorical"])
    texts = list(statistics.get("text", {}))
    test = pq.read_table(Path(snapshot_dir) / "test")
    present = [pc.is_valid(test.column(name)) for name in [*numeric, *categorical, *texts]]
    complete = test.filter(functools.reduce(pc.and_, present)) if present else test
    chosen = set(range(min(PROBE_ROWS, complete.num_rows)))
    for name in numeric:
        chosen |= _numeric_landmarks(complete.column(name))
    for name in categorical:
        chosen |= _first_of_each_value(complete.column(name))
    for name in texts:
        chosen |= _text_landmarks(complete.column(name))
    return complete.take(pa.array(sorted(chosen), pa.int64()))


def _text_landmarks(column: pa.ChunkedArray) -> set[int]:
    """Rows of the longest and the shortest text (cut and padded the most) and the first with a
    character beyond ASCII (where normalisers part ways)."""
    if len(column) == 0:
        return set()
    lengths = pc.utf8_length(column)
    extremes = pc.min_max(lengths)
    rows = {pc.index(lengths, extremes["min"]).as_py(), pc.index(lengths, extremes["max"]).as_py()}
    beyond_ascii = pc.invert(pc.string_is_ascii(column))
    rows.add(pc.index(beyond_ascii, True).as_py())
    return {row for row in rows if row >= 0}


def _numeric_landmarks(column: pa.ChunkedArray) -> set[int]:
    """Rows of the column's minimum, maximum and first zero (those that exist)."""
    if len(column) == 0:
        return set()
    extremes = pc.min_max(column)
    values = [extremes["min"], extremes["max"], pa.scalar(0, column.type)]
    return {row for row in (pc.index(column, value).as_py() for value in values) if row >= 0}


def _first_of_each_value(column: pa.ChunkedArray) -> set[int]:
    """The first row of each distinct value, for the PROBE_ROWS values that come first."""
    rows = pa.table({"value": column, "row": pa.array(range(len(column)), pa.int64())})
    firsts = rows.group_by("value", use_threads=False).aggregate([("row", "min")])
    return set(sorted(firsts.column("row_min").to_pylist())[:PROBE_ROWS])


def probe_document(rows: pa.Table, manifest: dict, inputs: np.ndarray) -> dict:
    """The artifact: the input kind (tabular, text or array), row ids, input names and the
    encoded inputs, one flattened row each (an array's values, a text's token ids)."""
    statistics = manifest["statistics"]
    kind = next((k for k in ("text", "array") if statistics.get(k)), "tabular")
    return {
        "kind": kind,
        "ids": rows.column(manifest["id_column"]).to_pylist(),
        "names": input_names(manifest),
        "inputs": np.asarray(inputs, dtype=float).reshape(rows.num_rows, -1).tolist(),
    }
