"""The images `make images` built for this session (tests/images/build.py)."""

from __future__ import annotations

import pytest

from tests.images.build import BUILD


@pytest.fixture(scope="session")
def built_images() -> dict[str, str]:
    """Image name (tfx, torch, mlflow) → the built reference; waits for the background build."""
    return BUILD.references()
