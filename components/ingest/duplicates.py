"""Finding repeated ids across the whole input without collecting it on one machine.

Each batch emits its (id, position) pairs partitioned by a hash of the id; each partition finds
its ids that occur more than once and the position of their first occurrence; validation then
quarantines every later occurrence as `duplicate_id`. Positions order rows by (file, row), so
"first" means the same thing on every runner.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

ID = "id"
POSITION = "position"
PARTITIONS = 16
_ROW_BITS = 40


def positions(file_index: int, first_row: int, num_rows: int) -> np.ndarray:
    return (np.int64(file_index) << _ROW_BITS) + first_row + np.arange(num_rows, dtype=np.int64)


def partitioned_ids(ids: pa.Array, row_positions: np.ndarray) -> Iterator[tuple[int, pa.Table]]:
    """(partition, table of id/position) for the non-null ids of one batch."""
    ids = pc.cast(ids, pa.string())
    present = pc.is_valid(ids).to_numpy(zero_copy_only=False)
    table = pa.table({ID: ids.filter(present), POSITION: row_positions[present]})
    if table.num_rows == 0:
        return
    hashes = pd.util.hash_array(table.column(ID).to_numpy(zero_copy_only=False))
    partition = (hashes % PARTITIONS).astype(np.int64)
    for key in np.unique(partition):
        yield int(key), table.filter(pa.array(partition == key))


def repeated_ids(tables: Iterable[pa.Table]) -> pa.Table:
    """Ids occurring more than once, with the position of their first occurrence."""
    table = pa.concat_tables(tables)
    grouped = table.group_by(ID).aggregate([(POSITION, "count"), (POSITION, "min")])
    repeated = grouped.filter(pc.greater(grouped.column(f"{POSITION}_count"), 1))
    return pa.table({ID: repeated.column(ID), POSITION: repeated.column(f"{POSITION}_min")})


def later_occurrences(ids: pa.Array, row_positions: np.ndarray, first_seen: pa.Table) -> np.ndarray:
    """True for rows whose id occurred earlier in the input."""
    if first_seen.num_rows == 0:
        return np.zeros(len(ids), dtype=bool)
    index = pc.index_in(pc.cast(ids, pa.string()), value_set=first_seen.column(ID))
    known = pc.is_valid(index).to_numpy(zero_copy_only=False)
    first = first_seen.column(POSITION).to_numpy()[pc.fill_null(index, 0).to_numpy()]
    return known & (first != row_positions)
