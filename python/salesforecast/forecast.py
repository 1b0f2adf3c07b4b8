"""The Forecaster: features, boosters and baselines, recursive multi-step forecasts,
cross-validation, an optimized ensemble and conformal prediction intervals."""

from __future__ import annotations

import copy
import datetime as dt
import io
import logging
import os
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
import polars as pl

from salesforecast import _native, bundle
from salesforecast._frames import IdCol, forecast_columns, resolve_id_cols, to_polars
from salesforecast.errors import (
    DataError,
    InvalidArgumentError,
    MissingColumnError,
    ModelFileError,
    NotFittedError,
    UndeclaredColumnsWarning,
)
from salesforecast.features import FeatureSpec, build_features
from salesforecast.models import LightGBM, XGBoost, threads_for

log = logging.getLogger(__name__)

__all__ = [
    "Forecaster",
    "MovingAverage",
    "Naive",
    "SeasonalNaive",
    "evaluate",
]


@dataclass(frozen=True)
class SeasonalNaive:
    """Repeats the last observed season: the forecast for step k is the value one whole number
    of seasons before it."""

    season_length: int = 7

    @property
    def name(self) -> str:
        return "seasonal_naive"


@dataclass(frozen=True)
class Naive:
    """Repeats the last observed value."""

    @property
    def name(self) -> str:
        return "naive"


@dataclass(frozen=True)
class MovingAverage:
    """The mean of the last ``window`` observed values."""

    window: int = 7

    @property
    def name(self) -> str:
        return "moving_average"


@dataclass(frozen=True)
class DirectBooster:
    """The direct strategy's boosters: ``steps[k - 1]`` forecasts ``k`` periods ahead."""

    steps: list[LightGBM | XGBoost]

    def feature_importance(
        self, importance_type: Literal["gain", "split"] = "gain"
    ) -> dict[str, float]:
        """Importance summed over the step models."""
        total: dict[str, float] = {}
        for booster in self.steps:
            for name, value in booster.feature_importance(importance_type).items():
                total[name] = total.get(name, 0.0) + value
        return total


Baseline = SeasonalNaive | Naive | MovingAverage
UserModel = LightGBM | XGBoost | Baseline
Model = UserModel | DirectBooster


@dataclass
class _Backtests:
    """Models and forecasts of one cross-validation run, by training cutoff. Nested windows
    often train on the same data (a calibration window of a later fold is an earlier fold's
    full fit); the same data, parameters and seeds give the same models, so they are reused."""

    models: dict[Any, list[Model]] = field(default_factory=dict)
    forecasts: dict[tuple[Any, Any, int], pl.DataFrame] = field(default_factory=dict)
    monitor: _Monitor | None = None


BacktestCallback = Callable[[int, int, dict[str, float]], bool | None]


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


def _model_name(model: UserModel) -> str:
    if isinstance(model, LightGBM):
        return "lightgbm"
    if isinstance(model, XGBoost):
        return "xgboost"
    return model.name


def _baseline_forecast(
    model: Baseline, history: npt.NDArray[np.float64], h: int
) -> npt.NDArray[np.float64]:
    values = history[np.isfinite(history)]
    if values.size == 0:
        return np.full(h, np.nan)
    if isinstance(model, Naive):
        return np.full(h, values[-1])
    if isinstance(model, MovingAverage):
        return np.full(h, values[-model.window :].mean())
    season = model.season_length
    if history.size < season:
        return np.full(h, values[-1])
    last = history[-season:].copy()
    last[~np.isfinite(last)] = values[-1]
    return np.array([last[k % season] for k in range(h)])


