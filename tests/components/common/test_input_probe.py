"""The input probe picks the rows where encodings go wrong, and the audit sees a planted bug."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from components.common.features import encode
from components.common.input_probe import PROBE_ROWS, probe_document, probe_rows
from components.compare.fairness import same_normalisation
from tests.components.compare.runs import fair_pair

ROWS = 200
ZERO_ROW, LOW_ROW, HIGH_ROW, RARE_ROW, INCOMPLETE_ROW = 150, 120, 180, 170, 3


@pytest.fixture()
def snapshot(tmp_path) -> tuple[Path, dict]:
    """A test split whose zero, extremes and rare category all lie past the first PROBE_ROWS."""
    x = [1.0 + (row % 7) for row in range(ROWS)]
    x[ZERO_ROW], x[LOW_ROW], x[HIGH_ROW] = 0.0, -50.0, 90.0
    kind = ["common"] * ROWS
    kind[RARE_ROW] = "rare"
    count = list(range(10, 10 + ROWS))
    count[INCOMPLETE_ROW] = None
    (tmp_path / "test").mkdir()
    table = pa.table(
        {
            "row_id": [f"r{row}" for row in range(ROWS)],
            "x": x,
            "count": pa.array(count, pa.int64()),
            "kind": kind,
        }
    )
    pq.write_table(table, tmp_path / "test" / "part-0.parquet")
    manifest = {
        "id_column": "row_id",
        "statistics": {
            "numeric": {"x": {"mean": 4.0, "std": 2.0}, "count": {"mean": 100.0, "std": 50.0}},
            "categorical": {"kind": {"vocabulary": ["common", "rare"]}},
        },
    }
    return tmp_path, manifest


def test_the_probe_holds_zeros_extremes_and_every_category(snapshot):
    rows = probe_rows(*snapshot)
    ids = rows.column("row_id").to_pylist()

    for row in (ZERO_ROW, LOW_ROW, HIGH_ROW, RARE_ROW):
        assert f"r{row}" in ids
    assert f"r{INCOMPLETE_ROW}" not in ids
    assert ids[:PROBE_ROWS] == [f"r{row}" for row in range(PROBE_ROWS + 1) if row != 3]
    assert ids == sorted(ids, key=lambda name: int(name[1:]))
    # Past the first rows: x's zero, minimum and maximum, count's maximum, the rare category.
    assert rows.num_rows == PROBE_ROWS + 5


def test_the_audit_fails_zeros_encoded_as_missing(snapshot):
    """The bug tensorflow/tfx#6407 made on the TensorFlow side: a 0.0 arrives as a missing value
    (so it is imputed with the train mean). Planted in one framework's probe, the audit fails."""
    snapshot_dir, manifest = snapshot
    rows = probe_rows(snapshot_dir, manifest)
    zero_as_missing = rows.set_column(
        rows.column_names.index("x"),
        "x",
        pc.if_else(pc.equal(rows.column("x"), 0.0), pa.scalar(None, pa.float64()), rows["x"]),
    )
    probes = {
        "tensorflow": probe_document(rows, manifest, encode(zero_as_missing, manifest)),
        "pytorch": probe_document(rows, manifest, encode(rows, manifest)),
    }
    runs = fair_pair()

    item = same_normalisation(runs, lambda run_id: probes[_framework(runs, run_id)])

    assert not item.passed
    assert "largest difference 2 " in item.detail  # |(0 - 4) / 2 - 0|: the zero's z-score


def test_the_audit_passes_equal_encodings(snapshot):
    snapshot_dir, manifest = snapshot
    rows = probe_rows(snapshot_dir, manifest)
    probe = probe_document(rows, manifest, encode(rows, manifest))

    assert same_normalisation(fair_pair(), lambda run_id: probe).passed


def _framework(runs, train_run_id: str) -> str:
    (run,) = [run for run in runs if run.train.run_id == train_run_id]
    return run.framework
