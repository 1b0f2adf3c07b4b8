from __future__ import annotations

import polars as pl
import pytest

import salesforecast as sf


@pytest.fixture(scope="session")
def sales() -> pl.DataFrame:
    """Three years of 4 stores x 12 products, daily."""
    return sf.generate_sales(
        n_stores=4, n_products=12, start="2021-01-01", end="2023-12-31", seed=7
    )
