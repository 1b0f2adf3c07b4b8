"""Tuning: sf.tune vs mlforecast's Optuna-based AutoMLForecast, same data, features, search
space, number of trials and sampler (TPE, seed 0); and our overhead beyond the booster fits.

Data: sf.generate_sales 5 stores x 20 products, 2021-01-01 .. 2023-12-31 (100 daily series);
the last 28 days are the final holdout, never seen while tuning. Both tune LightGBM on two
28-day backtest windows of the rest (each window refitted), scored by MASE (seasonal naive,
season 7); features lags 7/14/28, rolling means 7 and 28 of the target lagged by 7, day of
week and month. Then each best configuration is refitted on all the tuning data and scored on
the holdout.

Run: make bench-venv && benchmarks/.venv/bin/python benchmarks/tuning.py [n_trials]
"""

from __future__ import annotations

import sys
import time
from typing import Any

import polars as pl

H, WINDOWS, SEASON, THREADS = 28, 2, 7, 2


def panel() -> tuple[pl.DataFrame, pl.DataFrame]:
    import salesforecast as sf

    df = sf.generate_sales(n_stores=5, n_products=20, start="2021-01-01", end="2023-12-31", seed=1)
    df = df.select(
        pl.concat_str("store_id", "product_id", separator="/").alias("unique_id"),
        pl.col("date").alias("ds"),
        pl.col("sales").alias("y"),
    )
    train, test = sf.time_split(
        df, test_periods=H, id_col="unique_id", time_col="ds", target_col="y"
    )
    return train, test


def mase(pred: pl.DataFrame, train: pl.DataFrame, column: str) -> float:
    """Mean over series of MAE / in-sample seasonal-naive MAE."""
    scale = (
        train.sort("unique_id", "ds")
        .group_by("unique_id")
        .agg((pl.col("y") - pl.col("y").shift(SEASON)).abs().mean().alias("scale"))
    )
    per = (
        pred.group_by("unique_id")
        .agg((pl.col("y") - pl.col(column)).abs().mean().alias("mae"))
        .join(scale, on="unique_id")
    )
    return float((per["mae"] / per["scale"]).mean())


def search_space_ours() -> dict[str, Any]:
    import salesforecast as sf
    from salesforecast.tuning import default_search_space

    return default_search_space(sf.LightGBM())


def config_theirs(trial: Any) -> dict[str, Any]:
    """The same distributions as default_search_space(LightGBM()), LightGBM's own names."""
    space = search_space_ours()
    names = {
        "n_estimators": "n_estimators", "learning_rate": "learning_rate",
        "subsample": "subsample", "colsample_bytree": "colsample_bytree",
        "reg_lambda": "reg_lambda", "num_leaves": "num_leaves",
        "min_child_samples": "min_child_samples",
    }  # fmt: skip
    out = {}
    for ours, dist in space.items():
        if type(dist).__name__ == "IntDistribution":
            out[names[ours]] = trial.suggest_int(
                f"lightgbm.{ours}", dist.low, dist.high, log=dist.log
            )
        else:
            out[names[ours]] = trial.suggest_float(
                f"lightgbm.{ours}", dist.low, dist.high, log=dist.log
            )
    out["subsample_freq"] = 1
    return out


