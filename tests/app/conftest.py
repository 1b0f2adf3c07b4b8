"""A fitted model for the app's tests: a bundle and its backtest on disk, the history it was
fitted on, and which product reacts most to promotions."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import polars as pl
import pytest

import salesforecast as sf

MAIN = Path(sf.__file__).with_name("app") / "main.py"


@dataclass(frozen=True)
class AppModel:
    forecaster: sf.Forecaster
    bundle: Path
    backtest: Path
    history: pl.DataFrame
    cv: pl.DataFrame
    promo_series: dict[str, str]
    best_seller: dict[str, str]


@pytest.fixture(scope="session")
def app_model(tmp_path_factory: pytest.TempPathFactory) -> AppModel:
    root = tmp_path_factory.mktemp("app-model")
    history = sf.generate_sales(
        n_stores=4, n_products=8, start="2021-07-01", end="2023-06-30", seed=11
    ).select("store_id", "product_id", "date", "sales", "category", "price", "promo",
             "discount", "is_closed")  # fmt: skip
    fc = sf.Forecaster(
        [sf.LightGBM(n_estimators=200, learning_rate=0.05), sf.SeasonalNaive()],
        sf.FeatureSpec(lags=[7, 14, 28], rolling=[sf.Rolling(window=7, lag=7)],
                       calendar=["dayofweek", "month"], relative=["price"]),
        freq="1d",
        horizon=14,
        cv_windows=2,
        static_features=["category"],
        known_future=["price", "promo", "discount", "is_closed"],
    ).fit(history)  # fmt: skip
    cv = fc.cross_validation(history, n_windows=2)
    bundle = root / "bundle"
    fc.save(bundle)
    backtest = root / "backtest.parquet"
    cv.write_parquet(backtest)
    # The series whose sales rise most on promotion days, and the best seller (whose history
    # says most about its price response).
    uplift = (
        history.group_by("store_id", "product_id")
        .agg(
            (
                pl.col("sales").filter(pl.col("promo")).mean()
                / pl.col("sales").filter(~pl.col("promo")).mean()
            ).alias("uplift")
        )
        .sort("uplift", descending=True, nulls_last=True)
        .row(0, named=True)
    )
    best_seller = (
        history.group_by("store_id", "product_id")
        .agg(pl.col("sales").sum())
        .sort("sales", descending=True)
        .row(0, named=True)
    )
    return AppModel(
        fc, bundle, backtest, history, cv,
        promo_series={"store_id": uplift["store_id"], "product_id": uplift["product_id"]},
        best_seller={"store_id": best_seller["store_id"], "product_id": best_seller["product_id"]},
    )  # fmt: skip
