"""Finding repeated ids across the whole input without collecting it on one machine.

Each batch emits its (id, position) pairs partitioned by a hash of the id; each partition finds
its ids that occur more than once and the position of their first occurrence; validation then
quarantines every later occurrence as `duplicate_id`. Positions order rows by (file, row), so
"first" means the same thing on every runner.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

ID = "id"
POSITION = "position"
PARTITIONS = 16
_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_ROW_BITS = 40


def positions(file_index: int, first_row: int, num_rows: int) -> np.ndarray:
    return (np.int64(file_index) << _ROW_BITS) + first_row + np.arange(num_rows, dtype=np.int64)


def _partition_of(ids: pa.StringArray) -> np.ndarray:
    """A partition per id from its length and last 8 bytes, mixed by a multiplicative hash.

    Any deterministic function of the id keeps repeats together; this one reads the Arrow buffers
    directly (no Python string per row) and spreads sequential and random ids evenly.
    """
    offsets = np.frombuffer(
        ids.buffers()[1], dtype=np.int32, count=len(ids) + 1, offset=ids.offset * 4
    ).astype(np.int64)
    data = np.frombuffer(ids.buffers()[2] or b"\0", dtype=np.uint8)
    starts, ends = offsets[:-1], offsets[1:]
    window = ends[:, None] - 8 + np.arange(8)
    tail = np.where(window >= starts[:, None], data[np.clip(window, 0, len(data) - 1)], 0)
    key = (tail.astype(np.uint64) << (np.arange(8, dtype=np.uint64) * np.uint64(8))).sum(
        axis=1, dtype=np.uint64
    )
    key ^= (ends - starts).astype(np.uint64)
    return ((key * _GOLDEN) >> np.uint64(58)).astype(np.int64) % PARTITIONS


def partitioned_ids(ids: pa.Array, row_positions: np.ndarray) -> Iterator[tuple[int, pa.Table]]:
    """(partition, table of id/position) for the non-null ids of one batch."""
    present = pc.is_valid(ids).to_numpy(zero_copy_only=False)
    ids = pc.cast(ids, pa.string()).filter(present)
    if len(ids) == 0:
        return
    partition = _partition_of(ids)
    order = np.argsort(partition, kind="stable")
    table = pa.table({ID: ids, POSITION: row_positions[present]}).take(order)
    bounds = np.searchsorted(partition[order], np.arange(PARTITIONS + 1))
    for key in range(PARTITIONS):
        if bounds[key + 1] > bounds[key]:
            yield key, table.slice(bounds[key], bounds[key + 1] - bounds[key])


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
