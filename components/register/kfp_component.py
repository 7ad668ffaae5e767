"""The PyTorch pipeline's judge-and-register and push steps as Kubeflow Pipelines v2 components.

Judging and registering run in one step: the judge (`components.evaluate.run`) and then the
registry (`components.register.step`), each in its own nested MLflow run, in one process. As two
KFP steps they cost a second process start-up with the same imports (torch, MLflow) and a second
opening of the MLflow store for nothing either step needs from the other's process. Every judged
model is still registered (challenger; champion when blessed), and push runs only under
`dsl.If(blessed == True)`. KFP's runtime cannot import a module that imports `kfp.dsl`, so the
logic lives in those modules, apart from these wrappers.
"""

from typing import NamedTuple

from kfp import dsl
from kfp.dsl import Artifact, Dataset, Input, Metrics, Model, Output
from kfp.dsl.python_component import PythonComponent


def judge_and_register(
    framework: str,
    spec_yaml: str,
    runs_dir: str,
    model: Input[Model],
    snapshot: Input[Dataset],
    metrics: Output[Metrics],
    evaluation: Output[Artifact],
) -> NamedTuple("JudgedModel", [("blessed", bool), ("model_version", str)]):
    """Judge `model` on the snapshot's test split, then log it to MLflow and register it:
    challenger, and champion when blessed (both runs nested under MLFLOW_RUN_ID). `evaluation`
    receives blessing.json, predictions and plots; returns the verdict and the registry version.
    """
    from collections import namedtuple
    from pathlib import Path

    from components.common.process_exit import prepare_exit
    from components.evaluate.run import evaluate_model
    from components.register.step import register_model
    from components.spec import parse_spec

    spec = parse_spec(spec_yaml, Path("spec.yaml").resolve()).spec
    model_dir, snapshot_dir = Path(model.path), Path(snapshot.path)
    evaluation_dir, runs = Path(evaluation.path), Path(runs_dir)
    result = evaluate_model(model_dir, framework, snapshot_dir, spec, evaluation_dir, runs)
    for name, value in result.blessing.metrics.items():
        metrics.log_metric(name, value)
    evaluation.metadata["blessed"] = result.blessing.blessed
    # register reads the judge's verdict (blessing.json) from the evaluation directory
    version = register_model(model_dir, framework, snapshot_dir, spec, evaluation_dir, runs)
    prepare_exit()
    outputs = namedtuple("JudgedModel", ["blessed", "model_version"])
    return outputs(result.blessing.blessed, version)


def push_model(
    spec_yaml: str, framework: str, serving_root: str, model_version: str, model: Input[Model]
) -> str:
    """Copy the blessed model to <serving_root>/<spec>-<framework>/<model_version>/; returns
    that directory."""
    from pathlib import Path

    from components.common.frameworks import by_name
    from components.register.push import push_to_serving
    from components.spec import parse_spec

    spec = parse_spec(spec_yaml, Path("spec.yaml").resolve()).spec
    name = by_name(framework).registered_model_name(spec.name)
    return str(push_to_serving(Path(model.path), Path(serving_root), name, model_version))


def judge_and_register_component(image: str) -> PythonComponent:
    """The component for a given runtime image (both images carry the shared components)."""
    return dsl.component(judge_and_register, base_image=image, install_kfp_package=False)


def push_component(image: str) -> PythonComponent:
    """The component for a given runtime image (both images carry the shared components)."""
    return dsl.component(push_model, base_image=image, install_kfp_package=False)
