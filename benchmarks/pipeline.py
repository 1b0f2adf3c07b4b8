"""The whole backtest job three ways: salesforecast, mlforecast 1.1, and a plain pandas +
lightgbm + xgboost script.

Job: 500 synthetic series x 3 years daily; features lags 7/14/28, rolling mean over 7 and 28
days of the target lagged by 7, expanding mean, day of week and month, known-future price and
promo; LightGBM and XGBoost with the same parameters; 3 backtest windows of 28 days; an
ensemble; 80/95% intervals; WAPE and MASE. Each in its own process; time and peak RSS of the
whole job; accuracy on the same windows.

Run: make bench-venv && benchmarks/.venv/bin/python benchmarks/pipeline.py [--repeat N]
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import time
from typing import Any

from memory import reset_peak, status_mib

ROUNDS, LR, THREADS, H, WINDOWS = 200, 0.05, 2, 28, 3
LGB = {
    "n_estimators": ROUNDS,
    "learning_rate": LR,
    "num_leaves": 31,
    "min_child_samples": 20,
    "subsample": 1.0,
    "colsample_bytree": 1.0,
    "seed": 0,
}
XGB = {
    "n_estimators": ROUNDS,
    "learning_rate": LR,
    "max_depth": 6,
    "min_child_weight": 1.0,
    "subsample": 1.0,
    "colsample_bytree": 1.0,
    "seed": 0,
}


def data() -> Any:
    import salesforecast as sf

    df = sf.generate_sales(n_stores=25, n_products=20, start="2021-01-01", end="2023-12-31", seed=1)
    return df.with_columns(
        (df["store_id"] + "_" + df["product_id"]).alias("unique_id"),
        df["promo"].cast(float),
    ).select("unique_id", "date", "sales", "price", "promo")


def score(cv: Any, y: str, pred: str) -> dict[str, float]:
    wape = float((cv[pred] - cv[y]).abs().sum() / cv[y].abs().sum())
    cov = {}
    for level in (80, 95):
        lo, hi = f"{pred}-lo-{level}", f"{pred}-hi-{level}"
        if lo in cv.columns:
            cov[f"coverage_{level}"] = float(((cv[y] >= cv[lo]) & (cv[y] <= cv[hi])).mean())
    return {"wape": wape, **cov, "rows": cv.height}


def run_ours(df: Any, calibration_windows: int = 2) -> dict[str, float]:
    import salesforecast as sf

    spec = sf.FeatureSpec(
        lags=[7, 14, 28],
        rolling=[sf.Rolling(window=7, lag=7), sf.Rolling(window=28, lag=7)],
        expanding=[sf.Expanding(lag=1)],
        calendar=["dayofweek", "month"],
    )
    fc = sf.Forecaster(
        [sf.LightGBM(n_threads=THREADS, **LGB), sf.XGBoost(n_threads=THREADS, **XGB)],
        spec,
        freq="1d",
        horizon=H,
        ensemble="mean",
        levels=[80, 95],
        cv_windows=calibration_windows,
        id_col="unique_id",
        known_future=["price", "promo"],
        n_threads=THREADS,
    )
    cv = fc.cross_validation(df, n_windows=WINDOWS, h=H, step=H)
    sf.evaluate(cv, df, id_col="unique_id", models=["lightgbm", "xgboost", "ensemble"])
    return score(cv, "sales", "ensemble")


def run_mlforecast(df: Any) -> dict[str, float]:
    import lightgbm as lgb
    import xgboost as xgb
    from mlforecast import MLForecast
    from mlforecast.lag_transforms import ExpandingMean, RollingMean
    from mlforecast.utils import PredictionIntervals

    pdf = df.rename({"date": "ds", "sales": "y"}).to_pandas()
    lgb_params = {k: v for k, v in LGB.items() if k != "seed"} | {
        "random_state": 0,
        "n_jobs": THREADS,
        "verbosity": -1,
    }
    xgb_params = {k: v for k, v in XGB.items() if k != "seed"} | {
        "random_state": 0,
        "n_jobs": THREADS,
        "tree_method": "hist",
    }
    fcst = MLForecast(
        models={
            "lightgbm": lgb.LGBMRegressor(**lgb_params),
            "xgboost": xgb.XGBRegressor(**xgb_params),
        },
        freq="D",
        lags=[7, 14, 28],
        lag_transforms={7: [RollingMean(7), RollingMean(28)], 1: [ExpandingMean()]},
        date_features=["dayofweek", "month"],
        num_threads=THREADS,
    )
    cv = fcst.cross_validation(
        pdf,
        n_windows=WINDOWS,
        h=H,
        step_size=H,
        static_features=[],
        prediction_intervals=PredictionIntervals(n_windows=2, h=H),
        level=[80, 95],
    )
    cv["ensemble"] = (cv["lightgbm"] + cv["xgboost"]) / 2
    for level in (80, 95):
        for side in ("lo", "hi"):
            cv[f"ensemble-{side}-{level}"] = (
                cv[f"lightgbm-{side}-{level}"] + cv[f"xgboost-{side}-{level}"]
            ) / 2
    import polars as pl

    return score(pl.from_pandas(cv), "y", "ensemble")


def run_pandas(df: Any) -> dict[str, float]:
    import lightgbm as lgb
    import numpy as np
    import pandas as pd
    import xgboost as xgb

    pdf = df.to_pandas().sort_values(["unique_id", "date"]).reset_index(drop=True)

    def features(frame: pd.DataFrame) -> pd.DataFrame:
        g = frame.groupby("unique_id", sort=False)["sales"]
        out = frame.copy()
        for lag in (7, 14, 28):
            out[f"lag{lag}"] = g.shift(lag)
        out["roll7"] = g.transform(lambda s: s.shift(7).rolling(7).mean())
        out["roll28"] = g.transform(lambda s: s.shift(7).rolling(28).mean())
        out["expanding"] = g.transform(lambda s: s.shift(1).expanding().mean())
        out["dayofweek"] = out["date"].dt.dayofweek
        out["month"] = out["date"].dt.month
        return out

    cols = [
        "lag7",
        "lag14",
        "lag28",
        "roll7",
        "roll28",
        "expanding",
        "dayofweek",
        "month",
        "price",
        "promo",
    ]
    end = pdf["date"].max()
    results = []
    for w in range(WINDOWS):
        cutoff = end - pd.Timedelta(days=H * (WINDOWS - w))
        train = pdf[pdf["date"] <= cutoff]
        test = pdf[(pdf["date"] > cutoff) & (pdf["date"] <= cutoff + pd.Timedelta(days=H))]
        feats = features(train).dropna(subset=["lag28"])
        calib_cut = cutoff - pd.Timedelta(days=H)
        models = {
            "lightgbm": lgb.LGBMRegressor(
                **{k: v for k, v in LGB.items() if k != "seed"},
                random_state=0,
                n_jobs=THREADS,
                verbosity=-1,
            ),
            "xgboost": xgb.XGBRegressor(
                **{k: v for k, v in XGB.items() if k != "seed"},
                random_state=0,
                n_jobs=THREADS,
                tree_method="hist",
            ),
        }
        preds = {}
        for name, model in models.items():
            model.fit(feats[cols], feats["sales"])
            # Recursive forecast: recompute the features on history + predictions each day.
            hist = train.copy()
            for day in range(1, H + 1):
                date = cutoff + pd.Timedelta(days=day)
                new = test[test["date"] == date].copy()
                new["sales"] = np.nan
                hist = pd.concat([hist, new], ignore_index=True)
                f = features(hist)
                mask = hist["date"] == date
                hist.loc[mask, "sales"] = model.predict(f.loc[mask, cols])
            ahead = hist[hist["date"] > cutoff].sort_values(["unique_id", "date"])
            preds[name] = ahead["sales"].to_numpy()
            # Interval half-widths from in-sample residuals of the last month before the cutoff.
            recent = feats[feats["date"] > calib_cut]
            resid = recent["sales"] - model.predict(recent[cols])
            preds[name + "_q"] = {lv: np.quantile(np.abs(resid), lv / 100) for lv in (80, 95)}
        out = test.sort_values(["unique_id", "date"]).copy()
        out["ensemble"] = (preds["lightgbm"] + preds["xgboost"]) / 2
        for lv in (80, 95):
            q = (preds["lightgbm_q"][lv] + preds["xgboost_q"][lv]) / 2
            out[f"ensemble-lo-{lv}"] = out["ensemble"] - q
            out[f"ensemble-hi-{lv}"] = out["ensemble"] + q
        results.append(out)
    import polars as pl

    return score(pl.from_pandas(pd.concat(results)), "sales", "ensemble")


METHODS = {
    "salesforecast": run_ours,
    # Our default: four calibration windows (mlforecast and the row above use two).
    "salesforecast, 4 calibration windows": lambda df: run_ours(df, calibration_windows=4),
    "mlforecast": run_mlforecast,
    "pandas script": run_pandas,
}


def child(method: str) -> None:
    df = data()
    reset_peak()
    base = status_mib("VmRSS")
    t0 = time.perf_counter()
    result = METHODS[method](df)
    seconds = time.perf_counter() - t0
    peak = status_mib("VmHWM")
    print(json.dumps(result | {"seconds": seconds, "peak_extra_mib": peak - base}))


def main() -> None:
    if len(sys.argv) == 3 and sys.argv[1] == "--child":
        child(sys.argv[2])
        return
    repeats = int(sys.argv[sys.argv.index("--repeat") + 1]) if "--repeat" in sys.argv else 3
    print(
        f"500 series x 1095 days, {WINDOWS} windows x {H} days, {ROUNDS} rounds, "
        f"{THREADS} threads; each method {repeats} times, interleaved, each in a fresh process"
    )
    runs: dict[str, list[dict[str, float]]] = {m: [] for m in METHODS}
    failures: dict[str, str] = {}
    for _ in range(repeats):
        for method in METHODS:
            proc = subprocess.run(
                [sys.executable, __file__, "--child", method], capture_output=True, text=True
            )
            if proc.returncode != 0:
                failures[method] = proc.stderr.strip().splitlines()[-1][:200]
                continue
            runs[method].append(json.loads(proc.stdout.strip().splitlines()[-1]))
    header = ["method", "median s", "min-max s", "peak RSS over input MiB", "WAPE (ensemble)"]
    print("| " + " | ".join([*header, "coverage 80", "coverage 95"]) + " |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for method, results in runs.items():
        if not results:
            print(f"| {method} | failed: {failures.get(method, '')} |")
            continue
        seconds = sorted(r["seconds"] for r in results)
        r = results[0]
        cells = [
            method,
            f"{statistics.median(seconds):.1f}",
            f"{seconds[0]:.1f}-{seconds[-1]:.1f}",
            f"{max(x['peak_extra_mib'] for x in results):.0f}",
            f"{r['wape']:.4f}",
            f"{r.get('coverage_80', float('nan')):.3f}",
            f"{r.get('coverage_95', float('nan')):.3f}",
        ]
        print("| " + " | ".join(cells) + " |", flush=True)


if __name__ == "__main__":
    main()
