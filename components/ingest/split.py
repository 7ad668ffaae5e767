"""Deterministic train/eval/test assignment from a hash of each row's key.

The key is the spec's id column, or the row's label and feature values when there is no id (so
exact duplicates land in the same split and cannot leak from train into test). The hash is pandas'
`hash_pandas_object` (SipHash with a fixed 16-byte key), salted with the spec's seed: the same row
gets the same split on every rerun, every runner and every machine.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa

from components.spec import DatasetSpec

SPLITS = ("train", "eval", "test")
_BUCKETS = 1 << 32


def _hash_key(seed: int) -> str:
    return f"tandem{seed:010d}"


def split_of_rows(table: pa.Table, dataset: DatasetSpec) -> np.ndarray:
    """Index into SPLITS for every row of a validated table.

    Ids are hashed as they are: pandas' default first factorizes a column so that repeated
    values are hashed once, which only costs time on unique ids (the hashes are the same).
    """
    if dataset.id:
        frame = pd.DataFrame({dataset.id: table.column(dataset.id).to_numpy()})
    else:
        frame = table.select([dataset.label, *(f.name for f in dataset.features)]).to_pandas()
    hashes = pd.util.hash_pandas_object(
        frame, index=False, hash_key=_hash_key(dataset.seed), categorize=dataset.id is None
    )
    position = (hashes.to_numpy(dtype=np.uint64) % np.uint64(_BUCKETS)) / _BUCKETS
    ratios = dataset.split
    edges = np.array([ratios.train, ratios.train + ratios.eval])
    return np.searchsorted(edges, position, side="right")