def ours(train: pl.DataFrame, test: pl.DataFrame, n_trials: int) -> dict[str, float]:
    import salesforecast as sf
    from salesforecast import models

    fit_seconds = [0.0]
    real_fit = models._Booster.fit

    def timed_fit(self: Any, *args: Any, **kwargs: Any) -> Any:
        t0 = time.perf_counter()
        try:
            return real_fit(self, *args, **kwargs)
        finally:
            fit_seconds[0] += time.perf_counter() - t0

    models._Booster.fit = timed_fit  # type: ignore[method-assign]
    fc = sf.Forecaster(
        [sf.LightGBM(n_threads=THREADS)],
        sf.FeatureSpec(
            lags=[7, 14, 28],
            rolling=[sf.Rolling(window=7, lag=7), sf.Rolling(window=28, lag=7)],
            calendar=["dayofweek", "month"],
        ),
        freq="1d", horizon=H, id_col="unique_id", time_col="ds", target_col="y",
        season_length=SEASON, n_threads=THREADS, ensemble=None, cv_windows=1,
    )  # fmt: skip
    t0 = time.perf_counter()
    study, best = sf.tune(fc, train, n_trials=n_trials, cv_windows=WINDOWS, seed=0)
    tuning = time.perf_counter() - t0
    fits = fit_seconds[0]
    models._Booster.fit = real_fit  # type: ignore[method-assign]
    best.fit(train)
    pred = best.predict().join(test, on=["unique_id", "ds"])
    states = [t.state.name for t in study.trials]
    return {
        "tuning_s": tuning,
        "fit_s": fits,
        "overhead_share": (tuning - fits) / tuning,
        "best_cv_mase": float(study.best_value),
        "holdout_mase": mase(pred, train, "lightgbm"),
        "pruned": states.count("PRUNED"),
        "complete": states.count("COMPLETE"),
    }


def theirs(train: pl.DataFrame, test: pl.DataFrame, n_trials: int) -> dict[str, float]:
    import lightgbm as lgb
    import optuna
    from mlforecast.auto import AutoMLForecast, AutoModel
    from mlforecast.lag_transforms import RollingMean

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    train_pd = train.to_pandas()

    def loss(valid: Any, train_df: Any) -> float:
        return mase(pl.from_pandas(valid), pl.from_pandas(train_df), "model")

    def init_config(trial: Any) -> dict[str, Any]:
        return {
            "lags": [7, 14, 28],
            "lag_transforms": {7: [RollingMean(7), RollingMean(28)]},
            "date_features": ["dayofweek", "month"],
        }

    auto = AutoMLForecast(
        models={
            "lightgbm": AutoModel(lgb.LGBMRegressor(n_jobs=THREADS, verbosity=-1), config_theirs)
        },
        freq="1d",
        init_config=init_config,
        num_threads=THREADS,
    )
    t0 = time.perf_counter()
    auto.fit(train_pd, n_windows=WINDOWS, h=H, num_samples=n_trials, refit=True, loss=loss)
    tuning = time.perf_counter() - t0
    pred = pl.from_pandas(auto.predict(H)).with_columns(pl.col("ds").cast(pl.Date))
    study = auto.results_["lightgbm"]
    return {
        "tuning_s": tuning,
        "best_cv_mase": float(study.best_value),
        "holdout_mase": mase(pred.join(test, on=["unique_id", "ds"]), train, "lightgbm"),
    }


def main() -> None:
    n_trials = int(sys.argv[1]) if len(sys.argv) > 1 else 20
    train, test = panel()
    print(
        f"{train['unique_id'].n_unique()} series, {train.height:,} tuning rows, {n_trials} trials"
    )
    a = ours(train, test, n_trials)
    b = theirs(train, test, n_trials)
    print("| tool | trials | tuning s | best backtest MASE | holdout MASE of the best |")
    print("|---|---:|---:|---:|---:|")
    print(
        f"| salesforecast sf.tune | {n_trials} ({a['complete']} complete, {a['pruned']} pruned) | "
        f"{a['tuning_s']:.1f} | {a['best_cv_mase']:.4f} | {a['holdout_mase']:.4f} |"
    )
    print(
        f"| mlforecast AutoMLForecast | {n_trials} | {b['tuning_s']:.1f} | "
        f"{b['best_cv_mase']:.4f} | {b['holdout_mase']:.4f} |"
    )
    print(
        f"ours: booster fits {a['fit_s']:.1f} s of {a['tuning_s']:.1f} s; overhead beyond the fits "
        f"{100 * a['overhead_share']:.1f}% (goal < 10%)"
    )


if __name__ == "__main__":
    main()
