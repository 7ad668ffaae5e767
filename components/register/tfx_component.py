"""The register step as a TFX component, between the shared evaluator and the Pusher.

It emits a `RegisteredModel` artifact whose custom properties name the MLflow registered model and
version (as Pusher's PushedModel names where it pushed), so ML Metadata records which registry
version a pipeline run produced.
"""

# No `from __future__ import annotations`: the component decorator reads the real type hints.
from pathlib import Path

from tfx import v1 as tfx
from tfx.types import standard_artifacts
from tfx.utils import path_utils

from components.common.frameworks import TENSORFLOW
from components.register.step import register_model
from components.spec import parse_spec

SPEC_FILE_NAME = "spec.yaml"
VERSION_PROPERTY = "model_version"


class RegisteredModel(tfx.dsl.Artifact):
    """A model version in the MLflow registry.

    On Kubeflow, TFX imports this class by its type name: `tandem.RegisteredModel` resolves
    through tandem/__init__.py's `__getattr__`; keep the two in step.
    """

    TYPE_NAME = "tandem.RegisteredModel"


@tfx.dsl.components.component
def ModelRegistrar(
    model: tfx.dsl.components.InputArtifact[standard_artifacts.Model],
    blessing: tfx.dsl.components.InputArtifact[standard_artifacts.ModelBlessing],
    registered: tfx.dsl.components.OutputArtifact[RegisteredModel],
    snapshot_dir: tfx.dsl.components.Parameter[str],
    spec_yaml: tfx.dsl.components.Parameter[str],
    runs_dir: tfx.dsl.components.Parameter[str],
) -> None:
    """Log the judged SavedModel to MLflow (nested under MLFLOW_RUN_ID) and register it:
    challenger, and champion when `blessing` says blessed."""
    spec = parse_spec(spec_yaml, Path(SPEC_FILE_NAME).resolve()).spec
    version = register_model(
        Path(path_utils.serving_model_path(model.uri)),
        TENSORFLOW.name,
        Path(snapshot_dir),
        spec,
        Path(blessing.uri),
        Path(runs_dir),
    )
    registered.set_string_custom_property(
        "registered_model", TENSORFLOW.registered_model_name(spec.name)
    )
    registered.set_string_custom_property(VERSION_PROPERTY, version)
    registered.set_string_custom_property("model_uri", model.uri)
