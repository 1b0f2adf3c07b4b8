"""Forecast quality on real-looking panels (issue M10): defaults by frequency, the statistical
models on hand-checked series, the ensemble's shrunk weights and the guard."""

from __future__ import annotations

import datetime as dt
import json
import logging
import re
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import pytest

import salesforecast as sf
from salesforecast import tracking
from salesforecast.errors import (
    EndedSeriesWarning,
    InvalidArgumentError,
    MissingColumnError,
    ModelFileError,
)
from salesforecast.forecast import _guarded_from_json, _guarded_to_json


def daily(values: dict[str, np.ndarray], start: dt.date = dt.date(2024, 1, 1)) -> pl.DataFrame:
    """One daily series per entry."""
    frames = []
    for sid, v in values.items():
        days = [start + dt.timedelta(days=i) for i in range(len(v))]
        frames.append(pl.DataFrame({"series_id": sid, "date": days, "sales": v.astype(float)}))
    return pl.concat(frames)


def forecast(model: sf.AutoETS | sf.Theta, frame: pl.DataFrame, h: int, freq: str = "1d"):
    out = model.forecast(frame, sf.ColumnRoles(id="series_id"), freq, h)
    return out.sort("series_id", "date")


# ---------------------------------------------------------------------- defaults by frequency


@pytest.mark.parametrize(
    ("freq", "season", "calendar"),
    [
        ("1d", 7, "dayofweek"),
        ("W", 52, "weekofyear"),
        ("MS", 12, "month"),
        ("1h", 24, "hour"),
    ],
)
def test_a_forecaster_needs_only_frequency_and_horizon(
    freq: str, season: int, calendar: str
) -> None:
    fc = sf.Forecaster(freq=freq, horizon=6)
    assert fc.season_length == season
    assert fc.model_names == ["lightgbm", "auto_ets", "theta", "seasonal_naive", "naive"]
    lags = list(fc.features.lags)
    # Lags 1 up to one season (at most 13) and the seasonal lag.
    assert lags == sorted({*range(1, min(season, 13) + 1), season})
    assert calendar in fc.features.calendar
    # Only daily counts read the last four weeks too (overall and weekday by weekday) and
    # the week around the same weekday a year before.
    windows = [(r.window, r.lag) for r in fc.features.rolling]
    short = min(season, 13)
    assert windows == ([(7, 1), (28, 1), (7, 361)] if freq == "1d" else [(short, 1)])
    assert [r.window for r in fc.features.seasonal_rolling] == ([4] if freq == "1d" else [])
    # Explicit arguments keep overriding the defaults.
    own = sf.Forecaster([sf.Naive()], sf.FeatureSpec(lags=[1]), freq=freq, horizon=6)
    assert own.model_names == ["naive"]
    assert list(own.features.lags) == [1]


def test_the_yearly_mean_does_not_make_a_recent_new_df_short() -> None:
    # The daily defaults read a week a year back, but a series' first year lacks it anyway:
    # only the 28 days the other features read make a `new_df` short.
    df = sf.generate_sales(n_stores=1, n_products=2, start="2023-01-01", end="2023-12-31")
    df = df.select("store_id", "product_id", "date", "sales")
    fc = sf.Forecaster(freq="1d", horizon=7, verbose=False).fit(df)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        fc.predict(new_df=df.filter(pl.col("date") >= dt.date(2023, 11, 1)))
    with pytest.warns(UserWarning, match="fewer than the 28 periods"):
        fc.predict(new_df=df.filter(pl.col("date") >= dt.date(2023, 12, 15)))


def test_the_default_forecaster_fits_and_forecasts_a_panel() -> None:
    df = sf.generate_sales(n_stores=1, n_products=3, start="2023-01-01", end="2023-12-31")
    train, test = sf.time_split(df.select("store_id", "product_id", "date", "sales"), 14)
    fc = sf.Forecaster(freq="1d", horizon=14, verbose=False).fit(train)
    weights = fc.weights or {}
    assert set(weights) == set(fc.model_names)
    assert abs(sum(weights.values()) - 1) < 1e-9
    assert fc.calibration is not None
    assert fc.calibration.trust is not None
    assert 0 <= fc.calibration.trust < 1
    pred = fc.predict()
    assert pred.height == test.height
    assert pred["ensemble"].is_finite().all()
    # The run records the rounds early stopping chose beside the spec's 300.
    (rounds,) = fc.fitted_rounds["lightgbm"]
    assert rounds != 300
    assert set(fc.fitted_rounds) == {"lightgbm"}
    params = tracking._params(fc, None)
    assert params["model.lightgbm.n_estimators"] == "300"
    assert params["model.lightgbm.fitted_rounds"] == str(rounds)


# ---------------------------------------------------------------------- statistical models


