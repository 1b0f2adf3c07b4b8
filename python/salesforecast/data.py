"""Synthetic sales, validation and time splits: thin typed wrappers over the native core."""

from __future__ import annotations

import datetime as dt
import json
import os
from dataclasses import asdict, dataclass, field
from typing import Any, Literal, overload

import polars as pl

from salesforecast import _native
from salesforecast._frames import IdCol, resolve_id_cols, to_polars
from salesforecast.config import ColumnRoles, whole
from salesforecast.errors import (
    ColumnTypeError,
    DataError,
    InvalidArgumentError,
    MissingColumnError,
    StorageError,
    StorageNotFoundError,
)

__all__ = ["Issue", "ValidationReport", "generate_sales", "read_sales", "time_split", "validate"]

DateLike = str | dt.date


def parse_date(name: str, value: DateLike) -> dt.date:
    """``value`` as a date, or a typed error naming the argument ``name``."""
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    if isinstance(value, str):
        try:
            return dt.date.fromisoformat(value)
        except ValueError:
            pass
    raise InvalidArgumentError(
        f"invalid argument `{name}`: expected a date or a YYYY-MM-DD string, got {value!r}"
    )


def _as_of(value: DateLike) -> dt.datetime:
    """A date (midnight) or a date-time string (``2023-01-31T12:00``) as a date-time."""
    if isinstance(value, str) and "T" in value:
        try:
            return dt.datetime.fromisoformat(value)
        except ValueError:
            pass
    return dt.datetime.combine(parse_date("as_of", value), dt.time())


def generate_sales(
    n_stores: int = 10,
    n_products: int = 20,
    start: DateLike = "2021-01-01",
    end: DateLike = "2023-12-31",
    freq: str = "1d",
    seed: int = 42,
    n_threads: int | None = None,
) -> pl.DataFrame:
    """Generates a synthetic stores x products sales panel.

    Demand is simulated daily (level from store size and product popularity, a trend that can
    change sign, weekly and product-specific yearly seasonality, US holidays with pre-holiday
    uplift, promotions with price elasticity and a post-promotion dip, price changes, store
    closures, stockouts, negative binomial noise and rare outliers) and summed into periods of
    ``freq`` (``"1d"``, ``"1w"``, ``"1mo"``, ...). The same ``seed`` gives the same frame, bit
    for bit, whatever ``n_threads`` is. Columns are documented in the README.
    """
    for name, value in (("n_stores", n_stores), ("n_products", n_products), ("seed", seed)):
        if not isinstance(value, int) or isinstance(value, bool) or value < 0:
            raise InvalidArgumentError(
                f"invalid argument `{name}`: expected a non-negative int, got {value!r}"
            )
    if n_threads is not None:
        whole("n_threads", n_threads)
    return _native.generate_sales(
        n_stores,
        n_products,
        parse_date("start", start),
        parse_date("end", end),
        freq,
        seed,
        n_threads,
    )


@dataclass(frozen=True)
class Issue:
    """One finding of one validation check."""

    severity: Literal["error", "warning", "info"]
    check: str
    column: str | None
    count: int
    message: str
    examples: list[dict[str, Any]] = field(default_factory=list)


@dataclass(frozen=True)
class ValidationReport:
    """What :func:`validate` found. ``ok`` is False when any issue is an error."""

    ok: bool
    n_rows: int
    n_series: int
    start: str | None
    end: str | None
    freq: str | None
    issues: list[Issue]

    @property
    def errors(self) -> list[Issue]:
        """Error-level issues."""
        return [i for i in self.issues if i.severity == "error"]

    @property
    def warnings(self) -> list[Issue]:
        """Warning-level issues."""
        return [i for i in self.issues if i.severity == "warning"]

    def checks(self) -> set[str]:
        """Names of the checks that reported something."""
        return {i.check for i in self.issues}

    def to_dict(self) -> dict[str, Any]:
        """The report as plain Python values."""
        return asdict(self)

    def to_json(self) -> str:
        """The report as JSON."""
        return json.dumps(self.to_dict(), indent=2)

    def __str__(self) -> str:
        head = (
            f"{'OK' if self.ok else 'FAILED'}: {self.n_rows} rows, {self.n_series} series, "
            f"{self.start} .. {self.end}, freq {self.freq}"
        )
        lines = [head] + [
            f"  {i.severity:<7} {i.check:<18} {i.column or '':<14} {i.message}" for i in self.issues
        ]
        return "\n".join(lines)


def validate(
    df: Any,
    reference: Any | None = None,
    *,
    id_col: IdCol = None,
    time_col: str = "date",
    target_col: str = "sales",
    freq: str | None = None,
    min_length: int | None = None,
    outlier_threshold: float = 5.0,
    as_of: DateLike | None = None,
    drift_threshold: float = 0.25,
    raise_on_error: bool = False,
) -> ValidationReport:
    """Checks a long sales frame before it is used.

    Checks: required columns and dtypes, nulls per column, duplicate (series, time) keys,
    infinite or negative targets, times off the ``freq`` grid and missing periods per series,
    series shorter than ``min_length``, outliers (robust z-score per series above
    ``outlier_threshold``), constant series, dates after ``as_of`` (default today) and, with a
    ``reference`` frame, drift of every numeric column (population stability index; above
    ``drift_threshold`` is a warning). With ``raise_on_error=True`` a
    :class:`~salesforecast.errors.ValidationError` lists every error-level issue.
    """
    frame = to_polars(df)
    ref = None if reference is None else to_polars(reference, "reference")
    as_of_time = _as_of(as_of if as_of is not None else dt.date.today())
    raw = _native.validate(
        frame,
        ColumnRoles.of(id_col=id_col, time_col=time_col, target_col=target_col).resolve(frame),
        freq,
        min_length,
        float(outlier_threshold),
        as_of_time,
        ref,
        float(drift_threshold),
        raise_on_error,
    )
    data = json.loads(raw)
    issues = [Issue(**issue) for issue in data.pop("issues")]
    return ValidationReport(issues=issues, **data)


