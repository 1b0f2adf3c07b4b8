"""The Forecaster on synthetic sales: accuracy against the oracle, intervals, leak-freedom."""

from __future__ import annotations

import datetime as dt
import json
import logging
import math
import warnings
from pathlib import Path

import numpy as np
import polars as pl
import pytest

import salesforecast as sf
from salesforecast import _native
from salesforecast._calibration import spreads
from salesforecast._strategies import recomputed, stepped
from salesforecast.errors import (
    DataError,
    InvalidArgumentError,
    ModelFileError,
    NotFittedError,
    UndeclaredColumnsWarning,
)

KEYS = ["store_id", "product_id", "date"]
FEATURES = sf.FeatureSpec(
    lags=[7, 14, 28],
    rolling=[sf.Rolling(window=7, stats=["mean", "std"], lag=7), sf.Rolling(window=28, lag=7)],
    seasonal_rolling=[sf.SeasonalRolling(season_length=7, window=4, lag=7)],
    expanding=[sf.Expanding(stats=["mean"], lag=1)],
    calendar=["dayofweek", "month", "weekofyear", "holiday", "days_to_holiday"],
    target_transforms=["log1p"],
)
KNOWN = ["price", "promo", "discount", "is_holiday", "is_closed"]


def forecaster(**overrides: object) -> sf.Forecaster:
    settings: dict[str, object] = {
        "freq": "1d",
        "horizon": 28,
        "static_features": ["store_size", "category"],
        "known_future": KNOWN,
    }
    settings.update(overrides)
    models = [
        sf.LightGBM(n_estimators=120, learning_rate=0.1),
        sf.XGBoost(n_estimators=120, learning_rate=0.1, max_depth=6),
        sf.SeasonalNaive(season_length=7),
    ]
    return sf.Forecaster(models, FEATURES, **settings)  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def panel() -> pl.DataFrame:
    return sf.generate_sales(
        n_stores=10, n_products=20, start="2021-01-01", end="2023-12-31", seed=42
    )


@pytest.fixture(scope="module")
def backtest(panel: pl.DataFrame) -> pl.DataFrame:
    """Two 28-day windows; the last one is the final 28 days of the panel."""
    return forecaster().cross_validation(panel, n_windows=2, h=28, step=28)


@pytest.fixture(scope="module")
def fitted(panel: pl.DataFrame) -> tuple[sf.Forecaster, pl.DataFrame, pl.DataFrame]:
    small = panel.filter(pl.col("store_id").is_in(["S01", "S02", "S03"]))
    train, test = sf.time_split(small, test_periods=28)
    return forecaster(cv_windows=1).fit(train), train, test


def wape(actual: pl.Series, pred: pl.Series) -> float:
    return float((pred - actual).abs().sum() / actual.abs().sum())


def test_ensemble_close_to_oracle_and_beats_seasonal_naive(
    backtest: pl.DataFrame, panel: pl.DataFrame
) -> None:
    last = backtest.filter(pl.col("cutoff") == backtest["cutoff"].max())
    joined = last.join(panel.select([*KEYS, "expected_sales"]), on=KEYS)
    assert joined.height == 200 * 28
    oracle = wape(joined["sales"], joined["expected_sales"])
    ensemble = wape(joined["sales"], joined["ensemble"])
    naive = wape(joined["sales"], joined["seasonal_naive"])
    assert ensemble <= 1.15 * oracle, (ensemble, oracle)
    assert ensemble < 0.8 * naive, (ensemble, naive)


def test_interval_coverage_on_backtest_windows(backtest: pl.DataFrame, panel: pl.DataFrame) -> None:
    for level in (80, 95):
        lo, hi = backtest[f"ensemble-lo-{level}"], backtest[f"ensemble-hi-{level}"]
        covered = (backtest["sales"] >= lo) & (backtest["sales"] <= hi)
        coverage = float(covered.mean() or 0) * 100
        # Four calibration windows (the default): within 3 points of nominal here.
        assert abs(coverage - level) <= 3, (level, coverage)
    scores = sf.evaluate(backtest, panel, levels=[80, 95])
    overall = scores.filter(pl.col("scope") == "overall")
    ensemble = overall.filter(pl.col("model") == "ensemble").row(0, named=True)
    baseline = overall.filter(pl.col("model") == "seasonal_naive").row(0, named=True)
    assert ensemble["mase"] < baseline["mase"]
    assert 0.75 <= ensemble["coverage_80"] <= 0.85


