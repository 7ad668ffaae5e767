"""The package's one pipeline run: a real `tandem run --framework pytorch --seeds 1 --no-compare`
against the package's stack (tests/integration/conftest.py) on a spec of its own, with the MLflow
server's process group really frozen (SIGSTOP/SIGCONT) as the train step starts, killed (SIGKILL)
mid-training and started again on the same port and backend, then frozen while the model is
registered. test_outages.py checks the run rode the outages out; test_postgres_mlflow.py checks
what it left in MLflow on PostgreSQL.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml
from mlflow.tracking import MlflowClient

from components.common.tracking import TAG_STEP, WAIT_ENV
from components.ingest.snapshot import MANIFEST, current_snapshot_link
from components.spec import default_spec_path
from tandem.stack import local_stack
from tests.processes import log_tail, stop_group

TANDEM = Path(sys.executable).parent / "tandem"
# How long each outage lasts: what a server restart or a stalled host costs in practice. A killed
# server stays dead for OUTAGE_S - RESTART_ALLOWANCE_S, then starting it again takes ~10-25 s here.
OUTAGE_S = 30.0
RESTART_ALLOWANCE_S = 10.0
EPOCHS = 8
# A batch of two rows: ~60 steps an epoch, so the kill lands among the epochs.
BATCH_SIZE = 2
# The spec's name: an experiment and a registered model of the run's own on the shared stack.
SPEC = "outages"
MODEL = f"{SPEC}-pytorch"
EXPERIMENT = f"tandem-{SPEC}"
RUN_TIMEOUT_S = 600.0


@dataclass(frozen=True)
class OutageRun:
    """What the run left: its exit code and log, its output directory and the figures of the
    outages (epochs logged when the server was killed, seconds it was down, wall seconds)."""

    output: Path
    log: Path
    tracking_uri: str
    returncode: int
    figures: dict[str, float]
    # The run's MLflow parent run: the one run of the experiment that is no step's.
    parent_run_id: str | None

    @property
    def pipeline_root(self) -> Path:
        return _pipeline_root(self.output)

    @property
    def fingerprint(self) -> str:
        """The snapshot's, from its manifest in the output directory."""
        manifest = current_snapshot_link(self.output, SPEC) / MANIFEST
        return json.loads(manifest.read_text())["fingerprint"]

    @property
    def model_version(self) -> str:
        """The version the register task output (kfp.local's record of it)."""
        (task_dir,) = self.pipeline_root.glob("*/judge-and-register")
        executor_output = json.loads((task_dir / "executor_output.json").read_text())
        return executor_output["parameterValues"]["model_version"]


class MlflowServer:
    """The stack's MLflow server, seen as one process group that can be frozen, killed and
    restarted (on the port and backend it had)."""

    def __init__(self, state_dir: Path):
        running = local_stack.status(state_dir).mlflow
        assert running is not None, f"the stack in {state_dir} is not running"
        self.info = running

    @contextlib.contextmanager
    def frozen(self) -> Iterator[None]:
        os.killpg(self.info.mlflow_pid, signal.SIGSTOP)
        try:
            yield
        finally:
            os.killpg(self.info.mlflow_pid, signal.SIGCONT)

    def kill(self) -> None:
        os.killpg(self.info.mlflow_pid, signal.SIGKILL)
        with contextlib.suppress(ChildProcessError):
            os.waitpid(self.info.mlflow_pid, 0)  # local_stack started it in this process

    def restart(self) -> float:
        """Start it again through local_stack (as `tandem up` would); returns the seconds until
        it was healthy."""
        started = time.monotonic()
        restarted = local_stack.start(self.info.state_dir)
        assert restarted.mlflow_port == self.info.mlflow_port
        assert restarted.mlflow_pid != self.info.mlflow_pid
        self.info = restarted
        return time.monotonic() - started


def _pipeline_root(output: Path) -> Path:
    return output / "kfp" / SPEC / "pipeline_root"


def step_runs(client: MlflowClient, step: str) -> list:
    """The experiment's runs of one step (none before the experiment exists)."""
    experiment = client.get_experiment_by_name(EXPERIMENT)
    if experiment is None:
        return []
    return client.search_runs(
        [experiment.experiment_id], filter_string=f"tags.`{TAG_STEP}` = '{step}'"
    )


