"""`tandem serve`: each framework's champion from the real `make run` behind MLflow's scoring
server, started as a user would without the venv's bin on PATH; bad requests get 400 and a
message naming the problem, the server keeps answering, and stopping it leaves no process."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import psutil
import pyarrow.parquet as pq
import pytest

from components.ingest.snapshot import SNAPSHOTS_DIR
from tandem import cli
from tests.processes import free_ports, log_tail, stop_group
from tests.tandem.conftest import TANDEM

READY_S = 180.0
# Small, so the over-long request stays small too.
MAX_BATCH_ROWS = 50


def _path_without_venv() -> str:
    venv_bin = str(Path(sys.executable).parent)
    return os.pathsep.join(
        entry for entry in os.environ.get("PATH", "").split(os.pathsep) if entry != venv_bin
    )


def _environment() -> dict[str, str]:
    return {**os.environ, "PATH": _path_without_venv()}


def _test_rows(output_dir: Path) -> list[dict]:
    """The snapshot's test rows as a caller sends them: the raw feature columns."""
    snapshot = next(path for path in (output_dir / SNAPSHOTS_DIR).iterdir() if path.is_dir())
    manifest = json.loads((snapshot / "manifest.json").read_text())
    features = [feature["name"] for feature in manifest["dataset_spec"]["features"]]
    return pq.read_table(snapshot / "test", columns=features).to_pylist()


def _post(url: str, rows: list[dict]) -> tuple[int, dict]:
    body = json.dumps({"dataframe_records": rows}).encode()
    request = urllib.request.Request(url, body, {"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def _wait_ready(process: subprocess.Popen, url: str, log: Path) -> None:
    deadline = time.monotonic() + READY_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"tandem serve exited {process.returncode}:\n{log_tail(log)}")
        try:
            with urllib.request.urlopen(url, timeout=5) as response:
                if response.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.5)
    raise AssertionError(f"{url} not ready in {READY_S} s:\n{log_tail(log)}")


def _assert_probabilities(status: int, answer: dict, rows: int) -> None:
    assert status == 200, answer
    predictions = answer["predictions"]
    assert len(predictions) == rows
    for prediction in predictions:
        assert set(prediction) == {"prob_Adelie", "prob_Chinstrap", "prob_Gentoo"}
        assert sum(prediction.values()) == pytest.approx(1.0, abs=1e-5)


def _bad_requests(rows: list[dict]) -> dict[str, tuple[list[dict], str]]:
    """Each bad request and what its 400 must say."""
    row = rows[0]
    return {
        "missing column": (
            [{key: value for key, value in row.items() if key != "island"}],
            "Model is missing inputs ['island']",
        ),
        "wrong type": (
            [{**row, "bill_length_mm": "long"}],
            "Failed to convert column bill_length_mm",
        ),
        "unknown category": (
            [{**row, "island": "Atlantis"}, {**row, "island": "Dream"}],
            "column 'island': unknown category 'Atlantis'; expected one of Biscoe, Dream, "
            "Torgersen",
        ),
        "too many rows": (
            [row] * (MAX_BATCH_ROWS + 1),
            f"{MAX_BATCH_ROWS + 1} rows in one request; the limit is {MAX_BATCH_ROWS}",
        ),
    }