def test_weights_and_intervals_of_a_fit(
    fitted: tuple[sf.Forecaster, pl.DataFrame, pl.DataFrame],
) -> None:
    fc, _, test = fitted
    weights = fc.weights or {}
    assert abs(sum(weights.values()) - 1) < 1e-9
    assert all(w >= 0 for w in weights.values())
    pred = fc.predict(future=test)
    assert pred.join(test, on=KEYS).height == test.height
    for name in ["lightgbm", "xgboost", "seasonal_naive", "ensemble"]:
        # conformal_distribution bands follow the error distribution, so they need not
        # contain the point forecast, but they nest.
        assert (pred[f"{name}-lo-95"] <= pred[f"{name}-lo-80"]).all()
        assert (pred[f"{name}-lo-80"] <= pred[f"{name}-hi-80"]).all()
        assert (pred[f"{name}-hi-80"] <= pred[f"{name}-hi-95"]).all()
    assert fc.predict(h=7, future=test).height == 60 * 7
    importance = fc.feature_importance()
    assert set(importance["model"]) == {"lightgbm", "xgboost"}


def test_recursive_forecasts_never_read_the_future(panel: pl.DataFrame) -> None:
    small = panel.filter(
        pl.col("store_id").is_in(["S01", "S02"]) & pl.col("product_id").is_in(["P01", "P02", "P03"])
    )
    train, test = sf.time_split(small, test_periods=28)
    fc = forecaster(cv_windows=1).fit(train)
    clean = fc.predict(future=test)
    poisoned_future = test.with_columns(
        pl.lit(1e12).alias("sales"), pl.lit(1e12).alias("expected_sales")
    )
    assert fc.predict(future=poisoned_future).equals(clean)
    # Poisoning the training target after the cutoff of a refit changes nothing before it.
    cutoff = train["date"].max()
    assert isinstance(cutoff, dt.date)


def test_known_future_must_cover_the_horizon(
    fitted: tuple[sf.Forecaster, pl.DataFrame, pl.DataFrame],
) -> None:
    fc, _, test = fitted
    with pytest.raises(DataError, match="known-future"):
        fc.predict(future=test.filter(pl.col("date") < test["date"].max()))
    with pytest.raises(InvalidArgumentError, match="future"):
        fc.predict()
    with pytest.raises(InvalidArgumentError, match="h"):
        fc.predict(h=29, future=test)


def test_bad_configuration() -> None:
    with pytest.raises(InvalidArgumentError, match="models"):
        sf.Forecaster([], FEATURES, freq="1d", horizon=7)
    with pytest.raises(InvalidArgumentError, match="strategy"):
        sf.Forecaster([sf.Naive()], FEATURES, freq="1d", horizon=7, strategy="multi")  # type: ignore[arg-type]
    with pytest.raises(InvalidArgumentError, match="target_transforms"):
        sf.Forecaster(
            [sf.Naive()],
            sf.FeatureSpec(
                group_rolling=[sf.GroupRolling(group_col="store_id", window=7)],
                target_transforms=["standardize"],
            ),
            freq="1d",
            horizon=7,
        )
    with pytest.raises(InvalidArgumentError, match="past_only"):
        sf.Forecaster(
            [sf.Naive()], sf.FeatureSpec(lags=[1]), freq="1d", horizon=7, past_only=["stockout"]
        )
    with pytest.raises(NotFittedError):
        sf.Forecaster([sf.Naive()], FEATURES, freq="1d", horizon=7).predict()
    # Settings that used to pass silently as another choice (M9).
    for setting, value in (
        ("ensemble", "median"),
        ("ensemble_loss", "huber"),
        ("interval_method", "quantile"),
    ):
        with pytest.raises(InvalidArgumentError, match=f"`{setting}`: '{value}' is not one of"):
            sf.Forecaster([sf.Naive()], FEATURES, freq="1d", horizon=7, **{setting: value})


