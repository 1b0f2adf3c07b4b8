"""Leak-free time-series features, built by the Rust engine.

Every target-derived feature at period ``t`` reads only targets at or before ``t - lag``
(``lag >= 1``), on each series' regular period grid: a missing period counts as missing, it is
never skipped over. Names are deterministic (see the README's feature table).
"""

from __future__ import annotations

import datetime as dt
import json
import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, fields
from numbers import Integral, Real
from typing import Any, Literal

import polars as pl

from salesforecast import _native
from salesforecast._frames import IdCol, to_polars
from salesforecast.config import ColumnRoles, whole
from salesforecast.errors import InvalidArgumentError

__all__ = [
    "EWM",
    "Expanding",
    "FeatureSpec",
    "GroupRolling",
    "Rolling",
    "SeasonalRolling",
    "build_features",
]

CalendarName = Literal[
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
    "dayofweek_sin",
    "dayofweek_cos",
    "dayofyear_sin",
    "dayofyear_cos",
    "month_sin",
    "month_cos",
    "holiday",
    "days_to_holiday",
    "days_since_holiday",
    "hour",
]

# The periods a spec entry counts in: ints the core reads as 64-bit.
_PERIOD_FIELDS = ("window", "lag", "season_length", "min_samples")


def _integer(name: str, value: object) -> int:
    """``value`` as a plain int (numpy integers too); the core checks its range."""
    if (
        isinstance(value, bool)
        or not isinstance(value, Integral)
        or not -(2**63) <= int(value) < 2**63
    ):
        raise InvalidArgumentError(f"invalid argument `{name}`: expected an int, got {value!r}")
    return int(value)


def _strings(name: str, value: object) -> tuple[str, ...]:
    """``value`` as a tuple of strings; a single string is one entry."""
    if isinstance(value, str):
        return (value,)
    if not isinstance(value, Sequence) or not all(isinstance(v, str) for v in value):
        raise InvalidArgumentError(f"invalid argument `{name}`: expected strings, got {value!r}")
    return tuple(value)


def _checked_entry(entry: Any, part: str) -> None:
    """Normalizes a spec entry's fields (ints, a tuple of statistics) and checks it by the
    core's rules, so a bad entry fails where it is written, not at ``fit``."""
    name = type(entry).__name__
    for f in fields(entry):
        value = getattr(entry, f.name)
        if f.name in _PERIOD_FIELDS and value is not None:
            object.__setattr__(entry, f.name, _integer(f"{name}.{f.name}", value))
        elif f.name == "stats":
            object.__setattr__(entry, f.name, _strings(f"{name}.stats", value))
        elif f.name == "alpha":
            if isinstance(value, bool) or not isinstance(value, Real) or not math.isfinite(value):
                raise InvalidArgumentError(
                    f"invalid argument `{name}.alpha`: expected a number, got {value!r}"
                )
            object.__setattr__(entry, f.name, float(value))
        elif f.name == "group_col" and not isinstance(value, str):
            raise InvalidArgumentError(
                f"invalid argument `{name}.group_col`: expected a column name, got {value!r}"
            )
    _native.check_feature_part(part, json.dumps(asdict(entry)), name)


@dataclass(frozen=True)
class Rolling:
    """Statistics over the ``window`` periods ending ``lag`` periods before each row.

    ``stats``: mean, std (ddof=1), min, max, sum, median, ``"quantile(0.9)"``. A value needs at
    least ``min_samples`` non-missing periods in its window (default: the whole window, as in
    mlforecast). Name: ``rolling_{stat}_lag{lag}_window{window}``.
    """

    window: int
    stats: Sequence[str] = ("mean",)
    lag: int = 1
    min_samples: int | None = None

    def __post_init__(self) -> None:
        _checked_entry(self, "rolling")


@dataclass(frozen=True)
class SeasonalRolling:
    """Statistics over every ``season_length``-th period: e.g. the same weekday over the last
    ``window`` weeks. Name: ``seasonal_rolling_{stat}_lag{lag}_season{s}_window{window}``."""

    season_length: int
    window: int
    stats: Sequence[str] = ("mean",)
    lag: int = 1
    min_samples: int | None = None

    def __post_init__(self) -> None:
        _checked_entry(self, "seasonal_rolling")


@dataclass(frozen=True)
class Expanding:
    """Statistics (mean, std, sum, min, max) over all periods up to ``lag`` before each row.
    Name: ``expanding_{stat}_lag{lag}``."""

    stats: Sequence[str] = ("mean",)
    lag: int = 1

    def __post_init__(self) -> None:
        _checked_entry(self, "expanding")