class Forecaster:
    """Multi-step sales forecasts from several models, their ensemble and prediction intervals.

    ``fit`` runs ``cv_windows`` cross-validation windows of ``horizon`` periods on the training
    data: their out-of-fold forecasts fit the ensemble weights (non-negative, summing to 1,
    minimising squared or absolute error, never worse on those windows than the best single
    model) and the split-conformal interval widths per forecast step, on errors scaled by each
    series' seasonal-naive error so one width fits series of every size. Then every model is
    refitted on all the data. Boosters forecast recursively: each step's prediction is fed back
    as the target for the next step's lag and window features. Forecasts and interval bounds of
    a series whose history has no negative value (sales) are clipped at zero.
    """

    def __init__(
        self,
        models: Sequence[UserModel],
        features: FeatureSpec,
        *,
        freq: str,
        horizon: int,
        strategy: Literal["recursive", "direct"] = "recursive",
        ensemble: Literal["optimized", "mean"] | None = "optimized",
        ensemble_loss: Literal["squared", "absolute"] = "squared",
        levels: Sequence[int] = (80, 95),
        interval_method: Literal[
            "conformal_distribution", "conformal_error"
        ] = "conformal_distribution",
        cv_windows: int = 4,
        season_length: int = 7,
        id_col: IdCol = None,
        time_col: str = "date",
        target_col: str = "sales",
        static_features: Sequence[str] = (),
        known_future: Sequence[str] = (),
        past_only: Sequence[str] = (),
        n_threads: int | None = None,
    ) -> None:
        if not models:
            raise InvalidArgumentError("invalid argument `models`: give at least one model")
        if strategy not in ("recursive", "direct"):
            raise InvalidArgumentError(
                f"invalid argument `strategy`: {strategy!r} is neither 'recursive' nor 'direct'"
            )
        choices = {
            "ensemble": (ensemble, ("optimized", "mean", None)),
            "ensemble_loss": (ensemble_loss, ("squared", "absolute")),
            "interval_method": (interval_method, ("conformal_distribution", "conformal_error")),
        }
        for name, (value, allowed) in choices.items():
            # Each was read as "the first choice, else the second" below: refuse the rest.
            if value not in allowed:
                raise InvalidArgumentError(
                    f"invalid argument `{name}`: {value!r} is not one of {list(allowed)}"
                )
        if horizon < 1:
            raise InvalidArgumentError("invalid argument `horizon`: must be at least 1")
        if cv_windows < 1:
            raise InvalidArgumentError("invalid argument `cv_windows`: must be at least 1")
        if any(not 0 < lv < 100 for lv in levels):
            raise InvalidArgumentError(
                f"invalid argument `levels`: {list(levels)} must be in (0, 100)"
            )
        unsupported = [t for t in features.target_transforms if t != "log1p"]
        if unsupported:
            raise InvalidArgumentError(
                f"invalid argument `features.target_transforms`: {unsupported} cannot be undone "
                "step by step yet; the Forecaster supports 'log1p'"
            )
        # Recursive steps would need past-only values after the origin; direct models read them
        # only at the origin.
        lags = features.past_only_lags or features.lags
        too_short = [k for k in lags if past_only and strategy == "recursive" and k < horizon]
        if too_short:
            raise InvalidArgumentError(
                f"invalid argument `past_only`: lags {too_short} are shorter than the horizon "
                f"{horizon}, so the values they read are not known at the forecast origin; use "
                "longer lags or strategy='direct'"
            )
        if features.relative and features.group_rolling and strategy == "recursive":
            # Their recomputed steps would take the forecast periods into the medians.
            raise InvalidArgumentError(
                "invalid argument `features`: relative columns with group_rolling need "
                "strategy='direct' (recursive steps with group features are not supported)"
            )
        names: list[str] = []
        for m in models:
            base = _model_name(m)
            name, k = base, 2
            while name in names:
                name, k = f"{base}_{k}", k + 1
            names.append(name)
        self.models = list(models)
        self.model_names = names
        self.features = features
        self.freq = freq
        self.horizon = horizon
        self.strategy = strategy
        self.ensemble = ensemble
        self.ensemble_loss = ensemble_loss
        self.levels = sorted(levels)
        self.interval_method = interval_method
        self.cv_windows = cv_windows
        self.season_length = season_length
        self.id_col = id_col
        self.time_col = time_col
        self.target_col = target_col
        self.static_features = list(static_features)
        self.known_future = list(known_future)
        self.past_only = list(past_only)
        self.n_threads = n_threads
        self.weights: dict[str, float] | None = None
        # When fit ran (UTC, ISO 8601): what a model's user is shown beside its data window.
        self.fitted_at: str | None = None
        self.interval_widths: dict[str, list[list[tuple[float, float]]]] | None = None
        # Scaled calibration errors per model and forecast step: intervals at any level.
        self.conformity_scores: dict[str, list[list[float]]] | None = None
        self.calibration_metrics: pl.DataFrame | None = None
        self._history: pl.DataFrame | None = None
        # Each series' interval scale from the training history, computed once.
        self._scale_table: pl.DataFrame | None = None
        self._keys: list[str] = []
        # Categories of every string column, fixed at fit: codes mean the same in every later
        # frame, and values not seen at fit are coded as missing.
        self._categories: dict[str, list[str]] = {}
        self._step_cache: tuple[pl.DataFrame, _native.FeatureStepper, pl.DataFrame] | None = None
        self._fitted: list[Model] = []

    def _settings(self) -> dict[str, Any]:
        """The constructor arguments besides models, features and threads: what a bundle
        stores and a refit copies."""
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
            "id_col": self._keys or self.id_col,
            "time_col": self.time_col,
            "target_col": self.target_col,
            "static_features": self.static_features,
            "known_future": self.known_future,
            "past_only": self.past_only,
        }

    def settings(self) -> dict[str, Any]:
        """The constructor settings (besides models and features) as plain values."""
        return dict(self._settings())

    @property
    def keys(self) -> list[str]:
        """The series key columns (resolved at fit)."""
        return list(self._keys)

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
        return self._history.with_columns(
            pl.col(c)
            .replace_strict(list(range(len(cats))), cats, default=None, return_dtype=pl.String)
            .alias(c)
            for c, cats in self._categories.items()
        )

    # ----------------------------------------------------------------- data plumbing

    @property
    def columns(self) -> list[str]:
        """The columns the forecaster reads: keys (resolved at fit), time, target, static,
        known-future and past-only covariates."""
        return [
            *self._keys,
            self.time_col,
            self.target_col,
            *self.static_features,
            *self.known_future,
            *self.past_only,
        ]

    def _prepare(self, df: Any, name: str = "df") -> pl.DataFrame:
        """``df`` checked against the declared columns, with the categories fixed at fit."""
        return self._encode(self._select(df), name)

    def _select(self, df: Any) -> pl.DataFrame:
        """The declared columns of ``df``, the target as float, sorted by series and time."""
        frame = to_polars(df)
        self._keys = resolve_id_cols(frame, self.id_col)
        missing = [c for c in self.columns if c not in frame.columns]
        if missing:
            raise MissingColumnError(
                f"columns {missing} not found; the frame has [{', '.join(frame.columns)}]"
            )
        undeclared = [c for c in frame.columns if c not in self.columns]
        if undeclared:
            warnings.warn(
                f"columns {undeclared} are not declared as static_features, known_future or "
                "past_only and are ignored",
                UndeclaredColumnsWarning,
                stacklevel=4,
            )
        return (
            frame.select(self.columns)
            .with_columns(pl.col(self.target_col).cast(pl.Float64))
            .sort([*self._keys, self.time_col])
        )

    def _string_columns(self, frame: pl.DataFrame) -> list[str]:
        names = [*self.static_features, *self.known_future, *self.past_only]
        return [
            c
            for c in names
            if c in frame.columns
            and (
                frame[c].dtype in (pl.String, pl.Categorical) or isinstance(frame[c].dtype, pl.Enum)
            )
        ]

    def _learn_categories(self, frame: pl.DataFrame) -> None:
        """Fixes the categories of every string covariate from the training frame."""
        self._categories = {
            c: sorted(v for v in frame[c].cast(pl.String).unique().to_list() if v is not None)
            for c in self._string_columns(frame)
        }

    def _encode(self, frame: pl.DataFrame, name: str) -> pl.DataFrame:
        return _encode(frame, self._categories, name)

    def periods(self, n: int) -> str:
        """``n`` periods of the frequency as a polars duration (``"14d"``, ``"3mo"``)."""
        return f"{n * _count(self.freq)}{_unit(self.freq)}"

    def score(
        self,
        forecasts: Any,
        history: Any | None = None,
        *,
        models: Sequence[str] | None = None,
        levels: Sequence[int] | None = None,
    ) -> pl.DataFrame:
        """:func:`evaluate` of ``forecasts`` with this forecaster's columns, season length,
        frequency and levels (``levels=()`` leaves the interval metrics out)."""
        return evaluate(
            forecasts,
            history,
            models=models,
            levels=self.levels if levels is None else levels,
            season_length=self.season_length,
            id_col=self._keys or self.id_col,
            time_col=self.time_col,
            target_col=self.target_col,
            freq=self.freq,
        )

    def training_window(self) -> dict[str, Any]:
        """First and last period, rows and series of the training history."""
        history = self._history
        if history is None:
            raise NotFittedError("the Forecaster is not fitted; call fit first")
        return {
            "start": str(history[self.time_col].min()),
            "end": str(history[self.time_col].max()),
            "n_rows": history.height,
            "n_series": history.select(self._keys).n_unique(),
        }

    def _design(self, frame: pl.DataFrame, *, last_period_only: bool = False) -> pl.DataFrame:
        return build_features(
            frame,
            self.features,
            id_col=self._keys,
            time_col=self.time_col,
            target_col=self.target_col,
            static_features=self.static_features,
            known_future=self.known_future,
            past_only=self.past_only,
            freq=self.freq,
            n_threads=self.n_threads,
            last_period_only=last_period_only,
        )

    # ----------------------------------------------------------------- training

    def _future_columns(self, design: pl.DataFrame) -> list[str]:
        """Features known ahead of time: calendar and known-future covariates."""
        relative = set(self.features.relative)
        names = [
            *self.features.calendar,
            *[f"{c}_rel" if c in relative else c for c in self.known_future],
        ]
        return [c for c in names if c in design.columns]

    def _categorical(self, cols: list[str]) -> list[int]:
        return [i for i, c in enumerate(cols) if c in self._categories]

    def _train(
        self,
        model: LightGBM | XGBoost,
        frame: pl.DataFrame,
        target: str,
        history: pl.DataFrame,
        monitor: _Monitor | None = None,
    ) -> LightGBM | XGBoost:
        usable = frame.filter(pl.col(target).is_not_nan() & pl.col(target).is_not_null())
        cutoff = history[self.time_col].max()
        skip = {*self._keys, self.time_col, self.target_col, target}
        cols = [c for c in usable.columns if c not in skip]
        train = usable.filter(pl.col(self.time_col) <= cutoff)
        x = train.select(cols).to_numpy(order="fortran").astype(np.float64, copy=False)
        params = model.params()
        if params["n_threads"] is None:
            params["n_threads"] = self.n_threads or threads_for(x.shape[0])
        clone = type(model)(**params)
        started = time.perf_counter()
        evaluation = usable.filter(pl.col(self.time_col) > cutoff) if monitor else None
        clone.fit(
            x,
            train[target].to_numpy(),
            categorical_features=self._categorical(cols),
            eval_set=[]
            if evaluation is None or evaluation.height == 0
            else [(evaluation.select(cols).to_numpy(order="fortran"), evaluation[target])],
            callback=None if monitor is None else monitor.next_fit(),
        )
        log.info(
            "fitted %s on %d rows x %d features up to %s with %d threads in %.1f s",
            type(model).__name__,
            x.shape[0],
            x.shape[1],
            history[self.time_col].max(),
            params["n_threads"],
            time.perf_counter() - started,
        )
        clone.feature_names = cols
        return clone

    def _ahead(self, design: pl.DataFrame, k: int) -> pl.DataFrame:
        """Training rows of the direct model for step ``k``: origin features, the target and
        the known-ahead features ``k`` periods later."""
        future = self._future_columns(design)
        offset = f"-{k * _count(self.freq)}{_unit(self.freq)}"
        ahead = design.select(
            *self._keys,
            pl.col(self.time_col).dt.offset_by(offset),
            pl.col(self.target_col).alias("_ahead"),
            *future,
        )
        return design.drop(future).join(ahead, on=[*self._keys, self.time_col], how="inner")

    def _fit_models(
        self,
        history: pl.DataFrame,
        ahead: pl.DataFrame | None = None,
        monitor: _Monitor | None = None,
    ) -> list[Model]:
        """Every model fitted on ``history``. With a ``monitor``, recursive boosters also score
        the rows of ``ahead`` (the periods after the history, features from actual lags) after
        every round and report to it."""
        frame = history if ahead is None or monitor is None else pl.concat([history, ahead])
        design = self._design(frame)
        fitted: list[Model] = []
        for model in self.models:
            if not isinstance(model, LightGBM | XGBoost):
                fitted.append(model)
            elif self.strategy == "recursive":
                fitted.append(self._train(model, design, self.target_col, history, monitor))
            else:
                own = design.filter(pl.col(self.time_col) <= history[self.time_col].max())
                steps = [
                    self._train(model, self._ahead(own, k), "_ahead", history)
                    for k in range(1, self.horizon + 1)
                ]
                fitted.append(DirectBooster(steps))
        return fitted

    def fit(self, df: Any) -> Forecaster:
        """Fits the ensemble weights and interval widths on cross-validation windows of the
        training data, then every model on all of it."""
        frame = self._select(df)
        self._learn_categories(frame)
        history = self._encode(frame, "df")
        # Like mlforecast's conformal calibration, the backtest models are fitted once, at the
        # earliest window, and roll forward over the later windows.
        windows = self._cv(history, self.cv_windows, self.horizon, self.horizon, refit=False)
        self._calibrate(windows)
        self.calibration_metrics = self._calibration_metrics(windows, history)
        self._fitted = self._fit_models(history)
        self._history = history
        self._scale_table = self._scales(history)
        self.fitted_at = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
        return self

    def _calibrate(self, cv: pl.DataFrame) -> None:
        y = cv[self.target_col].to_numpy()
        ok = np.isfinite(y)
        preds = [cv[name].to_numpy() for name in self.model_names]
        for p in preds:
            ok &= np.isfinite(p)
        if self.ensemble == "optimized":
            w = _native.ensemble_weights(
                [p[ok].tolist() for p in preds], y[ok].tolist(), self.ensemble_loss
            )
        else:
            w = [1.0 / len(preds)] * len(preds)
        self.weights = dict(zip(self.model_names, w, strict=True))
        ens: npt.NDArray[np.float64] = np.sum(
            [wi * p for wi, p in zip(w, preds, strict=True)], axis=0
        )
        scale = cv["_scale"].to_numpy()
        steps = cv["_step"].to_numpy()
        names = [*self.model_names, *(["ensemble"] if self.ensemble else [])]
        columns = [*preds, *([ens] if self.ensemble else [])]
        self.conformity_scores = {}
        for name, p in zip(names, columns, strict=True):
            errors = (y - p) / scale
            if self.interval_method == "conformal_error":
                errors = np.abs(errors)
            self.conformity_scores[name] = [
                errors[(steps == k) & np.isfinite(errors)].tolist()
                for k in range(1, self.horizon + 1)
            ]
        self.interval_widths = self._widths(self.levels)

    def _widths(self, levels: Sequence[int]) -> dict[str, list[list[tuple[float, float]]]]:
        """Interval offsets (in units of each series' scale) per model, step and level, from the
        conformity scores of the calibration windows."""
        if self.conformity_scores is None:
            raise InvalidArgumentError(
                "invalid argument `levels`: this forecaster has no conformity scores (a bundle "
                "from an older version); refit it to forecast other levels"
            )
        method = "distribution" if self.interval_method == "conformal_distribution" else "error"
        return {
            name: _native.conformal_widths(groups, [float(lv) for lv in levels], method)
            for name, groups in self.conformity_scores.items()
        }

    def _calibration_metrics(self, cv: pl.DataFrame, history: pl.DataFrame) -> pl.DataFrame:
        """Overall metrics of every model, the ensemble and the baselines on the calibration
        windows together (the forecasts the weights were fitted on)."""
        # The cutoff stays: baselines forecast from each window's cutoff, not the data's end.
        frame = cv.drop("_step", "_scale", "_floor")
        names = list(self.model_names)
        if self.ensemble and self.weights:
            frame = frame.with_columns(
                pl.sum_horizontal(pl.col(n) * w for n, w in self.weights.items()).alias("ensemble")
            )
            names.append("ensemble")
        scores = evaluate(
            frame,
            history,
            models=names,
            levels=(),
            season_length=self.season_length,
            id_col=self._keys,
            time_col=self.time_col,
            target_col=self.target_col,
            freq=self.freq,
        )
        return scores.filter(pl.col("scope") == "overall")

    # ----------------------------------------------------------------- forecasting

    def _floor(self) -> pl.Expr:
        """Per series: 0 when its history has no negative value (sales), so forecasts and
        bounds below zero are clipped; otherwise no floor."""
        return (
            pl.when(pl.col(self.target_col).min() >= 0)
            .then(0.0)
            .otherwise(float("-inf"))
            .alias("_floor")
        )

    def _scales(self, history: pl.DataFrame) -> pl.DataFrame:
        """Each series' in-sample seasonal-naive mean absolute error (floored at 1% of its mean)
        and its forecast floor."""
        s = self.season_length
        return history.group_by(self._keys).agg(
            pl.max_horizontal(
                (pl.col(self.target_col) - pl.col(self.target_col).shift(s)).abs().mean(),
                pl.col(self.target_col).abs().mean() * 0.01,
                pl.lit(1e-9),
            ).alias("_scale"),
            self._floor(),
        )

    def _forecast(
        self, models: list[Model], history: pl.DataFrame, h: int, future: pl.DataFrame | None
    ) -> pl.DataFrame:
        last = history.group_by(self._keys).agg(pl.col(self.time_col).max())
        grid = (
            last.with_columns(pl.int_ranges(1, h + 1).alias("_step"))
            .explode("_step")
            .with_columns(
                pl.col(self.time_col).dt.offset_by(
                    pl.format("{}" + _unit(self.freq), pl.col("_step") * _count(self.freq))
                )
            )
        )
        statics = history.group_by(self._keys).agg(pl.col(c).first() for c in self.static_features)
        rows = grid.join(statics, on=self._keys, how="left") if self.static_features else grid
        if self.known_future:
            if future is None:
                raise InvalidArgumentError(
                    f"invalid argument `future`: the known-future columns {self.known_future} are "
                    f"needed for the {h} forecast periods"
                )
            fut = to_polars(future, "future")
            absent = [
                c for c in [*self._keys, self.time_col, *self.known_future] if c not in fut.columns
            ]
            if absent:
                raise MissingColumnError(f"`future` lacks columns {absent}")
            rows = rows.join(
                fut.select([*self._keys, self.time_col, *self.known_future]),
                on=[*self._keys, self.time_col],
                how="left",
            )
            gaps = rows.filter(pl.any_horizontal(pl.col(c).is_null() for c in self.known_future))
            if gaps.height:
                sample = gaps.select([*self._keys, self.time_col]).head(5).to_dicts()
                raise DataError(
                    f"`future` has no known-future values for {gaps.height} forecast rows, "
                    f"e.g. {sample}"
                )
        for c in self.past_only:
            rows = rows.with_columns(pl.lit(None, dtype=history[c].dtype).alias(c))
        rows = rows.with_columns(pl.lit(None, dtype=pl.Float64).alias(self.target_col))
        out = grid.select([*self._keys, self.time_col, "_step"])
        for name, model in zip(self.model_names, models, strict=True):
            out = out.join(
                self._one_model(model, history, rows, h).rename({"_pred": name}),
                on=[*self._keys, self.time_col],
                how="left",
            )
        floors = history.group_by(self._keys).agg(self._floor())
        return (
            out.join(floors, on=self._keys, how="left")
            .with_columns(_at_least(pl.col(n), "_floor").alias(n) for n in self.model_names)
            .drop("_floor")
            .sort([*self._keys, self.time_col])
        )

    def _one_model(
        self, model: Model, history: pl.DataFrame, rows: pl.DataFrame, h: int
    ) -> pl.DataFrame:
        if isinstance(model, SeasonalNaive | Naive | MovingAverage):
            parts = []
            for key, g in history.group_by(self._keys, maintain_order=True):
                forecast = _baseline_forecast(model, g[self.target_col].to_numpy(), h)
                mine = rows.filter(
                    pl.all_horizontal(pl.col(k) == v for k, v in zip(self._keys, key, strict=True))
                )
                parts.append(
                    mine.select([*self._keys, self.time_col]).with_columns(
                        pl.Series("_pred", forecast[: mine.height])
                    )
                )
            return pl.concat(parts)
        frame = pl.concat([history, rows.select(history.columns)], how="vertical_relaxed")
        log1p = "log1p" in self.features.target_transforms
        if isinstance(model, DirectBooster):
            return self._direct(model, frame, history, rows, h, log1p)
        if not self.features.group_rolling:
            return self._stepped(model, history, rows, h, log1p)
        return self._recomputed(model, frame, history, rows, h, log1p)

    def _recomputed(
        self,
        model: LightGBM | XGBoost,
        frame: pl.DataFrame,
        history: pl.DataFrame,
        rows: pl.DataFrame,
        h: int,
        log1p: bool,
    ) -> pl.DataFrame:
        """Recursive forecast that re-reads the whole frame each step: group features need
        every series' prediction at every step."""
        cols = model.feature_names or []
        # Each step needs only the features of the periods being forecast: the engine computes
        # them for the last period of every series, with the earlier steps' predictions filled in.
        step_of = pl.concat(
            [
                pl.Series("_step", [None] * history.height, dtype=pl.Int64),
                rows["_step"].cast(pl.Int64),
            ]
        )
        frame = frame.with_columns(step_of).sort([*self._keys, self.time_col])
        steps = frame["_step"].to_numpy()
        target = frame[self.target_col].to_numpy().astype(np.float64, copy=True)
        frame = frame.drop("_step")
        done = np.isnan(steps.astype(np.float64))
        for step in range(1, h + 1):
            at = np.flatnonzero(steps == step)
            upto = frame.filter(pl.Series(done | (steps == step)))
            design = self._design(upto, last_period_only=True)
            pred = model.predict(design.select(cols).to_numpy(order="fortran"))
            # Rows come out in series order, as `at` lists them.
            target[at] = np.expm1(pred) if log1p else pred
            frame = frame.with_columns(pl.Series(self.target_col, target))
            done |= steps == step
        future = np.flatnonzero(np.isin(steps, np.arange(1, h + 1)))
        return frame[future].select(
            [*self._keys, self.time_col, pl.col(self.target_col).alias("_pred")]
        )

    def _stepped(
        self,
        model: LightGBM | XGBoost,
        history: pl.DataFrame,
        rows: pl.DataFrame,
        h: int,
        log1p: bool,
    ) -> pl.DataFrame:
        """Recursive forecast through the engine's step state: one pass over the histories per
        step, the predictions appended as the next period's target."""
        stepper, order = self._step_state(history)
        # One join for all steps: rows sorted by step, then in the stepper's series order.
        plan = (
            order.join(rows, on=self._keys, how="left")
            .sort(["_step", "_series"])
            .with_columns(pl.col(c).cast(pl.Float64).fill_null(np.nan) for c in self.known_future)
        )
        n = order.height
        known_all = [plan[c].to_numpy() for c in self.known_future]
        cols = model.feature_names or []
        predictions = np.empty(plan.height)
        for step in range(h):
            block = slice(step * n, (step + 1) * n)
            x = stepper.features([k[block].tolist() for k in known_all]).select(cols)
            pred = model.predict(x.to_numpy(order="fortran"))
            raw = np.expm1(pred) if log1p else pred
            stepper.push(raw.tolist())
            predictions[block] = raw
        return plan.select([*self._keys, self.time_col]).with_columns(
            pl.Series("_pred", predictions)
        )

    def _step_state(self, history: pl.DataFrame) -> tuple[_native.FeatureStepper, pl.DataFrame]:
        """A fresh step state at the end of ``history`` and its series in the state's order.
        The state read from the last history is kept, so every model and every ``predict`` of
        a fitted forecaster starts from a copy instead of re-reading the history."""
        # Read once into a local: the app shares one forecaster between sessions' threads.
        cache = self._step_cache
        if cache is None or cache[0] is not history:
            holidays = self.features.holidays
            stepper = _native.FeatureStepper(
                history,
                self.features.to_json(),
                self._keys,
                self.time_col,
                self.target_col,
                self.static_features,
                self.known_future,
                self.past_only,
                self.freq,
                None if holidays is None else [d.isoformat() for d in holidays],
            )
            order = history.select(self._keys)[stepper.last_rows()].with_row_index("_series")
            cache = (history, stepper, order)
            self._step_cache = cache
        _, stepper, order = cache
        return copy.copy(stepper), order

    def _direct(
        self,
        model: DirectBooster,
        frame: pl.DataFrame,
        history: pl.DataFrame,
        rows: pl.DataFrame,
        h: int,
        log1p: bool,
    ) -> pl.DataFrame:
        design = self._design(frame)
        future = self._future_columns(design)
        last = history.group_by(self._keys).agg(pl.col(self.time_col).max())
        origin = design.join(last, on=[*self._keys, self.time_col], how="semi").drop(
            [*future, self.time_col]
        )
        parts = []
        for k in range(1, h + 1):
            booster = model.steps[k - 1]
            at_step = rows.filter(pl.col("_step") == k).select([*self._keys, self.time_col])
            ahead = design.join(at_step, on=[*self._keys, self.time_col], how="semi").select(
                *self._keys, self.time_col, *future
            )
            x = origin.join(ahead, on=self._keys, how="inner")
            pred = booster.predict(x.select(booster.feature_names or []).to_numpy(order="fortran"))
            if log1p:
                pred = np.expm1(pred)
            parts.append(
                x.select([*self._keys, self.time_col]).with_columns(pl.Series("_pred", pred))
            )
        return pl.concat(parts)

    def _finish(
        self, raw: pl.DataFrame, scales: pl.DataFrame, levels: Sequence[int] | None = None
    ) -> pl.DataFrame:
        out = raw
        if self.ensemble and self.weights:
            out = out.with_columns(
                pl.sum_horizontal(pl.col(n) * w for n, w in self.weights.items()).alias("ensemble")
            )
        levels = self.levels if levels is None else sorted(levels)
        all_widths = self.interval_widths if levels == self.levels else self._widths(levels)
        if all_widths:
            out = out.join(scales, on=self._keys, how="left")
            for name, widths in all_widths.items():
                for j, level in enumerate(levels):
                    lo = pl.Series([w[j][0] for w in widths])
                    hi = pl.Series([w[j][1] for w in widths])
                    step = pl.col("_step") - 1
                    out = out.with_columns(
                        _at_least(
                            pl.col(name) + pl.lit(lo).gather(step) * pl.col("_scale"), "_floor"
                        ).alias(f"{name}-lo-{level}"),
                        _at_least(
                            pl.col(name) + pl.lit(hi).gather(step) * pl.col("_scale"), "_floor"
                        ).alias(f"{name}-hi-{level}"),
                    )
            out = out.drop("_scale", "_floor")
        return out

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
        with each series' error on that history. ``levels`` gives intervals at other levels than
        the forecaster's, from the same conformity scores.
        """
        if levels is not None and any(not 0 < lv < 100 for lv in levels):
            raise InvalidArgumentError(
                f"invalid argument `levels`: {list(levels)} must be in (0, 100)"
            )
        if self._history is None:
            raise NotFittedError("the Forecaster is not fitted; call fit first")
        h = self.horizon if h is None else h
        self._check_steps(h, 0)
        fut = None if future is None else self._encode(to_polars(future, "future"), "future")
        if new_df is not None:
            history = self._prepare(to_polars(new_df, "new_df"), "new_df")
            self._warn_if_short(history)
            raw = self._forecast(self._fitted, history, h, fut)
            return self._finish(raw, self._scales(history), levels).drop("_step")
        raw = self._forecast(self._fitted, self._history, h, fut)
        if self._scale_table is None:
            self._scale_table = self._scales(self._history)
        return self._finish(raw, self._scale_table, levels).drop("_step")

    def _warn_if_short(self, history: pl.DataFrame) -> None:
        """Warns when a series of ``history`` is shorter than the longest window a feature
        reads: its first forecasts would see missing lags instead of the values the model
        learned from. (Expanding and EWM features read the whole history; they always differ
        from the training history's unless ``new_df`` extends it.)"""
        spec = self.features
        reach = [
            *spec.lags,
            *(r.lag + r.window - 1 for r in spec.rolling),
            *(r.lag + (r.window - 1) * r.season_length for r in spec.seasonal_rolling),
            *(r.lag + r.window - 1 for r in spec.group_rolling),
        ]
        if not reach:
            return
        needed = max(reach)
        lengths = history.group_by(self._keys).len()
        short = lengths.filter(pl.col("len") < needed)["len"].to_list()
        if short:
            warnings.warn(
                f"{len(short)} series in `new_df` have fewer than the {needed} periods the "
                f"features read (shortest: {min(short)}); their first forecasts see missing "
                "lags",
                UserWarning,
                stacklevel=3,
            )

    def _check_steps(self, h: int, gap: int) -> None:
        if h < 1 or gap < 0 or h + gap > self.horizon:
            raise InvalidArgumentError(
                f"invalid argument `h`/`gap`: need h >= 1, gap >= 0 and h + gap <= the horizon "
                f"{self.horizon}; got h={h}, gap={gap}"
            )

    # ----------------------------------------------------------------- backtesting

    def _cv(
        self,
        data: pl.DataFrame,
        n_windows: int,
        h: int,
        step: int,
        *,
        refit: bool,
        backtests: _Backtests | None = None,
    ) -> pl.DataFrame:
        backtests = _Backtests() if backtests is None else backtests
        parts = []
        fitted_at = None
        for cutoff in self._cutoffs(data, n_windows, h, step):
            train = data.filter(pl.col(self.time_col) <= cutoff)
            test = data.filter(pl.col(self.time_col) > cutoff)
            if fitted_at is None or refit:
                fitted_at = cutoff
            raw = self._forecast_at(data, fitted_at, cutoff, h, backtests)
            raw = raw.join(
                test.select([*self._keys, self.time_col, self.target_col]),
                on=[*self._keys, self.time_col],
                how="inner",
            )
            parts.append(
                raw.join(self._scales(train), on=self._keys, how="left").with_columns(
                    pl.lit(cutoff).alias("cutoff")
                )
            )
        return pl.concat(parts)

    def _cutoffs(self, data: pl.DataFrame, n_windows: int, h: int, step: int) -> list[Any]:
        start, end = data[self.time_col].min(), data[self.time_col].max()
        if not isinstance(start, dt.date) or not isinstance(end, dt.date):
            raise DataError(f"column `{self.time_col}` has no dates")
        cutoffs = [
            data.select(
                pl.lit(end).dt.offset_by(
                    f"-{(h + step * (n_windows - 1 - i)) * _count(self.freq)}{_unit(self.freq)}"
                )
            ).item()
            for i in range(n_windows)
        ]
        if cutoffs[0] < start:
            raise DataError(
                f"cross-validation window with cutoff {cutoffs[0]} has no training data: the "
                f"data starts at {start}"
            )
        return cutoffs

    def _models_at(self, data: pl.DataFrame, cutoff: Any, backtests: _Backtests) -> list[Model]:
        """The models trained on the data up to ``cutoff``."""
        if cutoff not in backtests.models:
            ahead = None
            if backtests.monitor is not None:
                end = data.select(pl.lit(cutoff).dt.offset_by(self.periods(self.horizon))).item()
                ahead = data.filter(
                    (pl.col(self.time_col) > cutoff) & (pl.col(self.time_col) <= end)
                )
            backtests.models[cutoff] = self._fit_models(
                data.filter(pl.col(self.time_col) <= cutoff), ahead, backtests.monitor
            )
        return backtests.models[cutoff]

    def _forecast_at(
        self, data: pl.DataFrame, fitted_at: Any, origin: Any, h: int, backtests: _Backtests
    ) -> pl.DataFrame:
        """The forecast from ``origin`` of the models trained up to ``fitted_at``."""
        key = (fitted_at, origin, h)
        if key not in backtests.forecasts:
            models = self._models_at(data, fitted_at, backtests)
            history = data.filter(pl.col(self.time_col) <= origin)
            test = data.filter(pl.col(self.time_col) > origin)
            backtests.forecasts[key] = self._forecast(models, history, h, test)
        return backtests.forecasts[key]

    def _backtest_data(self, df: Any) -> tuple[pl.DataFrame, dict[str, list[str]]]:
        """``df`` prepared for a backtest, with the fitted categories, or the ones of ``df``
        when unfitted (without fixing them on this forecaster)."""
        frame = self._select(df)
        categories = self._categories
        if self._history is None:
            self._learn_categories(frame)
            categories, self._categories = self._categories, {}
        return _encode(frame, categories, "df"), categories

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
        calibration fits. What tuning and model selection need. Returns keys, time,
        ``cutoff``, the actual target and one column per model; ``round_callback`` as in
        :meth:`cross_validation`."""
        h = self.horizon if h is None else h
        step = h if step is None else step
        self._check_steps(h, 0)
        if n_windows < 1 or step < 1:
            raise InvalidArgumentError(
                f"invalid argument `n_windows`/`step`: both must be at least 1; got {n_windows}, "
                f"{step}"
            )
        data, categories = self._backtest_data(df)
        inner = replace_fit(self)
        inner._keys = self._keys
        inner._categories = categories
        backtests = _Backtests(monitor=None if round_callback is None else _Monitor(round_callback))
        out = inner._cv(data, n_windows, h, step, refit=True, backtests=backtests)
        return out.drop("_step", "_scale", "_floor")

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
        time, ``cutoff``, the actual target and every forecast column ``predict`` returns.

        ``round_callback(fit, round, metrics)`` runs after every boosting round of every booster
        fit of the backtest (``fit`` numbers them in order): ``metrics`` is the loss on the
        ``horizon`` periods after that fit's training data, from features of actual lags (the
        recursive strategy; empty for direct). Returning True stops that fit; an exception it
        raises (``optuna.TrialPruned``) stops the backtest and propagates unchanged."""
        h = self.horizon if h is None else h
        step = h if step is None else step
        self._check_steps(h, gap)
        if n_windows < 1 or step < 1:
            raise InvalidArgumentError(
                f"invalid argument `n_windows`/`step`: both must be at least 1; got {n_windows}, "
                f"{step}"
            )
        data, categories = self._backtest_data(df)
        backtests = _Backtests(monitor=None if round_callback is None else _Monitor(round_callback))
        parts = []
        inner: Forecaster | None = None
        fitted_at = None
        for fold, cutoff in enumerate(self._cutoffs(data, n_windows, h + gap, step), 1):
            log.info("cross-validation fold %d of %d: cutoff %s", fold, n_windows, cutoff)
            train = data.filter(pl.col(self.time_col) <= cutoff)
            test = data.filter(pl.col(self.time_col) > cutoff)
            if inner is None or refit:
                inner = replace_fit(self)
                inner._keys = self._keys
                inner._categories = categories
                inner._calibrate(
                    inner._cv(
                        train,
                        self.cv_windows,
                        self.horizon,
                        self.horizon,
                        refit=False,
                        backtests=backtests,
                    )
                )
                fitted_at = cutoff
            raw = inner._forecast_at(data, fitted_at, cutoff, h + gap, backtests)
            out = (
                inner._finish(raw, inner._scales(train)).filter(pl.col("_step") > gap).drop("_step")
            )
            out = out.join(
                test.select([*self._keys, self.time_col, self.target_col]),
                on=[*self._keys, self.time_col],
                how="inner",
            )
            parts.append(out.with_columns(pl.lit(cutoff).alias("cutoff")))
        return pl.concat(parts)

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
        if self._history is None:
            raise NotFittedError("the Forecaster is not fitted; call fit first")
        models = []
        files: dict[str, bytes] = {}
        for name, user_model, model in zip(
            self.model_names, self.models, self._fitted, strict=True
        ):
            entry: dict[str, Any] = {"name": name, "kind": type(user_model).__name__}
            if isinstance(user_model, LightGBM | XGBoost):
                suffix = "txt" if isinstance(user_model, LightGBM) else "ubj"
                steps = model.steps if isinstance(model, DirectBooster) else [model]
                paths = (
                    [f"models/{name}/step{k:03d}.{suffix}" for k in range(1, len(steps) + 1)]
                    if isinstance(model, DirectBooster)
                    else [f"models/{name}.{suffix}"]
                )
                for path_k, booster in zip(paths, steps, strict=True):
                    assert isinstance(booster, LightGBM | XGBoost)
                    files[path_k] = booster.to_native()
                entry |= {
                    "files": paths,
                    "params": user_model.params(),
                    "feature_names": [
                        b.feature_names for b in steps if isinstance(b, LightGBM | XGBoost)
                    ],
                }
            else:
                entry["params"] = dict(vars(user_model))
            models.append(entry)
        if self.conformity_scores is not None:
            files[CONFORMITY_FILE] = _conformity_parquet(self.conformity_scores)
        history = self._history
        holidays = self.features.holidays
        manifest = {
            "settings": self._settings(),
            "features": self.features.to_dict(),
            "holidays": None if holidays is None else [d.isoformat() for d in holidays],
            "models": models,
            "weights": self.weights,
            "interval_widths": self.interval_widths,
            "metrics": None
            if self.calibration_metrics is None
            else self.calibration_metrics.to_dicts(),
            "training_window": self.training_window(),
            "fitted_at": self.fitted_at,
            "columns": dict(zip(history.columns, [str(t) for t in history.dtypes], strict=True)),
            "categories": self._categories,
        }
        buffer = io.BytesIO()
        history.write_parquet(buffer)
        files[HISTORY_FILE] = buffer.getvalue()
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
        manifest, folder = found.manifest, found.uri
        settings = dict(manifest["settings"])
        holidays = manifest.get("holidays")
        spec = FeatureSpec.from_dict(
            manifest["features"],
            None if holidays is None else [dt.date.fromisoformat(d) for d in holidays],
        )
        kinds: dict[str, type] = {
            "LightGBM": LightGBM,
            "XGBoost": XGBoost,
            "SeasonalNaive": SeasonalNaive,
            "Naive": Naive,
            "MovingAverage": MovingAverage,
        }
        models: list[UserModel] = []
        fitted: list[Model] = []
        for entry in manifest["models"]:
            kind = kinds.get(entry["kind"])
            if kind is None:
                raise ModelFileError(f"{folder}: unknown model kind {entry['kind']!r}")
            model = kind(**entry["params"])
            models.append(model)
            if isinstance(model, LightGBM | XGBoost):
                steps = []
                for path_k, names in zip(entry["files"], entry["feature_names"], strict=True):
                    booster = type(model).from_native(found.files[path_k], **entry["params"])
                    booster.feature_names = names
                    steps.append(booster)
                direct = settings["strategy"] == "direct"
                fitted.append(DirectBooster(steps) if direct else steps[0])
            else:
                fitted.append(model)
        fc = cls(models, spec, **settings)
        fc._keys = list(settings["id_col"])
        fc._fitted = fitted
        fc.weights = manifest["weights"]
        widths = manifest["interval_widths"]
        fc.interval_widths = (
            None
            if widths is None
            else {k: [[(lo, hi) for lo, hi in step] for step in v] for k, v in widths.items()}
        )
        if CONFORMITY_FILE in found.files:
            scores = pl.read_parquet(io.BytesIO(found.files[CONFORMITY_FILE]))
            fc.conformity_scores = {
                name: [
                    g.filter(pl.col("step") == k)["score"].to_list()
                    for k in range(1, fc.horizon + 1)
                ]
                for (name,), g in scores.group_by("model", maintain_order=True)
            }
        metrics = manifest.get("metrics")
        fc.calibration_metrics = None if metrics is None else pl.DataFrame(metrics)
        fc._categories = {str(c): list(v) for c, v in manifest.get("categories", {}).items()}
        fc._history = pl.read_parquet(io.BytesIO(found.files[HISTORY_FILE]))
        fitted_at = manifest.get("fitted_at")
        if fitted_at is not None and not isinstance(fitted_at, str):
            raise ModelFileError(f"{folder}: manifest `fitted_at` must be a string")
        fc.fitted_at = fitted_at
        return fc

    def feature_importance(
        self, importance_type: Literal["gain", "split"] = "gain"
    ) -> pl.DataFrame:
        """Importance of every feature for every fitted booster (long format)."""
        rows = []
        for name, model in zip(self.model_names, self._fitted, strict=True):
            if isinstance(model, LightGBM | XGBoost | DirectBooster):
                for feature, value in model.feature_importance(importance_type).items():
                    rows.append({"model": name, "feature": feature, importance_type: value})
        return pl.DataFrame(rows)


def replace_with_models(forecaster: Forecaster, params: dict[str, dict[str, Any]]) -> Forecaster:
    """A fresh, unfitted copy whose models named in ``params`` take those parameters."""
    models = [
        type(model)(**{**model.params(), **params[name]})
        if name in params and isinstance(model, LightGBM | XGBoost)
        else model
        for name, model in zip(forecaster.model_names, forecaster.models, strict=True)
    ]
    return Forecaster(
        models, forecaster.features, **forecaster._settings(), n_threads=forecaster.n_threads
    )


def replace_fit(forecaster: Forecaster) -> Forecaster:
    """A fresh, unfitted copy with the same settings and models."""
    return replace_with_models(forecaster, {})


CONFORMITY_FILE = "conformity.parquet"
HISTORY_FILE = "history.parquet"


def _conformity_parquet(scores: dict[str, list[list[float]]]) -> bytes:
    """The conformity scores as a long parquet table (model, step, score)."""
    table = pl.DataFrame(
        {
            "model": [name for name, steps in scores.items() for g in steps for _ in g],
            "step": [k for steps in scores.values() for k, g in enumerate(steps, 1) for _ in g],
            "score": [v for steps in scores.values() for g in steps for v in g],
        },
        schema={"model": pl.String, "step": pl.Int32, "score": pl.Float64},
    )
    buffer = io.BytesIO()
    table.write_parquet(buffer)
    return buffer.getvalue()


def _at_least(value: pl.Expr, floor: str) -> pl.Expr:
    """``value`` raised to the ``floor`` column; missing values stay missing (max_horizontal
    would turn them into the floor)."""
    return pl.when(value < pl.col(floor)).then(pl.col(floor)).otherwise(value)


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


def _count(freq: str) -> int:
    digits = "".join(ch for ch in freq if ch.isdigit())
    return int(digits) if digits else 1


def _unit(freq: str) -> str:
    unit = "".join(ch for ch in freq if not ch.isdigit())
    return {"w": "w", "d": "d", "mo": "mo", "q": "q", "y": "y", "h": "h"}.get(unit, unit)


def evaluate(
    forecasts: Any,
    history: Any | None = None,
    *,
    models: Sequence[str] | None = None,
    levels: Sequence[int] = (80, 95),
    season_length: int = 7,
    segment: str | None = None,
    id_col: IdCol = None,
    time_col: str = "date",
    target_col: str = "sales",
    freq: str | None = None,
) -> pl.DataFrame:
    """Metrics of every model column, per series, per ``segment`` value and overall.

    Metrics: rmse, mae, mape (zeros left out and counted in ``mape_zeros``), smape, wape, mase and
    rmsse (scaled by the seasonal-naive error of the ``history``), revenue-weighted rmsse (overall
    rows, as in the M5 competition), r2, bias, and per interval level coverage, Winkler score and
    pinball loss. With a ``history``, the naive, seasonal-naive and moving-average baselines are
    evaluated alongside. Frames from ``cross_validation`` are evaluated per ``cutoff``.
    """
    frame = to_polars(forecasts)
    keys = resolve_id_cols(frame, id_col)
    hist = None if history is None else to_polars(history, "history")
    skip = {*keys, time_col, target_col, "cutoff", *([segment] if segment else [])}
    if models is None:
        models = forecast_columns(frame, skip)
    return _native.evaluate(
        frame,
        hist,
        keys,
        time_col,
        target_col,
        list(models),
        [int(lv) for lv in levels],
        season_length,
        segment,
        "cutoff" if "cutoff" in frame.columns else None,
        freq,
    )