def test_evaluate_metrics_by_hand() -> None:
    frame = pl.DataFrame(
        {
            "series_id": ["a"] * 4 + ["b"] * 4,
            "date": [dt.date(2024, 1, d) for d in (5, 6, 7, 8)] * 2,
            "sales": [1.0, 0.0, 3.0, 4.0, 10.0, 10.0, 10.0, 10.0],
            "model": [2.0, 1.0, 3.0, 2.0, 11.0, 9.0, 10.0, 10.0],
        }
    )
    history = pl.DataFrame(
        {
            "series_id": ["a"] * 4 + ["b"] * 4,
            "date": [dt.date(2024, 1, d) for d in (1, 2, 3, 4)] * 2,
            "sales": [1.0, 3.0, 1.0, 3.0, 8.0, 12.0, 8.0, 12.0],
        }
    )
    scores = sf.evaluate(frame, history, season_length=1)
    a = scores.filter((pl.col("unit") == "series_id=a") & (pl.col("model") == "model")).row(
        0, named=True
    )
    assert a["mae"] == pytest.approx(1.0)
    assert a["wape"] == pytest.approx(0.5)
    assert a["mape_zeros"] == 1
    assert a["mase"] == pytest.approx(0.5)
    naive_a = scores.filter((pl.col("unit") == "series_id=a") & (pl.col("model") == "naive")).row(
        0, named=True
    )
    # Naive repeats the last history value, 3.
    assert naive_a["mae"] == pytest.approx(np.mean([2.0, 3.0, 0.0, 1.0]))
    overall = scores.filter((pl.col("scope") == "overall") & (pl.col("model") == "model")).row(
        0, named=True
    )
    assert overall["mae"] == pytest.approx(6.0 / 8.0)
    assert overall["weighted_rmsse"] > 0


def test_bundle_round_trip_and_tamper_refusal(
    fitted: tuple[sf.Forecaster, pl.DataFrame, pl.DataFrame], tmp_path: Path
) -> None:
    fc, _, test = fitted
    target = tmp_path / "bundle"
    fc.save(target)
    manifest = json.loads((target / "manifest.json").read_text())
    assert set(manifest["files"]) == {
        "models/lightgbm.txt",
        "models/xgboost.ubj",
        "history.parquet",
        "conformity.parquet",
    }
    assert not list(target.rglob("*.pkl"))
    loaded = sf.Forecaster.load(target)
    assert loaded.predict(future=test).equals(fc.predict(future=test))
    # Saving again over the bundle replaces it whole.
    fc.save(target)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bundle"]
    root = target / json.loads((target / "manifest.json").read_text())["root"]
    model_file = root / "models" / "lightgbm.txt"
    model_file.write_bytes(model_file.read_bytes().replace(b"shrinkage", b"shrinkagf", 1))
    with pytest.raises(ModelFileError, match=r"checksum mismatch for models/lightgbm\.txt"):
        sf.Forecaster.load(target)
    fc.save(target)
    root = target / json.loads((target / "manifest.json").read_text())["root"]
    (root / "history.parquet").unlink()
    with pytest.raises(ModelFileError, match="missing"):
        sf.Forecaster.load(target)
    with pytest.raises(ModelFileError, match=r"manifest\.json is missing"):
        sf.Forecaster.load(tmp_path / "nowhere")


def test_residual_diagnostics(backtest: pl.DataFrame) -> None:
    d = sf.diagnose(backtest, "ensemble", max_lag=7, segment="store_id")
    assert d.n == backtest.height
    assert d.acf["lag"].to_list() == list(range(1, 8))
    assert d.acf["acf"].abs().max() < 1  # type: ignore[operator]
    assert 0 <= d.ljung_box_p <= 1
    assert 0 <= d.jarque_bera_p <= 1
    assert d.by_step["step"].to_list() == list(range(1, 29))
    assert d.by_weekday.height == 7
    assert d.by_segment is not None
    assert d.by_segment.height == 10
    assert d.worst_series.height == 10
    errors = d.worst_series["absolute_error"].to_list()
    assert errors == sorted(errors, reverse=True)
    # A residual series that is pure alternation is flagged as autocorrelated.
    alternating = backtest.with_columns(
        (
            pl.col("sales") + pl.when(pl.col("date").dt.day() % 2 == 0).then(50.0).otherwise(-50.0)
        ).alias("bad")
    )
    assert sf.diagnose(alternating, "bad").ljung_box_p < 1e-6


