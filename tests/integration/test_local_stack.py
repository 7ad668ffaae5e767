"""tandem.stack.local_stack and local_postgres without starting servers (the real stack:
test_postgres_mlflow.py)."""

from pathlib import Path

import pytest

from components.common.errors import TandemError
from tandem.stack import local_postgres, local_stack


def test_missing_postgres_binaries_name_the_fix(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(local_postgres, "DEBIAN_ROOT", tmp_path)
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(TandemError, match="make setup"):
        local_postgres.find_bindir()


def test_the_newest_major_version_wins(tmp_path: Path, monkeypatch) -> None:
    for major in ("9.6", "15", "17"):
        bindir = tmp_path / major / "bin"
        bindir.mkdir(parents=True)
        for name in ("initdb", "pg_ctl", "postgres", "psql"):
            (bindir / name).touch()
    monkeypatch.setattr(local_postgres, "DEBIAN_ROOT", tmp_path)
    monkeypatch.setenv("PATH", str(tmp_path))
    assert local_postgres.find_bindir() == tmp_path / "17" / "bin"


def test_the_backend_uri_carries_no_password(tmp_path: Path) -> None:
    info = local_stack.StackInfo(tmp_path, mlflow_port=5000, postgres_port=54321, mlflow_pid=1)
    assert info.tracking_uri == "http://127.0.0.1:5000"
    assert info.backend_store_uri == "postgresql://mlflow@127.0.0.1:54321/mlflow"


def test_a_stack_never_started_reports_stopped(tmp_path: Path) -> None:
    current = local_stack.status(tmp_path)
    assert (current.postgres_port, current.mlflow, current.running) == (None, None, False)
    assert local_stack.stop(tmp_path) == []
