"""MLflow set up in one place: where the store is, which experiment, how step runs nest.

The store is `MLFLOW_TRACKING_URI` when set, else an embedded sqlite file inside the output
directory (no server needed). A step started with `MLFLOW_RUN_ID` in its environment (the way
Kubeflow's MLflow integration hands the pipeline's parent run to its steps) logs a nested run under
that parent; without it the step's run is top-level in the spec's experiment.
"""

from __future__ import annotations

import os
from contextlib import contextmanager
from pathlib import Path

SQLITE_FILE = "mlflow.db"
ARTIFACTS_DIR = "mlartifacts"
PARENT_RUN_ENV = "MLFLOW_RUN_ID"


def tracking_uri(output_dir: Path) -> str:
    configured = os.environ.get("MLFLOW_TRACKING_URI")
    if configured:
        return configured
    return f"sqlite:///{(Path(output_dir) / SQLITE_FILE).resolve()}"


def experiment_name(spec_name: str) -> str:
    return f"tandem-{spec_name}"


def _ensure_experiment(client, name: str, output_dir: Path, uri: str) -> str:
    from mlflow.exceptions import MlflowException

    existing = client.get_experiment_by_name(name)
    if existing is not None:
        return existing.experiment_id
    artifact_location = None
    if uri.startswith("sqlite:"):
        artifact_location = (Path(output_dir) / ARTIFACTS_DIR).resolve().as_uri()
    try:
        return client.create_experiment(name, artifact_location=artifact_location)
    except MlflowException:
        created = client.get_experiment_by_name(name)
        if created is None:
            raise
        return created.experiment_id


@contextmanager
def step_run(step: str, spec_name: str, output_dir: Path, tags: dict[str, str] | None = None):
    """An active MLflow run for one pipeline step (nested under MLFLOW_RUN_ID when given)."""
    import mlflow
    from mlflow.tracking import MlflowClient
    from mlflow.utils.mlflow_tags import MLFLOW_PARENT_RUN_ID

    Path(output_dir).mkdir(parents=True, exist_ok=True)
    uri = tracking_uri(output_dir)
    client = MlflowClient(uri)
    run_tags = {"tandem.step": step, **(tags or {})}
    parent = os.environ.get(PARENT_RUN_ENV)
    if parent:
        experiment_id = client.get_run(parent).info.experiment_id
        run_tags[MLFLOW_PARENT_RUN_ID] = parent
    else:
        experiment_id = _ensure_experiment(
            client, experiment_name(spec_name), Path(output_dir), uri
        )
    run = client.create_run(experiment_id, run_name=step, tags=run_tags)
    with _environment_kept():
        mlflow.set_tracking_uri(uri)
        with mlflow.start_run(run_id=run.info.run_id) as active:
            yield active


@contextmanager
def _environment_kept():
    """MLflow's fluent API sets MLFLOW_TRACKING_URI and unsets MLFLOW_RUN_ID as it goes; a step
    leaves the process environment as it found it, so the next step still sees its parent run."""
    saved = {name: os.environ.get(name) for name in (PARENT_RUN_ENV, "MLFLOW_TRACKING_URI")}
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def run_location(uri: str, run) -> str:
    """Where a person finds the run: experiment and run ids under the tracking URI."""
    return f"{uri} experiment {run.info.experiment_id} run {run.info.run_id}"
