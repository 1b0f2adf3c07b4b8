"""Recursive prediction speed: 10,000 series x 28 days, salesforecast vs mlforecast `predict`.

Both fit LightGBM (100 rounds, 2 threads) on 10,000 series x 1,000 days with lags 7/14/28,
rolling means over 7 and 28 days of the target lagged by 7 and an expanding mean; only the
28-step recursive prediction is timed (best of 3 after a warm-up).

Run: make bench-venv && benchmarks/.venv/bin/python benchmarks/predict.py
"""

from __future__ import annotations

import sys
import time
from typing import Any

from features import make_panel

THREADS, H = 2, 28


def ours(df: Any) -> float:
    import salesforecast as sf

    spec = sf.FeatureSpec(
        lags=[7, 14, 28],
        rolling=[sf.Rolling(window=7, lag=7), sf.Rolling(window=28, lag=7)],
        expanding=[sf.Expanding(lag=1)],
    )
    fc = sf.Forecaster(
        [sf.LightGBM(n_estimators=100, n_threads=THREADS)],
        spec,
        freq="1d",
        horizon=H,
        ensemble=None,
        cv_windows=1,
        id_col="unique_id",
        time_col="ds",
        target_col="y",
        n_threads=THREADS,
    ).fit(df)
    return best_of(lambda: fc.predict(H))


def theirs(df: Any) -> float:
    import lightgbm as lgb
    from mlforecast import MLForecast
    from mlforecast.lag_transforms import ExpandingMean, RollingMean

    fcst = MLForecast(
        models=[lgb.LGBMRegressor(n_estimators=100, n_jobs=THREADS, verbosity=-1)],
        freq="D",
        lags=[7, 14, 28],
        lag_transforms={7: [RollingMean(7), RollingMean(28)], 1: [ExpandingMean()]},
        num_threads=THREADS,
    )
    fcst.fit(df.to_pandas())
    return best_of(lambda: fcst.predict(H))


def best_of(fn: Any) -> float:
    fn()
    times = []
    for _ in range(3):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def main() -> None:
    df = make_panel(10_000, 1_000)
    which = sys.argv[1:] or ["salesforecast", "mlforecast"]
    for name in which:
        seconds = ours(df) if name == "salesforecast" else theirs(df)
        print(
            f"{name}: predict 10,000 series x {H} days in {seconds:.2f} s (best of 3)", flush=True
        )


if __name__ == "__main__":
    main()
