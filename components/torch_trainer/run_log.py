"""The train step's MLflow run, written by global rank 0 only, and reused across restarts.

The first attempt creates the run with `step_run` (nested under MLFLOW_RUN_ID when set) and
writes its id into the checkpoint directory. A restarted attempt with the same checkpoint
directory reopens that run and learns which epochs it already holds, so the run ends up with each
epoch's metrics exactly once. The other ranks never talk to MLflow: the sqlite store has one
writer, and concurrent first use races its schema migration.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from components.common.frameworks import PYTORCH
from components.common.run_owner import owner_tags
from components.common.tracking import TAG_FRAMEWORK, check_reachable, step_run, tracking_uri

RUN_ID_FILE = "mlflow_run_id"
EPOCH_KEY = "val_loss"
TAG_RESUMED_FROM_EPOCH = "tandem.resumed_from_epoch"


@dataclass
class TrainRun:
    client: object  # mlflow.tracking.MlflowClient
    run_id: str
    resumed: bool
    logged_epochs: set[int] = field(default_factory=set)

    def log_params(self, params: dict[str, object]) -> None:
        from mlflow.entities import Param

        self.client.log_batch(self.run_id, params=[Param(k, str(v)) for k, v in params.items()])

    def log_metrics(self, metrics: dict[str, float], step: int = 0) -> None:
        from mlflow.entities import Metric

        now = int(time.time() * 1000)
        entries = [Metric(key, float(value), now, step) for key, value in metrics.items()]
        self.client.log_batch(self.run_id, metrics=entries)

    def log_epoch(self, epoch: int, metrics: dict[str, float]) -> None:
        self.log_metrics(metrics, step=epoch)

    def set_tag(self, key: str, value: str) -> None:
        self.client.set_tag(self.run_id, key, value)

    def set_tags(self, tags: dict[str, str]) -> None:
        from mlflow.entities import RunTag

        self.client.log_batch(self.run_id, tags=[RunTag(k, v) for k, v in tags.items()])

    def log_dict(self, document: dict, artifact_file: str) -> None:
        self.client.log_dict(self.run_id, document, artifact_file)

    def log_text(self, text: str, artifact_file: str) -> None:
        self.client.log_text(self.run_id, text, artifact_file)


def _previous_run_id(client, state_dir: Path) -> str | None:
    from mlflow.exceptions import MlflowException

    marker = state_dir / RUN_ID_FILE
    if not marker.is_file():
        return None
    run_id = marker.read_text().strip()
    try:
        client.get_run(run_id)
    except MlflowException:  # another store, or the run was deleted: start a new one
        return None
    return run_id


@contextmanager
def train_run(
    spec_name: str, runs_dir: Path, state_dir: Path, tags: dict[str, str] | None = None
) -> Iterator[TrainRun]:
    """The train step's run: new, or the one a previous attempt left in `state_dir`. It ends
    FINISHED, or FAILED when the block raises."""
    from mlflow.tracking import MlflowClient

    uri = tracking_uri(runs_dir)
    check_reachable(uri)
    client = MlflowClient(uri)
    state_dir.mkdir(parents=True, exist_ok=True)
    previous = _previous_run_id(client, state_dir)
    if previous is None:
        with step_run(
            "train",
            spec_name,
            runs_dir,
            {TAG_FRAMEWORK: PYTORCH.name, **(tags or {})},
            system_metrics=True,
        ) as run:
            (state_dir / RUN_ID_FILE).write_text(run.info.run_id)
            yield TrainRun(client, run.info.run_id, resumed=False)
        return
    history = client.get_metric_history(previous, EPOCH_KEY)
    # This process owns the run now: another pipeline run must not judge it by the dead one's pid.
    for key, value in owner_tags().items():
        client.set_tag(previous, key, value)
    client.update_run(previous, status="RUNNING")
    status = "FAILED"
    try:
        yield TrainRun(client, previous, resumed=True, logged_epochs={m.step for m in history})
        status = "FINISHED"
    finally:
        client.set_terminated(previous, status)
