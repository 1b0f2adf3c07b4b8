"""Speed of the statistical models: sf.AutoETS and sf.Theta against statsforecast's AutoETS and
AutoTheta on daily series of 1,000 days (season 7, 14 days ahead), each library using every
core.

Run: `make bench-venv && benchmarks/.venv/bin/python benchmarks/statistical.py [n_series]
[n_series_statsforecast]` (default 10,000 and 400: statsforecast's AutoETS needs about a
third of a second per series here, so it runs on a subset and is compared per series).
"""

from __future__ import annotations

import os
import sys
import time

import numpy as np
import polars as pl

import salesforecast as sf

DAYS, H, SEASON = 1_000, 14, 7


def panel(n_series: int) -> pl.DataFrame:
    """Positive daily series: level, trend, weekly season and noise, all varying by series."""
    rng = np.random.default_rng(0)
    t = np.arange(DAYS)
    level = rng.uniform(20, 200, (n_series, 1))
    trend = rng.normal(0, 0.02, (n_series, 1)) * level / 100
    season = rng.uniform(0, 0.3, (n_series, 1)) * level * np.sin(2 * np.pi * t / SEASON)
    noise = rng.normal(0, 0.1, (n_series, DAYS)) * level
    values = np.maximum(level + trend * t + season + noise, 1.0)
    return pl.DataFrame(
        {
            "series_id": np.repeat([f"s{i:05d}" for i in range(n_series)], DAYS),
            "date": np.tile(np.datetime64("2022-01-01") + np.arange(DAYS), n_series),
            "sales": values.ravel(),
        }
    ).with_columns(pl.col("date").cast(pl.Date))


def ours(frame: pl.DataFrame, model: sf.AutoETS | sf.Theta) -> float:
    roles = sf.ColumnRoles(id="series_id")
    started = time.perf_counter()
    model.forecast(frame, roles, "1d", H, SEASON)
    return time.perf_counter() - started


def theirs(frame: pl.DataFrame, name: str) -> float:
    from statsforecast import StatsForecast
    from statsforecast.models import AutoETS, AutoTheta

    model = AutoETS(season_length=SEASON) if name == "AutoETS" else AutoTheta(season_length=SEASON)
    pdf = frame.rename({"series_id": "unique_id", "date": "ds", "sales": "y"}).to_pandas()
    started = time.perf_counter()
    StatsForecast(models=[model], freq="D", n_jobs=os.cpu_count() or 1).forecast(df=pdf, h=H)
    return time.perf_counter() - started


def main() -> None:
    n_ours = int(sys.argv[1]) if len(sys.argv) > 1 else 10_000
    n_theirs = int(sys.argv[2]) if len(sys.argv) > 2 else 400
    frame = panel(n_ours)
    subset = frame.filter(pl.col("series_id") < f"s{n_theirs:05d}")
    print(f"{os.cpu_count()} cores; daily series of {DAYS} days, h={H}, season {SEASON}\n")
    print("| model | library | series | seconds | ms per series |\n|---|---|---:|---:|---:|")
    for name, model in (("AutoETS", sf.AutoETS()), ("Theta", sf.Theta())):
        seconds = ours(frame, model)
        per_series = 1e3 * seconds / n_ours
        print(f"| {name} | salesforecast | {n_ours:,} | {seconds:.1f} | {per_series:.2f} |")
        seconds = theirs(subset, "AutoETS" if name == "AutoETS" else "AutoTheta")
        print(
            f"| {name} | statsforecast | {n_theirs:,} | {seconds:.1f} | "
            f"{1e3 * seconds / n_theirs:.2f} |",
            flush=True,
        )


if __name__ == "__main__":
    main()
