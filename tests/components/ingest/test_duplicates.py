"""Repeated ids: found across batches and files; the first occurrence stays."""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from components.ingest import duplicates


def test_later_occurrences_across_batches_and_files():
    batches = [
        (0, 1, pa.array(["a", "b", "c"])),
        (0, 4, pa.array(["d", "a", None])),
        (1, 1, pa.array(["b", "e", "e"])),
    ]
    parts: dict[int, list[pa.Table]] = {}
    for file_index, first_row, ids in batches:
        positions = duplicates.positions(file_index, first_row, len(ids))
        for key, table in duplicates.partitioned_ids(ids, positions):
            parts.setdefault(key, []).append(table)
    first_seen = pa.concat_tables(duplicates.repeated_ids(tables) for tables in parts.values())
    assert sorted(first_seen[duplicates.ID].to_pylist()) == ["a", "b", "e"]
    flagged = [
        duplicates.later_occurrences(
            ids, duplicates.positions(file_index, first_row, len(ids)), first_seen
        ).tolist()
        for file_index, first_row, ids in batches
    ]
    assert flagged == [[False, False, False], [False, True, False], [True, False, True]]


def test_partition_depends_on_the_id_only():
    ids = pa.array([f"customer-{i:06d}" for i in range(4000)])
    whole = duplicates._partition_of(ids)
    assert (duplicates._partition_of(ids.slice(1000, 500)) == whole[1000:1500]).all()
    counts = np.bincount(whole, minlength=duplicates.PARTITIONS)
    assert counts.min() > 0.5 * counts.mean()


def _reference_partition(value: str) -> int:
    """The documented key, one id at a time: its length XOR its last 8 bytes (little-endian)."""
    data = value.encode()
    key = int.from_bytes(b"\0" * (8 - min(len(data), 8)) + data[-8:], "little") ^ len(data)
    mixed = (key * int(duplicates._GOLDEN)) % (1 << 64)
    return (mixed >> 58) % duplicates.PARTITIONS


def test_partition_of_short_long_empty_and_non_ascii_ids():
    values = ["", "a", "ab", "abcdefg", "abcdefgh", "abcdefghi", "é", "ßüñ-ïd-0042", "r999999"]
    ids = pa.array(values)
    assert duplicates._partition_of(ids).tolist() == [_reference_partition(v) for v in values]
    assert duplicates._partition_of(ids.slice(3)).tolist() == [
        _reference_partition(v) for v in values[3:]
    ]


def test_no_repeated_ids_gives_an_empty_table_of_the_same_schema():
    table = pa.table({duplicates.ID: ["a", "b"], duplicates.POSITION: pa.array([1, 2], pa.int64())})
    none = duplicates.repeated_ids([table])
    some = duplicates.repeated_ids([table, table])
    assert none.num_rows == 0
    assert none.schema == some.schema
    assert some.sort_by(duplicates.ID).to_pylist() == [
        {duplicates.ID: "a", duplicates.POSITION: 1},
        {duplicates.ID: "b", duplicates.POSITION: 2},
    ]
