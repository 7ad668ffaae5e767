"""tf.Transform preprocessing: raw snapshot features → one float32 input vector, and the label as a
class index (classification) or a float32 number (regression; the trainer standardises it with
the manifest's label statistics, as the PyTorch side does, see `components.common.targets`).

The same encoding as `components.common.features.encode` on the PyTorch side, so both models see
identical inputs: numeric features as z-scores whose mean and (population) variance are
tf.Transform full-pass analyzers over the train split, categorical features one-hot over the spec's
category list in spec order (missing or unseen: all zeros). Column order: numeric features, then
categorical blocks, each in spec order — `components.common.features.input_names` order.

Raw inputs may arrive dense ([batch] or [batch, 1], as SchemaGen's inferred shapes give) or sparse
/ ragged (VarLen features). A missing numeric value (absent, or NaN in a dense tensor) is left out
of the analyzers and encodes as 0, the mean; a missing category ("" or absent) as zeros.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import tensorflow as tf
import tensorflow_transform as tft

from components.ingest.snapshot import require_manifest
from components.spec import DatasetSpec, Feature
from components.tf_trainer.config import INPUTS, LABEL, dataset_from_config, snapshot_from_config


def preprocessing_fn(inputs: dict[str, Any], custom_config: dict[str, Any]) -> dict[str, Any]:
    """TFX Transform's entry point; custom_config = config.transform_config(spec).

    Returns {"inputs": float32 [batch, n_inputs] (an array feature: float32 [batch, *shape]; a
    text feature: int64 token ids [batch, max_length]),
    "label": int64 [batch]} (the label only when
    the raw label is among the inputs; -1 for a label outside the spec's classes), or for
    regression a float32 [batch] label (NaN when absent).
    """
    dataset = dataset_from_config(custom_config)
    if dataset.input_kind == "array":
        network_input = array_input(inputs[dataset.tensor_feature.name], dataset.tensor_feature)
    elif dataset.input_kind == "text":
        feature = dataset.tensor_feature
        snapshot_dir = snapshot_from_config(custom_config)
        network_input = text_input(inputs[feature.name], feature.name, snapshot_dir)
    else:
        network_input = assemble(feature_columns(inputs, dataset))
    outputs = {INPUTS: network_input}
    if dataset.label in inputs:
        if dataset.task == "regression":
            label = dense_column(inputs[dataset.label], float("nan"))
            outputs[LABEL] = tf.cast(label, tf.float32)
        else:
            label = dense_column(inputs[dataset.label], b"")
            outputs[LABEL] = class_index(label, dataset.classes)
    return outputs


def feature_columns(inputs: dict[str, Any], dataset: DatasetSpec) -> dict[str, tf.Tensor]:
    """Per feature, in input-vector order: numeric → float64 z-score [batch], categorical →
    float32 one-hot [batch, len(values)]."""
    columns: dict[str, tf.Tensor] = {}
    for feature in dataset.numeric_features:
        values = tf.cast(dense_column(inputs[feature.name], float("nan")), tf.float64)
        columns[feature.name] = z_score(values)
    for feature in dataset.categorical_features:
        values = dense_column(inputs[feature.name], b"")
        columns[feature.name] = one_hot(values, feature.values or [])
    return columns


def assemble(columns: dict[str, tf.Tensor]) -> tf.Tensor:
    """The columns side by side as one float32 [batch, n_inputs] matrix."""
    blocks = [column if column.shape.rank == 2 else column[:, None] for column in columns.values()]
    return tf.concat([tf.cast(block, tf.float32) for block in blocks], axis=1)


def array_input(tensor: Any, feature: Feature) -> tf.Tensor:
    """float32 [batch, *shape]: an array feature's values z-scored with one mean and
    (population) variance over every value of the analysed split, as the manifest's array
    statistics are. The raw values arrive as [batch, size] (dense, sparse or ragged)."""
    size = feature.size
    if isinstance(tensor, tf.SparseTensor):
        tensor = tf.sparse.to_dense(tf.sparse.reshape(tensor, [-1, size]))
    elif isinstance(tensor, tf.RaggedTensor):
        tensor = tensor.to_tensor(shape=[None, size])
    values = tf.reshape(tf.cast(tensor, tf.float64), [-1, size])
    scaled = tft.scale_to_z_score(values, elementwise=False)
    return tf.cast(tf.reshape(scaled, [-1, *feature.shape]), tf.float32)


def text_input(tensor: Any, feature: str, snapshot_dir: Path) -> tf.Tensor:
    """int64 [batch, max_length] token ids of a text feature, tokenized inside the graph with
    the vocabulary ingest trained (so the SavedModel takes raw text), equal to the ids the
    PyTorch side gets from the same tokenizer (`components.tf_trainer.text_tokens`)."""
    from components.tf_trainer.text_tokens import TextTokenizer

    info = require_manifest(snapshot_dir)["statistics"]["text"][feature]
    tokenizer = TextTokenizer.from_directory(snapshot_dir / info["tokenizer"], info["max_length"])
    return tokenizer(dense_column(tensor, b""))


def dense_column(tensor: Any, default: Any) -> tf.Tensor:
    """A one-value-per-row feature as a dense [batch] tensor; absent values become `default`."""
    if isinstance(tensor, tf.SparseTensor):
        tensor = tft.sparse_tensor_to_dense_with_shape(tensor, [None, 1], default_value=default)
    elif isinstance(tensor, tf.RaggedTensor):
        tensor = tensor.to_tensor(default_value=default, shape=[None, 1])
    return tf.reshape(tensor, [-1])


def z_score(values: tf.Tensor) -> tf.Tensor:
    """(x - mean) / std over the analysed split, NaN (missing) → 0.

    The present values go to `tft.scale_to_z_score` as a SparseTensor so its mean and variance
    analyzers skip the missing ones, as the manifest statistics do. Float64 keeps the analyzers'
    sums exact enough to match the manifest to 1e-6.
    """
    present = tf.where(tf.logical_not(tf.math.is_nan(values)))
    sparse = tf.SparseTensor(
        indices=tf.concat([present, tf.zeros_like(present)], axis=1),
        values=tf.gather_nd(values, present),
        dense_shape=tf.stack([tf.size(values, out_type=tf.int64), tf.constant(1, tf.int64)]),
    )
    scaled = tft.scale_to_z_score(sparse)
    return tft.sparse_tensor_to_dense_with_shape(scaled, [None, 1], default_value=0.0)[:, 0]


def one_hot(values: tf.Tensor, vocabulary: list[str]) -> tf.Tensor:
    """float32 [batch, len(vocabulary)]: 1 where the value equals the category; unseen → zeros."""
    categories = tf.constant(vocabulary, tf.string)
    return tf.cast(tf.equal(values[:, None], categories[None, :]), tf.float32)


def class_index(labels: tf.Tensor, classes: list[str]) -> tf.Tensor:
    """int64 index of each label in `classes`; -1 for a label not among them."""
    hits = tf.equal(labels[:, None], tf.constant(classes, tf.string)[None, :])
    index = tf.argmax(tf.cast(hits, tf.int64), axis=1)
    return tf.where(tf.reduce_any(hits, axis=1), index, tf.constant(-1, tf.int64))
