"""Known-future values for a forecast: the baseline a fitted forecaster assumes when none are
supplied, and planning scenarios on top of it (promotion days and their discount, a price
change, closed days).

The controls are read off the training history, not off column names, so they work for any
data set: a 0/1 or boolean column is a set of days (``promo``, ``is_closed``); a numeric column
that is zero whenever such a day column is off is the amount on those days (``discount`` with
``promo``); a column that is always positive is changed in percent (``price``); any other
numeric column takes a value, and a text column one of its categories.

>>> base = scenario.baseline(fc, history_of_one_series, h=14)
>>> future = scenario.apply(fc, base, {"promo": [date(2024, 1, 3)], "discount": 0.2,
...                                    "price": 5.0})
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import polars as pl

from salesforecast.errors import InvalidArgumentError, NotFittedError
from salesforecast.forecast import Forecaster

__all__ = ["Control", "apply", "baseline", "controls"]

Kind = Literal["days", "amount_on_days", "percent", "value", "category"]


@dataclass(frozen=True)
class Control:
    """One known-future column as a planner sets it.

    ``kind``: ``days`` (the dates it is on), ``amount_on_days`` (a value on the days of
    ``days_column``, zero elsewhere), ``percent`` (a change from the baseline), ``value`` (one
    value for the horizon), ``category`` (one of ``options``). ``default`` is the input that
    leaves the baseline unchanged, except for ``amount_on_days``, where it is the typical
    amount seen in the history."""

    column: str
    kind: Kind
    default: Any
    days_column: str | None = None
    options: tuple[str, ...] = ()


def _is_flag(series: pl.Series) -> bool:
    if series.dtype == pl.Boolean:
        return True
    if not series.dtype.is_numeric():
        return False
    values = set(series.drop_nulls().unique().to_list())
    return bool(values) and values <= {0, 1}


def _history(fc: Forecaster) -> pl.DataFrame:
    history = fc.history
    if history is None:
        raise NotFittedError("the Forecaster is not fitted; call fit first")
    return history


def _flags(fc: Forecaster) -> list[str]:
    """The day columns, read off the training history (the same for every series)."""
    training = _history(fc)
    return [c for c in fc.known_future if _is_flag(training[c])]


def baseline(fc: Forecaster, history: pl.DataFrame | None = None, h: int | None = None) -> Any:
    """The known-future frame of the ``h`` periods (default the horizon) after each series of
    ``history`` (default the training history): day columns at the series' most common value
    (off, for promotions and closures), every other column at its value on the series' last
    ordinary day, one with every day column at that value (the shelf price, not a promotion's,
    and no discount)."""
    frame = _history(fc) if history is None else history
    h = fc.horizon if h is None else h
    if h < 1:
        raise InvalidArgumentError("invalid argument `h`: must be at least 1")
    keys, time_col = fc.keys, fc.time_col
    missing = [c for c in [*keys, time_col, *fc.known_future] if c not in frame.columns]
    if missing:
        raise InvalidArgumentError(
            f"invalid argument `history`: columns {missing} are missing; it has {frame.columns}"
        )
    flags = _flags(fc)
    usual = {c: pl.col(c).mode().sort().first() for c in flags}
    ordered = frame.sort([*keys, time_col])
    if flags:
        ordinary = pl.all_horizontal([pl.col(c) == usual[c] for c in flags])
        others = [
            pl.coalesce(
                pl.col(c).filter(ordinary).drop_nulls().last(), pl.col(c).drop_nulls().last()
            ).alias(c)
            for c in fc.known_future
            if c not in flags
        ]
    else:
        others = [pl.col(c).drop_nulls().last() for c in fc.known_future]
    last = ordered.group_by(keys, maintain_order=True).agg(
        pl.col(time_col).last(), *[usual[c].alias(c) for c in flags], *others
    )
    return (
        pl.concat(last.with_columns(fc.shift(last[time_col], k)) for k in range(1, h + 1))
        .select(*keys, time_col, *fc.known_future)
        .sort([*keys, time_col])
    )


def controls(fc: Forecaster, history: pl.DataFrame | None = None) -> list[Control]:
    """The planner's controls of ``fc``'s known-future columns. Their kinds are read off the
    training history (the same for every series); their defaults off ``history`` (default the
    training history; give one series' history for its own)."""
    training = _history(fc)
    frame = training if history is None else history
    flags = _flags(fc)
    # A value's or category's default is what the baseline assumes (of the latest series).
    assumed = baseline(fc, frame, 1).sort(fc.time_col).row(-1, named=True)
    out: list[Control] = []
    for column in fc.known_future:
        values = frame[column]
        if column in flags:
            out.append(Control(column, "days", []))
            continue
        if values.dtype == pl.String or values.dtype == pl.Categorical:
            options = tuple(sorted(str(v) for v in training[column].drop_nulls().unique()))
            default = assumed[column]
            out.append(
                Control(
                    column, "category", None if default is None else str(default), options=options
                )
            )
            continue
        tied = next(
            (
                flag
                for flag in flags
                if training.filter(~pl.col(flag).cast(pl.Boolean))[column].abs().max() == 0
                and training.filter(pl.col(flag).cast(pl.Boolean))[column].abs().max()
                not in (0, None)
            ),
            None,
        )
        if tied is not None:
            on = frame.filter(pl.col(tied).cast(pl.Boolean) & (pl.col(column) != 0))[column]
            if on.len() == 0:  # this series never had one: the typical amount of all
                on = training.filter(pl.col(tied).cast(pl.Boolean) & (pl.col(column) != 0))[column]
            out.append(Control(column, "amount_on_days", float(on.median()), days_column=tied))  # type: ignore[arg-type]
        elif (low := training[column].drop_nulls().min()) is not None and low > 0:  # type: ignore[operator]
            out.append(Control(column, "percent", 0.0))
        else:
            default = assumed[column]
            out.append(Control(column, "value", 0.0 if default is None else float(default)))
    return out


def apply(
    fc: Forecaster,
    base: pl.DataFrame,
    inputs: Mapping[str, Any],
    history: pl.DataFrame | None = None,
) -> pl.DataFrame:
    """``base`` (from :func:`baseline`) with the planner's ``inputs``: per column, the dates
    of a day column, the amount of an amount-on-days column, the percent change of a percent
    column, the value or category of the others. Columns without an input keep the baseline;
    an amount-on-days column is zero off its days whenever its day column has an input.
    ``history`` is what ``base`` was made from (for the typical amounts)."""
    known = {c.column: c for c in controls(fc, history)}
    unknown = sorted(set(inputs) - set(known))
    if unknown:
        raise InvalidArgumentError(
            f"invalid argument `inputs`: {unknown} are not known-future columns of the model "
            f"({sorted(known)})"
        )
    time_col = fc.time_col
    out = base
    for column, value in inputs.items():
        control = known[column]
        dtype = base[column].dtype
        if control.kind == "days":
            days = _dates(column, value)
            on = pl.col(time_col).cast(pl.Date).is_in(days)
            out = out.with_columns(on.cast(dtype).alias(column))
        elif control.kind == "percent":
            factor = 1 + float(value) / 100
            out = out.with_columns((pl.col(column) * factor).cast(dtype).alias(column))
        elif control.kind == "category":
            if value not in control.options:
                raise InvalidArgumentError(
                    f"invalid argument `inputs[{column!r}]`: {value!r} is not one of "
                    f"{list(control.options)}"
                )
            out = out.with_columns(pl.lit(value).cast(dtype).alias(column))
        elif control.kind == "value":
            out = out.with_columns(pl.lit(float(value)).cast(dtype).alias(column))
    for column, control in known.items():
        if control.kind == "amount_on_days" and (column in inputs or control.days_column in inputs):
            amount = float(inputs.get(column, control.default))
            on = pl.col(str(control.days_column)).cast(pl.Boolean)
            out = out.with_columns(
                pl.when(on).then(amount).otherwise(0.0).cast(base[column].dtype).alias(column)
            )
    return out


def _dates(column: str, value: Any) -> list[dt.date]:
    if not isinstance(value, Sequence) or isinstance(value, str):
        raise InvalidArgumentError(
            f"invalid argument `inputs[{column!r}]`: give the list of dates it is on"
        )
    try:
        return [v if isinstance(v, dt.date) else dt.date.fromisoformat(str(v)) for v in value]
    except ValueError as e:
        raise InvalidArgumentError(f"invalid argument `inputs[{column!r}]`: {e}") from None
