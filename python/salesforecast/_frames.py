"""Accepting polars or pandas frames, and resolving the key columns."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

import polars as pl

from salesforecast import _native
from salesforecast.errors import InvalidArgumentError, MissingColumnError

IdCol = str | Sequence[str] | None

GENERATED_KEYS = ("store_id", "product_id")


def to_polars(df: Any, name: str = "df") -> pl.DataFrame:
    """Returns ``df`` as a polars DataFrame; pandas frames go through Arrow."""
    if isinstance(df, pl.DataFrame):
        return df
    if isinstance(df, pl.LazyFrame):
        return df.collect()
    module = type(df).__module__
    if module.startswith("pandas"):
        converted: pl.DataFrame = pl.from_pandas(df)
        return converted
    raise InvalidArgumentError(
        f"invalid argument `{name}`: expected a polars or pandas DataFrame, got {type(df).__name__}"
    )


def resolve_id_cols(df: pl.DataFrame, id_col: IdCol) -> list[str]:
    """The key columns: as given, else ``series_id``, else the generator's store and product."""
    if isinstance(id_col, str):
        return [id_col]
    if id_col is not None:
        cols = list(id_col)
        if not cols or not all(isinstance(c, str) for c in cols):
            raise InvalidArgumentError(
                "invalid argument `id_col`: give a column name or a non-empty list of names"
            )
        return cols
    if "series_id" in df.columns:
        return ["series_id"]
    if all(c in df.columns for c in GENERATED_KEYS):
        return list(GENERATED_KEYS)
    raise MissingColumnError(
        "column `series_id` not found and no id_col given; the frame has columns "
        f"[{', '.join(df.columns)}]"
    )


def forecast_columns(frame: pl.DataFrame, skip: set[str]) -> list[str]:
    """The numeric point-forecast columns of ``frame``: not in ``skip``, not interval bounds."""
    return [
        c
        for c in frame.columns
        if c not in skip and "-lo-" not in c and "-hi-" not in c and frame[c].dtype.is_numeric()
    ]


def as_time_dtype(times: pl.Series, dtype: pl.DataType) -> pl.Series:
    """Times from the core in the frame's own ``dtype``: the core keeps the UTC instants of a
    zoned Datetime but hands them back without their time zone."""
    if isinstance(dtype, pl.Datetime) and dtype.time_zone is not None:
        return (
            times.cast(pl.Datetime(dtype.time_unit))
            .dt.replace_time_zone("UTC")
            .dt.convert_time_zone(dtype.time_zone)
        )
    return times.cast(dtype)


def shift_times(
    times: pl.Series, freq: str, k: int, outside: Literal["refuse", "null"] = "refuse"
) -> pl.Series:
    """``times`` moved by ``k`` periods of ``freq`` (the core's calendar arithmetic). A time
    moved out of years 1 to 9999 raises :class:`~salesforecast.errors.InvalidArgumentError`, or
    with ``outside="null"`` is null: a bound beyond every time there can be."""
    return as_time_dtype(_native.shift_times(times, freq, k, outside), times.dtype)