@pytest.mark.parametrize("model", [sf.AutoETS(), sf.Theta()], ids=["ets", "theta"])
def test_a_constant_series_forecasts_the_constant(model: sf.AutoETS | sf.Theta) -> None:
    out = forecast(model, daily({"flat": np.full(60, 42.0)}), 10)
    np.testing.assert_allclose(out["forecast"].to_numpy(), 42.0, rtol=1e-6)


def test_ets_continues_a_pure_trend() -> None:
    trend = 10 + 2 * np.arange(60.0)
    out = forecast(sf.AutoETS(), daily({"up": trend}), 5)
    np.testing.assert_allclose(out["forecast"].to_numpy(), 10 + 2 * np.arange(60, 65), rtol=1e-3)


def test_theta_follows_a_pure_trend_at_half_its_slope_plus_the_level() -> None:
    # Theta forecasts simple exponential smoothing (which, on a straight line, ends at the last
    # value) plus half the slope of the fitted trend line per step (theta 2, the standard
    # method): the forecasts rise, and at a slope between the drift's half and all of it.
    trend = 10 + 2 * np.arange(60.0)
    f = forecast(sf.Theta(variant="STM"), daily({"up": trend}), 5)["forecast"].to_numpy()
    steps = np.diff(f)
    assert np.all(steps > 0.9), f
    assert np.all(steps < 2.1), f
    assert abs(f[0] - 130) < 4, f


@pytest.mark.parametrize("model", [sf.AutoETS(), sf.Theta()], ids=["ets", "theta"])
def test_a_pure_season_is_repeated(model: sf.AutoETS | sf.Theta) -> None:
    pattern = np.array([10.0, 20.0, 30.0, 25.0, 15.0, 5.0, 12.0])
    out = forecast(model, daily({"weekly": np.tile(pattern, 12)}), 14)
    np.testing.assert_allclose(out["forecast"].to_numpy(), np.tile(pattern, 2), rtol=0.02)


def test_statistical_settings_are_checked_when_built() -> None:
    with pytest.raises(InvalidArgumentError, match="model"):
        sf.AutoETS(model="ZMZ")
    with pytest.raises(InvalidArgumentError, match="model"):
        sf.AutoETS(model="XYZ")
    with pytest.raises(InvalidArgumentError, match="variant"):
        sf.Theta(variant="fancy")
    with pytest.raises(InvalidArgumentError, match="season_length"):
        sf.AutoETS(season_length=0)


