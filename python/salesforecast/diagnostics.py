"""Residual diagnostics of backtest forecasts."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import polars as pl

from salesforecast import _native
from salesforecast._frames import IdCol, to_polars
from salesforecast.config import ColumnRoles
from salesforecast.errors import MissingColumnError

__all__ = ["Diagnostics", "diagnose"]


@dataclass(frozen=True)
class Diagnostics:
    """What :func:`diagnose` found about one model's residuals (actual minus forecast)."""

    model: str
    n: int
    #: lag, acf, and the +-1.96/sqrt(n) bounds of white noise
    acf: pl.DataFrame
    ljung_box_q: float
    ljung_box_p: float
    jarque_bera: float
    jarque_bera_p: float
    #: mean residual by forecast step (1 = first period after the cutoff)
    by_step: pl.DataFrame
    #: mean residual by weekday (0 = Monday)
    by_weekday: pl.DataFrame
    #: mean residual and WAPE by segment, when a segment column was given
    by_segment: pl.DataFrame | None
    #: the series with the largest absolute error, worst first
    worst_series: pl.DataFrame


def diagnose(
    cv: Any,
    model: str = "ensemble",
    *,
    id_col: IdCol = None,
    time_col: str = "date",
    target_col: str = "sales",
    max_lag: int = 14,
    segment: str | None = None,
    top: int = 10,
    roles: ColumnRoles | None = None,
) -> Diagnostics:
    """Residual diagnostics of ``model`` in a ``cross_validation`` frame: autocorrelation up to
    ``max_lag`` (pooled within each series and backtest window) with white-noise bounds,
    Ljung-Box Q and p-value over those lags, Jarque-Bera, the residual mean by forecast step, by
    weekday and by ``segment``, and the ``top`` worst series. ``roles`` (a forecaster's
    ``fc.roles``) names the columns instead of ``id_col``, ``time_col`` and ``target_col``."""
    frame = to_polars(cv)
    found = ColumnRoles.of(roles, id_col=id_col, time_col=time_col, target_col=target_col)
    found = found.resolve(frame)
    keys, time_col, target_col = found.keys, found.time, found.target
    missing = [c for c in (model, target_col, time_col) if c not in frame.columns]
    if missing:
        raise MissingColumnError(
            f"columns {missing} not found; the frame has [{', '.join(frame.columns)}]"
        )
    group = [*keys, *(["cutoff"] if "cutoff" in frame.columns else [])]
    res = frame.sort([*group, time_col]).with_columns(
        (pl.col(target_col) - pl.col(model)).alias("residual"),
        pl.col(time_col).rank("ordinal").over(group).cast(pl.Int32).alias("step"),
    )
    stretches = [g["residual"].to_list() for _, g in res.group_by(group, maintain_order=True)]
    acf, (q, q_p), (jb, jb_p), n = _native.residual_tests(stretches, max_lag)
    bound = 1.96 / math.sqrt(max(n, 1))
    acf_frame = pl.DataFrame({"lag": list(range(1, max_lag + 1)), "acf": acf}).with_columns(
        pl.lit(-bound).alias("lower"), pl.lit(bound).alias("upper")
    )
    mean_residual = [pl.col("residual").mean().alias("mean_residual"), pl.len().alias("n")]
    by_step = res.group_by("step").agg(mean_residual).sort("step")
    by_weekday = (
        res.group_by(pl.col(time_col).dt.weekday().sub(1).alias("weekday"))
        .agg(mean_residual)
        .sort("weekday")
    )
    wape = (pl.col("residual").abs().sum() / pl.col(target_col).abs().sum()).alias("wape")
    by_segment = (
        None if segment is None else res.group_by(segment).agg([*mean_residual, wape]).sort(segment)
    )
    worst = (
        res.group_by(keys)
        .agg(
            pl.col("residual").abs().sum().alias("absolute_error"),
            wape,
            pl.col("residual").mean().alias("mean_residual"),
        )
        .sort("absolute_error", descending=True)
        .head(top)
    )
    return Diagnostics(
        model, n, acf_frame, q, q_p, jb, jb_p, by_step, by_weekday, by_segment, worst
    )
