"""Each numeric rule lives once, in the Rust core: the Forecaster, evaluate and the features
read the same rule. Every test here failed while a Python copy of the rule disagreed with the
core's (issue M9)."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

import numpy as np
import polars as pl
import pytest

import salesforecast as sf
from salesforecast import _native, errors
from salesforecast.errors import DataError, InvalidArgumentError, MissingColumnError

REPO = Path(__file__).resolve().parents[2]


def gappy_panel() -> pl.DataFrame:
    """Two daily series with a missing day in the last week of the first one."""
    days = [dt.date(2024, 1, 1) + dt.timedelta(days=i) for i in range(60)]
    rng = np.random.default_rng(3)
    frames = []
    for sid, level in (("a", 50.0), ("b", 20.0)):
        values = level + 10 * np.sin(np.arange(60) * 2 * np.pi / 7) + rng.normal(0, 2, 60)
        frames.append(pl.DataFrame({"series_id": sid, "date": days, "sales": values}))
    panel = pl.concat(frames)
    return panel.filter(~((pl.col("series_id") == "a") & (pl.col("date") == days[-4])))


def baseline_forecaster(model: sf.SeasonalNaive | sf.MovingAverage) -> sf.Forecaster:
    return sf.Forecaster(
        [model], sf.FeatureSpec(lags=[7]), freq="1d", horizon=7, cv_windows=1, verbose=False
    )


def test_seasonal_naive_reads_the_grid_like_evaluate() -> None:
    # By row, a missing day shifted the season: the forecast repeated the wrong weekdays.
    panel = gappy_panel()
    pred = baseline_forecaster(sf.SeasonalNaive(season_length=7)).fit(panel).predict()
    history = panel.filter(pl.col("series_id") == "a").sort("date")
    last = history["date"].max()
    for row in pred.filter(pl.col("series_id") == "a").iter_rows(named=True):
        season_ago = row["date"] - dt.timedelta(days=7)
        found = history.filter(pl.col("date") == season_ago)["sales"]
        expected = found[0] if found.len() else history.filter(pl.col("date") == last)["sales"][0]
        assert row["seasonal_naive"] == pytest.approx(expected), row
    # evaluate's seasonal-naive baseline is the same forecast.
    actual = pred.with_columns(pl.lit(1.0).alias("sales"))
    scores = sf.evaluate(actual, panel, models=["seasonal_naive"], id_col="series_id")
    mine = scores.filter((pl.col("scope") == "overall") & (pl.col("model") == "seasonal_naive"))
    assert mine["mae"][0] == pytest.approx(
        float((pred["seasonal_naive"] - 1.0).abs().mean()), rel=1e-12
    )


def test_moving_average_window_is_the_models_own() -> None:
    panel = gappy_panel()
    pred = baseline_forecaster(sf.MovingAverage(window=3)).fit(panel).predict()
    tail = panel.filter(pl.col("series_id") == "b").sort("date")["sales"].tail(3)
    assert pred.filter(pl.col("series_id") == "b")["moving_average"][0] == pytest.approx(
        float(tail.mean())
    )


def test_interval_scale_is_the_seasonal_naive_error_on_the_grid() -> None:
    # One rule for the scale intervals are measured in and MASE divides by (on a series with a
    # seasonal pair; without, intervals use the naive error and MASE is missing): with a missing
    # period, the row-shifted scale differed from the grid's. The width grows with the
    # forecast's level against the last week's (one season; the horizon is no longer).
    panel = gappy_panel()
    fc = baseline_forecaster(sf.SeasonalNaive(season_length=7)).fit(panel)
    pred = fc.predict()
    widths = fc.interval_widths
    assert widths is not None
    a = panel.filter(pl.col("series_id") == "a").sort("date")
    grid = a.upsample("date", every="1d")["sales"].to_numpy()
    scale = np.nanmean(np.abs(grid[7:] - grid[:-7]))
    level = np.nanmean(grid[-7:])
    row = pred.filter(pl.col("series_id") == "a").row(0, named=True)
    spread = scale * np.sqrt(np.clip(row["seasonal_naive"] / max(level, scale), 0.1, 10))
    hi = row["seasonal_naive"] + widths["seasonal_naive"][0][0][1] * spread
    assert row["seasonal_naive-hi-80"] == pytest.approx(hi, rel=1e-9)


def test_sub_daily_frequencies_forecast_on_their_own_grid() -> None:
    # "15min" went to polars offset_by through a Python copy of the frequency arithmetic.
    start = dt.datetime(2024, 1, 1)
    times = [start + dt.timedelta(minutes=15 * i) for i in range(400)]
    values = 10 + 3 * np.sin(np.arange(400) * 2 * np.pi / 96)
    panel = pl.DataFrame({"series_id": "s", "date": times, "sales": values})
    fc = sf.Forecaster(
        [sf.LightGBM(n_estimators=20), sf.SeasonalNaive(season_length=96)],
        sf.FeatureSpec(lags=[1, 96], calendar=["hour"]),
        freq="15min",
        horizon=8,
        cv_windows=2,
        season_length=96,
        verbose=False,
    )
    pred = fc.fit(panel).predict()
    assert pred["date"].to_list() == [times[-1] + dt.timedelta(minutes=15 * k) for k in range(1, 9)]
    assert pred["date"].dtype == panel["date"].dtype


def test_monthly_dates_keep_month_ends_and_dtype() -> None:
    months = pl.date_range(dt.date(2018, 1, 31), dt.date(2023, 12, 31), "1mo", eager=True)
    months = months.dt.month_end()
    panel = pl.DataFrame({"series_id": "m", "date": months, "sales": np.arange(len(months)) + 1.0})
    fc = sf.Forecaster(
        [sf.Naive()], sf.FeatureSpec(lags=[1]), freq="M", horizon=3, cv_windows=1, verbose=False
    )
    pred = fc.fit(panel).predict()
    assert fc.freq == "1mo"
    assert pred["date"].to_list() == [
        dt.date(2024, 1, 31),
        dt.date(2024, 2, 29),
        dt.date(2024, 3, 31),
    ]
    assert pred["date"].dtype == pl.Date


@pytest.mark.parametrize(
    ("alias", "canonical"), [("D", "1d"), ("W", "1w"), ("MS", "1mo"), ("7D", "1w"), ("h", "1h")]
)
def test_pandas_frequency_aliases_are_translated_at_construction(
    alias: str, canonical: str
) -> None:
    fc = sf.Forecaster([sf.Naive()], sf.FeatureSpec(lags=[1]), freq=alias, horizon=2)
    assert fc.freq == canonical


def test_bad_frequencies_are_refused_at_construction_with_the_syntax() -> None:
    for bad in ("B", "fortnight", "0d", ""):
        with pytest.raises(InvalidArgumentError, match=r"freq.*e\.g\. \"1d\""):
            sf.Forecaster([sf.Naive()], sf.FeatureSpec(lags=[1]), freq=bad, horizon=2)


def test_weekly_data_with_a_daily_frequency_is_refused_at_fit() -> None:
    weeks = pl.date_range(dt.date(2022, 1, 3), dt.date(2023, 12, 25), "1w", eager=True)
    panel = pl.DataFrame({"series_id": "w", "date": weeks, "sales": np.ones(len(weeks))})
    fc = sf.Forecaster([sf.Naive()], sf.FeatureSpec(lags=[1]), freq="1d", horizon=4, verbose=False)
    with pytest.raises(DataError, match=r"`date`.*steps by 1w.*freq=\"1w\""):
        fc.fit(panel)


def test_lookback_is_the_cores_and_counts_differences() -> None:
    spec = sf.FeatureSpec(
        lags=[7], rolling=[sf.Rolling(window=28, lag=7)], target_transforms=["diff7"]
    )
    assert spec.lookback == 7 + 28 - 1 + 7
    assert sf.FeatureSpec(lags=[1, 14]).lookback == 14
    # The history a forecaster needs counts only the features reading at most a year back
    # (364 days); the differences always count.
    assert _native.feature_lookback(spec.to_json(), within=30) == 7 + 7
    yearly = sf.FeatureSpec.for_frequency("1d").to_json()
    assert (_native.feature_lookback(yearly), _native.feature_lookback(yearly, 364)) == (367, 28)


def test_forecast_rules_are_refused_by_the_core_at_construction() -> None:
    with pytest.raises(InvalidArgumentError, match=r"past_only.*shorter than the horizon"):
        sf.Forecaster(
            [sf.Naive()], sf.FeatureSpec(lags=[1, 7]), freq="1d", horizon=7, past_only=["x"]
        )
    standardized = sf.FeatureSpec(
        lags=[1],
        group_rolling=[sf.GroupRolling(group_col="store_id", window=7)],
        target_transforms=["standardize"],
    )
    with pytest.raises(InvalidArgumentError, match="standardize with group_rolling"):
        sf.Forecaster([sf.Naive()], standardized, freq="1d", horizon=2)


def test_log1p_is_undone_by_the_core() -> None:
    # The inverse lives beside the forward transform; the Python copies (expm1) are gone.
    package = REPO / "python" / "salesforecast"
    sources = "\n".join(p.read_text() for p in package.rglob("*.py"))
    assert "expm1" not in sources
    panel = gappy_panel()
    fc = sf.Forecaster(
        [sf.LightGBM(n_estimators=30)],
        sf.FeatureSpec(lags=[1, 7], target_transforms=["log1p"]),
        freq="1d",
        horizon=7,
        cv_windows=1,
        verbose=False,
    )
    pred = fc.fit(panel).predict()
    assert pred["lightgbm"].min() > 5  # on the sales scale (log scale would be below 5)


def test_models_must_be_instances() -> None:
    with pytest.raises(
        InvalidArgumentError, match=r"LightGBM is a class; pass an instance, LightGBM\(\)"
    ):
        sf.Forecaster([sf.LightGBM], sf.FeatureSpec(lags=[1]), freq="1d", horizon=2)  # type: ignore[list-item]
    with pytest.raises(InvalidArgumentError, match="not a model"):
        sf.Forecaster(["lightgbm"], sf.FeatureSpec(lags=[1]), freq="1d", horizon=2)  # type: ignore[list-item]


def test_predict_beyond_the_horizon_names_only_h() -> None:
    fc = baseline_forecaster(sf.SeasonalNaive(7)).fit(gappy_panel())
    with pytest.raises(InvalidArgumentError, match="h") as caught:
        fc.predict(h=30)
    assert "gap" not in str(caught.value)
    assert "horizon 7" in str(caught.value)


def test_cutoff_without_training_data_suggests_fewer_windows() -> None:
    months = pl.date_range(dt.date(2022, 1, 1), dt.date(2023, 12, 1), "1mo", eager=True)
    panel = pl.DataFrame({"series_id": "m", "date": months, "sales": np.arange(24) + 1.0})
    fc = sf.Forecaster(
        [sf.Naive()], sf.FeatureSpec(lags=[1]), freq="1mo", horizon=12, verbose=False
    )
    with pytest.raises(DataError, match="fewer cv_windows"):
        fc.fit(panel)


def test_roles_are_remembered_and_evaluate_scores_only_forecasts() -> None:
    panel = sf.generate_sales(n_stores=2, n_products=2, start="2023-01-01", end="2023-06-30")
    panel = panel.rename({"product_id": "sku"})
    roles = sf.ColumnRoles(
        id=["store_id", "sku"], static_features=["category"], known_future=["price", "promo"]
    )
    fc = sf.Forecaster(
        [sf.LightGBM(n_estimators=20), sf.SeasonalNaive(7)],
        sf.FeatureSpec(lags=[7, 14]),
        freq="1d",
        horizon=7,
        cv_windows=2,
        roles=roles,
        verbose=False,
    )
    data = panel.select("store_id", "sku", "date", "sales", "category", "price", "promo")
    cv = fc.cross_validation(data, n_windows=2)
    # The backtest carries the static features: segments need no join.
    assert "category" in cv.columns
    by_segment = sf.evaluate(cv, data, segment="category", id_col=["store_id", "sku"])
    assert set(by_segment.filter(pl.col("scope") == "segment")["unit"]) == set(data["category"])
    # Data joined to forecasts is not scored as a model.
    train, test = sf.time_split(data, test_periods=7, id_col=["store_id", "sku"])
    joined = test.join(fc.fit(train).predict(future=test), on=["store_id", "sku", "date"])
    scored = set(sf.evaluate(joined, train, id_col=["store_id", "sku"])["model"])
    assert {"price", "promo"}.isdisjoint(scored)
    assert {"lightgbm", "seasonal_naive", "ensemble"} <= scored
    # The forecaster's own evaluate and diagnose need no column names.
    assert set(fc.evaluate(joined, train)["model"]) >= {"lightgbm", "ensemble"}
    assert fc.diagnose(cv).n > 0
    # So do the charts, with the forecaster's roles instead of three keywords.
    charts = [
        sf.plots.forecast(fc.predict(future=test), train, roles=fc.roles, format="svg"),
        sf.plots.backtest(cv, roles=fc.roles, format="svg"),
        sf.plots.coverage(cv, roles=fc.roles, format="svg"),
        sf.plots.residuals(cv, roles=fc.roles, format="svg"),
    ]
    assert all(len(chart) > 1000 for chart in charts)
    with pytest.raises(MissingColumnError):
        sf.plots.backtest(cv)  # the keys are not the default ones
    # Roles and keywords together are refused.
    with pytest.raises(InvalidArgumentError, match="either"):
        sf.Forecaster(
            [sf.Naive()],
            sf.FeatureSpec(lags=[1]),
            freq="1d",
            horizon=2,
            roles=roles,
            time_col="day",
        )


def test_config_objects_are_checked_when_built() -> None:
    with pytest.raises(InvalidArgumentError, match="already has the role"):
        sf.ColumnRoles(known_future=["price"], past_only=["price"])
    with pytest.raises(InvalidArgumentError, match="levels"):
        sf.Intervals(levels=(80, 120))
    with pytest.raises(InvalidArgumentError, match="interval_method"):
        sf.Intervals(method="bootstrap")  # type: ignore[arg-type]
    with pytest.raises(InvalidArgumentError, match="ensemble_loss"):
        sf.Ensemble(loss="huber")  # type: ignore[arg-type]
    fc = sf.Forecaster(
        [sf.Naive()],
        sf.FeatureSpec(lags=[1]),
        freq="1d",
        horizon=2,
        intervals=sf.Intervals(levels=(90,), method="conformal_error", windows=2),
        ensemble=sf.Ensemble("mean"),
    )
    assert (fc.levels, fc.interval_method, fc.cv_windows, fc.ensemble) == (
        [90],
        "conformal_error",
        2,
        "mean",
    )
    assert "not fitted" in repr(fc)
    for booster, own in ((sf.LightGBM, "num_leaves"), (sf.XGBoost, "min_child_weight")):
        for parameter in (own, "n_estimators", "learning_rate", "objective"):
            assert f"``{parameter}``" in (booster.__doc__ or ""), (booster, parameter)
    doc = sf.Forecaster.__doc__ or ""
    for argument in ("freq", "season_length", "roles", "known_future", "verbose", "intervals"):
        assert f"{argument}:" in doc or f"{argument}," in doc, argument


# Raised only when the core or the drawing backend fails in a way the API's own checks
# prevent: no input a test can give reaches them.
UNPROVOKABLE = {"InternalError", "ChartError"}


def test_every_exception_the_binding_names_exists_and_is_raised_by_a_test() -> None:
    binding = (REPO / "rust" / "salesforecast-py" / "src" / "errors.rs").read_text()
    named = set(re.findall(r'=> "(\w+)"', binding))
    assert len(named) >= 10
    tests = "\n".join(
        p.read_text() for p in (REPO / "tests").rglob("*.py") if p.name != Path(__file__).name
    ) + "\n".join(
        # This file's own raising tests below count; its lists of names do not.
        line
        for line in Path(__file__).read_text().splitlines()
        if "pytest.raises(" in line
    )
    for name in sorted(named):
        cls = getattr(errors, name, None)
        assert isinstance(cls, type), name
        assert issubclass(cls, errors.SalesForecastError), name
        if name not in UNPROVOKABLE:
            assert re.search(rf"raises\((errors\.|sf\.errors\.)?{name}\b", tests), name


def test_column_booster_and_storage_errors_reach_python_typed(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    frame = pl.DataFrame({"series_id": ["a"] * 3, "date": ["2024-01-01"] * 3, "sales": [1.0] * 3})
    with pytest.raises(errors.ColumnTypeError, match="`date`"):
        sf.time_split(frame, test_periods=1)
    x = np.random.default_rng(0).random((50, 2))
    with pytest.raises(errors.BoosterError, match="lambda_l1"):
        sf.LightGBM(n_estimators=2, reg_alpha=-1.0).fit(x, x[:, 0])
    for name, value in {
        "AWS_ACCESS_KEY_ID": "test",
        "AWS_SECRET_ACCESS_KEY": "test",
        "AWS_ENDPOINT_URL": "http://127.0.0.1:9",
        "AWS_ALLOW_HTTP": "true",
    }.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(errors.StorageError, match="s3://bucket/x"):
        sf.storage.read_bytes("s3://bucket/x")


def test_missing_columns_are_named_with_the_frame() -> None:
    fc = baseline_forecaster(sf.SeasonalNaive(7))
    with pytest.raises(MissingColumnError, match="`df`"):
        fc.fit(gappy_panel().drop("sales"))


def test_a_fitted_forecaster_backtests_with_each_folds_own_intervals() -> None:
    # The fitted forecaster's widths (calibrated on the periods a backtest scores) must not
    # leak into cross_validation: fitted or not, the backtest is the same.
    panel = gappy_panel()

    def make() -> sf.Forecaster:
        return sf.Forecaster(
            [sf.SeasonalNaive(7), sf.Naive()],
            sf.FeatureSpec(lags=[7]),
            freq="1d",
            horizon=7,
            cv_windows=2,
            verbose=False,
        )

    keys = ["series_id", "date", "cutoff"]
    fresh = make().cross_validation(panel, n_windows=2).sort(keys)
    fitted = make().fit(panel).cross_validation(panel, n_windows=2).sort(keys)
    assert fitted.equals(fresh)


def test_multi_week_and_multi_month_steps_are_the_datas_own() -> None:
    four_weekly = pl.date_range(dt.date(2021, 1, 3), dt.date(2023, 12, 31), "4w", eager=True)
    panel = pl.DataFrame(
        {"series_id": "r", "date": four_weekly, "sales": np.arange(len(four_weekly)) + 1.0}
    )
    fc = sf.Forecaster(
        [sf.Naive()], sf.FeatureSpec(lags=[1]), freq="4w", horizon=2, cv_windows=1, verbose=False
    )
    pred = fc.fit(panel).predict()
    assert pred["date"].to_list() == [four_weekly[-1] + dt.timedelta(days=28 * k) for k in (1, 2)]


def test_a_monthly_series_on_the_28th_stays_on_the_28th() -> None:
    months = pl.date_range(dt.date(2021, 1, 28), dt.date(2023, 2, 28), "1mo", eager=True)
    panel = pl.DataFrame({"series_id": "m", "date": months, "sales": np.ones(len(months))})
    fc = sf.Forecaster(
        [sf.Naive()], sf.FeatureSpec(lags=[1]), freq="1mo", horizon=2, cv_windows=1, verbose=False
    )
    assert fc.fit(panel).predict()["date"].to_list() == [dt.date(2023, 3, 28), dt.date(2023, 4, 28)]


def test_zoned_datetimes_keep_their_time_zone() -> None:
    times = pl.datetime_range(
        dt.datetime(2024, 1, 1), dt.datetime(2024, 3, 31), "1d", time_zone="UTC", eager=True
    )
    panel = pl.DataFrame({"series_id": "z", "date": times, "sales": np.arange(len(times)) + 1.0})
    fc = sf.Forecaster(
        [sf.SeasonalNaive(7), sf.LightGBM(n_estimators=10)],
        sf.FeatureSpec(lags=[1, 7]),
        freq="1d",
        horizon=3,
        cv_windows=1,
        verbose=False,
    )
    pred = fc.fit(panel).predict()
    assert pred["date"].dtype == panel["date"].dtype
    assert pred["date"].to_list() == [times[-1] + dt.timedelta(days=k) for k in (1, 2, 3)]
    cv = fc.cross_validation(panel, n_windows=1)
    assert cv["date"].dtype == panel["date"].dtype


def test_numpy_integers_are_integers() -> None:
    fc = sf.Forecaster(
        [sf.SeasonalNaive(np.int64(7))],
        sf.FeatureSpec(lags=[1]),
        freq="1d",
        horizon=np.int64(3),
        cv_windows=np.int32(1),
        season_length=np.int64(7),
        verbose=False,
    )
    assert fc.fit(gappy_panel()).predict(h=np.int64(2)).height == 4


def test_season_length_follows_the_frequency_unless_given() -> None:
    def season(freq: str, **kwargs: int) -> int:
        fc = sf.Forecaster(
            [sf.SeasonalNaive()], sf.FeatureSpec(lags=[1]), freq=freq, horizon=2, **kwargs
        )
        return fc.season_length

    assert [season("1d"), season("W"), season("MS"), season("1q"), season("1h")] == [
        7,
        52,
        12,
        4,
        24,
    ]
    assert season("1w", season_length=13) == 13
    # SeasonalNaive() repeats the forecaster's season: one year back for weekly data.
    weeks = pl.date_range(dt.date(2020, 1, 6), dt.date(2023, 12, 25), "1w", eager=True)
    panel = pl.DataFrame({"series_id": "w", "date": weeks, "sales": np.arange(len(weeks)) * 1.0})
    fc = sf.Forecaster(
        [sf.SeasonalNaive()],
        sf.FeatureSpec(lags=[1]),
        freq="1w",
        horizon=2,
        cv_windows=1,
        verbose=False,
    )
    pred = fc.fit(panel).predict()
    assert pred["seasonal_naive"].to_list() == [float(len(weeks) - 52), float(len(weeks) - 51)]
