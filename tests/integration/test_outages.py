"""MLflow and PostgreSQL going away under real work, on the package's stack
(tests/integration/conftest.py): the MLflow server's process group is really frozen
(SIGSTOP/SIGCONT), killed (SIGKILL) and started again on the same port and backend, and
PostgreSQL is restarted under the running MLflow server with pg_ctl.

What must hold: the work finishes as if nothing happened and MLflow ends up holding every point
that was logged, each once.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import mlflow
import pytest
import yaml
from mlflow.tracking import MlflowClient

from components.common.tracking import TAG_STEP, WAIT_ENV
from components.spec import default_spec_path
from tandem.stack import local_postgres, local_stack
from tests.processes import log_tail, stop_group

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

TANDEM = Path(sys.executable).parent / "tandem"
# How long each outage lasts: what a server restart or a stalled host costs in practice. A killed
# server stays dead for OUTAGE_S - RESTART_ALLOWANCE_S, then starting it again takes ~10-25 s here.
OUTAGE_S = 30.0
RESTART_ALLOWANCE_S = 10.0
EPOCHS = 8
# A batch of two rows: ~60 steps an epoch, so the kill lands among the epochs.
BATCH_SIZE = 2
EPOCH_METRICS = ("train_loss", "train_accuracy", "val_loss", "val_accuracy")
# The spec's name: an experiment and a registered model of this test's own on the shared stack.
SPEC = "outages"
MODEL = f"{SPEC}-pytorch"
RUN_TIMEOUT_S = 600.0
# The MLflow-logging loop under the PostgreSQL restart: points, and the pause between them.
POINTS = 150
POINT_PAUSE_S = 0.02


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


def _step_runs(client: MlflowClient, step: str) -> list:
    experiment = client.get_experiment_by_name(f"tandem-{SPEC}")
    if experiment is None:
        return []
    return client.search_runs(
        [experiment.experiment_id], filter_string=f"tags.`{TAG_STEP}` = '{step}'"
    )


def _logged_epochs(client: MlflowClient) -> int:
    runs = _step_runs(client, "train")
    return len(client.get_metric_history(runs[0].info.run_id, "val_loss")) if runs else 0


@pytest.fixture(scope="module")
def outage_spec(tmp_path_factory) -> Path:
    document = yaml.safe_load(default_spec_path().read_text())
    document["training"].update(epochs=EPOCHS, batch_size=BATCH_SIZE)
    document["evaluation"]["latency_calls"] = 10
    document["name"] = SPEC
    path = tmp_path_factory.mktemp("outage-spec") / f"{SPEC}.yaml"
    path.write_text(yaml.safe_dump(document, sort_keys=False))
    return path


def test_a_pytorch_run_rides_out_three_mlflow_outages(
    stack, outage_spec, tmp_path, monkeypatch
) -> None:
    """One `tandem run --framework pytorch --seeds 1` against the stack, with the MLflow server
    frozen for OUTAGE_S as the train step starts, killed mid-training and started again (down
    about OUTAGE_S), then frozen for OUTAGE_S while the model is registered."""
    server = MlflowServer(stack.state_dir)
    uri = stack.tracking_uri
    output, log = tmp_path / "out", tmp_path / "tandem-run.log"
    env = {name: value for name, value in os.environ.items() if not name.startswith("MLFLOW_")}
    env.pop(WAIT_ENV, None)  # the default wait, as a user has it
    command = [str(TANDEM), "run", "--spec", str(outage_spec), "--framework", "pytorch"]
    command += ["--seeds", "1", "--output-dir", str(output), "--no-compare"]
    started = time.monotonic()
    with log.open("w") as sink:
        process = subprocess.Popen(
            command,
            env={**env, "MLFLOW_TRACKING_URI": uri},
            stdout=sink,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    client = MlflowClient(uri)
    figures: dict[str, float] = {}
    try:
        # 1. Frozen as the train step starts: its task directory appears before its processes
        #    ask whether MLflow is reachable.
        pipeline_root = output / "kfp" / SPEC / "pipeline_root"
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
            lambda: [r for r in _step_runs(client, "register") if r.info.status == "RUNNING"],
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
    assert process.returncode == 0, log_tail(log)
    assert 0 < figures["epochs_at_kill"] < EPOCHS

    # The trainer (rank 0, TorchX's log of it) waited for the frozen server instead of failing
    # its first attempt (without the wait, TorchX's second attempt, started after the freeze, is
    # what finished the run).
    (train_dir,) = pipeline_root.glob("*/train-model")
    executor_output = json.loads((train_dir / "executor_output.json").read_text())
    (model,) = executor_output["artifacts"]["model"]["artifacts"]
    assert model["metadata"]["attempts"] == 1
    trainer_logs = "".join(
        p.read_text(errors="replace") for p in train_dir.rglob("torchx-logs/**/combined.log")
    )
    assert f"waiting up to 60 s for the MLflow tracking server {uri}" in trainer_logs

    (train,) = _step_runs(client, "train")
    parent = client.get_run(train.data.tags["mlflow.parentRunId"])
    assert (parent.info.status, train.info.status) == ("FINISHED", "FINISHED")
    for key in EPOCH_METRICS:
        history = client.get_metric_history(train.info.run_id, key)
        assert sorted(m.step for m in history) == list(range(EPOCHS)), key

    (register,) = _step_runs(client, "register")
    assert register.info.status == "FINISHED"
    challenger = client.get_model_version_by_alias(MODEL, "challenger")
    assert challenger.run_id == register.info.run_id
    assert challenger.status == "READY"
    # The model's files went through the server's artifact proxy while it was frozen. (A models:/
    # URI resolves through MLFLOW_TRACKING_URI alone.)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    downloaded = mlflow.artifacts.download_artifacts(
        artifact_uri=f"models:/{MODEL}@challenger", dst_path=str(tmp_path / "model")
    )
    assert (Path(downloaded) / "MLmodel").is_file()


class _Logger(threading.Thread):
    """Logs POINTS metric points (value i at step i) one call each, timing every call."""

    def __init__(self, client: MlflowClient, run_id: str):
        super().__init__(daemon=True)
        self.client, self.run_id = client, run_id
        self.calls: list[tuple[float, float]] = []
        self.errors: list[str] = []

    def run(self) -> None:
        for step in range(POINTS):
            began = time.monotonic()
            try:
                self.client.log_metric(self.run_id, "x", float(step), step=step)
            except Exception as exc:  # every failure is reported by the test
                self.errors.append(f"step {step}: {exc}")
            self.calls.append((began, time.monotonic()))
            time.sleep(POINT_PAUSE_S)


def test_a_postgres_restart_under_a_logging_client_loses_no_point(stack) -> None:
    client = MlflowClient(stack.tracking_uri)
    experiment_id = client.create_experiment("postgres-restart")
    run_id = client.create_run(experiment_id).info.run_id
    cluster = local_postgres.Cluster(root=stack.state_dir / "postgres", passfile=stack.passfile)
    logger = _Logger(client, run_id)
    logger.start()
    deadline = time.monotonic() + 60
    while len(logger.calls) < POINTS // 4 and time.monotonic() < deadline:
        time.sleep(0.05)
    stopped_at = time.monotonic()
    assert local_postgres.stop(cluster)
    assert local_postgres.start(cluster, stack.postgres_port) == stack.postgres_port
    back_at = time.monotonic()
    logger.join(timeout=300)
    assert not logger.is_alive()
    during = [(b, e) for b, e in logger.calls if b < back_at and e > stopped_at]
    slowest = max(e - b for b, e in logger.calls)
    down_s = back_at - stopped_at
    print(f"PostgreSQL down {down_s:.1f} s, {len(during)} calls across it, slowest {slowest:.1f} s")
    assert during, "no call was made while PostgreSQL restarted"
    assert logger.errors == []
    history = client.get_metric_history(run_id, "x")
    assert sorted((m.step, m.value) for m in history) == [(i, float(i)) for i in range(POINTS)]
    client.set_terminated(run_id)
