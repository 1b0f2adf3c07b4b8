"""Malformed input across the public API, the pipeline's task functions and the app's upload:
each raises a typed salesforecast error (bad input also a ``ValueError``) whose message names
the column, series, row or argument in the user's own words, before any work is done. A few
inputs that look malformed but are not (unsorted rows, a missing period, negative sales) are
accepted and give what the clean input gives."""

from __future__ import annotations

import datetime as dt
import re
import warnings
from collections.abc import Callable
from functools import cache
from typing import Any

import numpy as np
import polars as pl
import pytest

import salesforecast as sf
from salesforecast import errors, tasks
from salesforecast.app import uploads

START = dt.date(2023, 1, 1)
DAYS = 120


def daily(series: tuple[str, ...] = ("a", "b"), days: int = DAYS) -> pl.DataFrame:
    rng = np.random.default_rng(0)
    return pl.DataFrame(
        {
            "series_id": [s for s in series for _ in range(days)],
            "date": [START + dt.timedelta(days=k) for _ in series for k in range(days)],
            "sales": 10 + rng.normal(0, 1, len(series) * days),
        }
    )


CLEAN = daily()
FIFTH = pl.int_range(pl.len()) == 5  # row 5: series a, 2023-01-06


def at_row_5(column: str, value: Any) -> pl.DataFrame:
    return CLEAN.with_columns(
        pl.when(FIFTH).then(pl.lit(value)).otherwise(pl.col(column)).alias(column)
    )


def forecaster(**settings: Any) -> sf.Forecaster:
    base: dict[str, Any] = {
        "models": [sf.Naive(), sf.SeasonalNaive()],
        "features": sf.FeatureSpec(lags=[1, 7]),
        "freq": "1d",
        "horizon": 7,
        "cv_windows": 2,
        "verbose": False,
    }
    return sf.Forecaster(**{**base, **settings})


@cache
def fitted() -> sf.Forecaster:
    return forecaster().fit(CLEAN)


def with_price(frame: pl.DataFrame) -> pl.DataFrame:
    return frame.with_columns(pl.lit(1.0).alias("price"))


@cache
def fitted_with_price() -> sf.Forecaster:
    return forecaster(known_future=["price"]).fit(with_price(CLEAN))


def future(series: str = "ab", days: int = 7, **overrides: Any) -> pl.DataFrame:
    first = START + dt.timedelta(days=DAYS)
    frame = pl.DataFrame(
        {
            "series_id": [s for s in series for _ in range(days)],
            "date": [first + dt.timedelta(days=k) for _ in series for k in range(days)],
            "price": 1.0,
        }
    )
    return frame.with_columns(**overrides) if overrides else frame


def weekly() -> pl.DataFrame:
    return CLEAN.filter(pl.col("date").dt.weekday() == 1)


ROW_5 = r"series series_id=a, 2023-01-06, row 5 of `df`"

