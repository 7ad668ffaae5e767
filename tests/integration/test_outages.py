"""MLflow and PostgreSQL going away under real work, on the package's stack
(tests/integration/conftest.py): the package's pipeline run (`run_through_outages`,
outage_run.py) has the MLflow server's process group really frozen (SIGSTOP/SIGCONT), killed
(SIGKILL) and started again on the same port and backend, and PostgreSQL is restarted under the
running MLflow server with pg_ctl.

What must hold: the work finishes as if nothing happened and MLflow ends up holding every point
that was logged, each once.
"""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import mlflow
import pytest
from mlflow.tracking import MlflowClient

from tandem.stack import local_postgres
from tests.integration.outage_run import EPOCHS, MODEL, OutageRun, step_runs
from tests.processes import log_tail

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

EPOCH_METRICS = ("train_loss", "train_accuracy", "val_loss", "val_accuracy")
# The MLflow-logging loop under the PostgreSQL restart: points, and the pause between them.
POINTS = 150
POINT_PAUSE_S = 0.02


def test_a_pytorch_run_rides_out_three_mlflow_outages(run_through_outages: OutageRun) -> None:
    """The package's `tandem run --framework pytorch --seeds 1` (outage_run.py): the MLflow
    server frozen as the train step starts, killed mid-training and started again, then frozen
    while the model is registered."""
    run = run_through_outages
    assert run.returncode == 0, log_tail(run.log)
    assert 0 < run.figures["epochs_at_kill"] < EPOCHS


def test_the_trainer_waited_for_the_frozen_server(run_through_outages: OutageRun) -> None:
    """The trainer (rank 0, TorchX's log of it) waited for the frozen server instead of failing
    its first attempt (without the wait, TorchX's second attempt, started after the freeze, is
    what finished the run)."""
    (train_dir,) = run_through_outages.pipeline_root.glob("*/train-model")
    executor_output = json.loads((train_dir / "executor_output.json").read_text())
    (model,) = executor_output["artifacts"]["model"]["artifacts"]
    assert model["metadata"]["attempts"] == 1
    trainer_logs = "".join(
        p.read_text(errors="replace") for p in train_dir.rglob("torchx-logs/**/combined.log")
    )
    uri = run_through_outages.tracking_uri
    assert f"waiting up to 60 s for the MLflow tracking server {uri}" in trainer_logs


def test_mlflow_holds_every_epoch_point_once(run_through_outages: OutageRun) -> None:
    client = MlflowClient(run_through_outages.tracking_uri)
    (train,) = step_runs(client, "train")
    assert train.data.tags["mlflow.parentRunId"] == run_through_outages.parent_run_id
    parent = client.get_run(run_through_outages.parent_run_id)
    assert (parent.info.status, train.info.status) == ("FINISHED", "FINISHED")
    for key in EPOCH_METRICS:
        history = client.get_metric_history(train.info.run_id, key)
        assert sorted(m.step for m in history) == list(range(EPOCHS)), key


def test_the_model_registered_under_a_frozen_server_is_downloadable(
    run_through_outages: OutageRun, tmp_path, monkeypatch
) -> None:
    client = MlflowClient(run_through_outages.tracking_uri)
    (register,) = step_runs(client, "register")
    assert register.info.status == "FINISHED"
    challenger = client.get_model_version_by_alias(MODEL, "challenger")
    assert challenger.run_id == register.info.run_id
    assert challenger.status == "READY"
    # The model's files went through the server's artifact proxy while it was frozen. (A models:/
    # URI resolves through MLFLOW_TRACKING_URI alone.)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", run_through_outages.tracking_uri)
    downloaded = mlflow.artifacts.download_artifacts(
        artifact_uri=f"models:/{MODEL}@challenger", dst_path=str(tmp_path)
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