def test_direct_strategy_forecasts_and_round_trips(panel: pl.DataFrame, tmp_path: Path) -> None:
    small = panel.filter(
        pl.col("store_id").is_in(["S01", "S02"])
        & pl.col("product_id").is_in(["P01", "P02", "P03", "P04"])
    )
    train, test = sf.time_split(small, test_periods=7)
    models = [sf.LightGBM(n_estimators=60, learning_rate=0.1), sf.SeasonalNaive(7)]
    fc = sf.Forecaster(
        models,
        FEATURES,
        freq="1d",
        horizon=7,
        strategy="direct",
        cv_windows=1,
        static_features=["category"],
        known_future=KNOWN,
        past_only=["stockout"],
    ).fit(train)
    pred = fc.predict(future=test)
    joined = pred.join(test, on=KEYS)
    assert joined.height == 8 * 7
    assert (
        wape(joined["sales"], joined["lightgbm"])
        < wape(joined["sales"], joined["seasonal_naive"]) * 1.2
    )
    # Future targets and past-only values are never read.
    poisoned = test.with_columns(pl.lit(1e12).alias("sales"), pl.lit(None).alias("stockout"))
    assert fc.predict(future=poisoned).equals(pred)
    fc.save(tmp_path / "direct")
    root = json.loads((tmp_path / "direct" / "manifest.json").read_text())["root"]
    assert len(list((tmp_path / "direct" / root / "models" / "lightgbm").iterdir())) == 7
    assert sf.Forecaster.load(tmp_path / "direct").predict(future=test).equals(pred)


def test_step_state_matches_recomputing_the_features(
    fitted: tuple[sf.Forecaster, pl.DataFrame, pl.DataFrame],
) -> None:
    fc, train, test = fitted
    history = fc._prepare(train)
    model = fc._fitted[0]
    assert isinstance(model, sf.LightGBM)
    plan = fc._fitted_plan()
    grid = _native.future_periods(history, fc.roles, fc.freq, 28)
    rows = grid.join(
        test.select([*fc.keys, fc.time_col, *fc.known_future]), on=[*fc.keys, fc.time_col]
    )
    statics = history.group_by(fc.keys).agg(pl.col(c).first() for c in fc.static_features)
    rows = rows.join(statics, on=fc.keys).with_columns(
        pl.lit(None, dtype=pl.Float64).alias("sales")
    )
    frame = pl.concat([history, rows.select(history.columns)], how="vertical_relaxed")
    by_state = stepped(plan, model, plan.step_state(history), rows, 28)
    by_frame = recomputed(plan, model, frame, history, rows, 28)
    by_state, by_frame = (f.sort([*KEYS[:2], "date"]) for f in (by_state, by_frame))
    assert by_state.height == 28 * history.select(fc.keys).n_unique()
    np.testing.assert_allclose(
        by_state["_pred"].to_numpy(), by_frame["_pred"].to_numpy(), rtol=1e-9
    )


def test_a_cross_validation_window_is_a_fit_and_predict(
    panel: pl.DataFrame, monkeypatch: pytest.MonkeyPatch
) -> None:
    small = panel.filter(
        pl.col("store_id").is_in(["S01", "S02"]) & pl.col("product_id").is_in(["P01", "P02"])
    )
    fc = sf.Forecaster(
        [sf.LightGBM(n_estimators=30, learning_rate=0.1), sf.SeasonalNaive(7)],
        FEATURES,
        freq="1d",
        horizon=7,
        strategy="direct",
        cv_windows=2,
        # Four series give an 80% bound the scores it needs in two windows (95% would need 5).
        levels=(80,),
        static_features=["category"],
        known_future=KNOWN,
    )
    fits: list[dt.date] = []
    fit_models = sf.Forecaster._fit_models

    def counted(
        self: sf.Forecaster, plan: object, history: pl.DataFrame, *rest: object, **more: object
    ) -> list[object]:
        fits.append(history["date"].max())
        return fit_models(self, plan, history, *rest, **more)  # type: ignore[arg-type]

    monkeypatch.setattr(sf.Forecaster, "_fit_models", counted)
    cv = fc.cross_validation(small, n_windows=3, h=7, step=7)
    # Three folds, each fitted for calibration and in full; the last fold's calibration models
    # are the first fold's full fit, so they are trained once. Each fold's calibration also
    # forecasts the same week a year (364 days) before its own, with models fitted then.
    cutoffs = sorted(cv["cutoff"].unique().to_list())
    year_ago = [c - dt.timedelta(days=364) for c in cutoffs]
    assert sorted(fits) == sorted(
        {*year_ago, *(c - dt.timedelta(days=14) for c in cutoffs), *cutoffs}
    )
    assert len(fits) == len(set(fits)) == 8
    train, test = sf.time_split(small, test_periods=7)
    pred = fc.fit(train).predict(future=test)
    last = cv.filter(pl.col("cutoff") == cv["cutoff"].max()).select(pred.columns)
    assert last.sort(KEYS).equals(pred.sort(KEYS))
    assert fc.calibration_metrics is not None
    assert set(fc.calibration_metrics["model"]) >= {"lightgbm", "seasonal_naive", "ensemble"}


