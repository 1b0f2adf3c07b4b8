"""salesforecast's boosters and the Python lightgbm / xgboost / polars packages share a process.

Three OpenMP runtimes end up loaded (ours bundles LightGBM's libgomp and XGBoost's, and each Python
wheel brings its own); each import order must train with every library, and models must cross
between our Rust path and the Python packages with identical predictions.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import pytest

SCRIPT = textwrap.dedent(
    """
    import json, sys
    for name in sys.argv[1].split(","):
        __import__(name)
    import lightgbm as lgb
    import numpy as np
    import polars as pl
    import xgboost as xgb
    import salesforecast as sf

    rng = np.random.default_rng(0)
    X = rng.normal(size=(4000, 6))
    y = 3 * X[:, 0] + np.sin(2 * X[:, 1]) + rng.normal(scale=0.1, size=4000)
    out = {}

    ours_lgb = sf.LightGBM(n_estimators=60, learning_rate=0.2, n_threads=2).fit(X, y)
    ours_xgb = sf.XGBoost(n_estimators=60, learning_rate=0.2, n_threads=2).fit(X, y)
    lgb_params = {"verbosity": -1, "num_threads": 2, "learning_rate": 0.2}
    py_lgb = lgb.train(lgb_params, lgb.Dataset(X, y), 60)
    py_xgb = xgb.train({"nthread": 2, "eta": 0.2}, xgb.DMatrix(X, y), 60)
    df = sf.generate_sales(n_stores=3, n_products=4, start="2023-01-01", end="2023-06-30")
    out["generated_rows"] = df.height
    out["polars_mean"] = float(pl.DataFrame({"y": y})["y"].mean())

    def r2(p):
        return float(1 - np.mean((y - p) ** 2) / np.var(y))

    out["r2"] = {
        "ours_lgb": r2(ours_lgb.predict(X)),
        "ours_xgb": r2(ours_xgb.predict(X)),
        "py_lgb": r2(py_lgb.predict(X)),
        "py_xgb": r2(py_xgb.predict(xgb.DMatrix(X))),
    }
    # Our native files opened by the Python packages.
    lgb_text = ours_lgb.to_native().decode()
    loaded_lgb = lgb.Booster(model_str=lgb_text)
    out["lgb_max_diff"] = float(np.max(np.abs(loaded_lgb.predict(X) - ours_lgb.predict(X))))
    loaded_xgb = xgb.Booster()
    loaded_xgb.load_model(bytearray(ours_xgb.to_native()))
    out["xgb_max_diff"] = float(
        np.max(np.abs(loaded_xgb.predict(xgb.DMatrix(X)) - ours_xgb.predict(X)))
    )
    with open("/proc/self/maps") as maps:
        libs = {line.split()[-1] for line in maps if "libgomp" in line}
    out["openmp_runtimes"] = sorted(libs)
    print(json.dumps(out))
    """
)

ORDERS = [
    "salesforecast,lightgbm,xgboost,polars",
    "lightgbm,xgboost,salesforecast,polars",
    "xgboost,polars,salesforecast,lightgbm",
]


@pytest.mark.parametrize("order", ORDERS)
def test_every_import_order_trains_with_every_library(order: str) -> None:
    proc = subprocess.run(
        [sys.executable, "-c", SCRIPT, order], capture_output=True, text=True, timeout=300
    )
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert result["generated_rows"] == 12 * 181
    for name, score in result["r2"].items():
        assert score > 0.95, (name, score)
    assert result["lgb_max_diff"] <= 1e-6
    assert result["xgb_max_diff"] <= 1e-6
    # Several OpenMP runtimes coexist; each is loaded once.
    assert len(result["openmp_runtimes"]) >= 2
