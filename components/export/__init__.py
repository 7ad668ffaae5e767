"""The exported-model contract: what each trainer must export, and the predictor adapters that load
it (an exported model + raw snapshot rows → class probabilities, or regression predictions).

Both trainers export to it; the shared evaluator and the registered MLflow model load through it.
The adapters are the only framework-specific part of evaluation: everything after the
probabilities (predictions.parquet, metrics, plots, blessing) is shared code.

The exported-model contract
===========================
Both trainers export to a directory `model_dir`; both adapters take raw snapshot rows (a
`pyarrow.Table` with at least the manifest's feature columns) and return float64 probabilities
[rows, n_classes] in the manifest's class order (`manifest["classes"]`) for classification, or
float64 predictions [rows] in the label's units for regression. Missing values mean the
same thing on both sides (as in `components.common.features.encode`): a missing numeric value is
the train mean (z-score 0); a missing or unseen category is an all-zero one-hot block.

TensorFlow (`framework="tensorflow"`, format "saved_model")
    `model_dir` is a SavedModel (written by `tf.saved_model.save`; Keras 3 has no
    `save_format="tf"`) with the signature `serving_default`:
      inputs   one named input per spec feature (the manifest's `dataset_spec.features`):
               numeric → tf.float32 shape [None], categorical and text → tf.string shape
               [None], array → tf.float32 [None, size] (its values flattened row-major);
               the adapter passes NaN for a missing numeric value and "" for a missing category;
      outputs  a dict with the key `probabilities`: tf.float32 [None, n_classes]
               (classification), or `prediction`: tf.float32 [None] (regression).
    Preprocessing lives inside the graph: z-score with the manifest's train statistics
    (NaN → the mean), one-hot over each categorical vocabulary ("" / unseen → all zeros), an
    array z-scored with its one mean and std, a text tokenized with the snapshot's vocabulary
    (loading it needs `import tensorflow_text`, which the adapter does).

PyTorch (`framework="pytorch"`, format "pt2", or "torchscript" on fallback)
    `model_dir` holds
      model.pt2              a `torch.export` ExportedProgram saved with `torch.export.save`:
                             forward(x) → probabilities float32
                             [batch, n_classes] (softmax inside), or predictions float32 [batch]
                             (the label's scaling undone inside); batch dimension dynamic (min 1);
      model.torchscript.pt   TorchScript of the same module, the fallback when model.pt2 is absent
                             or does not load;
      encoding.json          {"input_names": [...], "statistics": manifest["statistics"],
                             "task": "...", "classes": [...], "label": "..."}
                             (see `encoding_document`);
      tokenizers/<feature>/  a text feature's tokenizer, copied from the snapshot.
    x is `components.common.features.network_inputs(table, {"statistics": ...}, model_dir)`:
    float32 [batch, n_inputs] whose columns equal `input_names`, an array feature's float32
    [batch, *shape], or a text feature's int64 token ids [batch, max_length].

`load_predictor` imports only the framework asked for: each production image carries one.
"""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

import numpy as np
import pyarrow as pa

from components.common.errors import TandemError
from components.common.features import input_names
from components.common.frameworks import TENSORFLOW, by_name

SIGNATURE = "serving_default"
OUTPUT = "probabilities"
PREDICTION_OUTPUT = "prediction"
PT2_FILE = "model.pt2"
TORCHSCRIPT_FILE = "model.torchscript.pt"
ENCODING_FILE = "encoding.json"


class Predictor(Protocol):
    framework: str
    format: str  # "saved_model", "pt2" or "torchscript"
    model_dir: Path

    def predict(self, table: pa.Table) -> np.ndarray:
        """Raw snapshot rows → float64 probabilities [rows, n_classes] or predictions [rows]."""
        ...


def output_shape_problem(shape: tuple, rows: int, n_classes: int | None) -> str | None:
    """What is wrong with a model output's shape, or None: [rows, n_classes] for a classifier,
    [rows] for a regression model (n_classes None)."""
    expected = (rows,) if n_classes is None else (rows, n_classes)
    if tuple(shape) == expected:
        return None
    what = "predictions [rows]" if n_classes is None else f"probabilities [rows, {n_classes}]"
    return f"the model returned shape {tuple(shape)} for {rows} rows; the contract is {what}"


def signature_input_name(feature: str) -> str:
    """A feature's input name in a SavedModel signature. Signature inputs are tf.function
    parameters, which TensorFlow renames to Python identifiers (its `sanitize_arg_name`: each
    non-alphanumeric character becomes "_", "arg_" goes before a non-letter start); the export
    names them so explicitly and the predictor maps columns back the same way."""
    swapped = "".join(c if c.isalnum() else "_" for c in feature)
    return swapped if swapped[:1].isalpha() else f"arg_{swapped}"


def serving_inputs(manifest: dict) -> dict[str, str]:
    """The TensorFlow signature's inputs: input name → "float32" or "string", in spec order."""
    return {
        signature_input_name(feature["name"]): "float32"
        if feature["type"] == "numeric"
        else "string"
        for feature in manifest["dataset_spec"]["features"]
    }


def probability_column(class_name: str) -> str:
    """A class's output column, in predictions.parquet and in the served model's output."""
    return f"prob_{class_name}"


def output_columns(classes: list[str] | None) -> list[str]:
    """The served model's output columns: a probability per class, or (classes None, regression)
    the one prediction."""
    if classes is None:
        return [PREDICTION_OUTPUT]
    return [probability_column(name) for name in classes]


def encoding_document(manifest: dict) -> dict:
    """The content of a PyTorch model's encoding.json for a snapshot manifest."""
    return {
        "input_names": input_names(manifest),
        "statistics": manifest["statistics"],
        "task": manifest["task"],
        "classes": list(manifest["classes"]),
        "label": manifest["label"],
    }


def load_predictor(model_dir: Path, framework: str) -> Predictor:
    """Load an exported model (see the contract above); TandemError if it does not match it."""
    model_dir = Path(model_dir)
    chosen = by_name(framework)
    if not model_dir.is_dir():
        raise TandemError(f"{model_dir}: model directory does not exist ({chosen.name} model)")
    if chosen is TENSORFLOW:
        from components.export.tensorflow_predictor import TensorFlowPredictor

        return TensorFlowPredictor(model_dir)
    from components.export.pytorch_predictor import PyTorchPredictor

    return PyTorchPredictor(model_dir)


def missing_columns(table: pa.Table, columns: list[str]) -> list[str]:
    present = set(table.column_names)
    return [name for name in columns if name not in present]
