"""A real dask.distributed cluster on 127.0.0.1 for tests: a scheduler and worker processes of
this venv, with this checkout importable, stopped with everything they started.

The scheduler needs tandem's code as much as the workers do: dask.distributed unpickles the task
graph on the scheduler, and Beam's DaskRunner pickles tandem's DoFns into it.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from distributed import Client

import components
from tests.processes import log_tail, stop_group

DASK = Path(sys.executable).parent / "dask"
START_S = 60.0


def code_environment() -> dict[str, str]:
    """This process's environment with the tandem code it imports first on PYTHONPATH, for the
    cluster's processes and a `tandem` subprocess (a worktree wins over the editable install)."""
    root = str(Path(components.__file__).resolve().parents[1])
    paths = [root, *filter(None, os.environ.get("PYTHONPATH", "").split(os.pathsep))]
    return {**os.environ, "PYTHONPATH": os.pathsep.join(paths)}


def _start(command: list[str], log: Path) -> subprocess.Popen:
    with log.open("w") as output:
        return subprocess.Popen(
            command,
            env=code_environment(),
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def _scheduler_address(scheduler: subprocess.Popen, file: Path, log: Path) -> str:
    """host:port from the scheduler file, once the scheduler (on a free port) has written it."""
    deadline = time.monotonic() + START_S
    while time.monotonic() < deadline:
        if scheduler.poll() is not None:
            pytest.fail(f"dask scheduler exited with {scheduler.returncode}:\n{log_tail(log)}")
        with contextlib.suppress(FileNotFoundError, json.JSONDecodeError):
            return json.loads(file.read_text())["address"].removeprefix("tcp://")
        time.sleep(0.2)
    pytest.fail(f"dask scheduler wrote no {file} within {START_S:.0f} s:\n{log_tail(log)}")


def _wait_for_workers(address: str, workers: int, directory: Path) -> None:
    with Client(address, timeout=START_S) as client:
        try:
            client.wait_for_workers(workers, timeout=START_S)
        except TimeoutError:
            logs = "\n".join(log_tail(path, 1500) for path in sorted(directory.glob("*.log")))
            pytest.fail(f"{workers} dask workers did not register in {START_S:.0f} s:\n{logs}")


@contextlib.contextmanager
def dask_cluster(directory: Path, workers: int = 2) -> Iterator[str]:
    """A scheduler and `workers` one-thread workers (no nanny: one process each) on 127.0.0.1,
    all of them registered before it yields the scheduler's host:port (what Beam's
    --dask_client_address takes); all stopped when it exits. Their logs are in `directory`."""
    if not DASK.is_file():
        pytest.fail(f"no dask CLI beside the interpreter at {DASK}: run make setup")
    scheduler_file = directory / "scheduler.json"
    loopback = ["--host", "127.0.0.1", "--no-dashboard"]
    processes = []
    try:
        log = directory / "scheduler.log"
        command = [str(DASK), "scheduler", "--port", "0", "--scheduler-file", str(scheduler_file)]
        processes.append(_start([*command, *loopback], log))
        address = _scheduler_address(processes[0], scheduler_file, log)
        for index in range(workers):
            command = [str(DASK), "worker", address, "--nworkers", "1", "--nthreads", "1"]
            command += ["--no-nanny", "--local-directory", str(directory / f"worker-{index}")]
            processes.append(_start([*command, *loopback], directory / f"worker-{index}.log"))
        _wait_for_workers(address, workers, directory)
        yield address
    finally:
        for process in reversed(processes):
            stop_group(process)
