"""Properties over random frames (hypothesis): the data contract says the same in `validate`
and at the entry of every call; features never read the future; forecasts of valid data are
finite; feature specs and fitted forecasters round-trip exactly."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import salesforecast as sf
from salesforecast import _native, errors
from salesforecast.config import ColumnRoles

START = dt.date(2023, 1, 2)
ROLES = ColumnRoles(id="series_id").resolve(pl.DataFrame({"series_id": ["a"]}))
SETTINGS = settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


@st.composite
def panels(draw: Any, min_days: int = 1, clean: bool = False) -> pl.DataFrame:
    """A daily panel of 1-3 series: random lengths and starts, values that may be missing,
    infinite, negative or huge, rows dropped (gaps), repeated and shuffled, unless ``clean``."""
    rows: list[tuple[str, dt.date, float | None]] = []
    for s in range(draw(st.integers(1, 3))):
        offset = draw(st.integers(0, 10))
        for k in range(draw(st.integers(min_days, 40))):
            value: float | None = draw(st.floats(0, 1000))
            if not clean:
                value = draw(
                    st.one_of(
                        st.just(value),
                        st.sampled_from([None, float("nan"), float("inf"), -5.0, 1e300]),
                    )
                    if draw(st.integers(0, 20)) == 0
                    else st.just(value)
                )
            rows.append((f"s{s}", START + dt.timedelta(days=offset + k), value))
    if not clean and rows:
        if draw(st.booleans()):
            del rows[draw(st.integers(0, len(rows) - 1))]
        if rows and draw(st.integers(0, 5)) == 0:
            rows.append(rows[draw(st.integers(0, len(rows) - 1))])
    frame = pl.DataFrame(
        rows, schema={"series_id": pl.String, "date": pl.Date, "sales": pl.Float64}, orient="row"
    )
    return frame.sample(fraction=1.0, shuffle=True, seed=draw(st.integers(0, 99)))


@SETTINGS
@given(panels())
def test_validate_and_the_entry_check_agree(frame: pl.DataFrame) -> None:
    report = sf.validate(frame, id_col="series_id", freq="1d")
    if report.ok:
        _native.check_frame(frame, ROLES, "1d", "finite", "df")
        return
    with pytest.raises(errors.SalesForecastError) as raised:
        _native.check_frame(frame, ROLES, "1d", "finite", "df")
    message = str(raised.value)
    assert isinstance(raised.value, ValueError)
    # The same first breach: its column, or the empty frame.
    first = report.errors[0]
    assert f"`{first.column}`" in message if first.column else "no rows" in message, message


SPECS = st.builds(
    lambda lags, window, lag, alpha: sf.FeatureSpec(
        lags=lags,
        rolling=[sf.Rolling(window=window, stats=("mean", "max"), lag=lag)],
        seasonal_rolling=[sf.SeasonalRolling(season_length=7, window=2, lag=lag)],
        expanding=[sf.Expanding(stats=("mean",), lag=lag)],
        ewm=[sf.EWM(alpha=alpha, lag=lag)],
        calendar=["dayofweek", "month"],
    ),
    st.lists(st.integers(1, 14), min_size=1, max_size=4, unique=True),
    st.integers(1, 10),
    st.integers(1, 5),
    st.floats(0.05, 1.0),
)


@SETTINGS
@given(panels(min_days=2, clean=True), SPECS, st.integers(0, 30), st.floats(-1000, 1000))
def test_features_never_read_the_future(
    frame: pl.DataFrame, spec: sf.FeatureSpec, cut: int, changed: float
) -> None:
    # Features up to a time are the same whatever the target is after it.
    at = START + dt.timedelta(days=cut)
    later = pl.col("date") > at
    altered = frame.with_columns(
        pl.when(later).then(pl.col("sales") + changed).otherwise(pl.col("sales")).alias("sales")
    )
    before = sf.build_features(frame, spec, id_col="series_id", freq="1d")
    after = sf.build_features(altered, spec, id_col="series_id", freq="1d")
    features = [c for c in before.columns if c not in ("series_id", "date", "sales")]
    early = pl.col("date") <= at
    assert before.filter(early).select(features).equals(after.filter(early).select(features))


@SETTINGS
@given(panels(min_days=30, clean=True), st.integers(1, 7))
def test_forecasts_of_valid_data_are_finite(frame: pl.DataFrame, horizon: int) -> None:
    fc = sf.Forecaster(
        [sf.Naive(), sf.SeasonalNaive(), sf.LightGBM(n_estimators=5)],
        sf.FeatureSpec(lags=[1, 7], rolling=[sf.Rolling(window=3)]),
        freq="1d",
        horizon=horizon,
        cv_windows=1,
        verbose=False,
    )
    pred = fc.fit(frame).predict()
    values = pred.select(pl.exclude("series_id", "date")).to_numpy()
    assert np.isfinite(values).all()
    assert pred.height == horizon * frame["series_id"].n_unique()


@SETTINGS
@given(SPECS)
def test_specs_round_trip(spec: sf.FeatureSpec) -> None:
    again = sf.FeatureSpec.from_dict(spec.to_dict())
    assert again == spec
    assert again.to_json() == spec.to_json()


@settings(
    max_examples=5, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(panels(min_days=30, clean=True))
def test_a_saved_forecaster_forecasts_what_it_did(tmp_path: Path, frame: pl.DataFrame) -> None:
    fc = sf.Forecaster(
        [sf.SeasonalNaive(), sf.LightGBM(n_estimators=5)],
        sf.FeatureSpec(lags=[1, 7]),
        freq="1d",
        horizon=3,
        cv_windows=1,
        verbose=False,
    ).fit(frame)
    path = tmp_path / f"bundle-{abs(hash(frame.to_series(2).sum()))}"
    fc.save(path)
    assert sf.Forecaster.load(path).predict().equals(fc.predict())
