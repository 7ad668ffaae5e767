"""Which process owns an MLflow run, and closing the runs whose owner is provably dead.

A process killed outright (SIGKILL, the OOM killer, a lost machine) cannot end its runs: they stay
RUNNING forever. Every run tandem opens is tagged with its owner (host, pid and the process's
start time, which tells a reused pid apart); a later pipeline run on the same store marks a
RUNNING run KILLED, with the reason, when its owner ran on this host and that process is gone.
A run owned on another host, by a live process, or by nobody tandem knows of is left alone; a
run without owner tags whose parent's owner is dead is closed with it.
"""

from __future__ import annotations

import os
import socket

import psutil

TAG_OWNER_HOST = "tandem.owner.host"
TAG_OWNER_PID = "tandem.owner.pid"
TAG_OWNER_STARTED = "tandem.owner.started"
TAG_CLOSED_REASON = "tandem.closed_reason"
KILLED = "KILLED"
_PARENT_TAG = "mlflow.parentRunId"


def _started(pid: int) -> str:
    """The process's start time, as recorded (centiseconds are what /proc resolves)."""
    return f"{psutil.Process(pid).create_time():.2f}"


def owner_tags() -> dict[str, str]:
    """This process as the owner of the runs it opens."""
    pid = os.getpid()
    return {
        TAG_OWNER_HOST: socket.gethostname(),
        TAG_OWNER_PID: str(pid),
        TAG_OWNER_STARTED: _started(pid),
    }


def dead_owner(tags: dict[str, str]) -> str | None:
    """Why the run's owner is provably dead, or None (alive, elsewhere, or not known)."""
    host, pid, started = (
        tags.get(key) for key in (TAG_OWNER_HOST, TAG_OWNER_PID, TAG_OWNER_STARTED)
    )
    if host != socket.gethostname() or not (pid and pid.isdigit() and started):
        return None
    gone = f"its process {pid} on {host} is gone"
    try:
        process = psutil.Process(int(pid))
        same = _started(process.pid) == started
        if same and process.status() != psutil.STATUS_ZOMBIE:
            return None
    except psutil.NoSuchProcess:
        return gone
    except psutil.AccessDenied:
        return None
    return gone if same else f"{gone} (the pid now names another process)"


def _running_runs(client) -> list:
    from mlflow.entities import ViewType

    experiments = [e.experiment_id for e in client.search_experiments(view_type=ViewType.ALL)]
    runs, token = [], None
    while experiments:
        page = client.search_runs(
            experiments,
            filter_string="attributes.status = 'RUNNING'",
            run_view_type=ViewType.ALL,
            max_results=1000,
            page_token=token,
        )
        runs.extend(page)
        token = page.token
        if not token:
            break
    return runs


def close_run(client, run_id: str, reason: str) -> None:
    """End the run KILLED, saying why."""
    client.set_tag(run_id, TAG_CLOSED_REASON, reason)
    client.set_terminated(run_id, KILLED)


def close_orphan_runs(client, closing: str = "", mine: bool = False) -> list[str]:
    """Mark KILLED every RUNNING run on the store whose owner is provably dead, and every
    unowned RUNNING run under a parent closed here; returns their ids. `closing`: who does it,
    named in the reason. `mine`: this process's own RUNNING runs too (it is stopping)."""
    running = {run.info.run_id: run for run in _running_runs(client)}
    me = owner_tags()
    reasons = {}
    for run_id, run in running.items():
        dead = dead_owner(run.data.tags)
        if dead:
            reasons[run_id] = f"its owner died: {dead}"
        elif mine and all(run.data.tags.get(key) == value for key, value in me.items()):
            reasons[run_id] = "its process was interrupted"
    changed = True
    while changed:
        changed = False
        for run_id, run in running.items():
            parent = run.data.tags.get(_PARENT_TAG)
            owned = TAG_OWNER_PID in run.data.tags
            if run_id in reasons or owned or not parent:
                continue
            if parent in reasons:
                reasons[run_id] = f"its parent run {parent} was closed: {reasons[parent]}"
                changed = True
    suffix = f"; closed by {closing}" if closing else ""
    for run_id, reason in reasons.items():
        close_run(client, run_id, reason + suffix)
    return list(reasons)


def interrupted_reason(stop: KeyboardInterrupt) -> str:
    """The closing reason of a run its own process stopped: `tandem run` raises the interrupt
    naming the signal; a bare Ctrl-C says nothing."""
    return f"interrupted: {stop}" if str(stop) else "interrupted (Ctrl-C)"