@overload
def time_split(
    df: Any,
    test_periods: int,
    val_periods: Literal[0] = 0,
    gap: int = 0,
    *,
    freq: str | None = None,
    id_col: IdCol = None,
    time_col: str = "date",
    target_col: str = "sales",
) -> tuple[pl.DataFrame, pl.DataFrame]: ...


@overload
def time_split(
    df: Any,
    test_periods: int,
    val_periods: int,
    gap: int = 0,
    *,
    freq: str | None = None,
    id_col: IdCol = None,
    time_col: str = "date",
    target_col: str = "sales",
) -> tuple[pl.DataFrame, ...]: ...


def time_split(
    df: Any,
    test_periods: int,
    val_periods: int = 0,
    gap: int = 0,
    *,
    freq: str | None = None,
    id_col: IdCol = None,
    time_col: str = "date",
    target_col: str = "sales",
) -> tuple[pl.DataFrame, ...]:
    """Splits each series by date: the last ``test_periods`` periods are the test set.

    Periods are counted back from each series' own last date at ``freq`` (inferred when not
    given), never by row count, so missing rows do not move the boundary. ``val_periods > 0``
    returns ``(train, val, test)``; ``gap`` periods are left out before each held-out block.
    A series with no training period left raises
    :class:`~salesforecast.errors.SeriesTooShortError` naming it.
    """
    for name, value in (("test_periods", test_periods), ("val_periods", val_periods), ("gap", gap)):
        if not isinstance(value, int) or isinstance(value, bool) or value < 0:
            raise InvalidArgumentError(
                f"invalid argument `{name}`: expected a non-negative int, got {value!r}"
            )
    frame = to_polars(df)
    roles = ColumnRoles.of(id_col=id_col, time_col=time_col, target_col=target_col).resolve(frame)
    _native.check_frame(frame, roles, freq, "unread", "df")
    parts = _native.time_split(
        frame,
        roles,
        test_periods,
        val_periods,
        gap,
        freq,
    )
    return tuple(parts)


def read_sales(
    path: str | os.PathLike[str],
    *,
    id_col: IdCol = None,
    time_col: str = "date",
    target_col: str = "sales",
    time_format: str | None = None,
) -> pl.DataFrame:
    """Reads a long sales table from a CSV or parquet file (by extension).

    The time column is parsed to ``Date`` (or ``Datetime`` when it has times of day; give
    ``time_format`` for unusual layouts), the target cast to Float64 and rows sorted by series and
    time. Any fixed frequency works; check the result with :func:`validate`.
    """
    source = os.fspath(path)
    suffix = os.path.splitext(source)[1].lower()
    if suffix not in (".parquet", ".pq", ".csv", ".txt", ".gz"):
        raise InvalidArgumentError(
            f"invalid argument `path`: {source!r} is neither .csv nor .parquet"
        )
    try:
        if suffix in (".parquet", ".pq"):
            frame = pl.read_parquet(source)
        else:
            frame = pl.read_csv(
                source, try_parse_dates=time_format is None, infer_schema_length=10_000
            )
    except FileNotFoundError:
        raise StorageNotFoundError(f"{source}: no such file") from None
    except pl.exceptions.PolarsError as e:
        if "://" in source:  # an object store refused or failed
            raise StorageError(f"{source} could not be read: {e}") from None
        raise DataError(f"{source} could not be read as {suffix[1:]}: {e}") from None
    keys = resolve_id_cols(frame, id_col)
    missing = [c for c in [*keys, time_col, target_col] if c not in frame.columns]
    if missing:
        raise MissingColumnError(
            f"columns {missing} not found in {source}; it has [{', '.join(frame.columns)}]"
        )
    time = frame[time_col]
    if time.dtype == pl.String:
        parsed = time.str.to_datetime(time_format, strict=False)
        if parsed.null_count() > time.null_count():
            row = int((parsed.is_null() & time.is_not_null()).arg_max() or 0)
            raise DataError(
                f"invalid data in column `{time_col}`: {time[row]!r} at row {row} is not a date"
            )
        all_midnight = bool((parsed.dt.time() == dt.time(0)).all())
        frame = frame.with_columns(parsed.dt.date() if all_midnight else parsed)
    elif time.dtype not in (pl.Date,) and not isinstance(time.dtype, pl.Datetime):
        raise ColumnTypeError(f"column `{time_col}` has dtype {time.dtype}; expected dates")
    try:
        frame = frame.with_columns(pl.col(target_col).cast(pl.Float64))
    except pl.exceptions.InvalidOperationError as e:
        raise ColumnTypeError(f"column `{target_col}` is not numeric: {e}") from e
    return frame.sort([*keys, time_col])
