"""evaluate_model end to end: both frameworks under one contract, the evaluation logged to
MLflow, and the judge reading the registry's champion without registering anything itself."""

from __future__ import annotations

import json

import pyarrow.parquet as pq
import pytest
from mlflow.tracking import MlflowClient

from components.common.tracking import tracking_uri
from components.evaluate.blessing import BLESSING_FILE
from components.evaluate.predictions import PREDICTIONS_FILE
from components.evaluate.run import CALIBRATION_PLOT, CONFUSION_PLOT, evaluate_model
from components.spec import default_spec_path, load_spec

pytestmark = pytest.mark.e2e


def evaluation_spec(**evaluation):
    spec = load_spec(default_spec_path()).spec
    return spec.model_copy(update={"evaluation": spec.evaluation.model_copy(update=evaluation)})


def test_both_frameworks_meet_one_contract(tiny_models, penguins_snapshot, tmp_path):
    spec = evaluation_spec(latency_calls=20)
    results = {
        framework: evaluate_model(
            tiny_models[framework],
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
        blessing = json.loads((result.work_dir / BLESSING_FILE).read_text())
        assert blessing["blessed"] is result.blessing.blessed
        assert blessing["metrics"]["accuracy"] == pytest.approx(result.metrics["accuracy"])


def test_the_evaluation_is_logged_and_nothing_is_registered(
    tiny_models, penguins_snapshot, tmp_path
):
    spec = evaluation_spec(thresholds={"accuracy": 0.6}, latency_calls=10)
    result = evaluate_model(
        tiny_models["pytorch"],
        "pytorch",
        penguins_snapshot.snapshot_dir,
        spec,
        tmp_path / "e",
        tmp_path,
    )
    client = MlflowClient(tracking_uri(tmp_path))
    run = client.get_run(result.mlflow_run_id)
    assert run.data.tags["tandem.step"] == "evaluate"
    assert 0 < run.data.metrics["start_rss_mb"] <= run.data.metrics["peak_rss_mb"]
    assert run.data.metrics["slice.sex.female.accuracy"] == pytest.approx(
        result.metrics["slice.sex.female.accuracy"]
    )
    artifacts = {a.path for a in client.list_artifacts(result.mlflow_run_id)}
    assert {PREDICTIONS_FILE, BLESSING_FILE, CONFUSION_PLOT, CALIBRATION_PLOT} <= artifacts
    assert "model" not in artifacts
    assert client.search_registered_models() == []
