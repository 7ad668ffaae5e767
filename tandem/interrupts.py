"""Stopping `tandem run` / `tandem ingest` cleanly on SIGTERM or Ctrl-C (SIGINT).

Both signals become a KeyboardInterrupt naming the signal, so every `finally` on the way out
runs (a staging folder is removed; MLflow runs this process opened end KILLED with the reason,
`components.common.tracking`). Then the processes it started (kfp.local steps, torchrun agents,
Beam workers) are stopped, the runs those left RUNNING are closed, and the command exits with
128 + the signal number and one line. A SIGKILL cannot be caught: the next pipeline run on the
store closes what it left (`components.common.run_owner`).
"""

from __future__ import annotations

import signal
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import psutil

STOP_S = 10.0
SIGNALS = (signal.SIGINT, signal.SIGTERM)


def _raise(signum: int, frame) -> None:
    raise KeyboardInterrupt(f"stopped by {signal.Signals(signum).name}")


def stop_children(timeout_s: float = STOP_S) -> int:
    """SIGTERM every descendant of this process, then SIGKILL those still running after
    `timeout_s`; returns how many there were."""
    children = psutil.Process().children(recursive=True)
    for child in children:
        try:
            child.terminate()
        except psutil.NoSuchProcess:
            continue
    _, alive = psutil.wait_procs(children, timeout=timeout_s)
    for child in alive:
        try:
            child.kill()
        except psutil.NoSuchProcess:
            continue
    psutil.wait_procs(alive, timeout=timeout_s)
    return len(children)


def _signal_of(stop: KeyboardInterrupt) -> signal.Signals:
    name = str(stop).removeprefix("stopped by ")
    return signal.Signals[name] if name in signal.Signals.__members__ else signal.SIGINT


@contextmanager
def stopped_cleanly(
    close_runs: Callable[[], int], stopped: Callable[[str], None]
) -> Iterator[None]:
    """Run the block with SIGINT and SIGTERM raising KeyboardInterrupt. On one: stop the child
    processes, `close_runs()` (how many it closed), `stopped(line)` with one line to print, then
    exit 128 + the signal number."""
    previous = {signum: signal.signal(signum, _raise) for signum in SIGNALS}
    try:
        yield
    except KeyboardInterrupt as stop:
        for signum in SIGNALS:
            signal.signal(signum, signal.SIG_IGN)
        received = _signal_of(stop)
        children = stop_children()
        closed = close_runs()
        stopped(
            f"stopped by {received.name}: {children} child process(es) stopped, {closed} "
            "MLflow run(s) closed as KILLED; run the same command again to resume (finished "
            "steps are reused)"
        )
        raise SystemExit(128 + received) from None
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
