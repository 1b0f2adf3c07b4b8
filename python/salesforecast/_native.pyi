"""Type stubs of the compiled core. Not a public API: use the functions `salesforecast` exports."""

import polars as pl

__all__ = ["__version__", "generate_sales", "time_split", "validate"]

__version__: str

def generate_sales(
    n_stores: int,
    n_products: int,
    start: str,
    end: str,
    freq: str,
    seed: int,
    n_threads: int | None = None,
) -> pl.DataFrame: ...
def validate(
    df: pl.DataFrame,
    id_cols: list[str],
    time_col: str,
    target_col: str,
    freq: str | None,
    min_length: int | None,
    outlier_threshold: float,
    as_of: str | None,
    reference: pl.DataFrame | None,
    drift_threshold: float,
    raise_on_error: bool,
) -> str: ...
def time_split(
    df: pl.DataFrame,
    id_cols: list[str],
    time_col: str,
    target_col: str,
    test_periods: int,
    val_periods: int,
    gap: int,
    freq: str | None,
) -> list[pl.DataFrame]: ...
