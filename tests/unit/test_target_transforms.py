"""Target transforms the Forecaster undoes: differences on trending series, standardize, log1p
with a bias correction, through fit, predict, backtests, bundles and both strategies."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import polars as pl
import pytest

import salesforecast as sf
from salesforecast.errors import DataError, InvalidArgumentError

H = 14


def trending_panel(n_series: int = 12, periods: int = 240, seed: int = 3) -> pl.DataFrame:
    """Daily series on linear trends of different slopes with a weekly pattern and noise: a
    booster on levels cannot go past the largest level it saw."""
    rng = np.random.default_rng(seed)
    start = dt.date(2022, 1, 1)
    dates = pl.date_range(start, start + dt.timedelta(days=periods - 1), eager=True)
    t = np.arange(periods)
    frames = []
    for i in range(n_series):
        slope, level = rng.uniform(0.5, 2.0), rng.uniform(50, 150)
        weekly = rng.uniform(3, 8) * np.sin(2 * np.pi * t / 7)
        sales = level + slope * t + weekly + rng.normal(0, 1.0, periods)
        frames.append(pl.DataFrame({"series_id": f"s{i:02d}", "date": dates, "sales": sales}))
    return pl.concat(frames)


def forecaster(transforms: list[str], **settings: object) -> sf.Forecaster:
    return sf.Forecaster(
        [sf.LightGBM(n_estimators=80, learning_rate=0.1, objective="squared_error")],
        sf.FeatureSpec(lags=[1, 2, 7, 14], calendar=["dayofweek"], target_transforms=transforms),
        freq="1d",
        horizon=H,
        cv_windows=1,
        verbose=False,
        **settings,  # type: ignore[arg-type]
    )


def mase(cv: pl.DataFrame, history: pl.DataFrame) -> float:
    scores = sf.evaluate(cv, history, models=["lightgbm"], levels=[], freq="1d")
    row = scores.filter((pl.col("scope") == "overall") & (pl.col("model") == "lightgbm"))
    return float(row["mase"][0])


@pytest.mark.parametrize(
    ("strategy", "transforms"),
    # Direct boosters each forecast their own step's difference from the origin, so first
    # differences add up h errors (MASE 0.51 against 0.74 here); weekly ones add up at most two.
    [("recursive", ["diff"]), ("recursive", ["diff7"]), ("direct", ["diff7"])],
)
def test_differences_forecast_the_trend(strategy: str, transforms: list[str]) -> None:
    panel = trending_panel()
    plain = mase(forecaster([], strategy=strategy).cross_validation(panel, n_windows=1), panel)
    diffed = mase(
        forecaster(transforms, strategy=strategy).cross_validation(panel, n_windows=1), panel
    )
    # Levels stall at the last level the booster saw; differences continue the trend.
    assert diffed < 0.5 * plain, (plain, diffed)


@pytest.mark.parametrize(
    ("transforms", "strategy"),
    [
        (["standardize"], "recursive"),
        (["log1p", "diff"], "recursive"),
        (["standardize"], "direct"),
        (["log1p", "diff7"], "direct"),
    ],
)
def test_transform_chains_fit_predict_backtest_save_and_load(
    transforms: list[str], strategy: str, tmp_path: Path
) -> None:
    panel = trending_panel(n_series=6, periods=160)
    train = panel.filter(pl.col("date") < pl.col("date").max() - dt.timedelta(days=H - 1))
    fc = forecaster(transforms, strategy=strategy).fit(train)
    pred = fc.predict()
    assert pred.height == 6 * H
    assert pred["lightgbm"].is_finite().all()
    # On the sales scale, following the trend out of the training range.
    last = train.group_by("series_id").agg(pl.col("sales").tail(7).mean().alias("recent"))
    ahead = pred.group_by("series_id").agg(pl.col("lightgbm").mean()).join(last, on="series_id")
    assert (ahead["lightgbm"] > 0.9 * ahead["recent"]).all(), ahead
    differenced = any(t.startswith("diff") for t in transforms)
    if "log1p" in transforms and not (strategy == "direct" and differenced):
        assert all(b.smearing is not None for b in _boosters(fc))
    else:
        assert all(b.smearing is None for b in _boosters(fc))
    cv = fc.cross_validation(panel, n_windows=1)
    assert cv["lightgbm"].is_finite().all()
    fc.save(tmp_path / "bundle")
    loaded = sf.Forecaster.load(tmp_path / "bundle")
    np.testing.assert_allclose(
        loaded.predict()["lightgbm"].to_numpy(), pred["lightgbm"].to_numpy(), rtol=1e-9
    )


def _boosters(fc: sf.Forecaster) -> list[sf.LightGBM]:
    fitted = fc._fitted[0]
    return list(getattr(fitted, "steps", [fitted]))


def test_standardize_with_group_features_is_refused_for_recursive_steps() -> None:
    spec = sf.FeatureSpec(
        lags=[1],
        group_rolling=[sf.GroupRolling(group_col="store_id", window=7)],
        target_transforms=["standardize"],
    )
    with pytest.raises(InvalidArgumentError, match=r"features\.target_transforms.*direct"):
        sf.Forecaster([sf.LightGBM()], spec, freq="1d", horizon=7)
    sf.Forecaster([sf.LightGBM()], spec, freq="1d", horizon=7, strategy="direct")


def relative_bias(fc: sf.Forecaster, test: pl.DataFrame, future: pl.DataFrame) -> float:
    pred = fc.predict(future=future).join(test, on=["store_id", "product_id", "date"])
    return float((pred["lightgbm"].sum() - pred["sales"].sum()) / pred["sales"].sum())


def test_log1p_bias_correction_reduces_the_bias() -> None:
    panel = sf.generate_sales(
        n_stores=4, n_products=10, start="2022-01-01", end="2023-06-30", seed=11
    )
    known = ["price", "promo", "discount", "is_holiday", "is_closed"]
    train, test = sf.time_split(panel, test_periods=28)
    fc = sf.Forecaster(
        [sf.LightGBM(n_estimators=150, learning_rate=0.05, objective="squared_error")],
        sf.FeatureSpec(
            lags=[7, 14, 28],
            rolling=[sf.Rolling(window=7, stats=["mean"], lag=7)],
            calendar=["dayofweek", "month"],
            target_transforms=["log1p"],
        ),
        freq="1d",
        horizon=28,
        cv_windows=1,
        known_future=known,
        static_features=["store_size", "category"],
        guard=False,
        verbose=False,
    ).fit(train)
    future = test.select(["store_id", "product_id", "date", *known])
    corrected = relative_bias(fc, test, future)
    (booster,) = _boosters(fc)
    smearing = booster.smearing
    assert smearing is not None
    assert smearing.panel > 1.0
    booster.smearing = None
    uncorrected = relative_bias(fc, test, future)
    booster.smearing = smearing
    print(f"relative bias: uncorrected {uncorrected:+.3f}, corrected {corrected:+.3f}")
    assert uncorrected < 0
    assert abs(corrected) < abs(uncorrected)


def test_no_smearing_for_a_quantile_loss_nor_direct_differences() -> None:
    # The correction is of a mean (not of a quantile); a direct model with differences adds up
    # several steps' forecasts, which one step's in-sample factors overcorrect.
    panel = trending_panel(n_series=3, periods=120)
    quantile = sf.Forecaster(
        [sf.LightGBM(n_estimators=30, objective="quantile", alpha=0.9)],
        sf.FeatureSpec(lags=[1, 7], target_transforms=["log1p"]),
        freq="1d",
        horizon=H,
        cv_windows=1,
        verbose=False,
    ).fit(panel)
    assert [b.smearing for b in _boosters(quantile)] == [None]
    direct = forecaster(["log1p", "diff7"], strategy="direct").fit(panel)
    assert all(b.smearing is None for b in _boosters(direct))
    recursive = forecaster(["log1p", "diff7"]).fit(panel)
    assert all(b.smearing is not None for b in _boosters(recursive))


def test_a_missing_period_before_the_end_does_not_blank_a_differenced_forecast() -> None:
    # A null target is refused (naming its series and row); the row dropped instead is a
    # missing period, which the differences read as missing.
    panel = trending_panel(n_series=3, periods=120)
    before_last = panel["date"].unique().sort()[-2]
    at_gap = (pl.col("series_id") == "s00") & (pl.col("date") == before_last)
    nulled = panel.with_columns(
        pl.when(at_gap).then(None).otherwise(pl.col("sales")).alias("sales")
    )
    with pytest.raises(DataError, match=r"null value\(s\) in `sales`.*series_id=s00"):
        forecaster(["diff"]).fit(nulled)
    pred = forecaster(["diff"]).fit(panel.filter(~at_gap)).predict()
    assert pred["lightgbm"].is_finite().all()


def test_monitored_backtests_train_on_what_unmonitored_ones_do() -> None:
    # A round callback scores the rows after each cutoff: the training rows' per-series scale
    # must not include them.
    panel = trending_panel(n_series=3, periods=120)
    fc = forecaster(["standardize"])
    plain = fc.backtest(panel, n_windows=2)
    monitored = fc.backtest(panel, n_windows=2, round_callback=lambda *_: None)
    np.testing.assert_allclose(monitored["lightgbm"].to_numpy(), plain["lightgbm"].to_numpy())


def test_group_features_forecast_each_series_with_integer_keys() -> None:
    # The engine orders series by their keys as text (0, 1, 10, 11, 2, ...): forecasts must
    # land on their own series whatever the keys' type.
    rng = np.random.default_rng(0)
    start = dt.date(2023, 1, 1)
    dates = pl.date_range(start, start + dt.timedelta(days=119), eager=True)
    panel = pl.concat(
        pl.DataFrame(
            {"sid": s, "date": dates, "sales": (s + 1) * 100 + rng.normal(0, 5, 120), "grp": "g"}
        )
        for s in range(12)
    )
    fc = sf.Forecaster(
        [sf.LightGBM(n_estimators=50), sf.Naive()],
        sf.FeatureSpec(lags=[1, 7], group_rolling=[sf.GroupRolling("grp", window=7)]),
        freq="1d",
        horizon=7,
        id_col="sid",
        static_features=["grp"],
        levels=[],
        guard=False,
        verbose=False,
    )
    by_number = fc.backtest(panel, n_windows=1).sort("sid", "date")
    by_text = (
        fc.backtest(panel.with_columns(pl.col("sid").cast(pl.String).str.zfill(2)), n_windows=1)
        .with_columns(pl.col("sid").cast(pl.Int64))
        .sort("sid", "date")
    )
    np.testing.assert_allclose(by_number["lightgbm"].to_numpy(), by_text["lightgbm"].to_numpy())
    # Each series' forecasts near its own level (levels 100 apart), never another's.
    level = by_number.group_by("sid").agg(pl.col("lightgbm").mean()).sort("sid")
    assert level["lightgbm"].is_sorted()
