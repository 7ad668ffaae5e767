"""A real penguins snapshot (ingested once per session) for the TFX component tests."""

from __future__ import annotations

import pytest

from components.common.spec import default_spec_path, load_spec
from components.ingest.run import IngestResult, run_ingest


@pytest.fixture(scope="session")
def tfx_penguins_snapshot(tmp_path_factory) -> IngestResult:
    output = tmp_path_factory.mktemp("tfx-penguins-snapshot")
    return run_ingest(load_spec(default_spec_path()), output, track=False)
