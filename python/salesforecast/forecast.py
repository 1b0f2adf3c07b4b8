"""The Forecaster: the estimator that fits features, boosters and baselines, calibrates the
ensemble and conformal intervals on cross-validation windows, forecasts, backtests, and saves
to and loads from bundles. The forecast strategies live in :mod:`salesforecast._strategies`,
the calibration in :mod:`salesforecast._calibration`, the baselines in
:mod:`salesforecast.baselines` and the metrics in :mod:`salesforecast.evaluation`."""

from __future__ import annotations

import datetime as dt
import io
import logging
import math
import os
import sys
import time
import warnings
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from numbers import Integral
from typing import Any, Literal

import polars as pl

from salesforecast import _native, bundle
from salesforecast._calibration import (
    LEVEL_SPREAD,
    Calibration,
    Widths,
    at_least,
    with_ensemble,
    with_intervals,
)
from salesforecast._frames import IdCol, as_time_dtype, shift_times, to_polars
from salesforecast._strategies import (
    DirectBooster,
    FeaturePlan,
    Smearing,
    ahead,
    direct,
    recomputed,
    stepped,
    train,
)
from salesforecast.baselines import Baseline, LocalModel, MovingAverage, Naive, SeasonalNaive
from salesforecast.config import ColumnRoles, Ensemble, Intervals, whole
from salesforecast.diagnostics import Diagnostics, diagnose
from salesforecast.errors import (
    ColumnTypeError,
    DataError,
    EndedSeriesWarning,
    InvalidArgumentError,
    MissingColumnError,
    ModelFileError,
    NotFittedError,
    SeriesTooShortError,
    UndeclaredColumnsWarning,
)
from salesforecast.evaluation import evaluate
from salesforecast.features import FeatureSpec
from salesforecast.models import LightGBM, XGBoost
from salesforecast.statistical import AutoETS, Theta

__all__ = ["GUARD_RULE", "Forecaster", "default_models"]

_log = logging.getLogger(__name__)
# The default booster's early stopping: the most rounds it may take, and how many rounds
# without improvement end the search.
_MAX_ROUNDS, _PATIENCE = 1000, 50
_SETTLED = frozenset({"objective", "n_estimators"})
# What calibration windows carry besides the forecasts: step, interval scale, recent level,
# floor and window number.
_WINDOW_COLUMNS = ("_step", "_scale", "_level", "_floor", "_window")
_NOTHING_GUARDED = pl.DataFrame(
    schema={"model": pl.String, "distance": pl.Float64, "last_year_distance": pl.Float64}
)

UserModel = LightGBM | XGBoost | Baseline | AutoETS | Theta
Model = UserModel | DirectBooster
BacktestCallback = Callable[[int, int, dict[str, float]], bool | None]

_MODEL_KINDS: dict[str, type] = {
    "LightGBM": LightGBM,
    "XGBoost": XGBoost,
    "SeasonalNaive": SeasonalNaive,
    "Naive": Naive,
    "MovingAverage": MovingAverage,
    "AutoETS": AutoETS,
    "Theta": Theta,
}


@dataclass
class _Monitor:
    """Numbers the booster fits of one backtest and hands each a per-round callback that
    reports ``(fit, round, metrics)`` to the user's ``round_callback``."""

    callback: BacktestCallback
    fits: int = 0

    def next_fit(self) -> Callable[[int, dict[str, float]], bool | None]:
        fit = self.fits
        self.fits += 1
        return lambda round_, metrics: self.callback(fit, round_, metrics)


@dataclass(frozen=True)
class _Cut:
    """Where the history of one backtest window ends: at one time for every series (``at``),
    or at each series' own time (``table``: keys and ``cutoff``), as when every series' window
    is counted back from its own last period."""

    at: Any = None
    table: pl.DataFrame | None = None

    @cached_property
    def key(self) -> Any:
        """A hashable form, to reuse the models and forecasts of the same history (built once:
        a table's is a tuple of all its rows)."""
        return self.at if self.table is None else tuple(self.table.iter_rows())

    @property
    def latest(self) -> Any:
        return self.at if self.table is None else self.table["cutoff"].max()

    def split(
        self, data: pl.DataFrame, keys: list[str], time_col: str
    ) -> tuple[pl.DataFrame, pl.DataFrame]:
        """The rows of ``data`` up to their series' cutoff, and those after it (series without
        a cutoff, or with a null one, in neither)."""
        if self.at is None and self.table is None:
            return data.clear(), data.clear()
        if self.table is None:
            return data.filter(pl.col(time_col) <= self.at), data.filter(pl.col(time_col) > self.at)
        marked = data.join(self.table.rename({"cutoff": "_cut"}), on=keys, how="inner")
        before = marked.filter(pl.col(time_col) <= pl.col("_cut")).drop("_cut")
        return before, marked.filter(pl.col(time_col) > pl.col("_cut")).drop("_cut")

    def labelled(self, frame: pl.DataFrame, keys: list[str], dtype: pl.DataType) -> pl.DataFrame:
        """``frame`` with its series' cutoff as column ``cutoff`` of the time type ``dtype``
        (whichever kind of cut, so windows of both kinds concatenate)."""
        if self.table is None:
            return frame.with_columns(pl.lit(self.at, dtype=dtype).alias("cutoff"))
        return frame.join(self.table, on=keys, how="left")


@dataclass
class _Backtests:
    """Models and forecasts of one cross-validation run, by training cutoff. Nested windows
    often train on the same data (a calibration window of a later fold is an earlier fold's
    full fit); the same data, parameters and seeds give the same models, so they are reused."""

    models: dict[Any, list[Model]] = field(default_factory=dict)
    forecasts: dict[tuple[Any, Any, int], pl.DataFrame] = field(default_factory=dict)
    monitor: _Monitor | None = None
    # What the guard replaced in each forecast, with its origin as `cutoff`.
    guarded: list[pl.DataFrame] = field(default_factory=list)
    # A backtest scores each model as it is (what tuning compares), not as the guard left it.
    guard: bool = True


class _Progress:
    """One line per fitted model on standard error, so a long fit in a terminal or notebook
    shows where it is without configuring ``logging``."""

    def __init__(self, enabled: bool, task: str) -> None:
        self.enabled, self.task, self.started = enabled, task, time.perf_counter()

    def say(self, text: str) -> None:
        if self.enabled:
            elapsed = time.perf_counter() - self.started
            print(
                f"[salesforecast] {self.task} {elapsed:6.1f}s  {text}", file=sys.stderr, flush=True
            )


GUARD_RULE = (
    "consensus and last-year distance: a model's forecasts for a series are replaced by the "
    "consensus (the median, step by step, of every model's forecast and seasonal naive's) when "
    f"their median distance over the steps exceeds {_native.GUARD_LIMIT:g} times the series' "
    "seasonal-naive error (the naive one without a seasonal pair) both from the consensus and "
    "from the series' own values a year earlier shifted to its current level (where the "
    "history reaches a year and a quarter back)"
)


def default_models(non_negative: bool = True) -> list[UserModel]:
    """The models of a Forecaster built without ``models``: LightGBM across the series, AutoETS
    and Theta within each series, and seasonal naive and naive, the two baselines every
    forecast must beat, so the ensemble can lean on them where nothing else holds up. For a
    non-negative target (sales) LightGBM minimises the Tweedie deviance, whose prediction is
    the mean of a skewed, zero-heavy target (squared error on a log scale would give its
    median, biased low); the forecaster decides at ``fit`` from the data."""
    booster = LightGBM(objective="tweedie") if non_negative else LightGBM()
    return [booster, AutoETS(), Theta(), SeasonalNaive(), Naive()]


def _model_name(model: UserModel) -> str:
    if isinstance(model, LightGBM):
        return "lightgbm"
    if isinstance(model, XGBoost):
        return "xgboost"
    return model.name


def _check_models(models: Iterable[Any]) -> list[Any]:
    """The models as a list, each an instance of a model class."""
    if isinstance(models, str) or not isinstance(models, Iterable):
        models = []
    models = list(models)
    if not models:
        raise InvalidArgumentError(
            "invalid argument `models`: give a non-empty list of models, e.g. "
            "[sf.LightGBM(), sf.SeasonalNaive()]"
        )
    for i, m in enumerate(models):
        if isinstance(m, type):
            raise InvalidArgumentError(
                f"invalid argument `models[{i}]`: {m.__name__} is a class; pass an instance, "
                f"{m.__name__}()"
            )
        if not isinstance(m, tuple(_MODEL_KINDS.values())):
            raise InvalidArgumentError(
                f"invalid argument `models[{i}]`: {type(m).__name__} is not a model; use "
                f"{', '.join(f'sf.{k}()' for k in _MODEL_KINDS)}"
            )
    return models


