"""Each page of the app through Streamlit's AppTest: inputs to outputs, a planned promotion and
a price change moving the forecast the way the history says, bad uploads refused with their
problems listed, the registry's versions and decisions, and missing models explained."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from streamlit.testing.v1 import AppTest

from salesforecast import scenario, tracking
from salesforecast.app import uploads
from tests.app.conftest import MAIN, AppModel


def started(monkeypatch: pytest.MonkeyPatch, model: str, backtest: str = "") -> AppTest:
    monkeypatch.setenv("SALESFORECAST_MODEL", model)
    monkeypatch.setenv("SALESFORECAST_BACKTEST", backtest)
    at = AppTest.from_file(str(MAIN), default_timeout=120)
    at.run()
    assert not at.exception, at.exception
    return at


@pytest.fixture
def app(app_model: AppModel, monkeypatch: pytest.MonkeyPatch) -> AppTest:
    return started(monkeypatch, str(app_model.bundle), str(app_model.backtest))


def total(at: AppTest) -> float:
    return float(at.metric[0].value.replace(",", ""))


def pick_series(at: AppTest, series: dict[str, str]) -> None:
    at.selectbox(key="forecast.store_id").set_value(series["store_id"]).run()
    at.selectbox(key="forecast.product_id").set_value(series["product_id"]).run()
    assert not at.exception, at.exception


def test_forecast_page_draws_the_series_and_its_intervals(app: AppTest) -> None:
    assert app.title[0].value == "Sales forecast"
    assert app.sidebar.success[0].value.endswith("bundle")
    captions = " ".join(c.value for c in app.sidebar.caption)
    assert "on 2021-07-01 to 2023-06-30, 32 series" in captions
    assert "Backtest MASE: ensemble" in captions
    assert "vs seasonal naive" in captions
    charts = app.get("plotly_chart")
    assert len(charts) == 1
    figure = charts[0].proto.spec
    for name in ('"history"', '"ensemble"', '"lightgbm"', "95% interval", "80% interval"):
        assert name in figure
    table = app.dataframe[0].value
    assert len(table) == 14
    assert {"ensemble", "ensemble-lo-95", "ensemble-hi-95"} <= set(table.columns)
    app.slider(key="forecast.h").set_value(7).run()
    assert len(app.dataframe[0].value) == 7
    assert app.metric[2].label == "Forecast computed in"


def test_a_planned_promotion_raises_and_a_price_rise_lowers_the_forecast(
    app: AppTest, app_model: AppModel
) -> None:
    pick_series(app, app_model.promo_series)
    unchanged = total(app)
    days = app.multiselect(key="scenario.promo")
    days.set_value(days.options[:7]).run()  # a promotion in the first week
    assert not app.exception
    promoted = total(app)
    assert promoted > unchanged * 1.05, (unchanged, promoted)
    assert app.metric[0].delta.startswith("+")
    days.set_value([]).run()
    assert total(app) == pytest.approx(unchanged)

    pick_series(app, app_model.best_seller)
    unchanged = total(app)
    app.slider(key="scenario.price").set_value(20).run()
    raised = total(app)
    assert raised < unchanged * 0.97, (unchanged, raised)
    assert app.metric[0].delta.startswith("-")


def test_inputs_survive_reruns_and_page_switches(
    app: AppTest, app_model: AppModel, tmp_path: Path
) -> None:
    pick_series(app, app_model.promo_series)
    app.slider(key="scenario.price").set_value(-10).run()
    app.slider(key="forecast.h").set_value(10).run()
    assert app.slider(key="scenario.price").value == -10
    app.switch_page("views/model.py").run()
    assert not app.exception
    app.switch_page("views/forecast.py").run()
    assert app.selectbox(key="forecast.product_id").value == app_model.promo_series["product_id"]
    assert app.slider(key="scenario.price").value == -10
    assert app.slider(key="forecast.h").value == 10
    # The batch page's path survives too; an uploaded file does not (Streamlit cannot set a
    # file widget back), and coming back to the page after an upload works.
    good = tmp_path / "history.parquet"
    app_model.history.filter(pl.col("store_id") == "S02").write_parquet(good)
    app.switch_page("views/batch.py").run()
    app.text_input(key="batch.history_uri").set_value(str(good)).run()
    three = app_model.history.filter(
        (pl.col("store_id") == "S01") & pl.col("product_id").is_in(["P01", "P02", "P03"])
    )
    uploader(app, "upload.history").set_value(
        ("history.csv", three.write_csv().encode(), "text/csv")
    )
    app.run()
    assert "Forecast 3 series" in app.main.success[0].value
    app.switch_page("views/forecast.py").run()
    app.switch_page("views/batch.py").run()
    assert not app.exception, app.exception
    assert app.text_input(key="batch.history_uri").value == str(good)
    assert "Forecast 8 series" in app.main.success[0].value


def uploader(app: AppTest, key: str) -> Any:
    (found,) = [w for w in app.get("file_uploader") if w.key == key]
    return found


def test_batch_page_forecasts_uploaded_files(app: AppTest, app_model: AppModel) -> None:
    one = app_model.history.filter(pl.col("store_id") == "S01")
    app.switch_page("views/batch.py").run()
    assert "50 MB" in app.markdown[0].value
    assert "2,000,000 rows" in app.markdown[0].value
    uploader(app, "upload.history").set_value(("history.csv", one.write_csv().encode(), "text/csv"))
    app.run()
    assert not app.exception, app.exception
    assert not app.error
    assert "Forecast 8 series" in app.main.success[0].value
    baseline = app.dataframe[0].value
    assert len(baseline) == 8 * 14
    # Planned promotions on every day of the horizon, as a parquet of future covariates.
    future = scenario.baseline(app_model.forecaster, one).with_columns(
        pl.lit(True).alias("promo"), pl.lit(0.3).alias("discount")
    )
    buffer = io.BytesIO()
    future.write_parquet(buffer)
    uploader(app, "upload.future").set_value(
        ("future.parquet", buffer.getvalue(), "application/octet-stream")
    )
    app.run()
    planned = app.dataframe[0].value
    assert planned["ensemble"].sum() > baseline["ensemble"].sum() * 1.1


def test_batch_page_enforces_its_limits(
    app: AppTest, app_model: AppModel, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(uploads, "MAX_ROWS", 1000)
    app.switch_page("views/batch.py").run()
    data = app_model.history.head(1001).write_csv().encode()
    uploader(app, "upload.history").set_value(("big.csv", data, "text/csv"))
    app.run()
    assert "big.csv has 1,001 rows; the limit is 1,000" in app.error[0].value
    assert not app.get("download_button")
    # A path or URI of another kind of file (an upload of one is refused by the widget).
    notes = tmp_path / "notes.txt"
    notes.write_text("hello")
    uploader(app, "upload.history").set_value(None)
    app.text_input(key="batch.history_uri").set_value(str(notes)).run()
    assert "give a .csv or .parquet file" in app.error[0].value


def test_batch_page_lists_the_problems_of_a_bad_file_and_forecasts_nothing(
    app: AppTest, app_model: AppModel, tmp_path: Path
) -> None:
    one = app_model.history.filter(pl.col("store_id") == "S01")
    bad = pl.concat([one, one.tail(2)]).with_columns(
        pl.when(pl.int_range(pl.len()) == 5).then(-3.0).otherwise(pl.col("sales")).alias("sales")
    )
    path = tmp_path / "bad.csv"
    bad.write_csv(path)
    app.switch_page("views/batch.py").run()
    app.text_input(key="batch.history_uri").set_value(str(path)).run()
    assert not app.exception, app.exception
    assert "Nothing was forecast" in app.error[0].value
    problems = app.dataframe[0].value
    assert "duplicate_keys" in set(problems["check"])
    assert {int(r) for r in problems["row"].dropna()} >= {one.height, one.height + 1}
    assert not app.main.success
    assert not app.get("download_button")


def test_batch_page_refuses_a_file_without_the_models_columns(
    app: AppTest, app_model: AppModel, tmp_path: Path
) -> None:
    path = tmp_path / "no_price.parquet"
    app_model.history.drop("price").write_parquet(path)
    app.switch_page("views/batch.py").run()
    app.text_input(key="batch.history_uri").set_value(str(path)).run()
    assert "Nothing was forecast" in app.error[0].value
    assert app.dataframe[0].value["check"].tolist() == ["missing_columns"]


def test_model_page_compares_against_the_baselines(app: AppTest) -> None:
    app.switch_page("views/model.py").run()
    assert not app.exception, app.exception
    metrics = app.dataframe[0].value
    assert {"ensemble", "lightgbm", "seasonal_naive"} <= set(metrics["model"])
    naive = metrics[metrics["model"] == "seasonal_naive"]["mase_vs_seasonal_naive"]
    assert naive.iloc[0] == pytest.approx(1.0)
    segments = app.dataframe[1].value
    assert set(segments["store_id"]) == {"S01", "S02", "S03", "S04"}
    assert len(app.get("plotly_chart")) == 2  # weights and importance
    assert len(app.get("image")) == 2  # residual diagnostics and backtest windows


def test_a_missing_model_is_explained_on_the_page(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    at = started(monkeypatch, str(tmp_path / "nowhere"))
    assert "could not load" in at.error[0].value
    assert str(tmp_path / "nowhere") in at.error[0].value
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'empty.db'}")
    at = started(monkeypatch, "models:/sales_forecast@champion")
    assert "sales_forecast" in at.error[0].value
    assert "Traceback" not in at.error[0].value


def test_registry_model_and_its_versions(
    app_model: AppModel, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """The champion from a real MLflow registry (a SQLite store), its versions and the gate's
    decisions with who made them."""
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'mlflow.db'}")
    monkeypatch.chdir(tmp_path)  # the local store's artifacts
    fc = app_model.forecaster
    logged = tracking.log_run(fc, cv=app_model.cv, history=app_model.history)
    decision = tracking.promote(logged.model_name, logged.version, holdout=app_model.history)
    assert decision.promoted, decision.reason
    at = started(monkeypatch, "models:/sales_forecast@champion")
    assert at.sidebar.success[0].value == "sales_forecast version 1 (champion)"
    at.switch_page("views/model.py").run()
    assert not at.exception, at.exception
    assert "seasonal_naive" in set(at.dataframe[0].value["model"])  # the logged backtest
    at.switch_page("views/versions.py").run()
    assert not at.exception, at.exception
    decisions = at.dataframe[-1].value
    assert decisions["decision"].tolist() == ["promoted"]
    assert decisions["decided by"].iloc[0].startswith("user:")
    champion = at.dataframe[0].value
    assert "ensemble" in set(champion["model"])
