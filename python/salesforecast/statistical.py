"""Statistical models fitted on each series' own history by the core, in parallel over series:
exponential smoothing chosen by AICc (:class:`AutoETS`) and Theta (:class:`Theta`). Like the
baselines they fit at forecast time, so they go anywhere a model goes (ensemble members,
backtests, bundles) and a bundle stores only their settings."""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl

from salesforecast import _native
from salesforecast.baselines import LocalModel
from salesforecast.config import ColumnRoles, whole
from salesforecast.errors import InvalidArgumentError

__all__ = ["AutoETS", "Theta"]


class _StatisticalModel(LocalModel):
    """A model the core fits on each series: its name and its one setting (and damping)."""

    season_length: int | None

    def _setting(self) -> tuple[str | None, bool | None]:
        raise NotImplementedError

    def _native_forecast(
        self,
        history: pl.DataFrame,
        roles: ColumnRoles,
        freq: str,
        h: int,
        season_length: int,
        n_threads: int | None,
    ) -> pl.DataFrame:
        setting, damped = self._setting()
        return _native.stat_forecasts(
            history,
            roles,
            freq,
            self.name,
            setting,
            damped,
            self.season_length or season_length,
            h,
            n_threads,
        )


@dataclass(frozen=True)
class AutoETS(_StatisticalModel):
    """Exponential smoothing state-space models (ETS), the form chosen per series by AICc among
    additive or multiplicative error, no / additive / damped trend and no / additive /
    multiplicative season (statsforecast's and R forecast's ``ets`` rules: multiplicative parts
    only for positive series, seasons only up to 24 periods, unstable forms left out).

    Args:
        model: three letters for error, trend and season, each ``Z`` (choose), ``A``, ``M``
            (not for the trend) or ``N`` (none): ``"ZZZ"`` chooses everything, ``"AAN"`` is
            Holt's linear method.
        damped: ``True`` or ``False`` forces the trend's damping; ``None`` lets AICc choose.
        season_length: periods in one season (default: the forecaster's, from the frequency).
    """

    model: str = "ZZZ"
    damped: bool | None = None
    season_length: int | None = None
    name = "auto_ets"

    def __post_init__(self) -> None:
        if self.season_length is not None:
            whole("season_length", self.season_length)
        if not isinstance(self.model, str):
            raise InvalidArgumentError(
                f"invalid argument `model`: expected a three-letter code such as 'ZZZ', got "
                f"{self.model!r}"
            )
        if self.damped is not None and not isinstance(self.damped, bool):
            raise InvalidArgumentError(
                f"invalid argument `damped`: expected True, False or None, got {self.damped!r}"
            )
        _native.check_stat_model(self.name, self.model, self.damped)

    def _setting(self) -> tuple[str | None, bool | None]:
        return self.model, self.damped


@dataclass(frozen=True)
class Theta(_StatisticalModel):
    """The Theta method: simple exponential smoothing plus a share of the linear trend, on the
    series deseasonalised by a classical decomposition when an autocorrelation test finds its
    season. ``variant=None`` chooses per series by in-sample error among ``"STM"`` (standard,
    theta 2), ``"OTM"`` (theta optimized), ``"DSTM"`` and ``"DOTM"`` (their dynamic forms), as
    statsforecast's ``AutoTheta`` does.

    Args:
        variant: one of the four above, or ``None`` to choose.
        season_length: periods in one season (default: the forecaster's, from the frequency).
    """

    variant: str | None = None
    season_length: int | None = None
    name = "theta"

    def __post_init__(self) -> None:
        if self.season_length is not None:
            whole("season_length", self.season_length)
        if self.variant is not None and not isinstance(self.variant, str):
            raise InvalidArgumentError(
                f"invalid argument `variant`: expected 'STM', 'OTM', 'DSTM', 'DOTM' or None, got "
                f"{self.variant!r}"
            )
        _native.check_stat_model(self.name, self.variant, None)

    def _setting(self) -> tuple[str | None, bool | None]:
        return self.variant, None
