"""Feature engineering speed and memory: salesforecast vs mlforecast, polars and pandas.

Panel: 10,000 series x 1,000 days (10 M rows), string ids. Spec (8 features): lags 7, 14, 28;
rolling mean and std over windows 7 and 28 of the target lagged by 7; expanding mean of the
target lagged by 1. Each method runs in its own process: one warm-up, then 5 timed runs (best and
median); peak RSS is measured after the data is built (the kernel's peak counter is reset then).

Run (after `make build`): make bench-venv && benchmarks/.venv/bin/python benchmarks/features.py
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from typing import Any

from memory import reset_peak, status_mib

N_SERIES = 10_000
N_DAYS = 1_000
RUNS = 5


def make_panel(n_series: int, n_days: int) -> Any:
    import numpy as np
    import polars as pl

    rng = np.random.default_rng(0)
    ids = np.repeat(np.array([f"id_{i:05d}" for i in range(n_series)]), n_days)
    level = np.repeat(rng.gamma(2.0, 20.0, n_series), n_days)
    weekly = np.tile(1 + 0.3 * np.sin(np.arange(n_days) * 2 * np.pi / 7), n_series)
    y = rng.poisson(level * weekly).astype(np.float64)
    days = np.tile(np.arange(n_days), n_series)
    return pl.DataFrame({"unique_id": ids, "ds": days, "y": y}).with_columns(
        (pl.lit(18628) + pl.col("ds")).cast(pl.Date).alias("ds")
    )


def run_ours(df: Any, threads: int) -> Any:
    import salesforecast as sf

    spec = sf.FeatureSpec(
        lags=[7, 14, 28],
        rolling=[
            sf.Rolling(window=7, stats=["mean", "std"], lag=7),
            sf.Rolling(window=28, stats=["mean", "std"], lag=7),
        ],
        expanding=[sf.Expanding(stats=["mean"], lag=1)],
    )
    return sf.build_features(
        df, spec, id_col="unique_id", time_col="ds", target_col="y", freq="1d", n_threads=threads
    )


def run_mlforecast(pdf: Any, threads: int) -> Any:
    from mlforecast import MLForecast
    from mlforecast.lag_transforms import ExpandingMean, RollingMean, RollingStd
    from sklearn.linear_model import LinearRegression

    fcst = MLForecast(
        models=[LinearRegression()],
        freq="D",
        lags=[7, 14, 28],
        lag_transforms={
            7: [RollingMean(7), RollingStd(7), RollingMean(28), RollingStd(28)],
            1: [ExpandingMean()],
        },
        num_threads=threads,
    )
    return fcst.preprocess(pdf, dropna=False)


def run_polars(df: Any, threads: int) -> Any:
    import polars as pl

    y7 = pl.col("y").shift(7)
    y1 = pl.col("y").shift(1)
    exprs = [
        pl.col("y").shift(7).alias("lag7"),
        pl.col("y").shift(14).alias("lag14"),
        pl.col("y").shift(28).alias("lag28"),
        y7.rolling_mean(7).alias("rolling_mean_lag7_window7"),
        y7.rolling_std(7).alias("rolling_std_lag7_window7"),
        y7.rolling_mean(28).alias("rolling_mean_lag7_window28"),
        y7.rolling_std(28).alias("rolling_std_lag7_window28"),
        (y1.cum_sum() / y1.cum_count()).alias("expanding_mean_lag1"),
    ]
    return df.sort("unique_id", "ds").with_columns([e.over("unique_id") for e in exprs])


def run_pandas(pdf: Any, threads: int) -> Any:
    out = pdf.sort_values(["unique_id", "ds"]).copy()
    g = out.groupby("unique_id", sort=False)["y"]
    for lag in (7, 14, 28):
        out[f"lag{lag}"] = g.shift(lag)
    for w in (7, 28):
        out[f"rolling_mean_lag7_window{w}"] = g.transform(
            lambda s, w=w: s.shift(7).rolling(w).mean()
        )
        out[f"rolling_std_lag7_window{w}"] = g.transform(lambda s, w=w: s.shift(7).rolling(w).std())
    out["expanding_mean_lag1"] = g.transform(lambda s: s.shift(1).expanding().mean())
    return out


METHODS = {
    "salesforecast": run_ours,
    "mlforecast": run_mlforecast,
    "polars": run_polars,
    "pandas": run_pandas,
}


def child(method: str, threads: int, n_series: int, n_days: int = N_DAYS) -> None:
    df = make_panel(n_series, n_days)
    data = df.to_pandas() if method in ("mlforecast", "pandas") else df
    del df
    fn = METHODS[method]
    reset_peak()  # the input is built, nothing else yet
    baseline = status_mib("VmRSS")
    warm = fn(data, threads)  # warm-up (imports, allocator); counted in the peak
    output_mib = _frame_mib(warm)
    del warm
    times = []
    for _ in range(RUNS):
        t0 = time.perf_counter()
        out = fn(data, threads)
        times.append(time.perf_counter() - t0)
        del out
    peak = status_mib("VmHWM")
    result = {"times": times, "baseline_mib": baseline, "peak_mib": peak}
    print(json.dumps(result | {"output_mib": output_mib}))


def _frame_mib(frame: Any) -> float:
    if hasattr(frame, "estimated_size"):
        return float(frame.estimated_size("mb"))
    return float(frame.memory_usage(deep=False).sum()) / 2**20


def check_against_mlforecast() -> float:
    """Largest absolute difference between our features and mlforecast's on 200 series."""
    import numpy as np

    df = make_panel(200, N_DAYS)
    ours = run_ours(df, 2).sort("unique_id", "ds")
    theirs = run_mlforecast(df.to_pandas(), 2).sort_values(["unique_id", "ds"])
    worst = 0.0
    for col in [c for c in ours.columns if c not in ("unique_id", "ds", "y")]:
        a = ours[col].to_numpy()
        b = theirs[col.replace("_window", "_window_size")].to_numpy()
        assert np.array_equal(np.isnan(a), np.isnan(b)), col
        worst = max(worst, float(np.nanmax(np.abs(a - b))))
    return worst


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--child", nargs=4, metavar=("METHOD", "THREADS", "SERIES", "DAYS"))
    parser.add_argument(
        "--m5-size", action="store_true", help="only ours, at M5 size (30,490 x 1,941), peak RSS"
    )
    parser.add_argument("--series", type=int, default=N_SERIES)
    parser.add_argument("--methods", default="salesforecast,mlforecast,polars,pandas")
    args = parser.parse_args()
    if args.child:
        child(args.child[0], int(args.child[1]), int(args.child[2]), int(args.child[3]))
        return
    if args.m5_size:
        for threads in (1, 2):
            cmd = [
                sys.executable,
                __file__,
                "--child",
                "salesforecast",
                str(threads),
                "30490",
                "1941",
            ]
            proc = subprocess.run(cmd, capture_output=True, text=True, check=True)
            r = json.loads(proc.stdout.strip().splitlines()[-1])
            peak, base = r["peak_mib"] / 1024, r["baseline_mib"] / 1024
            print(
                f"M5 size, 59.2 M rows, {threads} thread(s): best {min(r['times']):.2f} s, "
                f"peak RSS {peak:.2f} GiB (input {base:.2f} GiB)"
            )
        return
    print(f"max |ours - mlforecast| on 200 series: {check_against_mlforecast():.3g}")
    rows = args.series * N_DAYS
    print(f"{args.series} series x {N_DAYS} days = {rows / 1e6:.0f} M rows, 8 features")
    header = ["method", "threads", "best s", "median s", "M rows/s (best)"]
    header += ["peak RSS over input MiB", "output MiB"]
    print("| " + " | ".join(header) + " |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    results = {}
    for method in args.methods.split(","):
        for threads in (1, 2) if method != "pandas" else (1,):
            env = dict(os.environ, POLARS_MAX_THREADS=str(threads))
            proc = subprocess.run(
                [
                    sys.executable,
                    __file__,
                    "--child",
                    method,
                    str(threads),
                    str(args.series),
                    str(N_DAYS),
                ],
                capture_output=True,
                text=True,
                env=env,
                check=False,
            )
            if proc.returncode != 0:
                print(f"| {method} | {threads} | failed: {proc.stderr.strip().splitlines()[-1]} |")
                continue
            r = json.loads(proc.stdout.strip().splitlines()[-1])
            best, median = min(r["times"]), statistics.median(r["times"])
            results[(method, threads)] = best
            extra = r["peak_mib"] - r["baseline_mib"]
            speed = rows / best / 1e6
            cells = [method, threads, f"{best:.2f}", f"{median:.2f}", f"{speed:.1f}"]
            cells += [f"{extra:.0f}", f"{r['output_mib']:.0f}"]
            print("| " + " | ".join(map(str, cells)) + " |")
    for threads in (1, 2):
        if ("salesforecast", threads) in results and ("mlforecast", threads) in results:
            ratio = results[("mlforecast", threads)] / results[("salesforecast", threads)]
            print(f"speed-up over mlforecast with {threads} thread(s): {ratio:.1f}x")


if __name__ == "__main__":
    main()
