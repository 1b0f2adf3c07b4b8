"""Charts and the HTML report on a real (small) run: every chart decodes at its size, is not
blank, names what it shows, and its axes cover its data."""

from __future__ import annotations

import io
import json
import math
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import numpy as np
import optuna
import polars as pl
import pytest
from PIL import Image

import salesforecast as sf
from salesforecast.errors import InvalidArgumentError, MissingColumnError

KEYS = ["store_id", "product_id"]
H = 14
# The (width, height) each chart of `charts` renders at: its function's default size in
# salesforecast.plots, or the size `charts` passes.
SIZES = {
    "forecast_total": (1100, 550),
    "forecast_one": (1100, 550),
    "backtest": (1100, 500),
    "residuals": (1200, 800),
    "importance": (1200, 550),
    "comparison": (1200, 700),
    "heatmap": (1000, 700),
    "coverage": (1000, 500),
    "optuna": (1200, 500),
    "weights": (700, 350),
}


@pytest.fixture(scope="module")
def run() -> dict[str, Any]:
    df = sf.generate_sales(n_stores=4, n_products=6, start="2023-01-01", end="2023-12-31", seed=7)
    spec = sf.FeatureSpec(
        lags=[7, 14],
        rolling=[sf.Rolling(window=7, lag=7)],
        calendar=["dayofweek"],
        target_transforms=["log1p"],
    )
    fc = sf.Forecaster(
        [
            sf.LightGBM(n_estimators=30, learning_rate=0.1),
            sf.XGBoost(n_estimators=30, learning_rate=0.1),
            sf.SeasonalNaive(7),
        ],
        spec,
        freq="1d",
        horizon=H,
        static_features=["category"],
        known_future=["price", "promo"],
        cv_windows=2,
    )
    cv = fc.cross_validation(df, n_windows=2)
    train, test = sf.time_split(df, test_periods=H)
    fc.fit(train)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(study_name="test-study")
    study.optimize(
        lambda t: (
            (t.suggest_float("learning_rate", 0.01, 0.3) - 0.1) ** 2
            + t.suggest_int("num_leaves", 8, 64) / 1000
        ),
        n_trials=12,
    )
    return {
        "df": df,
        "fc": fc,
        "cv": cv,
        "train": train,
        "test": test,
        "pred": fc.predict(future=test),
        "scores": sf.evaluate(cv, df, levels=[80, 95]),
        "study": study,
    }


def charts(run: dict[str, Any], fmt: str) -> dict[str, sf.plots.Chart]:
    one = {"store_id": "S01", "product_id": "P02"}
    p = sf.plots
    return {
        "forecast_total": p.forecast(run["pred"], run["train"], actuals=run["test"], format=fmt),
        "forecast_one": p.forecast(
            run["pred"], run["train"], actuals=run["test"], series=one, format=fmt
        ),
        "backtest": p.backtest(run["cv"], run["df"], format=fmt),
        "residuals": p.residuals(run["cv"], format=fmt),
        "importance": p.importance(run["fc"], top_k=5, format=fmt),
        "comparison": p.comparison(run["scores"], format=fmt),
        "heatmap": p.segment_heatmap(run["cv"], run["df"], format=fmt),
        "coverage": p.coverage(run["cv"], format=fmt),
        "optuna": p.optuna_study(run["study"], format=fmt),
        "weights": p.weights(run["fc"], format=fmt, width=700, height=350),
    }


def svg_texts(chart: sf.plots.Chart) -> list[str]:
    root = ET.fromstring(chart.data)
    return [(t.text or "").strip() for t in root.iter() if t.tag.endswith("text")]


def test_every_png_decodes_at_its_size_and_is_not_blank(run: dict[str, Any]) -> None:
    pngs = charts(run, "png")
    assert set(pngs) == set(SIZES)
    for name, chart in pngs.items():
        assert chart.format == "png", name
        image = Image.open(io.BytesIO(chart.data))
        image.load()
        assert image.format == "PNG", name
        assert image.size == SIZES[name], (name, image.size)
        pixels = np.asarray(image.convert("RGB")).reshape(-1, 3)
        assert len(np.unique(pixels, axis=0)) > 20, f"{name} is nearly blank"
        assert (pixels.min(axis=1) < 80).mean() > 0.001, f"{name} has no dark ink (text, axes)"


def test_text_renders_without_system_fonts(run: dict[str, Any]) -> None:
    """The title band of a PNG holds dark glyph pixels: the bundled font drew them."""
    chart = sf.plots.weights(run["fc"], width=700, height=350, format="png")
    image = np.asarray(Image.open(io.BytesIO(chart.data)).convert("L"))
    assert (image[:30] < 100).sum() > 50


