"""preprocessing_fn through tf.Transform's Beam implementation equals the PyTorch side's encode,
and so do the Trainer's in-memory splits."""

from __future__ import annotations

import json

import numpy as np
import pyarrow.parquet as pq
import pytest
import tensorflow as tf
import tensorflow_transform as tft

from components.common.features import encode, label_indices
from components.tf_trainer.config import INPUTS, LABEL, dataset_from_config, transform_config
from components.tf_trainer.data import read_split
from components.tf_trainer.preprocessing import dense_column, feature_columns
from tests.components.tf_trainer.transform_helpers import analyze, publish_snapshot


def raw_tensors(table, feature_spec: dict) -> dict[str, tf.Tensor]:
    """Snapshot columns as the dense raw tensors the transform graph parses."""
    tensors = {}
    for name, spec in feature_spec.items():
        values = tf.constant(table.column(name).to_pylist(), spec.dtype)
        tensors[name] = values[:, None] if list(spec.shape) == [1] else values
    return tensors


def test_analyzers_match_the_manifest_statistics(
    penguins_snapshot, penguins_spec, tmp_path, no_network
):
    """The z-score analyzers (mean, population variance over train) are the manifest's; the
    pinned local Beam runner reaches for no network."""
    dataset = penguins_spec.dataset
    numeric = [f.name for f in dataset.numeric_features]

    def numeric_columns(inputs):
        # tf.Transform outputs no float64: split each z-score into float32 high and low parts.
        columns = feature_columns(inputs, dataset)
        outputs = {}
        for name in numeric:
            high = tf.cast(columns[name], tf.float32)
            outputs[name] = high
            outputs[f"{name}_low"] = tf.cast(columns[name] - tf.cast(high, tf.float64), tf.float32)
        return outputs

    train = pq.read_table(penguins_snapshot.snapshot_dir / "train")
    publish_snapshot(penguins_snapshot.snapshot_dir, tmp_path / "examples")
    output = tft.TFTransformOutput(
        str(analyze(numeric_columns, tmp_path / "examples" / "Split-train", tmp_path))
    )
    feature_spec = {name: output.raw_feature_spec()[name] for name in numeric}
    scaled = output.transform_raw_features(raw_tensors(train, feature_spec))

    statistics = penguins_snapshot.manifest["statistics"]["numeric"]
    for name in numeric:
        # z = (x - mean) / std exactly (float64), so a line fit recovers the analyzers' values.
        x = train.column(name).to_numpy().astype(np.float32).astype(np.float64)
        z = scaled[name].numpy().astype(np.float64) + scaled[f"{name}_low"].numpy()
        std = np.cov(x, z, bias=True)[0, 1] / np.var(z)
        mean = x.mean() - std * z.mean()
        assert mean == pytest.approx(statistics[name]["mean"], abs=1e-6), name
        assert std == pytest.approx(statistics[name]["std"], abs=1e-6), name
    assert no_network == []


def test_transform_graph_encodes_like_the_pytorch_side(
    penguins_snapshot, penguins_spec, transform_run
):
    train = pq.read_table(penguins_snapshot.snapshot_dir / "train")
    output = tft.TFTransformOutput(str(transform_run.transform_dir))
    columns = [*(f.name for f in penguins_spec.dataset.features), penguins_spec.dataset.label]
    feature_spec = {name: output.raw_feature_spec()[name] for name in columns}
    transformed = output.transform_raw_features(raw_tensors(train, feature_spec))
    np.testing.assert_allclose(
        transformed[INPUTS].numpy(), encode(train, penguins_snapshot.manifest), rtol=0, atol=1e-5
    )
    np.testing.assert_array_equal(
        transformed[LABEL].numpy(), label_indices(train, penguins_snapshot.manifest)
    )
    assert output.transformed_feature_spec() == {
        INPUTS: tf.io.FixedLenFeature([9], tf.float32),
        LABEL: tf.io.FixedLenFeature([], tf.int64),
    }


def test_the_trainer_reads_a_split_as_encode_does(penguins_snapshot, penguins_spec, transform_run):
    """The Trainer's in-memory train split (published Parquet examples through the transform
    graph) holds encode's rows and labels, in the snapshot's row order."""
    output = tft.TFTransformOutput(str(transform_run.transform_dir))
    split = read_split(transform_run.train_files, output, penguins_spec.dataset)
    train = pq.read_table(penguins_snapshot.snapshot_dir / "train")
    assert split.inputs.dtype == np.float32
    np.testing.assert_allclose(
        split.inputs, encode(train, penguins_snapshot.manifest), rtol=0, atol=1e-5
    )
    np.testing.assert_array_equal(split.labels, label_indices(train, penguins_snapshot.manifest))


def test_missing_and_unseen_values(penguins_snapshot, transform_run):
    """NaN → z-score 0 (the mean); "" or an unseen category → zeros; unknown label → -1."""
    output = tft.TFTransformOutput(str(transform_run.transform_dir))
    row = {"island": b"Atlantis", "sex": b"", "species": b"Dodo"}
    row |= {name: float("nan") for name in penguins_snapshot.manifest["statistics"]["numeric"]}
    tensors = {
        name: tf.constant([[value]], tf.string if isinstance(value, bytes) else tf.float32)
        for name, value in row.items()
    }
    transformed = output.transform_raw_features(tensors)
    np.testing.assert_array_equal(transformed[INPUTS].numpy(), np.zeros((1, 9), np.float32))
    assert transformed[LABEL].numpy().tolist() == [-1]


def test_dense_column_accepts_sparse_ragged_and_column_shapes():
    sparse = tf.SparseTensor(indices=[[0, 0], [2, 0]], values=[1.0, 3.0], dense_shape=[3, 1])
    ragged = tf.ragged.constant([["a"], [], ["c"]])
    column = tf.constant([[1.0], [2.0]])
    np.testing.assert_array_equal(dense_column(sparse, -1.0).numpy(), [1.0, -1.0, 3.0])
    assert dense_column(ragged, b"").numpy().tolist() == [b"a", b"", b"c"]
    assert dense_column(column, 0.0).shape == (2,)


def test_custom_config_forms(penguins_spec):
    config = transform_config(penguins_spec)
    assert dataset_from_config(config) == penguins_spec.dataset
    assert dataset_from_config(json.dumps(config)) == penguins_spec.dataset
    whole = {"spec": penguins_spec.model_dump(mode="json")}
    assert dataset_from_config(whole) == penguins_spec.dataset
    with pytest.raises(ValueError, match="needs 'dataset'"):
        dataset_from_config({})
