"""Command line: ``salesforecast demo`` runs the pipeline once on embedded defaults: synthetic
data, validation, a split, a fitted forecaster, test metrics against the oracle."""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from collections.abc import Sequence

import polars as pl

import salesforecast as sf
from salesforecast import storage


def _demo(args: argparse.Namespace) -> int:
    started = time.perf_counter()
    df = sf.generate_sales(
        n_stores=args.stores,
        n_products=args.products,
        start=args.start,
        end=args.end,
        seed=args.seed,
    )
    generated = time.perf_counter() - started
    print(
        f"generated {df.height:,} rows: {args.stores} stores x {args.products} products, "
        f"{args.start} .. {args.end} in {generated * 1000:.0f} ms"
    )
    open_days = df.filter(~pl.col("is_closed"))
    summary = open_days.select(
        pl.col("sales").sum().alias("units"),
        (pl.col("sales") * pl.col("price")).sum().alias("revenue"),
        (pl.col("sales") == 0).mean().alias("zero_share"),
        pl.col("promo").mean().alias("promo_share"),
        pl.col("stockout").mean().alias("stockout_share"),
        pl.lit(df["is_closed"].mean()).alias("closed_share"),
    ).row(0, named=True)
    print(
        f"  units {summary['units']:,.0f}, revenue {summary['revenue']:,.0f}, "
        f"zero-sales days {summary['zero_share']:.1%}, promo days {summary['promo_share']:.1%}, "
        f"stockout days {summary['stockout_share']:.1%}, closed days "
        f"{summary['closed_share']:.2%}"
    )
    by_category = (
        open_days.group_by("category")
        .agg(
            pl.col("sales").filter(pl.col("promo")).mean().alias("promo"),
            pl.col("sales").filter(~pl.col("promo")).mean().alias("regular"),
        )
        .sort("category")
    )
    print("  mean daily units, promo vs regular days:")
    for row in by_category.iter_rows(named=True):
        promo = row["promo"] if row["promo"] is not None else float("nan")
        print(f"    {row['category']:<10} {promo:8.2f} vs {row['regular']:8.2f}")

    report = sf.validate(df)
    print(f"validation: {report}")

    train, test = sf.time_split(df, test_periods=args.horizon)
    train_end, test_start = str(train["date"].max()), str(test["date"].min())
    print(
        f"split: train {train.height:,} rows to {train_end}, "
        f"test {test.height:,} rows from {test_start} ({args.horizon} periods per series)"
    )

    spec = sf.FeatureSpec(
        lags=[7, 14, 28],
        rolling=[sf.Rolling(window=7, stats=["mean", "std"], lag=7), sf.Rolling(window=28, lag=7)],
        seasonal_rolling=[sf.SeasonalRolling(season_length=7, window=4, lag=7)],
        expanding=[sf.Expanding(lag=1)],
        calendar=["dayofweek", "month", "weekofyear", "holiday", "days_to_holiday"],
        target_transforms=["log1p"],
        relative=["price"],
    )
    forecaster = sf.Forecaster(
        [
            sf.LightGBM(n_estimators=150, learning_rate=0.1),
            sf.XGBoost(n_estimators=150, learning_rate=0.1, max_depth=6),
            sf.SeasonalNaive(season_length=7),
        ],
        spec,
        freq="1d",
        horizon=args.horizon,
        static_features=["store_size", "category"],
        known_future=["price", "promo", "discount", "is_holiday", "is_closed"],
    )
    # The generator's oracle (expected_sales) and its stockouts (known only afterwards) stay out.
    history = train.drop("expected_sales", "stockout")
    t0 = time.perf_counter()
    forecaster.fit(history)
    pred = forecaster.predict(future=test)
    weights = ", ".join(f"{k} {v:.2f}" for k, v in (forecaster.weights or {}).items())
    print(
        f"forecaster: fitted and predicted in {time.perf_counter() - t0:.1f} s; weights {weights}"
    )
    scored = pred.join(
        test.select(["store_id", "product_id", "date", "sales"]),
        on=["store_id", "product_id", "date"],
    )
    scores = sf.evaluate(scored, train).filter(pl.col("scope") == "overall")
    print("  test metrics (overall):")
    for row in scores.sort("wape").iter_rows(named=True):
        coverage = row["coverage_95"]
        cov = "" if coverage != coverage else f", 95% interval coverage {coverage:.1%}"
        print(f"    {row['model']:<15} WAPE {row['wape']:.3f}  MASE {row['mase']:.3f}{cov}")
    oracle_wape = test.select(
        (pl.col("expected_sales") - pl.col("sales")).abs().sum() / pl.col("sales").abs().sum()
    ).item()
    print(f"    {'oracle':<15} WAPE {oracle_wape:.3f}  (the generator's noise-free mean)")
    if args.out:
        forecaster.save(args.out)
        print(f"  model bundle written to {args.out}")
    if args.report:
        t0 = time.perf_counter()
        cv = forecaster.cross_validation(history, n_windows=2)
        page = sf.report(forecaster, cv, args.report, history=train, validation=report)
        print(
            f"  report of 2 backtest windows written to {page} in {time.perf_counter() - t0:.1f} s"
        )
    print(f"done in {time.perf_counter() - started:.2f} s")
    return 0 if report.ok else 1


