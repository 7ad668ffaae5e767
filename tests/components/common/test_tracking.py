"""MLflow conventions: the pipeline's parent run, its tags, and steps nesting under it."""

from __future__ import annotations

import http.server
import os
import socket
import subprocess
import sys
import threading
import time

import pytest
from mlflow.tracking import MlflowClient

from components.common.errors import TandemError
from components.common.tracking import (
    PEAK_RSS,
    START_RSS,
    TAG_FINGERPRINT,
    TAG_FRAMEWORK,
    TAG_GIT_REVISION,
    TAG_PIPELINE_RUN_ID,
    check_reachable,
    experiment_name,
    pipeline_run,
    rss_metrics,
    step_run,
    tag_pipeline_run,
    tracking_uri,
)


def test_steps_nest_under_the_pipeline_run_and_the_environment_is_restored(tmp_path):
    with pipeline_run("penguins", "pytorch", tmp_path, pipeline_run_id="run-7") as parent:
        assert os.environ["MLFLOW_RUN_ID"] == parent.info.run_id
        with step_run("train", "penguins", tmp_path) as step:
            step_id = step.info.run_id
        child = subprocess.run(
            [sys.executable, "-c", "import os; print(os.environ['MLFLOW_RUN_ID'])"],
            capture_output=True,
            text=True,
            check=True,
        )
        assert child.stdout.strip() == parent.info.run_id
        tag_pipeline_run({TAG_FINGERPRINT: "abc123"})
        assert os.environ["MLFLOW_RUN_ID"] == parent.info.run_id
    assert "MLFLOW_RUN_ID" not in os.environ
    assert "MLFLOW_TRACKING_URI" not in os.environ

    client = MlflowClient(tracking_uri(tmp_path))
    finished = client.get_run(parent.info.run_id)
    assert finished.info.status == "FINISHED"
    assert finished.data.tags[TAG_FRAMEWORK] == "pytorch"
    assert finished.data.tags[TAG_PIPELINE_RUN_ID] == "run-7"
    assert finished.data.tags[TAG_FINGERPRINT] == "abc123"
    assert len(finished.data.tags[TAG_GIT_REVISION]) == 40
    nested = client.get_run(step_id)
    assert nested.data.tags["mlflow.parentRunId"] == parent.info.run_id
    assert client.get_experiment(nested.info.experiment_id).name == experiment_name("penguins")


def test_a_failing_pipeline_run_is_marked_failed(tmp_path):
    with pytest.raises(RuntimeError), pipeline_run("penguins", "tensorflow", tmp_path) as parent:
        raise RuntimeError("training diverged")
    status = MlflowClient(tracking_uri(tmp_path)).get_run(parent.info.run_id).info.status
    assert status == "FAILED"


def test_git_revision_comes_from_the_image_when_set(monkeypatch):
    from components.common.tracking import git_revision

    monkeypatch.setenv("TANDEM_GIT_REVISION", "f00dcafe")
    assert git_revision() == "f00dcafe"


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_an_unreachable_server_fails_before_any_run(tmp_path, monkeypatch):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"http://127.0.0.1:{_closed_port()}")
    monkeypatch.setenv("TANDEM_MLFLOW_WAIT_S", "0")
    with (
        pytest.raises(TandemError, match="cannot be reached"),
        pipeline_run("penguins", "pytorch", tmp_path),
    ):
        pytest.fail("the pipeline must not start")


class _Health(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200 if self.path == "/health" else 404)
        self.end_headers()
        self.wfile.write(b"OK")

    def log_message(self, *args):
        pass


def _serve_health(port: int = 0) -> http.server.HTTPServer:
    server = http.server.HTTPServer(("127.0.0.1", port), _Health)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def test_a_healthy_server_passes_the_check(capsys):
    server = _serve_health()
    try:
        check_reachable(f"http://127.0.0.1:{server.server_port}")
    finally:
        server.shutdown()
        server.server_close()
    assert capsys.readouterr().err == ""


