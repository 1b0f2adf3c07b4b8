"""MLflow tracking and the registry gate against a real `mlflow server` on 127.0.0.1 (SQLite
backend store, artifacts on the s3s-fs S3 server), and `mlflow models serve` over REST."""

from __future__ import annotations

import json
import logging
import urllib.request
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import mlflow
import polars as pl
import pytest

import salesforecast as sf
from salesforecast import tracking
from salesforecast.tracking import TrackingError
from tests.servers import (
    SECRET_KEY,
    MlflowServer,
    S3Server,
    mlflow_server,
    models_serve,
    venv_env,
)

NAME = "sales_forecast"
KEYS = ["store_id", "product_id"]


@pytest.fixture(scope="module")
def server(s3: S3Server, tmp_path_factory: pytest.TempPathFactory) -> Iterator[MlflowServer]:
    with mlflow_server(tmp_path_factory.mktemp("mlflow"), s3) as running:
        yield running


@pytest.fixture(autouse=True)
def client_env(
    server: MlflowServer, s3: S3Server, monkeypatch: pytest.MonkeyPatch
) -> Iterator[None]:
    monkeypatch.setenv("MLFLOW_TRACKING_URI", server.uri)
    # Fail fast when the server is down instead of retrying for minutes.
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_TIMEOUT", "20")
    # The client holds the S3 secret too (as a DAG worker would): it must never leak.
    for key, value in s3.env().items():
        monkeypatch.setenv(key, value)
    mlflow.set_tracking_uri(server.uri)
    yield
    # MLflow keeps the URI in a global: later modules (the app's tests) must not talk to this
    # server once it is stopped.
    mlflow.set_tracking_uri(None)


@pytest.fixture(scope="module")
def panel() -> pl.DataFrame:
    # 18 series: enough holdout points (252) for the gate's coverage check to be meaningful.
    return sf.generate_sales(n_stores=3, n_products=6, start="2022-07-01", end="2023-06-30", seed=8)


def forecaster(models: list[Any]) -> sf.Forecaster:
    return sf.Forecaster(
        models,
        sf.FeatureSpec(lags=[7, 14, 28], rolling=[sf.Rolling(window=7, lag=7)],
                       calendar=["dayofweek", "month"]),
        freq="1d",
        horizon=14,
        cv_windows=4,
        static_features=["category"],
        known_future=["price", "promo", "discount", "is_closed"],
    )  # fmt: skip


