"""Charts of forecasts, backtests, residuals and model comparisons, drawn in Rust (plotters,
bundled font) as PNG or SVG.

Every function returns a :class:`Chart` (bytes, format and the data range its main panel's axes
cover); pass ``path`` to also write the file. Charts show inline in notebooks. Charts of
forecast frames take the column roles as ``id_col`` / ``time_col`` / ``target_col`` or as one
``roles=fc.roles`` from the forecaster that made them.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import polars as pl

from salesforecast import _json, _native, storage
from salesforecast._frames import IdCol, forecast_columns, to_polars
from salesforecast.config import ColumnRoles
from salesforecast.diagnostics import diagnose
from salesforecast.errors import InvalidArgumentError, MissingColumnError
from salesforecast.evaluation import evaluate

if TYPE_CHECKING:
    from salesforecast.forecast import Forecaster

__all__ = [
    "Chart",
    "backtest",
    "comparison",
    "coverage",
    "forecast",
    "importance",
    "optuna_study",
    "residuals",
    "segment_heatmap",
    "weights",
]

ChartFormat = Literal["png", "svg"]
Series = Mapping[str, Any] | str | int | None

DEFAULT_METRICS = ("wape", "mase", "rmse", "bias", "r2", "smape")
BETTER = {
    "rmse": "lower is better",
    "mae": "lower is better",
    "mape": "lower is better",
    "smape": "lower is better",
    "wape": "lower is better",
    "mase": "lower is better",
    "rmsse": "lower is better",
    "weighted_rmsse": "lower is better",
    "r2": "higher is better",
    "bias": "closer to 0 is better",
}


class Chart(bytes):
    """The encoded chart (PNG or SVG bytes: write it, embed it, send it) with its format and the
    data range (x, y) its main panel's axes cover. Time axes are in days since 1970-01-01."""

    format: ChartFormat
    x_range: tuple[float, float]
    y_range: tuple[float, float]

    def __new__(
        cls,
        data: bytes,
        format: ChartFormat,
        x_range: tuple[float, float],
        y_range: tuple[float, float],
    ) -> Chart:
        chart = super().__new__(cls, data)
        chart.format = format
        chart.x_range = x_range
        chart.y_range = y_range
        return chart

    @property
    def data(self) -> bytes:
        """The encoded bytes as a plain ``bytes`` object."""
        return bytes(self)

    def save(self, path: str | os.PathLike[str]) -> str:
        """Writes the chart to a local path or storage URI (atomically: a reader never sees half
        a file) and returns where."""
        storage.write_bytes(path, self.data)
        return os.fspath(path)

    def _repr_png_(self) -> bytes | None:
        return self.data if self.format == "png" else None

    def _repr_svg_(self) -> str | None:
        return self.data.decode() if self.format == "svg" else None


def _render(
    kind: str,
    spec: dict[str, Any],
    width: int,
    height: int,
    format: ChartFormat | None,
    path: str | os.PathLike[str] | None,
) -> Chart:
    if format is None:
        suffix = Path(path).suffix.lower().lstrip(".") if path is not None else "png"
        if suffix not in ("png", "svg"):
            raise InvalidArgumentError(
                f"invalid argument `path`: {path} ends in neither .png nor .svg; give `format`"
            )
        format = "svg" if suffix == "svg" else "png"
    text = _json.dumps(spec)
    data, x_range, y_range = _native.render_chart(kind, text, width, height, format)
    chart = Chart(data, format, x_range, y_range)
    if path is not None:
        chart.save(path)
    return chart


# ----------------------------------------------------------------------------- data helpers


def _days(col: str) -> pl.Expr:
    """Dates or datetimes as (fractional) days since 1970-01-01."""
    return pl.col(col).cast(pl.Datetime("us")).dt.epoch("us").cast(pl.Float64) / 86_400e6


def _roles(
    frame: pl.DataFrame, roles: ColumnRoles | None, id_col: IdCol, time_col: str, target_col: str
) -> tuple[ColumnRoles, list[str], str, str]:
    """The column roles from ``roles`` (a forecaster's ``fc.roles``) or the keywords, with the
    keys found in ``frame``: roles, keys, time and target."""
    found = ColumnRoles.of(roles, id_col=id_col, time_col=time_col, target_col=target_col)
    found = found.resolve(frame)
    return found, found.keys, found.time, found.target


