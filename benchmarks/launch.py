"""Run a Python module in a fresh process on this interpreter (the patched TFX runtime one),
alone or under torchrun, and fail with the tail of its stderr rather than a bare exit code; stop
a process group (a server the benchmarks or the tests started)."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

STDERR_TAIL = 3000
# How long a stopped process group has to exit after SIGTERM before it gets SIGKILL.
STOP_S = 10.0


def run_module(
    module: str, args: Sequence[str], processes: int = 1, timeout_s: float = 1800
) -> float:
    """Run `python -m module args` (under torchrun when processes > 1); its wall seconds."""
    launcher = [sys.executable, "-m"]
    if processes > 1:
        launcher = [
            sys.executable,
            "-m",
            "torch.distributed.run",
            "--standalone",
            f"--nproc_per_node={processes}",
            "-m",
        ]
    # torchrun's children and Beam's workers find the venv's executables on PATH.
    environment = {**os.environ, "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"}
    started = time.perf_counter()
    # A session of its own: on a timeout the whole tree (torchrun and its ranks) is killed.
    process = subprocess.Popen(
        [*launcher, module, *map(str, args)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=environment,
        start_new_session=True,
    )
    try:
        _, stderr = process.communicate(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.communicate()
        raise RuntimeError(f"python -m {module} did not finish in {timeout_s:.0f} s") from None
    wall = time.perf_counter() - started
    if process.returncode != 0:
        raise RuntimeError(
            f"python -m {module} exited {process.returncode}:\n{stderr[-STDERR_TAIL:]}"
        )
    return wall


def stop_group(process: subprocess.Popen, timeout_s: float = STOP_S) -> None:
    """SIGTERM to the process's own group (it was started with `start_new_session=True`), then
    SIGKILL to the group when it still runs after `timeout_s`."""
    for stop_signal in (signal.SIGTERM, signal.SIGKILL):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, stop_signal)
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=timeout_s)
            return
