"""The input probe: evidence, in MLflow, that both frameworks normalise features identically.

Each trainer encodes the same few test-split rows with the preprocessing it really trains with
(tf.Transform's graph on the TensorFlow side, `features.encode` on the PyTorch side) and logs the
matrix as the train run's `input_probe.json`. The comparison's fairness audit holds the two
matrices equal within `PROBE_TOLERANCE`.
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
    """The first PROBE_ROWS test rows with every feature present (in the snapshot's order)."""
    features = [*manifest["statistics"]["numeric"], *manifest["statistics"]["categorical"]]
    test = pq.read_table(Path(snapshot_dir) / "test")
    present = [pc.is_valid(test.column(name)) for name in features]
    return test.filter(functools.reduce(pc.and_, present)).slice(0, PROBE_ROWS)


def probe_document(rows: pa.Table, manifest: dict, inputs: np.ndarray) -> dict:
    """The artifact: row ids, input column names and the encoded matrix."""
    return {
        "ids": rows.column(manifest["id_column"]).to_pylist(),
        "names": input_names(manifest),
        "inputs": np.asarray(inputs, dtype=float).tolist(),
    }