@dataclass(frozen=True)
class EWM:
    """Exponentially weighted mean (pandas ``adjust=False``) of the target lagged by ``lag``.
    Name: ``ewm_mean_lag{lag}_alpha{alpha}``."""

    alpha: float
    lag: int = 1

    def __post_init__(self) -> None:
        _checked_entry(self, "ewm")


@dataclass(frozen=True)
class GroupRolling:
    """Rolling statistics of the target summed over every series sharing ``group_col`` (a store
    total, a category total). Name: ``{group_col}_rolling_{stat}_lag{lag}_window{window}``."""

    group_col: str
    window: int
    stats: Sequence[str] = ("mean",)
    lag: int = 1
    min_samples: int | None = None

    def __post_init__(self) -> None:
        _checked_entry(self, "group_rolling")


@dataclass(frozen=True)
class FeatureSpec:
    """Which features to build.

    ``target_transforms`` (applied in order before the features): ``"log1p"``,
    ``"standardize"`` (per series), ``"diff"`` / ``"diff7"`` (differences at lag k). A
    Forecaster undoes any chain on its forecasts, per series and step by step in every strategy
    (a difference adds the value k periods back, an earlier forecast beyond step k;
    standardize keeps the scale of the history); recursive forecasts with ``group_rolling``
    refuse ``"standardize"``. With ``"log1p"`` first and only differences after it, forecasts
    are bias-corrected by each booster's smearing factors (a log-scale mean taken back to the
    target's scale is below the mean). ``["log1p", "diff"]`` suits trending, multiplicative series.
    Past-only covariates enter through ``past_only_lags`` (default: ``lags``). ``relative``
    names known-future columns that are also given over their series' median in the history
    (``price_rel``): a 10% price rise reads the same for every product, whatever its price.
    """

    lags: Sequence[int] = ()
    rolling: Sequence[Rolling] = ()
    seasonal_rolling: Sequence[SeasonalRolling] = ()
    expanding: Sequence[Expanding] = ()
    ewm: Sequence[EWM] = ()
    group_rolling: Sequence[GroupRolling] = ()
    calendar: Sequence[CalendarName] = ()
    target_transforms: Sequence[str] = ()
    past_only_lags: Sequence[int] | None = None
    relative: Sequence[str] = ()
    holidays: Sequence[dt.date] | None = field(default=None, compare=False)

    def __post_init__(self) -> None:
        # Entries of the right kind and plain values, then the core's rules on the whole.
        kinds: dict[str, type] = {
            "rolling": Rolling,
            "seasonal_rolling": SeasonalRolling,
            "expanding": Expanding,
            "ewm": EWM,
            "group_rolling": GroupRolling,
        }
        for name, kind in kinds.items():
            entries = getattr(self, name)
            if isinstance(entries, kind):
                entries = (entries,)
            if not isinstance(entries, Sequence) or not all(isinstance(e, kind) for e in entries):
                raise InvalidArgumentError(
                    f"invalid argument `{name}`: expected {kind.__name__} entries, got {entries!r}"
                )
            object.__setattr__(self, name, tuple(entries))
        for name in ("lags", "past_only_lags"):
            values = getattr(self, name)
            if values is None:
                continue
            if isinstance(values, str) or not isinstance(values, Sequence | range):
                raise InvalidArgumentError(
                    f"invalid argument `{name}`: expected a list of ints, got {values!r}"
                )
            object.__setattr__(
                self,
                name,
                tuple(_integer(f"{name}[{i}]", v) for i, v in enumerate(values)),
            )
        for name in ("calendar", "target_transforms", "relative"):
            object.__setattr__(self, name, _strings(name, getattr(self, name)))
        if self.holidays is not None and not all(isinstance(d, dt.date) for d in self.holidays):
            raise InvalidArgumentError(
                f"invalid argument `holidays`: expected dates, got {self.holidays!r}"
            )
        _native.check_features(self.to_json())

    @classmethod
    def for_frequency(cls, freq: str) -> FeatureSpec:
        """The default features of a frequency: lags 1 up to one season (at most 13) and the
        seasonal lag, a rolling mean and standard deviation over the same span (for daily data
        also the mean of the last four weeks, of the same weekday in them, and of the week
        around the same weekday a year before), and the
        calendar features that vary at that step (day of week, month and the position in the
        year for daily data, week and month for weekly, month for monthly, quarterly and
        yearly steps, hour and day of week for hourly and minute steps; none for seconds)."""
        unit = _native.parse_frequency(freq).lstrip("0123456789")
        season = _native.season_length_of(freq)
        short = min(season, 13)
        lags = sorted({*range(1, short + 1), season})
        calendars: dict[str, list[CalendarName]] = {
            "d": ["dayofweek", "month", "dayofyear_sin", "dayofyear_cos"],
            "w": ["weekofyear", "month"],
            "mo": ["month"],
            "h": ["hour", "dayofweek"],
            "min": ["hour", "dayofweek"],
        }
        calendar = calendars.get(unit, [])
        rolling = [Rolling(window=short, stats=("mean", "std"), lag=1)] if short > 1 else []
        seasonal: list[SeasonalRolling] = []
        if unit == "d" and season == 7:
            # A week of daily counts is a noisy level: daily data also reads the last four
            # weeks, overall and weekday by weekday.
            rolling.append(Rolling(window=4 * season, stats=("mean",)))
            seasonal.append(SeasonalRolling(season_length=season, window=4))
            # Yearly peaks (holidays, summer) recur at the same date, not after a week: the
            # week centred on the same weekday a year (52 weeks) before. Missing in a
            # series' first year, where the boosters learn without it.
            rolling.append(Rolling(window=season, stats=("mean",), lag=52 * season - season // 2))
        return cls(lags=lags, rolling=rolling, seasonal_rolling=seasonal, calendar=calendar)

    @property
    def lookback(self) -> int:
        """The longest stretch of history any feature reads, in periods (a difference
        transform adds the periods it reads before)."""
        return _native.feature_lookback(self.to_json())

    def to_dict(self) -> dict[str, Any]:
        """The spec as plain values (what is stored in model manifests)."""
        data = asdict(self)
        data.pop("holidays")
        return json.loads(json.dumps(data, default=list))  # type: ignore[no-any-return]

    def to_json(self) -> str:
        """The spec as JSON."""
        return json.dumps(self.to_dict())

    @classmethod
    def from_dict(
        cls, data: dict[str, Any], holidays: Sequence[dt.date] | None = None
    ) -> FeatureSpec:
        """The inverse of ``to_dict`` (holiday dates are kept separately)."""
        return cls(
            lags=list(data.get("lags", [])),
            rolling=[Rolling(**r) for r in data.get("rolling", [])],
            seasonal_rolling=[SeasonalRolling(**r) for r in data.get("seasonal_rolling", [])],
            expanding=[Expanding(**r) for r in data.get("expanding", [])],
            ewm=[EWM(**r) for r in data.get("ewm", [])],
            group_rolling=[GroupRolling(**r) for r in data.get("group_rolling", [])],
            calendar=list(data.get("calendar", [])),
            target_transforms=list(data.get("target_transforms", [])),
            past_only_lags=data.get("past_only_lags"),
            relative=list(data.get("relative", [])),
            holidays=holidays,
        )


def build_features(
    df: Any,
    spec: FeatureSpec,
    *,
    id_col: IdCol = None,
    time_col: str = "date",
    target_col: str = "sales",
    static_features: Sequence[str] = (),
    known_future: Sequence[str] = (),
    past_only: Sequence[str] = (),
    freq: str | None = None,
    dtype: Literal["float64", "float32"] = "float64",
    n_threads: int | None = None,
    last_period_only: bool = False,
    roles: ColumnRoles | None = None,
) -> pl.DataFrame:
    """Builds the features of ``spec`` for every row of a long frame.

    Returns the key columns, the time column, the target after ``spec.target_transforms``
    (under its own name) and one column per feature, sorted by series and time. Static features
    (strings become integer codes) and known-future covariates appear at their own row;
    past-only covariates only as ``{col}_lag{k}``. ``last_period_only=True`` returns just the
    last row of every series (the features one recursive forecast step needs), computed
    directly from the values each feature reads. The column roles come from the keywords or
    one :class:`~salesforecast.ColumnRoles`.
    """
    frame = to_polars(df)
    roles = ColumnRoles.of(
        roles,
        id_col=id_col,
        time_col=time_col,
        target_col=target_col,
        static_features=static_features,
        known_future=known_future,
        past_only=past_only,
    ).resolve(frame)
    if n_threads is not None:
        whole("n_threads", n_threads)
    _native.check_frame(frame, roles, freq, "optional", "df")
    computed, order = _native.build_features(
        frame,
        spec.to_json(),
        roles,
        freq,
        spec.holidays,
        dtype == "float32",
        n_threads,
        last_period_only,
    )
    # Keys, time and an untransformed target come from the input frame (no copy when it is
    # already sorted); the engine returns only what it computed.
    passthrough = [*roles.keys, roles.time]
    if roles.target not in computed.columns:
        passthrough.append(roles.target)
    head = frame.select(passthrough)
    if order is not None:
        head = head[order]
    return pl.concat([head, computed], how="horizontal")
