"""Forecast accuracy on small real panels and synthetic ones (issue M10's benchmark).

Every method forecasts the same holdouts: the last horizon of every series, and a backtest of
three windows of one horizon each (the last three horizons, each forecast from the history
before it). MASE is scaled by each series' in-sample seasonal-naive error (season 52 weekly, 7
daily, 12 monthly) and averaged over series; the backtest averages each method's scores over
its windows. Interval coverage is the default ensemble's; on the small real sets also over
their last 6-12 horizons, beside statsforecast AutoETS's (three windows of one to four series
cannot judge an interval).

Run: `make bench-venv && benchmarks/.venv/bin/python benchmarks/accuracy.py [set name]` (the
anchors, statsforecast and mlforecast, live in benchmarks/.venv only).
"""

from __future__ import annotations

import math
import os
import sys
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

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
    static_features: list[str] = field(default_factory=list)
    # The generator's noise-free mean of a synthetic panel (series_id, date, expected_sales).
    oracle: pl.DataFrame | None = None
    # Consecutive horizons the interval coverage is also measured on (see `long_coverage`).
    coverage_windows: int = 0


def m4(
    name: str, freq: str, horizon: int, season: int, pandas_freq: str, coverage_windows: int
) -> Panel:
    frame = pl.read_csv(DATA / f"m4_{name}.csv", try_parse_dates=True).select(
        pl.col("id").alias("series_id"),
        pl.col("date").cast(pl.Date),
        pl.col("value").alias("sales"),
    )
    return Panel(
        f"M4 {name}", frame, freq, horizon, season, pandas_freq, coverage_windows=coverage_windows
    )


def bike() -> Panel:
    frame = pl.read_csv(DATA / "bike_sharing_daily.csv", try_parse_dates=True).select(
        pl.lit("bike").alias("series_id"),
        pl.col("dteday").cast(pl.Date).alias("date"),
        pl.col("cnt").cast(pl.Float64).alias("sales"),
        "holiday",
        "workingday",
    )
    return Panel(
        "bike sharing", frame, "1d", 14, 7, "D", ["holiday", "workingday"], coverage_windows=12
    )


def synthetic(n_stores: int, n_products: int, seed: int | None = None) -> Panel:
    """Generated sales, three years, with the generator's known-future columns (what the
    pipeline declares); 5 x 10 is the demo's panel. With a ``seed``, the statics are declared
    too: 10 x 20 with seed 42 is the panel of issue M4's oracle test."""
    known = ["price", "promo", "discount", "is_holiday", "is_closed"]
    statics = ["store_size", "category"] if seed is not None else []
    frame = sf.generate_sales(
        n_stores=n_stores,
        n_products=n_products,
        start="2021-01-01",
        end="2023-12-31",
        **({} if seed is None else {"seed": seed}),
    ).with_columns(
        pl.concat_str("store_id", "product_id", separator="-").alias("series_id"),
        pl.col("sales").cast(pl.Float64),
    )
    return Panel(
        f"synthetic sales, {n_stores} stores x {n_products} products"
        + ("" if seed is None else f", seed {seed}"),
        frame.select("series_id", "date", "sales", *known, *statics),
        "1d",
        28,
        7,
        "D",
        known,
        statics,
        oracle=frame.select("series_id", "date", "expected_sales"),
    )


LEVELS = (80, 95)


def ours(
    panel: Panel, train: pl.DataFrame, future: pl.DataFrame, report: bool = True
) -> pl.DataFrame:
    """The default Forecaster, as a new user would build it: only frequency, horizon and the
    column roles; ``report`` prints its weights and what the guard replaced."""
    fc = sf.Forecaster(
        freq=panel.freq,
        horizon=panel.horizon,
        levels=LEVELS,
        id_col="series_id",
        known_future=panel.known_future,
        static_features=panel.static_features,
        verbose=False,
    )
    pred = fc.fit(train).predict(future=future if panel.known_future else None)
    bounds = [f"ensemble-{side}-{level}" for level in LEVELS for side in ("lo", "hi")]
    keep = ["series_id", "date", *fc.model_names, "ensemble"]
    weights = fc.weights or {}
    if report:
        print(
            "    weights "
            + ", ".join(f"{k} {v:.2f}" for k, v in weights.items())
            + f"; guard replaced {0 if fc.guarded is None else fc.guarded.height} paths in "
            "calibration, "
            f"{0 if fc.last_guarded is None else fc.last_guarded.height} in the forecast",
            flush=True,
        )
    return pred.select(*keep, *bounds).rename({n: f"sf_{n}" for n in keep[2:]})


def statsforecast_frame(train: pl.DataFrame) -> Any:
    return train.select(
        pl.col("series_id").alias("unique_id"),
        pl.col("date").alias("ds"),
        pl.col("sales").alias("y"),
    ).to_pandas()


