"""The shared evaluator as a TFX component, alone in a two-node pipeline (Importer → evaluator)
on a tiny Keras SavedModel: it emits a ModelBlessing whose `blessed` property is what Pusher reads.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from components.evaluate.blessing import BLESSING_FILE
from components.spec import Spec, default_spec_path, load_spec, spec_to_yaml
from pipelines.tfx.run_record import custom_property, latest_run
from tests.components.evaluate.tiny_models import train_tiny_keras

PIPELINE = "tandem-evaluate-only"


@pytest.fixture(scope="module")
def tiny_model_uri(penguins_snapshot, tmp_path_factory) -> Path:
    """A Model artifact directory: the SavedModel in Format-Serving, as Trainer writes it."""
    from tfx.utils import path_utils

    uri = tmp_path_factory.mktemp("tiny-model")
    train_tiny_keras(
        penguins_snapshot.snapshot_dir,
        penguins_snapshot.manifest,
        Path(path_utils.serving_model_dir(str(uri))),
    )
    return uri


def _spec(thresholds: dict[str, float]) -> Spec:
    spec = load_spec(default_spec_path()).spec
    evaluation = spec.evaluation.model_copy(update={"thresholds": thresholds, "latency_calls": 10})
    return spec.model_copy(update={"evaluation": evaluation})


def _evaluate(model_uri: Path, snapshot_dir: Path, spec: Spec, work: Path):
    from tfx import v1 as tfx
    from tfx.types import standard_artifacts

    from components.evaluate.tfx_component import SharedEvaluator

    importer = tfx.dsl.Importer(
        source_uri=str(model_uri), artifact_type=standard_artifacts.Model
    ).with_id("ModelImporter")
    evaluator = SharedEvaluator(
        model=importer.outputs["result"],
        snapshot_dir=str(snapshot_dir),
        spec_yaml=spec_to_yaml(spec),
        runs_dir=str(work / "runs"),
    )
    metadata = work / "metadata.db"
    pipeline = tfx.dsl.Pipeline(
        pipeline_name=PIPELINE,
        pipeline_root=str(work / "root"),
        components=[importer, evaluator],
        enable_cache=False,
        metadata_connection_config=tfx.orchestration.metadata.sqlite_metadata_connection_config(
            str(metadata)
        ),
    )
    tfx.orchestration.LocalDagRunner().run(pipeline)
    return latest_run(metadata, PIPELINE)["SharedEvaluator"].output("blessing")


@pytest.mark.e2e
def test_passing_thresholds_emit_blessed_1(tiny_model_uri, penguins_snapshot, tmp_path):
    blessing = _evaluate(
        tiny_model_uri, penguins_snapshot.snapshot_dir, _spec({"accuracy": 0.5}), tmp_path
    )

    assert blessing.type == "ModelBlessing"
    assert custom_property(blessing, "blessed") == 1
    assert custom_property(blessing, "current_model") == str(tiny_model_uri)
    directory = Path(blessing.uri)
    assert json.loads((directory / BLESSING_FILE).read_text())["blessed"] is True
    assert (directory / "BLESSED").exists()
    assert (directory / "predictions.parquet").exists()


@pytest.mark.e2e
def test_failing_thresholds_emit_blessed_0(tiny_model_uri, penguins_snapshot, tmp_path):
    blessing = _evaluate(
        tiny_model_uri, penguins_snapshot.snapshot_dir, _spec({"log_loss": 1e-6}), tmp_path
    )

    assert custom_property(blessing, "blessed") == 0
    assert "log_loss" in custom_property(blessing, "failed_checks")
    directory = Path(blessing.uri)
    assert json.loads((directory / BLESSING_FILE).read_text())["blessed"] is False
    assert (directory / "NOT_BLESSED").exists()
