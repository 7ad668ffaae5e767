"""A SavedModel's `serving_default` signature as a Predictor (imports TensorFlow)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import tensorflow as tf
import tensorflow_text  # noqa: F401  (registers the ops of a text model's in-graph tokenizer)

from components.common.errors import TandemError
from components.common.features import list_values
from components.common.frameworks import TENSORFLOW
from components.export import (
    OUTPUT,
    PREDICTION_OUTPUT,
    SIGNATURE,
    output_shape_problem,
    signature_input_name,
)


class TensorFlowPredictor:
    framework = TENSORFLOW.name
    format = "saved_model"

    def __init__(self, model_dir: Path):
        self.model_dir = Path(model_dir)
        if not tf.saved_model.contains_saved_model(str(self.model_dir)):
            raise TandemError(f"{self.model_dir}: no SavedModel here (saved_model.pb is missing)")
        try:
            self._loaded = tf.saved_model.load(str(self.model_dir))
        except Exception as exc:  # a corrupt or incompatible SavedModel
            raise TandemError(f"{self.model_dir}: the SavedModel does not load: {exc}") from exc
        signatures = self._loaded.signatures
        if SIGNATURE not in signatures:
            raise TandemError(
                f"{self.model_dir}: the SavedModel has no '{SIGNATURE}' signature "
                f"(it has: {sorted(signatures) or 'none'})"
            )
        self._signature = signatures[SIGNATURE]
        outputs = self._signature.structured_outputs
        known = [name for name in (OUTPUT, PREDICTION_OUTPUT) if name in (outputs or {})]
        if not isinstance(outputs, dict) or len(known) != 1:
            found = sorted(outputs) if isinstance(outputs, dict) else type(outputs).__name__
            raise TandemError(
                f"{self.model_dir}: signature '{SIGNATURE}' needs one output, '{OUTPUT}' or "
                f"'{PREDICTION_OUTPUT}' (it has: {found})"
            )
        self.output = known[0]
        self._n_classes = outputs[OUTPUT].shape[-1] if self.output == OUTPUT else None
        _, inputs = self._signature.structured_input_signature
        self.inputs: dict[str, tf.TensorSpec] = {}
        for name, spec in inputs.items():
            array = spec.dtype == tf.float32 and spec.shape.rank == 2
            if spec.dtype not in (tf.float32, tf.string) or not (spec.shape.rank == 1 or array):
                raise TandemError(
                    f"{self.model_dir}: signature '{SIGNATURE}' input '{name}' is "
                    f"{spec.dtype.name} {spec.shape}; the contract is float32 or string "
                    "[None], or float32 [None, size] for an array"
                )
            self.inputs[name] = spec

    def tensors(self, table: pa.Table) -> dict[str, tf.Tensor]:
        """The signature's inputs for snapshot rows: NaN for a missing number, "" for a category
        or a text, an array's values flattened.
        Columns are found by their signature input names (see `signature_input_name`)."""
        columns = {signature_input_name(name): name for name in table.column_names}
        missing = [name for name in self.inputs if name not in columns]
        if missing:
            raise TandemError(
                f"{self.model_dir}: the rows lack column(s) {missing} that signature "
                f"'{SIGNATURE}' takes"
            )
        tensors = {}
        for name, spec in self.inputs.items():
            column = table.column(columns[name])
            if spec.shape.rank == 2:
                tensors[name] = tf.constant(list_values(column, name, spec.shape[1]))
            elif spec.dtype == tf.float32:
                values = pc.fill_null(column.cast(pa.float64()), float("nan")).to_numpy()
                tensors[name] = tf.constant(values.astype(np.float32))
            else:
                values = pc.fill_null(column.cast(pa.string()), "").to_pylist()
                tensors[name] = tf.constant(values, dtype=tf.string, shape=[len(values)])
        return tensors

    def predict(self, table: pa.Table) -> np.ndarray:
        outputs = self._signature(**self.tensors(table))[self.output].numpy()
        problem = output_shape_problem(outputs.shape, table.num_rows, self._n_classes)
        if problem:
            raise TandemError(f"{self.model_dir}: '{self.output}': {problem}")
        return outputs.astype(np.float64)
