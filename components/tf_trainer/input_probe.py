"""The TensorFlow side of the input probe: raw snapshot rows through the Transform graph."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import tensorflow as tf
import tensorflow_transform as tft

from components.tf_trainer.config import INPUTS


def _raw_tensor(column: pa.ChunkedArray, feature) -> tf.Tensor | tf.SparseTensor:
    values = tf.constant(column.to_pylist(), feature.dtype)
    if isinstance(feature, tf.io.VarLenFeature):
        rows = tf.range(tf.size(values, out_type=tf.int64))
        indices = tf.stack([rows, tf.zeros_like(rows)], axis=1)
        return tf.SparseTensor(indices, values, [len(column), 1])
    return values[:, None] if list(feature.shape) == [1] else values


def transformed_inputs(tf_transform_output: tft.TFTransformOutput, rows: pa.Table) -> np.ndarray:
    """The model inputs Transform makes of complete snapshot rows (as parsed from examples)."""
    raw = {
        name: _raw_tensor(rows.column(name), feature)
        for name, feature in tf_transform_output.raw_feature_spec().items()
        if name in rows.column_names
    }
    return tf_transform_output.transform_raw_features(raw)[INPUTS].numpy()
