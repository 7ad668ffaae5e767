"""Fixtures for the TensorFlow trainer tests: a penguins snapshot as the TFX pipeline's ExampleGen
publishes it, its tf.Transform graph, and its train split as the bare loop encodes it.

`transform_run` is what TFX's ExampleGen and Transform produce for the snapshot (see
transform_helpers): the Parquet example splits and the transform graph.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from pathlib import Path

import pytest

from components.spec import Spec, default_spec_path, load_spec

# The PyTorch image has no TensorFlow: there these tests are not collected at all.
if importlib.util.find_spec("tensorflow_transform") is None:
    collect_ignore_glob = ["test_*.py"]


@dataclass
class TransformRun:
    transform_dir: Path
    train_files: list[str]
    eval_files: list[str]


@pytest.fixture(scope="session")
def penguins_spec() -> Spec:
    return load_spec(default_spec_path()).spec


@pytest.fixture(scope="session")
def transform_run(penguins_snapshot, penguins_spec, tmp_path_factory) -> TransformRun:
    from components.tf_trainer.config import transform_config
    from components.tf_trainer.preprocessing import preprocessing_fn
    from tests.components.tf_trainer.transform_helpers import analyze, publish_snapshot

    config = transform_config(penguins_spec)
    out_dir = tmp_path_factory.mktemp("tf-transform")
    patterns = publish_snapshot(penguins_snapshot.snapshot_dir, out_dir / "examples")
    transform_dir = analyze(
        lambda inputs: preprocessing_fn(inputs, config),
        out_dir / "examples" / "Split-train",
        out_dir,
    )
    return TransformRun(transform_dir, patterns["train"], patterns["eval"])


@pytest.fixture(scope="session")
def encoded_train(penguins_snapshot):
    """The train split as the bare loop encodes it (`features.encode` + label index)."""
    from benchmarks.bare_keras import split_arrays
    from components.tf_trainer.training import SplitArrays

    inputs, labels = split_arrays(
        penguins_snapshot.snapshot_dir, "train", penguins_snapshot.manifest
    )
    return SplitArrays(inputs=inputs, labels=labels)
