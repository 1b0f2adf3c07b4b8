"""The MLflow pyfunc wrapper of a fitted Forecaster. Its artifacts are the bundle files (no
pickle: MLflow loads this class from code, ``_mlflow_model.py``).

Input of ``predict`` (a pandas frame, over REST ``{"dataframe_split": ...}``): one row per
series and forecast period with the key columns, the time column and every known-future column
of the model (planned prices, promotions, ...); for a model without known-future columns, one
row per series with the key columns is enough. Params: ``h`` (periods, default the number of
periods given per series, else the model's horizon) and ``levels`` (interval levels, default
the model's). Output: keys, time, one column per model, ``ensemble`` and
``{model}-lo-{level}`` / ``{model}-hi-{level}`` for the series in the input.
"""

from __future__ import annotations

from typing import Any

import pandas as pd
import polars as pl
from mlflow.pyfunc import PythonModel

from salesforecast.errors import InvalidArgumentError, ModelFileError
from salesforecast.forecast import Forecaster


def forecast_for(
    forecaster: Forecaster, request: Any, params: dict[str, Any] | None
) -> pl.DataFrame:
    """The forecasts of the series in ``request`` (see the module docstring)."""
    frame = pl.from_pandas(request) if not isinstance(request, pl.DataFrame) else request
    history = forecaster.history
    if history is None:
        raise InvalidArgumentError("invalid argument `model`: the forecaster is not fitted")
    keys, time_col = forecaster.keys, forecaster.time_col
    missing = [c for c in keys if c not in frame.columns]
    if missing:
        raise InvalidArgumentError(
            f"invalid argument `model_input`: key columns {missing} are missing; it has "
            f"{frame.columns}"
        )
    if frame.schema.get(time_col) == pl.String:
        # JSON carries times as text: read as the training data's.
        try:
            frame = frame.with_columns(pl.col(time_col).cast(history[time_col].dtype))
        except pl.exceptions.PolarsError as e:
            raise InvalidArgumentError(
                f"invalid argument `model_input`: `{time_col}` of the wrong type: {e}"
            ) from e
    frame = forecaster.conformed(frame, "model_input")
    if forecaster.known_future and time_col not in frame.columns:
        raise InvalidArgumentError(
            f"invalid argument `model_input`: give `{time_col}` and the known-future columns "
            f"{forecaster.known_future} for every series and forecast period"
        )
    unknown = forecaster.series_without_history(frame)
    if unknown.height:
        raise InvalidArgumentError(
            f"invalid argument `model_input`: series {unknown.head(5).to_dicts()} were not in "
            "the training data"
        )
    series = frame.select(keys).unique()
    params = params or {}
    default_h = forecaster.horizon
    if time_col in frame.columns:
        periods = frame.group_by(keys).agg(pl.col(time_col).n_unique())[time_col].max()
        default_h = int(periods) if isinstance(periods, int) else default_h
    h = int(params.get("h") or default_h)
    levels = params.get("levels")
    pred = forecaster.predict(
        h=h,
        new_df=history.join(series, on=keys, how="semi"),
        future=frame if forecaster.known_future else None,
        levels=None if levels is None else [int(v) for v in levels],
    )
    return pred.sort([*keys, time_col])


class ForecasterModel(PythonModel):  # type: ignore[misc]
    """MLflow pyfunc model serving a salesforecast bundle."""

    forecaster: Forecaster

    def load_context(self, context: Any) -> None:
        """Loads the bundle from the model's artifacts, checking its digest from the model
        configuration."""
        config = getattr(context, "model_config", None) or {}
        digest = config.get("bundle_digest")
        if not digest:
            raise ModelFileError(
                "the model's configuration lacks `bundle_digest`: it was not logged by "
                "salesforecast.tracking.log_run, or was altered"
            )
        self.forecaster = Forecaster.load(context.artifacts["bundle"], digest=digest)

    def predict(
        self, context: Any, model_input: pd.DataFrame, params: dict[str, Any] | None = None
    ) -> pd.DataFrame:
        """Forecasts with intervals for the series and periods of ``model_input``."""
        return forecast_for(self.forecaster, model_input, params).to_pandas()
