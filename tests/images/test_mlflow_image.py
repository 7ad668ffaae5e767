"""The MLflow server image runs `mlflow server` as its user, answers /health on 127.0.0.1, and
stores what a client logs (runs in its database, artifacts through its proxy) in the mounted
folder, as the Deployment's volume would hold them."""

from __future__ import annotations

import subprocess
import time
import urllib.request
from pathlib import Path

import pytest

from tests.images.containers import IMAGE_USER, container, make_writable, run_argv
from tests.processes import free_ports, log_tail, stop_group

pytestmark = [pytest.mark.images, pytest.mark.slow]
HEALTH_WAIT_S = 180


def _healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/health", timeout=2) as response:
            return response.read().decode().strip() == "OK"
    except OSError:
        return False


def test_mlflow_server_answers_health_and_keeps_what_it_is_sent(
    built_images, tmp_path: Path
) -> None:
    from mlflow.tracking import MlflowClient

    data = tmp_path / "mlflow"
    data.mkdir()
    make_writable(data)
    (port,) = free_ports(1)
    url = f"http://127.0.0.1:{port}"
    server = [
        "mlflow", "server", "--host", "127.0.0.1", "--port", str(port), "--workers", "1",
        "--backend-store-uri", "sqlite:////mnt/mlflow/mlflow.db",
        "--artifacts-destination", "/mnt/mlflow/artifacts",
    ]  # fmt: skip
    log = tmp_path / "server.log"
    # The Deployment's environment: HOME on a writable path, no GenAI job runner.
    env = {"HOME": "/tmp", "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"}
    with container(built_images["mlflow"]) as name, log.open("w") as sink:
        argv = run_argv(name, server, volumes={data: "/mnt/mlflow"}, env=env)
        process = subprocess.Popen(
            argv, stdout=sink, stderr=subprocess.STDOUT, start_new_session=True
        )
        try:
            deadline = time.monotonic() + HEALTH_WAIT_S
            while not _healthy(url):
                assert process.poll() is None, f"mlflow server exited:\n{log_tail(log)}"
                assert time.monotonic() < deadline, (
                    f"no /health in {HEALTH_WAIT_S} s:\n{log_tail(log)}"
                )
                time.sleep(1)
            client = MlflowClient(url)
            run = client.create_run(client.create_experiment("image-smoke")).info
            client.log_metric(run.run_id, "accuracy", 0.97)
            note = tmp_path / "note.txt"
            note.write_text("stored through the proxy")
            client.log_artifact(run.run_id, str(note))
            client.set_terminated(run.run_id)
            fetched = client.get_run(run.run_id)
        finally:
            stop_group(process)
    assert fetched.data.metrics == {"accuracy": 0.97} and fetched.info.status == "FINISHED"
    assert (data / "mlflow.db").is_file()
    stored = list((data / "artifacts").rglob("note.txt"))
    assert [path.read_text() for path in stored] == ["stored through the proxy"]
    assert stored[0].stat().st_uid == int(IMAGE_USER.partition(":")[0])
