"""Closing orphan MLflow runs: which owners are provably dead, on a real store with real
processes (a finished one, a live one, this test's own)."""

from __future__ import annotations

import subprocess
import sys
import time

import psutil
import pytest
from mlflow.tracking import MlflowClient

from components.common.run_owner import (
    TAG_CLOSED_REASON,
    TAG_OWNER_HOST,
    TAG_OWNER_PID,
    TAG_OWNER_STARTED,
    close_orphan_runs,
    owner_tags,
)
from components.common.tracking import pipeline_run, step_run, tracking_uri


def _owner(pid: int, started: str, host: str | None = None) -> dict[str, str]:
    return {**owner_tags(), TAG_OWNER_PID: str(pid), TAG_OWNER_STARTED: started} | (
        {TAG_OWNER_HOST: host} if host else {}
    )


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    """One embedded store for the module (creating one costs seconds): the test that asserts
    exactly which runs it closes leaves runs RUNNING, the others leave none of a dead owner."""
    return tmp_path_factory.mktemp("owners")


@pytest.fixture
def dead_process() -> tuple[int, str]:
    """A real process that ran and exited: its pid and start time as an owner records them."""
    process = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    started = f"{psutil.Process(process.pid).create_time():.2f}"
    process.kill()
    process.wait()
    return process.pid, started


def test_only_runs_of_provably_dead_owners_are_closed(store, dead_process):
    client = MlflowClient(tracking_uri(store))
    experiment = client.create_experiment("owners", artifact_location=store.as_uri())
    pid, started = dead_process
    live = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    # Killed and not yet reaped by its parent: a zombie holds its pid but runs nothing.
    zombie = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        zombie_started = f"{psutil.Process(zombie.pid).create_time():.2f}"
        zombie.kill()
        while psutil.Process(zombie.pid).status() != psutil.STATUS_ZOMBIE:
            time.sleep(0.01)
        live_started = f"{psutil.Process(live.pid).create_time():.2f}"
        runs = {
            "dead": _owner(pid, started),
            "elsewhere": _owner(pid, started, host="another-host"),
            "live": _owner(live.pid, live_started),
            "reused pid": _owner(live.pid, "12.00"),
            "zombie": _owner(zombie.pid, zombie_started),
            "mine": owner_tags(),
            "unowned": {},
        }
        ids = {
            name: client.create_run(experiment, tags=tags).info.run_id
            for name, tags in runs.items()
        }
        child = client.create_run(experiment, tags={"mlflow.parentRunId": ids["dead"]}).info.run_id
        orphan_of_live = client.create_run(
            experiment, tags={"mlflow.parentRunId": ids["live"]}
        ).info.run_id

        closed = close_orphan_runs(client, closing="the test")

        assert sorted(closed) == sorted([ids["dead"], ids["reused pid"], ids["zombie"], child])
        for name, run_id in ids.items():
            run = client.get_run(run_id)
            expected = "KILLED" if name in ("dead", "reused pid", "zombie") else "RUNNING"
            assert run.info.status == expected, name
        reason = client.get_run(ids["dead"]).data.tags[TAG_CLOSED_REASON]
        assert f"its process {pid} on" in reason and reason.endswith("closed by the test")
        assert "another process" in client.get_run(ids["reused pid"]).data.tags[TAG_CLOSED_REASON]
        assert client.get_run(child).info.status == "KILLED"
        assert ids["dead"] in client.get_run(child).data.tags[TAG_CLOSED_REASON]
        assert client.get_run(orphan_of_live).info.status == "RUNNING"
    finally:
        for process in (live, zombie):
            process.kill()
            process.wait()


def test_a_pipeline_run_closes_the_orphans_then_owns_its_runs(store, dead_process):
    pid, started = dead_process
    with step_run("train", "penguins", store) as step:
        orphan = step.info.run_id
    client = MlflowClient(tracking_uri(store))
    client.update_run(orphan, "RUNNING")
    for key, value in _owner(pid, started).items():
        client.set_tag(orphan, key, value)

    with (
        pipeline_run("penguins", "pytorch", store) as parent,
        step_run("evaluate", "penguins", store) as nested,
    ):
        pass

    assert client.get_run(orphan).info.status == "KILLED"
    for run_id in (parent.info.run_id, nested.info.run_id):
        run = client.get_run(run_id)
        assert run.info.status == "FINISHED"
        assert {key: run.data.tags[key] for key in owner_tags()} == owner_tags()


def test_an_interrupted_pipeline_run_ends_killed_with_the_reason(store):
    with (
        pytest.raises(KeyboardInterrupt),
        pipeline_run("penguins", "pytorch", store) as parent,
        step_run("train", "penguins", store) as step,
    ):
        raise KeyboardInterrupt("stopped by SIGTERM")
    client = MlflowClient(tracking_uri(store))
    for run_id in (parent.info.run_id, step.info.run_id):
        run = client.get_run(run_id)
        assert run.info.status == "KILLED"
        assert run.data.tags[TAG_CLOSED_REASON] == "interrupted: stopped by SIGTERM"
