"""The session's leak check: a process a test started and did not stop fails the run.

`pytest_sessionfinish` in tests/conftest.py calls `check_leftovers` after pytest has torn down
every fixture (session-scoped ones included), so a shared server whose fixture stops it is not a
leftover. Whatever still descends from the pytest process after a short grace is listed, one line
per process, killed (a failed run leaves nothing behind either), and the session's exit status
becomes non-zero.
"""

from __future__ import annotations

import contextlib

import psutil
import pytest

GRACE_S = 5.0


def leftovers(grace_s: float = GRACE_S) -> list[psutil.Process]:
    """The live descendants of this process that have not exited within `grace_s`."""
    try:
        children = psutil.Process().children(recursive=True)
    except psutil.Error:
        return []
    _, alive = psutil.wait_procs(children, timeout=grace_s)
    return [process for process in alive if _running(process)]


def _running(process: psutil.Process) -> bool:
    try:
        return process.is_running() and process.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def describe(process: psutil.Process) -> str:
    try:
        command = " ".join(process.cmdline()) or process.name()
    except psutil.Error:
        command = "(exited while listed)"
    return f"pid {process.pid}: {command}"


def check_leftovers(session: pytest.Session) -> None:
    alive = leftovers()
    if not alive:
        return
    lines = [
        f"leak check: {len(alive)} process(es) started by the tests outlived the session "
        "(stop each in the test that starts it; killed now):",
        *(f"  {describe(process)}" for process in alive),
    ]
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    for line in lines:
        if reporter is not None:
            reporter.write_line(line, red=True, bold=True)
        else:
            print(line)
    for process in alive:
        with contextlib.suppress(psutil.NoSuchProcess):
            process.kill()
    psutil.wait_procs(alive, timeout=GRACE_S)
    if session.exitstatus == pytest.ExitCode.OK:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