@pytest.mark.parametrize(("loss", "metric"), [("squared", "rmse"), ("absolute", "mae")])
def test_optimized_ensemble_keeps_up_with_its_best_model(
    panel: pl.DataFrame, loss: str, metric: str
) -> None:
    small = panel.filter(pl.col("store_id").is_in(["S01", "S02"]))
    fc = forecaster(ensemble_loss=loss, horizon=14).fit(small)
    weights = fc.weights or {}
    assert abs(sum(weights.values()) - 1) < 1e-9
    assert min(weights.values()) >= 0
    scores = fc.calibration_metrics
    assert scores is not None
    by_model = dict(zip(scores["model"], scores[metric], strict=True))
    best_single = min(by_model[name] for name in fc.model_names)
    # The optimized weights are shrunk toward a robust mix, which trades a little of their fit
    # on these windows for robustness on the next: at most 1% here.
    assert by_model["ensemble"] <= best_single * 1.01, by_model


def test_gap_scores_only_the_later_steps_and_new_df_forecasts_from_new_history(
    panel: pl.DataFrame,
) -> None:
    small = panel.filter(
        pl.col("store_id").is_in(["S01", "S02"]) & pl.col("product_id").is_in(["P01", "P02"])
    )
    fc = forecaster(horizon=14, cv_windows=1)
    full = fc.cross_validation(small, n_windows=1, h=14)
    gapped = fc.cross_validation(small, n_windows=1, h=7, gap=7)
    assert gapped["cutoff"].unique().to_list() == full["cutoff"].unique().to_list()
    cutoff = gapped["cutoff"][0]
    assert gapped["date"].min() == cutoff + dt.timedelta(days=8)
    later = full.filter(pl.col("date") > cutoff + dt.timedelta(days=7)).select(gapped.columns)
    assert later.sort(KEYS).equals(gapped.sort(KEYS))
    with pytest.raises(InvalidArgumentError, match="gap"):
        fc.cross_validation(small, n_windows=1, h=10, gap=7)

    train, test = sf.time_split(small, test_periods=14)
    fc.fit(train)
    assert fc.predict(future=test, new_df=train).equals(fc.predict(future=test))
    shorter = train.filter(pl.col("date") <= train["date"].max() - dt.timedelta(days=7))
    earlier = fc.predict(h=7, future=small, new_df=shorter)
    with pytest.warns(UserWarning, match="fewer than the 34 periods"):
        fc.predict(h=7, future=small, new_df=shorter.filter(pl.col("date") > dt.date(2023, 11, 20)))
    assert earlier["date"].min() == shorter["date"].max() + dt.timedelta(days=1)
    assert earlier.height == 4 * 7


