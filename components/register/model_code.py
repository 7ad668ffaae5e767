"""The model code MLflow runs to load a tandem model (MLflow's models-from-code: no pickle).

Only MLflow executes this file; the rest of tandem imports `pyfunc_model` instead.
"""

from mlflow.models import set_model

from components.register.pyfunc_model import TandemModel

set_model(TandemModel())
