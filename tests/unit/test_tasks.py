"""The pipeline's steps as plain functions, without Airflow: settings, ingest and its
partitions, validation that stops a run, tuning that a retry resumes, training and evaluation
outputs confined to the run's folder."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import optuna
import polars as pl
import pytest

import salesforecast as sf
from salesforecast import storage, tasks
from salesforecast.errors import InvalidArgumentError, ValidationError

SMALL = {
    "n_stores": 2,
    "n_products": 3,
    "start": "2022-07-01",
    "end": "2023-06-30",
    "horizon": 7,
    "models": ["lightgbm", "seasonal_naive"],
    "cv_windows": 2,
}


def cfg(root: Path, **overrides: Any) -> dict[str, Any]:
    return tasks.config(storage_root=str(root), run_id="manual__2026-12-01T10:00:00+00:00",
                        **{**SMALL, **overrides})  # fmt: skip


def test_config_refuses_what_it_does_not_know(tmp_path: Path) -> None:
    with pytest.raises(InvalidArgumentError, match="n_store"):
        tasks.config(n_store=3)
    with pytest.raises(InvalidArgumentError, match="prophet"):
        tasks.config(models=["lightgbm", "prophet"])
    with pytest.raises(InvalidArgumentError, match="horizon"):
        tasks.config(horizon=0)
    settings = cfg(tmp_path, id_col="store_id, product_id")
    assert settings["id_col"] == ["store_id", "product_id"]
    # The synthetic source declares the generator's columns, its price relative.
    assert "promo" in settings["known_future"]
    assert settings["relative"] == ["price"]
    # A narrower known_future of the user's leaves no relative column it does not have.
    assert cfg(tmp_path, known_future=["promo"])["relative"] == []


def test_run_outputs_live_under_the_run_folder(tmp_path: Path) -> None:
    settings = cfg(tmp_path)
    root = tasks.run_root(settings)
    assert root.startswith(str(tmp_path / "runs" / "manual" / "manual__2026"))
    assert ":" not in Path(root).name
    assert "+" not in Path(root).name


def test_ingest_writes_one_partition_per_value(tmp_path: Path) -> None:
    settings = cfg(tmp_path, partition_by="store_id")
    out = tasks.ingest(settings)
    labels = [tasks._label(p) for p in out["partitions"]]
    assert labels == ["store_id-S01", "store_id-S02"]
    rows = 0
    for part in out["partitions"]:
        frame = storage.read_frame(part["data"])
        assert frame["store_id"].unique().to_list() == [part["value"]]
        future = storage.read_frame(part["future"])
        # The known future: the horizon after `end`, for the partition's own series.
        assert future.height == 3 * 7
        assert str(future["date"].min()) == "2023-07-01"
        rows += frame.height
    assert rows == out["rows"]
    with pytest.raises(InvalidArgumentError, match="`region`"):
        tasks.ingest(cfg(tmp_path, partition_by="region"))


def test_partition_values_that_differ_in_unsafe_characters_stay_apart(tmp_path: Path) -> None:
    panel = sf.generate_sales(n_stores=2, n_products=2, start="2023-01-01", end="2023-03-31")
    panel = panel.with_columns(
        pl.col("store_id").replace({"S01": "North/East", "S02": "North_East"})
    )
    source = tmp_path / "sales.csv"
    panel.write_csv(source)
    settings = cfg(tmp_path, source=str(source), partition_by="store_id")
    parts = tasks.ingest(settings)["partitions"]
    files = {p["data"] for p in parts}
    names = {tasks._registered_name(settings, p) for p in parts}
    assert len(files) == 2
    assert len(names) == 2
    assert "sales_forecast.North_East" in names  # a safe value keeps its own name
    for part in parts:
        assert storage.read_frame(part["data"])["store_id"].unique().to_list() == [part["value"]]


def test_validate_stops_the_run_on_errors_and_keeps_the_report(tmp_path: Path) -> None:
    settings = cfg(tmp_path)
    (part,) = tasks.ingest(settings)["partitions"]
    assert tasks.validate(settings, part)["validation"].endswith("validation/all.json")
    frame = storage.read_frame(part["data"])
    storage.write_frame(pl.concat([frame, frame.head(3)]), part["data"])  # duplicated rows
    with pytest.raises(ValidationError, match="failed validation"):
        tasks.validate(settings, part)
    report = json.loads(storage.read_bytes(tasks._out(settings, "validation", "all.json")))
    assert not report["ok"]
    assert [i["check"] for i in report["issues"] if i["severity"] == "error"] == ["duplicate_keys"]


def test_a_retried_tune_resumes_its_study(tmp_path: Path) -> None:
    settings = cfg(tmp_path, n_trials=2, optuna_storage=f"sqlite:///{tmp_path / 'optuna.db'}")
    (part,) = tasks.ingest(settings)["partitions"]
    first = tasks.tune(settings, part, "lightgbm")
    assert first["n_trials"] == 2
    assert set(first["params"]) >= {"num_leaves", "learning_rate"}
    again = tasks.tune(settings, part, "lightgbm")  # the retry of a finished task
    assert again["n_trials"] == 2
    assert again["params"] == first["params"]
    more = tasks.tune({**settings, "n_trials": 3}, part, "lightgbm")
    assert more["n_trials"] == 3
    (study,) = optuna.get_all_study_summaries(settings["optuna_storage"])
    assert study.n_trials == 3
    assert tasks.tune(settings, part, "seasonal_naive")["params"] == {}


def test_a_study_without_storage_says_a_retry_starts_over(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.delenv("OPTUNA_STORAGE", raising=False)
    settings = cfg(tmp_path, n_trials=1)
    (part,) = tasks.ingest(settings)["partitions"]
    with caplog.at_level(logging.INFO, logger=tasks.log.name):
        assert tasks.tune(settings, part, "lightgbm")["n_trials"] == 1
    assert "is kept in memory: a retried task starts its 1 trial(s) over" in caplog.text


def test_train_and_evaluate_write_only_their_own_outputs(tmp_path: Path) -> None:
    settings = cfg(tmp_path)
    (part,) = tasks.ingest(settings)["partitions"]
    trained = tasks.train(settings, part)
    fc = sf.Forecaster.load(trained["bundle"], digest=trained["digest"])
    assert fc.horizon == 7
    evaluated = tasks.evaluate_partition(settings, trained)
    assert {"lightgbm", "seasonal_naive", "ensemble"} <= set(evaluated["metrics"])
    assert "wape" in evaluated["metrics"]["ensemble"]
    root = tasks.run_root(settings)
    before = {n: storage.read_bytes(f"{root}/{n}") for n in storage.list(root)}
    tasks.train(settings, part)  # a retry
    changed = {
        n for n in storage.list(root)
        if n not in before or storage.read_bytes(f"{root}/{n}") != before[n]
    }  # fmt: skip
    assert changed
    assert all(n.startswith(("models/all/", "backtests/all")) for n in changed)
