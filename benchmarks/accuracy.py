"""Forecast accuracy on small real panels and a synthetic one (issue M10's benchmark).

Every method forecasts the last horizon of every series from the same history; everything is
scored by one `sf.evaluate` call per data set: MASE scaled by each series' in-sample
seasonal-naive error (season 52 weekly, 7 daily, 12 monthly) averaged over series, and WAPE.

Run: `make bench-venv && benchmarks/.venv/bin/python benchmarks/accuracy.py` (the anchors,
statsforecast and mlforecast, live in benchmarks/.venv only).
"""

from __future__ import annotations

import math
import os
import sys
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import polars as pl

import salesforecast as sf

DATA = Path(
    os.environ.get("SALESFORECAST_DATA", Path(__file__).resolve().parents[2] / "shared" / "data")
)


@dataclass(frozen=True)
class Panel:
    name: str
    frame: pl.DataFrame  # series_id, date, sales[, known-future columns]
    freq: str
    horizon: int
    season: int
    pandas_freq: str
    known_future: list[str] = field(default_factory=list)


def m4(name: str, freq: str, horizon: int, season: int, pandas_freq: str) -> Panel:
    frame = pl.read_csv(DATA / f"m4_{name}.csv", try_parse_dates=True).select(
        pl.col("id").alias("series_id"),
        pl.col("date").cast(pl.Date),
        pl.col("value").alias("sales"),
    )
    return Panel(f"M4 {name}", frame, freq, horizon, season, pandas_freq)


def bike() -> Panel:
    frame = pl.read_csv(DATA / "bike_sharing_daily.csv", try_parse_dates=True).select(
        pl.lit("bike").alias("series_id"),
        pl.col("dteday").cast(pl.Date).alias("date"),
        pl.col("cnt").cast(pl.Float64).alias("sales"),
        "holiday",
        "workingday",
    )
    return Panel("bike sharing", frame, "1d", 14, 7, "D", ["holiday", "workingday"])


def synthetic() -> Panel:
    frame = sf.generate_sales(n_stores=3, n_products=5, start="2021-01-01", end="2023-12-31")
    frame = frame.select(
        pl.concat_str("store_id", "product_id", separator="-").alias("series_id"),
        "date",
        pl.col("sales").cast(pl.Float64),
        "price",
        "promo",
    )
    return Panel("synthetic sales", frame, "1d", 28, 7, "D", ["price", "promo"])


def calendar(freq: str) -> list[str]:
    if freq == "1d":
        return ["dayofweek", "month", "dayofyear_sin", "dayofyear_cos"]
    if freq == "1w":
        return ["weekofyear", "month"]
    return ["month"]


