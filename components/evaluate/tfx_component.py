"""The shared evaluator as a TFX component that emits a standard ModelBlessing.

The standard Pusher pushes a model only when its `model_blessing` input carries the custom
property `blessed` = 1 (what TFX's Evaluator writes); this component sets exactly that from
tandem's own judgement (`components.evaluate.run.evaluate_model`), so the stock Pusher works
unchanged. The artifact's directory is the evaluation work dir: blessing.json, predictions.parquet
and the plots, plus TFX's BLESSED / NOT_BLESSED marker file.
"""

# No `from __future__ import annotations`: the component decorator reads the real type hints.
from pathlib import Path

from tfx import v1 as tfx
from tfx.types import standard_artifacts
from tfx.utils import path_utils

from components.common.frameworks import TENSORFLOW
from components.evaluate.run import EvaluationResult, evaluate_model
from components.spec import parse_spec

BLESSED_PROPERTY = "blessed"
SPEC_FILE_NAME = "spec.yaml"


def mark_blessing(blessing, model_uri: str, result: EvaluationResult) -> None:
    """Set the properties Pusher and people read on a ModelBlessing artifact."""
    blessed = result.blessing.blessed
    blessing.set_int_custom_property(BLESSED_PROPERTY, 1 if blessed else 0)
    blessing.set_string_custom_property("current_model", model_uri)
    blessing.set_string_custom_property(
        "failed_checks", "; ".join(check.describe() for check in result.blessing.failed)
    )
    for metric, value in result.blessing.metrics.items():
        blessing.set_float_custom_property(metric, value)
    (Path(blessing.uri) / ("BLESSED" if blessed else "NOT_BLESSED")).touch()


@tfx.dsl.components.component
def SharedEvaluator(
    model: tfx.dsl.components.InputArtifact[standard_artifacts.Model],
    blessing: tfx.dsl.components.OutputArtifact[standard_artifacts.ModelBlessing],
    snapshot_dir: tfx.dsl.components.Parameter[str],
    spec_yaml: tfx.dsl.components.Parameter[str],
    runs_dir: tfx.dsl.components.Parameter[str],
) -> None:
    """Judge the trained SavedModel on the snapshot's test split, log the evaluation to MLflow
    (nested under MLFLOW_RUN_ID), and bless it or not."""
    loaded = parse_spec(spec_yaml, Path(SPEC_FILE_NAME).resolve())
    model_dir = path_utils.serving_model_path(model.uri)
    result = evaluate_model(
        Path(model_dir),
        TENSORFLOW.name,
        Path(snapshot_dir),
        loaded.spec,
        Path(blessing.uri),
        Path(runs_dir),
    )
    mark_blessing(blessing, model.uri, result)
