"""
### Sales forecast: training

Weekly: ingest (synthetic data or a CSV/parquet URI) -> validate (the run fails on error-level
issues; the report is saved) -> tune each booster (mapped over partitions x models) -> train and
backtest (ensemble, conformal intervals) -> evaluate (metrics, charts, HTML report) -> log to
MLflow and register the challenger -> promote (the gate) -> forecast the next horizon with the
champion -> combine the partitions' forecasts and metrics.

Every task is one call into `salesforecast.tasks`; XCom carries URIs and small dicts. Outputs go
under `{storage_root}/runs/{dag_id}/{run_id}/`, so a retried task overwrites only its own output
and a rerun of the same DAG run registers no second model version. With `partition_by` (e.g.
`store_id`) each partition is its own forecaster and the mapped tasks spread over the workers of
a Celery or Kubernetes executor.
"""

from __future__ import annotations

import datetime as dt
import os
from typing import Any

from airflow.sdk import Asset, Param, dag, task

# Emitted when a run has finished: the inference DAG is scheduled on it as well as daily.
FORECASTS = Asset("salesforecast://sales_forecast/champion")

PARAMS = {
    "source": Param(
        "synthetic",
        type="string",
        description="`synthetic` (generated panel) or the URI of a CSV/parquet sales table "
        "(s3://bucket/key or a path)",
    ),
    "id_col": Param(["store_id", "product_id"], type="array", description="Series key column(s)"),
    "time_col": Param("date", type="string", description="Time column"),
    "target_col": Param("sales", type="string", description="Target column"),
    "freq": Param("1d", type="string", description="Frequency: 1d, 1w, 1mo, ..."),
    "horizon": Param(28, type="integer", minimum=1, description="Periods to forecast"),
    "models": Param(
        ["lightgbm", "xgboost", "seasonal_naive"],
        type="array",
        description="Models: lightgbm, xgboost, seasonal_naive, naive, moving_average",
    ),
    "n_trials": Param(
        0, type="integer", minimum=0, description="Optuna trials per booster (0: no tuning)"
    ),
    "metric": Param(
        "mase",
        type="string",
        enum=["mase", "rmsse", "wape", "mae", "rmse", "smape", "mape"],
        description="Metric for tuning and the promotion gate",
    ),
    "min_improvement": Param(
        0.01,
        type="number",
        minimum=0,
        maximum=0.99,
        description="Relative improvement over the champion needed to promote",
    ),
    "partition_by": Param(
        None,
        type=["null", "string"],
        description="Column whose values each get their own forecaster (e.g. store_id)",
    ),
    "n_stores": Param(5, type="integer", minimum=1, description="Synthetic source: stores"),
    "n_products": Param(10, type="integer", minimum=1, description="Synthetic source: products"),
    "end": Param("2023-12-31", type="string", description="Synthetic source: last date"),
    "storage_root": Param(
        os.environ.get("SALESFORECAST_STORAGE_ROOT", ".local/store"),
        type="string",
        description="Where outputs go: s3://bucket/prefix or a local folder",
    ),
}


@dag(
    dag_id="sales_forecast_training",
    schedule="@weekly",
    start_date=dt.datetime(2026, 1, 1, tzinfo=dt.UTC),
    catchup=False,
    max_active_runs=1,
    tags=["salesforecast", "training"],
    params=PARAMS,
    doc_md=__doc__,
    default_args={
        "owner": "forecasting",
        "retries": 2,
        "retry_delay": dt.timedelta(seconds=30),
        "retry_exponential_backoff": True,
        "max_retry_delay": dt.timedelta(minutes=10),
    },
)
def sales_forecast_training() -> None:
    @task
    def settings(**context: Any) -> dict[str, Any]:
        from salesforecast import tasks

        return tasks.config(
            dag_id=context["dag"].dag_id, run_id=context["run_id"], **context["params"]
        )

    @task
    def ingest(cfg: dict[str, Any]) -> list[dict[str, Any]]:
        from salesforecast import tasks

        return list(tasks.ingest(cfg)["partitions"])

    @task
    def validate(cfg: dict[str, Any], partition: dict[str, Any]) -> dict[str, Any]:
        from salesforecast import tasks

        return tasks.validate(cfg, partition)

    @task
    def model_names(cfg: dict[str, Any]) -> list[str]:
        return list(cfg["models"])

    @task
    def tune(cfg: dict[str, Any], partition: dict[str, Any], model: str) -> dict[str, Any]:
        from salesforecast import tasks

        return tasks.tune(cfg, partition, model)

    @task
    def train(
        cfg: dict[str, Any], partition: dict[str, Any], tuned: list[dict[str, Any]]
    ) -> dict[str, Any]:
        from salesforecast import tasks

        return tasks.train(cfg, partition, list(tuned))

    @task
    def evaluate(cfg: dict[str, Any], trained: dict[str, Any]) -> dict[str, Any]:
        from salesforecast import tasks

        return tasks.evaluate_partition(cfg, trained)

    @task
    def register(cfg: dict[str, Any], evaluated: dict[str, Any]) -> dict[str, Any]:
        from salesforecast import tasks

        return tasks.register(cfg, evaluated)

    @task
    def promote(cfg: dict[str, Any], registered: dict[str, Any]) -> dict[str, Any]:
        from salesforecast import tasks

        return tasks.promote(cfg, registered)

    @task
    def forecast(cfg: dict[str, Any], promoted: dict[str, Any]) -> dict[str, Any]:
        from salesforecast import tasks

        return tasks.forecast(cfg, promoted)

    @task(outlets=[FORECASTS])
    def combine(cfg: dict[str, Any], results: list[dict[str, Any]]) -> dict[str, Any]:
        from salesforecast import tasks

        return tasks.combine(cfg, list(results))

    cfg = settings()
    partitions = validate.partial(cfg=cfg).expand(partition=ingest(cfg))
    tuned = tune.partial(cfg=cfg).expand(partition=partitions, model=model_names(cfg))
    trained = train.partial(cfg=cfg, tuned=tuned).expand(partition=partitions)
    evaluated = evaluate.partial(cfg=cfg).expand(trained=trained)
    registered = register.partial(cfg=cfg).expand(evaluated=evaluated)
    promoted = promote.partial(cfg=cfg).expand(registered=registered)
    combine(cfg, forecast.partial(cfg=cfg).expand(promoted=promoted))


sales_forecast_training()
