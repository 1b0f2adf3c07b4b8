"""Forecast accuracy: :func:`evaluate` scores every forecast column of a frame against its
actuals, per series, per segment and overall, beside the baselines read from the history."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import polars as pl

from salesforecast import _native
from salesforecast._frames import IdCol, forecast_columns, to_polars
from salesforecast.config import ColumnRoles, whole
from salesforecast.errors import InvalidArgumentError

__all__ = ["METRICS", "check_improvement", "check_metric", "evaluate"]

# The point metrics a model can be judged by (tuning, the registry's gate): lower is better.
METRICS = ("mase", "rmsse", "wape", "mae", "rmse", "smape", "mape")


def check_metric(metric: object) -> str:
    """``metric`` if it is one of :data:`METRICS`, else a typed error naming it."""
    if metric not in METRICS:
        raise InvalidArgumentError(f"invalid argument `metric`: {metric!r} is not one of {METRICS}")
    return str(metric)


def check_improvement(value: object) -> float:
    """The registry gate's least relative improvement: a number in [0, 1)."""
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value < 1:
        raise InvalidArgumentError(
            f"invalid argument `min_improvement`: must be a number in [0, 1), got {value!r}"
        )
    return float(value)


def evaluate(
    forecasts: Any,
    history: Any | None = None,
    *,
    models: Sequence[str] | None = None,
    levels: Sequence[int] = (80, 95),
    season_length: int | None = None,
    segment: str | None = None,
    id_col: IdCol = None,
    time_col: str = "date",
    target_col: str = "sales",
    freq: str | None = None,
    roles: ColumnRoles | None = None,
) -> pl.DataFrame:
    """Metrics of every model column, per series, per ``segment`` value and overall.

    Metrics: rmse, mae, mape (zeros left out and counted in ``mape_zeros``), smape, wape, mase and
    rmsse (scaled by the seasonal-naive error of the ``history`` on its regular grid),
    revenue-weighted rmsse (overall rows, as in the M5 competition), r2, bias, and per interval
    level coverage, Winkler score and pinball loss. With a ``history``, the naive,
    seasonal-naive and moving-average (one season) baselines are evaluated alongside. Frames
    from ``cross_validation`` are evaluated per ``cutoff``.

    A row where a model has no forecast (null or NaN: a baseline that cannot forecast a short
    series) is left out of that model's metrics; ``n`` counts the rows each metric scored, so a
    model with no forecast at all shows ``n`` 0 and NaN metrics.

    ``season_length`` (the seasonal-naive scale and baseline) defaults to the frequency's when
    ``freq`` is given (7 daily, 52 weekly, 12 monthly), else 7.

    Without ``models``, the forecast columns are the numeric columns that are not keys, time,
    target, cutoff, segment, interval bounds, declared covariates of ``roles``, or columns of
    the ``history`` (data joined to the forecasts, such as ``price``, is not a model).
    """
    frame = to_polars(forecasts)
    roles = ColumnRoles.of(roles, id_col=id_col, time_col=time_col, target_col=target_col).resolve(
        frame
    )
    hist = None if history is None else to_polars(history, "history")
    if models is None:
        skip = {
            *roles.keys,
            roles.time,
            roles.target,
            "cutoff",
            *([segment] if segment else []),
            *roles.covariates,
            *([] if hist is None else hist.columns),
        }
        models = forecast_columns(frame, skip)
    return _native.evaluate(
        frame,
        hist,
        roles,
        list(models),
        [int(lv) for lv in levels],
        _season(season_length, freq),
        segment,
        "cutoff" if "cutoff" in frame.columns else None,
        freq,
    )


def _season(season_length: int | None, freq: str | None) -> int:
    if season_length is not None:
        return whole("season_length", season_length)
    return 7 if freq is None else _native.season_length_of(freq)