@pytest.fixture(scope="module")
def splits(panel: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Training data, and the latest data (history plus the 14-day holdout) for the gate."""
    train, _ = sf.time_split(panel, test_periods=14)
    return train, panel


def fit(models: list[Any], train: pl.DataFrame) -> tuple[sf.Forecaster, pl.DataFrame]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", sf.errors.UndeclaredColumnsWarning)
        fc = forecaster(models).fit(train)
        cv = fc.cross_validation(train, n_windows=2)
    return fc, cv


def good() -> list[Any]:
    return [sf.LightGBM(n_estimators=80, learning_rate=0.1), sf.SeasonalNaive()]


def test_registry_lifecycle(
    splits: tuple[pl.DataFrame, pl.DataFrame],
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    train, latest = splits
    client = mlflow.MlflowClient()
    # v1: seasonal naive alone becomes champion: there is none yet.
    naive, naive_cv = fit([sf.SeasonalNaive()], train)
    first = tracking.log_run(naive, cv=naive_cv, history=train, run_key="dag/run-1")
    assert first.created
    assert first.version == "1"
    assert client.get_model_version_by_alias(NAME, "challenger").version == "1"
    decision = tracking.promote(NAME, first.version, holdout=latest)
    assert decision.promoted
    assert "first version" in decision.reason
    assert tracking.champion(NAME) == "1"

    # Logging the same DAG run again creates nothing.
    again = tracking.log_run(naive, cv=naive_cv, history=train, run_key="dag/run-1")
    assert not again.created
    assert again.version == "1"
    assert len(client.search_model_versions(f"name = '{NAME}'")) == 1

    # v2: the boosted forecaster beats it on the same holdout and is promoted.
    strong, strong_cv = fit(good(), train)
    report = sf.report(strong, strong_cv, tmp_path / "report", history=train)
    study, _ = sf.tune(strong, train, n_trials=2, models=["lightgbm"])
    second = tracking.log_run(
        strong, cv=strong_cv, history=train, report=report, study=study, run_key="dag/run-2",
        validation=sf.validate(train), dataset_uri="s3://forecasts/data/train.parquet",
    )  # fmt: skip
    decision = tracking.promote(NAME, second.version, holdout=latest)
    assert decision.promoted, decision.reason
    assert decision.champion_before == "1"
    assert tracking.champion(NAME) == "2"
    assert decision.challenger_value < decision.champion_value  # type: ignore[operator]
    tags = client.get_model_version(NAME, "2").tags
    assert tags["gate.decision"] == "promoted"
    assert tags["previous_champion"] == "1"
    assert float(tags["gate.challenger_value"]) == decision.challenger_value

    # v3: an underfitted booster (10 rounds): rejected, the champion stays, the decision is
    # recorded.
    weak, weak_cv = fit([sf.LightGBM(n_estimators=10, learning_rate=0.1)], train)
    third = tracking.log_run(weak, cv=weak_cv, history=train, run_key="dag/run-3")
    decision = tracking.promote(NAME, third.version, holdout=latest)
    assert not decision.promoted
    assert tracking.champion(NAME) == "2"
    tags = client.get_model_version(NAME, "3").tags
    assert tags["gate.decision"] == "rejected"
    assert tags["gate.champion_version"] == "2"
    assert client.get_model_version_by_alias(NAME, "challenger").version == "3"

    # Rollback restores the champion v2 replaced.
    assert tracking.rollback(NAME) == "1"
    assert tracking.champion(NAME) == "1"
    assert client.get_model_version(NAME, "2").tags["gate.decision"] == "rolled back"

    # What the run holds: params, metrics per model and baseline, per step, artifacts, lineage.
    run = client.get_run(second.run_id)
    assert run.data.params["settings.horizon"] == "14"
    assert "model.lightgbm.learning_rate" in run.data.params
    assert run.data.params["model.lightgbm.fitted_rounds"] == "80"
    assert run.data.params["tuning.n_trials"] == "2"
    for metric in (
        "lightgbm.mase",
        "ensemble.wape",
        "seasonal_naive.mase",
        "calibration.lightgbm.mase",
    ):
        assert metric in run.data.metrics, metric
    steps = client.get_metric_history(second.run_id, "by_step.lightgbm.mase")
    assert sorted(m.step for m in steps) == list(range(1, 15))
    assert run.data.tags["sf_run_key"] == "dag/run-2"
    assert run.data.tags["data.end"] == str(train["date"].max())
    assert run.inputs.dataset_inputs[0].dataset.source.find("train.parquet") >= 0
    artifacts = mlflow.artifacts.download_artifacts(
        run_id=second.run_id, dst_path=str(tmp_path / "a")
    )
    names = {p.relative_to(artifacts).as_posix() for p in Path(artifacts).rglob("*") if p.is_file()}
    for expected in (
        "report/report.html",
        "report/metrics.json",
        "feature_importance.csv",
        "calibration_metrics.csv",
        "validation.json",
        "comparison.png",
        "optuna.png",
    ):
        assert expected in names, expected  # fmt: skip
    model_files = mlflow.artifacts.download_artifacts(
        artifact_uri=second.model_uri, dst_path=str(tmp_path / "m")
    )
    bundled = [p for p in Path(model_files).rglob("manifest.json")]
    assert len(bundled) == 1
    assert "artifacts/bundle" in bundled[0].as_posix()
    assert not list(Path(model_files).rglob("*.pkl"))
    # The secret the client holds is nowhere: params, tags, artifacts, logs.
    everything = [
        json.dumps(run.data.params), json.dumps(run.data.tags),
        json.dumps([dict(v.tags) for v in client.search_model_versions(f"name = '{NAME}'")]),
        caplog.text,
    ]  # fmt: skip
    assert not any(SECRET_KEY in text for text in everything)
    for path in Path(artifacts).rglob("*"):
        if path.is_file():
            assert SECRET_KEY.encode() not in path.read_bytes(), path

    # The champion as a pyfunc model: forecasts with intervals for the series asked for.
    champion = mlflow.pyfunc.load_model(f"models:/{NAME}@champion")
    request = latest.filter(pl.col("date") > train["date"].max()).filter(
        pl.col("product_id") == "P01"
    )
    served = pl.from_pandas(
        champion.predict(
            request.select(*KEYS, "date", "price", "promo", "discount", "is_closed").to_pandas()
        )
    )
    assert served.height == request.height
    assert "seasonal_naive-lo-95" in served.columns
    assert served["seasonal_naive"].is_finite().all()


def test_pyfunc_served_over_rest(
    splits: tuple[pl.DataFrame, pl.DataFrame], server: MlflowServer, tmp_path: Path
) -> None:
    train, latest = splits
    strong, strong_cv = fit(good(), train)
    logged = tracking.log_run(strong, cv=strong_cv, history=train, run_key="serve")
    model = mlflow.pyfunc.load_model(logged.model_uri)
    request = latest.filter(pl.col("date") > train["date"].max()).filter(
        pl.col("store_id") == "S01"
    )
    frame = request.select(*KEYS, "date", "price", "promo", "discount", "is_closed")
    local = pl.from_pandas(model.predict(frame.to_pandas(), params={"levels": [50, 90]}))
    with models_serve(logged.model_uri, venv_env(), tmp_path / "serve.log") as url:
        body = {
            "dataframe_split": json.loads(
                frame.with_columns(pl.col("date").cast(pl.String))
                .to_pandas()
                .to_json(orient="split", index=False)
            ),
            "params": {"levels": [50, 90]},
        }
        call = urllib.request.Request(
            url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"}
        )
        with urllib.request.urlopen(call, timeout=60) as answer:
            rows = json.loads(answer.read())["predictions"]
    remote = pl.DataFrame(rows)
    assert remote.height == frame.height
    assert {"ensemble", "ensemble-lo-90", "lightgbm-hi-50"} <= set(remote.columns)
    assert remote["ensemble"].to_list() == pytest.approx(local["ensemble"].to_list())


def test_server_stopped_mid_log_then_retried(
    splits: tuple[pl.DataFrame, pl.DataFrame],
    server: MlflowServer,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    train, _ = splits
    fc, cv = fit(good(), train)
    real_log_model = mlflow.pyfunc.log_model

    def stop_then_log(*args: Any, **kwargs: Any) -> Any:
        server.stop()
        return real_log_model(*args, **kwargs)

    monkeypatch.setattr(mlflow.pyfunc, "log_model", stop_then_log)
    with pytest.raises(TrackingError, match=server.uri.split("//")[1]):
        tracking.log_run(fc, cv=cv, history=train, run_key="flaky")
    monkeypatch.setattr(mlflow.pyfunc, "log_model", real_log_model)
    server.start()
    logged = tracking.log_run(fc, cv=cv, history=train, run_key="flaky")
    assert logged.created
    client = mlflow.MlflowClient()
    experiment = client.get_experiment_by_name("salesforecast")
    runs = client.search_runs([experiment.experiment_id], filter_string="tags.sf_run_key = 'flaky'")
    assert [r.info.run_id for r in runs] == [logged.run_id]
    versions = client.search_model_versions(f"name = '{NAME}' and tags.sf_run_key = 'flaky'")
    assert [v.version for v in versions] == [logged.version]
