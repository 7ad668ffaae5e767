"""Faults `tandem run` survives, made for real on real `tandem` processes: a SIGKILL during the
TFX Trainer (the rerun resumes from ML Metadata's cache and closes the dead run's MLflow runs),
SIGTERM and Ctrl-C (children stopped, runs closed KILLED), and two commands on one output folder
(the second refuses; two folders run side by side)."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import NamedTuple

import psutil
import pytest

from components.common.frameworks import TENSORFLOW
from components.common.run_owner import TAG_CLOSED_REASON, TAG_OWNER_PID
from components.common.tracking import SQLITE_FILE
from components.ingest.snapshot import SNAPSHOTS_DIR, current_snapshot_link, require_manifest
from pipelines.tfx.run_record import latest_run
from tandem.output_lock import LOCK_FILE
from tests.pipelines.test_tfx_pipeline import NODES
from tests.tandem.conftest import TANDEM

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

RUN_S = 600
ONE_SEED = ["run", "--seeds", "1", "--no-compare"]
TF_RUN = [*ONE_SEED, "--framework", "tensorflow"]
PT_RUN = [*ONE_SEED, "--framework", "pytorch"]
# The TFX nodes upstream of the Trainer: a rerun on the same snapshot must not execute them again.
UPSTREAM = tuple(NODES[: NODES.index("Trainer")])
# Evaluate metrics that depend on the machine's timing, not the model.
NOT_QUALITY = ("latency.", "model_size_bytes", "peak_rss_mb", "start_rss_mb", "step_s")


class Run(NamedTuple):
    run_id: str
    name: str
    status: str
    tags: dict[str, str]


def _query(output_dir: Path, sql: str, *args) -> list[tuple]:
    """Read the embedded MLflow store read-only (a writer may hold it: retry while locked)."""
    uri = f"file:{Path(output_dir) / SQLITE_FILE}?mode=ro"
    for _ in range(50):
        try:
            with contextlib.closing(sqlite3.connect(uri, uri=True)) as db:
                return db.execute(sql, args).fetchall()
        except sqlite3.OperationalError:
            time.sleep(0.1)
    raise AssertionError(f"{output_dir / SQLITE_FILE} stayed unreadable")


def _runs(output_dir: Path) -> list[Run]:
    if not (Path(output_dir) / SQLITE_FILE).exists():
        return []
    rows = _query(output_dir, "select run_uuid, name, status from runs")
    tags: dict[str, dict[str, str]] = {}
    for run_id, key, value in _query(output_dir, "select run_uuid, key, value from tags"):
        tags.setdefault(run_id, {})[key] = value
    return [Run(run_id, name, status, tags.get(run_id, {})) for run_id, name, status in rows]


def _evaluate_metrics(output_dir: Path, framework: str, seed: int) -> dict[str, float]:
    """The quality metrics of the evaluate run under the framework's FINISHED parent run of
    `seed` (the newest one)."""
    runs = _runs(output_dir)
    parents = [
        run
        for run in runs
        if run.status == "FINISHED"
        and run.tags.get("tandem.framework") == framework
        and run.tags.get("tandem.seed") == str(seed)
    ]
    assert parents, f"no finished {framework} seed {seed} run in {output_dir}"
    parent = parents[-1].run_id
    (evaluate,) = [
        run.run_id
        for run in runs
        if run.tags.get("mlflow.parentRunId") == parent and run.name == "evaluate"
    ]
    rows = _query(output_dir, "select key, value from latest_metrics where run_uuid = ?", evaluate)
    return {key: value for key, value in rows if not key.startswith(NOT_QUALITY)}


def _start(args: list[str], output_dir: Path, log: Path) -> subprocess.Popen:
    with open(log, "w") as stream:
        return subprocess.Popen(
            [str(TANDEM), *args, "--output-dir", str(output_dir)],
            stdout=stream,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def _tandem(args: list[str], output_dir: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(TANDEM), *args, "--output-dir", str(output_dir)],
        capture_output=True,
        text=True,
        timeout=RUN_S,
    )


def _wait_for_step(process: subprocess.Popen, output_dir: Path, step: str, log: Path) -> None:
    """Until the step's MLflow run is RUNNING (the step has started its work)."""
    deadline = time.monotonic() + RUN_S
    while not any(r.name == step and r.status == "RUNNING" for r in _runs(output_dir)):
        assert process.poll() is None, f"tandem exited before {step}: {log.read_text()[-3000:]}"
        assert time.monotonic() < deadline, f"{step} never started"
        time.sleep(0.2)


