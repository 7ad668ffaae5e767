"""Snapshot rows → the network's input, from the manifest's train-split statistics.

Both frameworks see the same inputs. A tabular dataset becomes one float32 matrix: numeric
features as z-scores (mean and population std of the train split; a missing value becomes 0, the
mean), categorical features one-hot over the spec's category list (missing or unseen: all zeros).
An array feature becomes float32 [rows, *shape], every value z-scored with the feature's one train
mean and std. A text feature becomes int64 token ids [rows, max_length] from the tokenizer ingest
trained (`components.common.text_tokens`). The PyTorch trainer and predictor call `network_inputs`;
the TensorFlow pipeline computes the same with tf.Transform, and tests and the fairness audit hold
the two equal.
"""

from __future__ import annotations

import functools
import math
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from components.common.errors import TandemError


def input_names(manifest: dict) -> list[str]:
    """Names of the network input's values, flattened in row-major order: a tabular matrix's
    columns, an array's `name[i]`, a text feature's token positions `name[i]`."""
    statistics = manifest["statistics"]
    for feature, info in statistics.get("array", {}).items():
        return [f"{feature}[{i}]" for i in range(math.prod(info["shape"]))]
    for feature, info in statistics.get("text", {}).items():
        return [f"{feature}[{i}]" for i in range(info["max_length"])]
    names = list(statistics["numeric"])
    for feature, info in statistics["categorical"].items():
        names += [f"{feature}={value}" for value in info["vocabulary"]]
    return names


def network_inputs(table: pa.Table, manifest: dict, tokenizer_root: Path) -> np.ndarray:
    """The network's input for snapshot rows (see the module): a text feature's tokenizer is
    read from `tokenizer_root / manifest["statistics"]["text"][feature]["tokenizer"]` (the
    snapshot directory when training, the model directory when serving)."""
    statistics = manifest["statistics"]
    for feature, info in statistics.get("array", {}).items():
        return array_values(table.column(feature), feature, info)
    for feature, info in statistics.get("text", {}).items():
        from components.common.text_tokens import token_ids

        tokenizer = _tokenizer(Path(tokenizer_root) / info["tokenizer"])
        texts = pc.fill_null(table.column(feature).cast(pa.string()), "").to_pylist()
        return token_ids(tokenizer, texts, info["max_length"])
    return encode(table, manifest)


@functools.lru_cache(maxsize=4)
def _tokenizer(directory: Path):
    from components.common.text_tokens import load_tokenizer

    return load_tokenizer(directory)


def array_values(column: pa.ChunkedArray, feature: str, info: dict) -> np.ndarray:
    """float32 [rows, *shape]: each row's values z-scored with the train mean and std."""
    shape = info["shape"]
    values = list_values(column, feature, math.prod(shape))
    std = np.float32(info["std"] or 1.0)
    return ((values - np.float32(info["mean"])) / std).reshape(len(values), *shape)


def list_values(column: pa.ChunkedArray | pa.Array, feature: str, size: int) -> np.ndarray:
    """float32 [rows, size] of a list column; a TandemError names the first row that is missing
    or holds another number of values."""
    lists = column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column
    lengths = pc.fill_null(pc.list_value_length(lists), -1).to_numpy(zero_copy_only=False)
    wrong = np.flatnonzero(lengths != size)
    if wrong.size:
        found = "missing" if lengths[wrong[0]] < 0 else f"{lengths[wrong[0]]} values"
        raise TandemError(
            f"array feature '{feature}': row {wrong[0]} is {found}; each row needs {size} values"
        )
    values = pc.list_flatten(lists).to_numpy(zero_copy_only=False)
    return values.astype(np.float32).reshape(len(lists), size)


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
