"""A real penguins snapshot (ingested once per session) for the evaluation tests."""

from __future__ import annotations

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from components.common.spec import default_spec_path, load_spec
from components.ingest.run import IngestResult, run_ingest


@pytest.fixture(scope="session")
def penguins_snapshot(tmp_path_factory) -> IngestResult:
    output = tmp_path_factory.mktemp("penguins-snapshot")
    return run_ingest(load_spec(default_spec_path()), output, track=False)


@pytest.fixture(scope="session")
def test_split(penguins_snapshot) -> pa.Table:
    return pq.read_table(penguins_snapshot.snapshot_dir / "test")


@pytest.fixture(scope="session")
def manifest(penguins_snapshot) -> dict:
    return penguins_snapshot.manifest