def test_statistical_models_round_trip_through_a_bundle(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    t = np.arange(120)
    frame = daily(
        {
            "a": 50 + 10 * np.sin(2 * np.pi * t / 7) + rng.normal(0, 2, 120),
            "b": 20 + 0.1 * t + rng.normal(0, 1, 120),
        }
    )
    fc = sf.Forecaster(
        [sf.AutoETS(damped=True), sf.Theta(variant="OTM"), sf.SeasonalNaive()],
        sf.FeatureSpec(lags=[7]),
        freq="1d",
        horizon=7,
        id_col="series_id",
        verbose=False,
    ).fit(frame)
    before = fc.predict()
    fc.save(tmp_path / "bundle")
    manifest = (tmp_path / "bundle" / "manifest.json").read_text()
    assert '"kind": "AutoETS"' in manifest
    assert '"kind": "Theta"' in manifest
    loaded = sf.Forecaster.load(tmp_path / "bundle")
    assert loaded.models == fc.models
    assert loaded.predict().equals(before)


# ---------------------------------------------------------------------- the guard


def spiked_panel() -> pl.DataFrame:
    """Two calm daily series; the last day of `spike` is a thousand times its level."""
    rng = np.random.default_rng(1)
    calm = 10 + rng.normal(0, 1, 200)
    spiked = 10 + rng.normal(0, 1, 200)
    spiked[-1] = 10_000.0
    return daily({"calm": calm, "spike": spiked})


def guarded_forecaster(guard: bool, models: list[Any] | None = None) -> sf.Forecaster:
    return sf.Forecaster(
        models or [sf.Naive(), sf.SeasonalNaive(), sf.MovingAverage(window=150)],
        sf.FeatureSpec(lags=[7]),
        freq="1d",
        horizon=7,
        id_col="series_id",
        guard=guard,
        verbose=False,
    )


def test_the_guard_replaces_a_planted_explosive_forecast() -> None:
    panel = spiked_panel()
    unguarded = guarded_forecaster(False).fit(panel).predict()
    fc = guarded_forecaster(True).fit(panel)
    guarded = fc.predict()
    spike = pl.col("series_id") == "spike"
    # Naive repeats the spike: 10,000 for a week, a thousand scales from the consensus.
    assert unguarded.filter(spike)["naive"].min() == 10_000.0
    replaced = guarded.filter(spike)["naive"].to_numpy()
    assert fc.last_guarded is not None
    assert fc.last_guarded.select("series_id", "model").to_dicts() == [
        {"series_id": "spike", "model": "naive"}
    ]
    assert fc.last_guarded["distance"][0] > 3
    # The consensus is the step-wise median of every path and seasonal naive's (counted again
    # as the anchor): for six days near the level, on the seventh the spike seasonal naive
    # repeats.
    paths = unguarded.filter(spike).select("naive", "seasonal_naive", "moving_average")
    consensus = np.median(
        np.column_stack([paths.to_numpy(), paths["seasonal_naive"].to_numpy()]), axis=1
    )
    np.testing.assert_allclose(replaced, consensus)
    assert replaced[:6].max() < 100
    # Everything else is untouched.
    calm = pl.col("series_id") == "calm"
    assert guarded.filter(calm).equals(unguarded.filter(calm))
    for name in ("seasonal_naive", "moving_average"):
        assert guarded[name].equals(unguarded[name])
    assert fc.settings()["guard"] is True


def test_the_guard_keeps_a_path_that_foresees_last_years_peak() -> None:
    # Over two years, one week a year sells ten times the usual; the history ends the day
    # before that week comes again. Seasonal naive over a year foresees it; the other models
    # do not, so it lies far from their consensus, but right on the series' last year.
    rng = np.random.default_rng(2)
    n = 800
    peaked = 10 + rng.normal(0, 1, n)
    for start in (n - 364, n - 728):
        peaked[start : start + 7] = 100.0
    exploding = 10 + rng.normal(0, 1, n)
    exploding[-1] = 10_000.0
    panel = daily({"peaked": peaked, "exploding": exploding})
    models = [sf.Naive(), sf.SeasonalNaive(), sf.SeasonalNaive(season_length=364)]
    fc = guarded_forecaster(True, models).fit(panel)
    out = fc.predict().filter(pl.col("series_id") == "peaked")
    assert out["seasonal_naive_2"].min() == 100.0
    assert fc.last_guarded is not None
    # The exploding naive path has a last year too, and is still replaced.
    assert fc.last_guarded.select("series_id", "model").to_dicts() == [
        {"series_id": "exploding", "model": "naive"}
    ]
    assert fc.last_guarded["last_year_distance"][0] > 3


# ---------------------------------------------------------------------- the ensemble


def weekly(n: int) -> pl.DataFrame:
    rng = np.random.default_rng(2)
    t = np.arange(n)
    frames = [
        pl.DataFrame(
            {
                "series_id": sid,
                "date": [dt.date(2020, 1, 6) + dt.timedelta(weeks=int(i)) for i in t],
                "sales": level + 5 * np.sin(2 * np.pi * t / 52) + rng.normal(0, 1, n),
            }
        )
        for sid, level in (("a", 30.0), ("b", 60.0))
    ]
    return pl.concat(frames)


@pytest.mark.parametrize(
    ("weeks", "levels", "windows"), [(208, (80,), 7), (208, (80, 95), 10), (120, (80, 95), 2)]
)
def test_calibration_windows_span_a_season_and_feed_the_intervals(
    weeks: int, levels: tuple[int, ...], windows: int, capsys: pytest.CaptureFixture[str]
) -> None:
    # Eight-week windows: seven cover a 52-week season. A 95% bound needs 19 scores per step,
    # ten windows of two series. 208 weeks leave two seasons to train on before the first of
    # ten; 120 weeks do not, so the forecaster keeps its two.
    sf.Forecaster(
        [sf.SeasonalNaive(), sf.Naive()],
        sf.FeatureSpec(lags=[1]),
        freq="1w",
        horizon=8,
        cv_windows=2,
        levels=levels,
        id_col="series_id",
    ).fit(weekly(weeks))
    err = capsys.readouterr().err
    assert f"calibration 1 of {windows}:" in err


def test_series_that_end_on_different_dates_are_calibrated_from_their_own_ends() -> None:
    # As in M4, series `b` ends half a year before `a`: its calibration windows are counted
    # back from its own end, where it is forecast from, so it feeds the weights and widths as
    # much as `a` does (with windows counted back from the panel's end, it would feed none).
    def scores(frame: pl.DataFrame) -> list[int]:
        fc = sf.Forecaster(
            [sf.SeasonalNaive(), sf.Naive(), sf.LightGBM(n_estimators=20)],
            sf.FeatureSpec(lags=[1, 52]),
            freq="1w",
            horizon=8,
            cv_windows=2,
            levels=(80,),
            id_col="series_id",
        ).fit(frame)
        assert fc.conformity_scores is not None
        return [len(step) for step in fc.conformity_scores["ensemble"]]

    aligned = weekly(208)
    ragged = aligned.with_columns(
        pl.when(pl.col("series_id") == "b")
        .then(pl.col("date") - dt.timedelta(weeks=26))
        .otherwise(pl.col("date"))
    )
    assert scores(ragged) == scores(aligned)
    assert min(scores(aligned)) >= 2 * 7


def test_a_calibration_window_forecasts_the_same_weeks_a_year_before(
    capsys: pytest.CaptureFixture[str],
) -> None:
    # Two years of days, forecasts of the two weeks after 2025-12-30: four recent windows
    # reach back eight weeks, so a fifth forecasts the two weeks after 2024-12-31 (364 days
    # earlier, the same weekdays), what a December forecast needs to know about December.
    t = np.arange(730)
    frame = daily({"a": 50 + 5 * np.sin(2 * np.pi * t / 7)}, start=dt.date(2024, 1, 1))
    sf.Forecaster(
        [sf.SeasonalNaive(), sf.Naive()],
        sf.FeatureSpec(lags=[1]),
        freq="1d",
        horizon=14,
        levels=(80,),
        id_col="series_id",
    ).fit(frame)
    err = capsys.readouterr().err
    assert "calibration 1 of 5: cutoff 2024-12-31" in err
    assert "calibration 2 of 5: cutoff 2025-11-04" in err


def test_missing_targets_at_the_end_do_not_shift_the_season() -> None:
    pattern = np.array([10.0, 20.0, 30.0, 40.0, 50.0, 60.0, 70.0])
    frame = daily({"a": np.tile(pattern, 10)}).with_row_index()
    frame = frame.with_columns(
        pl.when(pl.col("index") >= 67).then(None).otherwise(pl.col("sales")).alias("sales")
    ).drop("index")
    for model in (sf.AutoETS(), sf.Theta()):
        out = forecast(model, frame, 7)
        np.testing.assert_allclose(out["forecast"].to_numpy(), pattern, rtol=0.02)


def test_a_launch_without_history_does_not_sway_the_weights() -> None:
    rng = np.random.default_rng(5)
    t = np.arange(150)
    panel = daily(
        {
            sid: level + 5 * np.sin(2 * np.pi * t / 7) + rng.normal(0, 2, 150)
            for sid, level in (("a", 40.0), ("b", 80.0), ("c", 20.0))
        }
    )
    launch = np.zeros(150)
    launch[-3:] = [30.0, 25.0, 35.0]
    models = [sf.SeasonalNaive(), sf.Naive(), sf.MovingAverage(window=14)]

    def weights(frame: pl.DataFrame) -> dict[str, float]:
        # At 80% four windows feed the bound whether there are three series or four.
        fc = sf.Forecaster(
            models,
            sf.FeatureSpec(lags=[7]),
            freq="1d",
            horizon=7,
            levels=(80,),
            id_col="series_id",
        )
        return fc.fit(frame).weights or {}

    alone = weights(panel)
    together = weights(pl.concat([panel, daily({"launch": launch})]))
    assert together == pytest.approx(alone, abs=1e-9)


def late_spike_panel() -> pl.DataFrame:
    """The spiked panel with its spike a week before the end instead of on the last day."""
    panel = spiked_panel().with_columns(
        pl.when(pl.col("sales") > 1_000).then(10.0).otherwise(pl.col("sales")).alias("sales")
    )
    spike_day = panel["date"].unique().sort()[-8]
    return panel.with_columns(
        pl.when((pl.col("series_id") == "spike") & (pl.col("date") == spike_day))
        .then(10_000.0)
        .otherwise(pl.col("sales"))
        .alias("sales")
    )


def test_backtests_score_the_models_unguarded() -> None:
    # The last week's window starts on the spike, which naive repeats; predict would replace
    # that (see above), a backtest shows the model as it is.
    out = guarded_forecaster(True).backtest(late_spike_panel(), n_windows=1, h=7)
    spike = out.filter(pl.col("series_id") == "spike")
    assert spike["naive"].to_list() == [10_000.0] * 7


def test_the_guards_record_survives_a_bundle(tmp_path: Path) -> None:
    # The calibration window that starts on the spike sees naive repeat it: the guard
    # replaces that.
    panel = late_spike_panel()
    fc = guarded_forecaster(True).fit(panel)
    assert fc.guarded is not None
    spike_day = panel["date"].unique().sort()[-8]
    assert fc.guarded.filter(pl.col("model") == "naive")["cutoff"].to_list() == [spike_day]
    fc.save(tmp_path / "b")
    loaded = sf.Forecaster.load(tmp_path / "b")
    assert loaded.guarded is not None
    assert loaded.guarded.equals(fc.guarded)
    # Too short a history for a last year: a column of nulls, still read back as numbers.
    assert loaded.guarded["last_year_distance"].null_count() == loaded.guarded.height
    assert loaded.guarded.schema == fc.guarded.schema
    # A record from a bundle older than the last-year check gains the column.
    rows = [
        {k: v for k, v in row.items() if k != "last_year_distance"}
        for row in _guarded_to_json(fc.guarded)
    ]
    assert dict(_guarded_from_json(rows, pl.Date).schema) == dict(fc.guarded.schema)


def test_bad_statistical_arguments_are_typed_errors() -> None:
    with pytest.raises(InvalidArgumentError, match="model"):
        sf.AutoETS(model=5)  # type: ignore[arg-type]
    with pytest.raises(InvalidArgumentError, match="damped"):
        sf.AutoETS(damped="yes")  # type: ignore[arg-type]
    with pytest.raises(InvalidArgumentError, match="variant"):
        sf.Theta(variant=3)  # type: ignore[arg-type]
    frame = daily({"a": np.arange(30.0)})
    with pytest.raises(InvalidArgumentError, match="`h`"):
        forecast(sf.Theta(), frame, 10**12)
    with pytest.raises(InvalidArgumentError, match="`h`"):
        forecast(sf.Theta(), frame, -1)


# ---------------------------------------------------------------------- intervals


def peak_week_panel() -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame]:
    """Poisson counts of 60 series around a known mean (``expected``): 10 on ordinary days, 40
    on peak days (a seventh of the days, none in the last five weeks). Returns the history, the
    future's known columns and its actuals: a week of peak days."""
    rng = np.random.default_rng(11)
    days, ahead = 400, 7
    dates = [dt.date(2024, 1, 1) + dt.timedelta(days=i) for i in range(days + ahead)]
    frames = []
    for k in range(60):
        peak = rng.random(days + ahead) < 1 / 7
        peak[days - 35 : days] = False
        peak[days:] = True
        expected = np.where(peak, 40.0, 10.0)
        frames.append(
            pl.DataFrame(
                {
                    "series_id": f"s{k:02d}",
                    "date": dates,
                    "sales": rng.poisson(expected).astype(float),
                    "expected": expected,
                }
            )
        )
    panel = pl.concat(frames)
    cut = pl.col("date") < dates[days]
    future = panel.filter(~cut)
    return panel.filter(cut), future.drop("sales"), future.select("series_id", "date", "sales")


