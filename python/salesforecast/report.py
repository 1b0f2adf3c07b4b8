"""One self-contained HTML report per run (charts inline as SVG, metrics tables, validation
summary, run metadata) and its ``metrics.json``."""

from __future__ import annotations

import datetime as dt
import html
import os
import platform
from typing import TYPE_CHECKING, Any

import polars as pl

from salesforecast import _json, plots, storage
from salesforecast._frames import to_polars
from salesforecast._native import __version__
from salesforecast.errors import InvalidArgumentError, NotFittedError
from salesforecast.evaluation import evaluate

if TYPE_CHECKING:
    from salesforecast.data import ValidationReport
    from salesforecast.forecast import Forecaster

__all__ = ["report"]

REPORT = "report.html"
METRICS = "metrics.json"
TABLE_METRICS = ["wape", "mase", "rmsse", "rmse", "mae", "smape", "bias", "r2"]

STYLE = """
body { font-family: 'DejaVu Sans', Helvetica, Arial, sans-serif; margin: 2em auto;
       max-width: 1250px; color: #222; }
h1 { font-size: 1.6em; } h2 { font-size: 1.25em; margin-top: 2em; border-bottom: 1px solid #ddd; }
table { border-collapse: collapse; margin: 0.6em 0; font-size: 0.9em; }
th, td { border: 1px solid #ddd; padding: 0.3em 0.7em; text-align: right; }
th:first-child, td:first-child { text-align: left; }
th { background: #f4f4f4; }
.chart svg { max-width: 100%; height: auto; }
.ok { color: #2c7a2c; } .failed { color: #b22222; } .note { color: #666; font-size: 0.9em; }
"""


def _cell(value: Any) -> str:
    if isinstance(value, float):
        return "" if value != value else f"{value:,.4g}"
    return html.escape(str(value))


