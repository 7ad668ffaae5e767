"""The register step after the judge: every judged model becomes a version, `challenger` always,
`champion` only when blessed; the next judgement reads the champion's recorded metrics."""

from __future__ import annotations

import mlflow
import pyarrow.parquet as pq
import pytest
from mlflow.tracking import MlflowClient

from components.common.model_registry import CHALLENGER, CHAMPION, METRIC_TAG
from components.common.tracking import tracking_uri
from components.evaluate.run import evaluate_model
from components.register.step import register_model
from components.spec import default_spec_path, load_spec

pytestmark = pytest.mark.e2e
MODEL = "penguins-pytorch"


def evaluation_spec(**evaluation):
    spec = load_spec(default_spec_path()).spec
    return spec.model_copy(update={"evaluation": spec.evaluation.model_copy(update=evaluation)})


def judge_and_register(model_dir, spec, snapshot, work, runs):
    result = evaluate_model(model_dir, "pytorch", snapshot, spec, work, runs)
    version = register_model(model_dir, "pytorch", snapshot, spec, work, runs)
    return result, version


def _aliases(client, name):
    return {
        alias: str(client.get_model_version_by_alias(name, alias).version)
        for alias in (CHALLENGER, CHAMPION)
    }


def test_champion_moves_only_to_blessed_models(
    tiny_models, penguins_snapshot, tmp_path, monkeypatch
):
    spec = evaluation_spec(
        thresholds={"accuracy": 0.6}, regression_tolerance=0.02, latency_calls=10
    )
    snapshot = penguins_snapshot.snapshot_dir

    def step(model, name):
        return judge_and_register(tiny_models[model], spec, snapshot, tmp_path / name, tmp_path)

    first, version = step("pytorch", "first")
    assert first.blessing.blessed and version == "1"
    client = MlflowClient(tracking_uri(tmp_path))
    assert _aliases(client, MODEL) == {CHALLENGER: "1", CHAMPION: "1"}

    worse, version = step("untrained", "worse")
    assert not worse.blessing.blessed and version == "2"
    failed = {check.metric for check in worse.blessing.checks if not check.passed}
    assert "accuracy" in failed
    assert _aliases(client, MODEL) == {CHALLENGER: "2", CHAMPION: "1"}

    again, version = step("pytorch", "again")
    assert again.blessing.blessed
    assert any(check.kind == "no_regression" for check in again.blessing.checks)
    assert _aliases(client, MODEL) == {CHALLENGER: "3", CHAMPION: "3"}

    registered = client.get_model_version(MODEL, "3")
    assert float(registered.tags[f"{METRIC_TAG}accuracy"]) == pytest.approx(
        again.metrics["accuracy"]
    )
    register_run = client.get_run(registered.run_id)
    assert register_run.data.tags["tandem.step"] == "register"
    assert register_run.data.metrics["step_s"] > 0
    assert 0 < register_run.data.metrics["start_rss_mb"] <= register_run.data.metrics["peak_rss_mb"]

    monkeypatch.setenv("MLFLOW_TRACKING_URI", tracking_uri(tmp_path))
    served = mlflow.pyfunc.load_model(f"models:/{MODEL}@champion")
    rows = pq.read_table(snapshot / "test").slice(0, 3).to_pandas()
    features = [f.name for f in spec.dataset.features]
    probabilities = served.predict(rows[features])
    assert list(probabilities.columns) == ["prob_Adelie", "prob_Chinstrap", "prob_Gentoo"]
    assert probabilities.sum(axis=1).round(4).tolist() == [1.0, 1.0, 1.0]


def test_below_threshold_never_becomes_champion(tiny_models, penguins_snapshot, tmp_path):
    spec = evaluation_spec(thresholds={"accuracy": 0.99}, latency_calls=10)
    result, version = judge_and_register(
        tiny_models["untrained"], spec, penguins_snapshot.snapshot_dir, tmp_path / "e", tmp_path
    )
    assert not result.blessing.blessed
    client = MlflowClient(tracking_uri(tmp_path))
    assert str(client.get_model_version_by_alias(MODEL, CHALLENGER).version) == version == "1"
    with pytest.raises(mlflow.exceptions.MlflowException):
        client.get_model_version_by_alias(MODEL, CHAMPION)