def test_interval_widths_grow_with_the_forecast_level(tmp_path: Path) -> None:
    # Calibrated on ordinary weeks, the 80% interval of a known peak week (four times the
    # level, twice the spread) covers about 80% only if its width follows the forecast; in the
    # series' scale alone it covered about half.
    history, future, actual = peak_week_panel()
    fc = sf.Forecaster(
        [sf.LightGBM(n_estimators=60)],
        sf.FeatureSpec(lags=[7]),
        freq="1d",
        horizon=7,
        cv_windows=4,
        levels=(80,),
        id_col="series_id",
        known_future=["expected"],
        verbose=False,
    ).fit(history)

    def coverage(forecaster: sf.Forecaster) -> float:
        pred = forecaster.predict(future=future).join(actual, on=["series_id", "date"])
        inside = pred["sales"].is_between(pred["lightgbm-lo-80"], pred["lightgbm-hi-80"])
        return float(inside.mean() or 0.0)

    assert 0.72 <= coverage(fc) <= 0.9
    # The bundle names the unit its widths are in; a reader applies them in that unit (read in
    # the series' scale, these widths would cover about half) and refuses a unit it does not know.
    fc.save(tmp_path / "b")
    manifest_path = tmp_path / "b" / "manifest.json"
    manifest = json.loads(manifest_path.read_text())
    assert manifest["interval_unit"] == "level_spread_v1"
    assert coverage(sf.Forecaster.load(tmp_path / "b")) == coverage(fc)
    # A format-2 manifest, from before the unit was named, is read in the series' scale.
    older_manifest = {k: v for k, v in manifest.items() if k != "interval_unit"}
    manifest_path.write_text(json.dumps({**older_manifest, "format_version": 2}))
    older = sf.Forecaster.load(tmp_path / "b")
    manifest_path.write_text(json.dumps(older_manifest))
    with pytest.raises(ModelFileError, match="lacks `interval_unit`"):
        sf.Forecaster.load(tmp_path / "b")
    manifest_path.write_text(json.dumps({**manifest, "interval_unit": "furlongs"}))
    with pytest.raises(ModelFileError, match="unknown unit 'furlongs'"):
        sf.Forecaster.load(tmp_path / "b")
    assert coverage(older) < 0.65