# (name, call, exception class, pattern the message must contain)
CASES: list[tuple[str, Callable[[], object], type[Exception], str]] = [
    # -- the training frame: columns and dtypes
    (
        "no target column",
        lambda: forecaster().fit(CLEAN.drop("sales")),
        errors.MissingColumnError,
        r"\['sales'\] not found",
    ),
    (
        "misnamed time column",
        lambda: forecaster().fit(CLEAN.rename({"date": "ds"})),
        errors.MissingColumnError,
        r"\['date'\] not found",
    ),
    (
        "no key column",
        lambda: forecaster().fit(CLEAN.drop("series_id")),
        errors.MissingColumnError,
        r"`series_id` not found",
    ),
    (
        "misnamed key column",
        lambda: forecaster(id_col="sku").fit(CLEAN),
        errors.MissingColumnError,
        r"\['sku'\] not found",
    ),
    (
        "target as text",
        lambda: forecaster().fit(CLEAN.with_columns(pl.col("sales").cast(pl.String))),
        errors.ColumnTypeError,
        r"`sales` has dtype str",
    ),
    (
        "target as booleans",
        lambda: forecaster().fit(CLEAN.with_columns(pl.col("sales") > 10)),
        errors.ColumnTypeError,
        r"`sales` has dtype bool",
    ),
    (
        "dates as text",
        lambda: forecaster().fit(CLEAN.with_columns(pl.col("date").cast(pl.String))),
        errors.ColumnTypeError,
        r"`date` has dtype str; expected Date or Datetime",
    ),
    (
        "float keys",
        lambda: forecaster().fit(CLEAN.with_columns(pl.col("sales").alias("series_id"))),
        errors.ColumnTypeError,
        r"`series_id` has dtype f64",
    ),
    (
        "not a frame",
        lambda: forecaster().fit([1, 2, 3]),
        errors.InvalidArgumentError,
        r"`df`: expected a polars or pandas DataFrame, got list",
    ),
    (
        "a dict",
        lambda: forecaster().fit({"sales": [1.0]}),
        errors.InvalidArgumentError,
        r"got dict",
    ),
    (
        "pandas with text target",
        lambda: forecaster().fit(CLEAN.with_columns(pl.col("sales").cast(pl.String)).to_pandas()),
        errors.ColumnTypeError,
        r"`sales`",
    ),
    # -- the training frame: values
    (
        "null key",
        lambda: forecaster().fit(at_row_5("series_id", None)),
        errors.DataError,
        r"null value\(s\) in `series_id`; the first: row 5 of `df`",
    ),
    (
        "null date",
        lambda: forecaster().fit(at_row_5("date", None)),
        errors.DataError,
        r"null value\(s\) in `date`; the first: row 5 of `df`",
    ),
    (
        "null target",
        lambda: forecaster().fit(at_row_5("sales", None)),
        errors.DataError,
        r"null value\(s\) in `sales` \(drop those rows.*" + ROW_5,
    ),
    (
        "NaN target",
        lambda: forecaster().fit(at_row_5("sales", float("nan"))),
        errors.DataError,
        r"NaN or infinite.*" + ROW_5 + ", value NaN",
    ),
    (
        "infinite target",
        lambda: forecaster().fit(at_row_5("sales", float("inf"))),
        errors.DataError,
        ROW_5 + ", value inf",
    ),
    (
        "minus infinite target",
        lambda: forecaster().fit(at_row_5("sales", float("-inf"))),
        errors.DataError,
        ROW_5 + ", value -inf",
    ),
    (
        "target overflowing to inf",
        lambda: forecaster().fit(CLEAN.with_columns(pl.col("sales") * 1e308)),
        errors.DataError,
        r"240 NaN or infinite value\(s\) in `sales`",
    ),
    (
        "NaN target with a booster",
        lambda: forecaster(models=[sf.LightGBM(n_estimators=5)]).fit(
            at_row_5("sales", float("nan"))
        ),
        errors.DataError,
        ROW_5,
    ),
    (
        "repeated (series, date)",
        lambda: forecaster().fit(pl.concat([CLEAN, CLEAN.head(1)])),
        errors.DataError,
        r"repeat a \(series_id, date\) key.*series series_id=a, 2023-01-01, row 240 of `df`",
    ),
    (
        "weekly data read daily",
        lambda: forecaster().fit(weekly()),
        errors.DataError,
        r'steps by 1w .* but freq is 1d; pass freq="1w"',
    ),
    (
        "a row off the weekly grid",
        lambda: forecaster(freq="1w", horizon=2).fit(
            weekly().with_columns(
                pl.when(pl.int_range(pl.len()) == 3)
                .then(pl.col("date") + dt.timedelta(days=2))
                .otherwise(pl.col("date"))
                .alias("date")
            )
        ),
        errors.DataError,
        r"off their series' 1w grid.*row 3 of `df`",
    ),
    (
        "no rows",
        lambda: forecaster().fit(CLEAN.head(0)),
        errors.InvalidArgumentError,
        r"`df`: the frame has no rows",
    ),
    (
        "one row",
        lambda: forecaster().fit(CLEAN.head(1)),
        errors.SeriesTooShortError,
        r"series series_id=a has 1 periods.*at least 15 are needed",
    ),
    (
        "five days for four weeks of windows",
        lambda: forecaster(cv_windows=4).fit(daily(days=5)),
        errors.SeriesTooShortError,
        r"has 5 periods, the most of any series; at least 29",
    ),
    (
        "a backtest reaching before the data",
        lambda: fitted().backtest(CLEAN, n_windows=20),
        errors.SeriesTooShortError,
        r"20 windows of 7 periods",
    ),
    # -- Forecaster settings
    (
        "horizon zero",
        lambda: forecaster(horizon=0),
        errors.InvalidArgumentError,
        r"`horizon`: must be an int of at least 1, got 0",
    ),
    ("negative horizon", lambda: forecaster(horizon=-3), errors.InvalidArgumentError, r"`horizon`"),
    (
        "horizon as text",
        lambda: forecaster(horizon="7"),
        errors.InvalidArgumentError,
        r"`horizon`.*'7'",
    ),
    (
        "fractional horizon",
        lambda: forecaster(horizon=2.5),
        errors.InvalidArgumentError,
        r"`horizon`",
    ),
    (
        "unknown frequency unit",
        lambda: forecaster(freq="1x"),
        errors.InvalidArgumentError,
        r'`freq`: unknown unit "x"',
    ),
    (
        "frequency as a word",
        lambda: forecaster(freq="daily"),
        errors.InvalidArgumentError,
        r"`freq`",
    ),
    (
        "frequency as a number",
        lambda: forecaster(freq=7),
        errors.InvalidArgumentError,
        r"`freq`: expected a string",
    ),
    (
        "no calibration windows",
        lambda: forecaster(cv_windows=0),
        errors.InvalidArgumentError,
        r"`cv_windows`",
    ),
    ("level 0", lambda: forecaster(levels=(0,)), errors.InvalidArgumentError, r"`levels`"),
    ("level 100", lambda: forecaster(levels=(100,)), errors.InvalidArgumentError, r"`levels`"),
    ("level as text", lambda: forecaster(levels=("80",)), errors.InvalidArgumentError, r"`levels`"),
    (
        "unknown strategy",
        lambda: forecaster(strategy="sideways"),
        errors.InvalidArgumentError,
        r"`strategy`: 'sideways'",
    ),
    (
        "unknown ensemble",
        lambda: forecaster(ensemble="median"),
        errors.InvalidArgumentError,
        r"`ensemble`: 'median'",
    ),
    (
        "no models",
        lambda: forecaster(models=[]),
        errors.InvalidArgumentError,
        r"`models`: give a non-empty list",
    ),
    (
        "a model by name",
        lambda: forecaster(models=["lightgbm"]),
        errors.InvalidArgumentError,
        r"`models\[0\]`: str is not a model",
    ),
    (
        "season length 0",
        lambda: forecaster(season_length=0),
        errors.InvalidArgumentError,
        r"`season_length`",
    ),
    (
        "features as a dict",
        lambda: forecaster(features={"lags": [1]}),
        errors.InvalidArgumentError,
        r"`features`: expected a FeatureSpec",
    ),
    (
        "negative threads",
        lambda: forecaster(n_threads=-1),
        errors.InvalidArgumentError,
        r"`n_threads`",
    ),
    (
        "seasonal naive of season 0",
        lambda: sf.SeasonalNaive(season_length=0),
        errors.InvalidArgumentError,
        r"`season_length`",
    ),
    # -- feature specs, refused where they are written
    (
        "rolling window 0",
        lambda: sf.Rolling(window=0),
        errors.InvalidArgumentError,
        r"`Rolling\.window`: must be at least 1",
    ),
    (
        "rolling window as text",
        lambda: sf.Rolling(window="3"),
        errors.InvalidArgumentError,
        r"`Rolling\.window`: expected an int",
    ),
    (
        "unknown statistic",
        lambda: sf.Rolling(window=3, stats=("avg",)),
        errors.InvalidArgumentError,
        r"`Rolling\.stats\[0\]`: unknown statistic \"avg\"",
    ),
    (
        "min_samples over the window",
        lambda: sf.Rolling(window=3, min_samples=5),
        errors.InvalidArgumentError,
        r"`Rolling\.min_samples`",
    ),
    (
        "rolling lag 0",
        lambda: sf.Rolling(window=3, lag=0),
        errors.InvalidArgumentError,
        r"`Rolling\.lag`.*would read the target",
    ),
    (
        "seasonal rolling of season 0",
        lambda: sf.SeasonalRolling(season_length=0, window=2),
        errors.InvalidArgumentError,
        r"`SeasonalRolling\.season_length`",
    ),
    (
        "EWM alpha 0",
        lambda: sf.EWM(alpha=0.0),
        errors.InvalidArgumentError,
        r"`EWM\.alpha`: must be in \(0, 1\]",
    ),
    (
        "EWM alpha as text",
        lambda: sf.EWM(alpha="x"),
        errors.InvalidArgumentError,
        r"`EWM\.alpha`: expected a number",
    ),
    (
        "expanding median",
        lambda: sf.Expanding(stats=("median",)),
        errors.InvalidArgumentError,
        r"`Expanding\.stats`",
    ),
    (
        "group column as a number",
        lambda: sf.GroupRolling(group_col=3, window=2),
        errors.InvalidArgumentError,
        r"`GroupRolling\.group_col`",
    ),
    (
        "lag 0",
        lambda: sf.FeatureSpec(lags=[0]),
        errors.InvalidArgumentError,
        r"`lags\[0\]`: must be at least 1",
    ),
    (
        "negative lag",
        lambda: sf.FeatureSpec(lags=[7, -2]),
        errors.InvalidArgumentError,
        r"`lags\[1\]`",
    ),
    (
        "lags as text",
        lambda: sf.FeatureSpec(lags="1,2"),
        errors.InvalidArgumentError,
        r"`lags`: expected a list of ints",
    ),
    (
        "a lag beyond 64 bits",
        lambda: sf.FeatureSpec(lags=[2**70]),
        errors.InvalidArgumentError,
        r"`lags\[0\]`: expected an int",
    ),
    (
        "unknown calendar feature",
        lambda: sf.FeatureSpec(calendar=["moon"]),
        errors.InvalidArgumentError,
        r"`calendar\[0\]`: unknown calendar feature \"moon\"",
    ),
    (
        "unknown transform",
        lambda: sf.FeatureSpec(target_transforms=["boxcox"]),
        errors.InvalidArgumentError,
        r"`target_transforms\[0\]`",
    ),
    (
        "a dict for a rolling entry",
        lambda: sf.FeatureSpec(rolling=[{"window": 3}]),
        errors.InvalidArgumentError,
        r"`rolling`: expected Rolling entries",
    ),
    # -- predict
    (
        "predict before fit",
        lambda: forecaster().predict(),
        errors.NotFittedError,
        r"not fitted; call fit first",
    ),
    (
        "h zero",
        lambda: fitted().predict(h=0),
        errors.InvalidArgumentError,
        r"`h`: need 1 <= h <= the horizon 7",
    ),
    (
        "h beyond the horizon",
        lambda: fitted().predict(h=30),
        errors.InvalidArgumentError,
        r"got 30 \(refit with a longer horizon",
    ),
    (
        "level 120 at predict",
        lambda: fitted().predict(levels=(120,)),
        errors.InvalidArgumentError,
        r"`levels`",
    ),
    (
        "future without the covariate",
        lambda: fitted_with_price().predict(future=future().drop("price")),
        errors.MissingColumnError,
        r"`future` lacks columns \['price'\]",
    ),
    (
        "future missing rows",
        lambda: fitted_with_price().predict(future=future(days=3)),
        errors.DataError,
        r"no known-future values for 8 forecast rows",
    ),
    (
        "future repeating a row",
        lambda: fitted_with_price().predict(future=pl.concat([future(), future().head(1)])),
        errors.DataError,
        r"row 14 of `future`",
    ),
    (
        "future dates as text",
        lambda: fitted_with_price().predict(future=future(date=pl.col("date").cast(pl.String))),
        errors.ColumnTypeError,
        r"`date` has dtype str",
    ),
    (
        "future of an unknown series",
        lambda: fitted_with_price().predict(future=future("abz")),
        errors.DataError,
        r"1 series without history: series_id=z",
    ),
    (
        "future in another time zone",
        lambda: (
            forecaster(known_future=["price"])
            .fit(with_price(CLEAN).with_columns(pl.col("date").cast(pl.Datetime("us", "UTC"))))
            .predict(future=future(date=pl.col("date").cast(pl.Datetime("us"))))
        ),
        errors.ColumnTypeError,
        r"`date` of `future` has dtype .*time_zone=None\); the training data's .*'UTC'",
    ),
    (
        "new_df with a NaN target",
        lambda: fitted().predict(new_df=at_row_5("sales", float("nan"))),
        errors.DataError,
        r"row 5 of `new_df`",
    ),
    (
        "new_df without rows",
        lambda: fitted().predict(new_df=CLEAN.head(0)),
        errors.InvalidArgumentError,
        r"`new_df`: the frame has no rows",
    ),
    # -- backtests and evaluation
    (
        "backtest of zero windows",
        lambda: fitted().backtest(CLEAN, n_windows=0),
        errors.InvalidArgumentError,
        r"`n_windows`",
    ),
    (
        "h plus gap beyond the horizon",
        lambda: fitted().cross_validation(CLEAN, n_windows=1, h=7, gap=3),
        errors.InvalidArgumentError,
        r"h \+ gap <= the horizon 7",
    ),
    (
        "backtest of a NaN target",
        lambda: fitted().backtest(at_row_5("sales", float("nan"))),
        errors.DataError,
        ROW_5,
    ),
    (
        "evaluate a missing model",
        lambda: sf.evaluate(CLEAN, CLEAN, models=["nope"]),
        errors.MissingColumnError,
        r"`nope` not found",
    ),
    # -- data functions
    (
        "validate raising on a NaN target",
        lambda: sf.validate(at_row_5("sales", float("nan")), raise_on_error=True),
        errors.ValidationError,
        r"non_finite_target \[sales\]",
    ),
    (
        "time split at the wrong frequency",
        lambda: sf.time_split(weekly(), test_periods=2, freq="1d"),
        errors.DataError,
        r'pass freq="1w"',
    ),
    (
        "time split of a negative size",
        lambda: sf.time_split(CLEAN, test_periods=-1),
        errors.InvalidArgumentError,
        r"`test_periods`",
    ),
    (
        "time split longer than the data",
        lambda: sf.time_split(CLEAN, test_periods=10_000),
        errors.SeriesTooShortError,
        r"series series_id=a has 120 periods",
    ),
    (
        "features of a text target",
        lambda: sf.build_features(
            CLEAN.with_columns(pl.col("sales").cast(pl.String)), sf.FeatureSpec(lags=[1])
        ),
        errors.ColumnTypeError,
        r"`sales`",
    ),
    (
        "features of an infinite target",
        lambda: sf.build_features(at_row_5("sales", float("inf")), sf.FeatureSpec(lags=[1])),
        errors.DataError,
        ROW_5,
    ),
    (
        "generator sizes of tens of GB",
        lambda: sf.generate_sales(n_stores=100_000, n_products=100_000),
        errors.InvalidArgumentError,
        r"more than 2e9 rows",
    ),
    (
        "negative store count",
        lambda: sf.generate_sales(n_stores=-1),
        errors.InvalidArgumentError,
        r"`n_stores`",
    ),
    (
        "store count as text",
        lambda: sf.generate_sales(n_stores="3"),
        errors.InvalidArgumentError,
        r"`n_stores`.*'3'",
    ),
    (
        "fractional store count",
        lambda: sf.generate_sales(n_stores=2.5),
        errors.InvalidArgumentError,
        r"`n_stores`",
    ),
    (
        "generator frequency",
        lambda: sf.generate_sales(n_stores=1, n_products=1, freq="zz"),
        errors.InvalidArgumentError,
        r"`freq`",
    ),
    (
        "end before start",
        lambda: sf.generate_sales(start="2023-01-01", end="2022-01-01"),
        errors.InvalidArgumentError,
        r"`end`: 2022-01-01 is before start",
    ),
    (
        "month 13",
        lambda: sf.generate_sales(start="2023-13-01"),
        errors.InvalidArgumentError,
        r"`start`",
    ),
    (
        "negative generator threads",
        lambda: sf.generate_sales(n_stores=1, n_products=1, n_threads=-1),
        errors.InvalidArgumentError,
        r"`n_threads`",
    ),
    (
        "read a missing file",
        lambda: sf.read_sales("/nonexistent/sales.csv"),
        errors.StorageNotFoundError,
        r"/nonexistent/sales.csv",
    ),
    (
        "read a spreadsheet",
        lambda: sf.read_sales("sales.xlsx"),
        errors.InvalidArgumentError,
        r"neither .csv nor .parquet",
    ),
    (
        "load a folder that is no bundle",
        lambda: sf.Forecaster.load("/tmp"),
        errors.ModelFileError,
        r"manifest.json is missing",
    ),
    # -- the pipeline's settings (Airflow params, the CLI)
    ("unknown setting", lambda: tasks.config(n_store=3), errors.InvalidArgumentError, r"n_store"),
    (
        "unknown model name",
        lambda: tasks.config(models=["lightgbm", "prophet"]),
        errors.InvalidArgumentError,
        r"prophet",
    ),
    (
        "horizon as a word",
        lambda: tasks.config(horizon="abc"),
        errors.InvalidArgumentError,
        r"`horizon`.*'abc'",
    ),
    ("no stores", lambda: tasks.config(n_stores=0), errors.InvalidArgumentError, r"`n_stores`"),
    ("pipeline frequency", lambda: tasks.config(freq="1x"), errors.InvalidArgumentError, r"`freq`"),
    (
        "pipeline windows",
        lambda: tasks.config(cv_windows=0),
        errors.InvalidArgumentError,
        r"`cv_windows`",
    ),
    (
        "gate metric",
        lambda: tasks.config(metric="accuracy"),
        errors.InvalidArgumentError,
        r"`metric`: 'accuracy'",
    ),
    (
        "gate improvement",
        lambda: tasks.config(min_improvement=1.5),
        errors.InvalidArgumentError,
        r"`min_improvement`",
    ),
    (
        "pipeline start date",
        lambda: tasks.config(start="2023-13-01"),
        errors.InvalidArgumentError,
        r"`start`",
    ),
    (
        "pipeline end before start",
        lambda: tasks.config(start="2023-01-01", end="2022-12-31"),
        errors.InvalidArgumentError,
        r"`end`",
    ),
    (
        "models as a number",
        lambda: tasks.config(models=3),
        errors.InvalidArgumentError,
        r"`models`: expected a list of names",
    ),
    # -- the app's upload
    (
        "an oversized upload",
        lambda: uploads.read_table(b"x" * (uploads.MAX_MEGABYTES * 1024 * 1024 + 1), "big.csv"),
        uploads.UploadError,
        r"big.csv is 50.0 MB; the limit is 50 MB",
    ),
    (
        "an upload that is not parquet",
        lambda: uploads.read_table(b"not parquet", "a.parquet"),
        uploads.UploadError,
        r"a.parquet could not be read",
    ),
    (
        "an upload of another type",
        lambda: uploads.read_table(b"a,b\n1,2", "a.xlsx"),
        uploads.UploadError,
        r"give a .csv or .parquet file",
    ),
]

