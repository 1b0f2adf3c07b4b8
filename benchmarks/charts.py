"""Chart rendering speed: every chart of a 200-series run (10 stores x 20 products x 2 years,
2 backtest windows of 28 days), as PNG and as SVG, and the whole HTML report.

Run: make build && .venv/bin/python benchmarks/charts.py
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import optuna

import salesforecast as sf


def run() -> dict[str, Any]:
    df = sf.generate_sales(n_stores=10, n_products=20, start="2022-01-01", end="2023-12-31", seed=1)
    spec = sf.FeatureSpec(
        lags=[7, 14, 28],
        rolling=[sf.Rolling(window=7, lag=7), sf.Rolling(window=28, lag=7)],
        expanding=[sf.Expanding(lag=1)],
        calendar=["dayofweek", "month"],
        target_transforms=["log1p"],
    )
    fc = sf.Forecaster(
        [
            sf.LightGBM(n_estimators=80, learning_rate=0.1),
            sf.XGBoost(n_estimators=80, learning_rate=0.1),
            sf.SeasonalNaive(7),
        ],
        spec,
        freq="1d",
        horizon=28,
        static_features=["category"],
        known_future=["price", "promo"],
    )
    cv = fc.cross_validation(df, n_windows=2)
    train, test = sf.time_split(df, test_periods=28)
    fc.fit(train)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(study_name="bench")
    study.optimize(lambda t: (t.suggest_float("x", -1, 1) - 0.2) ** 2, n_trials=50)
    return {
        "df": df,
        "fc": fc,
        "cv": cv,
        "train": train,
        "test": test,
        "pred": fc.predict(future=test),
        "scores": sf.evaluate(cv, df),
        "study": study,
    }


def all_charts(r: dict[str, Any], fmt: Any) -> None:
    p = sf.plots
    p.forecast(r["pred"], r["train"], actuals=r["test"], format=fmt)
    p.forecast(r["pred"], r["train"], series={"store_id": "S01", "product_id": "P01"}, format=fmt)
    p.backtest(r["cv"], r["df"], format=fmt)
    p.residuals(r["cv"], format=fmt)
    p.importance(r["fc"], format=fmt)
    p.comparison(r["scores"], format=fmt)
    p.segment_heatmap(r["cv"], r["df"], format=fmt)
    p.coverage(r["cv"], format=fmt)
    p.optuna_study(r["study"], format=fmt)
    p.weights(r["fc"], format=fmt)


def best_of(fn: Callable[[], object], repeats: int = 5) -> tuple[float, float]:
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times), sorted(times)[len(times) // 2]


def main() -> None:
    r = run()
    n = r["cv"].select(["store_id", "product_id"]).n_unique()
    print(f"{n} series, {r['cv'].height} backtest rows; 10 charts each")
    print("| what | best s | median s |")
    print("|---|---:|---:|")
    for fmt in ("png", "svg"):
        best, median = best_of(lambda fmt=fmt: all_charts(r, fmt))
        print(f"| all 10 charts, {fmt} | {best:.3f} | {median:.3f} |")
    best, median = best_of(
        lambda: sf.report(
            r["fc"],
            r["cv"],
            "/tmp/salesforecast-bench-report",
            history=r["df"],
            validation=sf.validate(r["df"]),
            study=r["study"],
        )
    )
    print(f"| sf.report (10 SVG charts, tables, metrics.json) | {best:.3f} | {median:.3f} |")


if __name__ == "__main__":
    main()
