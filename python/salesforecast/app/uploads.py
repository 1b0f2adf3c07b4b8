"""The batch page's work, without Streamlit: read an uploaded history (and optional future
covariates) within the stated limits, validate it, and forecast every series only when it is
valid."""

from __future__ import annotations

import io
from dataclasses import dataclass

import polars as pl

from salesforecast import scenario, storage
from salesforecast.data import validate
from salesforecast.errors import SalesForecastError
from salesforecast.forecast import Forecaster

MAX_MEGABYTES = 50
MAX_ROWS = 2_000_000


class UploadError(SalesForecastError):
    """An upload that is too large, unreadable, or of a type the page does not take."""


@dataclass(frozen=True)
class BatchResult:
    """Either the problems found (one row per problem and example row) or the forecasts."""

    problems: pl.DataFrame | None
    forecast: pl.DataFrame | None
    series: int = 0


def read_table(data: bytes, name: str) -> pl.DataFrame:
    """A CSV or parquet file's rows, refused above :data:`MAX_MEGABYTES` or :data:`MAX_ROWS`."""
    if len(data) > MAX_MEGABYTES * 1024 * 1024:
        raise UploadError(
            f"{name} is {len(data) / 1024 / 1024:.1f} MB; the limit is {MAX_MEGABYTES} MB"
        )
    lower = name.lower()
    try:
        if lower.endswith(".parquet"):
            frame = pl.read_parquet(io.BytesIO(data))
        elif lower.endswith(".csv"):
            frame = pl.read_csv(io.BytesIO(data), try_parse_dates=True, infer_schema_length=10_000)
        else:
            raise UploadError(f"{name}: give a .csv or .parquet file")
    except pl.exceptions.PolarsError as e:
        raise UploadError(f"{name} could not be read: {e}") from None
    if frame.height > MAX_ROWS:
        raise UploadError(f"{name} has {frame.height:,} rows; the limit is {MAX_ROWS:,}")
    return frame


def read_uri(uri: str) -> pl.DataFrame:
    """A CSV or parquet file at a path or storage URI, with the same limits."""
    return read_table(storage.read_bytes(uri), uri)


def _problem_rows(report_dict: dict[str, object]) -> pl.DataFrame:
    rows = []
    for issue in report_dict["issues"]:  # type: ignore[attr-defined]
        examples = issue.get("examples") or [{}]
        for example in examples:
            rows.append(
                {
                    "severity": issue["severity"],
                    "check": issue["check"],
                    "column": issue.get("column"),
                    "row": example.get("row"),
                    "series": example.get("series"),
                    "time": None if example.get("time") is None else str(example["time"]),
                    "problem": issue["message"],
                }
            )
    return pl.DataFrame(rows, infer_schema_length=None)


def forecast(fc: Forecaster, history: pl.DataFrame, future: pl.DataFrame | None) -> BatchResult:
    """Validates ``history`` with the model's columns and frequency; with an error-level
    problem nothing is forecast. Otherwise the next horizon of every series, known-future
    values from ``future`` or else the baseline of :func:`salesforecast.scenario.baseline`."""
    declared = fc.columns
    missing = [c for c in declared if c not in history.columns]
    if missing:
        problem = {
            "severity": "error", "check": "missing_columns", "column": ", ".join(missing),
            "row": None, "series": None, "time": None,
            "problem": f"the model needs the columns {missing}; the file has {history.columns}",
        }  # fmt: skip
        return BatchResult(pl.DataFrame([problem]), None)
    report = validate(
        history,
        id_col=fc.keys,
        time_col=fc.time_col,
        target_col=fc.target_col,
        freq=fc.freq,
    )
    if not report.ok:
        return BatchResult(_problem_rows(report.to_dict()), None)
    known = None
    if fc.known_future:
        known = future if future is not None else scenario.baseline(fc, history)
    pred = fc.predict(new_df=history, future=known)
    return BatchResult(None, pred, pred.select(fc.keys).unique().height)
