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