def _require(frame: pl.DataFrame, columns: Sequence[str], name: str) -> None:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise MissingColumnError(
            f"`{name}` lacks columns {missing}; it has [{', '.join(frame.columns)}]"
        )


def _one_or_total(
    frame: pl.DataFrame, keys: list[str], time_col: str, columns: list[str], series: Series
) -> pl.DataFrame:
    """Rows of one series, or the sum over all series per period (``series=None``)."""
    if series is None:
        return frame.group_by(time_col).agg(pl.col(c).sum() for c in columns).sort(time_col)
    wanted = series if isinstance(series, Mapping) else {keys[0]: series}
    if set(wanted) != set(keys) or (not isinstance(series, Mapping) and len(keys) != 1):
        raise InvalidArgumentError(
            f"invalid argument `series`: give a value for each of the key columns {keys}"
        )
    picked = frame.filter(pl.all_horizontal(pl.col(k) == v for k, v in wanted.items()))
    if picked.height == 0:
        raise InvalidArgumentError(f"invalid argument `series`: no rows for {dict(wanted)}")
    return picked.select(time_col, *columns).sort(time_col)


def _series_name(series: Series, n_series: int) -> str:
    if series is None:
        return f"total of {n_series} series"
    if isinstance(series, Mapping):
        return ", ".join(f"{k}={v}" for k, v in series.items())
    return str(series)


def _line(name: str, frame: pl.DataFrame, time_col: str, col: str) -> dict[str, Any]:
    return {
        "name": name,
        "x": frame.select(_days(time_col)).to_series().to_list(),
        "y": frame[col].cast(pl.Float64).to_list(),
    }


def _levels_of(frame: pl.DataFrame, model: str) -> list[int]:
    prefix = f"{model}-lo-"
    return sorted(int(c[len(prefix) :]) for c in frame.columns if c.startswith(prefix))


# ----------------------------------------------------------------------------- charts


def forecast(
    forecasts: Any,
    history: Any,
    *,
    series: Series = None,
    actuals: Any | None = None,
    models: Sequence[str] | None = None,
    bands_for: str = "ensemble",
    history_periods: int | None = None,
    id_col: IdCol = None,
    time_col: str = "date",
    target_col: str = "sales",
    roles: ColumnRoles | None = None,
    title: str | None = None,
    width: int = 1100,
    height: int = 550,
    format: ChartFormat | None = None,
    path: str | os.PathLike[str] | None = None,
) -> Chart:
    """History, every model's forecast, the prediction bands of ``bands_for`` and (when given)
    the actual values of the forecast periods; for one ``series`` (a key value, or a mapping of
    key column to value) or, by default, for the total of all series. The total's bands are the
    sums of the series' bounds: wider than an interval of the total itself, and labeled so."""
    fc = to_polars(forecasts, "forecasts")
    hist = to_polars(history, "history")
    found, keys, time_col, target_col = _roles(fc, roles, id_col, time_col, target_col)
    _require(fc, [*keys, time_col], "forecasts")
    _require(hist, [*keys, time_col, target_col], "history")
    skip = {*keys, time_col, target_col, "cutoff", *found.covariates}
    names = list(models) if models is not None else forecast_columns(fc, skip)
    _require(fc, names, "forecasts")
    levels = _levels_of(fc, bands_for)
    band_cols = [f"{bands_for}-{side}-{lv}" for lv in levels for side in ("lo", "hi")]
    ahead = _one_or_total(fc, keys, time_col, [*names, *band_cols], series)
    periods = history_periods or 4 * max(1, ahead.height)
    first = ahead[time_col].min()
    past = _one_or_total(
        hist.filter(pl.col(time_col) < first), keys, time_col, [target_col], series
    ).tail(periods)
    n_series = fc.select(keys).n_unique()
    spec: dict[str, Any] = {
        "title": title or f"Forecast: {_series_name(series, n_series)}",
        "y_label": target_col,
        "history": _line("actual", past, time_col, target_col),
        "actual": None,
        "forecasts": [_line(n, ahead, time_col, n) for n in names],
        "bands": [
            {
                "name": bands_for,
                "label": f"{bands_for} {lv}% interval"
                + ("" if series is not None else " (sum of the series' bounds)"),
                "level": float(lv),
                "x": ahead.select(_days(time_col)).to_series().to_list(),
                "lo": ahead[f"{bands_for}-lo-{lv}"].to_list(),
                "hi": ahead[f"{bands_for}-hi-{lv}"].to_list(),
            }
            for lv in levels
        ],
    }
    if actuals is not None:
        act = to_polars(actuals, "actuals")
        _require(act, [*keys, time_col, target_col], "actuals")
        act = act.join(fc.select([*keys, time_col]), on=[*keys, time_col], how="semi")
        later = _one_or_total(act, keys, time_col, [target_col], series)
        spec["actual"] = _line("actual (forecast period)", later, time_col, target_col)
    return _render("forecast", spec, width, height, format, path)


