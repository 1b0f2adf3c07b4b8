"""The real Airflow runtime, as `astro dev start` runs it: `airflow api-server`, `scheduler` and
`dag-processor` with the LocalExecutor on 127.0.0.1, metadata in PostgreSQL (Debian's package),
MLflow with its Postgres backend store, Optuna studies in Postgres and every output on the s3s-fs
S3 server. The training DAG is triggered through the REST API, as the UI's trigger button does,
with ``partition_by=store_id``."""

from __future__ import annotations

import json
import os
import secrets
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import mlflow
import optuna
import polars as pl
import pytest

from salesforecast import bundle, storage, tasks
from tests.integration.test_pipeline import SMALL
from tests.servers import (
    BUCKET,
    MlflowServer,
    PostgresServer,
    S3Server,
    free_port,
    mlflow_server,
    postgres_server,
    venv_env,
    wait_for,
)

DAGS = Path(__file__).resolve().parents[2] / "dags"
ROOT = f"s3://{BUCKET}/runtime"
DAG_ID = "sales_forecast_training"
# The pipeline test's panel (3 stores of 6 products), split by store: one forecaster,
# registered model and gate decision per store.
CONF = {**SMALL, "partition_by": "store_id", "storage_root": ROOT}
USER = "admin"


@pytest.fixture(scope="module")
def postgres() -> Iterator[PostgresServer]:
    with postgres_server(["airflow", "mlflow", "optuna"]) as running:
        yield running


