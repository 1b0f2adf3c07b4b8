"""Hyperparameter search with Optuna: each trial backtests the forecaster with sampled booster
parameters, and trials that fall behind are pruned from inside the Rust training loop.

>>> study, best = sf.tune(fc, train, n_trials=50, storage="sqlite:///optuna.db")  # doctest: +SKIP
>>> best.fit(train)                                                                # doctest: +SKIP

The objective is the backtest metric (``metric``, default MASE) of the tuned model(s) over the
last ``cv_windows`` windows of ``horizon`` periods of ``df``: give the training data, never the
final holdout. While a booster trains, its loss on the window after its training data is
reported to the trial every ``prune_every`` rounds, and ``optuna.TrialPruned`` raised in the
training callback stops the trial there. Processes that pass the same ``storage`` (an RDB URL:
SQLite, Postgres) and ``study_name`` share one study.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import polars as pl

from salesforecast.errors import InvalidArgumentError, SalesForecastError
from salesforecast.evaluation import METRICS, check_metric
from salesforecast.features import FeatureSpec
from salesforecast.forecast import Forecaster
from salesforecast.models import LightGBM, XGBoost

if TYPE_CHECKING:
    import optuna

log = logging.getLogger(__name__)

__all__ = ["METRICS", "default_search_space", "tune"]


Booster = LightGBM | XGBoost
SearchSpace = Mapping[str, Any]


def default_search_space(model: Booster) -> dict[str, Any]:
    """The documented default search space of a booster, as Optuna distributions.

    LightGBM: ``n_estimators`` 50-500 (log), ``learning_rate`` 0.01-0.3 (log), ``num_leaves``
    8-128 (log), ``min_child_samples`` 5-100 (log), ``subsample`` and ``colsample_bytree``
    0.5-1, ``reg_lambda`` 0.001-10 (log). XGBoost: the same rounds, rate, sampling and
    ``reg_lambda``, with ``max_depth`` 3-10 and ``min_child_weight`` 0.5-20 (log)."""
    from optuna.distributions import FloatDistribution, IntDistribution

    common = {
        "n_estimators": IntDistribution(50, 500, log=True),
        "learning_rate": FloatDistribution(0.01, 0.3, log=True),
        "subsample": FloatDistribution(0.5, 1.0),
        "colsample_bytree": FloatDistribution(0.5, 1.0),
        "reg_lambda": FloatDistribution(1e-3, 10.0, log=True),
    }
    if isinstance(model, LightGBM):
        return {
            **common,
            "num_leaves": IntDistribution(8, 128, log=True),
            "min_child_samples": IntDistribution(5, 100, log=True),
        }
    return {
        **common,
        "max_depth": IntDistribution(3, 10),
        "min_child_weight": FloatDistribution(0.5, 20.0, log=True),
    }


def _suggest(trial: optuna.Trial, name: str, distribution: Any) -> Any:
    from optuna.distributions import (
        CategoricalDistribution,
        FloatDistribution,
        IntDistribution,
    )

    if isinstance(distribution, FloatDistribution):
        return trial.suggest_float(
            name, distribution.low, distribution.high, log=distribution.log, step=distribution.step
        )
    if isinstance(distribution, IntDistribution):
        return trial.suggest_int(
            name, distribution.low, distribution.high, log=distribution.log, step=distribution.step
        )
    if isinstance(distribution, CategoricalDistribution):
        return trial.suggest_categorical(name, distribution.choices)
    raise InvalidArgumentError(
        f"invalid argument `search_space`: {name!r} is {distribution!r}; give an Optuna "
        "FloatDistribution, IntDistribution or CategoricalDistribution"
    )


def _spaces(
    forecaster: Forecaster, tuned: list[str], search_space: SearchSpace | None
) -> dict[str, dict[str, Any]]:
    """Search space per tuned model name. ``search_space`` is either one space (one tuned
    model) or a mapping of model name to space; a given space replaces the default whole."""
    models = dict(zip(forecaster.model_names, forecaster.models, strict=True))
    spaces = {}
    for name in tuned:
        model = models[name]
        assert isinstance(model, LightGBM | XGBoost)
        space: Any = default_search_space(model)
        if search_space is not None:
            nested = all(isinstance(v, Mapping) for v in search_space.values())
            if nested:
                if unknown_models := sorted(set(search_space) - set(tuned)):
                    raise InvalidArgumentError(
                        f"invalid argument `search_space`: {unknown_models} are not tuned "
                        f"models ({tuned})"
                    )
                space = search_space.get(name, space)
            elif len(tuned) == 1:
                space = search_space
            else:
                raise InvalidArgumentError(
                    "invalid argument `search_space`: several models are tuned; give a mapping "
                    f"of model name ({tuned}) to its space"
                )
        unknown = [p for p in space if p not in _parameter_names(model)]
        if unknown:
            raise InvalidArgumentError(
                f"invalid argument `search_space`: {unknown} are not parameters of {name}"
            )
        spaces[name] = dict(space)
    return spaces


def _parameter_names(model: Booster) -> set[str]:
    import inspect

    return {p for p in inspect.signature(type(model)).parameters if p != "native"}


def _as_forecaster(forecaster_or_model: Forecaster | Booster, **settings: Any) -> Forecaster:
    if isinstance(forecaster_or_model, Forecaster):
        if settings:
            raise InvalidArgumentError(
                f"invalid argument {sorted(settings)}: these are taken from the Forecaster"
            )
        return forecaster_or_model
    if isinstance(forecaster_or_model, LightGBM | XGBoost):
        features = settings.pop("features", None)
        if (
            not isinstance(features, FeatureSpec)
            or "freq" not in settings
            or ("horizon" not in settings)
        ):
            raise InvalidArgumentError(
                "invalid argument `features`/`freq`/`horizon`: tuning a single model needs the "
                "feature spec, frequency and horizon of the backtest (or pass a Forecaster)"
            )
        return Forecaster([forecaster_or_model], features, **settings)
    raise InvalidArgumentError(
        "invalid argument `forecaster_or_model`: expected a Forecaster, sf.LightGBM or "
        f"sf.XGBoost, got {type(forecaster_or_model).__name__}"
    )


def tune(
    forecaster_or_model: Forecaster | Booster,
    df: Any,
    n_trials: int | None = 20,
    *,
    metric: str = "mase",
    cv_windows: int = 2,
    models: Sequence[str] | None = None,
    storage: str | None = None,
    study_name: str | None = None,
    timeout: float | None = None,
    search_space: SearchSpace | None = None,
    seed: int = 0,
    prune_every: int = 10,
    **forecaster_settings: Any,
) -> tuple[optuna.Study, Forecaster]:
    """Tunes the boosters of a forecaster (or one booster, given with ``features``, ``freq``,
    ``horizon`` and any other Forecaster argument) and returns the Optuna study and an unfitted
    Forecaster with the best parameters.

    ``models`` names the boosters to tune (default: every booster; several are tuned jointly
    and scored by the mean of their metrics). ``search_space`` replaces the defaults of
    :func:`default_search_space`: a mapping of parameter name to an Optuna distribution, or of
    model name to such a mapping. ``storage``/``study_name`` make the study persistent and
    shared between processes (``load_if_exists``). ``n_trials`` counts this call's trials.
    """
    import optuna

    forecaster = _as_forecaster(forecaster_or_model, **forecaster_settings)
    check_metric(metric)
    if cv_windows < 1 or prune_every < 1:
        raise InvalidArgumentError(
            "invalid argument `cv_windows`/`prune_every`: both must be at least 1"
        )
    if n_trials is not None and n_trials < 1:
        raise InvalidArgumentError("invalid argument `n_trials`: must be at least 1 or None")
    boosters = [
        name
        for name, model in zip(forecaster.model_names, forecaster.models, strict=True)
        if isinstance(model, LightGBM | XGBoost)
    ]
    tuned = list(models) if models is not None else boosters
    if not tuned or any(name not in boosters for name in tuned):
        raise InvalidArgumentError(
            f"invalid argument `models`: {tuned} must name boosters of the forecaster ({boosters})"
        )
    spaces = _spaces(forecaster, tuned, search_space)
    study = optuna.create_study(
        storage=storage,
        study_name=study_name,
        direction="minimize",
        load_if_exists=True,
        pruner=optuna.pruners.MedianPruner(n_startup_trials=3, n_warmup_steps=2 * prune_every),
    )
    # A resumed study draws afresh rather than repeating its first trials' configurations.
    study.sampler = optuna.samplers.TPESampler(seed=seed + len(study.trials))
    study.set_user_attr("metric", metric)
    study.set_user_attr("models", tuned)
    scale = 1_000_000  # rounds per fit in the intermediate-value steps

    def objective(trial: optuna.Trial) -> float:
        params = {
            name: {p: _suggest(trial, f"{name}.{p}", d) for p, d in space.items()}
            for name, space in spaces.items()
        }
        candidate = forecaster.with_model_params(params)

        def report(fit: int, round_: int, values: dict[str, float]) -> None:
            if round_ % prune_every or not values:
                return
            trial.report(next(iter(values.values())), fit * scale + round_)
            if trial.should_prune():
                raise optuna.TrialPruned(f"pruned at fit {fit}, round {round_}")

        cv = candidate.backtest(df, n_windows=cv_windows, round_callback=report)
        scores = candidate.evaluate(cv, df, models=tuned, levels=()).filter(
            pl.col("scope") == "overall"
        )
        per_model = {
            name: float(scores.filter(pl.col("model") == name)[metric].mean())  # type: ignore[arg-type]
            for name in tuned
        }
        trial.set_user_attr("metrics", per_model)
        return sum(per_model.values()) / len(per_model)

    study.optimize(objective, n_trials=n_trials, timeout=timeout)
    completed = [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]
    if not completed:
        raise SalesForecastError(
            f"no trial of study {study.study_name!r} completed ({len(study.trials)} pruned or "
            "failed); run more trials"
        )
    best = study.best_trial.params
    best_params = {
        name: {p: best[f"{name}.{p}"] for p in space if f"{name}.{p}" in best}
        for name, space in spaces.items()
    }
    log.info("best %s %.4f with %s", metric, study.best_value, best_params)
    return study, forecaster.with_model_params(best_params)