@pytest.mark.e2e
@pytest.mark.slow
@pytest.mark.parametrize(("framework", "workers"), [("tensorflow", 1), ("pytorch", 2)])
def test_serve_answers_good_rows_and_refuses_bad_ones_with_400(
    make_run, tmp_path, framework, workers
):
    output_dir = make_run.output_dir
    rows = _test_rows(output_dir)
    (port,) = free_ports(1)
    log = tmp_path / "serve.log"
    command = [str(TANDEM), "serve", "--framework", framework, "--output-dir", str(output_dir)]
    options = ["--port", str(port), "--workers", str(workers)]
    with log.open("w") as sink:
        process = subprocess.Popen(
            [*command, *options, "--max-batch-rows", str(MAX_BATCH_ROWS)],
            stdout=sink,
            stderr=subprocess.STDOUT,
            env=_environment(),
            start_new_session=True,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_ready(process, f"{url}/ping", log)
        _assert_probabilities(*_post(f"{url}/invocations", rows), len(rows))
        for case, (body, message) in _bad_requests(rows).items():
            status, answer = _post(f"{url}/invocations", body)
            assert status == 400, (case, answer)
            assert message in answer["message"], (case, answer["message"][-500:])
        _assert_probabilities(*_post(f"{url}/invocations", rows[:3]), 3)
        tree = [psutil.Process(process.pid), *psutil.Process(process.pid).children(recursive=True)]
        assert len(tree) >= workers
        if framework == "pytorch":  # once: the port check is the same for both
            busy = subprocess.run(
                [*command, *options],
                capture_output=True,
                text=True,
                env=_environment(),
                timeout=120,
            )
            assert busy.returncode == 2
            assert f"port {port} on 127.0.0.1 is in use; pick another with --port" in busy.stderr
        # SIGTERM to the server alone, as a supervisor sends it: it stops with every worker.
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=30)
        _, alive = psutil.wait_procs(tree, timeout=10)
        assert not alive, [(p.pid, p.name()) for p in alive]
    finally:
        stop_group(process)
    assert f"serving penguins-{framework} version " in log.read_text()
    assert f"curl -s {url}/invocations -H 'Content-Type: application/json' -d @" in log.read_text()


def _tandem(monkeypatch, capsys, *args: str) -> tuple[int, str]:
    """The command in this process (it fails before it would start a server)."""
    monkeypatch.setattr(sys, "argv", ["tandem", *args])
    with pytest.raises(SystemExit) as exit_info:
        cli.main()
    return exit_info.value.code, capsys.readouterr().err


@pytest.mark.e2e
def test_serve_unknown_model_or_alias_is_one_clear_line(make_run, monkeypatch, capsys):
    base = ["serve", "--framework", "pytorch", "--output-dir", str(make_run.output_dir)]
    expected = {
        "--model=penguins-nothing": "no registered model 'penguins-nothing' in sqlite:",
        "--alias=production": "has no version with the alias 'production'",
    }
    for option, message in expected.items():
        code, err = _tandem(monkeypatch, capsys, *base, option)
        assert code == 2
        assert message in err and "run `tandem run`" in err
        assert len(err.strip().splitlines()) == 1, err


def test_serve_without_a_store_is_one_clear_line(tmp_path, monkeypatch, capsys):
    code, err = _tandem(
        monkeypatch, capsys, "serve", "--framework", "tensorflow", "--output-dir", str(tmp_path)
    )
    assert code == 2
    assert f"{tmp_path}/mlflow.db: no MLflow store; run `tandem run" in err
    assert not (tmp_path / "mlflow.db").exists()


@pytest.mark.e2e
@pytest.mark.slow
def test_quick_serving_benchmark_loads_both_champions(make_run, tmp_path, monkeypatch):
    """The `serving` round of `make bench`, in quick mode on make_run's champions (here, not in
    tests/benchmarks/, to reuse the session's run instead of training its own)."""
    from benchmarks import run as bench_run
    from benchmarks.serving_bench import CASES, OUTPUT_DIR_ENV

    monkeypatch.setenv(OUTPUT_DIR_ENV, str(make_run.output_dir))
    monkeypatch.setattr(bench_run, "RESULTS_DIR", tmp_path)
    assert bench_run.main(["--quick", "--only", "serving"]) == 0
    result = json.loads((tmp_path / "latest-serving.json").read_text())["result"]
    assert result["errors"] == 0
    assert [(case["batch_rows"], case["concurrency"]) for case in result["cases"]] == list(CASES)
    for case in result["cases"]:
        for framework in ("tensorflow", "pytorch"):
            assert case[framework]["requests_per_s"]["median"] > 0
            assert case[framework]["peak_rss_mb"]["median"] > 50
        assert case["pytorch_over_tensorflow"]["p99_ms"]["median"] > 0