class Forecaster:
    """Multi-step sales forecasts from several models, their ensemble and prediction intervals.

    ``fit`` runs ``cv_windows`` cross-validation windows of ``horizon`` periods on the training data
    (more where the history allows, so that they span at least one season). Their out-of-fold
    forecasts fit the ensemble weights and the split-conformal interval widths per forecast step, on
    errors scaled by each series' seasonal-naive error (the naive one where the series has no
    seasonal pair) so one width fits series of every size, and
    by the square root of the models' median forecast against the series' recent level, so a peak
    forecast gets the wider interval its errors will have. The
    weights (non-negative, summing to 1) are the loss-minimising ones shrunk toward equal weights on
    the better half of the models: trusted more with more windows and series and with a winner that
    ranks well in each series of each window, so a model that was lucky on a few windows does not
    take the ensemble over; and where that blend, weighted without each window, does not beat the
    better naive member in most series-windows, the ensemble is that baseline alone
    (``ensemble_fallback``). Then every model is refitted on all the data. Boosters forecast
    recursively: each step's prediction is fed back as the target for the next step's lag and window
    features. A guard replaces a model's forecasts for a series that stray implausibly far from the
    other models' and from the series' own last year (``guard``). Forecasts and interval bounds
    of a series whose history has no negative value (sales) are clipped at zero.

    ``sf.Forecaster(freq="1d", horizon=14)`` works as it is: default models, features by
    frequency and season length by frequency.

    Args:
        models: model instances: ``sf.LightGBM(...)``, ``sf.XGBoost(...)``, ``sf.AutoETS()``,
            ``sf.Theta()``, ``sf.SeasonalNaive()``, ``sf.Naive()``,
            ``sf.MovingAverage(window=7)``. Default: :func:`default_models`.
        features: the :class:`~salesforecast.FeatureSpec` the boosters read. Default:
            :meth:`FeatureSpec.for_frequency` of ``freq``.
        freq: the data's step: ``"<n><unit>"`` with unit ``s``, ``min``, ``h``, ``d``, ``w``,
            ``mo``, ``q``, ``y`` (``"1d"``, ``"1w"``, ``"1mo"``, ``"15min"``), or a pandas alias
            (``"D"``, ``"W"``, ``"MS"``, ``"M"``, ``"Q"``, ``"Y"``, ``"h"``). Checked against the
            data at ``fit``.
        horizon: periods forecast ahead; ``predict`` forecasts up to this many.
        strategy: ``"recursive"`` (one booster, predictions fed back) or ``"direct"`` (one
            booster per step).
        ensemble: ``"optimized"``, ``"mean"``, ``None`` (no ensemble column) or an
            :class:`~salesforecast.Ensemble`.
        ensemble_loss: ``"squared"`` or ``"absolute"`` (for ``"optimized"``).
        levels: interval levels in percent.
        interval_method: ``"conformal_distribution"`` (asymmetric) or ``"conformal_error"``
            (symmetric).
        cv_windows: calibration windows of one horizon each before the end of the training data.
        intervals: an :class:`~salesforecast.Intervals` instead of ``levels``,
            ``interval_method`` and ``cv_windows``.
        season_length: periods in one season: the scale of interval widths and of MASE, and
            the season of ``SeasonalNaive()``. Default: the frequency's (7 daily, 52 weekly,
            12 monthly, 4 quarterly, 24 hourly; 1 for steps without a cycle).
        id_col, time_col, target_col, static_features, known_future, past_only: the column
            roles (see :class:`~salesforecast.ColumnRoles`); or give ``roles=`` instead.
        roles: a :class:`~salesforecast.ColumnRoles` instead of the six keywords above.
        n_threads: threads for features and boosters (default: all cores).
        verbose: one progress line per fitted model on standard error during ``fit``,
            ``cross_validation`` and ``backtest``.
        guard: replace a model's forecasts for a series when they stray implausibly far from
            the consensus of the models and from the series' last year (see
            :data:`GUARD_RULE`); what it replaced is in
            ``guarded`` (calibration windows of ``fit``) and ``last_guarded`` (the last
            ``predict``).
    """

    def __init__(
        self,
        models: Iterable[UserModel] | None = None,
        features: FeatureSpec | None = None,
        *,
        freq: str,
        horizon: int,
        strategy: Literal["recursive", "direct"] = "recursive",
        ensemble: Literal["optimized", "mean"] | Ensemble | None = "optimized",
        ensemble_loss: Literal["squared", "absolute"] = "squared",
        levels: Sequence[int] = (80, 95),
        interval_method: Literal[
            "conformal_distribution", "conformal_error"
        ] = "conformal_distribution",
        cv_windows: int = 4,
        intervals: Intervals | None = None,
        season_length: int | None = None,
        id_col: IdCol = None,
        time_col: str = "date",
        target_col: str = "sales",
        static_features: Sequence[str] = (),
        known_future: Sequence[str] = (),
        past_only: Sequence[str] = (),
        roles: ColumnRoles | None = None,
        n_threads: int | None = None,
        verbose: bool = True,
        guard: bool = True,
    ) -> None:
        model_list = _check_models(default_models() if models is None else models)
        # The default booster's parameters that each fit settles from its data (the loss in
        # `_settle_default_models`, the rounds by early stopping at every booster fit).
        self._settled = _SETTLED if models is None else frozenset()
        if not isinstance(freq, str):
            raise InvalidArgumentError(f"invalid argument `freq`: expected a string, got {freq!r}")
        if features is None:
            features = FeatureSpec.for_frequency(freq)
        if not isinstance(features, FeatureSpec):
            raise InvalidArgumentError(
                "invalid argument `features`: expected a FeatureSpec, got "
                f"{type(features).__name__}"
            )
        if strategy not in ("recursive", "direct"):
            raise InvalidArgumentError(
                f"invalid argument `strategy`: {strategy!r} is neither 'recursive' nor 'direct'"
            )
        horizon = whole("horizon", horizon)
        self.freq = _native.parse_frequency(freq)
        season_length = (
            _native.season_length_of(self.freq)
            if season_length is None
            else whole("season_length", season_length)
        )
        if intervals is None:
            intervals = Intervals(tuple(levels), interval_method, cv_windows)
        elif (tuple(levels), interval_method, cv_windows) != (
            (80, 95),
            "conformal_distribution",
            4,
        ):
            raise InvalidArgumentError(
                "invalid argument `intervals`: give either `intervals=` or levels / "
                "interval_method / cv_windows, not both"
            )
        if isinstance(ensemble, str):
            ensemble = Ensemble(ensemble, ensemble_loss)
        elif ensemble is None:
            Ensemble("optimized", ensemble_loss)
        elif not isinstance(ensemble, Ensemble):
            raise InvalidArgumentError(
                f"invalid argument `ensemble`: {ensemble!r} is not one of "
                "['optimized', 'mean', None] or an Ensemble"
            )
        self.roles = ColumnRoles.of(
            roles,
            id_col=id_col,
            time_col=time_col,
            target_col=target_col,
            static_features=static_features,
            known_future=known_future,
            past_only=past_only,
        )
        _native.check_forecastable(
            features.to_json(), horizon, strategy == "recursive", bool(self.roles.past_only)
        )
        names: list[str] = []
        for m in model_list:
            base = _model_name(m)
            name, k = base, 2
            while name in names:
                name, k = f"{base}_{k}", k + 1
            names.append(name)
        self.models: list[UserModel] = model_list
        self.model_names = names
        self.features = features
        self.horizon = horizon
        self.strategy = strategy
        self.intervals = intervals
        self.ensemble_settings = ensemble
        self.season_length = season_length
        self.n_threads = None if n_threads is None else whole("n_threads", n_threads)
        self.verbose = verbose
        self.guard = bool(guard)
        # What the guard replaced in the calibration windows of the last fit: keys, `model`,
        # `distance` (median distance from the consensus in scale units) and `cutoff`.
        self.guarded: pl.DataFrame | None = None
        # What it replaced at the last predict (keys, model, distance).
        self.last_guarded: pl.DataFrame | None = None
        # When fit ran (UTC, ISO 8601): what a model's user is shown beside its data window.
        self.fitted_at: str | None = None
        self.calibration: Calibration | None = None
        self.interval_widths: Widths | None = None
        self.calibration_metrics: pl.DataFrame | None = None
        self._history: pl.DataFrame | None = None
        # Each series' interval scale from the training history, computed once.
        self._scale_table: pl.DataFrame | None = None
        # Categories of every string column, fixed at fit: codes mean the same in every later
        # frame, and values not seen at fit are coded as missing.
        self._categories: dict[str, list[str]] = {}
        self._step_cache: (
            tuple[pl.DataFrame, tuple[_native.FeatureStepper, pl.DataFrame]] | None
        ) = None
        self._fitted: list[Model] = []

    # ----------------------------------------------------------------- settings and state

    @property
    def ensemble(self) -> str | None:
        """``"optimized"``, ``"mean"`` or ``None``."""
        return None if self.ensemble_settings is None else self.ensemble_settings.kind

    @property
    def ensemble_loss(self) -> str:
        return "squared" if self.ensemble_settings is None else self.ensemble_settings.loss

    @property
    def levels(self) -> list[int]:
        return list(self.intervals.levels)

    @property
    def interval_method(self) -> str:
        return self.intervals.method

    @property
    def cv_windows(self) -> int:
        return self.intervals.windows

    @property
    def id_col(self) -> IdCol:
        return (
            self.roles.id
            if isinstance(self.roles.id, str) or self.roles.id is None
            else list(self.roles.id)
        )

    @property
    def time_col(self) -> str:
        return self.roles.time

    @property
    def target_col(self) -> str:
        return self.roles.target

    @property
    def static_features(self) -> list[str]:
        return list(self.roles.static_features)

    @property
    def known_future(self) -> list[str]:
        return list(self.roles.known_future)

    @property
    def past_only(self) -> list[str]:
        return list(self.roles.past_only)

    @property
    def weights(self) -> dict[str, float] | None:
        """Ensemble weights per model (after fit)."""
        return None if self.calibration is None else self.calibration.weights

    @property
    def ensemble_fallback(self) -> str | None:
        """The naive member the ensemble fell back to at the last ``fit`` because the blend,
        weighted without each calibration window, did not beat it in most series-windows
        (``None`` when it did, or for a bundle saved before this was recorded)."""
        return None if self.calibration is None else self.calibration.fallback

    @property
    def conformity_scores(self) -> dict[str, list[list[float]]] | None:
        """Scaled calibration errors per model and forecast step (after fit)."""
        return None if self.calibration is None else self.calibration.conformity_scores

    def settings(self) -> dict[str, Any]:
        """The constructor arguments besides models, features, threads and verbosity, as plain
        values: what a bundle stores and a refit copies."""
        return {
            "freq": self.freq,
            "horizon": self.horizon,
            "strategy": self.strategy,
            "ensemble": self.ensemble,
            "ensemble_loss": self.ensemble_loss,
            "levels": self.levels,
            "interval_method": self.interval_method,
            "cv_windows": self.cv_windows,
            "season_length": self.season_length,
            "guard": self.guard,
            **self.roles.to_settings(),
        }

    def __repr__(self) -> str:
        models = ", ".join(self.model_names)
        state = (
            f"fitted on {self.training_window()['n_series']} series up to "
            f"{self.training_window()['end']}"
            if self._history is not None
            else "not fitted"
        )
        return (
            f"Forecaster(models=[{models}], freq={self.freq!r}, horizon={self.horizon}, "
            f"strategy={self.strategy!r}, ensemble={self.ensemble!r}, levels={self.levels}, "
            f"season_length={self.season_length}, target={self.target_col!r}; {state})"
        )

    @property
    def keys(self) -> list[str]:
        """The series key columns (resolved at fit)."""
        return self.roles.keys if self.roles.id is not None else []

    @property
    def categories(self) -> dict[str, list[str]]:
        """Per string column, the categories seen at fit in code order. A value not among them
        (a new store format, a new category) is treated as missing by the boosters, with a
        warning naming the column and values."""
        return {c: list(v) for c, v in self._categories.items()}

    @property
    def history(self) -> pl.DataFrame | None:
        """The training history as the user's columns and values (None before fit)."""
        if self._history is None:
            return None
        return _decode(self._history, self._categories)

    @property
    def columns(self) -> list[str]:
        """The columns the forecaster reads: keys (resolved at fit), time, target, static,
        known-future and past-only covariates."""
        return [*self.keys, self.time_col, self.target_col, *self.roles.covariates]

    @property
    def fitted_rounds(self) -> dict[str, list[int]]:
        """Boosting rounds of each fitted booster, by model name (one per step for direct
        forecasts): with the default LightGBM, the rounds early stopping chose, not the spec's
        ``n_estimators``. Empty before fit."""
        out: dict[str, list[int]] = {}
        for name, model in zip(self.model_names, self._fitted, strict=False):
            steps = model.steps if isinstance(model, DirectBooster) else [model]
            boosters = [b for b in steps if isinstance(b, LightGBM | XGBoost)]
            if boosters:
                out[name] = [b.n_rounds for b in boosters]
        return out

    def training_window(self) -> dict[str, Any]:
        """First and last period, rows and series of the training history."""
        history = self._history
        if history is None:
            raise NotFittedError("the Forecaster is not fitted; call fit first")
        return {
            "start": str(history[self.time_col].min()),
            "end": str(history[self.time_col].max()),
            "n_rows": history.height,
            "n_series": history.select(self.keys).n_unique(),
        }

    def _plan(self, roles: ColumnRoles, categories: dict[str, list[str]]) -> FeaturePlan:
        return FeaturePlan(self.features, roles, self.freq, self.n_threads, categories)

    def _fitted_plan(self) -> FeaturePlan:
        return self._plan(self.roles, self._categories)

    # ----------------------------------------------------------------- data plumbing

    def _select(
        self, df: Any, name: str = "df", stacklevel: int = 3
    ) -> tuple[pl.DataFrame, ColumnRoles]:
        """The declared columns of ``df`` checked against the data contract (the core's
        `check_frame`), the target as float, sorted by series and time, and the roles with the
        keys resolved on it. Changes nothing on the forecaster."""
        frame = to_polars(df, name)
        roles = self.roles.resolve(frame)
        missing = [c for c in roles.columns if c not in frame.columns]
        if missing:
            raise MissingColumnError(
                f"columns {missing} not found in `{name}`; it has [{', '.join(frame.columns)}]"
            )
        undeclared = [c for c in frame.columns if c not in roles.columns]
        if undeclared:
            warnings.warn(
                f"columns {undeclared} are not declared as static_features, known_future or "
                "past_only and are ignored",
                UndeclaredColumnsWarning,
                stacklevel=stacklevel,
            )
        if frame[roles.target].dtype.is_decimal():
            # Decimal is a number the core reads as float (a SQL export's money column).
            frame = frame.with_columns(pl.col(roles.target).cast(pl.Float64))
        _native.check_frame(frame, roles, self.freq, "finite", name)
        selected = (
            frame.select(roles.columns)
            .with_columns(pl.col(roles.target).cast(pl.Float64))
            .sort([*roles.keys, roles.time])
        )
        return selected, roles

    def _string_columns(self, frame: pl.DataFrame) -> list[str]:
        return [c for c in self.roles.covariates if c in frame.columns and _is_text(frame[c].dtype)]

    def _categories_of(self, frame: pl.DataFrame) -> dict[str, list[str]]:
        """The categories of every string covariate of a training frame."""
        return {
            c: sorted(v for v in frame[c].cast(pl.String).unique().to_list() if v is not None)
            for c in self._string_columns(frame)
        }

    def _prepare(self, df: Any, name: str = "df") -> pl.DataFrame:
        """``df`` checked against the declared columns, with the categories fixed at fit."""
        frame, _ = self._select(df, name, stacklevel=4)
        return _encode(frame, self._categories, name)

    def shift(
        self, times: pl.Series, k: int, outside: Literal["refuse", "null"] = "refuse"
    ) -> pl.Series:
        """``times`` moved by ``k`` periods of the frequency (calendar months keep month
        ends); a time moved out of years 1 to 9999 is refused, or null (:func:`shift_times`)."""
        return shift_times(times, self.freq, k, outside)

    def evaluate(
        self,
        forecasts: Any,
        history: Any | None = None,
        *,
        models: Sequence[str] | None = None,
        levels: Sequence[int] | None = None,
        segment: str | None = None,
    ) -> pl.DataFrame:
        """:func:`~salesforecast.evaluate` of ``forecasts`` with this forecaster's roles,
        season length, frequency and levels (``levels=()`` leaves the interval metrics out);
        by default it scores the forecaster's own model columns and ``ensemble``."""
        frame = to_polars(forecasts, "forecasts")
        if models is None:
            own = [*self.model_names, "ensemble"]
            models = [m for m in own if m in frame.columns]
        return evaluate(
            frame,
            history,
            models=models,
            levels=self.levels if levels is None else levels,
            season_length=self.season_length,
            segment=segment,
            roles=self.roles,
            freq=self.freq,
        )

    def diagnose(
        self, cv: Any, model: str = "ensemble", *, segment: str | None = None, max_lag: int = 14
    ) -> Diagnostics:
        """:func:`~salesforecast.diagnose` of a ``cross_validation`` frame with this
        forecaster's roles."""
        return diagnose(cv, model, roles=self.roles, max_lag=max_lag, segment=segment)

    # ----------------------------------------------------------------- training

    def _fit_models(
        self,
        plan: FeaturePlan,
        history: pl.DataFrame,
        later: pl.DataFrame | None = None,
        monitor: _Monitor | None = None,
        progress: _Progress | None = None,
    ) -> list[Model]:
        """Every model fitted on ``history``. With a ``monitor``, recursive boosters also score
        the rows of ``later`` (the periods after the history, features from actual lags) after
        every round and report to it."""
        design = plan.design(history)
        cutoff: Any = history[self.time_col].max()
        if later is not None and monitor is not None:
            # The scored rows' features read the history before them; the training rows are
            # built from the history alone, so that no per-series transform (standardize)
            # takes its scale from the rows they are scored on.
            scored = plan.design(pl.concat([history, later]))
            design = pl.concat([design, scored.filter(pl.col(self.time_col) > cutoff)])
        fitted: list[Model] = []
        for name, model in zip(self.model_names, self.models, strict=True):
            started = time.perf_counter()
            if not isinstance(model, LightGBM | XGBoost):
                fitted.append(model)
                continue
            if "n_estimators" in self._settled:
                model = self._with_stopped_rounds(plan, model, history, design)
            if self.strategy == "recursive":
                callback = None if monitor is None else monitor.next_fit()
                fitted.append(train(plan, model, design, self.target_col, cutoff, callback))
            else:
                own = design.filter(pl.col(self.time_col) <= cutoff)
                steps = [
                    train(plan, model, ahead(plan, own, k), "_ahead", cutoff)
                    for k in range(1, self.horizon + 1)
                ]
                fitted.append(DirectBooster(steps))
            if progress is not None:
                progress.say(
                    f"{name} fitted on data up to {cutoff} in {time.perf_counter() - started:.1f}s"
                )
        return fitted

    def _with_stopped_rounds(
        self,
        plan: FeaturePlan,
        model: LightGBM | XGBoost,
        history: pl.DataFrame,
        design: pl.DataFrame,
    ) -> LightGBM | XGBoost:
        """``model`` with the rounds that scored best on the last horizon of ``history`` (its
        rows of ``design``) when trained on the periods before it (one-step errors from actual
        lags; at most ``_MAX_ROUNDS``, stopping after ``_PATIENCE`` rounds without
        improvement). A fixed number of rounds overfits a short panel and underfits a long
        one."""
        time_col = self.time_col
        end: Any = history[time_col].max()
        start = self.shift(
            pl.Series(time_col, [end], dtype=history[time_col].dtype), -self.horizon, "null"
        )[0]
        if start is None:  # before year 1: no earlier periods to train on
            return model
        scored = design.filter(
            (pl.col(time_col) > start)
            & (pl.col(time_col) <= end)
            & pl.col(self.target_col).is_not_nan()
        )
        earlier = history.filter(pl.col(time_col) <= start)
        if not scored.height or not earlier.height:
            return model
        # The training rows from the periods before the scored ones alone (a per-series
        # transform takes no scale from what it is scored on).
        known = pl.concat([plan.design(earlier), scored])
        searched = type(model)(**{**model.params(), "n_estimators": _MAX_ROUNDS})
        # Zero rounds means the starting score (the mean) was best: one round is nearly that.
        rounds = max(
            train(plan, searched, known, self.target_col, start, None, _PATIENCE).n_rounds, 1
        )
        _log.info(
            "%s takes %d rounds: the best on the %d periods after %s",
            type(model).__name__,
            rounds,
            self.horizon,
            start,
        )
        return type(model)(**{**model.params(), "n_estimators": rounds})

    def fit(self, df: Any) -> Forecaster:
        """Fits the ensemble weights and interval widths on cross-validation windows of the
        training data, then every model on all of it."""
        frame, roles = self._select(df)
        self._settle_default_models(frame)
        categories = self._categories_of(frame)
        history = _encode(frame, categories, "df")
        plan = self._plan(roles, categories)
        progress = _Progress(self.verbose, "fit")
        # Like mlforecast's conformal calibration, the boosters are fitted at the earliest
        # window and roll forward over the later ones; where the history allows more windows
        # than `cv_windows`, they are refitted every `cv_windows` windows, so that no window
        # judges a booster much staler than the local models, which read all history before it.
        backtests = _Backtests()
        windows = self._cv(
            plan,
            history,
            self._calibration_cuts(history, roles.keys),
            self.horizon,
            refit_every=self.cv_windows,
            backtests=backtests,
            progress=progress,
            purpose="calibration",
        )
        calibration = self._calibrated(windows, roles.keys)
        if calibration.fallback is not None and calibration.beaten is not None:
            won, judged = calibration.beaten
            said = (
                f"ensemble: {calibration.fallback} alone; the blend, weighted without each "
                f"window, beat it in only {won} of {judged} series-windows"
            )
            _log.info(said)
            progress.say(said)
        metrics = self._calibration_metrics(windows, history, roles, calibration)
        end: Any = history[self.time_col].max()
        progress.say(f"final fit on {history.height} rows up to {end}")
        fitted = self._fit_models(plan, history, progress=progress)
        # Only now, with every step done, does the forecaster change.
        self.roles = roles
        self._categories = categories
        self.calibration = calibration
        self.interval_widths = calibration.widths(self.levels)
        self.calibration_metrics = metrics
        self.guarded = pl.concat(backtests.guarded) if backtests.guarded else _NOTHING_GUARDED
        self._fitted = fitted
        self._history = history
        self._scale_table = self._scales(history)
        self._step_cache = None
        self.fitted_at = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
        progress.say("done")
        return self

    def _calibrated(self, windows: pl.DataFrame, keys: list[str]) -> Calibration:
        """Weights and conformity scores from the calibration windows' forecasts; the naive
        members are the baselines the ensemble must beat."""
        return Calibration.fit(
            windows,
            self.model_names,
            self.target_col,
            self.ensemble_settings,
            self.intervals,
            self.horizon,
            keys,
            baselines=[
                name
                for name, model in zip(self.model_names, self.models, strict=True)
                if isinstance(model, SeasonalNaive | Naive)
            ],
        )

    def _calibration_metrics(
        self,
        cv: pl.DataFrame,
        history: pl.DataFrame,
        roles: ColumnRoles,
        calibration: Calibration,
    ) -> pl.DataFrame:
        """Overall metrics of every model, the ensemble and the baselines on the calibration
        windows together (the forecasts the weights were fitted on)."""
        # The cutoff stays: baselines forecast from each window's cutoff, not the data's end.
        frame = cv.drop(_WINDOW_COLUMNS)
        names = list(self.model_names)
        if self.ensemble and calibration.weights:
            frame = with_ensemble(frame, calibration.weights)
            names.append("ensemble")
        scores = evaluate(
            frame,
            history,
            models=names,
            levels=(),
            season_length=self.season_length,
            roles=roles,
            freq=self.freq,
        )
        return scores.filter(pl.col("scope") == "overall")

    # ----------------------------------------------------------------- forecasting

    def _scales(self, history: pl.DataFrame, roles: ColumnRoles | None = None) -> pl.DataFrame:
        """Each series' interval scale (``_scale``), recent level (``_level``, over the last
        season or horizon, whichever is longer) and forecast floor (``_floor``)."""
        return _native.interval_scales(
            history,
            roles or self.roles,
            self.freq,
            self.season_length,
            max(self.season_length, self.horizon),
        )

    def _forecast(
        self,
        plan: FeaturePlan,
        models: list[Model],
        history: pl.DataFrame,
        h: int,
        future: pl.DataFrame | None,
        scales: pl.DataFrame,
        guard: bool = True,
        scored_only: bool = False,
    ) -> tuple[pl.DataFrame, pl.DataFrame]:
        """Every model's forecasts (floored, and guarded unless ``guard`` is false or the
        forecaster's guard is off) and what the guard replaced."""
        keys, time_col = plan.keys, self.time_col
        # The periods ahead need only each series' first and last period.
        ends = history.filter(
            (pl.col(time_col) == pl.col(time_col).min().over(keys))
            | (pl.col(time_col) == pl.col(time_col).max().over(keys))
        ).select([*keys, time_col])
        grid = _native.future_periods(ends, plan.roles, self.freq, h)
        grid = grid.with_columns(as_time_dtype(grid[time_col], history[time_col].dtype))
        statics = history.group_by(keys).agg(pl.col(c).first() for c in self.static_features)
        rows = grid.join(statics, on=keys, how="left") if self.static_features else grid
        if self.known_future:
            if future is None:
                raise InvalidArgumentError(
                    f"invalid argument `future`: the known-future columns {self.known_future} are "
                    f"needed for the {h} forecast periods"
                )
            absent = [c for c in [*keys, time_col, *self.known_future] if c not in future.columns]
            if absent:
                raise MissingColumnError(f"`future` lacks columns {absent}")
            rows = rows.join(
                future.select([*keys, time_col, *self.known_future]),
                on=[*keys, time_col],
                how="left",
            )
            if scored_only:
                # A backtest window scores only the periods the data has: a series that ends
                # inside it (a discontinued product) has no covariates for the rest, which are
                # never scored, so they carry its nearest known values.
                rows = rows.with_columns(
                    pl.col(c).forward_fill().backward_fill().over(keys) for c in self.known_future
                )
            gaps = rows.filter(pl.any_horizontal(pl.col(c).is_null() for c in self.known_future))
            if gaps.height:
                sample = gaps.select([*keys, time_col]).head(5).to_dicts()
                raise DataError(
                    f"`future` has no known-future values for {gaps.height} forecast rows, "
                    f"e.g. {sample}"
                )
        for c in self.past_only:
            rows = rows.with_columns(pl.lit(None, dtype=history[c].dtype).alias(c))
        rows = rows.with_columns(pl.lit(None, dtype=pl.Float64).alias(self.target_col))
        out = grid
        for name, model in zip(self.model_names, models, strict=True):
            out = out.join(
                self._one_model(plan, model, history, rows, h).rename({"_pred": name}),
                on=[*keys, time_col],
                how="left",
            )
        out = (
            out.join(scales.select([*keys, "_floor"]), on=keys, how="left")
            .with_columns(at_least(pl.col(n), "_floor").alias(n) for n in self.model_names)
            .drop("_floor")
            .sort([*keys, time_col])
        )
        if not (self.guard and guard):
            return out, _NOTHING_GUARDED
        return self._guarded(out, plan, history, h, scales)

    def _guarded(
        self,
        out: pl.DataFrame,
        plan: FeaturePlan,
        history: pl.DataFrame,
        h: int,
        scales: pl.DataFrame,
    ) -> tuple[pl.DataFrame, pl.DataFrame]:
        """``out`` with the forecasts the guard finds implausible replaced by the consensus,
        and what it replaced (keys, model, distance from the consensus and from last year)."""
        keys = plan.keys
        anchors = [("_anchor", "seasonal_naive", self.season_length)]
        year = _native.periods_per_year_of(self.freq)
        # Yearly and half-yearly steps have no season within the year to compare with.
        if year is not None and year >= 4:
            anchors.append(("_last_year", "last_year", year))
        frame = out
        for column, kind, parameter in anchors:
            anchor = _native.baseline_forecasts(history, plan.roles, self.freq, kind, parameter, h)
            frame = frame.join(
                anchor.select([*keys, "_step", pl.col("forecast").alias(column)]),
                on=[*keys, "_step"],
                how="left",
            )
        if "_last_year" not in frame.columns:
            frame = frame.with_columns(pl.lit(None, dtype=pl.Float64).alias("_last_year"))
        frame = frame.join(scales.select([*keys, "_scale"]), on=keys, how="left").sort(
            [*keys, "_step"]
        )
        series = frame.group_by(keys, maintain_order=True).agg(
            pl.len().alias("_rows"), pl.col("_scale").first()
        )
        distances, last_year, replaced, consensus = _native.guard_forecasts(
            [frame[n].fill_null(float("nan")).to_list() for n in self.model_names],
            frame["_anchor"].fill_null(float("nan")).to_list(),
            frame["_last_year"].fill_null(float("nan")).to_list(),
            series["_rows"].to_list(),
            series["_scale"].fill_null(float("nan")).to_list(),
        )
        flags = series.select(keys).with_columns(
            pl.Series(f"_replace_{j}", [r[j] for r in replaced], dtype=pl.Boolean)
            for j in range(len(self.model_names))
        )
        record = pl.concat(
            [
                series.select(keys).with_columns(
                    pl.lit(name).alias("model"),
                    pl.Series("distance", [d[j] for d in distances], dtype=pl.Float64),
                    pl.Series(
                        "last_year_distance", [d[j] for d in last_year], dtype=pl.Float64
                    ).fill_nan(None),
                    pl.Series("_replaced", [r[j] for r in replaced], dtype=pl.Boolean),
                )
                for j, name in enumerate(self.model_names)
            ]
        )
        record = record.filter(pl.col("_replaced")).drop("_replaced")
        if not record.height:
            return out, _NOTHING_GUARDED
        frame = frame.with_columns(pl.Series("_consensus", consensus)).join(
            flags, on=keys, how="left"
        )
        guarded = frame.with_columns(
            pl.when(pl.col(f"_replace_{j}"))
            .then(pl.col("_consensus"))
            .otherwise(pl.col(n))
            .alias(n)
            for j, n in enumerate(self.model_names)
        ).select(out.columns)
        return guarded.sort([*keys, self.time_col]), _decode(record, dict(plan.categories))

    def _one_model(
        self, plan: FeaturePlan, model: Model, history: pl.DataFrame, rows: pl.DataFrame, h: int
    ) -> pl.DataFrame:
        if isinstance(model, LocalModel):
            return model.forecast(
                history, plan.roles, self.freq, h, self.season_length, self.n_threads
            ).rename({"forecast": "_pred"})
        frame = pl.concat([history, rows.select(history.columns)], how="vertical_relaxed")
        if isinstance(model, DirectBooster):
            return direct(plan, model, frame, history, rows, h)
        if not self.features.group_rolling:
            return stepped(plan, model, self._step_state(plan, history), rows, h)
        return recomputed(plan, model, frame, history, rows, h)

    def _step_state(
        self, plan: FeaturePlan, history: pl.DataFrame
    ) -> tuple[_native.FeatureStepper, pl.DataFrame]:
        """The step state at the end of ``history``. The state read from the last history is
        kept, so every model and every ``predict`` of a fitted forecaster starts from a copy
        instead of re-reading the history."""
        # Read once into a local: the app shares one forecaster between sessions' threads.
        cache = self._step_cache
        if cache is None or cache[0] is not history:
            cache = (history, plan.step_state(history))
            self._step_cache = cache
        return cache[1]

    def _finish(
        self,
        raw: pl.DataFrame,
        scales: pl.DataFrame,
        calibration: Calibration,
        widths: Widths,
        levels: Sequence[int],
        keys: list[str],
    ) -> pl.DataFrame:
        """Raw forecasts with the ensemble of ``calibration`` and the intervals of ``widths``."""
        out = with_ensemble(raw, calibration.weights if self.ensemble else None)
        level_from = self.model_names if calibration.unit == LEVEL_SPREAD else None
        return with_intervals(out, scales, keys, widths, levels, level_from)

    def predict(
        self,
        h: int | None = None,
        future: Any | None = None,
        new_df: Any | None = None,
        levels: Sequence[int] | None = None,
    ) -> pl.DataFrame:
        """Forecasts ``h`` periods (default: the horizon) after the end of each series.

        Returns keys, time, one column per model, ``ensemble`` and ``{model}-lo-{level}`` /
        ``{model}-hi-{level}`` for every model and the ensemble. ``future`` supplies the
        known-future covariates of every forecast period (a typed error lists what is missing).
        ``new_df`` forecasts from other or newer history (same columns as the training data,
        e.g. the latest weeks) with the fitted models, without refitting; interval widths scale
        with each series' error and recent level on that history. ``levels`` gives intervals at
        other levels than the forecaster's, from the same conformity scores.
        """
        if levels is not None:
            Intervals(tuple(levels))
        if self._history is None or self.calibration is None:
            raise NotFittedError("the Forecaster is not fitted; call fit first")
        h = self.horizon if h is None else h
        if isinstance(h, bool) or not isinstance(h, Integral) or not 1 <= int(h) <= self.horizon:
            raise InvalidArgumentError(
                f"invalid argument `h`: need 1 <= h <= the horizon {self.horizon} the forecaster "
                f"was fitted for; got {h!r} (refit with a longer horizon to forecast further)"
            )
        h = int(h)
        plan = self._fitted_plan()
        fut = None
        if future is not None and self.known_future:
            # Only a forecaster with known-future columns reads `future`.
            fut = to_polars(future, "future")
            _native.check_frame(fut, self.roles, self.freq, "unread", "future")
            fut = _encode(self.conformed(fut, "future"), self._categories, "future")
        if new_df is not None:
            history = self.conformed(self._prepare(new_df, "new_df"), "new_df")
            self._warn_if_short(history)
            scales = self._scales(history)
        else:
            history = self._history
            if self._scale_table is None:
                self._scale_table = self._scales(history)
            scales = self._scale_table
        if fut is not None:
            # The training history is searched anyway: `new_df` is the only other one.
            unknown = self.series_without_history(fut, history if new_df is not None else None)
            if unknown.height:
                raise DataError(
                    f"`future` has rows for {unknown.height} series without history: "
                    f"{_series_sample(unknown)}; give their history in `new_df` to forecast them"
                )
        history = self._without_ended(history, fut)
        raw, replaced = self._forecast(plan, self._fitted, history, h, fut, scales)
        if replaced.height:
            _log.info(
                "the guard replaced %d forecast paths: %s",
                replaced.height,
                replaced.head(10).to_dicts(),
            )
        self.last_guarded = replaced
        if levels is None or sorted(levels) == self.levels:
            levels, widths = self.levels, self.interval_widths or {}
        else:
            levels = sorted(levels)
            widths = self.calibration.widths(levels)
        return self._finish(raw, scales, self.calibration, widths, levels, self.keys).drop("_step")

    def conformed(self, frame: pl.DataFrame, name: str) -> pl.DataFrame:
        """``frame`` (named ``name`` in errors) with its keys and time in the training data's
        dtypes: text keys of another kind, integers of another width, times of another unit,
        dates as midnight date-times and back. What would not match the training data (text
        for integer keys, another time zone, a time of day for dates, a value the training
        data's type cannot hold) is a typed error."""
        if self._history is None:
            raise NotFittedError("the Forecaster is not fitted; call fit first")
        for column in [*self.keys, self.time_col]:
            if column not in frame.columns or frame[column].dtype == self._history[column].dtype:
                continue
            fitted, got = self._history[column].dtype, frame[column].dtype
            problem = f"has dtype {got}; the training data's has {fitted}"
            if _same_kind(got, fitted):
                try:
                    converted = frame[column].cast(fitted, strict=True)
                    if converted.cast(got).equals(frame[column]):
                        frame = frame.with_columns(converted)
                        continue
                    problem += ", which cannot hold all its values"
                except pl.exceptions.PolarsError as e:
                    problem += f", which cannot hold all its values ({str(e).splitlines()[0]})"
            raise ColumnTypeError(f"column `{column}` of `{name}` {problem}")
        return frame

    def series_without_history(
        self, frame: pl.DataFrame, history: pl.DataFrame | None = None
    ) -> pl.DataFrame:
        """The keys of the series of ``frame`` found neither in the training data nor in
        ``history``: nothing can forecast them."""
        if self._history is None:
            raise NotFittedError("the Forecaster is not fitted; call fit first")
        keys = self.keys
        known = [self._history.select(keys)]
        if history is not None:
            known.append(history.select(keys))
        return (
            frame.select(keys)
            .unique()
            .join(pl.concat(known).unique(), on=keys, how="anti")
            .sort(keys)
        )

    def _without_ended(self, history: pl.DataFrame, future: pl.DataFrame | None) -> pl.DataFrame:
        """``history`` without the series that end before its last period and have no rows in
        ``future`` although known-future columns are declared (discontinued products), with a
        warning naming them. Other series that end early are forecast from their own end."""
        time_col, keys = self.time_col, self.keys
        if not self.known_future or future is None:
            return history
        ends = history.group_by(keys).agg(pl.col(time_col).max())
        last: Any = ends[time_col].max()
        ended = ends.filter(pl.col(time_col) < last).join(
            future.select(keys).unique(), on=keys, how="anti"
        )
        if not ended.height:
            return history
        sample = "; ".join(
            ", ".join(f"{k}={row[k]}" for k in keys) + f" (last period {row[time_col]})"
            for row in _decode(ended.sort(time_col).head(5), self._categories).iter_rows(named=True)
        )
        warnings.warn(
            f"{ended.height} series end before the data's last period {last} and have no rows "
            f"in `future`; they are not forecast: {sample}",
            EndedSeriesWarning,
            stacklevel=3,
        )
        return history.join(ended.select(keys), on=keys, how="anti")

    def _needed_history(self) -> int:
        """The history the features need, in periods: the lookback of those that read at
        most a year back. One reading further (the same week a year before) is missing in
        any series' first year and the boosters learn without it there."""
        year = _native.periods_per_year_of(self.freq)
        return _native.feature_lookback(self.features.to_json(), within=year)

    def _warn_if_short(self, history: pl.DataFrame) -> None:
        """Warns when a series of ``history`` is shorter than the history the features need:
        its first forecasts would see missing lags instead of the values the model learned
        from. (Expanding and EWM features read the whole history; they always differ from
        the training history's unless ``new_df`` extends it.)"""
        needed = self._needed_history()
        if not needed:
            return
        lengths = history.group_by(self.keys).len()
        short = lengths.filter(pl.col("len") < needed)["len"].to_list()
        if short:
            warnings.warn(
                f"{len(short)} series in `new_df` have fewer than the {needed} periods the "
                f"features read (shortest: {min(short)}); their first forecasts see missing "
                "lags",
                UserWarning,
                stacklevel=3,
            )

    # ----------------------------------------------------------------- backtesting

    def _cv(
        self,
        plan: FeaturePlan,
        data: pl.DataFrame,
        cuts: list[_Cut],
        h: int,
        *,
        refit_every: int,
        backtests: _Backtests,
        progress: _Progress | None = None,
        purpose: str = "window",
    ) -> pl.DataFrame:
        """Out-of-fold forecasts with their step, series scale, cutoff and window number
        (``_window``). The boosters are fitted at the first window and again every
        ``refit_every`` windows (the local models always read the whole history before each
        window)."""
        keys, time_col = plan.keys, self.time_col
        parts = []
        fitted_at: _Cut | None = None
        since = 0
        dtype = data[time_col].dtype
        for i, cut in enumerate(cuts):
            train_part, test = cut.split(data, keys, time_col)
            since += 1
            # Refit after `refit_every` windows, or sooner when the windows jump ahead (the
            # year-ago window comes before the recent ones); a refit due after year 9999 is not.
            due = None
            if fitted_at is not None:
                fitted_end = pl.Series([fitted_at.latest], dtype=dtype)
                due = self.shift(fitted_end, refit_every * h, "null")[0]
            if fitted_at is None or since >= refit_every or (due is not None and due <= cut.latest):
                fitted_at, since = cut, 0
            if progress is not None:
                progress.say(f"{purpose} {i + 1} of {len(cuts)}: cutoff {cut.latest}")
            scales = self._scales(train_part, plan.roles)
            raw = self._forecast_at(plan, data, fitted_at, cut, h, backtests, scales, progress)
            raw = raw.join(
                test.select([*keys, time_col, self.target_col]),
                on=[*keys, time_col],
                how="inner",
            )
            parts.append(
                cut.labelled(raw.join(scales, on=keys, how="left"), keys, dtype).with_columns(
                    pl.lit(i, dtype=pl.Int32).alias("_window")
                )
            )
        return pl.concat(parts)

    def _calibration_cuts(self, data: pl.DataFrame, keys: list[str]) -> list[_Cut]:
        """The calibration windows, oldest first, each counted back from every series' own last
        period (series that end early are calibrated where they are forecast from): the last
        ``cv_windows`` horizons, or more where the history allows: enough to span one season
        (weights and widths then see every part of the cycle, not only its last weeks) and to
        give every forecast step the scores a split-conformal bound at the highest level needs
        (19 at 95%: with fewer, the bound is the largest score seen). Where the history reaches
        back a year and the recent windows do not, one more window forecasts the same periods
        a year before the forecast's (364 days, 52 weeks, 12 months): December's calibration
        then knows a December. Every window leaves the longest series two seasons and the
        lookback of the features that read at most a year back to train on."""
        lengths = data.group_by(keys).len()["len"]
        needed = math.ceil(100 / (100 - max(self.levels))) - 1 if self.levels else 0
        h = self.horizon
        wanted = max(
            self.cv_windows,
            math.ceil(self.season_length / h),
            math.ceil(needed / max(lengths.len(), 1)),
        )
        longest = lengths.max()
        spare = (longest if isinstance(longest, int) else 0) - max(
            2 * self.season_length, self._needed_history() + 1
        )
        windows = max(self.cv_windows, min(wanted, spare // h))
        backs = [h * (windows - i) for i in range(windows)]
        year = _native.periods_per_year_of(self.freq)
        if year is not None and windows * h < year <= spare:
            backs.insert(0, year)
        ends = data.group_by(keys).agg(pl.col(self.time_col).max())
        cuts = []
        for back in backs:
            # A cutoff before year 1 is null: that series has no history in the window.
            table = ends.select(
                *keys, self.shift(ends[self.time_col], -back, "null").alias("cutoff")
            )
            same = table["cutoff"].n_unique() == 1
            cuts.append(_Cut(at=table["cutoff"][0]) if same else _Cut(table=table.sort(keys)))
        self._check_first_window(
            data, keys, cuts[0], backs[0], f"fit's {len(backs)} calibration windows of {h} periods"
        )
        return cuts

    def _cutoffs(
        self, data: pl.DataFrame, keys: list[str], n_windows: int, h: int, step: int
    ) -> list[_Cut]:
        """``n_windows`` windows of ``h`` periods, ``step`` apart, the last ending at the end of
        the data, with one cutoff for every series."""
        end = data[self.time_col].max()
        if not isinstance(end, dt.date):
            raise DataError(f"column `{self.time_col}` has no dates")
        ends = pl.Series(self.time_col, [end], dtype=data[self.time_col].dtype)
        cuts = [
            _Cut(at=self.shift(ends, -(h + step * (n_windows - 1 - i)), "null")[0])
            for i in range(n_windows)
        ]
        self._check_first_window(
            data,
            keys,
            cuts[0],
            h + step * (n_windows - 1),
            f"{n_windows} windows of {h} periods (step {step})",
        )
        return cuts

    def _check_first_window(
        self, data: pl.DataFrame, keys: list[str], first: _Cut, reach: int, windows: str
    ) -> None:
        """Refuses windows that leave no series any history before the first: ``windows`` (as
        the message names them) reach ``reach`` periods back from the end."""
        if first.split(data, keys, self.time_col)[0].height:
            return
        lengths = data.group_by(keys).len().sort("len", descending=True)
        longest = ", ".join(f"{k}={lengths[k][0]}" for k in keys) if lengths.height else "none"
        raise SeriesTooShortError(
            f"series {longest} has {lengths['len'][0] if lengths.height else 0} periods, the "
            f"most of any series; at least {reach + 1} are needed ({windows} reach {reach} "
            "periods back from the end and leave no history before them; use fewer cv_windows "
            "/ n_windows, a shorter horizon, or more history)"
        )

    def _models_at(
        self,
        plan: FeaturePlan,
        data: pl.DataFrame,
        cut: _Cut,
        backtests: _Backtests,
        progress: _Progress | None,
    ) -> list[Model]:
        """The models trained on the data up to ``cut``."""
        if cut.key not in backtests.models:
            history, after = cut.split(data, plan.keys, self.time_col)
            later = None
            if backtests.monitor is not None:
                # Scored rows come after every training row, whichever series they are of.
                latest = pl.Series(self.time_col, [cut.latest], dtype=data[self.time_col].dtype)
                end = self.shift(latest, self.horizon, "null")[0]  # null past year 9999
                later = after.filter(pl.col(self.time_col) > cut.latest)
                if end is not None:
                    later = later.filter(pl.col(self.time_col) <= end)
            backtests.models[cut.key] = self._fit_models(
                plan, history, later, backtests.monitor, progress
            )
        return backtests.models[cut.key]

    def _forecast_at(
        self,
        plan: FeaturePlan,
        data: pl.DataFrame,
        fitted_at: _Cut,
        origin: _Cut,
        h: int,
        backtests: _Backtests,
        scales: pl.DataFrame,
        progress: _Progress | None = None,
    ) -> pl.DataFrame:
        """The forecast from ``origin`` of the models trained up to ``fitted_at``."""
        key = (fitted_at.key, origin.key, h)
        if key not in backtests.forecasts:
            models = self._models_at(plan, data, fitted_at, backtests, progress)
            history, test = origin.split(data, plan.keys, self.time_col)
            # Only series with periods after the origin are forecast: nothing would score the
            # others, and a discontinued product has no known-future values to forecast with.
            history = history.join(test.select(plan.keys).unique(), on=plan.keys, how="semi")
            forecast, replaced = self._forecast(
                plan, models, history, h, test, scales, guard=backtests.guard, scored_only=True
            )
            backtests.forecasts[key] = forecast
            if replaced.height:
                dtype = data[self.time_col].dtype
                backtests.guarded.append(origin.labelled(replaced, plan.keys, dtype))
        return backtests.forecasts[key]

    def _settle_default_models(self, frame: pl.DataFrame) -> None:
        """The default LightGBM's loss for this target, unless tuned: Tweedie for a
        non-negative target as it is, squared error where it has negatives or is transformed
        (Tweedie needs non-negative labels, and differences or standardized values have
        negatives; after log1p the transforms' own correction targets the mean)."""
        if "objective" not in self._settled:
            return
        lowest = frame[self.target_col].min()
        negative = isinstance(lowest, int | float) and lowest < 0
        squared = negative or bool(self.features.target_transforms)
        self.models = [
            LightGBM(**{**m.params(), "objective": "squared_error" if squared else "tweedie"})
            if isinstance(m, LightGBM)
            else m
            for m in self.models
        ]

    def _backtest_data(self, df: Any) -> tuple[pl.DataFrame, FeaturePlan, pl.DataFrame]:
        """``df`` prepared for a backtest with the fitted categories (or those of ``df`` when
        unfitted), its feature plan, and each series' static features as the user's values
        (what ``evaluate(..., segment=...)`` groups by)."""
        frame, roles = self._select(df, stacklevel=4)
        if self._history is None:
            self._settle_default_models(frame)
        categories = self._categories if self._history is not None else self._categories_of(frame)
        statics = frame.group_by(roles.keys).agg(pl.col(c).first() for c in self.static_features)
        return _encode(frame, categories, "df"), self._plan(roles, categories), statics

    def _check_steps(self, h: int, gap: int) -> None:
        whole("gap", gap, minimum=0)
        if whole("h", h) + gap > self.horizon:
            raise InvalidArgumentError(
                f"invalid argument `h`/`gap`: need h + gap <= the horizon {self.horizon}; got "
                f"h={h}, gap={gap}"
            )

    def backtest(
        self,
        df: Any,
        n_windows: int = 3,
        h: int | None = None,
        step: int | None = None,
        round_callback: BacktestCallback | None = None,
    ) -> pl.DataFrame:
        """Point forecasts of every model on ``n_windows`` windows, each model refitted at each
        cutoff: ``cross_validation`` without the ensemble and intervals, so without their
        calibration fits, and without the guard: each model as it forecasts. What tuning and
        model selection need. Returns keys, time,
        ``cutoff``, the actual target, the static features and one column per model;
        ``round_callback`` as in :meth:`cross_validation`."""
        h = self.horizon if h is None else h
        step = h if step is None else step
        self._check_steps(h, 0)
        n_windows, step = whole("n_windows", n_windows), whole("step", step)
        data, plan, statics = self._backtest_data(df)
        backtests = _Backtests(
            monitor=None if round_callback is None else _Monitor(round_callback), guard=False
        )
        progress = _Progress(self.verbose, "backtest")
        out = self._cv(
            plan,
            data,
            self._cutoffs(data, plan.keys, n_windows, h, step),
            h,
            refit_every=1,
            backtests=backtests,
            progress=progress,
        )
        return _with_statics(out.drop(_WINDOW_COLUMNS), statics, plan.keys)

    def cross_validation(
        self,
        df: Any,
        n_windows: int = 3,
        h: int | None = None,
        step: int | None = None,
        refit: bool = True,
        gap: int = 0,
        round_callback: BacktestCallback | None = None,
    ) -> pl.DataFrame:
        """Backtests on ``n_windows`` windows of ``h`` periods, ``step`` periods apart, ending at
        the end of the data. Each window refits everything (``refit=True``, else the first
        window's models and calibration roll forward over the later windows), including the
        ensemble weights and interval widths on windows before its cutoff. ``gap`` periods
        between each cutoff and its window are forecast but not scored (data that arrives late:
        the window starts ``gap + 1`` periods after the last data the models see). Returns keys,
        time, ``cutoff``, the actual target, the static features (for
        ``evaluate(..., segment=...)``) and every forecast column ``predict`` returns.

        ``round_callback(fit, round, metrics)`` runs after every boosting round of every booster
        fit of the backtest (``fit`` numbers them in order): ``metrics`` is the loss on the
        ``horizon`` periods after that fit's training data, from features of actual lags (the
        recursive strategy; empty for direct). Returning True stops that fit; an exception it
        raises (``optuna.TrialPruned``) stops the backtest and propagates unchanged."""
        h = self.horizon if h is None else h
        step = h if step is None else step
        self._check_steps(h, gap)
        n_windows, step = whole("n_windows", n_windows), whole("step", step)
        data, plan, statics = self._backtest_data(df)
        backtests = _Backtests(monitor=None if round_callback is None else _Monitor(round_callback))
        progress = _Progress(self.verbose, "cross_validation")
        parts = []
        # The calibration of the latest refit and the cut its models were fitted at.
        fold_fit: tuple[Calibration, _Cut] | None = None
        for fold, cut in enumerate(self._cutoffs(data, plan.keys, n_windows, h + gap, step), 1):
            progress.say(f"fold {fold} of {n_windows}: cutoff {cut.latest}")
            train_part, test = cut.split(data, plan.keys, self.time_col)
            if fold_fit is None or refit:
                windows = self._cv(
                    plan,
                    train_part,
                    self._calibration_cuts(train_part, plan.keys),
                    self.horizon,
                    refit_every=self.cv_windows,
                    backtests=backtests,
                    progress=progress,
                    purpose="calibration",
                )
                calibration = self._calibrated(windows, plan.keys)
                fold_fit = (calibration, cut)
            calibration, fitted_at = fold_fit
            scales = self._scales(train_part, plan.roles)
            raw = self._forecast_at(
                plan, data, fitted_at, cut, h + gap, backtests, scales, progress
            )
            # The interval widths of this fold's calibration, not the fitted forecaster's.
            widths = calibration.widths(self.levels)
            out = self._finish(raw, scales, calibration, widths, self.levels, plan.keys)
            out = out.filter(pl.col("_step") > gap).drop("_step")
            out = out.join(
                test.select([*plan.keys, self.time_col, self.target_col]),
                on=[*plan.keys, self.time_col],
                how="inner",
            )
            parts.append(cut.labelled(out, plan.keys, data[self.time_col].dtype))
        progress.say("done")
        return _with_statics(pl.concat(parts), statics, plan.keys)

    # ----------------------------------------------------------------- bundles

    def save(self, path: str | os.PathLike[str]) -> str:
        """Writes the fitted forecaster as a bundle at ``path`` (a local folder or a storage URI
        such as ``s3://bucket/models/x``): boosters in their native formats (LightGBM text,
        XGBoost UBJSON), the training history as parquet and ``manifest.json`` (settings,
        feature spec, categories, models, ensemble weights, interval widths, training window,
        SHA-256 of every file). No pickle.

        Returns the bundle's digest: keep it where the bundle is referenced and pass it to
        :meth:`load` to refuse an edited bundle. A folder that holds anything but a bundle is
        refused, and the previous bundle stays loadable until the new one is complete (see
        :mod:`salesforecast.bundle`)."""
        if self._history is None or self.calibration is None:
            raise NotFittedError("the Forecaster is not fitted; call fit first")
        models = []
        files: dict[str, bytes] = {}
        for name, user_model, model in zip(
            self.model_names, self.models, self._fitted, strict=True
        ):
            kind = type(user_model).__name__
            if isinstance(user_model, LightGBM | XGBoost):
                suffix = "txt" if isinstance(user_model, LightGBM) else "ubj"
                steps = model.steps if isinstance(model, DirectBooster) else [model]
                paths = (
                    [f"models/{name}/step{k:03d}.{suffix}" for k in range(1, len(steps) + 1)]
                    if isinstance(model, DirectBooster)
                    else [f"models/{name}.{suffix}"]
                )
                boosters = [b for b in steps if isinstance(b, LightGBM | XGBoost)]
                for path_k, booster in zip(paths, boosters, strict=True):
                    files[path_k] = booster.to_native()
                models.append(
                    bundle.ModelEntry(
                        name,
                        kind,
                        user_model.params(),
                        paths,
                        [b.feature_names for b in boosters],
                        [None if b.smearing is None else b.smearing.to_json() for b in boosters],
                    )
                )
            else:
                models.append(bundle.ModelEntry(name, kind, user_model.params()))
        if self.calibration.conformity_scores is not None:
            files[bundle.CONFORMITY_FILE] = self.calibration.to_parquet()
        history = self._history
        manifest = bundle.Manifest(
            settings=self.settings(),
            features=self.features.to_dict(),
            holidays=None
            if self.features.holidays is None
            else [d.isoformat() for d in self.features.holidays],
            models=models,
            weights=self.calibration.weights,
            interval_widths=self.interval_widths,
            interval_unit=self.calibration.unit,
            ensemble_fallback=self.calibration.fallback,
            ensemble_beaten=None
            if self.calibration.beaten is None
            else list(self.calibration.beaten),
            metrics=None
            if self.calibration_metrics is None
            else self.calibration_metrics.to_dicts(),
            training_window=self.training_window(),
            fitted_at=self.fitted_at,
            columns=dict(zip(history.columns, [str(t) for t in history.dtypes], strict=True)),
            categories=self._categories,
            guarded=None if self.guarded is None else _guarded_to_json(self.guarded),
            settled=sorted(self._settled),
        )
        buffer = io.BytesIO()
        history.write_parquet(buffer)
        files[bundle.HISTORY_FILE] = buffer.getvalue()
        return bundle.save(path, manifest, files)

    @classmethod
    def load(cls, path: str | os.PathLike[str], digest: str | None = None) -> Forecaster:
        """Reads a bundle written by :meth:`save` from a local folder or storage URI.

        Refuses (``ModelFileError``) a bundle whose files do not match their checksums, whose
        manifest is malformed or names a path outside the bundle, whose digest is not
        ``digest`` (when given), or whose signature does not match ``SALESFORECAST_BUNDLE_KEY``
        (when set)."""
        found = bundle.read(path, digest)
        try:
            return cls._from_bundle(found)
        except ModelFileError:
            raise
        except (KeyError, TypeError, ValueError, AttributeError, IndexError) as e:
            raise ModelFileError(f"{found.uri}: the manifest is malformed: {e}") from e
        except pl.exceptions.PolarsError as e:
            raise ModelFileError(f"{found.uri}: a parquet file is unreadable: {e}") from e

    @classmethod
    def _from_bundle(cls, found: bundle.Bundle) -> Forecaster:
        manifest = found.contents
        spec = FeatureSpec.from_dict(
            manifest.features,
            None
            if manifest.holidays is None
            else [dt.date.fromisoformat(d) for d in manifest.holidays],
        )
        models: list[UserModel] = []
        fitted: list[Model] = []
        for entry in manifest.models:
            kind = _MODEL_KINDS.get(entry.kind)
            if kind is None:
                raise ModelFileError(f"{found.uri}: unknown model kind {entry.kind!r}")
            model = kind(**entry.params)
            models.append(model)
            if isinstance(model, LightGBM | XGBoost):
                steps = []
                # Bundles from before the log1p bias correction forecast uncorrected.
                corrections = entry.smearing or [None] * len(entry.files)
                for path_k, names, correction in zip(
                    entry.files, entry.feature_names, corrections, strict=True
                ):
                    booster = type(model).from_native(found.files[path_k], **entry.params)
                    booster.feature_names = names
                    if correction is not None:
                        booster.smearing = Smearing.from_json(correction)
                    steps.append(booster)
                direct_steps = manifest.settings["strategy"] == "direct"
                fitted.append(DirectBooster(steps) if direct_steps else steps[0])
            else:
                fitted.append(model)
        # Bundles from before the guard were calibrated without it and keep forecasting so.
        fc = cls(models, spec, **{"guard": False, **manifest.settings}, verbose=False)
        fc._fitted = fitted
        fc._settled = frozenset(manifest.settled)
        scores = (
            Calibration.scores_from_parquet(found.files[bundle.CONFORMITY_FILE], fc.horizon)
            if bundle.CONFORMITY_FILE in found.files
            else None
        )
        beaten = manifest.ensemble_beaten
        fc.calibration = Calibration(
            manifest.weights,
            scores,
            fc.interval_method,
            unit=manifest.interval_unit,
            fallback=manifest.ensemble_fallback,
            beaten=None if beaten is None else (beaten[0], beaten[1]),
        )
        fc.interval_widths = (
            None
            if manifest.interval_widths is None
            else {
                k: [[(lo, hi) for lo, hi in step] for step in v]
                for k, v in manifest.interval_widths.items()
            }
        )
        fc.calibration_metrics = (
            None if manifest.metrics is None else pl.DataFrame(manifest.metrics)
        )
        fc._categories = {str(c): list(v) for c, v in manifest.categories.items()}
        fc._history = pl.read_parquet(io.BytesIO(found.files[bundle.HISTORY_FILE]))
        fc.fitted_at = manifest.fitted_at
        fc.guarded = (
            None
            if manifest.guarded is None
            else _guarded_from_json(manifest.guarded, fc._history[fc.time_col].dtype)
        )
        return fc

    def feature_importance(
        self, importance_type: Literal["gain", "split"] = "gain"
    ) -> pl.DataFrame:
        """Importance of every feature for every fitted booster (long format)."""
        if not self._fitted:
            raise NotFittedError("the Forecaster is not fitted; call fit first")
        rows = []
        for name, model in zip(self.model_names, self._fitted, strict=True):
            if isinstance(model, LightGBM | XGBoost | DirectBooster):
                for feature, value in model.feature_importance(importance_type).items():
                    rows.append({"model": name, "feature": feature, importance_type: value})
        return pl.DataFrame(rows)

    def with_model_params(self, params: dict[str, dict[str, Any]]) -> Forecaster:
        """A fresh, unfitted copy whose boosters named in ``params`` take those parameters."""
        models = [
            type(model)(**{**model.params(), **params[name]})
            if name in params and isinstance(model, LightGBM | XGBoost)
            else model
            for name, model in zip(self.model_names, self.models, strict=True)
        ]
        settings = {k: v for k, v in self.settings().items() if k not in self.roles.to_settings()}
        copy = Forecaster(
            models,
            self.features,
            **settings,
            roles=self.roles,
            n_threads=self.n_threads,
            verbose=self.verbose,
        )
        # Tuned defaults still settle at fit what was not tuned.
        copy._settled = self._settled - {k for p in params.values() for k in p}
        return copy


def _with_statics(out: pl.DataFrame, statics: pl.DataFrame, keys: list[str]) -> pl.DataFrame:
    """Backtest rows with each series' static features as the user's values."""
    if statics.width == len(keys):
        return out
    return out.join(statics, on=keys, how="left")


def _guarded_to_json(guarded: pl.DataFrame) -> list[dict[str, Any]]:
    """The guard's record as JSON rows (cutoffs as their physical value: days or ticks since
    the epoch, which read back exactly in any time unit and zone)."""
    if "cutoff" in guarded.columns:
        guarded = guarded.with_columns(pl.col("cutoff").to_physical())
    return guarded.to_dicts()


def _guarded_from_json(rows: list[dict[str, Any]], time_dtype: pl.DataType) -> pl.DataFrame:
    """The guard's record read back, cutoffs in the history's time type."""
    if not rows:
        return _NOTHING_GUARDED
    frame = pl.DataFrame(rows).with_columns(
        # Bundles from before the last-year check lack the column; an all-null one reads as Null.
        pl.col(c).cast(pl.Float64) if c in rows[0] else pl.lit(None, dtype=pl.Float64).alias(c)
        for c in ("distance", "last_year_distance")
    )
    if "cutoff" in frame.columns:
        physical = pl.Int32 if time_dtype == pl.Date else pl.Int64
        frame = frame.with_columns(pl.col("cutoff").cast(physical).cast(time_dtype))
    return frame


def _decode(frame: pl.DataFrame, categories: dict[str, list[str]]) -> pl.DataFrame:
    """Category codes back to the user's values (in the columns ``frame`` has)."""
    return frame.with_columns(
        pl.col(c)
        .replace_strict(list(range(len(cats))), cats, default=None, return_dtype=pl.String)
        .alias(c)
        for c, cats in categories.items()
        if c in frame.columns
    )


def _is_text(dtype: pl.DataType) -> bool:
    return dtype == pl.String or isinstance(dtype, pl.Enum | pl.Categorical)


def _same_kind(a: pl.DataType, b: pl.DataType) -> bool:
    """Whether values of ``a`` can mean the same keys or times as ``b``'s: both text, both
    integers, or dates and date-times of one time zone (none for dates)."""
    if _is_text(a) and _is_text(b):
        return True
    if a.is_integer() and b.is_integer():
        return True
    zones = {
        dtype.time_zone if isinstance(dtype, pl.Datetime) else None
        for dtype in (a, b)
        if isinstance(dtype, pl.Datetime) or dtype == pl.Date
    }
    return len(zones) == 1 and all(d == pl.Date or isinstance(d, pl.Datetime) for d in (a, b))


def _series_sample(keys: pl.DataFrame) -> str:
    """Up to five series of ``keys`` as ``store=A, product=B; ...``."""
    return "; ".join(
        ", ".join(f"{k}={v}" for k, v in row.items()) for row in keys.head(5).iter_rows(named=True)
    )


def _encode(frame: pl.DataFrame, categories: dict[str, list[str]], name: str) -> pl.DataFrame:
    """String covariates of a user's frame as the codes fixed at fit (floats; values not seen
    then are NaN, which the boosters treat as missing, with one warning per column). A column
    that was text at fit is read as text whatever its type now (a CSV may bring "10" as 10)."""
    strings = [c for c in categories if c in frame.columns]
    for c in strings:
        seen = set(categories[c])
        values = {v for v in frame[c].cast(pl.String).unique().to_list() if v is not None}
        if unseen := sorted(values - seen):
            warnings.warn(
                f"column `{c}` of `{name}` has categories not seen at fit: {unseen[:10]}; they "
                "are treated as missing",
                UserWarning,
                stacklevel=4,
            )
    return frame.with_columns(
        pl.col(c)
        .cast(pl.String)
        .replace_strict(
            categories[c],
            [float(i) for i in range(len(categories[c]))],
            default=float("nan"),
            return_dtype=pl.Float64,
        )
        .alias(c)
        for c in strings
    )
