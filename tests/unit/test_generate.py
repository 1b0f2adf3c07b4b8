from __future__ import annotations

import datetime as dt

import polars as pl
import pytest

import salesforecast as sf
from salesforecast.errors import InvalidArgumentError, SalesForecastError

EXPECTED_SCHEMA = {
    "store_id": pl.String,
    "product_id": pl.String,
    "date": pl.Date,
    "sales": pl.Float64,
    "expected_sales": pl.Float64,
    "price": pl.Float64,
    "promo": pl.Boolean,
    "discount": pl.Float64,
    "is_holiday": pl.Boolean,
    "is_closed": pl.Boolean,
    "stockout": pl.Boolean,
    "store_size": pl.Float64,
    "category": pl.String,
}

KEYS = ["store_id", "product_id"]


def test_schema_and_shape(sales: pl.DataFrame) -> None:
    assert dict(sales.schema) == EXPECTED_SCHEMA
    days = (dt.date(2023, 12, 31) - dt.date(2021, 1, 1)).days + 1
    assert sales.height == 4 * 12 * days
    assert sales.select(pl.struct(KEYS).n_unique()).item() == 48
    assert sales["date"].min() == dt.date(2021, 1, 1)
    assert sales["date"].max() == dt.date(2023, 12, 31)
    assert sales.null_count().sum_horizontal().item() == 0
    assert sales.filter(pl.col("sales") < 0).height == 0
    # Counts: sales are whole units.
    assert (sales["sales"] == sales["sales"].round()).all()


def test_same_seed_same_frame_any_thread_count() -> None:
    a = sf.generate_sales(n_stores=3, n_products=5, start="2022-01-01", end="2022-12-31", seed=1)
    b = sf.generate_sales(
        n_stores=3, n_products=5, start="2022-01-01", end="2022-12-31", seed=1, n_threads=1
    )
    assert a.equals(b)
    c = sf.generate_sales(n_stores=3, n_products=5, start="2022-01-01", end="2022-12-31", seed=2)
    assert not a.equals(c)
    assert not a["sales"].equals(c["sales"])


def test_not_mostly_zeros_but_has_intermittent_series(sales: pl.DataFrame) -> None:
    open_days = sales.filter(~pl.col("is_closed"))
    zero_share = (open_days["sales"] == 0).mean()
    assert zero_share is not None
    assert 0.05 < zero_share < 0.5
    per_series = open_days.group_by(KEYS).agg((pl.col("sales") == 0).mean().alias("zeros"))
    # Slow movers exist (mostly zeros) next to fast movers that almost never sell nothing.
    assert per_series["zeros"].max() > 0.4  # type: ignore[operator]
    assert per_series["zeros"].min() < 0.02  # type: ignore[operator]


def test_closures_sell_nothing(sales: pl.DataFrame) -> None:
    closed = sales.filter(pl.col("is_closed"))
    assert closed.height > 0
    assert (closed["sales"] == 0).all()
    assert (closed["expected_sales"] == 0).all()
    # Every store closes on Christmas Day.
    xmas = sales.filter(pl.col("date") == dt.date(2022, 12, 25))
    assert xmas["is_closed"].all()


def test_promotions_sell_more_for_the_same_series(sales: pl.DataFrame) -> None:
    open_days = sales.filter(~pl.col("is_closed") & ~pl.col("stockout"))
    by_series = (
        open_days.group_by([*KEYS, "promo"])
        .agg(pl.col("sales").mean())
        .pivot(on="promo", index=KEYS, values="sales")
        .drop_nulls()
    )
    assert by_series.height >= 20
    uplift = by_series["true"] / by_series["false"]
    assert (uplift > 1.0).mean() > 0.9  # type: ignore[operator]
    promo = sales.filter(pl.col("promo"))
    assert (promo["discount"] > 0).all()
    no_promo = sales.filter(~pl.col("promo"))
    assert (no_promo["discount"] == 0).all()


def test_promo_price_is_discounted(sales: pl.DataFrame) -> None:
    rows = sales.filter(pl.col("promo")).head(50)
    shelf = sales.filter(~pl.col("promo")).group_by(KEYS).agg(pl.col("price").max())
    joined = rows.join(shelf, on=KEYS, suffix="_shelf")
    assert (joined["price"] < joined["price_shelf"]).all()