def from_statsforecast(out: Any, *columns: pl.Expr | str) -> pl.DataFrame:
    """statsforecast's forecasts keyed by our series and date, with ``columns``."""
    return pl.from_pandas(out.reset_index(drop="unique_id" not in out.index.names)).select(
        pl.col("unique_id").alias("series_id"), pl.col("ds").cast(pl.Date).alias("date"), *columns
    )


def statsforecast_models(panel: Panel, train: pl.DataFrame) -> pl.DataFrame:
    from statsforecast import StatsForecast
    from statsforecast.models import AutoETS, AutoTheta

    pdf = statsforecast_frame(train)
    models = [AutoETS(season_length=panel.season), AutoTheta(season_length=panel.season)]
    out = StatsForecast(models=models, freq=panel.pandas_freq, n_jobs=1).forecast(
        df=pdf, h=panel.horizon
    )
    return from_statsforecast(
        out,
        pl.col("AutoETS").alias("statsforecast_autoets"),
        pl.col("AutoTheta").alias("statsforecast_autotheta"),
    )


def statsforecast_autoets_bounds(panel: Panel, train: pl.DataFrame) -> pl.DataFrame:
    """statsforecast AutoETS's own 80 and 95% intervals (naive's where a series is too short
    for it, as statsforecast falls back)."""
    from statsforecast import StatsForecast
    from statsforecast.models import AutoETS, Naive

    out = StatsForecast(
        models=[AutoETS(season_length=panel.season)],
        freq=panel.pandas_freq,
        n_jobs=1,
        fallback_model=Naive(),
    ).forecast(df=statsforecast_frame(train), h=panel.horizon, level=list(LEVELS))
    bounds = [f"AutoETS-{side}-{level}" for level in LEVELS for side in ("lo", "hi")]
    return from_statsforecast(out, *bounds)


def mlforecast_lightgbm(panel: Panel, train: pl.DataFrame, future: pl.DataFrame) -> pl.DataFrame:
    import lightgbm as lgb
    from mlforecast import MLForecast

    s = panel.season
    pdf = train.rename({"series_id": "unique_id", "date": "ds", "sales": "y"}).to_pandas()
    for c in panel.static_features:
        if pdf[c].dtype == object:  # LightGBM reads strings only as pandas categories
            pdf[c] = pdf[c].astype("category")
    fcst = MLForecast(
        models={"lgb": lgb.LGBMRegressor(verbosity=-1)},
        freq=panel.pandas_freq,
        lags=sorted({*range(1, min(s, 7) + 1), s}),
    )
    fcst.fit(pdf, static_features=panel.static_features)
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


def window(panel: Panel, back: int) -> tuple[pl.DataFrame, pl.DataFrame]:
    """The history and the next horizon of the holdout ``back`` horizons before the end."""
    frame = panel.frame
    if back:
        frame, _ = sf.time_split(frame, test_periods=back * panel.horizon, freq=panel.freq)
    return sf.time_split(frame, test_periods=panel.horizon, freq=panel.freq)


def covers(model: str, level: int) -> pl.Expr:
    """Whether each period's actual lies within ``model``'s ``level``% interval."""
    return (pl.col("sales") >= pl.col(f"{model}-lo-{level}")) & (
        pl.col("sales") <= pl.col(f"{model}-hi-{level}")
    )


def score(panel: Panel, back: int) -> tuple[pl.DataFrame, dict[str, float]]:
    """Every method's MASE and WAPE on one holdout, the ensemble's interval coverage, and the
    seconds each library took."""
    train, test = window(panel, back)
    seconds: dict[str, float] = {}
    frame = test.select("series_id", "date", "sales")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for name, run in (
            ("salesforecast", lambda: ours(panel, train, test)),
            ("statsforecast", lambda: statsforecast_models(panel, train)),
            ("mlforecast", lambda: mlforecast_lightgbm(panel, train, test)),
        ):
            started = time.perf_counter()
            frame = frame.join(run(), on=["series_id", "date"], how="left")
            seconds[name] = time.perf_counter() - started
    models = [c for c in frame.columns if c not in ("series_id", "date", "sales") and "-" not in c]
    scores = sf.evaluate(
        frame,
        train,
        models=models,
        levels=(),
        season_length=panel.season,
        id_col="series_id",
        freq=panel.freq,
    ).filter(pl.col("scope") == "overall")
    coverage = {level: frame.select(covers("ensemble", level).mean()).item() for level in LEVELS}
    table = scores.select("model", "mase", "wape").with_columns(
        *(
            pl.when(pl.col("model") == "sf_ensemble")
            .then(pl.lit(coverage[level]))
            .otherwise(None)
            .alias(f"coverage_{level}")
            for level in LEVELS
        )
    )
    return table, seconds