def _kill_group(process: subprocess.Popen) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    process.wait()


class Killed(NamedTuple):
    output_dir: Path
    pid: int
    left_running: list[Run]
    rerun: subprocess.CompletedProcess
    rerun_s: float


@pytest.fixture(scope="module")
def killed(tmp_path_factory) -> Killed:
    """`tandem run --framework tensorflow --seeds 1` SIGKILLed (its whole process group) two
    seconds into the TFX Trainer, then the same command again on the same folder."""
    output_dir = tmp_path_factory.mktemp("killed-tf")
    log = output_dir.parent / "killed-tf.log"
    process = _start(TF_RUN, output_dir, log)
    try:
        _wait_for_step(process, output_dir, "train", log)
        time.sleep(2)
    finally:
        _kill_group(process)
    assert process.returncode == -signal.SIGKILL
    left_running = [run for run in _runs(output_dir) if run.status == "RUNNING"]
    started = time.monotonic()
    rerun = _tandem(TF_RUN, output_dir)
    return Killed(output_dir, process.pid, left_running, rerun, time.monotonic() - started)


def test_a_sigkilled_tensorflow_run_resumes_from_the_cache_to_the_same_metrics(killed, make_run):
    assert killed.rerun.returncode == 0, killed.rerun.stderr[-3000:]
    metadata = TENSORFLOW.local_root(killed.output_dir, "penguins") / "metadata.db"
    nodes = latest_run(metadata, TENSORFLOW.pipeline_name("penguins"))
    assert {node: nodes[node].state for node in UPSTREAM} == dict.fromkeys(UPSTREAM, "CACHED")
    assert nodes["Trainer"].state == "COMPLETE"
    # make_run trained the same spec and seed 0 uninterrupted (training is deterministic).
    resumed = _evaluate_metrics(killed.output_dir, "tensorflow", 0)
    assert "accuracy" in resumed
    assert resumed == _evaluate_metrics(make_run.output_dir, "tensorflow", 0)


def test_the_killed_runs_are_closed_killed_by_the_next_run(killed):
    # The bug this closes: the SIGKILLed process's parent run and its train run stay RUNNING.
    assert sorted(run.name.split("-")[0] for run in killed.left_running) == ["tensorflow", "train"]
    after = {run.run_id: run for run in _runs(killed.output_dir)}
    for orphan in killed.left_running:
        closed = after[orphan.run_id]
        assert closed.status == "KILLED"
        assert f"its process {killed.pid} on" in closed.tags[TAG_CLOSED_REASON]
    assert [run.name for run in after.values() if run.status == "RUNNING"] == []


def _folder_state(folder: Path) -> dict[str, tuple[int, int]]:
    return {
        str(path.relative_to(folder)): (path.stat().st_size, path.stat().st_mtime_ns)
        for path in folder.rglob("*")
        if path.is_file()
    }


def _hold_lock(output_dir: Path) -> subprocess.Popen:
    """A process that holds the folder's lock (as a running `tandem run` does) until killed."""
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, time\n"
            "from tandem.output_lock import output_lock\n"
            "with output_lock(sys.argv[1], 'run'):\n"
            "    print('held', flush=True)\n"
            "    time.sleep(600)\n",
            str(output_dir),
        ],
        stdout=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    assert holder.stdout.readline() == "held\n"
    return holder


def _refusal(completed: subprocess.CompletedProcess, output_dir: Path, pid: int) -> str:
    assert completed.returncode == 2, completed.stderr[-3000:]
    (line,) = completed.stderr.strip().splitlines()
    assert line.startswith(f"error: {output_dir} is in use by pid {pid} ")
    assert "another --output-dir" in line
    return line