@pytest.fixture(scope="module")
def registry(
    postgres: PostgresServer, s3: S3Server, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[MlflowServer]:
    with mlflow_server(
        tmp_path_factory.mktemp("mlflow-runtime"), s3, postgres.url("mlflow")
    ) as running:
        yield running


@dataclass
class Airflow:
    url: str
    token: str
    processes: dict[str, subprocess.Popen[bytes]]
    logs: Path

    def call(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        request = urllib.request.Request(
            f"{self.url}{path}",
            method=method,
            data=None if body is None else json.dumps(body).encode(),
            headers={"Authorization": f"Bearer {self.token}", "Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=30) as response:
            return json.loads(response.read())

    def log_tails(self) -> str:
        return "\n".join(
            f"--- {log.name}\n{log.read_text(errors='replace')[-3000:]}"
            for log in sorted(self.logs.glob("*.log"))
        )


def _stop(process: subprocess.Popen[bytes]) -> None:
    try:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(30)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(10)
    except ProcessLookupError:
        pass


@pytest.fixture(scope="module")
def airflow(
    postgres: PostgresServer,
    registry: MlflowServer,
    s3: S3Server,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Airflow]:
    home = tmp_path_factory.mktemp("airflow-runtime")
    password = secrets.token_urlsafe(16)
    (home / "passwords.json").write_text(json.dumps({USER: password}))
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = {
        **venv_env(),
        **s3.env(),
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(DAGS),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
        # Two cores: four task processes at a time.
        "AIRFLOW__CORE__PARALLELISM": "4",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": postgres.url("airflow"),
        "AIRFLOW__API__BASE_URL": base,
        "AIRFLOW__API__PORT": str(port),
        "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{base}/execution/",
        "AIRFLOW__API_AUTH__JWT_SECRET": secrets.token_hex(32),
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": f"{USER}:admin",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(home / "passwords.json"),
        "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "5",
        "AIRFLOW__SCHEDULER__SCHEDULER_HEARTBEAT_SEC": "1",
        # Unpausing a weekly DAG would also start its latest scheduled run (on the defaults:
        # 50 series); here only the triggered run runs.
        "AIRFLOW__SCHEDULER__USE_JOB_SCHEDULE": "False",
        "SALESFORECAST_STORAGE_ROOT": ROOT,
        "MLFLOW_TRACKING_URI": registry.uri,
        # A stopped server fails the task within seconds; Airflow's retry is the retry.
        "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "1",
        "OPTUNA_STORAGE": postgres.url("optuna"),
    }
    airflow_bin = str(Path(sys.executable).with_name("airflow"))
    migrated = subprocess.run(
        [airflow_bin, "db", "migrate"], env=env, capture_output=True, text=True
    )
    assert migrated.returncode == 0, migrated.stdout[-3000:] + migrated.stderr[-3000:]
    commands = {
        "api-server": ["api-server", "--host", "127.0.0.1", "--port", str(port), "--workers", "1"],
        "scheduler": ["scheduler"],
        "dag-processor": ["dag-processor"],
    }
    processes: dict[str, subprocess.Popen[bytes]] = {}
    try:
        for name, args in commands.items():
            with open(home / f"{name}.log", "wb") as out:
                processes[name] = subprocess.Popen(
                    [airflow_bin, *args],
                    env=env,
                    stdout=out,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )
        wait_for(f"{base}/api/v2/monitor/health", processes["api-server"], 120,
                 home / "api-server.log")  # fmt: skip
        login = urllib.request.Request(
            f"{base}/auth/token",
            data=json.dumps({"username": USER, "password": password}).encode(),
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(login, timeout=30) as response:
            token = json.loads(response.read())["access_token"]
        yield Airflow(base, token, processes, home)
    finally:
        for process in processes.values():
            _stop(process)


def _wait_for_dag(airflow: Airflow, timeout: float) -> None:
    """The DAG processor has parsed the DAG into the metadata database."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            airflow.call("GET", f"/api/v2/dags/{DAG_ID}")
            return
        except urllib.error.HTTPError as error:
            if error.code != 404:
                raise
        time.sleep(1)
    raise AssertionError(f"{DAG_ID} not parsed within {timeout} s\n{airflow.log_tails()}")


def _wait_for_run(airflow: Airflow, run_id: str, timeout: float) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for name, process in airflow.processes.items():
            assert process.poll() is None, f"{name} exited\n{airflow.log_tails()}"
        state = airflow.call("GET", f"/api/v2/dags/{DAG_ID}/dagRuns/{run_id}")["state"]
        if state in ("success", "failed"):
            return str(state)
        time.sleep(2)
    raise AssertionError(f"run {run_id} not finished within {timeout} s\n{airflow.log_tails()}")


def test_training_dag_on_the_real_runtime(
    airflow: Airflow, registry: MlflowServer, postgres: PostgresServer, s3_env: S3Server
) -> None:
    _wait_for_dag(airflow, 120)
    airflow.call("PATCH", f"/api/v2/dags/{DAG_ID}", {"is_paused": False})
    started = time.monotonic()
    run = airflow.call(
        "POST", f"/api/v2/dags/{DAG_ID}/dagRuns", {"logical_date": None, "conf": CONF}
    )
    state = _wait_for_run(airflow, run["dag_run_id"], 900)
    elapsed = time.monotonic() - started
    instances = airflow.call(
        "GET", f"/api/v2/dags/{DAG_ID}/dagRuns/{run['dag_run_id']}/taskInstances?limit=200"
    )["task_instances"]
    failed = [(t["task_id"], t["map_index"], t["state"]) for t in instances
              if t["state"] != "success"]  # fmt: skip
    assert state == "success", f"{failed}\n{airflow.log_tails()}"
    assert not failed
    # Nothing needed a retry (mapped tune tasks once collided creating Optuna's tables).
    retried = [(t["task_id"], t["map_index"]) for t in instances if t["try_number"] != 1]
    assert not retried, f"{retried}\n{airflow.log_tails()}"
    print(f"\nreal runtime: {len(instances)} task instances in {elapsed:.0f} s")
    runs = airflow.call("GET", f"/api/v2/dags/{DAG_ID}/dagRuns")["dag_runs"]
    assert [r["dag_run_id"] for r in runs] == [run["dag_run_id"]]

    # Each partition is its own mapped task instance of every per-partition step, and each task
    # instance ran in its own worker process, none of them inside the scheduler.
    mapped = [t for t in instances if t["map_index"] >= 0]
    per_task: dict[str, int] = {}
    for t in mapped:
        per_task[t["task_id"]] = per_task.get(t["task_id"], 0) + 1
    stores = CONF["n_stores"]
    assert per_task == {
        "validate": stores,
        "tune": stores * len(CONF["models"]),  # type: ignore[arg-type]
        "train": stores,
        "evaluate": stores,
        "register": stores,
        "promote": stores,
        "forecast": stores,
    }
    pids = [t["pid"] for t in instances]
    assert all(isinstance(p, int) and p > 0 for p in pids), pids
    assert len(set(pids)) == len(instances)
    assert not set(pids) & {p.pid for p in airflow.processes.values()}

    # Optuna trials of each tuned booster live in the shared Postgres study.
    studies = optuna.get_all_study_summaries(postgres.url("optuna"))
    tuned = [s for s in studies if s.study_name.endswith(".lightgbm")]
    assert len(tuned) == stores
    assert all(s.n_trials == CONF["n_trials"] for s in tuned)

    # One registered model per store, each with a gate decision.
    mlflow.set_tracking_uri(registry.uri)
    client = mlflow.MlflowClient()
    for store in ("S01", "S02", "S03"):
        versions = client.search_model_versions(f"name = 'sales_forecast.{store}'")
        assert [v.version for v in versions] == ["1"]
        assert versions[0].tags["gate.decision"] in ("promoted", "rejected")

    # The combined forecast of the stores that have a champion, in S3.
    base = f"{ROOT}/runs/{DAG_ID}"
    (summary_name,) = [n for n in storage.list(base) if n.endswith("/summary.json")]
    summary = json.loads(storage.read_bytes(f"{base}/{summary_name}"))
    assert summary["run_id"] == run["dag_run_id"]
    served = {p["partition"] for p in summary["partitions"] if p["champion_version"]}
    assert served, "the gate refused every store"
    forecast = storage.read_frame(summary["forecast"])
    assert {f"store_id-{s}" for s in forecast["store_id"].unique()} == served
    assert forecast.height == CONF["n_products"] * CONF["horizon"] * len(served)  # type: ignore[operator]
    assert forecast["ensemble"].is_finite().all()


# One unpartitioned forecaster, untuned: the faults below hit its train and register tasks.
FAULTS_CONF = {**SMALL, "n_trials": 0, "storage_root": f"s3://{BUCKET}/runtime-faults"}
FAULTS_KEY = "{dag}/{run}/all"


def _instance(airflow: Airflow, run_id: str, task_id: str) -> dict[str, Any] | None:
    instances = airflow.call(
        "GET", f"/api/v2/dags/{DAG_ID}/dagRuns/{run_id}/taskInstances?limit=200"
    )["task_instances"]
    return next((t for t in instances if t["task_id"] == task_id), None)


def _wait_for_task(
    airflow: Airflow, run_id: str, task_id: str, states: set[str], timeout: float
) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        instance = _instance(airflow, run_id, task_id)
        if instance and instance["state"] in states and instance["pid"]:
            return instance
        if instance and instance["state"] in states - {"running"}:
            return instance
        time.sleep(0.2)
    raise AssertionError(f"{task_id} not {states} within {timeout} s\n{airflow.log_tails()}")


def _task_log(airflow: Airflow, run_id: str, task_id: str, attempt: int) -> Path:
    return (
        airflow.logs / "logs" / f"dag_id={DAG_ID}" / f"run_id={run_id}" / f"task_id={task_id}"
        / "map_index=0" / f"attempt={attempt}.log"
    )  # fmt: skip


def _wait_for_log(
    airflow: Airflow, run_id: str, task_id: str, attempt: int, text: str, timeout: float
) -> None:
    log = _task_log(airflow, run_id, task_id, attempt)
    deadline = time.monotonic() + timeout
    while not (log.exists() and text in log.read_text(errors="replace")):
        assert time.monotonic() < deadline, f"{text!r} not in {log}\n{airflow.log_tails()}"
        time.sleep(0.1)


def _trigger(airflow: Airflow, conf: dict[str, Any]) -> str:
    body = {"logical_date": None, "conf": conf}
    return str(airflow.call("POST", f"/api/v2/dags/{DAG_ID}/dagRuns", body)["dag_run_id"])


def _tries(airflow: Airflow, run_id: str, task_id: str) -> int:
    instance = _instance(airflow, run_id, task_id)
    assert instance is not None, task_id
    return int(instance["try_number"])


def _outputs(run_id: str) -> tuple[pl.DataFrame, dict[str, bytes]]:
    """The run's forecast (without the version that made it) and its trained booster files."""
    base = tasks.run_root(tasks.config(dag_id=DAG_ID, run_id=run_id, **FAULTS_CONF))
    forecast = storage.read_frame(f"{base}/forecast.parquet").drop("model_version")
    files = bundle.read(f"{base}/models/all").files
    return forecast, {name: data for name, data in files.items() if name.endswith(".txt")}


def _runs_with_key(client: mlflow.MlflowClient, key: str) -> list[Any]:
    experiments = [e.experiment_id for e in client.search_experiments()]
    return client.search_runs(experiments, filter_string=f"tags.sf_run_key = '{key}'")


def test_killed_training_stopped_registry_and_a_whole_rerun(
    airflow: Airflow, registry: MlflowServer, s3_env: S3Server
) -> None:
    """SIGKILL of the training task mid-fit and the MLflow server stopped while the register
    task logs: each task fails, its Airflow retry succeeds, and the run trains the same models
    as an undisturbed run. Clearing the whole run then reruns every task without a second MLflow
    run or model version, and with the same outputs."""
    _wait_for_dag(airflow, 120)
    airflow.call("PATCH", f"/api/v2/dags/{DAG_ID}", {"is_paused": False})
    mlflow.set_tracking_uri(registry.uri)
    client = mlflow.MlflowClient()
    disturbed = _trigger(airflow, FAULTS_CONF)
    key = FAULTS_KEY.format(dag=DAG_ID, run=disturbed)

    train = _wait_for_task(airflow, disturbed, "train", {"running"}, 600)
    assert train["state"] == "running", train
    # Mid-fit: once the first backtest window's booster is fitted.
    _wait_for_log(airflow, disturbed, "train", 1, "fitted LightGBM", 300)
    try:
        os.kill(train["pid"], signal.SIGKILL)
    except ProcessLookupError:
        pytest.fail("the train task finished its backtest before it could be killed")
    _wait_for_task(airflow, disturbed, "train", {"up_for_retry", "failed"}, 120)

    register = _wait_for_task(airflow, disturbed, "register", {"running"}, 900)
    assert register["state"] == "running", register
    # Stopped once the task has opened its MLflow run, before it registers the model.
    deadline = time.monotonic() + 120
    while not _runs_with_key(client, key):
        assert time.monotonic() < deadline, airflow.log_tails()
        time.sleep(0.2)
    # Killed, as a crash would: requests in flight are cut, not finished.
    os.killpg(registry.process.pid, signal.SIGKILL)
    registry.process.wait(30)
    try:
        _wait_for_task(airflow, disturbed, "register", {"up_for_retry", "failed"}, 300)
    finally:
        registry.start()
    assert _wait_for_run(airflow, disturbed, 900) == "success", airflow.log_tails()

    assert _tries(airflow, disturbed, "train") == _tries(airflow, disturbed, "register") == 2
    failure = _task_log(airflow, disturbed, "register", 1).read_text()
    assert "TrackingError" in failure, failure[-3000:]
    assert f"MLflow at {registry.uri}" in failure, failure[-3000:]
    assert len(_runs_with_key(client, key)) == 1
    keyed = f"name = 'sales_forecast' and tags.sf_run_key = '{key}'"
    assert [v.version for v in client.search_model_versions(keyed)] == ["1"]

    # An undisturbed run of the same settings trains the same boosters and forecasts the same.
    calm = _trigger(airflow, FAULTS_CONF)
    assert _wait_for_run(airflow, calm, 900) == "success", airflow.log_tails()
    forecast, boosters = _outputs(disturbed)
    calm_forecast, calm_boosters = _outputs(calm)
    assert boosters
    assert boosters == calm_boosters
    assert forecast.equals(calm_forecast)

    # The whole disturbed run again, every task cleared: the same run and version, same outputs.
    airflow.call(
        "POST",
        f"/api/v2/dags/{DAG_ID}/clearTaskInstances",
        {"dag_run_id": disturbed, "dry_run": False, "only_failed": False, "reset_dag_runs": True},
    )
    deadline = time.monotonic() + 60
    while airflow.call("GET", f"/api/v2/dags/{DAG_ID}/dagRuns/{disturbed}")["state"] == "success":
        assert time.monotonic() < deadline, "clearing did not restart the run"
        time.sleep(0.5)
    assert _wait_for_run(airflow, disturbed, 900) == "success", airflow.log_tails()
    assert _tries(airflow, disturbed, "train") == 3
    assert len(_runs_with_key(client, key)) == 1
    all_versions = client.search_model_versions("name = 'sales_forecast'")
    assert sorted(v.version for v in all_versions) == ["1", "2"]
    again, again_boosters = _outputs(disturbed)
    assert again_boosters == boosters
    assert again.equals(forecast)
