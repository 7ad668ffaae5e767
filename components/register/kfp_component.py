"""The register and push steps as Kubeflow Pipelines v2 components. The PyTorch pipeline runs
register after the judge, and push only under `dsl.If(blessed == True)`. The logic is
`components.register.step` and `components.register.push` (KFP's runtime cannot import a module
that imports `kfp.dsl`, so the two are apart).
"""

from kfp import dsl
from kfp.dsl import Artifact, Dataset, Input, Model
from kfp.dsl.python_component import PythonComponent


def register_judged_model(
    framework: str,
    spec_yaml: str,
    runs_dir: str,
    model: Input[Model],
    snapshot: Input[Dataset],
    evaluation: Input[Artifact],
) -> str:
    """Log the judged model to MLflow (nested under MLFLOW_RUN_ID) and register it: challenger,
    and champion when the judge blessed it; returns the registry version."""
    from pathlib import Path

    from components.register.step import register_model
    from components.spec import parse_spec

    spec = parse_spec(spec_yaml, Path("spec.yaml").resolve()).spec
    return register_model(
        Path(model.path),
        framework,
        Path(snapshot.path),
        spec,
        Path(evaluation.path),
        Path(runs_dir),
    )


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


def register_component(image: str) -> PythonComponent:
    """The component for a given runtime image (both images carry the shared components)."""
    return dsl.component(register_judged_model, base_image=image, install_kfp_package=False)


def push_component(image: str) -> PythonComponent:
    """The component for a given runtime image (both images carry the shared components)."""
    return dsl.component(push_model, base_image=image, install_kfp_package=False)
