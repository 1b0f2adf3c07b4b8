"""The training and inference DAGs end to end with real processes: `airflow dags test` (Airflow's
own dag.test() runner, SQLite metadata) against the MLflow server and the s3s-fs S3 server on
127.0.0.1."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import mlflow
import pytest

from salesforecast import storage
from tests.servers import (
    BUCKET,
    SECRET_KEY,
    MlflowServer,
    S3Server,
    free_port,
    mlflow_server,
    venv_env,
)

DAGS = Path(__file__).resolve().parents[2] / "dags"
ROOT = f"s3://{BUCKET}/pipeline"
SMALL = {
    # 18 series: enough holdout points for the gate's coverage check to be meaningful.
    "n_stores": 3,
    "n_products": 6,
    "end": "2023-06-30",
    "horizon": 14,
    "models": ["lightgbm", "seasonal_naive"],
    "n_trials": 2,
    "storage_root": ROOT,
}
# A token in the tracking URI's user info, as a server behind basic auth would take it (this one
# ignores it): like the S3 secret, it must reach no log, param, tag, artifact or output.
URI_TOKEN = "sf-FAKE-uri-token-5d3a91"
# What every `airflow dags test` printed: its own log and its tasks'.
PRINTED: list[str] = []


def with_token(uri: str) -> str:
    return uri.replace("http://", f"http://sf-user:{URI_TOKEN}@", 1)


@pytest.fixture(scope="module")
def server(s3: S3Server, tmp_path_factory: pytest.TempPathFactory) -> Iterator[MlflowServer]:
    with mlflow_server(tmp_path_factory.mktemp("mlflow-pipeline"), s3) as running:
        yield running


@pytest.fixture(scope="module")
def airflow_env(
    server: MlflowServer, s3: S3Server, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, str]:
    home = tmp_path_factory.mktemp("airflow-home")
    env = {
        **venv_env(),
        **s3.env(),
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(DAGS),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home / 'airflow.db'}",
        "MLFLOW_TRACKING_URI": with_token(server.uri),
        "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "0",
    }
    airflow = str(Path(sys.executable).with_name("airflow"))
    subprocess.run([airflow, "db", "migrate"], env=env, check=True, capture_output=True)
    return env


def run_dag(env: dict[str, str], dag_id: str, conf: dict[str, Any], day: str) -> str:
    airflow = str(Path(sys.executable).with_name("airflow"))
    done = subprocess.run(
        [airflow, "dags", "test", dag_id, day, "--conf", json.dumps(conf)],
        env=env,
        capture_output=True,
        text=True,
    )
    PRINTED.append(done.stdout + done.stderr)
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-4000:]
    return done.stdout + done.stderr


@pytest.fixture
def s3_client_env(
    s3: S3Server, server: MlflowServer, monkeypatch: pytest.MonkeyPatch
) -> mlflow.MlflowClient:
    for key, value in s3.env().items():
        monkeypatch.setenv(key, value)
    # MLflow writes the URI to the environment too: set through monkeypatch, it is undone.
    monkeypatch.setenv("MLFLOW_TRACKING_URI", server.uri)
    mlflow.set_tracking_uri(server.uri)
    return mlflow.MlflowClient()


def test_training_dag_end_to_end(
    airflow_env: dict[str, str], s3_client_env: mlflow.MlflowClient
) -> None:
    client = s3_client_env
    run_dag(airflow_env, "sales_forecast_training", SMALL, "2026-11-02")
    versions = client.search_model_versions("name = 'sales_forecast'")
    assert [v.version for v in versions] == ["1"]
    assert client.get_model_version_by_alias("sales_forecast", "champion").version == "1"
    tags = client.get_model_version("sales_forecast", "1").tags
    assert tags["gate.decision"] == "promoted"
    runs = storage.list(f"{ROOT}/runs/sales_forecast_training")
    run_id = runs[0].split("/")[0]
    outputs = storage.list(f"{ROOT}/runs/sales_forecast_training/{run_id}")
    assert "reports/all/report.html" in outputs
    assert "forecast.parquet" in outputs
    assert "summary.json" in outputs
    assert any(n.startswith("models/all/versions/") for n in outputs)
    forecast = storage.read_frame(f"{ROOT}/runs/sales_forecast_training/{run_id}/forecast.parquet")
    assert forecast.height == 18 * 14
    assert forecast["model_version"].unique().to_list() == ["1"]
    assert forecast["ensemble"].is_finite().all()
    # What `make demo` prints at the end.
    shown = subprocess.run(
        [sys.executable, "-m", "salesforecast.cli", "summary", "--root", ROOT],
        env=airflow_env, capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    assert "gate: version 1 promoted" in shown
    assert "champion: sales_forecast version 1" in shown
    assert "ensemble" in shown
    assert "report.html" in shown

    # A second run whose challenger (naive alone) is worse: the gate keeps the champion.
    run_dag(
        airflow_env,
        "sales_forecast_training",
        {**SMALL, "models": ["naive"], "n_trials": 0},
        "2026-11-09",
    )
    assert client.get_model_version_by_alias("sales_forecast", "champion").version == "1"
    second = client.get_model_version("sales_forecast", "2").tags
    assert second["gate.decision"] == "rejected", second["gate.reason"]

    # The inference DAG forecasts with the champion, its version in the path and a column.
    # Its settings are the last training run's: the same 18 series, the 14 periods after them.
    run_dag(airflow_env, "sales_forecast_inference", {"storage_root": ROOT}, "2026-11-10")
    inference = storage.list(f"{ROOT}/runs/sales_forecast_inference")
    (served,) = [n for n in inference if n.endswith("forecasts/all.v1.parquet")]
    batch = storage.read_frame(f"{ROOT}/runs/sales_forecast_inference/{served}")
    assert batch.height == 18 * 14
    assert str(batch["date"].min()) == "2023-07-01"
    assert batch["model_version"].unique().to_list() == ["1"]


def test_rerunning_a_task_overwrites_only_its_output(
    airflow_env: dict[str, str], s3_client_env: mlflow.MlflowClient
) -> None:
    """Calling a step of a finished run again (what a retry does) rewrites its own files and
    registers nothing new."""
    from salesforecast import tasks

    client = s3_client_env
    folder = storage.list(f"{ROOT}/runs/sales_forecast_training")[0].split("/")[0]
    base = f"{ROOT}/runs/sales_forecast_training/{folder}"
    before = {n: storage.read_bytes(f"{base}/{n}") for n in storage.list(base)}
    summary = json.loads(before["summary.json"])
    cfg = tasks.config(dag_id="sales_forecast_training", run_id=summary["run_id"], **SMALL)
    assert tasks.run_root(cfg) == base
    part = {"column": None, "value": None, "data": f"{base}/data/all.parquet",
            "future": f"{base}/data/all.future.parquet"}  # fmt: skip
    trained = tasks.train(cfg, part)
    assert trained["bundle"] == f"{base}/models/all"
    again = tasks.register(cfg, {**trained, "report": summary["partitions"][0]["report"]})
    assert again["version"] == "1"  # the run key is the DAG run: no second version
    assert len(client.search_model_versions("name = 'sales_forecast'")) == 2
    after = set(storage.list(base))
    changed = {
        n for n in after if n not in before or storage.read_bytes(f"{base}/{n}") != before[n]
    }
    assert changed, "the rerun wrote nothing"
    assert all(n.startswith(("models/all/", "backtests/all")) for n in changed), changed


def test_partitioned_run(airflow_env: dict[str, str], s3_client_env: mlflow.MlflowClient) -> None:
    """partition_by=store_id: one forecaster, registered model and gate decision per store; the
    combined forecast holds the stores that have a champion."""
    client = s3_client_env
    conf = {**SMALL, "partition_by": "store_id", "n_trials": 0}
    run_dag(airflow_env, "sales_forecast_training", conf, "2026-11-16")
    base = f"{ROOT}/runs/sales_forecast_training"
    latest = max(n for n in storage.list(base) if n.endswith("/summary.json"))
    summary = json.loads(storage.read_bytes(f"{base}/{latest}"))
    parts = {p["partition"]: p for p in summary["partitions"]}
    assert set(parts) == {"store_id-S01", "store_id-S02", "store_id-S03"}
    for store in ("S01", "S02", "S03"):
        versions = client.search_model_versions(f"name = 'sales_forecast.{store}'")
        assert [v.version for v in versions] == ["1"]
        assert versions[0].tags["gate.decision"] in ("promoted", "rejected")
    served = {p for p, v in parts.items() if v["champion_version"]}
    assert served == {p for p, v in parts.items() if v["promoted"]}
    assert served, "the gate refused every store"
    forecast = storage.read_frame(summary["forecast"])
    assert {f"store_id-{s}" for s in forecast["store_id"].unique()} == served
    assert forecast.height == 6 * 14 * len(served)


def test_no_secret_reaches_a_log_param_tag_artifact_or_output(
    airflow_env: dict[str, str],
    s3_client_env: mlflow.MlflowClient,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """After the runs above (training, rejected challenger, inference, partitioned): the S3
    secret the workers hold and the token in their tracking URI are nowhere."""
    client = s3_client_env
    # `airflow dags test` runs the tasks in its own process and prints their logs.
    assert any("ingested" in printed for printed in PRINTED), "run after the DAG tests"
    texts = list(PRINTED)
    logs = Path(airflow_env["AIRFLOW_HOME"]) / "logs"
    texts += [p.read_text(errors="replace") for p in logs.rglob("*") if p.is_file()]
    # Everything in the bucket: the pipeline's outputs and MLflow's artifacts, logged models
    # (the pyfunc model, its bundle) included.
    bucket = f"s3://{BUCKET}"
    blobs = [storage.read_bytes(f"{bucket}/{name}") for name in storage.list(bucket)]
    assert any(name.startswith("pipeline/") for name in storage.list(bucket))
    runs = client.search_runs([e.experiment_id for e in client.search_experiments()])
    assert runs
    for run in runs:
        texts += [json.dumps(run.data.params), json.dumps(run.data.tags)]
        folder = mlflow.artifacts.download_artifacts(
            run_id=run.info.run_id, dst_path=str(tmp_path / run.info.run_id)
        )
        blobs += [p.read_bytes() for p in Path(folder).rglob("*") if p.is_file()]
    experiments = [e.experiment_id for e in client.search_experiments()]
    for logged in client.search_logged_models(experiment_ids=experiments):
        texts += [json.dumps(logged.params), json.dumps(logged.tags)]
    for model in client.search_registered_models():
        for version in client.search_model_versions(f"name = '{model.name}'"):
            texts.append(json.dumps(dict(version.tags)))
    # An error with the tracking server down names the server, not the token.
    from salesforecast import tracking

    closed = with_token(f"http://127.0.0.1:{free_port()}")
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    # MLflow keeps the URI it is given (in a global and the environment): put both back after.
    monkeypatch.setenv("MLFLOW_TRACKING_URI", os.environ.get("MLFLOW_TRACKING_URI", ""))
    try:
        with pytest.raises(tracking.TrackingError) as raised:
            tracking.champion("sales_forecast", tracking_uri=closed)
    finally:
        mlflow.set_tracking_uri(None)
    texts += [str(raised.value), caplog.text]
    assert "127.0.0.1" in str(raised.value)
    for secret in (SECRET_KEY, URI_TOKEN):
        assert not [t[max(0, t.find(secret) - 400) :][:600] for t in texts if secret in t]
        assert not [
            b[max(0, b.find(secret.encode()) - 400) :][:600] for b in blobs if secret.encode() in b
        ]
    assert len(blobs) > 20
