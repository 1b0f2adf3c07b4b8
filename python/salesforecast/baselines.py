"""Local models: they forecast each series from its own history on its regular time grid, at
forecast time, so a fitted forecaster stores only their settings. The baselines (the core's
rule, the same one ``evaluate`` scores its baselines with) are here; the statistical models in
:mod:`salesforecast.statistical`."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import polars as pl

from salesforecast import _native
from salesforecast._frames import as_time_dtype
from salesforecast.config import ColumnRoles, whole

__all__ = ["Baseline", "LocalModel", "MovingAverage", "Naive", "SeasonalNaive"]


class LocalModel:
    """What every local model shares: a name, its parameters, and its forecasts."""

    name: str = ""

    def params(self) -> dict[str, Any]:
        """The constructor arguments (what a bundle stores)."""
        return asdict(self)  # type: ignore[call-overload, no-any-return]

    def _native_forecast(
        self,
        history: pl.DataFrame,
        roles: ColumnRoles,
        freq: str,
        h: int,
        season_length: int,
        n_threads: int | None,
    ) -> pl.DataFrame:
        raise NotImplementedError

    def forecast(
        self,
        history: pl.DataFrame,
        roles: ColumnRoles,
        freq: str,
        h: int,
        season_length: int | None = None,
        n_threads: int | None = None,
    ) -> pl.DataFrame:
        """Forecasts for the ``h`` periods after each series of ``history``: keys, time and
        ``forecast``. ``season_length`` is the season of a model that leaves its own out (a
        forecaster passes its own; default: the frequency's). ``history`` must keep the data
        contract (the entry check of every call; a missing target reads as a missing period);
        the core refuses a forecast of more than 100 million rows."""
        h = whole("h", h)
        if season_length is not None:
            whole("season_length", season_length)
        if n_threads is not None:
            whole("n_threads", n_threads)
        roles = roles.resolve(history)
        _native.check_frame(history, roles, freq, "optional", "history")
        season = season_length or _native.season_length_of(freq)
        out = self._native_forecast(history, roles, freq, h, season, n_threads)
        return out.select([*roles.keys, roles.time, "forecast"]).with_columns(
            as_time_dtype(out[roles.time], history[roles.time].dtype)
        )


class _BaselineModel(LocalModel):
    """A baseline: one rule of the core with one whole-number parameter."""

    def _parameter(self, season_length: int) -> int:
        return 1

    def _native_forecast(
        self,
        history: pl.DataFrame,
        roles: ColumnRoles,
        freq: str,
        h: int,
        season_length: int,
        n_threads: int | None,
    ) -> pl.DataFrame:
        return _native.baseline_forecasts(
            history, roles, freq, self.name, self._parameter(season_length), h
        )


@dataclass(frozen=True)
class SeasonalNaive(_BaselineModel):
    """Repeats the last observed season: the forecast for step k is the value one whole number
    of seasons before it (the last observed value where that period is missing or the history
    is shorter than a season). ``season_length=None`` takes the forecaster's season length
    (by default the frequency's: 7 daily, 52 weekly, 12 monthly, 24 hourly)."""

    season_length: int | None = None
    name = "seasonal_naive"

    def __post_init__(self) -> None:
        if self.season_length is not None:
            whole("season_length", self.season_length)

    def _parameter(self, season_length: int) -> int:
        return self.season_length or season_length


@dataclass(frozen=True)
class Naive(_BaselineModel):
    """Repeats the last observed value."""

    name = "naive"


@dataclass(frozen=True)
class MovingAverage(_BaselineModel):
    """The mean of the last ``window`` observed values."""

    window: int = 7
    name = "moving_average"

    def __post_init__(self) -> None:
        whole("window", self.window)

    def _parameter(self, season_length: int) -> int:
        return self.window


Baseline = SeasonalNaive | Naive | MovingAverage