# ---------------------------------------------------------------------- series that end or start


@pytest.mark.parametrize("last_sale", [dt.date(2023, 9, 30), dt.date(2023, 12, 10)])
def test_a_discontinued_product_fits_and_a_new_one_is_forecast(last_sale: dt.date) -> None:
    df = sf.generate_sales(n_stores=1, n_products=4, start="2023-01-01", end="2023-12-31")
    df = df.select("store_id", "product_id", "date", "sales", "price", "promo", "category")
    product = pl.col("product_id")
    # P01 stopped selling (before the calibration windows, or inside the last of them); P02
    # started five days before the cutoff.
    df = df.filter(~((product == "P01") & (pl.col("date") > last_sale)))
    df = df.filter(~((product == "P02") & (pl.col("date") < dt.date(2023, 12, 13))))
    end = dt.date(2023, 12, 17)
    train, test = df.filter(pl.col("date") <= end), df.filter(pl.col("date") > end)
    fc = sf.Forecaster(
        freq="1d",
        horizon=14,
        known_future=["price", "promo"],
        static_features=["category"],
        verbose=False,
    ).fit(train)
    with pytest.warns(EndedSeriesWarning, match="P01") as caught:
        pred = fc.predict(future=test)
    assert f"product_id=P01 (last period {last_sale})" in str(caught[0].message)
    assert sorted(pred["product_id"].unique()) == ["P02", "P03", "P04"]
    new = pred.filter(product == "P02")
    assert new.height == 14
    assert new["ensemble"].is_finite().all()


