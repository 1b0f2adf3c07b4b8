"""The feature engine against a plain pandas reference (groupby/shift/rolling on each series'
regular period grid), and its leak-freedom on poisoned futures."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
import polars as pl
import pytest

import salesforecast as sf
from salesforecast.errors import InvalidArgumentError, MissingColumnError

SPEC = sf.FeatureSpec(
    lags=[1, 7, 30],
    rolling=[
        sf.Rolling(window=7, stats=["mean", "std", "min", "max", "sum"], lag=1),
        sf.Rolling(window=14, stats=["median", "quantile(0.9)"], lag=7, min_samples=3),
        sf.Rolling(window=28, stats=["mean", "std"], lag=7, min_samples=5),
    ],
    seasonal_rolling=[sf.SeasonalRolling(season_length=7, window=4, stats=["mean", "std"], lag=7)],
    expanding=[sf.Expanding(stats=["mean", "std", "min", "max"], lag=1)],
    ewm=[sf.EWM(alpha=0.3, lag=1), sf.EWM(alpha=0.9, lag=7)],
)


def random_panel(seed: int, n_series: int = 12) -> pl.DataFrame:
    """Ragged starts and ends, missing periods, NaN targets, some series shorter than lag 30."""
    rng = np.random.default_rng(seed)
    frames = []
    for i in range(n_series):
        length = int(rng.integers(5, 25)) if i % 4 == 0 else int(rng.integers(60, 200))
        start = dt.date(2022, 1, 1) + dt.timedelta(days=int(rng.integers(0, 40)))
        dates = [start + dt.timedelta(days=k) for k in range(length)]
        values = rng.gamma(2.0, 10.0, size=length).round(2)
        values[rng.random(length) < 0.05] = np.nan
        keep = rng.random(length) > 0.08
        keep[0] = True
        frames.append(
            pl.DataFrame(
                {
                    "series_id": f"s{i:02d}",
                    "date": [d for d, k in zip(dates, keep, strict=True) if k],
                    "sales": values[keep],
                }
            )
        )
    return pl.concat(frames).sample(fraction=1.0, shuffle=True, seed=seed)


def on_grid(df: pl.DataFrame) -> dict[str, tuple[pd.Series, pd.DatetimeIndex]]:
    """Each series reindexed to its full daily grid, with the dates it really has."""
    out = {}
    pdf = df.to_pandas()
    for sid, g in pdf.groupby("series_id"):
        idx = pd.DatetimeIndex(pd.to_datetime(g["date"])).sort_values()
        y = g.set_index(pd.to_datetime(g["date"]))["sales"].sort_index()
        full = pd.date_range(idx.min(), idx.max(), freq="D")
        out[str(sid)] = (y.reindex(full), idx)
    return out


def roll(stat: str) -> Callable[[pd.core.window.rolling.Rolling], pd.Series]:
    if stat.startswith("quantile("):
        q = float(stat[len("quantile(") : -1])
        return lambda r: r.quantile(q)
    return lambda r: getattr(r, stat)()


def reference(df: pl.DataFrame, spec: sf.FeatureSpec) -> pd.DataFrame:
    parts = []
    for sid, (y, idx) in on_grid(df).items():
        cols: dict[str, pd.Series] = {}
        for lag in spec.lags:
            cols[f"lag{lag}"] = y.shift(lag)
        for r in spec.rolling:
            m = r.min_samples if r.min_samples is not None else r.window
            for s in r.stats:
                name = f"rolling_{s.replace('(', '').replace(')', '')}_lag{r.lag}_window{r.window}"
                cols[name] = roll(s)(y.shift(r.lag).rolling(r.window, min_periods=m))
        for r in spec.seasonal_rolling:
            m = r.min_samples if r.min_samples is not None else r.window
            shifted = y.shift(r.lag)
            phase = np.arange(len(shifted)) % r.season_length
            for s in r.stats:
                name = f"seasonal_rolling_{s}_lag{r.lag}_season{r.season_length}_window{r.window}"
                cols[name] = shifted.groupby(phase).transform(
                    lambda g, s=s, w=r.window, m=m: roll(s)(g.rolling(w, min_periods=m))
                )
        for e in spec.expanding:
            for s in e.stats:
                cols[f"expanding_{s}_lag{e.lag}"] = roll(s)(y.shift(e.lag).expanding(min_periods=1))
        for e in spec.ewm:
            cols[f"ewm_mean_lag{e.lag}_alpha{e.alpha}"] = (
                y.shift(e.lag).ewm(alpha=e.alpha, adjust=False).mean()
            )
        frame = pd.DataFrame(cols).loc[idx]
        frame.insert(0, "series_id", sid)
        parts.append(frame)
    return pd.concat(parts)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_every_family_matches_pandas(seed: int) -> None:
    df = random_panel(seed)
    ours = sf.build_features(df, SPEC, id_col="series_id", freq="1d")
    ref = reference(df, SPEC)
    assert ours.height == df.height
    assert ours["series_id"].to_list() == ref["series_id"].tolist()
    feature_cols = [c for c in ours.columns if c not in ("series_id", "date", "sales")]
    assert sorted(feature_cols) == sorted(c for c in ref.columns if c != "series_id")
    for col in feature_cols:
        np.testing.assert_allclose(
            ours[col].to_numpy(), ref[col].to_numpy(), rtol=1e-9, atol=1e-9, err_msg=col
        )


def test_short_series_get_nan_for_long_lags() -> None:
    df = pl.DataFrame(
        {
            "series_id": ["a"] * 5,
            "date": pl.date_range(dt.date(2023, 1, 1), dt.date(2023, 1, 5), eager=True),
            "sales": [1.0, 2, 3, 4, 5],
        }
    )
    out = sf.build_features(df, sf.FeatureSpec(lags=[2, 30]), id_col="series_id")
    assert out["lag2"].to_list()[2:] == [1.0, 2.0, 3.0]
    assert out["lag30"].is_nan().all()


def test_poisoned_future_changes_no_feature() -> None:
    df = sf.generate_sales(n_stores=3, n_products=4, start="2022-01-01", end="2022-12-31", seed=4)
    cutoff = dt.date(2022, 9, 30)
    spec = sf.FeatureSpec(
        lags=[1, 7, 28],
        rolling=[sf.Rolling(window=7, stats=["mean", "std", "max", "median"], lag=1)],
        seasonal_rolling=[sf.SeasonalRolling(season_length=7, window=4, lag=1)],
        expanding=[sf.Expanding(stats=["mean", "std"], lag=1)],
        ewm=[sf.EWM(alpha=0.5, lag=1)],
        group_rolling=[sf.GroupRolling(group_col="store_id", window=7, stats=["mean"], lag=1)],
        calendar=["dayofweek", "holiday", "days_to_holiday"],
        target_transforms=["log1p", "diff7"],
    )
    kwargs = {
        "known_future": ["price", "promo"],
        "past_only": ["stockout"],
        "static_features": ["category"],
    }
    clean = sf.build_features(df, spec, **kwargs)  # type: ignore[arg-type]
    for poison in (float("nan"), 1e12):
        future = pl.col("date") > cutoff
        poisoned = df.with_columns(
            pl.when(future).then(poison).otherwise(pl.col("sales")).alias("sales"),
            pl.when(future).then(None).otherwise(pl.col("stockout")).alias("stockout"),
        )
        dirty = sf.build_features(poisoned, spec, **kwargs)  # type: ignore[arg-type]
        past = pl.col("date") <= cutoff
        features = [c for c in clean.columns if c not in ("store_id", "product_id", "date")]
        left = clean.filter(past).select(features)
        right = dirty.filter(past).select(features)
        assert left.equals(right), poison
        # And the poison does reach the rows after the cutoff.
        assert not clean.filter(~past)["lag1"].equals(dirty.filter(~past)["lag1"])


def test_calendar_matches_pandas() -> None:
    names = [
        "dayofweek",
        "dayofmonth",
        "dayofyear",
        "weekofyear",
        "month",
        "quarter",
        "year",
        "is_weekend",
        "is_month_start",
        "is_month_end",
        "holiday",
        "days_to_holiday",
        "days_since_holiday",
        "dayofweek_sin",
        "month_cos",
    ]
    df = pl.DataFrame(
        {
            "series_id": "a",
            "date": pl.date_range(dt.date(2021, 12, 20), dt.date(2023, 1, 10), eager=True),
        }
    ).with_columns(sales=pl.lit(1.0))
    out = sf.build_features(df, sf.FeatureSpec(calendar=names), id_col="series_id")  # type: ignore[arg-type]
    d = pd.DatetimeIndex(df["date"].to_pandas())
    expected = {
        "dayofweek": d.day_of_week,
        "dayofmonth": d.day,
        "dayofyear": d.day_of_year,
        "weekofyear": d.isocalendar().week.to_numpy(),
        "month": d.month,
        "quarter": d.quarter,
        "year": d.year,
        "is_weekend": d.day_of_week >= 5,
        "is_month_start": d.is_month_start,
        "is_month_end": d.is_month_end,
        "dayofweek_sin": np.sin(2 * np.pi * d.day_of_week / 7),
        "month_cos": np.cos(2 * np.pi * (d.month - 1) / 12),
    }
    for name, values in expected.items():
        np.testing.assert_allclose(
            out[name].to_numpy(), np.asarray(values, dtype=float), atol=1e-12, err_msg=name
        )
    row = out.filter(pl.col("date") == dt.date(2022, 7, 1)).row(0, named=True)
    assert row["holiday"] == 0
    assert row["days_to_holiday"] == 3
    assert row["days_since_holiday"] == 11
    assert out.filter(pl.col("date") == dt.date(2022, 7, 4))["holiday"].item() == 1


def test_exogenous_roles_and_transforms() -> None:
    df = sf.generate_sales(n_stores=2, n_products=2, start="2023-01-01", end="2023-03-31", seed=1)
    spec = sf.FeatureSpec(lags=[1], past_only_lags=[1, 2], target_transforms=["log1p"])
    out = sf.build_features(
        df,
        spec,
        static_features=["category", "store_size"],
        known_future=["price", "promo"],
        past_only=["stockout"],
        dtype="float32",
    )
    assert {"category", "store_size", "price", "promo", "stockout_lag1", "stockout_lag2"} <= set(
        out.columns
    )
    assert "stockout" not in out.columns
    assert out["lag1"].dtype == pl.Float32
    sorted_df = df.sort(["store_id", "product_id", "date"])
    np.testing.assert_allclose(out["sales"].to_numpy(), np.log1p(sorted_df["sales"].to_numpy()))
    np.testing.assert_allclose(out["price"].to_numpy(), sorted_df["price"].to_numpy(), rtol=1e-6)
    assert out["category"].n_unique() <= 6
    expected_lag2 = (
        sorted_df.group_by(["store_id", "product_id"], maintain_order=True)
        .agg(pl.col("stockout").cast(pl.Float64).shift(2))
        .explode("stockout")["stockout"]
    )
    np.testing.assert_array_equal(
        out["stockout_lag2"].cast(pl.Float64).fill_nan(None).to_numpy(), expected_lag2.to_numpy()
    )


def test_group_rolling_sums_the_group() -> None:
    df = sf.generate_sales(n_stores=2, n_products=3, start="2023-01-01", end="2023-02-28", seed=2)
    spec = sf.FeatureSpec(
        group_rolling=[sf.GroupRolling(group_col="store_id", window=3, stats=["mean"], lag=1)]
    )
    out = sf.build_features(df, spec)
    totals = df.group_by(["store_id", "date"]).agg(pl.col("sales").sum()).sort(["store_id", "date"])
    ref = totals.with_columns(
        pl.col("sales").shift(1).rolling_mean(3).over("store_id").alias("ref")
    )
    joined = out.join(ref, on=["store_id", "date"])
    np.testing.assert_allclose(
        joined["store_id_rolling_mean_lag1_window3"].to_numpy(),
        joined["ref"].fill_null(np.nan).to_numpy(),
        rtol=1e-12,
    )


@pytest.mark.parametrize(
    ("build", "needle"),
    [
        (lambda: sf.FeatureSpec(lags=[7, -1]), r"`lags\[1\]`"),
        (lambda: sf.FeatureSpec(lags=[0]), r"`lags\[0\]`"),
        (lambda: sf.FeatureSpec(lags=[1.5]), r"`lags\[0\]`: expected an int"),
        (lambda: sf.Rolling(window=0), r"`Rolling\.window`"),
        (lambda: sf.Rolling(window=7, stats=["mode"]), r"`Rolling\.stats\[0\]`"),
        (lambda: sf.Rolling(window=7, min_samples=9), r"`Rolling\.min_samples`"),
        (lambda: sf.EWM(alpha=1.5), r"`EWM\.alpha`"),
        (lambda: sf.FeatureSpec(calendar=["weekday"]), r"`calendar\[0\]`"),  # type: ignore[list-item]
        (lambda: sf.FeatureSpec(target_transforms=["boxcox"]), r"`target_transforms\[0\]`"),
        (lambda: sf.FeatureSpec(rolling=[{"window": 3}]), r"`rolling`: expected Rolling"),  # type: ignore[list-item]
    ],
)
def test_bad_specs_are_refused_where_written(build: Any, needle: str) -> None:
    with pytest.raises(InvalidArgumentError, match=needle):
        build()


def test_a_single_statistic_and_numpy_ints_are_accepted() -> None:
    rolling = sf.Rolling(window=np.int64(7), stats="std")  # type: ignore[arg-type]
    assert rolling == sf.Rolling(window=7, stats=("std",))
    assert type(rolling.window) is int


def test_missing_columns_are_named() -> None:
    df = sf.generate_sales(n_stores=1, n_products=1, start="2023-01-01", end="2023-01-31")
    with pytest.raises(MissingColumnError, match="traffic"):
        sf.build_features(df, sf.FeatureSpec(lags=[1]), past_only=["traffic"])
    with pytest.raises(MissingColumnError, match="region"):
        sf.build_features(
            df, sf.FeatureSpec(group_rolling=[sf.GroupRolling(group_col="region", window=3)])
        )


def test_last_period_only_equals_the_last_rows() -> None:
    df = random_panel(5)
    spec = sf.FeatureSpec(
        lags=SPEC.lags,
        rolling=SPEC.rolling,
        seasonal_rolling=SPEC.seasonal_rolling,
        expanding=SPEC.expanding,
        ewm=SPEC.ewm,
        calendar=["dayofweek", "holiday"],
        target_transforms=["log1p"],
    )
    full = sf.build_features(df, spec, id_col="series_id", freq="1d")
    last = sf.build_features(df, spec, id_col="series_id", freq="1d", last_period_only=True)
    expected = full.group_by("series_id", maintain_order=True).tail(1)
    assert last.columns == expected.columns
    assert last["date"].to_list() == expected["date"].to_list()
    for col in last.columns[2:]:
        np.testing.assert_allclose(
            last[col].to_numpy(), expected[col].to_numpy(), rtol=1e-9, atol=1e-9, err_msg=col
        )


@pytest.mark.parametrize("transforms", [[], ["log1p"], ["log1p", "diff7"]])
def test_recursive_step_state_equals_the_batch_features(transforms: list[str]) -> None:
    """The step state of a recursive forecast keeps running sums; after every push of
    predictions (on the transformed scale) its features equal the batch engine's on the history
    extended by the values it returns (the predictions on the target's scale)."""
    from salesforecast import _native

    spec = sf.FeatureSpec(
        lags=SPEC.lags,
        rolling=SPEC.rolling,
        seasonal_rolling=SPEC.seasonal_rolling,
        expanding=[*SPEC.expanding, sf.Expanding(stats=["sum", "mean"], lag=3)],
        ewm=SPEC.ewm,
        calendar=["dayofweek"],
        target_transforms=transforms,
    )
    frame = random_panel(9).sort("series_id", "date")
    stepper = _native.FeatureStepper(
        frame, spec.to_json(), sf.ColumnRoles(id="series_id").resolve(frame), "1d", None
    )
    series = frame["series_id"].gather(stepper.last_rows())
    rng = np.random.default_rng(0)
    for step in range(6):
        stepped = stepper.features([]).with_columns(series)
        nexts = frame.group_by("series_id").agg(pl.col("date").max() + pl.duration(days=1))
        open_rows = nexts.with_columns(pl.lit(None, dtype=pl.Float64).alias("sales"))
        batch = sf.build_features(
            pl.concat([frame, open_rows.select(frame.columns)]),
            spec,
            id_col="series_id",
            freq="1d",
            last_period_only=True,
        )
        expected = series.to_frame().join(batch, on="series_id", how="left", maintain_order="left")
        for col in stepped.columns[:-1]:
            np.testing.assert_allclose(
                stepped[col].to_numpy(),
                expected[col].to_numpy(),
                rtol=1e-12,
                atol=1e-12,
                err_msg=f"{col} at step {step}",
            )
        predictions = (
            rng.normal(0.0, 0.3, size=series.len())
            if "diff7" in transforms
            else np.log1p(rng.gamma(2.0, 10.0, size=series.len()))
        )
        predictions[rng.random(series.len()) < 0.1] = np.nan
        values = stepper.push_predictions(predictions if transforms else np.expm1(predictions))
        if transforms == ["log1p"]:
            np.testing.assert_allclose(values, np.expm1(predictions), rtol=1e-12)
        pushed = (
            series.to_frame()
            .join(nexts, on="series_id", maintain_order="left")
            .with_columns(pl.Series("sales", values))
        )
        frame = pl.concat([frame, pushed.select(frame.columns)])


def test_relative_columns_are_over_their_series_median() -> None:
    from salesforecast import _native

    df = sf.generate_sales(n_stores=2, n_products=3, start="2023-01-01", end="2023-06-30", seed=4)
    df = df.select("store_id", "product_id", "date", "sales", "price", "promo")
    spec = sf.FeatureSpec(lags=[7], relative=["price"])
    out = sf.build_features(df, spec, known_future=["price", "promo"])
    # Replaces the raw price: the level names the product, the ratio says what a change does.
    assert "price_rel" in out.columns
    assert "price" not in out.columns
    expected = df.sort("store_id", "product_id", "date").with_columns(
        (pl.col("price") / pl.col("price").median().over("store_id", "product_id")).alias(
            "expected"
        )
    )["expected"]
    np.testing.assert_allclose(out["price_rel"].to_numpy(), expected.to_numpy(), rtol=1e-12)
    # The step state of a recursive forecast divides by the same medians.
    roles = sf.ColumnRoles(known_future=["price", "promo"]).resolve(df)
    stepper = _native.FeatureStepper(
        df.sort("store_id", "product_id", "date"), spec.to_json(), roles, "1d", None
    )
    medians = df.group_by("store_id", "product_id").agg(pl.col("price").median())
    order = df.sort("store_id", "product_id", "date").select("store_id", "product_id")
    series = order[stepper.last_rows()].join(
        medians, on=["store_id", "product_id"], maintain_order="left"
    )
    planned = (series["price"] * 1.1).to_list()
    stepped = stepper.features([planned, [0.0] * len(planned)])
    np.testing.assert_allclose(stepped["price_rel"].to_numpy(), 1.1, rtol=1e-12)
    with pytest.raises(InvalidArgumentError, match="`promo` is not a known-future column"):
        sf.build_features(df, sf.FeatureSpec(lags=[7], relative=["promo"]), known_future=["price"])


def test_relative_medians_come_from_the_known_history() -> None:
    """Rows being forecast (no target yet) do not move a series' median, and a series whose
    prices are all zero gets missing ratios, not infinities."""
    df = sf.generate_sales(n_stores=1, n_products=2, start="2023-01-01", end="2023-03-31", seed=5)
    # P02's prices are mostly recorded as 0: its median is 0.
    df = df.select("store_id", "product_id", "date", "sales", "price").with_columns(
        pl.when((pl.col("product_id") == "P02") & (pl.col("date").dt.day() > 3))
        .then(0.0)
        .otherwise(pl.col("price"))
        .alias("price")
    )
    spec = sf.FeatureSpec(lags=[7], relative=["price"])
    alone = sf.build_features(df, spec, known_future=["price"])
    # More future rows than history, all at 3x the dearest price: a median over every row
    # would be theirs.
    last = df.group_by("store_id", "product_id").agg(
        pl.col("date").max(), (pl.col("price").max() * 3).alias("price")
    )
    future = pl.concat(
        last.with_columns(pl.col("date") + pl.duration(days=k)) for k in range(1, 121)
    ).with_columns(pl.lit(None, dtype=pl.Float64).alias("sales"))
    extended = sf.build_features(
        pl.concat([df, future.select(df.columns)]), spec, known_future=["price"]
    )
    p01 = extended.filter(pl.col("product_id") == "P01")
    history_rows = alone.filter(pl.col("product_id") == "P01").height
    np.testing.assert_allclose(
        p01["price_rel"].to_numpy()[:history_rows],
        alone.filter(pl.col("product_id") == "P01")["price_rel"].to_numpy(),
    )
    prices = df.filter(pl.col("product_id") == "P01")["price"]
    np.testing.assert_allclose(
        p01["price_rel"].to_numpy()[history_rows:], 3 * prices.max() / prices.median()
    )
    zero = extended.filter(pl.col("product_id") == "P02")["price_rel"]
    assert zero.is_nan().all()


@pytest.mark.parametrize(
    ("strategy", "group"),
    [("recursive", False), ("direct", False), ("direct", True)],
)
def test_forecasters_with_relative_prices_predict(strategy: str, group: bool) -> None:
    """Each forecasting path (recursive steps, direct models, with group features) builds
    the same relative feature it was trained on; a dearer plan changes the forecast."""
    df = sf.generate_sales(n_stores=2, n_products=2, start="2022-07-01", end="2023-06-30", seed=6)
    train, test = sf.time_split(df, test_periods=7)
    fc = sf.Forecaster(
        [sf.LightGBM(n_estimators=30)],
        sf.FeatureSpec(
            lags=[7, 14],
            relative=["price"],
            group_rolling=[sf.GroupRolling(group_col="category", window=7, lag=7)] if group else [],
        ),
        freq="1d",
        horizon=7,
        cv_windows=1,
        strategy=strategy,  # type: ignore[arg-type]
        static_features=["category"] if group else [],
        known_future=["price", "promo"],
    ).fit(
        train.select(
            "store_id", "product_id", "date", "sales", "price", "promo",
            *(["category"] if group else []),
        )
    )  # fmt: skip
    future = test.select("store_id", "product_id", "date", "price", "promo")
    pred = fc.predict(future=future)
    assert pred.height == 4 * 7
    assert pred["lightgbm"].is_finite().all()
    dearer = fc.predict(future=future.with_columns(pl.col("price") * 1.5))
    assert dearer.height == pred.height
    assert not np.allclose(dearer["lightgbm"].to_numpy(), pred["lightgbm"].to_numpy())


def test_relative_with_group_features_needs_direct_models() -> None:
    spec = sf.FeatureSpec(
        lags=[7],
        relative=["price"],
        group_rolling=[sf.GroupRolling(group_col="category", window=7)],
    )
    with pytest.raises(InvalidArgumentError, match="strategy='direct'"):
        sf.Forecaster([sf.LightGBM()], spec, freq="1d", horizon=7, known_future=["price"])
