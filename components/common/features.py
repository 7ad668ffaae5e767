"""Snapshot rows → the model input matrix, from the manifest's train-split statistics.

Both frameworks see the same inputs: numeric features as z-scores (mean and population std of the
train split; a missing value becomes 0, the mean), categorical features one-hot over the spec's
category list (missing or unseen: all zeros). The PyTorch trainer and predictor call `encode`; the
TensorFlow pipeline computes the same with tf.Transform, and a test holds the two equal.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc


def input_names(manifest: dict) -> list[str]:
    """Column names of the encoded matrix, in order."""
    statistics = manifest["statistics"]
    names = list(statistics["numeric"])
    for feature, info in statistics["categorical"].items():
        names += [f"{feature}={value}" for value in info["vocabulary"]]
    return names


def encode(table: pa.Table, manifest: dict) -> np.ndarray:
    """float32 [rows, len(input_names(manifest))] for a table of snapshot rows."""
    statistics = manifest["statistics"]
    blocks = []
    for feature, info in statistics["numeric"].items():
        values = pc.fill_null(table.column(feature), info["mean"]).to_numpy()
        std = info["std"] or 1.0
        blocks.append(((values - info["mean"]) / std)[:, None])
    for feature, info in statistics["categorical"].items():
        column = table.column(feature)
        index = pc.index_in(column, value_set=pa.array(info["vocabulary"], pa.string()))
        codes = pc.fill_null(index, -1).to_numpy()
        one_hot = np.zeros((table.num_rows, len(info["vocabulary"])))
        known = codes >= 0
        one_hot[np.flatnonzero(known), codes[known]] = 1.0
        blocks.append(one_hot)
    return np.hstack(blocks).astype(np.float32)


def label_indices(table: pa.Table, manifest: dict) -> np.ndarray:
    """int64 class index of every row's label (the snapshot holds only known classes)."""
    index = pc.index_in(table.column(manifest["label"]), value_set=pa.array(manifest["classes"]))
    return index.to_numpy().astype(np.int64)
