"""A penguins snapshot and a 3-epoch spec, shared by the PyTorch trainer tests."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from components.spec import default_spec_path

EPOCHS = 3


@pytest.fixture(scope="session")
def tiny_spec(tmp_path_factory) -> Path:
    """The penguins spec trained for EPOCHS epochs."""
    document = yaml.safe_load(default_spec_path().read_text())
    document["training"]["epochs"] = EPOCHS
    path = tmp_path_factory.mktemp("torch-spec") / "penguins-tiny.yaml"
    path.write_text(yaml.safe_dump(document, sort_keys=False))
    return path
