"""Log a judged model to MLflow and register it, following `components.common.model_registry`.

Every evaluated model is logged (pyfunc, with signature and input example) and registered; the new
version takes the alias `challenger`, and `champion` only when it is blessed, so a model that was
not blessed never serves. The version carries its gated metrics as tags (`tandem.metric.<name>`):
the next challenger is judged against them.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pyarrow as pa

from components.common.frameworks import by_name
from components.common.model_registry import BLESSED_TAG, CHALLENGER, CHAMPION, METRIC_TAG
from components.export import output_columns


def _signature(manifest: dict):
    """Raw features in: a number as double, a category or a text as string, an array as an
    array of floats (its values flattened row-major)."""
    from mlflow.models import ModelSignature
    from mlflow.types import ColSpec, DataType, Schema
    from mlflow.types.schema import Array

    kinds = {"numeric": DataType.double, "array": Array(DataType.float)}
    inputs = [
        ColSpec(kinds.get(feature["type"], DataType.string), feature["name"])
        for feature in manifest["dataset_spec"]["features"]
    ]
    classes = None if manifest["task"] == "regression" else manifest["classes"]
    outputs = [ColSpec("double", name) for name in output_columns(classes)]
    return ModelSignature(inputs=Schema(inputs), outputs=Schema(outputs))


def _example_frame(table: pa.Table, manifest: dict, rows: int = 5) -> pd.DataFrame:
    """The first rows of raw features, as a caller of the served model sends them."""
    features = [feature["name"] for feature in manifest["dataset_spec"]["features"]]
    return table.select(features).slice(0, rows).to_pandas()


def _requirements(framework: str) -> list[str]:
    """Pinned, without local version suffixes (`+cpu`) that a serving image cannot resolve."""
    from importlib.metadata import version

    names = ["mlflow", "pandas", "pyarrow", "numpy", *by_name(framework).serving_packages]
    return [f"{name}=={version(name).split('+')[0]}" for name in names]


def log_and_register(
    model_dir: Path,
    framework: str,
    manifest: dict,
    example: pa.Table,
    spec_name: str,
    metrics: dict[str, float],
    blessed: bool,
) -> str:
    """Log the model in the active run, register it, move the aliases; returns the version."""
    import mlflow
    from mlflow.tracking import MlflowClient

    import components
    from components.register import model_code
    from components.register.pyfunc_model import MODEL_DIR_ARTIFACT
    from components.register.requests import DEFAULT_MAX_BATCH_ROWS, categories

    name = by_name(framework).registered_model_name(spec_name)
    info = mlflow.pyfunc.log_model(
        name="model",
        python_model=model_code.__file__,
        model_config={
            "framework": framework,
            "classes": list(manifest["classes"]),
            "categories": categories(manifest),
            "max_batch_rows": DEFAULT_MAX_BATCH_ROWS,
        },
        artifacts={MODEL_DIR_ARTIFACT: str(model_dir)},
        code_paths=[str(Path(components.__file__).parent)],
        signature=_signature(manifest),
        input_example=_example_frame(example, manifest),
        pip_requirements=_requirements(framework),
    )
    tags = {f"{METRIC_TAG}{key}": str(value) for key, value in metrics.items()}
    tags[BLESSED_TAG] = json.dumps(blessed)
    version = mlflow.register_model(info.model_uri, name, tags=tags)
    client = MlflowClient()
    client.set_registered_model_alias(name, CHALLENGER, version.version)
    if blessed:
        client.set_registered_model_alias(name, CHAMPION, version.version)
    return str(version.version)
