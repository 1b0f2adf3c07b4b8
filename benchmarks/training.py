"""Booster training through Rust vs the Python lightgbm / xgboost packages, same data and params.

1 M rows x 30 features, 200 rounds, 2 threads. Each variant runs in its own process (time: best
and median of 3 after a warm-up; peak RSS over the input). "ours + py imported" trains through
Rust in a process that has also imported the Python packages (three OpenMP runtimes loaded), to
show nothing oversubscribes the cores.

Run (after `make bench-venv`): benchmarks/.venv/bin/python benchmarks/training.py
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import time
from typing import Any

from memory import reset_peak, status_mib

ROWS, COLS, ROUNDS, THREADS, RUNS = 1_000_000, 30, 200, 2, 3


def make_data() -> tuple[Any, Any]:
    import numpy as np

    rng = np.random.default_rng(0)
    x = rng.normal(size=(ROWS, COLS))
    y = 2 * x[:, 0] + np.sin(3 * x[:, 1]) + x[:, 2] * x[:, 3] + rng.normal(scale=0.5, size=ROWS)
    return x, y


def ours_lightgbm(x: Any, y: Any) -> Any:
    import salesforecast as sf

    model = sf.LightGBM(
        n_estimators=ROUNDS,
        learning_rate=0.1,
        num_leaves=31,
        colsample_bytree=1.0,
        min_child_samples=20,
        n_threads=THREADS,
    )
    return model.fit(x, y)


def py_lightgbm(x: Any, y: Any) -> Any:
    import lightgbm as lgb

    params = {
        "objective": "regression",
        "learning_rate": 0.1,
        "num_leaves": 31,
        "max_depth": -1,
        "min_data_in_leaf": 20,
        "feature_fraction": 1.0,
        "bagging_fraction": 1.0,
        "bagging_freq": 0,
        "lambda_l1": 0.0,
        "lambda_l2": 0.0,
        "seed": 0,
        "deterministic": True,
        "num_threads": THREADS,
        "verbosity": -1,
    }
    return lgb.train(params, lgb.Dataset(x, y), ROUNDS)


def ours_xgboost(x: Any, y: Any) -> Any:
    import salesforecast as sf

    model = sf.XGBoost(
        n_estimators=ROUNDS,
        learning_rate=0.1,
        max_depth=6,
        subsample=1.0,
        colsample_bytree=1.0,
        n_threads=THREADS,
    )
    return model.fit(x, y)


def py_xgboost(x: Any, y: Any) -> Any:
    import xgboost as xgb

    params = {
        "objective": "reg:squarederror",
        "eta": 0.1,
        "max_depth": 6,
        "min_child_weight": 1.0,
        "subsample": 1.0,
        "colsample_bytree": 1.0,
        "alpha": 0.0,
        "lambda": 1.0,
        "tree_method": "hist",
        "seed": 0,
        "nthread": THREADS,
        "verbosity": 0,
    }
    return xgb.train(params, xgb.DMatrix(x, y), ROUNDS)


VARIANTS = {
    "lightgbm: ours (Rust)": (ours_lightgbm, False),
    "lightgbm: ours + py imported": (ours_lightgbm, True),
    "lightgbm: Python package": (py_lightgbm, False),
    "xgboost: ours (Rust)": (ours_xgboost, False),
    "xgboost: ours + py imported": (ours_xgboost, True),
    "xgboost: Python package": (py_xgboost, False),
}


def child(name: str) -> None:
    fn, import_python_boosters = VARIANTS[name]
    if import_python_boosters:
        import lightgbm  # noqa: F401
        import xgboost  # noqa: F401
    x, y = make_data()
    reset_peak()
    baseline = status_mib("VmRSS")
    fn(x[:10_000], y[:10_000])  # warm-up: library load, thread pools
    times = []
    for _ in range(RUNS):
        t0 = time.perf_counter()
        fn(x, y)
        times.append(time.perf_counter() - t0)
    extra = status_mib("VmHWM") - baseline
    print(json.dumps({"times": times, "extra_mib": extra}))


def main() -> None:
    if len(sys.argv) == 3 and sys.argv[1] == "--child":
        child(sys.argv[2])
        return
    print(f"{ROWS:,} rows x {COLS} features, {ROUNDS} rounds, {THREADS} threads")
    print("| variant | best s | median s | peak RSS over input MiB |")
    print("|---|---:|---:|---:|")
    best: dict[str, float] = {}
    for name in VARIANTS:
        proc = subprocess.run(
            [sys.executable, __file__, "--child", name], capture_output=True, text=True, check=True
        )
        r = json.loads(proc.stdout.strip().splitlines()[-1])
        best[name] = min(r["times"])
        median = statistics.median(r["times"])
        print(f"| {name} | {best[name]:.2f} | {median:.2f} | {r['extra_mib']:.0f} |")
    for lib in ("lightgbm", "xgboost"):
        ratio = best[f"{lib}: ours (Rust)"] / best[f"{lib}: Python package"]
        print(f"{lib}: time ratio ours / Python = {ratio:.2f}")


if __name__ == "__main__":
    main()
