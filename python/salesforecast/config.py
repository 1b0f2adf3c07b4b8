"""Small settings objects, checked when they are built: which column plays which part
(:class:`ColumnRoles`), how prediction intervals are calibrated (:class:`Intervals`) and how
the models are combined (:class:`Ensemble`)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from numbers import Integral
from typing import Any, Literal

import polars as pl

from salesforecast._frames import IdCol, resolve_id_cols
from salesforecast.errors import InvalidArgumentError

__all__ = ["ColumnRoles", "Ensemble", "Intervals"]


def whole(name: str, value: object, minimum: int = 1) -> int:
    """``value`` as an int of at least ``minimum`` (numpy integers too), or a typed error
    naming the argument."""
    if isinstance(value, bool) or not isinstance(value, Integral) or int(value) < minimum:
        raise InvalidArgumentError(
            f"invalid argument `{name}`: must be an int of at least {minimum}, got {value!r}"
        )
    return int(value)


_ROLE_FIELDS = ("static_features", "known_future", "past_only")


def _names(field: str, value: Any) -> tuple[str, ...]:
    if isinstance(value, str) or not isinstance(value, Sequence):
        raise InvalidArgumentError(
            f"invalid argument `{field}`: expected a list of column names, got {value!r}"
        )
    if not all(isinstance(v, str) and v for v in value):
        raise InvalidArgumentError(
            f"invalid argument `{field}`: every entry must be a non-empty column name; got "
            f"{list(value)!r}"
        )
    return tuple(value)


@dataclass(frozen=True)
class ColumnRoles:
    """Which column of a long sales frame plays which part.

    ``id``: the series key column(s); ``None`` finds ``series_id``, else the generator's
    ``store_id`` + ``product_id``. ``time``: a Date or Datetime column. ``target``: the numeric
    column to forecast. ``static_features``: constant per series (store size, category).
    ``known_future``: known for the forecast periods too (price, promotion, holiday);
    ``predict`` needs them in ``future``. ``past_only``: observed only up to the forecast
    origin (footfall, stock), read through lags. A column has at most one role.
    """

    id: str | Sequence[str] | None = None
    time: str = "date"
    target: str = "sales"
    static_features: Sequence[str] = ()
    known_future: Sequence[str] = ()
    past_only: Sequence[str] = ()

    def __post_init__(self) -> None:
        if self.id is not None and not isinstance(self.id, str):
            object.__setattr__(self, "id", _names("id_col", self.id))
            if not self.id:
                raise InvalidArgumentError("invalid argument `id_col`: give at least one column")
        for field, value in (("time_col", self.time), ("target_col", self.target)):
            if not isinstance(value, str) or not value:
                raise InvalidArgumentError(
                    f"invalid argument `{field}`: expected a column name, got {value!r}"
                )
        for field in _ROLE_FIELDS:
            object.__setattr__(self, field, _names(field, getattr(self, field)))
        seen: dict[str, str] = {}
        keys = (self.id,) if isinstance(self.id, str) else (self.id or ())
        roles = [
            *(("id_col", c) for c in keys),
            ("time_col", self.time),
            ("target_col", self.target),
            *((f, c) for f in _ROLE_FIELDS for c in getattr(self, f)),
        ]
        for role, column in roles:
            if column in seen:
                raise InvalidArgumentError(
                    f"invalid argument `{role}`: column `{column}` already has the role "
                    f"`{seen[column]}`; a column has at most one role"
                )
            seen[column] = role

    @classmethod
    def of(
        cls,
        roles: ColumnRoles | None = None,
        *,
        id_col: IdCol = None,
        time_col: str = "date",
        target_col: str = "sales",
        static_features: Sequence[str] = (),
        known_future: Sequence[str] = (),
        past_only: Sequence[str] = (),
    ) -> ColumnRoles:
        """``roles`` when given (the keywords must then keep their defaults), else the roles
        the keywords name."""
        keywords = cls(id_col, time_col, target_col, static_features, known_future, past_only)
        if roles is None:
            return keywords
        if not isinstance(roles, ColumnRoles):
            raise InvalidArgumentError(
                f"invalid argument `roles`: expected a ColumnRoles, got {type(roles).__name__}"
            )
        if keywords != cls():
            raise InvalidArgumentError(
                "invalid argument `roles`: give the column roles either as `roles=` or as "
                "keywords (id_col, time_col, ...), not both"
            )
        return roles

    def resolve(self, frame: pl.DataFrame) -> ColumnRoles:
        """These roles with the key columns found in ``frame`` when ``id`` was left out."""
        return replace(self, id=tuple(resolve_id_cols(frame, self.id)))

    @property
    def keys(self) -> list[str]:
        """The key columns (resolved roles only)."""
        if self.id is None:
            raise InvalidArgumentError("the key columns are not resolved yet; call fit first")
        return [self.id] if isinstance(self.id, str) else list(self.id)

    @property
    def covariates(self) -> list[str]:
        return [*self.static_features, *self.known_future, *self.past_only]

    @property
    def columns(self) -> list[str]:
        """Keys, time, target and covariates: every column these roles read."""
        return [*self.keys, self.time, self.target, *self.covariates]

    def to_settings(self) -> dict[str, Any]:
        """The keyword form (``id_col``, ``time_col``, ...), as bundles store it."""
        return {
            "id_col": self.keys if self.id is not None else None,
            "time_col": self.time,
            "target_col": self.target,
            "static_features": list(self.static_features),
            "known_future": list(self.known_future),
            "past_only": list(self.past_only),
        }


IntervalMethod = Literal["conformal_distribution", "conformal_error"]


@dataclass(frozen=True)
class Intervals:
    """Split-conformal prediction intervals.

    ``levels``: nominal coverages in percent. ``method``: ``"conformal_distribution"``
    (lower and upper quantiles of signed scaled errors, asymmetric) or ``"conformal_error"``
    (quantile of absolute scaled errors, symmetric). ``windows``: the cross-validation windows
    of one horizon each that ``fit`` calibrates the intervals and the ensemble on.
    """

    levels: tuple[int, ...] = (80, 95)
    method: IntervalMethod = "conformal_distribution"
    windows: int = 4

    def __post_init__(self) -> None:
        if isinstance(self.levels, str) or not isinstance(self.levels, Sequence):
            raise InvalidArgumentError(
                f"invalid argument `levels`: expected a list of percentages, got {self.levels!r}"
            )
        levels = tuple(sorted(self.levels))
        if any(isinstance(lv, bool) or not isinstance(lv, int | float) for lv in levels) or any(
            not 0 < lv < 100 for lv in levels
        ):
            raise InvalidArgumentError(
                f"invalid argument `levels`: {list(self.levels)} must be numbers in (0, 100)"
            )
        object.__setattr__(self, "levels", levels)
        if self.method not in ("conformal_distribution", "conformal_error"):
            raise InvalidArgumentError(
                f"invalid argument `interval_method`: {self.method!r} is not one of "
                "['conformal_distribution', 'conformal_error']"
            )
        object.__setattr__(self, "windows", whole("cv_windows", self.windows))


@dataclass(frozen=True)
class Ensemble:
    """How model forecasts are combined into ``ensemble``.

    ``kind``: ``"optimized"`` (non-negative weights summing to 1: those that minimise ``loss``
    on the calibration windows, shrunk toward equal weights on the better half of the models as
    far as the windows' evidence falls short, and replaced by the better naive member of the
    models where they do not beat it out of fold in most series-windows) or ``"mean"`` (equal
    weights). ``loss``: ``"squared"`` or ``"absolute"``.
    """

    kind: Literal["optimized", "mean"] = "optimized"
    loss: Literal["squared", "absolute"] = "squared"

    def __post_init__(self) -> None:
        if self.kind not in ("optimized", "mean"):
            raise InvalidArgumentError(
                f"invalid argument `ensemble`: {self.kind!r} is not one of "
                "['optimized', 'mean', None]"
            )
        if self.loss not in ("squared", "absolute"):
            raise InvalidArgumentError(
                f"invalid argument `ensemble_loss`: {self.loss!r} is not one of "
                "['squared', 'absolute']"
            )