def test_the_default_booster_targets_the_mean_of_a_non_negative_target() -> None:
    rng = np.random.default_rng(4)
    sales = daily({"a": rng.poisson(3, 120).astype(float)})
    fc = sf.Forecaster(freq="1d", horizon=7, id_col="series_id", verbose=False).fit(sales)
    assert fc.models[0].objective == "tweedie"
    returns = sales.with_columns(pl.col("sales") - 2)
    fc = sf.Forecaster(freq="1d", horizon=7, id_col="series_id", verbose=False).fit(returns)
    assert fc.models[0].objective == "squared_error"
    # Explicit models stay as given.
    own = sf.Forecaster([sf.LightGBM()], freq="1d", horizon=7, id_col="series_id", verbose=False)
    assert own.fit(sales).models[0].objective == "squared_error"


def test_the_default_booster_fits_a_launch_padded_with_zeros() -> None:
    rng = np.random.default_rng(6)
    launch = np.concatenate([np.zeros(180), rng.poisson(5, 20).astype(float)])
    fc = sf.Forecaster(freq="1d", horizon=7, id_col="series_id", verbose=False)
    pred = fc.fit(daily({"new": launch})).predict()
    assert pred["lightgbm"].is_finite().all()


def test_the_default_booster_fits_a_transformed_target_by_squared_error() -> None:
    # Differences of non-negative sales are negative half the time: Tweedie cannot fit them.
    t = np.arange(200)
    trend = daily({"a": 10 + 0.5 * t + 3 * np.sin(2 * np.pi * t / 7)})
    features = sf.FeatureSpec(lags=[1, 7], target_transforms=["diff"])
    fc = sf.Forecaster(features=features, freq="1d", horizon=7, id_col="series_id", verbose=False)
    booster = fc.fit(trend).models[0]
    assert isinstance(booster, sf.LightGBM)
    assert booster.objective == "squared_error"
    assert fc.predict()["lightgbm"].is_finite().all()


def test_tuned_defaults_still_take_the_loss_their_target_needs() -> None:
    rng = np.random.default_rng(7)
    returns = daily({"a": rng.normal(0, 3, 120)})
    fc = sf.Forecaster(freq="1d", horizon=7, id_col="series_id", verbose=False)
    tuned = fc.with_model_params({"lightgbm": {"num_leaves": 15}}).fit(returns)
    booster = tuned.models[0]
    assert isinstance(booster, sf.LightGBM)
    assert (booster.objective, booster.num_leaves) == ("squared_error", 15)


def test_a_zoned_guard_record_survives_a_bundle(tmp_path: Path) -> None:
    panel = late_spike_panel().with_columns(pl.col("date").cast(pl.Datetime("us", "UTC")))
    fc = guarded_forecaster(True).fit(panel)
    assert fc.guarded is not None
    assert fc.guarded.height
    fc.save(tmp_path / "b")
    loaded = sf.Forecaster.load(tmp_path / "b")
    assert loaded.guarded is not None
    assert loaded.guarded.equals(fc.guarded)
    assert loaded.guarded.schema == fc.guarded.schema


