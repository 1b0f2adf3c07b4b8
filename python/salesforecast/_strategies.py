"""How boosters are trained and how their multi-step forecasts are made: stepped (recursive,
through the engine's step state), recomputed (recursive, re-reading the frame each step, for
group features) and direct (one booster per step)."""

from __future__ import annotations

import copy
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
import polars as pl

from salesforecast import _native
from salesforecast._frames import shift_times
from salesforecast.config import ColumnRoles
from salesforecast.features import FeatureSpec, build_features
from salesforecast.models import LightGBM, XGBoost, threads_for

log = logging.getLogger(__name__)

Booster = LightGBM | XGBoost
RoundCallback = Callable[[int, dict[str, float]], bool | None]


@dataclass(frozen=True)
class DirectBooster:
    """The direct strategy's boosters: ``steps[k - 1]`` forecasts ``k`` periods ahead."""

    steps: list[Booster]

    def feature_importance(
        self, importance_type: Literal["gain", "split"] = "gain"
    ) -> dict[str, float]:
        """Importance summed over the step models."""
        total: dict[str, float] = {}
        for booster in self.steps:
            for name, value in booster.feature_importance(importance_type).items():
                total[name] = total.get(name, 0.0) + value
        return total


@dataclass(frozen=True)
class FeaturePlan:
    """What every strategy reads: the feature spec, the resolved column roles, the frequency,
    the thread budget and the categories fixed at fit."""

    spec: FeatureSpec
    roles: ColumnRoles
    freq: str
    n_threads: int | None
    categories: Mapping[str, list[str]]

    @property
    def keys(self) -> list[str]:
        return self.roles.keys

    def design(self, frame: pl.DataFrame, *, last_period_only: bool = False) -> pl.DataFrame:
        return build_features(
            frame,
            self.spec,
            roles=self.roles,
            freq=self.freq,
            n_threads=self.n_threads,
            last_period_only=last_period_only,
        )

    def future_columns(self, design: pl.DataFrame) -> list[str]:
        """Features known ahead of time: calendar and known-future covariates."""
        relative = set(self.spec.relative)
        names = [
            *self.spec.calendar,
            *[f"{c}_rel" if c in relative else c for c in self.roles.known_future],
        ]
        return [c for c in names if c in design.columns]

    def inverter(self, history: pl.DataFrame) -> tuple[_native.FeatureStepper, pl.DataFrame]:
        """An inverter of the target transforms at the end of ``history`` (a step state of the
        transforms alone: no features to compute) and its series (keys) in the order it takes
        predictions."""
        transforms = FeatureSpec(target_transforms=self.spec.target_transforms)
        inverter = _native.FeatureStepper(
            history, transforms.to_json(), self.roles, self.freq, None
        )
        return inverter, history.select(self.keys)[inverter.last_rows()]

    def shift(
        self, times: pl.Series, k: int, outside: Literal["refuse", "null"] = "refuse"
    ) -> pl.Series:
        """``times`` moved by ``k`` periods of the frequency (:func:`shift_times`)."""
        return shift_times(times, self.freq, k, outside)

    def step_state(self, history: pl.DataFrame) -> tuple[_native.FeatureStepper, pl.DataFrame]:
        """A step state at the end of ``history`` and its series in the state's order."""
        stepper = _native.FeatureStepper(
            history, self.spec.to_json(), self.roles, self.freq, self.spec.holidays
        )
        order = history.select(self.keys)[stepper.last_rows()].with_row_index("_series")
        return stepper, order


@dataclass(frozen=True)
class Smearing:
    """The bias correction of a booster fitted on a log1p target: a forecast of the log
    scale's mean, taken back to the target's scale, is below the mean, so forecasts are
    corrected by Duan's smearing factors (computed by the core from the booster's in-sample
    residuals): each series' own, the panel's for series not seen at fit."""

    per_series: pl.DataFrame  # keys and `factor`
    panel: float

    @classmethod
    def fit(
        cls, plan: FeaturePlan, series: pl.DataFrame, residuals: npt.NDArray[np.float64]
    ) -> Smearing | None:
        """From the log-scale residuals of the rows of ``series`` (their keys), or None when the
        spec's transforms have no such correction."""
        keys = plan.keys
        rows = series.select(keys).with_columns(pl.Series("_residual", residuals)).sort(keys)
        sizes = rows.group_by(keys, maintain_order=True).len()
        found = _native.log1p_smearing_factors(
            plan.spec.to_json(), rows["_residual"].to_numpy(), sizes["len"].to_list()
        )
        if found is None:
            return None
        factors, panel = found
        return cls(sizes.select(keys).with_columns(pl.Series("factor", factors)), panel)

    def factors(self, series: pl.DataFrame) -> npt.NDArray[np.float64]:
        """The factor of each series whose keys ``series`` lists, in its order: its own, or
        the panel's for a series not seen at fit."""
        table = self.per_series.with_columns(
            pl.col(c).cast(series.schema[c]) for c in series.columns
        )
        found = series.join(table, on=series.columns, how="left", maintain_order="left")
        return found["factor"].fill_null(self.panel).to_numpy()

    def to_json(self) -> dict[str, Any]:
        """The bundle's form (a manifest entry)."""
        return {"panel": self.panel, "per_series": self.per_series.to_dict(as_series=False)}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Smearing:
        return cls(pl.DataFrame(dict(data["per_series"])), float(data["panel"]))


