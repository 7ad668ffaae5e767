"""The training entry point as one process: export, MLflow run, checkpoint and resume."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pyarrow.parquet as pq
import pytest
import torch
import yaml
from mlflow.tracking import MlflowClient

from components.common.architectures import parameter_count
from components.common.features import encode, input_names
from components.common.input_probe import PROBE_ARTIFACT, probe_rows
from components.common.layer_summary import ARTIFACT as ARCHITECTURE_ARTIFACT
from components.common.tracking import TAG_FRAMEWORK, tracking_uri
from components.export import load_predictor
from components.spec import load_spec
from components.torch_trainer.checkpoint import EPOCHS_DONE, LAST_CHECKPOINT, state_sha256
from components.torch_trainer.run_log import RUN_ID_FILE
from components.torch_trainer.train import main
from tests.components.model_families import PENGUINS_INPUT
from tests.components.torch_trainer.conftest import EPOCHS
from tests.step_clock import assert_step_covers_call_to_export

EPOCH_METRICS = ("train_loss", "train_accuracy", "val_loss", "val_accuracy")


def train_argv(spec: Path, snapshot, out: Path) -> list[str]:
    return [
        "--spec",
        str(spec),
        "--snapshot",
        str(snapshot.snapshot_dir),
        "--model-dir",
        str(out / "model"),
        "--runs-dir",
        str(out / "runs"),
        "--checkpoint-dir",
        str(out / "checkpoints"),
        "--log-root",
        str(out / "logs"),
    ]


def the_only_run(runs_dir: Path):
    client = MlflowClient(tracking_uri(runs_dir))
    runs = client.search_runs([e.experiment_id for e in client.search_experiments()])
    assert len(runs) == 1
    return client, runs[0]


def epoch_steps(runs_dir: Path, run_id: str, key: str) -> list[int]:
    history = MlflowClient(tracking_uri(runs_dir)).get_metric_history(run_id, key)
    return sorted(metric.step for metric in history)


@pytest.fixture(scope="module")
def trained_at(tiny_spec, penguins_snapshot, tmp_path_factory) -> tuple[Path, float]:
    """The output directory of one training run, and the wall time it was called at."""
    out = tmp_path_factory.mktemp("torch-train")
    called_at = time.time()
    assert main(train_argv(tiny_spec, penguins_snapshot, out)) == 0
    return out, called_at


@pytest.fixture(scope="module")
def trained(trained_at) -> Path:
    return trained_at[0]


def test_export_is_accepted_by_the_evaluator(trained, penguins_snapshot):
    test_rows = pq.read_table(penguins_snapshot.snapshot_dir / "test")
    predictor = load_predictor(trained / "model", "pytorch")
    assert predictor.format == "pt2"
    probabilities = predictor.predict(test_rows)
    assert probabilities.shape == (44, 3)
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, atol=1e-5)
    assert predictor.predict(test_rows.slice(0, 1)).shape == (1, 3)  # dynamic batch, min 1
    torchscript = torch.jit.load(str(trained / "model" / "model.torchscript.pt"))
    assert torchscript(torch.zeros(2, 9)).shape == (2, 3)


def test_the_input_probe_is_the_encoded_test_rows(trained, penguins_snapshot):
    client, run = the_only_run(trained / "runs")
    probe = json.loads(Path(client.download_artifacts(run.info.run_id, PROBE_ARTIFACT)).read_text())
    manifest = penguins_snapshot.manifest
    rows = probe_rows(penguins_snapshot.snapshot_dir, manifest)
    assert len(probe["ids"]) == rows.num_rows > 0
    assert probe["names"] == input_names(manifest)
    np.testing.assert_allclose(probe["inputs"], encode(rows, manifest), atol=0)


def test_step_s_covers_the_whole_step_as_in_the_tensorflow_trainer(trained_at):
    out, called_at = trained_at
    _, run = the_only_run(out / "runs")
    assert_step_covers_call_to_export(run, called_at, out / "model")


def test_one_mlflow_run_with_each_epoch_once(trained):
    _, run = the_only_run(trained / "runs")
    assert run.info.status == "FINISHED"
    assert run.data.tags[TAG_FRAMEWORK] == "pytorch"
    assert run.data.params["parameter_count"] == "323"
    assert run.data.params["world_size"] == "1"
    assert run.data.params["adam_epsilon"] == "1e-07"
    for key in EPOCH_METRICS:
        assert epoch_steps(trained / "runs", run.info.run_id, key) == list(range(EPOCHS))
    assert run.data.metrics["samples_per_s"] > 0
    assert 0 < run.data.metrics["start_rss_mb"] <= run.data.metrics["peak_rss_mb"]
    assert run.data.metrics["train_examples"] == 247
    assert run.data.metrics["step_s"] > run.data.metrics["fit_s"]
    assert run.data.tags["tandem.env.torch"] == torch.__version__
    assert run.data.tags["tandem.env.accelerators"] == "none"
    assert (trained / "checkpoints" / RUN_ID_FILE).read_text() == run.info.run_id
    assert (trained / "logs" / "pytorch" / run.info.run_id).is_dir()


def test_the_architecture_summary_is_logged(trained):
    client, run = the_only_run(trained / "runs")
    summary = Path(client.download_artifacts(run.info.run_id, ARCHITECTURE_ARTIFACT)).read_text()
    assert summary.splitlines()[:2] == ["PyTorch: mlp", "trainable parameters: 323"]


@pytest.mark.slow
def test_a_crashed_run_resumes_from_its_checkpoint(trained, tiny_spec, penguins_snapshot, tmp_path):
    argv = train_argv(tiny_spec, penguins_snapshot, tmp_path)
    crash = subprocess.run(
        [sys.executable, "-m", "components.torch_trainer.train", *argv],
        env={**os.environ, "TANDEM_FAIL_ONCE": "rank=0,epoch=2"},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert crash.returncode == 1, crash.stderr[-2000:]
    checkpoint = torch.load(tmp_path / "checkpoints" / LAST_CHECKPOINT, weights_only=False)
    assert checkpoint[EPOCHS_DONE] == 2  # epochs 0 and 1 done, the crash came at the start of 2
    assert not list((tmp_path / "checkpoints").glob("*.partial"))
    assert not (tmp_path / "model").exists()

    assert main(argv) == 0
    summary = json.loads((tmp_path / "checkpoints" / "rank-0.json").read_text())
    assert summary["resumed_from"] == str(tmp_path / "checkpoints" / LAST_CHECKPOINT)
    assert summary["start_epoch"] == 2
    # training restarted from the checkpoint's weights, not from a fresh initialisation...
    assert summary["start_state_sha256"] == state_sha256(checkpoint["model"])
    # ...and (shuffle order seeded per epoch) ended where the uninterrupted run ended
    uninterrupted = json.loads((trained / "checkpoints" / "rank-0.json").read_text())
    assert summary["final_state_sha256"] == uninterrupted["final_state_sha256"]

    _, run = the_only_run(tmp_path / "runs")
    assert run.info.run_id == summary["mlflow_run_id"]
    assert run.info.status == "FINISHED"
    assert run.data.tags["tandem.resumed_from_epoch"] == "2"
    # the resuming process owns the run now, not the crashed one (orphan closing judges by it)
    assert run.data.tags["tandem.owner.pid"] == str(os.getpid())
    for key in EPOCH_METRICS:
        assert epoch_steps(tmp_path / "runs", summary["mlflow_run_id"], key) == [0, 1, 2]
    assert load_predictor(tmp_path / "model", "pytorch").format == "pt2"


@pytest.mark.slow
def test_compile_mode_trains_a_compiled_network_and_exports_it(
    tiny_spec, penguins_snapshot, tmp_path
):
    from torch._dynamo.utils import counters

    document = yaml.safe_load(tiny_spec.read_text())
    document["training"]["epochs"] = 1
    document["training"]["compile"]["pytorch"] = "compile"
    spec = tmp_path / "compile.yaml"
    spec.write_text(yaml.safe_dump(document))
    graphs_before = counters["stats"]["unique_graphs"]
    assert main(train_argv(spec, penguins_snapshot, tmp_path)) == 0
    assert counters["stats"]["unique_graphs"] > graphs_before  # Dynamo captured the network
    _, run = the_only_run(tmp_path / "runs")
    assert run.data.params["compile"] == "compile"
    assert run.data.metrics["first_step_s"] > 0  # includes the compilation, timed apart
    assert load_predictor(tmp_path / "model", "pytorch").format == "pt2"


@pytest.mark.slow
def test_an_ft_transformer_trains_logs_its_model_and_exports(
    tiny_spec, penguins_snapshot, tmp_path
):
    document = yaml.safe_load(tiny_spec.read_text())
    document["training"]["epochs"] = 1
    document["training"]["model"] = {
        "family": "ft_transformer",
        "params": {"d_token": 8, "n_heads": 2, "d_ffn": 16, "n_blocks": 1},
    }
    spec = tmp_path / "ft.yaml"
    spec.write_text(yaml.safe_dump(document))
    assert main(train_argv(spec, penguins_snapshot, tmp_path)) == 0
    _, run = the_only_run(tmp_path / "runs")
    training = load_spec(spec).spec.training
    assert run.data.params["model"] == training.model.describe()
    assert run.data.params["model"].startswith("ft_transformer(d_token=8, n_blocks=1, n_heads=2")
    assert run.data.params["parameter_count"] == str(parameter_count(training, PENGUINS_INPUT, 3))
    test_rows = pq.read_table(penguins_snapshot.snapshot_dir / "test")
    probabilities = load_predictor(tmp_path / "model", "pytorch").predict(test_rows)
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, atol=1e-5)


def test_a_missing_snapshot_fails_clearly_before_any_run(tiny_spec, tmp_path, capsys):
    argv = train_argv(tiny_spec, SimpleNamespace(snapshot_dir=tmp_path / "nothing"), tmp_path)
    assert main(argv) == 2
    assert "not a tandem snapshot (no readable manifest.json)" in capsys.readouterr().err
    assert not (tmp_path / "runs").exists()


def test_tensorboard_events_are_written_without_importing_tensorflow(tmp_path):
    """Rank 0 writes TensorBoard events with TensorBoard's TF-free stub, as in the torch image: no
    TensorFlow import (seconds) inside the PyTorch train step where both share one environment."""
    code = (
        "import sys; from pathlib import Path; "
        "from components.torch_trainer.train import _loggers; "
        f"[logger] = _loggers(Path({str(tmp_path)!r}), 'r'); "
        "logger.log_metrics({'loss': 1.0}, 0); logger.finalize('success'); "
        "sys.exit('tensorflow' in sys.modules)"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
    assert list((tmp_path / "pytorch" / "r").glob("events.out.tfevents.*"))