def ours(panel: Panel, train: pl.DataFrame, future: pl.DataFrame) -> pl.DataFrame:
    """The Forecaster as a user would set it up today (M10 adds defaults): lags up to one
    season plus the seasonal lag, a rolling mean, calendar features, both boosters and
    seasonal naive."""
    s = panel.season
    spec = sf.FeatureSpec(
        lags=sorted({*range(1, min(s, 7) + 1), s}),
        rolling=[sf.Rolling(window=min(s, 4), lag=1)],
        calendar=calendar(panel.freq),
    )
    fc = sf.Forecaster(
        [sf.LightGBM(), sf.XGBoost(), sf.SeasonalNaive(season_length=s)],
        spec,
        freq=panel.freq,
        horizon=panel.horizon,
        season_length=s,
        cv_windows=3,
        id_col="series_id",
        known_future=panel.known_future,
        verbose=False,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        pred = fc.fit(train).predict(future=future if panel.known_future else None)
    keep = ["series_id", "date", *fc.model_names, "ensemble"]
    return pred.select(keep).rename({n: f"sf_{n}" for n in keep[2:]})


def statsforecast_models(panel: Panel, train: pl.DataFrame) -> pl.DataFrame:
    from statsforecast import StatsForecast
    from statsforecast.models import AutoETS, AutoTheta

    pdf = train.select(
        pl.col("series_id").alias("unique_id"),
        pl.col("date").alias("ds"),
        pl.col("sales").alias("y"),
    ).to_pandas()
    models = [AutoETS(season_length=panel.season), AutoTheta(season_length=panel.season)]
    out = StatsForecast(models=models, freq=panel.pandas_freq, n_jobs=1).forecast(
        df=pdf, h=panel.horizon
    )
    return pl.from_pandas(out.reset_index(drop="unique_id" not in out.index.names)).select(
        pl.col("unique_id").alias("series_id"),
        pl.col("ds").cast(pl.Date).alias("date"),
        pl.col("AutoETS").alias("statsforecast_autoets"),
        pl.col("AutoTheta").alias("statsforecast_autotheta"),
    )


def mlforecast_lightgbm(panel: Panel, train: pl.DataFrame, future: pl.DataFrame) -> pl.DataFrame:
    import lightgbm as lgb
    from mlforecast import MLForecast

    s = panel.season
    pdf = train.rename({"series_id": "unique_id", "date": "ds", "sales": "y"}).to_pandas()
    fcst = MLForecast(
        models={"lgb": lgb.LGBMRegressor(verbosity=-1)},
        freq=panel.pandas_freq,
        lags=sorted({*range(1, min(s, 7) + 1), s}),
    )
    fcst.fit(pdf, static_features=[])
    x_df = (
        future.rename({"series_id": "unique_id", "date": "ds"})
        .select("unique_id", "ds", *panel.known_future)
        .to_pandas()
        if panel.known_future
        else None
    )
    out = fcst.predict(panel.horizon, X_df=x_df)
    return pl.from_pandas(out).select(
        pl.col("unique_id").alias("series_id"),
        pl.col("ds").cast(pl.Date).alias("date"),
        pl.col("lgb").alias("mlforecast_lightgbm"),
    )


def score(panel: Panel) -> tuple[pl.DataFrame, dict[str, float]]:
    train, test = sf.time_split(panel.frame, test_periods=panel.horizon, freq=panel.freq)
    seconds: dict[str, float] = {}
    frame = test.select("series_id", "date", "sales")
    for name, run in (
        ("salesforecast", lambda: ours(panel, train, test)),
        ("statsforecast", lambda: statsforecast_models(panel, train)),
        ("mlforecast", lambda: mlforecast_lightgbm(panel, train, test)),
    ):
        started = time.perf_counter()
        frame = frame.join(run(), on=["series_id", "date"], how="left")
        seconds[name] = time.perf_counter() - started
    models = [c for c in frame.columns if c not in ("series_id", "date", "sales")]
    scores = sf.evaluate(
        frame,
        train,
        models=models,
        levels=(),
        season_length=panel.season,
        id_col="series_id",
        freq=panel.freq,
    ).filter(pl.col("scope") == "overall")
    return scores.select("model", "mase", "wape").sort("mase"), seconds


def main() -> None:
    panels = [
        m4("weekly", "1w", 13, 52, "7D"),
        m4("daily", "1d", 14, 7, "D"),
        m4("monthly", "1mo", 18, 12, "MS"),
        bike(),
        synthetic(),
    ]
    only = set(sys.argv[1:])
    ratios = []
    print(f"salesforecast {sf.__version__}; last horizon of every series held out")
    for panel in panels:
        if only and not any(o in panel.name for o in only):
            continue
        scores, seconds = score(panel)
        n = panel.frame["series_id"].n_unique()
        print(
            f"\n### {panel.name}: {n} series, h={panel.horizon}, season {panel.season}"
            f" ({', '.join(f'{k} {v:.1f} s' for k, v in seconds.items())})\n"
        )
        print("| method | MASE | WAPE |\n|---|---:|---:|")
        for model, mase, wape in scores.iter_rows():
            print(f"| {model} | {mase:.3f} | {wape:.3f} |")
        mase = dict(zip(scores["model"], scores["mase"], strict=True))
        ratios.append(mase["sf_ensemble"] / mase["seasonal_naive"])
    if ratios:
        geo = math.exp(sum(math.log(r) for r in ratios) / len(ratios))
        print(f"\ngeometric mean of ensemble / seasonal naive MASE over the sets: {geo:.3f}")


if __name__ == "__main__":
    main()
