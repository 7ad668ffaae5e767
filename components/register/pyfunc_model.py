"""The MLflow pyfunc both frameworks' models are logged as: raw feature columns in, one
probability column per class out (or, for regression, one `prediction` column in the label's
units), through the same predictor adapters the evaluator uses.
"""

from __future__ import annotations

from pathlib import Path

import mlflow.pyfunc
import pandas as pd
import pyarrow as pa

MODEL_DIR_ARTIFACT = "model_dir"


class TandemModel(mlflow.pyfunc.PythonModel):
    """Configured by the logged model's `model_config`: `framework`, `task` and `classes`."""

    def load_context(self, context) -> None:
        from components.export import load_predictor

        self.classes = list(context.model_config["classes"])
        model_dir = Path(context.artifacts[MODEL_DIR_ARTIFACT])
        self._predictor = load_predictor(model_dir, context.model_config["framework"])

    def predict(self, context, model_input: pd.DataFrame, params=None) -> pd.DataFrame:
        from components.export import output_columns

        table = pa.Table.from_pandas(model_input, preserve_index=False)
        outputs = self._predictor.predict(table)
        columns = output_columns(self.classes or None)
        return pd.DataFrame(outputs.reshape(len(outputs), len(columns)), columns=columns)