def test_a_backtest_refits_at_every_cutoff_whatever_its_step(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    fc = sf.Forecaster(
        [sf.LightGBM(n_estimators=5), sf.Naive()],
        sf.FeatureSpec(lags=[1, 7]),
        freq="1d",
        horizon=7,
        id_col="series_id",
        verbose=False,
    )
    fits: list[dt.date] = []
    fit_models = sf.Forecaster._fit_models

    def counted(self: sf.Forecaster, plan: object, history: pl.DataFrame, *rest: object) -> object:
        fits.append(history["date"].max())
        return fit_models(self, plan, history, *rest)  # type: ignore[arg-type]

    monkeypatch.setattr(sf.Forecaster, "_fit_models", counted)
    out = fc.backtest(spiked_panel(), n_windows=3, h=7, step=1)
    assert sorted(fits) == sorted(out["cutoff"].unique().to_list())
    assert len(fits) == 3


def test_a_future_without_a_key_column_is_a_typed_error() -> None:
    df = sf.generate_sales(n_stores=1, n_products=2, start="2023-01-01", end="2023-06-30")
    df = df.select("store_id", "product_id", "date", "sales", "price")
    train, test = sf.time_split(df, 7)
    fc = sf.Forecaster(
        [sf.Naive()], sf.FeatureSpec(lags=[1]), freq="1d", horizon=7, known_future=["price"]
    ).fit(train)
    with pytest.raises(MissingColumnError, match="product_id"):
        fc.predict(future=test.drop("product_id"))


def test_evaluate_scales_by_the_season_of_its_frequency() -> None:
    history = weekly(120)
    train, test = sf.time_split(history, test_periods=8, freq="1w")
    forecasts = test.with_columns(pl.col("sales").alias("model"))
    roles = sf.ColumnRoles(id="series_id")
    by_freq = sf.evaluate(forecasts, train, roles=roles, freq="1w", models=["model"], levels=())
    by_hand = sf.evaluate(
        forecasts, train, roles=roles, freq="1w", models=["model"], levels=(), season_length=52
    )
    assert by_freq.equals(by_hand)
    weekly_naive = by_freq.filter(
        (pl.col("model") == "seasonal_naive") & (pl.col("scope") == "overall")
    )["mase"]
    seven = sf.evaluate(
        forecasts, train, roles=roles, freq="1w", models=["model"], levels=(), season_length=7
    ).filter((pl.col("model") == "seasonal_naive") & (pl.col("scope") == "overall"))["mase"]
    assert weekly_naive[0] != seven[0]


def stopped_rounds(
    frame: pl.DataFrame, caplog: pytest.LogCaptureFixture, **params: int
) -> list[int]:
    fc = sf.Forecaster(freq="1d", horizon=14, id_col="series_id", verbose=False)
    if params:
        fc = fc.with_model_params({"lightgbm": params})
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="salesforecast.forecast"):
        fc.fit(frame)
    return [int(m) for m in re.findall(r"LightGBM takes (\d+) rounds", caplog.text)]


def test_the_default_booster_takes_the_rounds_its_last_horizon_rewards(
    caplog: pytest.LogCaptureFixture,
) -> None:
    # Early stopping on the horizon before each fit's end: noise around a level is learned in
    # a few rounds (more fit the noise), a weekly pattern on a trend in many.
    rng = np.random.default_rng(5)
    t = np.arange(400)
    noise = daily({s: rng.poisson(20, 400).astype(float) for s in "abcd"})
    pattern = daily(
        {s: 50 + 30 * np.sin(2 * np.pi * t / 7) + 0.1 * t + rng.normal(0, 1, 400) for s in "abcd"}
    )
    quiet, busy = stopped_rounds(noise, caplog), stopped_rounds(pattern, caplog)
    assert quiet
    assert busy
    assert max(quiet) < 50 < min(busy)
    # Tuned rounds are kept.
    assert stopped_rounds(pattern, caplog, n_estimators=40) == []