def test_svgs_name_their_title_axes_and_series(run: dict[str, Any]) -> None:
    svgs = charts(run, "svg")
    expected = {
        "forecast_total": [
            "Forecast: total of 24 series",
            "date",
            "sales",
            "lightgbm",
            "xgboost",
            "seasonal_naive",
            "ensemble",
            "ensemble 95% interval (sum of the series' bounds)",
        ],
        "forecast_one": [
            "Forecast: store_id=S01, product_id=P02",
            "ensemble 80% interval",
            "actual (forecast period)",
        ],
        "backtest": ["Backtest windows: total of 24 series", "actual", "date"],
        "residuals": [
            "Normal Q-Q",
            "Autocorrelation (dashed: 95% white-noise bounds)",
            "lag",
            "standardized residual",
        ],
        "importance": ["lightgbm", "xgboost", "total gain"],
        "comparison": [
            "wape (lower is better)",
            "r2 (higher is better)",
            "seasonal_naive",
            "moving_average",
            "naive",
        ],
        "heatmap": ["WAPE of ensemble by store_id and category", "store_id", "category", "S04"],
        "coverage": ["forecast step", "80% interval", "95% interval"],
        "optuna": [
            "Optuna study test-study",
            "best so far",
            "Parameter importance",
            "learning_rate",
            "num_leaves",
        ],
        "weights": ["lightgbm", "xgboost", "seasonal_naive", "weight"],
    }
    assert set(svgs) == set(expected)
    for name, chart in svgs.items():
        texts = svg_texts(chart)
        # Whole texts, not substrings: the title holds "weight", "forecast step", "store_id" and
        # "category", "seasonal_naive" holds "naive", a band's label holds "ensemble".
        for needle in expected[name]:
            assert needle in texts, (name, needle, texts[:40])


def test_axes_cover_the_data(run: dict[str, Any]) -> None:
    pred, train = run["pred"], run["train"]
    one = {"store_id": "S01", "product_id": "P02"}
    chart = sf.plots.forecast(pred, train, series=one, format="svg")
    rows = pred.filter((pl.col("store_id") == "S01") & (pl.col("product_id") == "P02"))
    lo, hi = chart.y_range
    assert lo <= float(rows["ensemble-lo-95"].min())
    assert hi >= float(rows["ensemble-hi-95"].max())
    last_day = rows.select(pl.col("date").max().cast(pl.Datetime("us")).dt.epoch("s")).item()
    assert chart.x_range[1] >= last_day / 86_400
    scores = sf.plots._overall(run["scores"])
    bias = sf.plots.comparison(run["scores"], metrics=["bias"], format="svg")
    assert bias.x_range[0] <= min(0.0, float(scores["bias"].min()))
    assert bias.x_range[1] >= max(0.0, float(scores["bias"].max()))
    steps = sf.plots.coverage(run["cv"], format="svg")
    assert steps.x_range[0] <= 1
    assert steps.x_range[1] >= H


def test_heatmap_cells_are_the_segment_wape(run: dict[str, Any]) -> None:
    cv, df = run["cv"], run["df"]
    cells = df.select([*KEYS, "category"]).unique(KEYS)
    one = cv.join(cells, on=KEYS).filter(
        (pl.col("store_id") == "S02") & (pl.col("category") == cells["category"].sort()[0])
    )
    wape = float((one["sales"] - one["ensemble"]).abs().sum() / one["sales"].abs().sum())
    texts = svg_texts(sf.plots.segment_heatmap(cv, df, format="svg"))
    assert f"{wape:.3f}" in texts


def test_bad_input_is_refused(run: dict[str, Any], tmp_path: Path) -> None:
    with pytest.raises(InvalidArgumentError, match="series"):
        sf.plots.forecast(run["pred"], run["train"], series={"store_id": "nope", "product_id": "x"})
    with pytest.raises(InvalidArgumentError, match="each of the key columns"):
        sf.plots.forecast(run["pred"], run["train"], series={"store_id": "S01"})
    with pytest.raises(MissingColumnError, match="category"):
        sf.plots.segment_heatmap(run["cv"], run["df"].drop("category"))
    with pytest.raises(InvalidArgumentError, match="width"):
        sf.plots.weights(run["fc"], width=10)
    with pytest.raises(InvalidArgumentError, match="gif"):
        sf.plots.weights(run["fc"], path=tmp_path / "w.gif")
    assert not list(tmp_path.iterdir())


def test_charts_write_files(run: dict[str, Any], tmp_path: Path) -> None:
    chart = sf.plots.weights(run["fc"], path=tmp_path / "weights.svg")
    assert chart.format == "svg"
    assert isinstance(chart, bytes)
    assert chart.startswith(b"<svg")
    assert (tmp_path / "weights.svg").read_bytes() == chart
    assert chart._repr_svg_() is not None
    assert chart._repr_png_() is None


def test_report_is_one_self_contained_page(run: dict[str, Any], tmp_path: Path) -> None:
    page = sf.report(
        run["fc"],
        run["cv"],
        tmp_path / "run",
        history=run["df"],
        validation=sf.validate(run["df"]),
        study=run["study"],
    )
    text = Path(page).read_text()
    for heading in [
        "Metrics over the backtest windows",
        "Input validation",
        "Backtest windows",
        "Residuals",
        "Interval coverage",
        "Model comparison",
        "Error by segment",
        "Feature importance",
        "Ensemble weights",
        "Hyperparameter search",
        "Run",
    ]:
        assert f"<h2>{heading}" in text, heading
    assert text.count("<svg") == 10
    assert "<?xml" not in text
    assert 'src="http' not in text
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    overall = {row["model"]: row for row in metrics["overall"]}
    assert {"lightgbm", "xgboost", "seasonal_naive", "ensemble"} <= set(overall)
    ensemble = sf.evaluate(run["cv"], run["df"], models=["ensemble"]).filter(
        (pl.col("scope") == "overall") & (pl.col("model") == "ensemble")
    )
    assert math.isclose(overall["ensemble"]["wape"], float(ensemble["wape"].mean()))
    assert metrics["run"]["weights"] == run["fc"].weights
    windows = {row["cutoff"] for row in metrics["per_window"]}
    assert len(windows) == 2
    assert all(row["model"] for row in metrics["per_window"])
    assert "NaN" not in (tmp_path / "run" / "metrics.json").read_text()
