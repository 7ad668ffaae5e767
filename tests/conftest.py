"""Fixtures shared across the suite: spec files on disk, one real penguins snapshot, a guard
against network use, the background image build (tests/images/build.py) and the session's leak
check (tests/leaks.py)."""

from __future__ import annotations

import importlib.resources
import ipaddress
import os
import socket
from collections.abc import Callable
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml

from components.ingest.run import IngestResult, run_ingest
from components.spec import default_spec_path, load_spec
from tests.images.build import BUILD, unavailable_reason
from tests.leaks import check_leftovers

PENGUINS_CSV = Path(str(importlib.resources.files("palmerpenguins") / "data/penguins.csv"))


def _image_tests(items: list[pytest.Item]) -> list[pytest.Item]:
    return [item for item in items if item.get_closest_marker("images")]


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Image tests run last, after the background build has had the rest of the suite's time;
    where the images cannot be built they are skipped with the reason."""
    images = _image_tests(items)
    reason = unavailable_reason() if images else None
    for item in images if reason else []:
        item.add_marker(pytest.mark.skip(reason=f"images: {reason}"))
    items[:] = [item for item in items if item not in images] + images


def pytest_collection_finish(session: pytest.Session) -> None:
    """Start `make images` in the background when image tests were selected and can run."""
    wanted = [item for item in _image_tests(session.items) if not item.get_closest_marker("skip")]
    if wanted and not session.config.option.collectonly:
        BUILD.start()


@pytest.hookimpl(trylast=True)
def pytest_sessionfinish(session: pytest.Session) -> None:
    """After pytest's own session finish, which tears down the session-scoped fixtures."""
    BUILD.stop()
    check_leftovers(session)


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


@pytest.fixture(scope="session")
def penguins_snapshot(tmp_path_factory) -> IngestResult:
    """The bundled penguins spec ingested once per session (untracked)."""
    output = tmp_path_factory.mktemp("penguins-snapshot")
    return run_ingest(load_spec(default_spec_path()), output, track=False)


@pytest.fixture(scope="session")
def test_split(penguins_snapshot) -> pa.Table:
    return pq.read_table(penguins_snapshot.snapshot_dir / "test")


@pytest.fixture(scope="session")
def manifest(penguins_snapshot) -> dict:
    return penguins_snapshot.manifest


@pytest.fixture(scope="session")
def tiny_models(penguins_snapshot, tmp_path_factory) -> dict[str, Path]:
    """Exported models on the penguins snapshot: a trained Keras and torch model, and an
    untrained torch model (a worse challenger)."""
    from tests.components.evaluate.tiny_models import train_tiny_keras, train_tiny_torch

    snapshot, manifest = penguins_snapshot.snapshot_dir, penguins_snapshot.manifest
    root = tmp_path_factory.mktemp("tiny-models")
    return {
        "tensorflow": train_tiny_keras(snapshot, manifest, root / "tf", steps=60),
        "pytorch": train_tiny_torch(snapshot, manifest, root / "torch", steps=60),
        "untrained": train_tiny_torch(snapshot, manifest, root / "untrained", steps=0, seed=5),
    }


def penguins_regression_document() -> dict:
    """Penguins as a regression: body mass (grams) from the other measurements, species included."""
    document = yaml.safe_load(default_spec_path().read_text())
    dataset = document["dataset"]
    species = {"name": "species", "type": "categorical", "values": dataset.pop("classes")}
    dataset.update(task="regression", label="body_mass_g")
    dataset["features"] = [
        *(f for f in dataset["features"] if f["name"] != "body_mass_g"),
        {**species, "slice": True},
    ]
    document.update(name="penguins-mass", evaluation={"thresholds": {"r2": 0.5}})
    return document


@pytest.fixture(scope="session")
def regression_spec_path(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("regression-spec") / "penguins-mass.yaml"
    path.write_text(yaml.safe_dump(penguins_regression_document(), sort_keys=False))
    return path


@pytest.fixture(scope="session")
def regression_snapshot(regression_spec_path, tmp_path_factory) -> IngestResult:
    """The penguins regression spec ingested once per session (untracked)."""
    output = tmp_path_factory.mktemp("regression-snapshot")
    return run_ingest(load_spec(regression_spec_path), output, track=False)


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