def test_a_loaded_default_forecaster_settles_its_booster_again_when_refitted(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    rng = np.random.default_rng(8)
    sales = daily({s: rng.poisson(20, 150).astype(float) for s in "ab"})
    fc = sf.Forecaster(freq="1d", horizon=7, id_col="series_id", verbose=False).fit(sales)
    fc.save(tmp_path / "bundle")
    loaded = sf.Forecaster.load(tmp_path / "bundle")
    with caplog.at_level(logging.INFO, logger="salesforecast.forecast"):
        loaded.fit(sales.with_columns(pl.col("sales") - 25))
    assert re.search(r"LightGBM takes \d+ rounds", caplog.text)
    booster = loaded.models[0]
    assert isinstance(booster, sf.LightGBM)
    assert booster.objective == "squared_error"


def test_the_ensembles_scores_come_from_weights_fitted_without_their_window() -> None:
    # Two windows of two series; model `a` is exact in window 0 and off in window 1, `b` the
    # reverse. Weights fitted on both windows are scored on each window with weights fitted
    # on the other one alone.
    from salesforecast._calibration import Calibration
    from salesforecast.config import Ensemble, Intervals

    rng = np.random.default_rng(3)
    rows = []
    for window in (0, 1):
        for series in ("s1", "s2"):
            for step in (1, 2, 3):
                y = 10 + rng.normal()
                off = 3 + rng.normal()
                a, b = (y, y + off) if window == 0 else (y + off, y)
                rows.append((window, series, step, y, a, b))
    cv = pl.DataFrame(
        rows, schema=["_window", "series_id", "_step", "sales", "a", "b"], orient="row"
    ).with_columns(pl.lit(1.0).alias("_scale"), pl.lit(float("nan")).alias("_level"))
    args = (["a", "b"], "sales", Ensemble(), Intervals(), 3, ["series_id"])
    both = Calibration.fit(cv, *args)
    assert both.conformity_scores is not None
    for held in (0, 1):
        other = Calibration.fit(cv.filter(pl.col("_window") != held), *args)
        assert other.weights is not None
        part = cv.filter(pl.col("_window") == held)
        ensemble = other.weights["a"] * part["a"] + other.weights["b"] * part["b"]
        expected = sf._native.conformity_scores(
            (part["sales"] - ensemble).to_numpy(), "conformal_distribution"
        )
        for step in (1, 2, 3):
            at = (part["_step"] == step).to_numpy()
            # Scores keep the rows' order: window 0's two series, then window 1's.
            scores = both.conformity_scores["ensemble"][step - 1][2 * held : 2 * held + 2]
            assert np.allclose(sorted(np.asarray(expected)[at]), sorted(scores))


def test_the_ensemble_falls_back_to_the_naive_forecast_it_cannot_beat() -> None:
    # Every model is the naive forecast plus noise of its own: any blend is worse than naive
    # in nearly every series-window, so the ensemble is naive alone, and its interval scores
    # are naive's.
    from salesforecast._calibration import Calibration
    from salesforecast.config import Ensemble, Intervals

    rng = np.random.default_rng(5)
    rows = []
    for window in range(4):
        for series in ("s1", "s2", "s3"):
            for step in (1, 2, 3):
                y = 10 + rng.normal()
                naive = y + rng.normal()
                others = [naive + 2 * rng.normal() for _ in range(3)]
                rows.append((window, series, step, y, naive, *others))
    names = ["naive", "lightgbm", "auto_ets", "seasonal_naive"]
    cv = pl.DataFrame(
        rows, schema=["_window", "series_id", "_step", "sales", *names], orient="row"
    ).with_columns(pl.lit(1.0).alias("_scale"), pl.lit(float("nan")).alias("_level"))
    args = (names, "sales", Ensemble(), Intervals(), 3, ["series_id"])
    gated = Calibration.fit(cv, *args, baselines=["naive", "seasonal_naive"])
    assert gated.fallback == "naive"
    assert gated.weights == {"naive": 1.0, "lightgbm": 0.0, "auto_ets": 0.0, "seasonal_naive": 0.0}
    assert gated.beaten is not None
    assert gated.beaten[1] == 12
    assert gated.conformity_scores is not None
    assert gated.conformity_scores["ensemble"] == gated.conformity_scores["naive"]
    # Without naive members there is nothing to fall back to: the blend stays.
    blended = Calibration.fit(cv, *args)
    assert blended.fallback is None
    assert blended.beaten is None
    assert blended.weights is not None
    assert blended.weights["naive"] < 1.0


def test_a_forecaster_that_cannot_beat_naive_forecasts_naive(
    caplog: pytest.LogCaptureFixture, tmp_path: Path
) -> None:
    # Levels that jump every ten days: the naive forecast is exact until the next jump, and
    # every other model smooths across the jumps.
    rng = np.random.default_rng(2)
    steps = {s: 100 + np.repeat(np.cumsum(rng.normal(0, 10, 21)), 10)[:200] for s in "abc"}
    with caplog.at_level(logging.INFO, logger="salesforecast"):
        fc = sf.Forecaster(freq="1d", horizon=7, id_col="series_id", verbose=False)
        fc.fit(daily(steps))
    assert fc.ensemble_fallback == "naive"
    assert fc.weights is not None
    assert fc.weights["naive"] == 1.0
    assert re.search(
        r"ensemble: naive alone; .* beat it in only \d+ of \d+ series-windows", caplog.text
    )
    pred = fc.predict()
    assert (pred["ensemble"] == pred["naive"]).all()
    # The intervals are naive's too: its calibration errors are out of fold as they are.
    assert (pred["ensemble-hi-95"] == pred["naive-hi-95"]).all()
    # A saved forecaster still says what its ensemble is.
    assert fc.calibration is not None
    beaten = fc.calibration.beaten
    fc.save(tmp_path / "model")
    loaded = sf.Forecaster.load(tmp_path / "model")
    assert loaded.ensemble_fallback == "naive"
    assert loaded.calibration is not None
    assert loaded.calibration.beaten == beaten


def test_a_member_without_weight_does_not_blank_the_ensemble() -> None:
    from salesforecast._calibration import with_ensemble

    frame = pl.DataFrame({"naive": [1.0, 2.0], "lightgbm": [float("nan"), 3.0]})
    out = with_ensemble(frame, {"naive": 1.0, "lightgbm": 0.0})
    assert out["ensemble"].to_list() == [1.0, 2.0]