def test_sales_forecasts_and_bounds_are_never_negative(
    fitted: tuple[sf.Forecaster, pl.DataFrame, pl.DataFrame],
) -> None:
    fc, _, test = fitted
    pred = fc.predict(future=test)
    numeric = [c for c in pred.columns if pred[c].dtype == pl.Float64]
    assert pred.select(pl.min_horizontal(numeric).min()).item() >= 0
    # Without the floor some lower bounds would be negative: the clip is doing work.
    widths = fc.interval_widths
    assert widths is not None
    level = fc.levels.index(95)
    lower = pl.Series([step[level][0] for step in widths["ensemble"]])
    joined = pred.join(fc._scales(fc.history), on=fc.keys)
    unclipped = joined.with_columns(
        pl.col("date").rank("ordinal").over(fc.keys).cast(pl.Int64).alias("step"),
        pl.Series("spread", spreads(joined, fc.model_names)),
    ).with_columns(
        (pl.col("ensemble") + pl.lit(lower).gather(pl.col("step") - 1) * pl.col("spread")).alias(
            "unclipped"
        )
    )
    below = unclipped.filter(pl.col("unclipped") < 0)
    assert below.height > 0
    assert (below["ensemble-lo-95"] == 0).all()


def test_undeclared_columns_are_ignored_with_one_warning(panel: pl.DataFrame) -> None:
    small = panel.filter(pl.col("store_id") == "S01").select(
        "store_id", "product_id", "date", "sales", "stockout"
    )
    fc = sf.Forecaster([sf.SeasonalNaive(7)], FEATURES, freq="1d", horizon=7, cv_windows=1)
    with pytest.warns(UndeclaredColumnsWarning, match=r"\['stockout'\]") as caught:
        fc.fit(small)
    assert len(caught) == 1
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        fc.fit(small.drop("stockout"))


def test_long_calls_report_progress_without_logging_setup(
    panel: pl.DataFrame, caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]
) -> None:
    small = panel.filter(pl.col("store_id") == "S01").select(
        "store_id", "product_id", "date", "sales"
    )

    def forecaster(verbose: bool) -> sf.Forecaster:
        return sf.Forecaster(
            [sf.LightGBM(n_estimators=5)],
            sf.FeatureSpec(lags=[7]),
            freq="1d",
            horizon=7,
            cv_windows=1,
            verbose=verbose,
        )

    with caplog.at_level(logging.INFO, logger="salesforecast._strategies"):
        forecaster(True).cross_validation(small, n_windows=2, h=7)
    lines = capsys.readouterr().err.splitlines()
    assert sum("fold" in line for line in lines) == 2, lines
    assert sum("lightgbm fitted on data up to" in line for line in lines) >= 2, lines
    messages = [r.getMessage() for r in caplog.records if r.name == "salesforecast._strategies"]
    assert any(m.startswith("fitted LightGBM on") for m in messages)
    forecaster(False).fit(small)
    assert capsys.readouterr().err == ""


def test_the_zero_floor_keeps_missing_forecasts_missing() -> None:
    from salesforecast._calibration import at_least

    frame = pl.DataFrame({"p": [float("nan"), None, -1.0, 2.0], "_floor": [0.0] * 4})
    out = frame.select(at_least(pl.col("p"), "_floor").alias("p"))["p"].to_list()
    assert math.isnan(out[0])
    assert out[1:] == [None, 0.0, 2.0]


def test_other_levels_from_the_same_conformity_scores(
    fitted: tuple[sf.Forecaster, pl.DataFrame, pl.DataFrame], tmp_path: Path
) -> None:
    fc, _, test = fitted
    default = fc.predict(future=test)
    assert fc.predict(future=test, levels=[80, 95]).equals(default)
    other = fc.predict(future=test, levels=[50, 99])
    assert "ensemble-lo-50" in other.columns
    assert "ensemble-lo-80" not in other.columns
    assert (other["ensemble-lo-99"] <= other["ensemble-lo-50"]).all()
    assert (other["ensemble-hi-50"] <= other["ensemble-hi-99"]).all()
    # Wider than 95% at 99%, narrower than 80% at 50%.
    joined = other.join(default, on=KEYS, suffix="_d")
    assert (joined["ensemble-hi-99"] >= joined["ensemble-hi-95"]).all()
    assert (joined["ensemble-hi-50"] <= joined["ensemble-hi-80"]).all()
    fc.save(tmp_path / "levels")
    loaded = sf.Forecaster.load(tmp_path / "levels")
    assert loaded.predict(future=test, levels=[50, 99]).equals(other)
    with pytest.raises(InvalidArgumentError, match="levels"):
        fc.predict(future=test, levels=[0])
