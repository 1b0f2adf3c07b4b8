"""Where the app's model comes from, without Streamlit: the registry (``models:/NAME@ALIAS``
or ``models:/NAME/VERSION``) or a bundle path/URI, with what a planner is shown about it."""

from __future__ import annotations

import functools
import os
import re
from dataclasses import dataclass

import polars as pl

from salesforecast import storage
from salesforecast.errors import SalesForecastError
from salesforecast.forecast import Forecaster

DEFAULT_SOURCE = "models:/sales_forecast@champion"
_REGISTRY = re.compile(r"^models:/(?P<name>[^/@]+)(?:@(?P<alias>[\w-]+)|/(?P<version>\d+))?$")


class SourceError(SalesForecastError):
    """The model could not be loaded; the message says from where and why."""


@dataclass(frozen=True)
class Loaded:
    """A loaded model and what the app shows about it."""

    forecaster: Forecaster
    source: str
    name: str | None
    version: str | None
    alias: str | None
    backtest: pl.DataFrame | None

    @property
    def label(self) -> str:
        if self.name is None:
            return self.source
        alias = f" ({self.alias})" if self.alias else ""
        return f"{self.name} version {self.version}{alias}"

    @functools.cached_property
    def scores(self) -> pl.DataFrame | None:
        """Backtest metrics per model, overall, with each model's MASE relative to seasonal
        naive (``mase_vs_seasonal_naive`` below 1 beats it); computed once per model."""
        if self.backtest is None:
            return None
        scores = self.forecaster.evaluate(self.backtest, self.forecaster.history).filter(
            pl.col("scope") == "overall"
        )
        scores = scores.drop([c for c in ("scope", "cutoff") if c in scores.columns])
        naive = scores.filter(pl.col("model") == "seasonal_naive")
        if naive.height:
            scores = scores.with_columns(
                (pl.col("mase") / naive["mase"][0]).alias("mase_vs_seasonal_naive")
            )
        return scores


def default_source() -> str:
    return os.environ.get("SALESFORECAST_MODEL") or DEFAULT_SOURCE


@dataclass(frozen=True)
class Resolved:
    """A source with its alias resolved to the version it points at now (cheap: one registry
    call), so a promotion is picked up on the next page load while a loaded version is
    reused."""

    source: str
    name: str | None = None
    version: str | None = None
    alias: str | None = None


def _failing(source: str, e: Exception) -> SourceError:
    if isinstance(e, SourceError):
        return e
    if isinstance(e, SalesForecastError):
        return SourceError(f"could not load {source}: {e}")
    # A foreign library's failure, shown as a message, not a traceback.
    return SourceError(f"could not load {source}: {type(e).__name__}: {e}")


def resolve(source: str) -> Resolved:
    """Which model ``source`` names now."""
    source = source.strip()
    if not source:
        raise SourceError("give a model: models:/NAME@champion or a bundle path/URI")
    found = _REGISTRY.match(source)
    if not found:
        return Resolved(source)
    from salesforecast import tracking

    name, version, alias = found["name"], found["version"], found["alias"]
    if version:
        return Resolved(source, name, version)
    alias = alias or tracking.CHAMPION
    try:
        version = tracking.alias_version(name, alias)
    except Exception as e:
        raise _failing(source, e) from e
    if version is None:
        raise SourceError(
            f"{name} has no {alias} in the registry at {tracking.tracking_server()}: run the "
            "training DAG (make demo), or open a version (models:/NAME/1) or a bundle"
        )
    return Resolved(source, name, version, alias)


def load(resolved: Resolved, backtest: str | None = None) -> Loaded:
    """The model ``resolved`` names; ``backtest`` (a bundle's cross-validation parquet) feeds
    the model page when the source is a bundle (registry versions carry their own)."""
    try:
        if resolved.name is not None and resolved.version is not None:
            from salesforecast import tracking

            fc, version = tracking.load_version(resolved.name, resolved.version)
            cv = tracking.backtest_of(resolved.name, version)
            return Loaded(fc, resolved.source, resolved.name, version, resolved.alias, cv)
        return _from_bundle(resolved.source, backtest)
    except Exception as e:
        raise _failing(resolved.source, e) from e


def _from_bundle(source: str, backtest: str | None) -> Loaded:
    fc = Forecaster.load(source)
    cv = None
    if backtest:
        if not storage.exists(backtest):
            raise SourceError(f"the backtest {backtest} does not exist")
        cv = storage.read_frame(backtest)
    return Loaded(fc, source, None, None, None, cv)