def backtest(
    cv: Any,
    history: Any | None = None,
    *,
    series: Series = None,
    model: str = "ensemble",
    history_periods: int | None = None,
    id_col: IdCol = None,
    time_col: str = "date",
    target_col: str = "sales",
    roles: ColumnRoles | None = None,
    title: str | None = None,
    width: int = 1100,
    height: int = 500,
    format: ChartFormat | None = None,
    path: str | os.PathLike[str] | None = None,
) -> Chart:
    """Every cross-validation window's forecast of ``model`` over the actuals, with a rule at
    each cutoff; one ``series`` or the total."""
    frame = to_polars(cv, "cv")
    _, keys, time_col, target_col = _roles(frame, roles, id_col, time_col, target_col)
    _require(frame, [*keys, time_col, target_col, model, "cutoff"], "cv")
    cutoffs = frame["cutoff"].unique().sort().to_list()
    windows = []
    for cutoff in cutoffs:
        part = _one_or_total(
            frame.filter(pl.col("cutoff") == cutoff), keys, time_col, [model], series
        )
        line = _line(f"{model}, cutoff {cutoff}", part, time_col, model)
        day = pl.DataFrame({"c": [cutoff]}).select(_days("c")).item()
        windows.append((day, line))
    actual = (
        frame.unique([*keys, time_col]).select([*keys, time_col, target_col])
        if history is None
        else to_polars(history, "history").select([*keys, time_col, target_col])
    )
    start = frame[time_col].min()
    window_len = frame.filter(pl.col("cutoff") == cutoffs[0]).select(time_col).n_unique()
    periods = history_periods or 2 * window_len
    before = _one_or_total(
        actual.filter(pl.col(time_col) < start), keys, time_col, [target_col], series
    ).tail(periods)
    during = _one_or_total(
        actual.filter(pl.col(time_col) >= start).join(
            frame.select([*keys, time_col]).unique(), on=[*keys, time_col], how="semi"
        ),
        keys,
        time_col,
        [target_col],
        series,
    )
    n_series = frame.select(keys).n_unique()
    spec = {
        "title": title or f"Backtest windows: {_series_name(series, n_series)}",
        "y_label": target_col,
        "actual": _line("actual", pl.concat([before, during]), time_col, target_col),
        "windows": windows,
    }
    return _render("backtest", spec, width, height, format, path)


def _p_value(p: float) -> str:
    return "< 0.0001" if p < 1e-4 else f"= {p:.4f}"


def residuals(
    cv: Any,
    model: str = "ensemble",
    *,
    max_lag: int = 28,
    id_col: IdCol = None,
    time_col: str = "date",
    target_col: str = "sales",
    roles: ColumnRoles | None = None,
    title: str | None = None,
    width: int = 1200,
    height: int = 800,
    format: ChartFormat | None = None,
    path: str | os.PathLike[str] | None = None,
) -> Chart:
    """Residuals (actual - forecast) of ``model`` over time, their histogram with a normal
    curve, a normal Q-Q plot of the standardized residuals and their autocorrelation (pooled
    within each series and window) with white-noise bounds."""
    frame = to_polars(cv, "cv")
    found, _, time_col, target_col = _roles(frame, roles, id_col, time_col, target_col)
    report = diagnose(frame, model, roles=found, max_lag=max_lag)
    res = frame.select(
        _days(time_col).alias("x"), (pl.col(target_col) - pl.col(model)).alias("r")
    ).filter(pl.col("r").is_finite())
    spec = {
        "title": title
        or (
            f"Residuals of {model}: Ljung-Box p {_p_value(report.ljung_box_p)}, "
            f"Jarque-Bera p {_p_value(report.jarque_bera_p)}"
        ),
        "x": res["x"].to_list(),
        "residuals": res["r"].to_list(),
        "acf": report.acf["acf"].to_list(),
        "acf_bound": float(report.acf["upper"][0]),
    }
    return _render("residuals", spec, width, height, format, path)