BAD_INPUT = (
    errors.InvalidArgumentError,
    errors.MissingColumnError,
    errors.ColumnTypeError,
    errors.DataError,
    errors.ValidationError,
)


def test_the_corpus_is_large() -> None:
    assert len(CASES) >= 60
    assert len({name for name, *_ in CASES}) == len(CASES)


@pytest.mark.parametrize(
    ("call", "expected", "pattern"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_malformed_input_raises_a_typed_error_naming_it(
    call: Callable[[], object], expected: type[Exception], pattern: str
) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(expected) as raised:
            call()
    error = raised.value
    assert isinstance(error, errors.SalesForecastError)
    if isinstance(error, BAD_INPUT):
        assert isinstance(error, ValueError)
    assert re.search(pattern, str(error)), str(error)


def test_an_uploaded_history_with_a_nan_target_lists_the_row_and_forecasts_nothing() -> None:
    result = uploads.forecast(fitted(), at_row_5("sales", float("nan")), None)
    assert result.forecast is None
    assert result.problems is not None
    problem = result.problems.row(0, named=True)
    assert (problem["severity"], problem["check"], problem["row"]) == (
        "error",
        "non_finite_target",
        5,
    )
    assert problem["series"] == "series_id=a"


def test_a_failed_fit_leaves_the_forecaster_as_it_was() -> None:
    fc = forecaster().fit(CLEAN)
    before = fc.predict()
    with pytest.raises(errors.DataError):
        fc.fit(at_row_5("sales", float("nan")))
    assert fc.predict().equals(before)


def forecasts(frame: pl.DataFrame) -> pl.DataFrame:
    return forecaster().fit(frame).predict().sort("series_id", "date")


def test_unsorted_rows_forecast_as_sorted_ones() -> None:
    shuffled = CLEAN.sample(fraction=1.0, shuffle=True, seed=1)
    assert forecasts(shuffled).equals(forecasts(CLEAN))


def test_a_missing_period_is_read_as_missing_not_skipped() -> None:
    missing = dt.date(2023, 4, 29)
    a = pl.col("series_id") == "a"
    gap = CLEAN.filter(~(a & (pl.col("date") == missing)))
    out = forecaster(models=[sf.SeasonalNaive()], guard=False).fit(gap).predict().filter(a)
    # Seasonal naive repeats the last week day by day: every day but the missing one's weekday
    # is its value a week before; that one falls back to the last value (the documented rule),
    # not to a neighbour's value slid into its place.
    week_before = gap.filter(a).with_columns(pl.col("date") + dt.timedelta(days=7))
    joined = out.join(week_before, on=["series_id", "date"], how="left")
    known = joined.filter(pl.col("date") != missing + dt.timedelta(days=7))
    assert known.height == 6
    np.testing.assert_array_equal(known["seasonal_naive"].to_numpy(), known["sales"].to_numpy())
    fallback = joined.filter(pl.col("date") == missing + dt.timedelta(days=7))["seasonal_naive"]
    assert fallback.to_list() == gap.filter(a)["sales"].tail(1).to_list()
    assert (
        fallback[0]
        != gap.filter(a & (pl.col("date") == missing - dt.timedelta(days=1)))["sales"][0]
    )


def test_negative_sales_are_returns_and_forecast() -> None:
    returns = CLEAN.with_columns(pl.col("sales") - 15)
    out = sf.Forecaster(freq="1d", horizon=7, verbose=False, cv_windows=2).fit(returns).predict()
    assert out["ensemble"].is_finite().all()
    assert out["ensemble"].mean() < 0  # type: ignore[operator]


def test_frames_that_differ_only_in_storage_are_read_as_the_training_data() -> None:
    fc = fitted_with_price()
    expected = fc.predict(new_df=with_price(CLEAN), future=future())
    # Through pandas, dates come back as millisecond date-times; categorical keys, 32-bit
    # floats and a Decimal target are the same data too.
    through_pandas = pl.from_pandas(with_price(CLEAN).to_pandas())
    assert through_pandas["date"].dtype == pl.Datetime("ms")
    recast = with_price(CLEAN).with_columns(
        pl.col("series_id").cast(pl.Categorical), pl.col("sales").cast(pl.Decimal(12, 6))
    )
    for history in (through_pandas, recast):
        out = fc.predict(new_df=history, future=future(date=pl.col("date").cast(pl.Datetime("ms"))))
        np.testing.assert_allclose(out["ensemble"].to_numpy(), expected["ensemble"].to_numpy())
    # A time of day is not a date.
    noon = through_pandas.with_columns(pl.col("date") + dt.timedelta(hours=12))
    with pytest.raises(errors.ColumnTypeError, match=r"`date` of `new_df`.*cannot hold"):
        fc.predict(new_df=noon, future=future())


def test_future_is_read_only_where_it_is_needed() -> None:
    # Without known-future columns `future` is not read; with them, rows for trained series
    # that `new_df` leaves out are not forecast and not an error.
    plain = fitted().predict()
    assert fitted().predict(future=pl.DataFrame({"anything": [1]})).equals(plain)
    fc = fitted_with_price()
    only_a = with_price(CLEAN).filter(pl.col("series_id") == "a")
    out = fc.predict(new_df=only_a, future=future("ab"))
    assert out["series_id"].unique().to_list() == ["a"]


def test_pipeline_settings_arrive_as_text_or_json_numbers() -> None:
    settings = tasks.config(horizon="14", n_stores=3.0, min_improvement="0.05", relative="price")
    assert (settings["horizon"], settings["n_stores"], settings["min_improvement"]) == (14, 3, 0.05)
    assert settings["relative"] == ["price"]
    with pytest.raises(errors.InvalidArgumentError, match=r"`model_name`"):
        tasks.config(model_name=3)


def test_missing_forecasts_are_left_out_of_the_metrics_and_counted() -> None:
    day = [dt.date(2023, 1, d) for d in range(1, 5)]
    frame = pl.DataFrame(
        {"series_id": ["a"] * 4, "date": day, "sales": [1.0, 2.0, 3.0, 4.0],
         "model": [1.0, float("nan"), 5.0, None], "none": [None, None, None, None]},
        schema_overrides={"none": pl.Float64},
    )  # fmt: skip
    scores = sf.evaluate(frame, id_col="series_id", models=["model", "none"])
    overall = {r["model"]: r for r in scores.filter(scope="overall").iter_rows(named=True)}
    # Rows 1 and 3 are scored: errors 0 and 2.
    assert overall["model"]["n"] == 2
    assert overall["model"]["mae"] == pytest.approx(1.0)
    assert overall["none"]["n"] == 0
    assert np.isnan(overall["none"]["mae"])


def test_a_series_spanning_too_many_periods_is_refused_before_its_grid_is_allocated() -> None:
    # A stray epoch-zero time in a 2024 series at one second: 1.7 billion periods.
    times = [dt.datetime(1970, 1, 1), dt.datetime(2024, 1, 1), dt.datetime(2024, 1, 1, 0, 0, 1)]
    stray = pl.DataFrame({"series_id": ["a"] * 3, "date": times, "sales": [1.0, 2.0, 3.0]})
    roles = sf.ColumnRoles(id="series_id")
    span = r"series series_id=a spans \d+ periods of 1s from 1970-01-01"
    with pytest.raises(errors.DataError, match=span):
        sf.Naive().forecast(stray, roles, freq="1s", h=1)
    history = stray.with_columns(model=pl.col("sales"))
    with pytest.raises(errors.DataError, match=span):
        sf.evaluate(history, history.drop("model"), id_col="series_id", models=["model"], freq="1s")
    report = sf.validate(stray, id_col="series_id", freq="1s")
    assert [issue.check for issue in report.errors] == ["series_span"]


def test_gaps_too_many_to_fill_over_the_panel_are_refused_before_any_grid() -> None:
    # 120 series at one second, each spanning 8.64 million periods (under the 10 million a
    # series may span) in three rows: 1.04 billion periods missing in all, 8 GB of grid.
    start = dt.datetime(2024, 1, 1)
    late = start + dt.timedelta(seconds=8_640_000)
    times = [start, start + dt.timedelta(seconds=1), late] * 120
    names = [f"s{k:03d}" for k in range(120) for _ in range(3)]
    panel = pl.DataFrame({"series_id": names, "date": times, "sales": [1.0] * 360})
    roles = sf.ColumnRoles(id="series_id")
    too_many = r"column `date`: the series miss 1036799760 periods of 1s .* at most 100000000"
    with pytest.raises(errors.DataError, match=too_many):
        sf.Naive().forecast(panel, roles, freq="1s", h=1)
    report = sf.validate(panel, id_col="series_id", freq="1s")
    assert [issue.check for issue in report.errors] == ["missing_periods"]


def test_a_horizon_past_the_time_columns_range_is_refused_not_wrapped() -> None:
    # Nanosecond times (pandas' default) end in 2262.
    roles = sf.ColumnRoles(id="series_id")
    days = pl.datetime_range(dt.datetime(2024, 1, 1), dt.datetime(2024, 1, 10), "1d", eager=True)
    daily = pl.DataFrame({"series_id": ["a"] * 10, "date": days.cast(pl.Datetime("ns"))})
    daily = daily.with_columns(sales=pl.lit(1.0))
    with pytest.raises(errors.InvalidArgumentError, match=r"100000 periods of 1d .* can hold"):
        sf.Naive().forecast(daily, roles, freq="1d", h=100_000)
    month = sf.Naive().forecast(daily, roles, freq="1d", h=30)
    assert month["date"].max() == dt.datetime(2024, 2, 9)
    years = [dt.datetime(y, 1, 1) for y in (1800, 1900, 2000)]
    centuries = pl.DataFrame(
        {"series_id": ["a"] * 3, "date": pl.Series(years, dtype=pl.Datetime("ns"))}
    ).with_columns(sales=pl.lit(1.0))
    with pytest.raises(errors.InvalidArgumentError, match="can hold"):
        sf.Naive().forecast(centuries, roles, freq="100y", h=3)


@pytest.mark.parametrize(
    "dates",
    [
        pl.Series([2_000_000_000 + k for k in range(3)], dtype=pl.Int32).cast(pl.Date),
        pl.Series([-2_000_000_000 + k for k in range(3)], dtype=pl.Int32).cast(pl.Date),
        pl.Series([95_000_000 + k for k in range(3)], dtype=pl.Int32).cast(pl.Date),  # 262071
        pl.Series([10**18 + k * 86_400_000_000 for k in range(3)]).cast(pl.Datetime("us")),
    ],
    ids=["date-beyond-polars-display", "date-before-year-1", "year-262071", "us-year-33658"],
)
def test_times_outside_years_1_to_9999_are_refused_naming_the_row(dates: pl.Series) -> None:
    # Such times panicked in chrono or polars, or were read as 1970.
    frame = pl.DataFrame({"series_id": ["a"] * 3, "date": dates, "sales": [1.0, 2.0, 3.0]})
    roles = sf.ColumnRoles(id="series_id")
    outside = r"column `date`: a time outside years 1 to 9999 at row 0"
    for call in (
        lambda: sf.validate(frame, id_col="series_id"),
        lambda: sf.time_split(frame, 1, id_col="series_id"),
        lambda: sf.Naive().forecast(frame, roles, freq="1d", h=1),
    ):
        with pytest.raises(errors.DataError, match=outside):
            call()


def test_a_horizon_past_year_9999_is_refused() -> None:
    roles = sf.ColumnRoles(id="series_id")
    ends = [dt.date(9999, 12, 20) - dt.timedelta(days=k) for k in range(9, -1, -1)]
    late = pl.DataFrame({"series_id": ["a"] * 10, "date": ends, "sales": [1.0] * 10})
    room = 11
    last_day = sf.Naive().forecast(late, roles, freq="1d", h=room)["date"].max()
    assert last_day == dt.date(9999, 12, 31)
    with pytest.raises(
        errors.InvalidArgumentError, match=rf"{room + 1} periods of 1d .* years 1 to 9999"
    ):
        sf.Naive().forecast(late, roles, freq="1d", h=room + 1)


@pytest.mark.parametrize(("test_periods", "gap"), [(200_000, 0), (10**6, 0), (10, 10**15)])
def test_time_split_counting_back_past_the_time_range_is_too_short_not_wrapped(
    test_periods: int, gap: int
) -> None:
    # Nanosecond days: 200,000 of them back from 2024 wrapped to a split with an empty test set.
    ns = daily(("a",), 10).with_columns(pl.col("date").cast(pl.Datetime("ns")))
    with pytest.raises(errors.SeriesTooShortError, match=r"series series_id=a has 10 periods"):
        sf.time_split(ns, test_periods, gap=gap, id_col="series_id")


def test_data_from_year_1_trains_and_short_data_there_is_too_short() -> None:
    # Counting back from such data leaves the calendar: the direct strategy's training rows and
    # the windows' cutoffs there are before every period, not an error about the horizon.
    early = daily(days=60).with_columns(pl.col("date").dt.offset_by("-2022y"))
    assert early["date"].min() == dt.date(1, 1, 1)
    direct = sf.Forecaster(
        [sf.LightGBM(n_estimators=5)], sf.FeatureSpec(lags=[1, 7]), freq="1d", horizon=7,
        strategy="direct", cv_windows=2, verbose=False, id_col="series_id",
    )  # fmt: skip
    assert direct.fit(early).predict()["date"].min() == dt.date(1, 3, 2)
    naive = sf.Forecaster(
        [sf.Naive()], freq="1d", horizon=7, cv_windows=4, verbose=False, id_col="series_id"
    )
    short = early.filter(pl.col("date") < dt.date(1, 1, 21))
    with pytest.raises(errors.SeriesTooShortError, match=r"at least 29 are needed"):
        naive.fit(short)
    with pytest.raises(errors.SeriesTooShortError, match=r"at least 36 are needed"):
        naive.backtest(short, n_windows=5)


def test_evaluate_refuses_times_of_another_type_than_the_forecasts() -> None:
    # A Date history read as nanoseconds, or a cutoff in another unit, scored silently wrong
    # numbers or panicked.
    months = pl.date_range(dt.date(2020, 1, 1), dt.date(2021, 12, 1), "1mo", eager=True)
    history = pl.DataFrame({"series_id": ["a"] * 24, "date": months, "sales": [1.0] * 24})
    ahead = [dt.date(2022, 1, 1), dt.date(2022, 2, 1)]
    forecasts = pl.DataFrame(
        {"series_id": ["a"] * 2, "date": ahead, "sales": [1.0, 2.0], "m": [1.0, 2.0]}
    )
    in_ns = forecasts.with_columns(pl.col("date").cast(pl.Datetime("ns")))
    with pytest.raises(errors.ColumnTypeError, match=r"`date` has dtype date; expected datetime"):
        sf.evaluate(in_ns, history, id_col="series_id", freq="1mo")
    cut = forecasts.with_columns(cutoff=pl.lit(dt.datetime(2021, 12, 1), pl.Datetime("ns")))
    with pytest.raises(errors.ColumnTypeError, match=r"`cutoff` has dtype datetime\[ns\]"):
        sf.evaluate(cut, history, id_col="series_id", freq="1mo")
    assert sf.evaluate(cut, id_col="series_id", freq="1mo").height  # no history: never read
    zoned = history.with_columns(pl.col("date").cast(pl.Datetime("ns")).dt.replace_time_zone("UTC"))
    with pytest.raises(errors.ColumnTypeError, match=r"dtype datetime\[ns, UTC\]; expected"):
        sf.evaluate(in_ns, zoned, id_col="series_id", freq="1mo")


@pytest.mark.parametrize(("as_of", "after"), [(dt.date(1000, 1, 1), 5), (dt.date(9000, 1, 1), 0)])
def test_as_of_outside_a_nanosecond_column_is_before_or_after_all_of_it(
    as_of: dt.date, after: int
) -> None:
    # Nanosecond times hold 1677 to 2262: the conversion of as_of wrapped and turned it around.
    days = [dt.datetime(2020, 1, 1) + dt.timedelta(days=k) for k in range(5)]
    ns = pl.DataFrame({"series_id": ["a"] * 5, "date": days, "sales": [1.0] * 5})
    ns = ns.with_columns(pl.col("date").cast(pl.Datetime("ns")))
    report = sf.validate(ns, id_col="series_id", as_of=as_of)
    future = [issue.count for issue in report.issues if issue.check == "future_dates"]
    assert future == ([after] if after else [])


def test_group_series_off_one_grid_are_named_by_a_member_not_an_encoded_value() -> None:
    # Weekly stores of one region, anchored on Monday and on Tuesday.
    base = dt.date(2023, 1, 2)
    weekly = pl.DataFrame(
        [(s, base + dt.timedelta(days=off + 7 * k), float(k % 5 + 1), "North")
         for s, off in (("A", 0), ("B", 1)) for k in range(60)],
        schema=["store", "date", "sales", "region"], orient="row",
    )  # fmt: skip
    group = sf.GroupRolling(group_col="region", window=2, stats=["sum"], min_samples=1)
    spec = sf.FeatureSpec(lags=[1], group_rolling=[group])
    fc = sf.Forecaster(
        [sf.LightGBM(n_estimators=3)], spec, freq="1w", horizon=2, id_col="store",
        static_features=["region"], cv_windows=2, verbose=False,
    )  # fmt: skip
    off_grid = r"the series of the `region` group of store=A are not on one 1w grid: series store=B"
    with pytest.raises(errors.DataError, match=off_grid):
        fc.fit(weekly)


def test_a_step_over_a_century_is_named_not_suggested() -> None:
    apart = pl.DataFrame(
        {"series_id": ["a"] * 2, "date": [dt.date(1800, 1, 1), dt.date(2000, 1, 1)],
         "sales": [1.0, 2.0]}
    )  # fmt: skip
    report = sf.validate(apart, id_col="series_id")
    (info,) = [issue for issue in report.issues if issue.check == "frequency"]
    assert "is 73048d, longer than a century" in info.message
    refused = sf.validate(apart, id_col="series_id", freq="1d")
    assert [issue.check for issue in refused.errors] == ["frequency"]
    assert "the data steps by 73048d" in refused.errors[0].message
    assert "longer than a century" in refused.errors[0].message
    with pytest.raises(errors.InvalidArgumentError, match="longer than a century"):
        sf.time_split(apart, 1, id_col="series_id")
