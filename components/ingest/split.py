"""Deterministic train/eval/test assignment from a hash of each row's key.

The key is the spec's id column, or the row's label and feature values when there is no id (so
exact duplicates land in the same split and cannot leak from train into test). The hash is pandas'
`hash_pandas_object` (SipHash with a fixed 16-byte key), salted with the spec's seed: the same row
gets the same split on every rerun, every runner and every machine. An array feature enters the key
as one 64-bit digest of its values per row.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from components.spec import DatasetSpec

SPLITS = ("train", "eval", "test")
_BUCKETS = 1 << 32


def _hash_key(seed: int) -> str:
    return f"tandem{seed:010d}"


def _array_digest(column: pa.ChunkedArray) -> np.ndarray:
    """A uint64 per row from its list of values and their positions, without a Python object per
    row (pandas would hash the text of each row's numpy array)."""
    lists = column.combine_chunks()
    lengths = pc.fill_null(pc.list_value_length(lists), 0).to_numpy().astype(np.int64)
    values = pc.list_flatten(lists).to_numpy(zero_copy_only=False)
    starts = np.cumsum(lengths) - lengths
    positions = np.arange(len(values)) - np.repeat(starts, lengths)
    # Odd weights per position: the same values in another order give another digest.
    weighted = pd.util.hash_array(values) * (2 * positions.astype(np.uint64) + np.uint64(1))
    digest = np.zeros(len(lists), dtype=np.uint64)
    filled = lengths > 0
    if filled.any():
        digest[filled] = np.add.reduceat(weighted, starts[filled])
    return digest


def _content(table: pa.Table, dataset: DatasetSpec) -> pd.DataFrame:
    """The label and feature values that key a row when the spec has no id."""
    names = [dataset.label, *(f.name for f in dataset.features)]
    arrays = {f.name for f in dataset.features if f.type == "array"}
    if not arrays:
        return table.select(names).to_pandas()
    return pd.DataFrame(
        {
            name: _array_digest(table.column(name))
            if name in arrays
            else table.column(name).to_pandas()
            for name in names
        }
    )


def split_of_rows(table: pa.Table, dataset: DatasetSpec) -> np.ndarray:
    """Index into SPLITS for every row of a validated table.

    Ids are hashed as they are: pandas' default first factorizes a column so that repeated
    values are hashed once, which only costs time on unique ids (the hashes are the same).
    """
    if dataset.id:
        frame = pd.DataFrame({dataset.id: table.column(dataset.id).to_numpy()})
    else:
        frame = _content(table, dataset)
    hashes = pd.util.hash_pandas_object(
        frame, index=False, hash_key=_hash_key(dataset.seed), categorize=dataset.id is None
    )
    position = (hashes.to_numpy(dtype=np.uint64) % np.uint64(_BUCKETS)) / _BUCKETS
    ratios = dataset.split
    edges = np.array([ratios.train, ratios.train + ratios.eval])
    return np.searchsorted(edges, position, side="right")