def smearing_factors(model: Booster, series: pl.DataFrame) -> npt.NDArray[np.float64] | None:
    """``model``'s bias-correction factor of each series of ``series`` (keys, in order), or None
    without a correction: looked up once per forecast, not at every step."""
    return None if model.smearing is None else model.smearing.factors(series)


def corrected(
    values: npt.NDArray[np.float64], factors: npt.NDArray[np.float64] | None
) -> npt.NDArray[np.float64]:
    """Forecasts ``values`` (one per series, in the order of ``factors``) bias-corrected; the
    histories the features read keep the uncorrected values."""
    return values if factors is None else _native.log1p_smeared(values, factors)


def train(
    plan: FeaturePlan,
    model: Booster,
    frame: pl.DataFrame,
    target: str,
    cutoff: Any,
    callback: RoundCallback | None = None,
    early_stopping_rounds: int | None = None,
) -> Booster:
    """A fitted copy of ``model`` on the rows of ``frame`` up to ``cutoff``; with a
    ``callback`` or ``early_stopping_rounds``, the later rows are its per-round evaluation
    set."""
    roles = plan.roles
    usable = frame.filter(pl.col(target).is_not_nan() & pl.col(target).is_not_null())
    skip = {*roles.keys, roles.time, roles.target, target}
    cols = [c for c in usable.columns if c not in skip]
    rows = usable.filter(pl.col(roles.time) <= cutoff)
    x = rows.select(cols).to_numpy(order="fortran").astype(np.float64, copy=False)
    params = model.params()
    if params["n_threads"] is None:
        params["n_threads"] = plan.n_threads or threads_for(x.shape[0])
    labels = rows[target].to_numpy()
    if params.get("objective") in ("tweedie", "poisson") and not np.any(labels):
        # A log-link loss has no optimum when every label is zero (a launch padded with
        # zeros); squared error fits the zeros.
        params["objective"] = "squared_error"
    clone = type(model)(**params)
    started = time.perf_counter()
    scored = callback is not None or early_stopping_rounds is not None
    evaluation = usable.filter(pl.col(roles.time) > cutoff) if scored else None
    eval_set = (
        []
        if evaluation is None or evaluation.height == 0
        else [(evaluation.select(cols).to_numpy(order="fortran"), evaluation[target])]
    )
    clone.fit(
        x,
        labels,
        categorical_features=[i for i, c in enumerate(cols) if c in plan.categories],
        eval_set=eval_set,
        early_stopping_rounds=early_stopping_rounds if eval_set else None,
        callback=callback,
    )
    log.info(
        "fitted %s on %d rows x %d features up to %s with %d threads in %.1f s",
        type(model).__name__,
        x.shape[0],
        x.shape[1],
        cutoff,
        params["n_threads"],
        time.perf_counter() - started,
    )
    clone.feature_names = cols
    # The correction is of a mean: not for a quantile loss. A direct model with differences
    # adds up its steps' forecast differences, whose errors partly cancel: one step's in-sample
    # factors overcorrect it (+76% bias of the total on a generate_sales backtest).
    differenced = any(t.startswith("diff") for t in plan.spec.target_transforms)
    if (
        "log1p" in plan.spec.target_transforms
        and params["objective"] != "quantile"
        and not (differenced and target != roles.target)
    ):
        # From in-sample residuals, which boosters fit closely, so the factors could fall short
        # of what multi-step forecasts need; measured on generate_sales backtests (3 windows of
        # 28 days) they take the bias of the total from -18% to within 2%.
        residuals = labels - clone.predict(x)
        clone.smearing = Smearing.fit(plan, rows, residuals)
    return clone


def ahead(plan: FeaturePlan, design: pl.DataFrame, k: int) -> pl.DataFrame:
    """Training rows of the direct model for step ``k``: origin features, the target and the
    known-ahead features ``k`` periods later (column ``_ahead``)."""
    roles = plan.roles
    future = plan.future_columns(design)
    later = design.select(
        *roles.keys,
        # Rows whose time moved before year 1 are null and join nothing.
        plan.shift(design[roles.time], -k, "null"),
        pl.col(roles.target).alias("_ahead"),
        *future,
    )
    return design.drop(future).join(later, on=[*roles.keys, roles.time], how="inner")


