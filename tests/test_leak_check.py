"""The session's leak check (tests/leaks.py) fails a run that leaves a process behind, and passes
one whose session fixture stops its server at teardown: real pytest runs in a temp dir."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parents[1]

CONFTEST = """
import subprocess

import pytest

from tests.conftest import pytest_sessionfinish


@pytest.fixture(scope="session")
def shared_server():
    server = subprocess.Popen(["sleep", "120"])
    yield server
    server.terminate()
    server.wait()
"""

TESTS = """
import subprocess


def test_uses_the_shared_server(shared_server):
    assert shared_server.poll() is None


def test_may_leak(tmp_path):
    if {leak}:
        leaked = subprocess.Popen(["sleep", "300"])
        (tmp_path.parent.parent / "leaked.pid").write_text(str(leaked.pid))
"""


def _run_session(tmp_path: Path, leak: bool) -> subprocess.CompletedProcess[str]:
    (tmp_path / "conftest.py").write_text(CONFTEST)
    (tmp_path / "test_session.py").write_text(TESTS.format(leak=leak))
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "--basetemp", "base", "-q"],
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_a_process_left_running_fails_the_session_and_is_killed(tmp_path):
    pid_file = tmp_path / "leaked.pid"
    try:
        result = _run_session(tmp_path, leak=True)
        pid = int(pid_file.read_text())
        output = result.stdout + result.stderr
        assert result.returncode == 1, output
        assert "2 passed" in output
        assert "leak check: 1 process(es) started by the tests outlived the session" in output
        assert f"pid {pid}: sleep 300" in output
        assert "sleep 120" not in output
        assert not psutil.pid_exists(pid)
    finally:
        if pid_file.is_file():
            with contextlib.suppress(ProcessLookupError):
                os.kill(int(pid_file.read_text()), signal.SIGKILL)


def test_a_session_that_stops_its_processes_passes(tmp_path):
    result = _run_session(tmp_path, leak=False)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "leak check" not in result.stdout + result.stderr
