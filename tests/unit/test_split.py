from __future__ import annotations

import datetime as dt

import polars as pl
import pytest

import salesforecast as sf
from salesforecast.errors import InvalidArgumentError, MissingColumnError, SeriesTooShortError


@pytest.fixture
def small() -> pl.DataFrame:
    return sf.generate_sales(n_stores=2, n_products=2, start="2022-01-01", end="2022-03-31", seed=9)


def test_train_test_boundaries(small: pl.DataFrame) -> None:
    train, test = sf.time_split(small, test_periods=28)
    assert train.height + test.height == small.height
    assert train["date"].max() == dt.date(2022, 3, 3)
    assert test["date"].min() == dt.date(2022, 3, 4)
    assert test.group_by(["store_id", "product_id"]).len()["len"].to_list() == [28] * 4


def test_val_and_gap(small: pl.DataFrame) -> None:
    train, val, test = sf.time_split(small, test_periods=7, val_periods=14, gap=2)
    assert test["date"].min() == dt.date(2022, 3, 25)
    assert val["date"].max() == dt.date(2022, 3, 22)
    assert val["date"].min() == dt.date(2022, 3, 9)
    assert train["date"].max() == dt.date(2022, 3, 6)
    assert train.height + val.height + test.height == small.height - 4 * 4


def test_by_date_not_row_count(small: pl.DataFrame) -> None:
    # Series S01/P01 loses its last ten days: its own test block is its last 7 dates.
    ragged = small.filter(
        ~((pl.col("store_id") == "S01") & (pl.col("product_id") == "P01"))
        | (pl.col("date") <= dt.date(2022, 3, 21))
    )
    # Another series loses three days inside its test window: fewer rows, same boundary.
    ragged = ragged.filter(
        ~(
            (pl.col("store_id") == "S02")
            & (pl.col("date").is_between(dt.date(2022, 3, 26), dt.date(2022, 3, 28)))
        )
    )
    _, test = sf.time_split(ragged, test_periods=7)
    first = test.group_by(["store_id", "product_id"]).agg(pl.col("date").min(), pl.len())
    rows = {(r["store_id"], r["product_id"]): (r["date"], r["len"]) for r in first.to_dicts()}
    assert rows[("S01", "P01")] == (dt.date(2022, 3, 15), 7)
    assert rows[("S02", "P01")] == (dt.date(2022, 3, 25), 4)


def test_weekly_frequency() -> None:
    weekly = sf.generate_sales(
        n_stores=1, n_products=2, start="2022-01-03", end="2022-12-31", freq="1w"
    )
    _train, test = sf.time_split(weekly, test_periods=4)
    assert test.height == 8
    assert test["date"].min() == dt.date(2022, 12, 5)


def test_too_short_names_the_series(small: pl.DataFrame) -> None:
    with pytest.raises(SeriesTooShortError, match="store_id=S01, product_id=P01"):
        sf.time_split(small, test_periods=90)


def test_bad_arguments(small: pl.DataFrame) -> None:
    with pytest.raises(InvalidArgumentError, match="test_periods"):
        sf.time_split(small, test_periods=0)
    with pytest.raises(InvalidArgumentError, match="gap"):
        sf.time_split(small, test_periods=3, gap=-1)
    with pytest.raises(MissingColumnError, match="day"):
        sf.time_split(small, test_periods=3, time_col="day")
