"""evaluate_model end to end: both frameworks under one contract, blessing and registry aliases."""

from __future__ import annotations

import json

import mlflow
import pyarrow.parquet as pq
import pytest
from mlflow.tracking import MlflowClient

from components.common.spec import default_spec_path, load_spec
from components.common.tracking import tracking_uri
from components.evaluate.predictions import PREDICTIONS_FILE
from components.evaluate.run import BLESSING_FILE, CALIBRATION_PLOT, CONFUSION_PLOT, evaluate_model
from components.register.registry import CHALLENGER, CHAMPION, METRIC_TAG
from tests.components.evaluate.tiny_models import train_tiny_keras, train_tiny_torch

pytestmark = pytest.mark.e2e


def _spec(**evaluation):
    spec = load_spec(default_spec_path()).spec
    return spec.model_copy(update={"evaluation": spec.evaluation.model_copy(update=evaluation)})


@pytest.fixture(scope="module")
def models(penguins_snapshot, tmp_path_factory):
    snapshot, manifest = penguins_snapshot.snapshot_dir, penguins_snapshot.manifest
    root = tmp_path_factory.mktemp("models")
    return {
        "tensorflow": train_tiny_keras(snapshot, manifest, root / "tf", steps=60),
        "pytorch": train_tiny_torch(snapshot, manifest, root / "torch", steps=60),
        "untrained": train_tiny_torch(snapshot, manifest, root / "untrained", steps=0, seed=5),
    }


def test_both_frameworks_meet_one_contract(models, penguins_snapshot, tmp_path):
    spec = _spec(latency_calls=20)
    results = {
        framework: evaluate_model(
            models[framework],
            framework,
            penguins_snapshot.snapshot_dir,
            spec,
            tmp_path / framework,
            tmp_path,
            track=False,
        )
        for framework in ("tensorflow", "pytorch")
    }
    tables = {f: pq.read_table(r.work_dir / PREDICTIONS_FILE) for f, r in results.items()}
    assert tables["tensorflow"].schema == tables["pytorch"].schema
    assert tables["tensorflow"]["id"].to_pylist() == tables["pytorch"]["id"].to_pylist()
    assert results["tensorflow"].metrics.keys() == results["pytorch"].metrics.keys()
    for result in results.values():
        assert (
            result.metrics["latency.batch_256.p99_ms"]
            >= result.metrics["latency.batch_256.p50_ms"]
            > 0
        )
        assert result.metrics["slice.island.Biscoe.count"] > 0
        for name in (BLESSING_FILE, CONFUSION_PLOT, CALIBRATION_PLOT):
            assert (result.work_dir / name).stat().st_size > 0
        assert (
            json.loads((result.work_dir / BLESSING_FILE).read_text())["blessed"]
            is result.blessing.blessed
        )


def _aliases(client, name):
    return {
        alias: str(client.get_model_version_by_alias(name, alias).version)
        for alias in (CHALLENGER, CHAMPION)
    }


def test_champion_moves_only_to_blessed_models(models, penguins_snapshot, tmp_path, monkeypatch):
    spec = _spec(thresholds={"accuracy": 0.6}, regression_tolerance=0.02, latency_calls=10)
    snapshot = penguins_snapshot.snapshot_dir

    def evaluate(model, name):
        return evaluate_model(models[model], "pytorch", snapshot, spec, tmp_path / name, tmp_path)

    first = evaluate("pytorch", "first")
    assert first.blessing.blessed and first.model_version == "1"
    client = MlflowClient(tracking_uri(tmp_path))
    assert _aliases(client, "penguins-pytorch") == {CHALLENGER: "1", CHAMPION: "1"}

    worse = evaluate("untrained", "worse")
    assert not worse.blessing.blessed
    failed = {check.metric for check in worse.blessing.checks if not check.passed}
    assert "accuracy" in failed
    assert _aliases(client, "penguins-pytorch") == {CHALLENGER: "2", CHAMPION: "1"}

    again = evaluate("pytorch", "again")
    assert again.blessing.blessed
    assert any(check.kind == "no_regression" for check in again.blessing.checks)
    assert _aliases(client, "penguins-pytorch") == {CHALLENGER: "3", CHAMPION: "3"}

    version = client.get_model_version("penguins-pytorch", "3")
    assert float(version.tags[f"{METRIC_TAG}accuracy"]) == pytest.approx(again.metrics["accuracy"])
    run = client.get_run(again.mlflow_run_id)
    assert run.data.metrics["slice.sex.female.accuracy"] == pytest.approx(
        again.metrics["slice.sex.female.accuracy"]
    )
    artifacts = {a.path for a in client.list_artifacts(again.mlflow_run_id)}
    assert {PREDICTIONS_FILE, BLESSING_FILE, CONFUSION_PLOT, CALIBRATION_PLOT} <= artifacts

    monkeypatch.setenv("MLFLOW_TRACKING_URI", tracking_uri(tmp_path))
    served = mlflow.pyfunc.load_model("models:/penguins-pytorch@champion")
    rows = pq.read_table(snapshot / "test").slice(0, 3).to_pandas()
    features = [f.name for f in spec.dataset.features]
    probabilities = served.predict(rows[features])
    assert list(probabilities.columns) == ["prob_Adelie", "prob_Chinstrap", "prob_Gentoo"]
    assert probabilities.sum(axis=1).round(4).tolist() == [1.0, 1.0, 1.0]


def test_below_threshold_never_becomes_champion(models, penguins_snapshot, tmp_path):
    spec = _spec(thresholds={"accuracy": 0.99}, latency_calls=10)
    result = evaluate_model(
        models["untrained"],
        "pytorch",
        penguins_snapshot.snapshot_dir,
        spec,
        tmp_path / "e",
        tmp_path,
    )
    assert not result.blessing.blessed
    client = MlflowClient(tracking_uri(tmp_path))
    assert str(client.get_model_version_by_alias("penguins-pytorch", CHALLENGER).version) == "1"
    with pytest.raises(mlflow.exceptions.MlflowException):
        client.get_model_version_by_alias("penguins-pytorch", CHAMPION)
