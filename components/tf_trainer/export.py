"""Export the trained model with its tf.Transform graph as the evaluator's SavedModel.

Two signatures (see components.export for the contract):
  serving_default     one tensor per spec feature, named by `signature_input_name` (numeric
                      float32 [None], NaN = missing;
                      categorical string [None], "" = missing) → {"probabilities": [None, n]},
                      or for regression {"prediction": [None]} in the label's units;
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
from components.spec import DatasetSpec
from components.tf_trainer.config import INPUTS

TF_EXAMPLE_SIGNATURE = "serving_tf_example"


def raw_feature_spec(tf_transform_output: tft.TFTransformOutput, dataset: DatasetSpec) -> dict:
    """The raw parsing spec of the spec's features only (no label, no id column)."""
    spec = tf_transform_output.raw_feature_spec()
    missing = [f.name for f in dataset.features if f.name not in spec]
    if missing:
        raise ValueError(f"the transform graph's raw feature spec lacks features {missing}")
    return {f.name: spec[f.name] for f in dataset.features}


def _as_raw(values: tf.Tensor, feature_spec) -> tf.Tensor | tf.SparseTensor:
    """A serving input [batch] in the shape and dtype the transform graph parses."""
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
        inputs = {
            signature_input_name(f.name): tf.TensorSpec(
                [None],
                tf.float32 if f.type == "numeric" else tf.string,
                signature_input_name(f.name),
            )
            for f in dataset.features
        }
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


def check_export(model_dir: str | Path, dataset: DatasetSpec) -> None:
    """Load the export as the evaluator does and predict two rows (one with every value
    missing); TandemError unless that gives finite probabilities over the classes summing to 1
    (or, for regression, two finite predictions)."""
    rows = [
        {f.name: 0.0 if f.type == "numeric" else (f.values or [""])[0] for f in dataset.features},
        {f.name: None for f in dataset.features},
    ]
    schema = pa.schema(
        [(f.name, pa.float64() if f.type == "numeric" else pa.string()) for f in dataset.features]
    )
    outputs = load_predictor(Path(model_dir), TENSORFLOW.name).predict(
        pa.Table.from_pylist(rows, schema=schema)
    )
    if dataset.task == "regression":
        expected, sums_to_one = (len(rows),), True
    else:
        expected = (len(rows), len(dataset.classes))
        sums_to_one = np.allclose(outputs.sum(axis=-1), 1.0, atol=1e-4)
    if outputs.shape != expected or not np.isfinite(outputs).all() or not sums_to_one:
        what = "predictions" if dataset.task == "regression" else "probabilities summing to 1"
        raise TandemError(
            f"{model_dir}: the export does not give finite {what} of shape {expected} "
            f"(got shape {outputs.shape}: {outputs.tolist()})"
        )
