"""The real local stack (PostgreSQL + `mlflow server`, proxied artifacts, --allowed-hosts),
started once through tandem.stack.local_stack for every test of this package that asks for it
(test_postgres_mlflow.py, test_mlflow_load.py, test_outages.py) and stopped after the package's
last test; and the package's one pipeline run on it, `run_through_outages` (outage_run.py),
which kills the MLflow server and starts another on the same port: the stack's server is
whichever stack.json names when the package ends.

Needs Debian's PostgreSQL server (`make setup` installs it); without it the tests fail, naming the
fix. Stopping it at the end checks nothing of it is left running.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import pytest

from components.common.errors import TandemError
from tandem.stack import local_postgres, local_stack
from tests.integration.outage_run import OutageRun, run_with_outages


def _leftover_processes(info: local_stack.StackInfo) -> list[str]:
    """Processes of the stack still alive: the MLflow server's process group (its uvicorn
    worker has no stack path in its command line) and the postmaster."""
    found = []
    for proc in Path("/proc").iterdir():
        try:
            stat = (proc / "stat").read_text()
            cmdline = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        process_group = int(stat.rsplit(")", 1)[1].split()[2])
        if process_group == info.mlflow_pid or str(info.state_dir) in cmdline:
            found.append(f"{proc.name}: {cmdline}")
    return found


@pytest.fixture(scope="package")
def stack():
    """A stack in a fresh directory under /tmp: short (the Unix socket path limit) and reachable
    by the `postgres` user, which pytest's root-private tmp_path is not."""
    try:
        local_postgres.find_bindir()
    except TandemError as exc:
        pytest.fail(f"{exc} (run `make setup`)")
    state_dir = Path(tempfile.mkdtemp(prefix="tandem-stack-"))
    try:
        info = local_stack.start(state_dir, mlflow_port=local_stack.free_port())
    except BaseException:
        local_stack.stop(state_dir)
        shutil.rmtree(state_dir, ignore_errors=True)
        raise
    yield info
    try:
        current = local_stack.status(state_dir).mlflow or info
        stopped = local_stack.stop(state_dir)
        left = _leftover_processes(current)
        postmaster_left = (state_dir / "postgres" / "data" / "postmaster.pid").exists()
    finally:
        shutil.rmtree(state_dir, ignore_errors=True)
    assert stopped == ["mlflow", "postgres"]
    assert not left, f"processes left after stop: {left}"
    assert not postmaster_left


@pytest.fixture(scope="package")
def run_through_outages(stack, tmp_path_factory) -> OutageRun:
    """The PyTorch pipeline run through three MLflow outages, made when a test first asks for it
    and read by the tests of test_outages.py and test_postgres_mlflow.py. It leaves nothing
    running, so PostgreSQL restarts in later tests do not touch it."""
    return run_with_outages(stack.state_dir, stack.tracking_uri, tmp_path_factory.mktemp("outages"))
