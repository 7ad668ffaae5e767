"""Export the trained model with its tf.Transform graph as the evaluator's SavedModel.

Two signatures (see components.export for the contract):
  serving_default     one tensor per spec feature, named by `signature_input_name` (see
                      `serving_input_spec`: numbers, categories, raw text, an array's values)
                      → {"probabilities": [None, n]}, or for regression {"prediction": [None]}
                      in the label's units;
  serving_tf_example  serialized tf.Example strings [None] → the same output.
Both run the raw features through the transform graph (`transform_features_layer`) and then the
model, so preprocessing lives inside the SavedModel. The raw feature spec may be dense ([] or
[1]) or VarLen (sparse); serving_default converts its inputs to whichever the graph was built for.
"""

from __future__ import annotations

from pathlib import Path

import keras
import numpy as np
import pyarrow as pa
import tensorflow as tf
import tensorflow_transform as tft

from components.common.errors import TandemError
from components.common.frameworks import TENSORFLOW
from components.common.targets import LabelScale
from components.export import (
    OUTPUT,
    PREDICTION_OUTPUT,
    SIGNATURE,
    load_predictor,
    signature_input_name,
)
from components.spec import DatasetSpec, Feature
from components.tf_trainer.config import INPUTS

TF_EXAMPLE_SIGNATURE = "serving_tf_example"


def raw_feature_spec(tf_transform_output: tft.TFTransformOutput, dataset: DatasetSpec) -> dict:
    """The raw parsing spec of the spec's features only (no label, no id column)."""
    spec = tf_transform_output.raw_feature_spec()
    missing = [f.name for f in dataset.features if f.name not in spec]
    if missing:
        raise ValueError(f"the transform graph's raw feature spec lacks features {missing}")
    return {f.name: spec[f.name] for f in dataset.features}


def serving_input_spec(feature: Feature) -> tf.TensorSpec:
    """A feature's serving input: float32 [None] for a number (NaN = missing), string [None] for
    a category or a text ("" = missing), float32 [None, size] for an array's flattened values."""
    name = signature_input_name(feature.name)
    if feature.type == "array":
        return tf.TensorSpec([None, feature.size], tf.float32, name)
    return tf.TensorSpec([None], tf.float32 if feature.type == "numeric" else tf.string, name)


def _as_raw_array(values: tf.Tensor, feature_spec) -> tf.Tensor | tf.SparseTensor:
    """An array input [batch, size] as the transform graph parses it: every value present."""
    if isinstance(feature_spec, tf.io.VarLenFeature):
        indices = tf.where(tf.ones_like(values, dtype=tf.bool))
        return tf.SparseTensor(
            indices=indices,
            values=tf.cast(tf.gather_nd(values, indices), feature_spec.dtype),
            dense_shape=tf.shape(values, out_type=tf.int64),
        )
    return tf.cast(values, feature_spec.dtype)


def _as_raw(values: tf.Tensor, feature_spec) -> tf.Tensor | tf.SparseTensor:
    """A serving input in the shape and dtype the transform graph parses."""
    if values.shape.rank == 2:
        return _as_raw_array(values, feature_spec)
    if isinstance(feature_spec, tf.io.VarLenFeature):
        if values.dtype == tf.string:
            present = tf.where(tf.not_equal(values, b""))
        else:
            present = tf.where(tf.logical_not(tf.math.is_nan(values)))
        return tf.SparseTensor(
            indices=tf.concat([present, tf.zeros_like(present)], axis=1),
            values=tf.cast(tf.gather_nd(values, present), feature_spec.dtype),
            dense_shape=tf.stack([tf.size(values, out_type=tf.int64), tf.constant(1, tf.int64)]),
        )
    if isinstance(feature_spec, tf.io.FixedLenFeature) and list(feature_spec.shape) in ([], [1]):
        values = tf.cast(values, feature_spec.dtype)
        return values[:, None] if feature_spec.shape else values
    raise ValueError(f"cannot serve a raw feature parsed as {feature_spec}")


