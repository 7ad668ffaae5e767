"""run_fn as TFX's Trainer calls it: FnArgs over ExampleGen's Parquet examples and Transform's
graph."""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
import tensorflow as tf
from mlflow.tracking import MlflowClient
from tfx.components.trainer.fn_args_utils import FnArgs

from components.common.features import encode
from components.common.input_probe import PROBE_ARTIFACT, probe_rows
from components.common.layer_summary import ARTIFACT as ARCHITECTURE_ARTIFACT
from components.common.resources import current_rss_mb
from components.common.tracking import TAG_FRAMEWORK, TAG_STEP, experiment_name, tracking_uri
from components.export import load_predictor
from components.tf_trainer import trainer
from components.tf_trainer.config import trainer_config
from components.tf_trainer.trainer import run_fn
from tests.step_clock import assert_step_covers_call_to_export


@pytest.mark.e2e
def test_run_fn_trains_logs_and_exports(
    penguins_snapshot, penguins_spec, transform_run, tmp_path, monkeypatch
):
    spec = penguins_spec.model_copy(
        update={"training": penguins_spec.training.model_copy(update={"epochs": 3})}
    )
    runs_dir, board_root = tmp_path / "runs", tmp_path / "tensorboard"
    fn_args = FnArgs(
        train_files=transform_run.train_files,
        eval_files=transform_run.eval_files,
        transform_output=str(transform_run.transform_dir),
        serving_model_dir=str(tmp_path / "serving"),
        model_run_dir=str(tmp_path / "model_run"),
        custom_config=trainer_config(
            spec,
            runs_dir=str(runs_dir),
            tensorboard_root=str(board_root),
            run_name="r1",
            snapshot_dir=str(penguins_snapshot.snapshot_dir),
        ),
    )
    # Each split read also holds 64 MiB, like a big split: the step's memory window must start
    # before the reads, so its start figure excludes them and its own increase counts them.
    rss_before_reads, held = [], []

    def read_split(*args, **kwargs):
        rss_before_reads.append(current_rss_mb())
        held.append(bytearray(64 * 2**20))
        return original_read_split(*args, **kwargs)

    original_read_split = trainer.read_split
    monkeypatch.setattr(trainer, "read_split", read_split)
    called_at = time.time()
    run_fn(fn_args)
    held.clear()

    test = pq.read_table(penguins_snapshot.snapshot_dir / "test")
    probabilities = load_predictor(tmp_path / "serving", "tensorflow").predict(test)
    assert probabilities.shape == (44, 3)
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, atol=1e-5)

    client = MlflowClient(tracking_uri(runs_dir))
    experiment = client.get_experiment_by_name(experiment_name(spec.name))
    (run,) = client.search_runs([experiment.experiment_id])
    assert run.data.tags[TAG_STEP] == "train"
    assert run.data.tags[TAG_FRAMEWORK] == "tensorflow"
    assert run.data.params["parameter_count"] == "323"
    assert run.data.params["compile"] == "graph"
    assert run.data.params["seed"] == "0"
    assert run.data.metrics["samples_per_s"] > 0
    assert run.data.metrics["start_rss_mb"] < rss_before_reads[0] + 32
    assert run.data.metrics["peak_rss_mb"] - run.data.metrics["start_rss_mb"] > 2 * 64
    assert run.data.metrics["step_s"] > run.data.metrics["fit_s"]
    assert_step_covers_call_to_export(run, called_at, tmp_path / "serving")
    assert run.data.tags["tandem.env.tensorflow"] == tf.__version__
    assert run.data.tags["tandem.env.accelerators"] == "none"
    for key in ("train_loss", "train_accuracy", "val_loss", "val_accuracy"):
        history = client.get_metric_history(run.info.run_id, key)
        assert [m.step for m in history] == [0, 1, 2], key

    probe = json.loads(
        (Path(client.download_artifacts(run.info.run_id, PROBE_ARTIFACT))).read_text()
    )
    rows = probe_rows(penguins_snapshot.snapshot_dir, penguins_snapshot.manifest)
    assert probe["ids"] == rows.column("tandem_row_id").to_pylist()
    np.testing.assert_allclose(probe["inputs"], encode(rows, penguins_snapshot.manifest), atol=1e-5)
    architecture = Path(client.download_artifacts(run.info.run_id, ARCHITECTURE_ARTIFACT))
    assert architecture.read_text().splitlines()[:2] == [
        "TensorFlow: mlp",
        "trainable parameters: 323",
    ]

    for log_dir in (tmp_path / "model_run", board_root / "tensorflow" / "r1"):
        assert scalar_steps(log_dir / "train", "epoch_loss") == [0, 1, 2]
        assert scalar_steps(log_dir / "validation", "epoch_accuracy") == [0, 1, 2]


def scalar_steps(log_dir: Path, tag: str) -> list[int]:
    """Steps at which the event files under log_dir hold a scalar `tag`."""
    steps = []
    for path in sorted(log_dir.glob("events.out.tfevents.*")):
        for event in tf.compat.v1.train.summary_iterator(str(path)):
            steps += [event.step for value in event.summary.value if value.tag == tag]
    return steps