def importance(
    forecaster: Forecaster,
    *,
    top_k: int = 15,
    importance_type: Literal["gain", "split"] = "gain",
    title: str | None = None,
    width: int = 1200,
    height: int = 550,
    format: ChartFormat | None = None,
    path: str | os.PathLike[str] | None = None,
) -> Chart:
    """The ``top_k`` features by importance (total gain by default), one panel per booster."""
    table = forecaster.feature_importance(importance_type)
    if table.height == 0:
        raise InvalidArgumentError("invalid argument `forecaster`: it has no fitted booster")
    models = [
        (name, list(zip(g["feature"].to_list(), g[importance_type].to_list(), strict=True)))
        for (name,), g in table.group_by("model", maintain_order=True)
    ]
    spec = {
        "title": title or f"Feature importance ({importance_type}), top {top_k}",
        "importance_type": f"total {importance_type}",
        "models": models,
        "top_k": top_k,
    }
    return _render("importance", spec, width, height, format, path)


def _overall(scores: pl.DataFrame) -> pl.DataFrame:
    """The overall row of every model (evaluate pools backtest windows into one)."""
    _require(scores, ["scope", "model"], "scores")
    return scores.filter(pl.col("scope") == "overall")


def comparison(
    scores: Any,
    *,
    metrics: Sequence[str] = DEFAULT_METRICS,
    title: str | None = None,
    width: int = 1200,
    height: int = 700,
    format: ChartFormat | None = None,
    path: str | os.PathLike[str] | None = None,
) -> Chart:
    """Each metric per model and baseline from :func:`salesforecast.evaluate` (overall scores,
    backtest windows pooled), one panel per metric with labeled bars; axes include zero so
    negative values (bias, R²) show."""
    table = _overall(to_polars(scores, "scores"))
    _require(table, list(metrics), "scores")
    spec = {
        "title": title or "Model comparison (overall)",
        "models": table["model"].to_list(),
        "metrics": [
            (f"{m} ({BETTER.get(m, 'see definition')})", table[m].cast(pl.Float64).to_list())
            for m in metrics
        ],
    }
    return _render("comparison", spec, width, height, format, path)


def segment_heatmap(
    cv: Any,
    segments: Any,
    *,
    rows: str = "store_id",
    cols: str = "category",
    model: str = "ensemble",
    id_col: IdCol = None,
    time_col: str = "date",
    target_col: str = "sales",
    roles: ColumnRoles | None = None,
    title: str | None = None,
    width: int = 1000,
    height: int = 700,
    format: ChartFormat | None = None,
    path: str | os.PathLike[str] | None = None,
) -> Chart:
    """WAPE of ``model`` for every (``rows``, ``cols``) segment, e.g. store x category.
    ``segments`` maps each series to its segments (the history frame does)."""
    frame = to_polars(cv, "cv")
    _, keys, time_col, target_col = _roles(frame, roles, id_col, time_col, target_col)
    seg = to_polars(segments, "segments")
    _require(seg, [*keys, rows, cols], "segments")
    cells = seg.select(list(dict.fromkeys([*keys, rows, cols]))).unique(keys)
    joined = frame.drop([c for c in (rows, cols) if c in frame.columns and c not in keys]).join(
        cells, on=keys, how="left"
    )
    joined = joined.with_columns(
        pl.concat_str(
            pl.col(rows).cast(pl.String), pl.col(cols).cast(pl.String), separator="\x1f"
        ).alias("_cell")
    )
    scores = evaluate(
        joined.select([*keys, time_col, target_col, model, "_cell"]),
        models=[model],
        levels=(),
        segment="_cell",
        id_col=keys,
        time_col=time_col,
        target_col=target_col,
    ).filter(pl.col("scope") == "segment")
    wape = dict(zip(scores["unit"].to_list(), scores["wape"].to_list(), strict=True))
    # Names cast as the cell keys are, so every label finds its cell.
    row_names = sorted(set(cells[rows].cast(pl.String).drop_nulls().to_list()))
    col_names = sorted(set(cells[cols].cast(pl.String).drop_nulls().to_list()))
    spec = {
        "title": title or f"WAPE of {model} by {rows} and {cols}",
        "row_label": rows,
        "col_label": cols,
        "value_label": "WAPE",
        "rows": row_names,
        "cols": col_names,
        "values": [[wape.get(f"{r}\x1f{c}", float("nan")) for c in col_names] for r in row_names],
    }
    return _render("heatmap", spec, width, height, format, path)