def write_spec(directory: Path) -> Path:
    """The penguins spec under its own name, EPOCHS epochs of BATCH_SIZE-row batches."""
    document = yaml.safe_load(default_spec_path().read_text())
    document["training"].update(epochs=EPOCHS, batch_size=BATCH_SIZE)
    document["evaluation"]["latency_calls"] = 10
    document["name"] = SPEC
    path = directory / f"{SPEC}.yaml"
    path.write_text(yaml.safe_dump(document, sort_keys=False))
    return path


def _wait_for(what: str, found: Callable[[], object], process: subprocess.Popen, log: Path):
    """Poll until `found()` is truthy (returns it); fails when the run exits first."""
    deadline = time.monotonic() + RUN_TIMEOUT_S
    while not (result := found()):
        if process.poll() is not None:
            pytest.fail(f"the run exited ({process.returncode}) before {what}:\n{log_tail(log)}")
        if time.monotonic() > deadline:
            pytest.fail(f"no {what} within {RUN_TIMEOUT_S:.0f} s:\n{log_tail(log)}")
        time.sleep(0.2)
    return result


def _logged_epochs(client: MlflowClient) -> int:
    runs = step_runs(client, "train")
    return len(client.get_metric_history(runs[0].info.run_id, "val_loss")) if runs else 0


def _parent_run_id(client: MlflowClient) -> str | None:
    experiment = client.get_experiment_by_name(EXPERIMENT)
    if experiment is None:
        return None
    parents = [
        run.info.run_id
        for run in client.search_runs([experiment.experiment_id])
        if TAG_STEP not in run.data.tags
    ]
    return parents[0] if len(parents) == 1 else None


def run_with_outages(state_dir: Path, tracking_uri: str, directory: Path) -> OutageRun:
    """Run the pipeline in `directory` and make the three outages as it reaches each stage; the
    process is stopped (its whole group) however this ends."""
    server = MlflowServer(state_dir)
    output, log = directory / "out", directory / "tandem-run.log"
    env = {name: value for name, value in os.environ.items() if not name.startswith("MLFLOW_")}
    env.pop(WAIT_ENV, None)  # the default wait, as a user has it
    command = [str(TANDEM), "run", "--spec", str(write_spec(directory)), "--framework", "pytorch"]
    command += ["--seeds", "1", "--output-dir", str(output), "--no-compare"]
    started = time.monotonic()
    with log.open("w") as sink:
        process = subprocess.Popen(
            command,
            env={**env, "MLFLOW_TRACKING_URI": tracking_uri},
            stdout=sink,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    client = MlflowClient(tracking_uri)
    figures: dict[str, float] = {}
    try:
        # 1. Frozen as the train step starts: its task directory appears before its processes
        #    ask whether MLflow is reachable.
        pipeline_root = _pipeline_root(output)
        _wait_for("a train step", lambda: list(pipeline_root.glob("*/train-model")), process, log)
        with server.frozen():
            time.sleep(OUTAGE_S)
        # 2. Killed mid-training (some epochs logged, not all), started again.
        figures["epochs_at_kill"] = _wait_for(
            "a logged epoch", lambda: _logged_epochs(client), process, log
        )
        server.kill()
        time.sleep(OUTAGE_S - RESTART_ALLOWANCE_S)
        figures["killed_down_s"] = OUTAGE_S - RESTART_ALLOWANCE_S + server.restart()
        # 3. Frozen while the model is logged and registered.
        _wait_for(
            "the register step",
            lambda: [r for r in step_runs(client, "register") if r.info.status == "RUNNING"],
            process,
            log,
        )
        with server.frozen():
            time.sleep(OUTAGE_S)
        process.wait(timeout=RUN_TIMEOUT_S)
    finally:
        if process.poll() is None:
            stop_group(process)
    figures["wall_s"] = time.monotonic() - started
    print(f"outages of {OUTAGE_S:.0f} s each: {figures}")
    return OutageRun(
        output=output,
        log=log,
        tracking_uri=tracking_uri,
        returncode=process.returncode,
        figures=figures,
        parent_run_id=_parent_run_id(client),
    )
