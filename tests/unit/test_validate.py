from __future__ import annotations

import datetime as dt

import pandas as pd
import polars as pl
import pytest

import salesforecast as sf
from salesforecast.errors import InvalidArgumentError, ValidationError


@pytest.fixture
def small() -> pl.DataFrame:
    return sf.generate_sales(n_stores=2, n_products=3, start="2022-01-01", end="2022-06-30", seed=5)


def issue(report: sf.ValidationReport, check: str) -> sf.Issue:
    found = [i for i in report.issues if i.check == check]
    assert found, f"{check} not reported: {report}"
    return found[0]


def test_clean_generated_data_passes(small: pl.DataFrame) -> None:
    report = sf.validate(small)
    assert report.ok, report
    assert report.n_rows == small.height
    assert report.n_series == 6
    assert report.freq == "1d"
    assert report.start == "2022-01-01"
    assert report.end == "2022-06-30"
    assert not report.errors
    as_dict = report.to_dict()
    assert as_dict["ok"] is True
    assert '"n_series": 6' in report.to_json()


def test_missing_and_mistyped_columns(small: pl.DataFrame) -> None:
    report = sf.validate(small.drop("sales"))
    missing = issue(report, "missing_column")
    assert missing.severity == "error"
    assert missing.column == "sales"
    assert not report.ok
    report = sf.validate(small.with_columns(pl.col("date").cast(pl.String)))
    dtype = issue(report, "dtype")
    assert dtype.column == "date"
    assert "Date" in dtype.message


def test_nulls_per_column(small: pl.DataFrame) -> None:
    planted = small.with_columns(
        pl.when(pl.int_range(pl.len()) == 3).then(None).otherwise(pl.col("sales")).alias("sales"),
        pl.when(pl.int_range(pl.len()) < 2).then(None).otherwise(pl.col("price")).alias("price"),
    )
    report = sf.validate(planted)
    by_col = {i.column: i for i in report.issues if i.check == "nulls"}
    assert by_col["sales"].severity == "error"
    assert by_col["sales"].count == 1
    assert by_col["sales"].examples[0]["row"] == 3
    assert by_col["price"].severity == "warning"
    assert by_col["price"].count == 2


def test_duplicate_keys(small: pl.DataFrame) -> None:
    planted = pl.concat([small, small.slice(10, 3)])
    dup = issue(sf.validate(planted), "duplicate_keys")
    assert dup.severity == "error"
    assert dup.count == 3
    assert dup.examples[0]["series"] == "store_id=S01, product_id=P01"


def test_negative_and_infinite_targets(small: pl.DataFrame) -> None:
    planted = small.with_columns(
        pl.when(pl.int_range(pl.len()) == 5)
        .then(-3.0)
        .when(pl.int_range(pl.len()) == 6)
        .then(float("inf"))
        .otherwise(pl.col("sales"))
        .alias("sales")
    )
    report = sf.validate(planted)
    neg = issue(report, "negative_target")
    assert neg.count == 1
    assert neg.examples[0]["row"] == 5
    inf = issue(report, "non_finite_target")
    assert inf.severity == "error"
    assert inf.examples[0]["row"] == 6


def test_gaps_and_irregular_periods(small: pl.DataFrame) -> None:
    gaps = small.filter(~pl.col("date").is_in([dt.date(2022, 2, 1), dt.date(2022, 2, 2)]))
    missing = issue(sf.validate(gaps), "missing_periods")
    assert missing.severity == "warning"
    assert missing.count == 2 * 6
    weekly = sf.generate_sales(
        n_stores=1, n_products=2, start="2022-01-03", end="2022-06-30", freq="1w"
    )
    shifted = weekly.with_columns(
        pl.when(pl.int_range(pl.len()) == 4)
        .then(pl.col("date") + pl.duration(days=2))
        .otherwise(pl.col("date"))
        .alias("date")
    )
    report = sf.validate(shifted, freq="1w")
    irregular = issue(report, "irregular_periods")
    assert irregular.severity == "error"
    assert not report.ok


def test_series_too_short(small: pl.DataFrame) -> None:
    short = issue(sf.validate(small, min_length=200), "series_too_short")
    assert short.count == 6
    assert short.severity == "error"
    assert sf.validate(small, min_length=100).ok


def test_outliers(small: pl.DataFrame) -> None:
    planted = small.with_columns(
        pl.when((pl.col("store_id") == "S02") & (pl.col("date") == dt.date(2022, 3, 3)))
        .then(pl.col("sales") * 0 + 1e6)
        .otherwise(pl.col("sales"))
        .alias("sales")
    )
    out = issue(sf.validate(planted), "outliers")
    assert any(e["time"] == "2022-03-03" and "S02" in e["series"] for e in out.examples)


def test_constant_series(small: pl.DataFrame) -> None:
    planted = small.with_columns(
        pl.when(pl.col("product_id") == "P02").then(4.0).otherwise(pl.col("sales")).alias("sales")
    )
    const = issue(sf.validate(planted), "constant_series")
    assert const.count == 2


def test_future_dates(small: pl.DataFrame) -> None:
    fut = issue(sf.validate(small, as_of="2022-06-20"), "future_dates")
    assert fut.count == 10 * 6
    assert "future_dates" not in sf.validate(small).checks()


def test_drift_against_reference(small: pl.DataFrame) -> None:
    assert "drift" not in sf.validate(small, reference=small).checks()
    shifted = small.with_columns(pl.col("price") * 3)
    drift = issue(sf.validate(shifted, reference=small), "drift")
    assert drift.column == "price"
    assert drift.severity == "warning"


def test_raise_on_error_lists_every_error(small: pl.DataFrame) -> None:
    planted = pl.concat([small, small.slice(0, 1)]).drop("store_size")
    planted = planted.with_columns(
        pl.when(pl.int_range(pl.len()) == 0)
        .then(float("inf"))
        .otherwise(pl.col("sales"))
        .alias("sales")
    )
    with pytest.raises(ValidationError) as info:
        sf.validate(planted, raise_on_error=True)
    text = str(info.value)
    assert "duplicate_keys" in text
    assert "non_finite_target" in text
    assert isinstance(info.value, ValueError)
    assert sf.validate(small, raise_on_error=True).ok


def test_pandas_and_custom_columns(small: pl.DataFrame) -> None:
    renamed = small.with_columns(
        (pl.col("store_id") + "-" + pl.col("product_id")).alias("sku")
    ).rename({"date": "day", "sales": "units"})
    report = sf.validate(renamed.to_pandas(), id_col="sku", time_col="day", target_col="units")
    assert report.ok
    assert report.n_series == 6
    assert isinstance(renamed.to_pandas(), pd.DataFrame)


def test_bad_arguments(small: pl.DataFrame) -> None:
    with pytest.raises(InvalidArgumentError, match="outlier_threshold"):
        sf.validate(small, outlier_threshold=-1)
    with pytest.raises(InvalidArgumentError, match="freq"):
        sf.validate(small, freq="fortnight")
    with pytest.raises(InvalidArgumentError, match="df"):
        sf.validate([1, 2, 3])