def coverage(
    cv: Any,
    model: str = "ensemble",
    *,
    levels: Sequence[int] | None = None,
    id_col: IdCol = None,
    time_col: str = "date",
    target_col: str = "sales",
    roles: ColumnRoles | None = None,
    title: str | None = None,
    width: int = 1000,
    height: int = 500,
    format: ChartFormat | None = None,
    path: str | os.PathLike[str] | None = None,
) -> Chart:
    """Share of actuals inside ``model``'s intervals at each forecast step, against the
    nominal levels, over all series and backtest windows."""
    frame = to_polars(cv, "cv")
    _, keys, time_col, target_col = _roles(frame, roles, id_col, time_col, target_col)
    levels = list(levels) if levels is not None else _levels_of(frame, model)
    if not levels:
        raise InvalidArgumentError(f"invalid argument `model`: `{model}` has no interval columns")
    group = [*keys, *(["cutoff"] if "cutoff" in frame.columns else [])]
    bounds = [f"{model}-{side}-{lv}" for lv in levels for side in ("lo", "hi")]
    _require(frame, [*keys, time_col, target_col, model, *bounds], "cv")
    # The share of actuals inside each interval, per step (evaluate's segments are per series).
    by_step = (
        frame.with_columns(pl.col(time_col).rank("ordinal").over(group).alias("_step"))
        .filter(pl.col(target_col).is_not_null() & pl.col(target_col).is_not_nan())
        .group_by("_step")
        .agg(
            pl.col(target_col)
            .is_between(pl.col(f"{model}-lo-{lv}"), pl.col(f"{model}-hi-{lv}"))
            .mean()
            .mul(100)
            .alias(str(lv))
            for lv in levels
        )
        .sort("_step")
    )
    spec = {
        "title": title or f"Interval coverage of {model} by forecast step",
        "steps": by_step["_step"].cast(pl.Float64).to_list(),
        "levels": [(float(lv), by_step[str(lv)].to_list()) for lv in levels],
    }
    return _render("coverage", spec, width, height, format, path)


def optuna_study(
    study: Any,
    *,
    objective: str = "objective",
    title: str | None = None,
    width: int = 1200,
    height: int = 500,
    format: ChartFormat | None = None,
    path: str | os.PathLike[str] | None = None,
) -> Chart:
    """An Optuna study: each completed trial's objective and the best so far, and the
    parameters' importance (Optuna's default evaluator; left out below two completed trials)."""
    import optuna

    done = [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]
    if not done:
        raise InvalidArgumentError("invalid argument `study`: it has no completed trial")
    params = optuna.importance.get_param_importances(study) if len(done) >= 2 else {}
    spec = {
        "title": title or f"Optuna study {study.study_name}",
        "objective": objective,
        "minimize": study.direction == optuna.study.StudyDirection.MINIMIZE,
        "trials": [(float(t.number), float(t.value)) for t in done],
        "importance": [(k, float(v)) for k, v in params.items()],
    }
    return _render("optuna", spec, width, height, format, path)


def weights(
    forecaster: Forecaster,
    *,
    title: str | None = None,
    width: int = 900,
    height: int = 400,
    format: ChartFormat | None = None,
    path: str | os.PathLike[str] | None = None,
) -> Chart:
    """The ensemble weight of every model."""
    if not forecaster.weights:
        raise InvalidArgumentError("invalid argument `forecaster`: it has no ensemble weights")
    spec = {
        "title": title or f"Ensemble weights ({forecaster.ensemble})",
        "weights": list(forecaster.weights.items()),
    }
    return _render("weights", spec, width, height, format, path)
