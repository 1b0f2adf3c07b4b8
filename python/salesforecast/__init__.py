"""salesforecast: sales forecasting with a Rust core.

>>> import salesforecast as sf
>>> df = sf.generate_sales(n_stores=2, n_products=3, start="2023-01-01", end="2023-03-31")
>>> report = sf.validate(df)
>>> train, test = sf.time_split(df, test_periods=28)
"""

import os as _os
from typing import Any

# The boosters' OpenMP threads spin while they wait for work by default; beside other busy
# processes (an Airflow worker running several tasks) spinning threads steal the cores the
# working ones need, and fits slow down 5 to 20 times. Every OpenMP runtime this package loads
# reads this when the native module is first imported, just below; a user's own setting wins.
_os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

from salesforecast import errors, plots, storage
from salesforecast._native import __version__
from salesforecast.baselines import MovingAverage, Naive, SeasonalNaive
from salesforecast.config import ColumnRoles, Ensemble, Intervals
from salesforecast.data import (
    Issue,
    ValidationReport,
    generate_sales,
    read_sales,
    time_split,
    validate,
)
from salesforecast.diagnostics import Diagnostics, diagnose
from salesforecast.errors import SalesForecastError
from salesforecast.evaluation import evaluate
from salesforecast.features import (
    EWM,
    Expanding,
    FeatureSpec,
    GroupRolling,
    Rolling,
    SeasonalRolling,
    build_features,
)
from salesforecast.forecast import Forecaster
from salesforecast.models import LightGBM, XGBoost
from salesforecast.report import report
from salesforecast.statistical import AutoETS, Theta


def __getattr__(name: str) -> Any:
    # Tuning and tracking import Optuna and MLflow: only when used, so `import salesforecast`
    # stays light (Airflow parses DAG files that import it).
    if name == "tune":
        from salesforecast.tuning import tune

        return tune
    if name in ("tracking", "tuning"):
        import importlib

        return importlib.import_module(f"salesforecast.{name}")
    raise AttributeError(f"module 'salesforecast' has no attribute {name!r}")


__all__ = [
    "EWM",
    "AutoETS",
    "ColumnRoles",
    "Diagnostics",
    "Ensemble",
    "Expanding",
    "FeatureSpec",
    "Forecaster",
    "GroupRolling",
    "Intervals",
    "Issue",
    "LightGBM",
    "MovingAverage",
    "Naive",
    "Rolling",
    "SalesForecastError",
    "SeasonalNaive",
    "SeasonalRolling",
    "Theta",
    "ValidationReport",
    "XGBoost",
    "__version__",
    "build_features",
    "diagnose",
    "errors",
    "evaluate",
    "generate_sales",
    "plots",
    "read_sales",
    "report",
    "storage",
    "time_split",
    "tracking",
    "tune",
    "validate",
]
