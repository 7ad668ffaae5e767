"""Fixtures for the TensorFlow trainer tests: a penguins snapshot and its tf.Transform output.

`transform_run` is what TFX's Transform component produces for the snapshot (see
transform_helpers): the transform graph and the transformed train/eval splits.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from components.spec import Spec, default_spec_path, load_spec
from tests.components.tf_trainer.transform_helpers import analyze_and_transform, raw_feature_spec

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

    config = transform_config(penguins_spec)
    out_dir = tmp_path_factory.mktemp("tf-transform")
    splits = {s: pq.read_table(penguins_snapshot.snapshot_dir / s) for s in ("train", "eval")}
    analyze_and_transform(
        lambda inputs: preprocessing_fn(inputs, config),
        raw_feature_spec(penguins_spec, [1]),  # dense [batch, 1]: what SchemaGen infers in TFX
        splits,
        out_dir,
    )
    return TransformRun(
        transform_dir=out_dir / "transform",
        train_files=[str(out_dir / "train" / "*.gz")],
        eval_files=[str(out_dir / "eval" / "*.gz")],
    )


@pytest.fixture(scope="session")
def encoded_train(penguins_snapshot, penguins_spec):
    """The train split as the bare path batches it (encode + label index), shuffled with seed 0."""
    from benchmarks.bare_keras import split_dataset

    batch_size = penguins_spec.training.batch_size
    return split_dataset(
        penguins_snapshot.snapshot_dir, "train", penguins_snapshot.manifest, batch_size, seed=0
    )