def test_weekly_and_yearly_seasonality(sales: pl.DataFrame) -> None:
    open_days = sales.filter(~pl.col("is_closed"))
    by_dow = (
        open_days.group_by(pl.col("date").dt.weekday().alias("dow"))
        .agg(pl.col("expected_sales").mean())
        .sort("dow")
    )
    # Saturday (6) beats Tuesday (2) across all categories.
    sat = by_dow.filter(pl.col("dow") == 6)["expected_sales"].item()
    tue = by_dow.filter(pl.col("dow") == 2)["expected_sales"].item()
    assert sat > 1.2 * tue
    # Summer categories peak in summer, holiday-season categories in December.
    by_month = open_days.group_by(["category", pl.col("date").dt.month().alias("m")]).agg(
        pl.col("expected_sales").mean()
    )

    def ratio(category: str, high: int, low: int) -> float:
        rows = by_month.filter(pl.col("category") == category)
        hi = rows.filter(pl.col("m") == high)["expected_sales"].item()
        lo = rows.filter(pl.col("m") == low)["expected_sales"].item()
        return float(hi / lo)

    cats = set(sales["category"].unique())
    seasonal = [c for c in ("beverages", "garden") if c in cats]
    assert seasonal, cats
    assert all(ratio(c, 7, 1) > 1.1 for c in seasonal)
    if "toys" in cats:
        assert ratio("toys", 12, 3) > 1.3


def test_holidays_flagged_and_pre_holiday_uplift(sales: pl.DataFrame) -> None:
    flagged = set(sales.filter(pl.col("is_holiday"))["date"].unique().to_list())
    assert dt.date(2022, 7, 4) in flagged
    assert dt.date(2022, 11, 24) in flagged  # Thanksgiving
    assert dt.date(2022, 7, 5) not in flagged
    daily = sales.group_by("date").agg(pl.col("expected_sales").sum()).sort("date")
    eve = daily.filter(pl.col("date") == dt.date(2022, 11, 23))["expected_sales"].item()
    week_before = daily.filter(pl.col("date") == dt.date(2022, 11, 16))["expected_sales"].item()
    assert eve > 1.15 * week_before


def test_stockouts_censor_sales(sales: pl.DataFrame) -> None:
    out = sales.filter(pl.col("stockout"))
    assert out.height > 0
    assert (out["sales"] <= out["expected_sales"].ceil() * 10).all()
    share_zero = (out["sales"] == 0).mean()
    assert share_zero is not None
    assert share_zero > 0.6


def test_sales_follow_expected_mean(sales: pl.DataFrame) -> None:
    usable = sales.filter(~pl.col("stockout"))
    ratio = usable["sales"].sum() / usable["expected_sales"].sum()
    assert 0.95 < ratio < 1.08


def test_static_attributes_constant_per_series(sales: pl.DataFrame) -> None:
    per_series = sales.group_by(KEYS).agg(
        pl.col("store_size").n_unique(), pl.col("category").n_unique()
    )
    assert (per_series["store_size"] == 1).all()
    assert (per_series["category"] == 1).all()
    per_product = sales.group_by("product_id").agg(pl.col("category").n_unique())
    assert (per_product["category"] == 1).all()


@pytest.mark.parametrize(("freq", "periods"), [("1w", 53), ("1mo", 12), ("3d", 122)])
def test_other_frequencies_aggregate_daily_demand(freq: str, periods: int) -> None:
    kw = {"n_stores": 2, "n_products": 3, "start": "2022-01-01", "end": "2022-12-31", "seed": 3}
    coarse = sf.generate_sales(freq=freq, **kw)  # type: ignore[arg-type]
    daily = sf.generate_sales(freq="1d", **kw)  # type: ignore[arg-type]
    assert coarse.height == 6 * periods
    # The same daily process summed: the totals agree over the shared days.
    last_start = coarse["date"].max()
    assert isinstance(last_start, dt.date)
    shared = daily.filter(pl.col("date") < last_start)
    coarse_shared = coarse.filter(pl.col("date") < last_start)
    assert coarse_shared["expected_sales"].sum() == pytest.approx(
        shared["expected_sales"].sum(), rel=1e-9
    )


def test_accepts_dates() -> None:
    df = sf.generate_sales(n_stores=1, n_products=1, start=dt.date(2022, 1, 1), end="2022-01-10")
    assert df.height == 10


@pytest.mark.parametrize(
    ("kwargs", "needle"),
    [
        ({"n_stores": 0}, "n_stores"),
        ({"n_products": -1}, "n_products"),
        ({"start": "2022-13-01"}, "start"),
        ({"end": "not a date"}, "end"),
        ({"start": "2023-01-01", "end": "2022-01-01"}, "end"),
        ({"freq": "1h"}, "freq"),
        ({"freq": "1x"}, "freq"),
        ({"n_threads": 0}, "n_threads"),
    ],
)
def test_bad_arguments_raise_typed_errors(kwargs: dict[str, object], needle: str) -> None:
    with pytest.raises(InvalidArgumentError, match=needle) as info:
        sf.generate_sales(**kwargs)  # type: ignore[arg-type]
    assert isinstance(info.value, ValueError)
    assert isinstance(info.value, SalesForecastError)
