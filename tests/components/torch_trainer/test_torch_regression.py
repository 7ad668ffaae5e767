"""The PyTorch trainer on a regression spec: standardised target, predictions in the label's
units, RMSE per epoch, and the evaluator's regression metrics on its export."""

from __future__ import annotations

import json

import mlflow
import numpy as np
import pyarrow.parquet as pq
import pytest
import torch

from components.common.targets import label_values
from components.common.tracking import tracking_uri
from components.evaluate.metrics import regression_metrics
from components.evaluate.predictions import PREDICTIONS_FILE
from components.evaluate.run import PREDICTED_PLOT, evaluate_model
from components.export import load_predictor
from components.register.step import register_model
from components.spec import load_spec
from components.torch_trainer.train import main
from tests.components.torch_trainer.test_torch_train import epoch_steps, the_only_run, train_argv


@pytest.fixture(scope="module")
def trained(regression_spec_path, regression_snapshot, tmp_path_factory):
    out = tmp_path_factory.mktemp("torch-regression")
    assert main(train_argv(regression_spec_path, regression_snapshot, out)) == 0
    return out


def exported_width(trained) -> int:
    encoding = json.loads((trained / "model" / "encoding.json").read_text())
    assert encoding["task"] == "regression"
    return len(encoding["input_names"])


def test_the_export_predicts_grams_and_explains_most_of_the_variance(trained, regression_snapshot):
    test = pq.read_table(regression_snapshot.snapshot_dir / "test")
    predictions = load_predictor(trained / "model", "pytorch").predict(test)
    assert predictions.shape == (test.num_rows,)
    labels = label_values(test, regression_snapshot.manifest)
    assert regression_metrics(labels, predictions)["r2"] > 0.6
    torchscript = torch.jit.load(str(trained / "model" / "model.torchscript.pt"))
    assert torchscript(torch.zeros(2, exported_width(trained))).shape == (2,)


def test_each_epoch_logs_the_rmse_of_the_standardised_target(trained, regression_spec_path):
    _, run = the_only_run(trained / "runs")
    epochs = load_spec(regression_spec_path).spec.training.epochs
    for key in ("train_loss", "train_rmse", "val_loss", "val_rmse"):
        assert epoch_steps(trained / "runs", run.info.run_id, key) == list(range(epochs))
    assert "train_accuracy" not in run.data.metrics
    assert run.data.metrics["val_rmse"] == pytest.approx(np.sqrt(run.data.metrics["val_loss"]))
    assert run.data.metrics["val_rmse"] < 0.7  # in standard deviations of the label


def test_the_evaluator_judges_the_export_on_rmse_mae_and_r2(
    trained, regression_snapshot, regression_spec_path, tmp_path
):
    spec = load_spec(regression_spec_path).spec
    spec = spec.model_copy(
        update={"evaluation": spec.evaluation.model_copy(update={"latency_calls": 10})}
    )
    result = evaluate_model(
        trained / "model",
        "pytorch",
        regression_snapshot.snapshot_dir,
        spec,
        tmp_path / "evaluation",
        tmp_path,
        track=False,
    )
    assert {"rmse", "mae", "r2"} <= result.metrics.keys()
    assert "accuracy" not in result.metrics
    assert result.metrics["slice.species.Gentoo.rmse"] > 0
    assert result.blessing.blessed
    assert result.blessing.metrics.keys() == {"rmse", "mae", "r2"}
    table = pq.read_table(result.work_dir / PREDICTIONS_FILE)
    assert table.column_names == ["id", "label", "prediction"]
    assert (result.work_dir / PREDICTED_PLOT).stat().st_size > 0


def test_the_registered_model_serves_one_prediction_column(
    trained, regression_snapshot, regression_spec_path, tmp_path, monkeypatch
):
    spec = load_spec(regression_spec_path).spec
    spec = spec.model_copy(
        update={"evaluation": spec.evaluation.model_copy(update={"latency_calls": 10})}
    )
    snapshot, model_dir = regression_snapshot.snapshot_dir, trained / "model"
    evaluate_model(model_dir, "pytorch", snapshot, spec, tmp_path / "evaluation", tmp_path)
    version = register_model(
        model_dir, "pytorch", snapshot, spec, tmp_path / "evaluation", tmp_path
    )

    monkeypatch.setenv("MLFLOW_TRACKING_URI", tracking_uri(tmp_path))
    served = mlflow.pyfunc.load_model(f"models:/penguins-mass-pytorch/{version}")
    test = pq.read_table(snapshot / "test").slice(0, 5)
    features = [f.name for f in spec.dataset.features]
    predicted = served.predict(test.to_pandas()[features])
    assert list(predicted.columns) == ["prediction"]
    expected = load_predictor(model_dir, "pytorch").predict(test)
    np.testing.assert_allclose(predicted["prediction"].to_numpy(), expected, rtol=1e-6)
    signature = served.metadata.get_output_schema().input_names()
    assert signature == ["prediction"]
