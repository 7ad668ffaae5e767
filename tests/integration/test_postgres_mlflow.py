"""The local stack for real (the package's `stack`, tests/integration/conftest.py): PostgreSQL +
`mlflow server` (proxied artifacts, --allowed-hosts), with the package's PyTorch pipeline run
against it over HTTP (`run_through_outages`, outage_run.py: the same run test_outages.py checks
for the MLflow outages it rode out).

The autouse fixture in tests/conftest.py clears MLFLOW_* around every test, so the checks pass
the server's URI to MlflowClient.
"""

from __future__ import annotations

import json
from pathlib import Path
from urllib.error import HTTPError
from urllib.request import Request, urlopen

import pytest

from tandem.stack import local_postgres, local_stack
from tests.integration.outage_run import EPOCHS, EXPERIMENT, MODEL

pytestmark = pytest.mark.e2e

# The spec's own gate (penguins' accuracy threshold, which the run's spec keeps): the run
# reaches ~0.98 in its 8 epochs of 2-row batches.
ACCURACY_FLOOR = 0.9


@pytest.fixture
def client(stack):
    from mlflow.tracking import MlflowClient

    return MlflowClient(stack.tracking_uri)


def _step_runs(client, parent_id: str) -> dict:
    parent = client.get_run(parent_id)
    children = client.search_runs(
        [parent.info.experiment_id], filter_string=f"tags.mlflow.parentRunId = '{parent_id}'"
    )
    return {run.data.tags["tandem.step"]: run for run in children}


def test_start_reuses_the_running_stack(stack) -> None:
    running = local_stack.status(stack.state_dir)
    assert running.running
    again = local_stack.start(stack.state_dir)
    assert again.reused
    # The server may be a restarted one (the outage run, outage_run.py), on the port the stack
    # started with.
    assert (again.mlflow_pid, again.mlflow_port) == (running.mlflow.mlflow_pid, stack.mlflow_port)
    assert stack.passfile.stat().st_mode & 0o777 == 0o600


@pytest.mark.slow
def test_pipeline_runs_nest_under_one_parent_in_the_spec_experiment(run_through_outages, client):
    parent = client.get_run(run_through_outages.parent_run_id)
    assert parent.info.status == "FINISHED"
    assert client.get_experiment(parent.info.experiment_id).name == EXPERIMENT
    assert parent.data.tags["tandem.framework"] == "pytorch"
    assert parent.data.tags["tandem.dataset_fingerprint"] == run_through_outages.fingerprint
    steps = _step_runs(client, run_through_outages.parent_run_id)
    assert {"ingest", "train", "evaluate"} <= set(steps)
    assert steps["ingest"].data.metrics["rows_read"] == 344
    assert len(client.get_metric_history(steps["train"].info.run_id, "val_loss")) == EPOCHS
    assert steps["evaluate"].data.metrics["accuracy"] >= ACCURACY_FLOOR


@pytest.mark.slow
def test_artifacts_go_through_the_server_proxy(stack, run_through_outages, client, tmp_path):
    ingest = _step_runs(client, run_through_outages.parent_run_id)["ingest"]
    assert ingest.info.artifact_uri.startswith("mlflow-artifacts:")
    manifest = client.download_artifacts(ingest.info.run_id, "manifest.json", str(tmp_path))
    assert json.loads(Path(manifest).read_text())["fingerprint"] == run_through_outages.fingerprint
    # The proxy stored it in the stack's artifact directory (the stand-in for the bucket).
    assert list(stack.artifacts_dir.rglob(f"{ingest.info.run_id}/artifacts/manifest.json"))


@pytest.mark.slow
def test_the_model_is_registered_with_the_challenger_alias(
    stack, run_through_outages, client, tmp_path, monkeypatch
):
    import mlflow

    challenger = client.get_model_version_by_alias(MODEL, "challenger")
    assert str(challenger.version) == run_through_outages.model_version
    # models:/ URIs resolve through the registry URI, which follows MLFLOW_TRACKING_URI only.
    monkeypatch.setenv("MLFLOW_TRACKING_URI", stack.tracking_uri)
    downloaded = mlflow.artifacts.download_artifacts(
        artifact_uri=f"models:/{MODEL}@challenger", dst_path=str(tmp_path)
    )
    assert (Path(downloaded) / "MLmodel").is_file()


@pytest.mark.slow
def test_the_backend_really_is_postgres(stack, run_through_outages, client):
    import psycopg

    parent_id = run_through_outages.parent_run_id
    steps = _step_runs(client, parent_id)
    with psycopg.connect(
        host=local_postgres.HOST,
        port=stack.postgres_port,
        dbname=local_postgres.DATABASE,
        user=local_postgres.ROLE,
        passfile=str(stack.passfile),
    ) as connection:
        run_ids = {row[0] for row in connection.execute("SELECT run_uuid FROM runs")}
        models = {row[0] for row in connection.execute("SELECT name FROM registered_models")}
    assert {parent_id, *(run.info.run_id for run in steps.values())} <= run_ids
    assert MODEL in models
    assert stack.backend_store_uri.startswith("postgresql://")
    assert ":" not in stack.backend_store_uri.split("@")[0].removeprefix("postgresql://")


@pytest.mark.parametrize(
    ("host", "allowed"),
    [("localhost", True), ("127.0.0.1", True), ("evil.example", False), ("10.0.0.5", False)],
)
def test_only_localhost_host_headers_are_served(stack, host: str, allowed: bool) -> None:
    """10.* passes MLflow's default list: refusing it shows --allowed-hosts took effect."""
    url = f"{stack.tracking_uri}/api/2.0/mlflow/experiments/search?max_results=1"
    request = Request(url, headers={"Host": f"{host}:{stack.mlflow_port}"})
    try:
        with urlopen(request, timeout=10) as response:
            code = response.status
    except HTTPError as exc:
        code = exc.code
    assert (code == 200) is allowed, code
