"""Known-future baselines and planning scenarios, read off the history rather than column
names."""

from __future__ import annotations

import datetime as dt

import polars as pl
import pytest

import salesforecast as sf
from salesforecast import scenario
from salesforecast.errors import InvalidArgumentError


@pytest.fixture(scope="module")
def fitted() -> sf.Forecaster:
    df = sf.generate_sales(n_stores=1, n_products=2, start="2023-01-01", end="2023-06-30", seed=3)
    df = df.with_columns(pl.lit("north").alias("region")).select(
        "store_id",
        "product_id",
        "date",
        "sales",
        "price",
        "promo",
        "discount",
        "is_closed",
        "region",
    )
    return sf.Forecaster(
        [sf.SeasonalNaive()],
        sf.FeatureSpec(lags=[7]),
        freq="1d",
        horizon=5,
        cv_windows=1,
        known_future=["price", "promo", "discount", "is_closed", "region"],
    ).fit(df)


def test_controls_are_read_off_the_history(fitted: sf.Forecaster) -> None:
    kinds = {c.column: c for c in scenario.controls(fitted)}
    assert kinds["promo"].kind == "days"
    assert kinds["is_closed"].kind == "days"
    assert kinds["discount"].kind == "amount_on_days"
    assert kinds["discount"].days_column == "promo"
    assert kinds["discount"].default > 0  # the typical discount of a promotion day
    assert kinds["price"].kind == "percent"
    assert kinds["region"].kind == "category"
    assert kinds["region"].options == ("north",)


def test_baseline_has_no_promotion_and_the_last_price(fitted: sf.Forecaster) -> None:
    history = fitted.history
    assert history is not None
    base = scenario.baseline(fitted)
    assert base.height == 2 * 5
    assert str(base["date"].min()) == "2023-07-01"
    assert not base["promo"].any()
    assert not base["is_closed"].any()
    ordinary = history.filter(~pl.col("promo") & ~pl.col("is_closed"))
    last = ordinary.sort("date").group_by("product_id").last()
    prices = dict(zip(last["product_id"], last["price"], strict=True))
    for row in base.iter_rows(named=True):
        assert row["price"] == prices[row["product_id"]]


def test_apply_sets_days_amounts_and_percentages(fitted: sf.Forecaster) -> None:
    base = scenario.baseline(fitted)
    days = [dt.date(2023, 7, 2), dt.date(2023, 7, 3)]
    planned = scenario.apply(
        fitted, base, {"promo": days, "discount": 0.25, "price": 10, "is_closed": ["2023-07-05"]}
    )
    on = planned.filter(pl.col("date").is_in(days))
    assert on["promo"].all()
    assert on["discount"].to_list() == [0.25] * 4
    off = planned.filter(~pl.col("date").is_in(days))
    assert not off["promo"].any()
    assert (off["discount"] == 0).all()
    assert planned["price"].to_list() == pytest.approx([p * 1.1 for p in base["price"]])
    assert planned.filter(pl.col("is_closed"))["date"].unique().to_list() == [dt.date(2023, 7, 5)]
    # Promotion days without an amount take the typical discount.
    typical = next(c for c in scenario.controls(fitted) if c.column == "discount").default
    only_days = scenario.apply(fitted, base, {"promo": days})
    assert only_days.filter(pl.col("promo"))["discount"].unique().to_list() == [typical]


def test_apply_refuses_what_the_model_does_not_know(fitted: sf.Forecaster) -> None:
    base = scenario.baseline(fitted)
    with pytest.raises(InvalidArgumentError, match="weather"):
        scenario.apply(fitted, base, {"weather": 3})
    with pytest.raises(InvalidArgumentError, match="promo"):
        scenario.apply(fitted, base, {"promo": "2023-07-02"})
    with pytest.raises(InvalidArgumentError, match="south"):
        scenario.apply(fitted, base, {"region": "south"})
    with pytest.raises(InvalidArgumentError, match="`h`"):
        scenario.baseline(fitted, h=0)


def test_a_history_ending_in_a_promotion_gives_an_ordinary_baseline(
    fitted: sf.Forecaster,
) -> None:
    """The last day was a promotion: the baseline has no promotion, no discount and the shelf
    price of the last ordinary day, not the promotion's."""
    history = fitted.history
    assert history is not None
    one = history.filter(pl.col("product_id") == "P01").sort("date")
    ordinary = one.filter(~pl.col("promo") & ~pl.col("is_closed"))
    shelf = ordinary["price"][-1]
    ends_in_promo = one.with_columns(
        pl.when(pl.col("date") == pl.col("date").max()).then(True).otherwise(pl.col("promo"))
        .alias("promo"),
        pl.when(pl.col("date") == pl.col("date").max()).then(0.3).otherwise(pl.col("discount"))
        .alias("discount"),
        pl.when(pl.col("date") == pl.col("date").max()).then(shelf * 0.7)
        .otherwise(pl.col("price")).alias("price"),
    )  # fmt: skip
    base = scenario.baseline(fitted, ends_in_promo)
    assert not base["promo"].any()
    assert (base["discount"] == 0).all()
    assert base["price"].unique().to_list() == [shelf]


def test_defaults_are_the_series_own(fitted: sf.Forecaster) -> None:
    history = fitted.history
    assert history is not None
    # A series that never had a promotion: its promo column is all 0, its discount all 0.
    quiet = history.filter(pl.col("product_id") == "P02").with_columns(
        pl.lit(False).alias("promo"), pl.lit(0.0).alias("discount")
    )
    kinds = {c.column: c for c in scenario.controls(fitted, quiet)}
    everyone = {c.column: c for c in scenario.controls(fitted)}
    # Kinds come from the training history, so that series still plans promotion days.
    assert kinds["promo"].kind == "days"
    assert kinds["discount"].kind == "amount_on_days"
    assert kinds["discount"].default == everyone["discount"].default > 0
    assert kinds["region"].default == "north"
