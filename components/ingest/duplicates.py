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
FIRST_SEEN_SCHEMA = pa.schema([(ID, pa.string()), (POSITION, pa.int64())])
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
    starts, ends = offsets[:-1], offsets[1:]
    # Every byte position of the data, 8 zero bytes in front, read as the little-endian word
    # of the 8 bytes ending there (an unaligned strided view, no copy per id).
    data = np.concatenate(
        [np.zeros(8, np.uint8), np.frombuffer(ids.buffers()[2] or b"", dtype=np.uint8)]
    )
    words = np.ndarray(shape=(len(data) - 7,), dtype="<u8", buffer=data, strides=(1,))
    # Bytes before the id's start (ids shorter than 8) are shifted out; a shift of 64 is not
    # defined, so an empty id's key is set to 0 directly.
    dropped = np.uint64(8) * (np.uint64(8) - np.minimum(ends - starts, 8).astype(np.uint64))
    shift = np.minimum(dropped, np.uint64(63))
    key = np.where(dropped < 64, (words[ends] >> shift) << shift, np.uint64(0))
    key ^= (ends - starts).astype(np.uint64)
    return ((key * _GOLDEN) >> np.uint64(58)).astype(np.int64) % PARTITIONS


def partitioned_ids(ids: pa.Array, row_positions: np.ndarray) -> Iterator[tuple[int, pa.Table]]:
    """(partition, table of id/position) for the non-null ids of one batch."""
    ids = pc.cast(ids, pa.string())
    if ids.null_count:
        present = pc.is_valid(ids).to_numpy(zero_copy_only=False)
        ids, row_positions = ids.filter(present), row_positions[present]
    if len(ids) == 0:
        return
    partition = _partition_of(ids)
    # A stable sort of small integers is a radix sort in numpy.
    order = np.argsort(partition.astype(np.uint8), kind="stable")
    table = pa.table({ID: ids, POSITION: row_positions}).take(order)
    bounds = np.searchsorted(partition[order], np.arange(PARTITIONS + 1))
    for key in range(PARTITIONS):
        if bounds[key + 1] > bounds[key]:
            yield key, table.slice(bounds[key], bounds[key + 1] - bounds[key])


def repeated_ids(tables: Iterable[pa.Table]) -> pa.Table:
    """Ids occurring more than once, with the position of their first occurrence.

    Most inputs repeat no id, and counting distinct ids costs a third of grouping them.
    """
    table = pa.concat_tables(tables)
    if pc.count_distinct(table.column(ID)).as_py() == table.num_rows:
        return FIRST_SEEN_SCHEMA.empty_table()
    grouped = table.group_by(ID).aggregate([(POSITION, "count"), (POSITION, "min")])
    repeated = grouped.filter(pc.greater(grouped.column(f"{POSITION}_count"), 1))
    return pa.table(
        [repeated.column(ID), repeated.column(f"{POSITION}_min")], schema=FIRST_SEEN_SCHEMA
    )


def later_occurrences(ids: pa.Array, row_positions: np.ndarray, first_seen: pa.Table) -> np.ndarray:
    """True for rows whose id occurred earlier in the input."""
    if first_seen.num_rows == 0:
        return np.zeros(len(ids), dtype=bool)
    index = pc.index_in(pc.cast(ids, pa.string()), value_set=first_seen.column(ID))
    known = pc.is_valid(index).to_numpy(zero_copy_only=False)
    first = first_seen.column(POSITION).to_numpy()[pc.fill_null(index, 0).to_numpy()]
    return known & (first != row_positions)
