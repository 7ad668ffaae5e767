"""Fixtures shared across the suite: spec files on disk and a guard against network use."""

from __future__ import annotations

import importlib.resources
import ipaddress
import os
import socket
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

from components.common.spec import default_spec_path

PENGUINS_CSV = Path(str(importlib.resources.files("palmerpenguins") / "data/penguins.csv"))


MLFLOW_ENVIRONMENT = (
    "MLFLOW_TRACKING_URI",
    "MLFLOW_RUN_ID",
    "MLFLOW_EXPERIMENT_ID",
    "MLFLOW_EXPERIMENT_NAME",
)


@pytest.fixture(autouse=True)
def _isolated_mlflow():
    """Each test uses the embedded store of its own output dir, never a configured server.

    Cleared before and after every test: MLflow's fluent API sets these variables itself (for
    subprocesses), and a module- or session-scoped fixture that runs between two tests must not
    see the previous test's store.
    """
    for name in MLFLOW_ENVIRONMENT:
        os.environ.pop(name, None)
    yield
    for name in MLFLOW_ENVIRONMENT:
        os.environ.pop(name, None)


@pytest.fixture
def penguins_document() -> dict:
    return yaml.safe_load(default_spec_path().read_text())


@pytest.fixture
def write_spec(tmp_path: Path) -> Callable[..., Path]:
    """Write a spec document (default: penguins) with the given dataset fields changed."""

    def write(document: dict | None = None, name: str = "spec.yaml", **dataset) -> Path:
        document = document or yaml.safe_load(default_spec_path().read_text())
        document["dataset"].update(dataset)
        path = tmp_path / name
        path.write_text(yaml.safe_dump(document, sort_keys=False))
        return path

    return write


@pytest.fixture
def no_network(monkeypatch: pytest.MonkeyPatch) -> list[tuple]:
    """Refuse every connection that leaves the machine; returns the attempts it refused."""
    refused: list[tuple] = []
    real_connect = socket.socket.connect

    def guarded(sock: socket.socket, address) -> None:
        if sock.family in (socket.AF_INET, socket.AF_INET6):
            host = address[0]
            try:
                local = ipaddress.ip_address(host).is_loopback
            except ValueError:
                local = host == "localhost"
            if not local:
                refused.append(address)
                raise ConnectionRefusedError(f"test forbids network access to {address}")
        real_connect(sock, address)

    monkeypatch.setattr(socket.socket, "connect", guarded)
    return refused
