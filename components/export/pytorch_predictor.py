"""A torch.export program (or its TorchScript fallback) as a Predictor (imports torch)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyarrow as pa
import torch

from components.common.errors import TandemError
from components.common.features import input_names, network_inputs
from components.common.frameworks import PYTORCH
from components.export import (
    ENCODING_FILE,
    PT2_FILE,
    TORCHSCRIPT_FILE,
    missing_columns,
    output_shape_problem,
)

ENCODING_KEYS = ("input_names", "statistics", "task", "classes", "label")


def read_encoding(model_dir: Path) -> dict:
    path = model_dir / ENCODING_FILE
    if not path.is_file():
        raise TandemError(f"{model_dir}: {ENCODING_FILE} is missing (the input encoding)")
    try:
        encoding = json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise TandemError(f"{path}: not valid JSON: {exc}") from exc
    absent = [key for key in ENCODING_KEYS if not isinstance(encoding, dict) or key not in encoding]
    if absent:
        raise TandemError(f"{path}: lacks the key(s) {absent}")
    expected = input_names({"statistics": encoding["statistics"]})
    if encoding["input_names"] != expected:
        raise TandemError(
            f"{path}: input_names {encoding['input_names']} do not match the encoding of its "
            f"statistics {expected}"
        )
    return encoding


def load_module(model_dir: Path) -> tuple[torch.nn.Module, str, str | None]:
    """(module, format, why model.pt2 was not used or None)."""
    pt2 = model_dir / PT2_FILE
    if pt2.is_file():
        try:
            return torch.export.load(str(pt2)).module(), "pt2", None
        except Exception as exc:  # a corrupt or version-incompatible program: use the fallback
            reason = f"{PT2_FILE} does not load ({type(exc).__name__}: {exc})"
    else:
        reason = f"{PT2_FILE} is missing"
    torchscript = model_dir / TORCHSCRIPT_FILE
    if not torchscript.is_file():
        raise TandemError(
            f"{model_dir}: no loadable model: {reason} and {TORCHSCRIPT_FILE} is missing"
        )
    try:
        module = torch.jit.load(str(torchscript), map_location="cpu")
    except Exception as exc:
        raise TandemError(
            f"{model_dir}: no loadable model: {reason} and {TORCHSCRIPT_FILE} does not load: {exc}"
        ) from exc
    return module.eval(), "torchscript", reason


class PyTorchPredictor:
    framework = PYTORCH.name

    def __init__(self, model_dir: Path):
        self.model_dir = Path(model_dir)
        encoding = read_encoding(self.model_dir)
        self.classes: list[str] = list(encoding["classes"])
        self.regression = encoding["task"] == "regression"
        self.label: str = encoding["label"]
        self._manifest = {"statistics": encoding["statistics"]}
        statistics = encoding["statistics"]
        self.features = [
            name
            for kind in ("numeric", "categorical", "array", "text")
            for name in statistics.get(kind, {})
        ]
        self.module, self.format, self.fallback_reason = load_module(self.model_dir)

    def predict(self, table: pa.Table) -> np.ndarray:
        missing = missing_columns(table, self.features)
        if missing:
            raise TandemError(
                f"{self.model_dir}: the rows lack column(s) {missing} the model takes"
            )
        n_classes = None if self.regression else len(self.classes)
        if table.num_rows == 0:  # the exported batch dimension starts at 1
            return np.empty((0,) if n_classes is None else (0, n_classes))
        inputs = torch.from_numpy(network_inputs(table, self._manifest, self.model_dir))
        with torch.inference_mode():
            outputs = self.module(inputs).numpy()
        problem = output_shape_problem(outputs.shape, table.num_rows, n_classes)
        if problem:
            raise TandemError(f"{self.model_dir}: {problem}")
        return outputs.astype(np.float64)
