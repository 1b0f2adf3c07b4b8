"""salesforecast: sales forecasting with a Rust core.

>>> import salesforecast as sf
>>> df = sf.generate_sales(n_stores=2, n_products=3, start="2023-01-01", end="2023-03-31")
>>> report = sf.validate(df)
>>> train, test = sf.time_split(df, test_periods=28)
"""

from salesforecast import errors, plots
from salesforecast._native import __version__
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
from salesforecast.features import (
    EWM,
    Expanding,
    FeatureSpec,
    GroupRolling,
    Rolling,
    SeasonalRolling,
    build_features,
)
from salesforecast.forecast import Forecaster, MovingAverage, Naive, SeasonalNaive, evaluate
from salesforecast.models import LightGBM, XGBoost
from salesforecast.report import report

__all__ = [
    "EWM",
    "Diagnostics",
    "Expanding",
    "FeatureSpec",
    "Forecaster",
    "GroupRolling",
    "Issue",
    "LightGBM",
    "MovingAverage",
    "Naive",
    "Rolling",
    "SalesForecastError",
    "SeasonalNaive",
    "SeasonalRolling",
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
    "time_split",
    "validate",
]