def test_the_check_waits_for_a_server_that_comes_back(monkeypatch, capsys):
    """Nothing listens when the check starts; a server comes up on the port 2 s later."""
    monkeypatch.setenv("TANDEM_MLFLOW_WAIT_S", "30")
    port = _closed_port()
    servers = []
    timer = threading.Timer(2.0, lambda: servers.append(_serve_health(port)))
    timer.start()
    started = time.monotonic()
    try:
        check_reachable(f"http://127.0.0.1:{port}")
    finally:
        timer.join()
        for server in servers:
            server.shutdown()
            server.server_close()
    assert 2.0 <= time.monotonic() - started < 10
    waiting = capsys.readouterr().err.splitlines()
    assert len(waiting) == 1
    assert waiting[0].startswith("waiting up to 30 s for the MLflow tracking server http://")
    assert "TANDEM_MLFLOW_WAIT_S" in waiting[0]


def test_the_check_gives_up_after_the_wait(monkeypatch):
    monkeypatch.setenv("TANDEM_MLFLOW_WAIT_S", "1.5")
    started = time.monotonic()
    with pytest.raises(TandemError, match=r"cannot be reached after waiting 1.5 s"):
        check_reachable(f"http://127.0.0.1:{_closed_port()}")
    assert 1.5 <= time.monotonic() - started < 5


def test_a_bad_wait_setting_is_one_line(monkeypatch):
    monkeypatch.setenv("TANDEM_MLFLOW_WAIT_S", "a minute")
    with pytest.raises(TandemError, match="TANDEM_MLFLOW_WAIT_S='a minute': expected a number"):
        check_reachable(f"http://127.0.0.1:{_closed_port()}")


@pytest.mark.e2e
def test_the_cli_reports_an_unreachable_server_in_one_line(tmp_path):
    environment = {
        **os.environ,
        "MLFLOW_TRACKING_URI": f"http://127.0.0.1:{_closed_port()}",
        "TANDEM_MLFLOW_WAIT_S": "0",
    }
    tandem = os.path.join(os.path.dirname(sys.executable), "tandem")
    completed = subprocess.run(
        [tandem, "run", "--framework", "pytorch", "--output-dir", str(tmp_path)],
        capture_output=True,
        text=True,
        env=environment,
    )
    assert completed.returncode == 2
    assert "cannot be reached" in completed.stderr
    assert "Traceback" not in completed.stderr


def test_a_step_can_sample_system_metrics(tmp_path, monkeypatch):
    monkeypatch.setenv("MLFLOW_SYSTEM_METRICS_SAMPLING_INTERVAL", "0.2")
    monkeypatch.setenv("MLFLOW_SYSTEM_METRICS_SAMPLES_BEFORE_LOGGING", "1")
    with step_run("train", "penguins", tmp_path, system_metrics=True) as run:
        deadline = time.monotonic() + 10
        client = MlflowClient(tracking_uri(tmp_path))
        while not client.get_run(run.info.run_id).data.metrics and time.monotonic() < deadline:
            time.sleep(0.2)
    metrics = MlflowClient(tracking_uri(tmp_path)).get_run(run.info.run_id).data.metrics
    assert any(name.startswith("system/") for name in metrics)


def test_the_experiment_is_named_by_the_spec_unless_the_environment_names_it(monkeypatch):
    assert experiment_name("penguins") == "tandem-penguins"
    monkeypatch.setenv("MLFLOW_EXPERIMENT_NAME", "team-penguins-nightly")
    assert experiment_name("penguins") == "team-penguins-nightly"


def test_after_a_step_the_fluent_api_follows_the_environment_again(tmp_path, monkeypatch):
    import mlflow

    elsewhere = f"sqlite:///{tmp_path / 'elsewhere.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", elsewhere)
    with step_run("ingest", "penguins", tmp_path / "runs"):
        assert mlflow.get_tracking_uri() == elsewhere
    other = f"sqlite:///{tmp_path / 'other.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", other)
    assert mlflow.get_tracking_uri() == other


def test_a_steps_peak_is_never_below_its_start():
    assert rss_metrics(2019.8, 2020.1) == {PEAK_RSS: 2020.1, START_RSS: 2020.1}
    assert rss_metrics(2500.0, 2020.1) == {PEAK_RSS: 2500.0, START_RSS: 2020.1}
    assert rss_metrics(2500.0, None) == {PEAK_RSS: 2500.0}