def long_coverage(panel: Panel) -> None:
    """The ensemble's and statsforecast AutoETS's interval coverage over the last
    ``panel.coverage_windows`` horizons, each forecast from the history before it. On one to
    four series, three windows cannot tell a miscalibrated interval from luck: one window of
    the bike's covers 14% at 80%, the one before it 93%."""
    hits = {(model, level): 0 for model in ("ensemble", "AutoETS") for level in LEVELS}
    periods = 0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for back in range(panel.coverage_windows):
            train, test = window(panel, back)
            frame = (
                test.select("series_id", "date", "sales")
                .join(ours(panel, train, test, report=False), on=["series_id", "date"])
                .join(statsforecast_autoets_bounds(panel, train), on=["series_id", "date"])
            )
            periods += frame.height
            for model, level in hits:
                hits[model, level] += frame.select(covers(model, level).sum()).item()
    print(
        f"\ncoverage 80 / 95 over the last {panel.coverage_windows} horizons ({periods} "
        "periods): "
        + "; ".join(
            f"{'sf_ensemble' if model == 'ensemble' else 'statsforecast_autoets'} "
            + " / ".join(f"{100 * hits[model, level] / periods:.1f}" for level in LEVELS)
            for model in ("ensemble", "AutoETS")
        )
    )


def summary(tables: list[pl.DataFrame]) -> pl.DataFrame:
    """Each method's scores averaged over the windows."""
    return pl.concat(tables).group_by("model").agg(pl.all().mean()).sort("mase")


def show(title: str, table: pl.DataFrame) -> dict[str, float]:
    print(f"\n{title}\n")
    print("| method | MASE | WAPE | coverage 80 | coverage 95 |\n|---|---:|---:|---:|---:|")
    for model, mase, wape, c80, c95 in table.iter_rows():
        cover = f"{c80:.3f} | {c95:.3f}" if c80 is not None else " | "
        print(f"| {model} | {mase:.3f} | {wape:.3f} | {cover} |")
    mase = dict(zip(table["model"], table["mase"], strict=True))
    best_naive = min(mase["seasonal_naive"], mase["naive"])
    verdict = "ok" if mase["sf_ensemble"] <= best_naive else "LOSES"
    print(
        f"\nensemble / seasonal naive MASE {mase['sf_ensemble'] / mase['seasonal_naive']:.3f}; "
        f"ensemble {mase['sf_ensemble']:.3f} vs the better naive {best_naive:.3f}: {verdict}"
    )
    return mase


def last_wape(table: pl.DataFrame) -> float:
    return float(table.filter(pl.col("model") == "sf_ensemble")["wape"][0])


def oracle_wape(panel: Panel, back: int) -> float:
    """The WAPE of the generator's noise-free mean on the holdout ``back`` horizons back."""
    assert panel.oracle is not None
    _, test = window(panel, back)
    oracle = test.join(panel.oracle, on=["series_id", "date"])
    return float((oracle["sales"] - oracle["expected_sales"]).abs().sum() / oracle["sales"].sum())


def main() -> None:
    panels = [
        m4("weekly", "1w", 13, 52, "7D", coverage_windows=6),
        m4("daily", "1d", 14, 7, "D", coverage_windows=8),
        m4("monthly", "1mo", 18, 12, "MS", coverage_windows=8),
        bike(),
        synthetic(3, 5),
        synthetic(5, 10),
        synthetic(10, 20, seed=42),
    ]
    only = set(sys.argv[1:])
    ratios: dict[str, list[float]] = {"last horizon": [], "3-window backtest": []}
    print(f"salesforecast {sf.__version__}")
    for panel in panels:
        if only and not any(o in panel.name for o in only):
            continue
        n = panel.frame["series_id"].n_unique()
        print(f"\n### {panel.name}: {n} series, h={panel.horizon}, season {panel.season}")
        tables, took = [], []
        for back in range(3):
            table, seconds = score(panel, back)
            tables.append(table)
            took.append(seconds)
        last = show("Last horizon:", tables[0])
        if panel.oracle is not None:
            wapes = [oracle_wape(panel, back) for back in range(3)]
            print(
                f"generator's oracle WAPE on the last horizon: {wapes[0]:.3f}; the ensemble's is "
                f"{last_wape(tables[0]) / wapes[0]:.2f} times it"
            )
        backtest = show("3-window backtest (mean over windows):", summary(tables))
        if panel.oracle is not None:
            ratio = sum(last_wape(t) / w for t, w in zip(tables, wapes, strict=True)) / 3
            print(f"ensemble WAPE / oracle WAPE, mean over the 3 windows: {ratio:.2f}")
        if panel.coverage_windows:
            long_coverage(panel)
        seconds = {k: sum(t[k] for t in took) for k in took[0]}
        print("\nseconds (3 windows): " + ", ".join(f"{k} {v:.1f}" for k, v in seconds.items()))
        ratios["last horizon"].append(last["sf_ensemble"] / last["seasonal_naive"])
        ratios["3-window backtest"].append(backtest["sf_ensemble"] / backtest["seasonal_naive"])
    for name, values in ratios.items():
        if values:
            geo = math.exp(sum(math.log(r) for r in values) / len(values))
            print(f"\ngeometric mean of ensemble / seasonal naive MASE, {name}: {geo:.3f}")


if __name__ == "__main__":
    main()