def test_a_held_folder_refuses_run_and_ingest_and_the_next_one_after_a_sigkill_proceeds(killed):
    output_dir = killed.output_dir
    holder = _hold_lock(output_dir)
    try:
        before = _folder_state(output_dir)
        _refusal(_tandem(TF_RUN, output_dir), output_dir, holder.pid)
        _refusal(_tandem(["ingest"], output_dir), output_dir, holder.pid)
        assert _folder_state(output_dir) == before
    finally:
        _kill_group(holder)

    ingested = _tandem(["ingest"], output_dir)

    assert ingested.returncode == 0, ingested.stderr[-3000:]
    assert "hit (reused the published snapshot)" in ingested.stdout
    # Nothing is corrupted: the snapshot, ML Metadata, MLflow's runs and the registry.
    snapshot = current_snapshot_link(output_dir, "penguins").resolve()
    assert snapshot.name.endswith(require_manifest(snapshot)["fingerprint"][:12])
    metadata = TENSORFLOW.local_root(output_dir, "penguins") / "metadata.db"
    assert latest_run(metadata, TENSORFLOW.pipeline_name("penguins"))["Pusher"].state == "COMPLETE"
    assert {run.status for run in _runs(output_dir)} == {"FINISHED", "KILLED"}
    versions = _query(output_dir, "select name, version, status from model_versions")
    assert versions == [("penguins-tensorflow", 1, "READY")]


@pytest.fixture(scope="module")
def pytorch_folder(tmp_path_factory) -> Path:
    """One folder for the PyTorch runs that are stopped, then resumed beside another folder."""
    return tmp_path_factory.mktemp("stopped-pytorch")


@pytest.mark.parametrize("stop", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_a_stopped_run_stops_its_children_and_closes_its_runs(pytorch_folder, stop):
    log = pytorch_folder.parent / f"stopped-{stop.name}.log"
    process = _start(PT_RUN, pytorch_folder, log)
    try:
        _wait_for_step(process, pytorch_folder, "train", log)
        children = psutil.Process(process.pid).children(recursive=True)
        assert children, "the kfp.local train step runs in child processes"
        os.kill(process.pid, stop)
        process.wait(timeout=60)
    finally:
        _kill_group(process)

    assert process.returncode == 128 + stop
    last = log.read_text().strip().splitlines()[-1]
    assert last.startswith(f"error: stopped by {stop.name}: {len(children)} child process(es)")
    assert [child.pid for child in children if child.is_running()] == []
    runs = _runs(pytorch_folder)
    assert [run.name for run in runs if run.status == "RUNNING"] == []
    # This run's parent (its owner is the stopped process) and the train step's run it nests.
    (parent,) = [
        run
        for run in runs
        if run.tags.get(TAG_OWNER_PID) == str(process.pid) and run.name.startswith("pytorch-")
    ]
    assert parent.status == "KILLED"
    assert parent.tags[TAG_CLOSED_REASON] == f"interrupted: stopped by {stop.name}"
    (train,) = [
        run
        for run in runs
        if run.name == "train" and run.tags.get("mlflow.parentRunId") == parent.run_id
    ]
    assert train.status == "KILLED"
    assert "its owner died" in train.tags[TAG_CLOSED_REASON]


def test_two_folders_run_side_by_side_while_a_racing_ingest_is_refused(
    pytorch_folder, tmp_path_factory
):
    """Two runs at once on two folders both finish (the first one after its interrupted runs
    above); an ingest on a folder a run holds is refused, naming the run."""
    other = tmp_path_factory.mktemp("side-by-side")
    logs = [folder.parent / f"{folder.name}.log" for folder in (pytorch_folder, other)]
    runs = [
        _start(PT_RUN, folder, log)
        for folder, log in zip((pytorch_folder, other), logs, strict=True)
    ]
    try:
        lock = pytorch_folder / LOCK_FILE
        deadline = time.monotonic() + 60
        while json.loads(lock.read_text() or "{}").get("pid") != runs[0].pid:
            assert time.monotonic() < deadline, "the run never took its folder's lock"
            time.sleep(0.1)
        line = _refusal(_tandem(["ingest"], pytorch_folder), pytorch_folder, runs[0].pid)
        assert "`tandem run " in line
        for process in runs:
            process.wait(timeout=RUN_S)
    finally:
        for process in runs:
            _kill_group(process)

    for process, folder, log in zip(runs, (pytorch_folder, other), logs, strict=True):
        assert process.returncode == 0, log.read_text()[-3000:]
        assert [run.name for run in _runs(folder) if run.status == "RUNNING"] == []
        versions = _query(folder, "select name, version, status from model_versions")
        assert versions == [("penguins-pytorch", 1, "READY")]
        (snapshot,) = [p for p in (folder / SNAPSHOTS_DIR).iterdir() if not p.is_symlink()]
        assert snapshot.name.endswith(require_manifest(snapshot)["fingerprint"][:12])
    assert _evaluate_metrics(pytorch_folder, "pytorch", 0) == _evaluate_metrics(other, "pytorch", 0)
