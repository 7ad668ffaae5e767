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
    """Configured by the logged model's `model_config`: `framework`, `classes`, `categories`
    (each categorical feature's values) and `max_batch_rows` (which the server may override)."""

    def load_context(self, context) -> None:
        from components.export import load_predictor

        config = context.model_config
        self.classes = list(config["classes"])
        self.categories = dict(config["categories"])
        self.max_batch_rows = int(config["max_batch_rows"])
        model_dir = Path(context.artifacts[MODEL_DIR_ARTIFACT])
        self._predictor = load_predictor(model_dir, config["framework"])

    def predict(self, context, model_input: pd.DataFrame, params=None) -> pd.DataFrame:
        """A request the model cannot score raises MLflow's invalid-parameter error, which the
        scoring server answers with 400 and the message."""
        from mlflow.exceptions import MlflowException

        from components.export import output_columns
        from components.register.requests import request_problem

        problem = request_problem(model_input, self.categories, self.max_batch_rows)
        if problem:
            raise MlflowException.invalid_parameter_value(problem)
        table = pa.Table.from_pandas(model_input, preserve_index=False)
        outputs = self._predictor.predict(table)
        columns = output_columns(self.classes or None)
        return pd.DataFrame(outputs.reshape(len(outputs), len(columns)), columns=columns)