class ServingModule(tf.Module):
    """Holds the model and the transform layer (so both are saved) and the two signatures."""

    def __init__(
        self,
        model: keras.Model,
        tf_transform_output: tft.TFTransformOutput,
        dataset: DatasetSpec,
        label_scale: LabelScale | None,
    ):
        super().__init__()
        self.model = model
        self._label_scale = label_scale
        self.tft_layer = tf_transform_output.transform_features_layer()
        self._feature_spec = raw_feature_spec(tf_transform_output, dataset)
        # signature input name → feature name (they differ for names like "od280/od315")
        self._features = {signature_input_name(f.name): f.name for f in dataset.features}
        inputs = {signature_input_name(f.name): serving_input_spec(f) for f in dataset.features}
        self.serve_features = tf.function(self._serve_features, input_signature=[inputs])
        self.serve_tf_examples = tf.function(
            self._serve_tf_examples,
            input_signature=[tf.TensorSpec([None], tf.string, name="examples")],
        )

    def _outputs(self, raw: dict) -> dict[str, tf.Tensor]:
        transformed = self.tft_layer(raw)
        outputs = self.model({INPUTS: transformed[INPUTS]}, training=False)
        if self._label_scale is None:
            return {OUTPUT: tf.nn.softmax(outputs, axis=-1)}
        scale = self._label_scale
        return {PREDICTION_OUTPUT: outputs[:, 0] * scale.std + scale.mean}

    def _serve_features(self, features):
        raw = {
            feature: _as_raw(features[name], self._feature_spec[feature])
            for name, feature in self._features.items()
        }
        return self._outputs(raw)

    def _serve_tf_examples(self, examples):
        return self._outputs(tf.io.parse_example(examples, self._feature_spec))


def export_serving_model(
    model: keras.Model,
    tf_transform_output: tft.TFTransformOutput,
    dataset: DatasetSpec,
    out_dir: str | Path,
    label_scale: LabelScale | None = None,
) -> Path:
    """Write the SavedModel with `serving_default` and `serving_tf_example` to out_dir; a
    regression model takes the `label_scale` its target was standardised with."""
    if (label_scale is None) != (dataset.task == "classification"):
        raise ValueError(f"a {dataset.task} export takes a label scale only for regression")
    module = ServingModule(model, tf_transform_output, dataset, label_scale)
    signatures = {
        SIGNATURE: module.serve_features.get_concrete_function(),
        TF_EXAMPLE_SIGNATURE: module.serve_tf_examples.get_concrete_function(),
    }
    tf.saved_model.save(module, str(out_dir), signatures=signatures)
    return Path(out_dir)


def _check_rows(dataset: DatasetSpec) -> pa.Table:
    """Two raw rows: a plain one and one with every value missing (an array cannot be missing:
    zeros; a text is empty)."""
    types = {"numeric": pa.float64(), "array": pa.list_(pa.float32())}
    plain = {"numeric": 0.0, "text": "a"}
    rows = [{}, {}]
    for f in dataset.features:
        first = plain.get(f.type, (f.values or [""])[0])
        rows[0][f.name], rows[1][f.name] = first, None
        if f.type == "array":
            rows[0][f.name] = rows[1][f.name] = [0.0] * f.size
        elif f.type == "text":
            rows[1][f.name] = ""
    schema = pa.schema([(f.name, types.get(f.type, pa.string())) for f in dataset.features])
    return pa.Table.from_pylist(rows, schema=schema)


def check_export(model_dir: str | Path, dataset: DatasetSpec) -> None:
    """Load the export as the evaluator does and predict two rows (`_check_rows`); TandemError
    unless that gives finite probabilities over the classes summing to 1 (or, for regression,
    two finite predictions)."""
    rows = _check_rows(dataset)
    outputs = load_predictor(Path(model_dir), TENSORFLOW.name).predict(rows)
    if dataset.task == "regression":
        expected, sums_to_one = (rows.num_rows,), True
    else:
        expected = (rows.num_rows, len(dataset.classes))
        sums_to_one = np.allclose(outputs.sum(axis=-1), 1.0, atol=1e-4)
    if outputs.shape != expected or not np.isfinite(outputs).all() or not sums_to_one:
        what = "predictions" if dataset.task == "regression" else "probabilities summing to 1"
        raise TandemError(
            f"{model_dir}: the export does not give finite {what} of shape {expected} "
            f"(got shape {outputs.shape}: {outputs.tolist()})"
        )
