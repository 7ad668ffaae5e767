"""Merged per-batch statistics equal the statistics of the whole column."""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from components.ingest.statistics import finalize_statistics, merge_statistics, partial_statistics
from components.ingest.summary import empty_summary, merge_summaries, summary_part
from components.spec import DatasetSpec

DATASET = DatasetSpec(
    source="unused.csv",
    label="kind",
    classes=["a", "b"],
    features=[
        {"name": "x", "type": "numeric", "required": False},
        {"name": "c", "type": "categorical", "values": ["u", "v", "w"]},
    ],
)


def test_merging_batches_matches_the_whole_column():
    rng = np.random.default_rng(3)
    x = rng.normal(50, 7, size=1000)
    c = rng.choice(["u", "v"], size=1000)
    x_with_gaps = pa.array(x, mask=np.arange(1000) % 97 == 0)
    table = pa.table({"x": x_with_gaps, "c": c})
    partial = {}
    for start in range(0, 1000, 128):
        partial = merge_statistics(partial, partial_statistics(table.slice(start, 128), DATASET))
    stats = finalize_statistics(partial, DATASET)
    present = x[np.arange(1000) % 97 != 0]
    assert stats["numeric"]["x"]["count"] == len(present)
    assert stats["numeric"]["x"]["missing"] == 1000 - len(present)
    assert abs(stats["numeric"]["x"]["mean"] - present.mean()) < 1e-9
    assert abs(stats["numeric"]["x"]["std"] - present.std(ddof=0)) < 1e-9
    assert stats["numeric"]["x"]["min"] == present.min()
    categorical = stats["categorical"]["c"]
    assert categorical["vocabulary"] == ["u", "v", "w"]
    assert categorical["counts"] == {"u": int((c == "u").sum()), "v": int((c == "v").sum()), "w": 0}


def test_summaries_add_counts_and_keep_the_first_examples():
    left = summary_part(
        read=10, quarantined_by_reason={"r1": 2}, quarantine_examples=[(0, 9, "f", "r1")]
    )
    right = summary_part(
        read=5,
        quarantined_by_reason={"r1": 1, "r2": 1},
        quarantine_examples=[(0, 3, "f", "r2")],
        splits={"train": 4},
    )
    merged = merge_summaries(merge_summaries(empty_summary(), left), right)
    assert merged["read"] == 15
    assert merged["quarantined_by_reason"] == {"r1": 3, "r2": 1}
    assert merged["quarantine_examples"] == [(0, 3, "f", "r2"), (0, 9, "f", "r1")]
    assert merged["splits"] == {"train": 4}
