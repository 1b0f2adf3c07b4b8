"""The pyfunc wrapper's request handling, without a server (tests/integration serves it)."""

from __future__ import annotations

import warnings

import polars as pl
import pytest

import salesforecast as sf
from salesforecast.errors import InvalidArgumentError
from salesforecast.serving import forecast_for


@pytest.fixture(scope="module")
def fitted() -> sf.Forecaster:
    df = sf.generate_sales(n_stores=2, n_products=2, start="2023-01-01", end="2023-05-31", seed=1)
    fc = sf.Forecaster(
        [sf.LightGBM(n_estimators=20), sf.SeasonalNaive()],
        sf.FeatureSpec(lags=[7, 14]),
        freq="1d",
        horizon=7,
        cv_windows=1,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", sf.errors.UndeclaredColumnsWarning)
        return fc.fit(df)


def test_keys_only_requests_forecast_the_horizon(fitted: sf.Forecaster) -> None:
    request = pl.DataFrame({"store_id": ["S01"], "product_id": ["P02"]}).to_pandas()
    out = forecast_for(fitted, request, None)
    assert out.height == 7
    assert set(out["product_id"]) == {"P02"}
    assert forecast_for(fitted, request, {"h": 3, "levels": [50]}).columns[-1] == "ensemble-hi-50"
    assert forecast_for(fitted, request, {"h": 3})["ensemble"].equals(
        fitted.predict(h=3).filter((pl.col("store_id") == "S01") & (pl.col("product_id") == "P02"))[
            "ensemble"
        ]
    )


def test_bad_requests_are_typed_errors(fitted: sf.Forecaster) -> None:
    with pytest.raises(InvalidArgumentError, match="key columns"):
        forecast_for(fitted, pl.DataFrame({"store_id": ["S01"]}), None)
    with pytest.raises(InvalidArgumentError, match="not in the training data"):
        forecast_for(fitted, pl.DataFrame({"store_id": ["S09"], "product_id": ["P01"]}), None)
    with pytest.raises(InvalidArgumentError, match="wrong type"):
        forecast_for(
            fitted,
            pl.DataFrame({"store_id": ["S01"], "product_id": ["P01"], "date": ["soon"]}),
            None,
        )