def _summary(args: argparse.Namespace) -> int:
    """Prints the latest training run's results (what `make demo` ends with)."""
    runs = storage.join(args.root, "runs", args.dag_id)
    summaries = [n for n in storage.list(runs) if n.endswith("/summary.json")]
    if not summaries:
        print(f"no finished run of {args.dag_id} under {args.root}")
        return 1
    found = {n: json.loads(storage.read_bytes(storage.join(runs, n))) for n in summaries}
    latest = max(found, key=lambda n: found[n].get("finished_at", ""))
    summary = found[latest]
    print(f"run {summary['run_id']} of {summary['dag_id']}")
    for part in summary["partitions"]:
        print(f"\npartition {part['partition']}: backtest metrics (2 windows)")
        print(f"  {'model':<16}{'WAPE':>8}{'MASE':>8}{'RMSE':>9}{'cov80':>8}{'cov95':>8}")
        for model, m in sorted(part.get("metrics", {}).items(), key=lambda kv: kv[1]["wape"] or 9):
            cells = [m.get(k) for k in ("wape", "mase", "rmse", "coverage_80", "coverage_95")]
            text = [f"{v:.3f}" if isinstance(v, float) else "-" for v in cells[:2]]
            text.append(f"{cells[2]:.2f}" if isinstance(cells[2], float) else "-")
            text += [f"{v:.1%}" if isinstance(v, float) else "-" for v in cells[3:]]
            print(f"  {model:<16}{text[0]:>8}{text[1]:>8}{text[2]:>9}{text[3]:>8}{text[4]:>8}")
        verdict = "promoted" if part.get("promoted") else "rejected"
        print(f"  gate: version {part.get('version')} {verdict}: {part.get('reason')}")
        champion = part["champion_version"]
        print(
            f"  champion: {part['model_name']} " + (f"version {champion}" if champion else "none")
        )
        print(f"  report (metrics, charts): {part.get('report')}")
    if summary["forecast"]:
        print(f"\nforecasts ({summary['rows']:,} rows): {summary['forecast']}")
    else:
        print("\nno forecast: no partition has a champion yet (see the gate decisions above)")
    print(f"run outputs: {storage.join(runs, latest.rsplit('/', 1)[0])}")
    return 0


def _ui(args: argparse.Namespace) -> int:
    """Serves the app with Streamlit on ``--host``:``--port``."""
    import os
    from pathlib import Path

    from salesforecast.app.uploads import MAX_MEGABYTES

    app = Path(__file__).with_name("app") / "main.py"
    env = dict(os.environ)
    if args.model:
        env["SALESFORECAST_MODEL"] = args.model
    command = [
        sys.executable, "-m", "streamlit", "run", str(app),
        "--server.address", args.host, "--server.port", str(args.port),
        "--server.headless", "true", "--browser.gatherUsageStats", "false",
        "--server.maxUploadSize", str(MAX_MEGABYTES), "--client.toolbarMode", "viewer",
    ]  # fmt: skip
    print(f"salesforecast app: http://{args.host}:{args.port}  (Ctrl+C stops it)")
    return subprocess.call(command, env=env)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``salesforecast`` command."""
    parser = argparse.ArgumentParser(prog="salesforecast", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    demo = commands.add_parser("demo", help="run the pipeline once on synthetic data")
    demo.add_argument("--stores", type=int, default=10)
    demo.add_argument("--products", type=int, default=20)
    demo.add_argument("--start", default="2021-01-01")
    demo.add_argument("--end", default="2023-12-31")
    demo.add_argument("--horizon", type=int, default=28)
    demo.add_argument("--seed", type=int, default=42)
    demo.add_argument("--out", default=None, help="write the fitted model bundle to this folder")
    demo.add_argument(
        "--report", default=None, help="backtest and write the HTML report into this folder"
    )
    demo.set_defaults(run=_demo)
    summary = commands.add_parser("summary", help="print the latest training run's results")
    summary.add_argument("--root", default=".local/store", help="the runs' storage root")
    summary.add_argument("--dag-id", default="sales_forecast_training")
    summary.set_defaults(run=_summary)
    ui = commands.add_parser("ui", help="serve the forecasting app (Streamlit)")
    ui.add_argument(
        "--model",
        default=None,
        help="models:/NAME@champion, models:/NAME/VERSION or a bundle path/URI "
        "(default: $SALESFORECAST_MODEL, else models:/sales_forecast@champion)",
    )
    ui.add_argument("--host", default="127.0.0.1")
    ui.add_argument("--port", type=int, default=8501)
    ui.set_defaults(run=_ui)
    args = parser.parse_args(argv)
    code: int = args.run(args)
    return code


if __name__ == "__main__":
    sys.exit(main())
