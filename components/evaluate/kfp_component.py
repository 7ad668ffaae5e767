"""The shared evaluation as a Kubeflow Pipelines v2 component (the TFX wrapper, emitting a
ModelBlessing for the standard Pusher, lives with the TFX pipeline). Its `blessed` output gates
the push step (`dsl.If`). KFP runs the function's source alone, so its return type is spelled
inline (KFP's own convention) and everything else is imported inside it.
"""

from typing import NamedTuple

from kfp import dsl
from kfp.dsl import Artifact, Dataset, Input, Metrics, Model, Output
from kfp.dsl.python_component import PythonComponent


def evaluate_exported_model(
    framework: str,
    spec_yaml: str,
    runs_dir: str,
    model: Input[Model],
    snapshot: Input[Dataset],
    metrics: Output[Metrics],
    evaluation: Output[Artifact],
) -> NamedTuple("EvaluationOutputs", [("blessed", bool)]):
    """Judge `model` on the snapshot's test split and log the evaluation to MLflow (nested under
    MLFLOW_RUN_ID); `evaluation` receives blessing.json, predictions and plots."""
    from collections import namedtuple
    from pathlib import Path

    from components.evaluate.run import evaluate_model
    from components.spec import GATED_METRICS, parse_spec

    loaded = parse_spec(spec_yaml, Path("spec.yaml").resolve())
    result = evaluate_model(
        Path(model.path),
        framework,
        Path(snapshot.path),
        loaded.spec,
        Path(evaluation.path),
        Path(runs_dir),
    )
    for name in GATED_METRICS:
        metrics.log_metric(name, result.metrics[name])
    evaluation.metadata["blessed"] = result.blessing.blessed
    outputs = namedtuple("EvaluationOutputs", ["blessed"])
    return outputs(result.blessing.blessed)


def evaluate_component(image: str) -> PythonComponent:
    """The component for a given runtime image (both images carry the shared components)."""
    return dsl.component(evaluate_exported_model, base_image=image, install_kfp_package=False)
