"""The TensorFlow trainer on a regression spec: the label read as a number through the transform
graph, standardised with the manifest's statistics like the PyTorch side, an export serving
predictions in the label's units, and RMSE per epoch."""

from __future__ import annotations

import numpy as np
import pyarrow.parquet as pq
import pytest
import tensorflow_transform as tft
from mlflow.tracking import MlflowClient

from components.common.targets import LabelScale, label_values
from components.common.tracking import tracking_uri
from components.evaluate.metrics import regression_metrics
from components.export import PREDICTION_OUTPUT, load_predictor
from components.spec import load_spec
from components.tf_trainer.config import trainer_config, transform_config
from components.tf_trainer.data import read_split
from components.tf_trainer.export import check_export
from components.tf_trainer.preprocessing import preprocessing_fn
from components.tf_trainer.trainer import train_and_export
from tests.components.tf_trainer.transform_helpers import analyze, publish_snapshot


@pytest.fixture(scope="module")
def trained(regression_spec_path, regression_snapshot, tmp_path_factory):
    spec = load_spec(regression_spec_path).spec
    out = tmp_path_factory.mktemp("tf-regression")
    patterns = publish_snapshot(regression_snapshot.snapshot_dir, out / "examples")
    config = transform_config(spec)
    transform_dir = analyze(
        lambda inputs: preprocessing_fn(inputs, config), out / "examples" / "Split-train", out
    )
    output = tft.TFTransformOutput(str(transform_dir))
    train = read_split(patterns["train"], output, spec.dataset)
    evaluation = read_split(patterns["eval"], output, spec.dataset)
    custom_config = trainer_config(
        spec, runs_dir=str(out / "runs"), snapshot_dir=str(regression_snapshot.snapshot_dir)
    )
    result = train_and_export(
        train, evaluation, output, spec, custom_config, out / "serving", str(out / "model_run")
    )
    return out, train, result


def test_the_read_labels_are_the_numbers_in_the_snapshot(trained, regression_snapshot):
    _, train, _ = trained
    snapshot_train = pq.read_table(regression_snapshot.snapshot_dir / "train")
    expected = label_values(snapshot_train, regression_snapshot.manifest)
    np.testing.assert_allclose(np.sort(train.labels), np.sort(expected))
    scale = LabelScale.from_manifest(regression_snapshot.manifest)
    standardised = train.standardised(scale).labels
    assert standardised.shape == (len(expected), 1)
    assert abs(standardised.mean()) < 1e-5 and standardised.std() == pytest.approx(1, abs=1e-5)


def test_the_export_predicts_grams_and_explains_most_of_the_variance(
    trained, regression_snapshot, regression_spec_path
):
    out, _, _ = trained
    check_export(out / "serving", load_spec(regression_spec_path).spec.dataset)
    predictor = load_predictor(out / "serving", "tensorflow")
    assert predictor.output == PREDICTION_OUTPUT
    test = pq.read_table(regression_snapshot.snapshot_dir / "test")
    predictions = predictor.predict(test)
    assert predictions.shape == (test.num_rows,)
    labels = label_values(test, regression_snapshot.manifest)
    assert regression_metrics(labels, predictions)["r2"] > 0.6


def test_each_epoch_logs_the_rmse_of_the_standardised_target(trained):
    out, _, result = trained
    client = MlflowClient(tracking_uri(out / "runs"))
    (run,) = client.search_runs([e.experiment_id for e in client.search_experiments()])
    epochs = len(result.epoch_seconds)
    for key in ("train_loss", "train_rmse", "val_loss", "val_rmse"):
        assert len(client.get_metric_history(run.info.run_id, key)) == epochs
    assert "train_accuracy" not in run.data.metrics
    assert run.data.metrics["val_rmse"] < 0.7  # in standard deviations of the label