def _table(frame: pl.DataFrame) -> str:
    head = "".join(f"<th>{html.escape(c)}</th>" for c in frame.columns)
    rows = "".join(
        "<tr>" + "".join(f"<td>{_cell(v)}</td>" for v in row) + "</tr>" for row in frame.iter_rows()
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>"


def _section(title: str, body: str) -> str:
    return f"<section><h2>{html.escape(title)}</h2>{body}</section>"


def _chart(chart: plots.Chart) -> str:
    svg = chart.data.decode()
    # The SVG's XML declaration is not allowed inside HTML.
    return f'<div class="chart">{svg[svg.find("<svg") :]}</div>'


def report(
    forecaster: Forecaster,
    cv: Any,
    path: str | os.PathLike[str],
    *,
    history: Any | None = None,
    validation: ValidationReport | None = None,
    study: Any | None = None,
    segments: tuple[str, str] = ("store_id", "category"),
    title: str = "Sales forecast report",
) -> str:
    """Writes ``report.html`` and ``metrics.json`` into the folder ``path`` (a local folder or a
    storage URI such as ``s3://bucket/runs/42/report``) and returns the report's location.

    ``cv`` is the forecaster's ``cross_validation`` frame; ``history`` the data it ran on (with
    the ``segments`` columns for the heatmap; the fitted history by default); ``validation``
    the :func:`salesforecast.validate` report of the input and ``study`` an Optuna study, each
    shown when given. Every metric and the uplift over seasonal naive come from
    :func:`salesforecast.evaluate`.
    """
    if forecaster.weights is None:
        raise NotFittedError("the Forecaster is not fitted; call fit first")
    frame = to_polars(cv, "cv")
    if "cutoff" not in frame.columns:
        raise InvalidArgumentError("invalid argument `cv`: give a cross_validation frame")
    hist = forecaster.history if history is None else to_polars(history, "history")
    if hist is None:
        raise NotFittedError("the Forecaster is not fitted; call fit first")
    keys, time_col, target = forecaster.keys, forecaster.time_col, forecaster.target_col
    models = [*forecaster.model_names, *(["ensemble"] if "ensemble" in frame.columns else [])]

    def scores_of(part: pl.DataFrame) -> pl.DataFrame:
        return evaluate(
            part,
            hist,
            models=models,
            levels=forecaster.levels,
            season_length=forecaster.season_length,
            roles=forecaster.roles,
            freq=forecaster.freq,
        )

    scores = scores_of(frame)
    overall = plots._overall(scores)
    naive = overall.filter(pl.col("model") == "seasonal_naive")
    if naive.height:
        overall = overall.with_columns(
            (1 - pl.col("mase") / naive["mase"][0]).round(4).alias("mase_uplift_vs_seasonal_naive")
        )
    per_window = pl.concat(
        plots._overall(scores_of(frame.filter(pl.col("cutoff") == c))).select(
            pl.lit(c).alias("cutoff"), pl.all()
        )
        for c in frame["cutoff"].unique().sort()
    )
    best = "ensemble" if "ensemble" in models else models[0]

    last = frame.filter(pl.col("cutoff") == frame["cutoff"].max())
    biggest = last.group_by(keys).agg(pl.col(target).sum()).sort(target, descending=True).row(0)
    one = dict(zip(keys, biggest[: len(keys)], strict=True))
    forecast_args: dict[str, Any] = {"format": "svg", "roles": forecaster.roles}
    charts = [
        (
            "Forecast vs actual, last backtest window: total",
            plots.forecast(last.drop("cutoff"), hist, actuals=last, models=models, **forecast_args),
        ),
        (
            f"Forecast vs actual, last backtest window: {plots._series_name(one, 1)}",
            plots.forecast(
                last.drop("cutoff"), hist, actuals=last, series=one, models=models, **forecast_args
            ),
        ),
        (
            "Backtest windows",
            plots.backtest(frame, hist, model=best, **forecast_args),
        ),
        ("Residuals", plots.residuals(frame, best, **forecast_args)),
    ]
    if f"{best}-lo-{forecaster.levels[0]}" in frame.columns:
        charts.append(("Interval coverage", plots.coverage(frame, best, **forecast_args)))
    charts.append(
        (
            "Model comparison",
            plots.comparison(scores, format="svg"),
        )
    )
    rows, cols = segments
    if all(c in hist.columns for c in (rows, cols)):
        charts.append(
            (
                "Error by segment",
                plots.segment_heatmap(
                    frame, hist, rows=rows, cols=cols, model=best, **forecast_args
                ),
            )
        )
    if not forecaster.feature_importance().is_empty():
        charts.append(("Feature importance", plots.importance(forecaster, format="svg")))
    charts.append(("Ensemble weights", plots.weights(forecaster, format="svg")))
    if study is not None:
        charts.append(("Hyperparameter search", plots.optuna_study(study, format="svg")))

    window = {
        "start": str(hist[time_col].min()),
        "end": str(hist[time_col].max()),
        "rows": hist.height,
        "series": hist.select(keys).n_unique(),
    }
    run: dict[str, Any] = {
        "created": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "salesforecast_version": __version__,
        "python": platform.python_version(),
        "models": dict(zip(forecaster.model_names, map(repr, forecaster.models), strict=True)),
        "settings": forecaster.settings(),
        "features": forecaster.features.to_dict(),
        "data": window,
        "cutoffs": [str(c) for c in frame["cutoff"].unique().sort().to_list()],
        "weights": forecaster.weights,
    }
    metrics = {
        "run": run,
        "overall": overall.to_dicts(),
        "per_window": per_window.to_dicts(),
        "calibration": None
        if forecaster.calibration_metrics is None
        else forecaster.calibration_metrics.to_dicts(),
        "validation": None if validation is None else validation.to_dict(),
    }

    body = [f"<h1>{html.escape(title)}</h1>"]
    body.append(
        f'<p class="note">{window["series"]} series, {window["start"]} to {window["end"]}, '
        f"{len(run['cutoffs'])} backtest windows of {forecaster.horizon} periods "
        f"(cutoffs {', '.join(run['cutoffs'])}). Generated {run['created']} by salesforecast "
        f"{__version__}.</p>"
    )
    shown = [c for c in TABLE_METRICS if c in overall.columns]
    extra = [c for c in overall.columns if c.startswith(("coverage_", "mase_uplift"))]
    body.append(
        _section(
            "Metrics over the backtest windows (pooled)",
            _table(overall.select(["model", *shown, *extra])),
        )
    )
    if validation is not None:
        status = "ok" if validation.ok else "failed"
        issues = pl.DataFrame(
            [
                {
                    "severity": i.severity,
                    "check": i.check,
                    "column": i.column or "",
                    "count": i.count,
                    "message": i.message,
                }
                for i in validation.issues
            ]
        )
        body.append(
            _section(
                "Input validation",
                f'<p class="{status}">{status.upper()}: {validation.n_rows:,} rows, '
                f"{validation.n_series} series, {html.escape(str(validation.start))} to "
                f"{html.escape(str(validation.end))}, frequency "
                f"{html.escape(str(validation.freq))}</p>"
                + (_table(issues) if issues.height else "<p>No issues.</p>"),
            )
        )
    for heading, chart in charts:
        body.append(_section(heading, _chart(chart)))
    weights = pl.DataFrame(
        {"model": list(forecaster.weights), "weight": list(forecaster.weights.values())}
    )
    settings = pl.DataFrame(
        {"setting": list(run["settings"]), "value": [str(v) for v in run["settings"].values()]}
    )
    body.append(
        _section(
            "Run",
            _table(weights)
            + _table(settings)
            + _table(
                pl.DataFrame(
                    {"model": list(run["models"]), "parameters": list(run["models"].values())}
                )
            ),
        )
    )
    page = (
        f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        f"<title>{html.escape(title)}</title><style>{STYLE}</style></head>"
        f"<body>{''.join(body)}</body></html>"
    )
    storage.write_bytes(storage.join(path, METRICS), _json.dumps(metrics, indent=2).encode())
    storage.write_bytes(storage.join(path, REPORT), page.encode())
    return storage.join(path, REPORT)
