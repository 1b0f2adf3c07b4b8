"""The code MLflow runs to build the pyfunc model (models from code: nothing is pickled)."""

import mlflow

from salesforecast.serving import ForecasterModel

mlflow.models.set_model(ForecasterModel())
