"""String covariates are coded by the categories seen at fit, whatever frame comes later."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import polars as pl
import pytest

import salesforecast as sf

KEYS = ["store_id", "product_id"]


@pytest.fixture(scope="module")
def panel() -> pl.DataFrame:
    df = sf.generate_sales(n_stores=3, n_products=4, start="2022-06-01", end="2023-06-30", seed=11)
    # A string known-future column: the kind of promotion planned for each day.
    return df.with_columns(
        pl.when(pl.col("promo"))
        .then(pl.when(pl.col("discount") > 0.2).then(pl.lit("deep")).otherwise(pl.lit("light")))
        .otherwise(pl.lit("none"))
        .alias("promo_kind")
    )


def forecaster() -> sf.Forecaster:
    return sf.Forecaster(
        [sf.LightGBM(n_estimators=60, learning_rate=0.1), sf.SeasonalNaive()],
        sf.FeatureSpec(lags=[7, 14], calendar=["dayofweek"]),
        freq="1d",
        horizon=14,
        cv_windows=1,
        static_features=["category", "store_size"],
        known_future=["price", "promo_kind"],
    )


@pytest.fixture(scope="module")
def fitted(panel: pl.DataFrame) -> tuple[sf.Forecaster, pl.DataFrame, pl.DataFrame]:
    train, test = sf.time_split(panel, test_periods=14)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", sf.errors.UndeclaredColumnsWarning)
        fc = forecaster().fit(train)
    return fc, train, test


def test_categories_are_fixed_at_fit(
    fitted: tuple[sf.Forecaster, pl.DataFrame, pl.DataFrame],
) -> None:
    fc, train, _ = fitted
    assert fc.categories["category"] == sorted(train["category"].unique().to_list())
    assert fc.categories["promo_kind"] == ["deep", "light", "none"]
    history = fc.history
    assert history is not None
    assert history["category"].dtype == pl.String
    assert set(history["category"].unique()) == set(train["category"].unique())


def test_a_subset_of_series_forecasts_the_same(
    fitted: tuple[sf.Forecaster, pl.DataFrame, pl.DataFrame],
) -> None:
    fc, train, test = fitted
    full = fc.predict(future=test)
    # One series alone: its category is the only one in the frame, and not the first sorted.
    one = train.filter(pl.col("category") == fc.categories["category"][-1]).select(KEYS).head(1)
    alone = fc.predict(
        new_df=train.join(one, on=KEYS, how="semi"), future=test.join(one, on=KEYS, how="semi")
    )
    expected = full.join(one, on=KEYS, how="semi")
    np.testing.assert_allclose(alone["lightgbm"].to_numpy(), expected["lightgbm"].to_numpy())


def test_string_known_future_columns_predict(
    fitted: tuple[sf.Forecaster, pl.DataFrame, pl.DataFrame],
) -> None:
    fc, _, test = fitted
    pred = fc.predict(future=test)
    assert pred.height == test.height
    assert pred["lightgbm"].is_finite().all()


def test_unseen_categories_are_missing_with_a_warning(
    fitted: tuple[sf.Forecaster, pl.DataFrame, pl.DataFrame],
) -> None:
    fc, train, test = fitted
    future = test.with_columns(
        pl.when(pl.col("promo_kind") == "deep")
        .then(pl.lit("clearance"))
        .otherwise(pl.col("promo_kind"))
        .alias("promo_kind")
    )
    with pytest.warns(UserWarning, match=r"promo_kind.*clearance"):
        pred = fc.predict(future=future)
    assert pred["lightgbm"].is_finite().all()
    new = train.with_columns(pl.lit("frozen").alias("category"))
    with pytest.warns(UserWarning, match=r"category.*frozen"):
        pred = fc.predict(new_df=new, future=test)
    assert pred["lightgbm"].is_finite().all()


def test_categories_survive_the_bundle(
    fitted: tuple[sf.Forecaster, pl.DataFrame, pl.DataFrame], tmp_path: Path
) -> None:
    fc, train, test = fitted
    fc.save(tmp_path / "b")
    loaded = sf.Forecaster.load(tmp_path / "b")
    assert loaded.categories == fc.categories
    assert loaded.predict(future=test).equals(fc.predict(future=test))
    one = train.select(KEYS).unique().sort(KEYS).tail(1)
    alone = loaded.predict(
        new_df=train.join(one, on=KEYS, how="semi"), future=test.join(one, on=KEYS, how="semi")
    )
    assert alone.equals(fc.predict(future=test).join(one, on=KEYS, how="semi"))