def stepped(
    plan: FeaturePlan,
    model: Booster,
    state: tuple[_native.FeatureStepper, pl.DataFrame],
    rows: pl.DataFrame,
    h: int,
) -> pl.DataFrame:
    """Recursive forecast through the engine's step state: one pass over the histories per
    step, the predictions appended as the next period's target."""
    stepper, order = copy.copy(state[0]), state[1]
    keys, known = plan.keys, plan.roles.known_future
    # One join for all steps: rows sorted by step, then in the stepper's series order.
    schedule = (
        order.join(rows, on=keys, how="left")
        .sort(["_step", "_series"])
        .with_columns(pl.col(c).cast(pl.Float64).fill_null(np.nan) for c in known)
    )
    n = order.height
    known_all = [schedule[c].to_numpy() for c in known]
    cols = model.feature_names or []
    factors = smearing_factors(model, order.select(keys))
    predictions = np.empty(schedule.height)
    for step in range(h):
        block = slice(step * n, (step + 1) * n)
        x = stepper.features([k[block].tolist() for k in known_all]).select(cols)
        raw = stepper.push_predictions(model.predict(x.to_numpy(order="fortran")))
        predictions[block] = corrected(raw, factors)
    return schedule.select([*keys, plan.roles.time]).with_columns(pl.Series("_pred", predictions))


def recomputed(
    plan: FeaturePlan,
    model: Booster,
    frame: pl.DataFrame,
    history: pl.DataFrame,
    rows: pl.DataFrame,
    h: int,
) -> pl.DataFrame:
    """Recursive forecast that re-reads the whole frame each step: group features need every
    series' prediction at every step."""
    roles = plan.roles
    cols = model.feature_names or []
    # Each step needs only the features of the periods being forecast: the engine computes
    # them for the last period of every series, with the earlier steps' predictions filled in.
    step_of = pl.concat(
        [pl.Series("_step", [None] * history.height, dtype=pl.Int64), rows["_step"].cast(pl.Int64)]
    )
    frame = frame.with_columns(step_of).sort([*roles.keys, roles.time])
    steps = frame["_step"].to_numpy()
    target = frame[roles.target].to_numpy().astype(np.float64, copy=True)
    forecasts = np.full(target.shape, np.nan)
    frame = frame.drop("_step")
    done = np.isnan(steps.astype(np.float64))
    inverter, series = plan.inverter(history)
    factors = smearing_factors(model, series)
    for step in range(1, h + 1):
        at = np.flatnonzero(steps == step)
        upto = frame.filter(pl.Series(done | (steps == step)))
        design = plan.design(upto, last_period_only=True)
        predicted = design.select(plan.keys).with_columns(
            pl.Series("_p", model.predict(design.select(cols).to_numpy(order="fortran")))
        )
        # The inverter takes its series in its own order, and the step's rows of `frame` are
        # in theirs (integer keys sort otherwise than the engine's): both are matched by key.
        ordered = series.join(predicted, on=plan.keys, how="left", maintain_order="left")
        raw = inverter.push_predictions(ordered["_p"].fill_null(np.nan).to_numpy())
        placed = (
            frame[at]
            .select(plan.keys)
            .join(
                series.with_columns(
                    pl.Series("_raw", raw), pl.Series("_forecast", corrected(raw, factors))
                ),
                on=plan.keys,
                how="left",
                maintain_order="left",
            )
        )
        target[at] = placed["_raw"].to_numpy()
        forecasts[at] = placed["_forecast"].to_numpy()
        frame = frame.with_columns(pl.Series(roles.target, target))
        done |= steps == step
    future = np.flatnonzero(np.isin(steps, np.arange(1, h + 1)))
    return frame.with_columns(pl.Series("_pred", forecasts))[future].select(
        [*roles.keys, roles.time, "_pred"]
    )


def direct(
    plan: FeaturePlan,
    model: DirectBooster,
    frame: pl.DataFrame,
    history: pl.DataFrame,
    rows: pl.DataFrame,
    h: int,
) -> pl.DataFrame:
    """One booster per step, each reading the features at the origin and the known-ahead
    features of its own period."""
    keys, time_col = plan.keys, plan.roles.time
    design = plan.design(frame)
    future = plan.future_columns(design)
    last = history.group_by(keys).agg(pl.col(time_col).max())
    origin = design.join(last, on=[*keys, time_col], how="semi").drop([*future, time_col])
    # Each step's prediction is on the transformed scale: undone in step order per series (a
    # difference adds the previous steps' forecasts).
    inverter, series = plan.inverter(history)
    parts = []
    for k in range(1, h + 1):
        booster = model.steps[k - 1]
        at_step = rows.filter(pl.col("_step") == k).select([*keys, time_col])
        later = design.join(at_step, on=[*keys, time_col], how="semi").select(
            *keys, time_col, *future
        )
        x = origin.join(later, on=keys, how="inner")
        pred = booster.predict(x.select(booster.feature_names or []).to_numpy(order="fortran"))
        step = series.join(
            x.select(*keys, time_col).with_columns(pl.Series("_pred", pred)),
            on=keys,
            how="left",
            maintain_order="left",
        )
        raw = inverter.push_predictions(step["_pred"].fill_null(np.nan).to_numpy())
        corrected_raw = corrected(raw, smearing_factors(booster, series))
        step = step.with_columns(pl.Series("_pred", corrected_raw))
        parts.append(step.filter(pl.col(time_col).is_not_null()))
    return pl.concat(parts)
