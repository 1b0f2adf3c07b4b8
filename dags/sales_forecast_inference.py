"""
### Sales forecast: batch inference

Daily, and whenever a training run finishes (the `salesforecast://sales_forecast/champion`
asset): reads the latest data (the source, columns, frequency and partitions of the last
training run, unless the trigger form says otherwise), forecasts the next horizon with the
current champion of each partition from the MLflow registry (its bundle digest checked), and
writes the forecasts under `{storage_root}/runs/sales_forecast_inference/{run_id}/` with the
model version in the file name and in a `model_version` column.
"""

from __future__ import annotations

import datetime as dt
import os
from typing import Any

from airflow.sdk import (
    Asset,
    AssetOrTimeSchedule,
    CronTriggerTimetable,
    Param,
    dag,
    task,
)

FORECASTS = Asset("salesforecast://sales_forecast/champion")


@dag(
    dag_id="sales_forecast_inference",
    schedule=AssetOrTimeSchedule(
        timetable=CronTriggerTimetable("0 5 * * *", timezone="UTC"), assets=[FORECASTS]
    ),
    start_date=dt.datetime(2026, 1, 1, tzinfo=dt.UTC),
    catchup=False,
    max_active_runs=1,
    tags=["salesforecast", "inference"],
    doc_md=__doc__,
    params={
        "source": Param(
            None,
            type=["null", "string"],
            description="`synthetic` or a data URI; empty: the last training run's source",
        ),
        "horizon": Param(
            None,
            type=["null", "integer"],
            minimum=1,
            description="Periods to forecast; empty: the last training run's horizon",
        ),
        "storage_root": Param(
            os.environ.get("SALESFORECAST_STORAGE_ROOT", ".local/store"),
            type="string",
            description="Where outputs go: s3://bucket/prefix or a local folder",
        ),
    },
    default_args={
        "owner": "forecasting",
        "retries": 2,
        "retry_delay": dt.timedelta(seconds=30),
        "retry_exponential_backoff": True,
    },
)
def sales_forecast_inference() -> None:
    @task
    def settings(**context: Any) -> dict[str, Any]:
        from salesforecast import tasks

        # Source, columns, frequency and partitions are those of the last training run.
        return tasks.inference_config(
            dag_id=context["dag"].dag_id, run_id=context["run_id"], **context["params"]
        )

    @task
    def ingest(cfg: dict[str, Any]) -> list[dict[str, Any]]:
        from salesforecast import tasks

        return [tasks.champion_of(cfg, p) for p in tasks.ingest(cfg)["partitions"]]

    @task
    def forecast(cfg: dict[str, Any], partition: dict[str, Any]) -> dict[str, Any]:
        from salesforecast import tasks

        return tasks.forecast(cfg, partition)

    @task
    def combine(cfg: dict[str, Any], results: list[dict[str, Any]]) -> dict[str, Any]:
        from salesforecast import tasks

        return tasks.combine(cfg, list(results))

    cfg = settings()
    combine(cfg, forecast.partial(cfg=cfg).expand(partition=ingest(cfg)))


sales_forecast_inference()
