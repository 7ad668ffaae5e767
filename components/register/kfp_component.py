"""The push step as a Kubeflow Pipelines v2 component; the PyTorch pipeline runs it only under
`dsl.If(blessed == True)`. The logic is `components.register.push` (KFP's runtime cannot import
a module that imports `kfp.dsl`, so the two are apart).
"""

from kfp import dsl
from kfp.dsl import Input, Model
from kfp.dsl.python_component import PythonComponent


def push_model(
    spec_yaml: str, framework: str, serving_root: str, model_version: str, model: Input[Model]
) -> str:
    """Copy the blessed model to <serving_root>/<spec>-<framework>/<model_version>/; returns
    that directory."""
    from pathlib import Path

    from components.common.spec import parse_spec
    from components.register.push import push_to_serving
    from components.register.registry import registered_model_name

    spec = parse_spec(spec_yaml, Path("spec.yaml").resolve()).spec
    name = registered_model_name(spec.name, framework)
    return str(push_to_serving(Path(model.path), Path(serving_root), name, model_version))


def push_component(image: str) -> PythonComponent:
    """The component for a given runtime image (both images carry the shared components)."""
    return dsl.component(push_model, base_image=image, install_kfp_package=False)
