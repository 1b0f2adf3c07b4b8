"""The steps of the training and inference pipelines as plain functions: each takes and returns
small JSON-able dicts and storage URIs, never data, so any scheduler (Airflow's TaskFlow tasks
here, a notebook, a test) can run them on any worker.

Everything a step writes goes under ``{storage_root}/runs/{dag_id}/{run_id}/``, named by the
step (and partition), so a retried step overwrites its own output and nothing else; the
registry is keyed by the same run, so a rerun registers no second version.

>>> config = tasks.config(storage_root=".local/store", run_id="manual-1")
>>> data = tasks.ingest(config)
>>> tasks.validate(config, data["partitions"][0])
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import os
import time
from collections.abc import Mapping, Sequence
from typing import Any

import polars as pl

from salesforecast import _json, _native, scenario, storage, tracking
from salesforecast.baselines import MovingAverage, Naive, SeasonalNaive
from salesforecast.config import whole
from salesforecast.data import generate_sales, parse_date, read_sales, time_split
from salesforecast.data import validate as validate_frame
from salesforecast.errors import InvalidArgumentError, SalesForecastError, ValidationError
from salesforecast.evaluation import check_improvement, check_metric
from salesforecast.features import FeatureSpec, Rolling, SeasonalRolling
from salesforecast.forecast import Forecaster
from salesforecast.models import LightGBM, XGBoost
from salesforecast.statistical import AutoETS, Theta

log = logging.getLogger(__name__)

tracking.quiet_mlflow()

__all__ = [
    "champion_of",
    "combine",
    "config",
    "evaluate_partition",
    "forecast",
    "inference_config",
    "ingest",
    "promote",
    "register",
    "train",
    "tune",
    "validate",
]

Config = dict[str, Any]
Partition = Mapping[str, Any]

MODELS = ("lightgbm", "xgboost", "auto_ets", "theta", "seasonal_naive", "naive", "moving_average")
# The generator's columns and their roles: what the synthetic source declares.
SYNTHETIC_ROLES = {
    "static_features": ["store_size", "category"],
    "known_future": ["price", "promo", "discount", "is_holiday", "is_closed"],
    "relative": ["price"],
}
DEFAULTS: Config = {
    "storage_root": ".local/store",
    "dag_id": "manual",
    "run_id": "run",
    "source": "synthetic",
    "n_stores": 5,
    "n_products": 10,
    "start": "2021-01-01",
    "end": "2023-12-31",
    "seed": 42,
    "id_col": ["store_id", "product_id"],
    "time_col": "date",
    "target_col": "sales",
    "freq": "1d",
    "horizon": 28,
    "models": ["lightgbm", "xgboost", "seasonal_naive"],
    "n_trials": 0,
    "cv_windows": 4,
    "metric": "mase",
    "min_improvement": 0.01,
    "partition_by": None,
    "model_name": "sales_forecast",
    "static_features": [],
    "known_future": [],
    # Known-future columns the models see relative to each series' usual value (a price).
    "relative": [],
    "optuna_storage": None,
}


def config(**overrides: Any) -> Config:
    """The pipeline settings: :data:`DEFAULTS` with ``overrides`` (unknown keys refused). The
    synthetic source declares the generator's static and known-future columns."""
    unknown = sorted(set(overrides) - set(DEFAULTS))
    if unknown:
        raise InvalidArgumentError(f"invalid argument {unknown}: not pipeline settings")
    out = {**DEFAULTS, **{k: v for k, v in overrides.items() if v is not None}}
    # The stack shares tuning studies through its Postgres (docker-compose.override.yml).
    out["optuna_storage"] = out["optuna_storage"] or os.environ.get("OPTUNA_STORAGE")
    for role in ("static_features", "known_future", "relative"):
        out[role] = _names(role, out[role])
    if out["source"] == "synthetic":
        for role, columns in SYNTHETIC_ROLES.items():
            out[role] = out[role] or columns
    # Only known-future columns can be relative (a user's narrower known_future wins).
    out["relative"] = [c for c in out["relative"] if c in out["known_future"]]
    out["id_col"] = _names("id_col", out["id_col"])
    out["models"] = _names("models", out["models"])
    bad = [m for m in out["models"] if m not in MODELS]
    if bad or not out["models"]:
        raise InvalidArgumentError(
            f"invalid argument `models`: {bad or '[]'}; choose from {MODELS}"
        )
    for name, minimum in _WHOLE_SETTINGS.items():
        out[name] = whole(name, _number(out[name]), minimum)
    if not isinstance(out["freq"], str):
        raise InvalidArgumentError(
            f"invalid argument `freq`: expected a string, got {out['freq']!r}"
        )
    out["freq"] = _native.parse_frequency(out["freq"])
    for name in ("start", "end"):
        out[name] = parse_date(name, out[name]).isoformat()
    if out["end"] < out["start"]:
        raise InvalidArgumentError(
            f"invalid argument `end`: {out['end']} is before start {out['start']}"
        )
    check_metric(out["metric"])
    out["min_improvement"] = check_improvement(_number(out["min_improvement"]))
    for name in (
        "storage_root",
        "dag_id",
        "run_id",
        "source",
        "time_col",
        "target_col",
        "model_name",
    ):
        if not isinstance(out[name], str) or not out[name]:
            raise InvalidArgumentError(
                f"invalid argument `{name}`: expected a non-empty string, got {out[name]!r}"
            )
    if out["partition_by"] is not None and not isinstance(out["partition_by"], str):
        raise InvalidArgumentError(
            f"invalid argument `partition_by`: expected a column name, got {out['partition_by']!r}"
        )
    return out


# Settings that are counts, with their least value.
_WHOLE_SETTINGS = {
    "n_stores": 1,
    "n_products": 1,
    "seed": 0,
    "horizon": 1,
    "n_trials": 0,
    "cv_windows": 1,
}


def _number(value: Any) -> Any:
    """A number given as text (Airflow's params, environment variables) as the number, and a
    whole float (a JSON number) as an int."""
    if isinstance(value, str):
        try:
            value = float(value) if any(c in value for c in ".eE") else int(value)
        except ValueError:
            return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def _names(name: str, value: Any) -> list[str]:
    """A list of names; a string is comma-separated names (as a command line gives them)."""
    if isinstance(value, str):
        value = [v.strip() for v in value.split(",") if v.strip()]
    if not isinstance(value, Sequence) or not all(isinstance(v, str) and v for v in value):
        raise InvalidArgumentError(
            f"invalid argument `{name}`: expected a list of names, got {value!r}"
        )
    return list(value)


TRAINING_DAG = "sales_forecast_training"


def latest_training(storage_root: str) -> str:
    """Where the settings of the last finished training run are kept."""
    return storage.join(storage_root, "latest", f"{TRAINING_DAG}.json")


def inference_config(dag_id: str, run_id: str, storage_root: str, **overrides: Any) -> Config:
    """Settings for a batch forecast: those of the last finished training run under
    ``storage_root`` (source, columns, frequency, partitions), with ``overrides`` that are not
    None. Without a training run, the defaults."""
    trained: Config = {}
    if storage.exists(latest_training(storage_root)):
        trained = json.loads(storage.read_bytes(latest_training(storage_root)))
    chosen = {k: v for k, v in {**trained, **overrides}.items() if k in DEFAULTS}
    return config(**{**chosen, "dag_id": dag_id, "run_id": run_id, "storage_root": storage_root})


def run_root(cfg: Config) -> str:
    """Where this run's outputs go."""
    return storage.join(cfg["storage_root"], "runs", cfg["dag_id"], _safe(cfg["run_id"]))


def _safe(text: Any) -> str:
    """A run id or partition value as one path segment (letters, digits, `-_.` only: some S3
    servers mishandle `=` and `:` in keys)."""
    return "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in str(text))


def _out(cfg: Config, *parts: str) -> str:
    return storage.join(run_root(cfg), *parts)


def _segment(value: Any) -> str:
    """A partition value as a path segment and registered-model suffix: the value itself when
    it is safe, else its safe form and a hash of the original, so values that differ only in
    unsafe characters (``A/B``, ``A_B``) never share files or a registered model."""
    safe = _safe(value)
    if safe == str(value):
        return safe
    return f"{safe}_{hashlib.sha256(str(value).encode()).hexdigest()[:8]}"


def _label(partition: Partition) -> str:
    value = partition.get("value")
    return "all" if value is None else f"{_safe(partition['column'])}-{_segment(value)}"


# ----------------------------------------------------------------------------- training


def ingest(cfg: Config) -> dict[str, Any]:
    """Generates (``source="synthetic"``) or reads (a CSV/parquet URI) the data and writes it,
    one file per partition value when ``partition_by`` is set. Returns the partitions, each
    ``{"column", "value", "data"}``."""
    future: pl.DataFrame | None = None
    if cfg["source"] == "synthetic":
        # Generated one horizon past `end`: those periods' planned prices, promotions and
        # closures are the known future of the forecast; their sales are not used.
        full = generate_sales(
            n_stores=int(cfg["n_stores"]),
            n_products=int(cfg["n_products"]),
            start=cfg["start"],
            end=forecaster(cfg).shift(
                pl.Series([dt.date.fromisoformat(str(cfg["end"]))]), int(cfg["horizon"])
            )[0],
            freq=cfg["freq"],
            seed=int(cfg["seed"]),
        )
        end = pl.lit(cfg["end"]).str.to_date()
        df = full.filter(pl.col("date") <= end)
        future = full.filter(pl.col("date") > end).select(
            *cfg["id_col"], cfg["time_col"], *cfg["known_future"]
        )
    else:
        df = read_sales(
            cfg["source"],
            id_col=cfg["id_col"],
            time_col=cfg["time_col"],
            target_col=cfg["target_col"],
        )
    column = cfg["partition_by"]
    if column and column not in df.columns:
        raise InvalidArgumentError(
            f"invalid argument `partition_by`: column `{column}` is not in the data {df.columns}"
        )
    parts: list[dict[str, Any]] = []
    groups = df.partition_by(column, as_dict=True) if column else {(None,): df}
    for (value,), frame in sorted(groups.items(), key=lambda kv: str(kv[0][0])):
        partition: dict[str, Any] = {"column": column, "value": value}
        partition["data"] = storage.write_frame(
            frame, _out(cfg, "data", f"{_label(partition)}.parquet")
        )
        if future is not None:
            mine = future.join(frame.select(cfg["id_col"]).unique(), on=cfg["id_col"], how="semi")
            partition["future"] = storage.write_frame(
                mine, _out(cfg, "data", f"{_label(partition)}.future.parquet")
            )
        parts.append(partition)
    log.info("ingested %d rows, %d partition(s) under %s", df.height, len(parts), run_root(cfg))
    return {"rows": df.height, "partitions": parts}


def validate(cfg: Config, partition: Partition) -> dict[str, Any]:
    """Validates one partition's data, saves the report, and fails (``ValidationError``) on
    error-level issues."""
    df = storage.read_frame(partition["data"])
    report = validate_frame(
        df,
        id_col=cfg["id_col"],
        time_col=cfg["time_col"],
        target_col=cfg["target_col"],
        freq=cfg["freq"],
    )
    uri = _out(cfg, "validation", f"{_label(partition)}.json")
    storage.write_bytes(uri, _json.dumps(report.to_dict(), indent=2).encode())
    if not report.ok:
        raise ValidationError(f"{partition['data']} failed validation (report {uri}):\n{report}")
    return {**partition, "validation": uri, "warnings": len(report.warnings)}


def _models(cfg: Config, params: Mapping[str, Mapping[str, Any]] | None = None) -> list[Any]:
    params = params or {}
    out: list[Any] = []
    for name in cfg["models"]:
        own = dict(params.get(name, {}))
        if name == "lightgbm":
            out.append(LightGBM(**{"n_estimators": 200, "learning_rate": 0.05, **own}))
        elif name == "xgboost":
            out.append(
                XGBoost(**{"n_estimators": 200, "learning_rate": 0.05, "max_depth": 6, **own})
            )
        elif name == "auto_ets":
            out.append(AutoETS())
        elif name == "theta":
            out.append(Theta())
        elif name == "seasonal_naive":
            out.append(SeasonalNaive(season_length=_season(cfg)))
        elif name == "naive":
            out.append(Naive())
        else:
            out.append(MovingAverage(window=_season(cfg)))
    return out


def _season(cfg: Config) -> int:
    return _native.season_length_of(cfg["freq"])


def _spec(cfg: Config) -> FeatureSpec:
    season = _season(cfg)
    lags = sorted({1, 2, season, 2 * season} if season > 1 else {1, 2, 3})
    if season == 7:
        return FeatureSpec(
            lags=[7, 14, 28],
            rolling=[Rolling(window=7, stats=["mean", "std"], lag=7), Rolling(window=28, lag=7)],
            seasonal_rolling=[SeasonalRolling(season_length=7, window=4, lag=7)],
            calendar=["dayofweek", "month", "weekofyear", "holiday"],
            target_transforms=["log1p"],
            relative=cfg["relative"],
        )
    return FeatureSpec(lags=lags, rolling=[Rolling(window=season, lag=1)], relative=cfg["relative"])


def forecaster(cfg: Config, params: Mapping[str, Mapping[str, Any]] | None = None) -> Forecaster:
    """The pipeline's forecaster for these settings (``params``: tuned parameters by model)."""
    return Forecaster(
        _models(cfg, params),
        _spec(cfg),
        freq=cfg["freq"],
        horizon=int(cfg["horizon"]),
        cv_windows=int(cfg["cv_windows"]),
        season_length=_season(cfg),
        id_col=cfg["id_col"],
        time_col=cfg["time_col"],
        target_col=cfg["target_col"],
        static_features=cfg["static_features"],
        known_future=cfg["known_future"],
        # A task's log is Airflow's: the fits are logged, not printed to standard error.
        verbose=False,
    )


def _train_part(cfg: Config, partition: Partition) -> tuple[pl.DataFrame, pl.DataFrame]:
    """A partition's data and its training part: everything but the last horizon, which the
    gate scores the models on."""
    df = storage.read_frame(partition["data"])
    keep = [
        *cfg["id_col"],
        cfg["time_col"],
        cfg["target_col"],
        *cfg["static_features"],
        *cfg["known_future"],
    ]
    df = df.select([c for c in keep if c in df.columns])
    train, _ = time_split(
        df,
        test_periods=int(cfg["horizon"]),
        id_col=cfg["id_col"],
        time_col=cfg["time_col"],
        target_col=cfg["target_col"],
        freq=cfg["freq"],
    )
    return df, train


def tune(cfg: Config, partition: Partition, model: str) -> dict[str, Any]:
    """Tunes one booster of one partition (``n_trials`` Optuna trials on backtests of the
    training part; a shared RDB study when ``optuna_storage`` is set). Baselines and
    ``n_trials=0`` return no parameters."""
    out = {"partition": _label(partition), "model": model, "params": {}}
    if model not in ("lightgbm", "xgboost") or int(cfg["n_trials"]) < 1:
        return out
    import optuna

    from salesforecast.tuning import tune as run_tuning

    # Optuna's own stderr handler would make each trial an error line of the task log.
    optuna.logging.disable_default_handler()
    optuna.logging.enable_propagation()
    study_name = f"{cfg['dag_id']}.{_safe(cfg['run_id'])}.{_label(partition)}.{model}"
    cfg = {**cfg, "optuna_storage": _optuna_storage(cfg["optuna_storage"])}
    remaining = _trials_remaining(cfg, study_name)
    if cfg["optuna_storage"] is None:
        log.info(
            "study %s is kept in memory: a retried task starts its %d trial(s) over (set "
            "OPTUNA_STORAGE to an RDB URL to resume it)",
            study_name,
            remaining,
        )
    if remaining:
        _, train = _train_part(cfg, partition)
        study, _ = run_tuning(
            forecaster(cfg),
            train,
            n_trials=remaining,
            metric=cfg["metric"],
            models=[model],
            storage=cfg["optuna_storage"],
            study_name=study_name,
        )
    else:
        study = optuna.load_study(study_name=study_name, storage=cfg["optuna_storage"])
        if not any(t.state == optuna.trial.TrialState.COMPLETE for t in study.trials):
            raise SalesForecastError(
                f"no trial of study {study_name!r} completed ({len(study.trials)} pruned or "
                "failed); run more trials"
            )
    best = {k.split(".", 1)[1]: v for k, v in study.best_params.items()}
    return {
        **out,
        "params": best,
        "best_value": float(study.best_value),
        "n_trials": len(study.trials),
    }


def _optuna_storage(url: str | None) -> Any:
    """Optuna's storage at ``url`` (None: in memory). The first use of an empty database
    creates its tables, and mapped tune tasks starting together collide there (a unique
    violation on Postgres): the loser retries, by then the tables exist."""
    if url is None:
        return None
    import optuna
    from optuna.exceptions import StorageInternalError
    from sqlalchemy.exc import DBAPIError

    for attempt in range(3):
        try:
            return optuna.storages.RDBStorage(url)
        except (DBAPIError, StorageInternalError):
            log.info(
                "opening the Optuna storage failed (another task creating its tables?); retrying"
            )
            time.sleep(1 + attempt)
    return optuna.storages.RDBStorage(url)


def _trials_remaining(cfg: Config, study_name: str) -> int:
    """The trials still to run: a retried task resumes its study in the shared storage rather
    than adding another ``n_trials``."""
    wanted = int(cfg["n_trials"])
    if not cfg["optuna_storage"]:
        return wanted
    import optuna

    try:
        study = optuna.load_study(study_name=study_name, storage=cfg["optuna_storage"])
    except KeyError:  # not started yet
        return wanted
    finished = (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED)
    return max(0, wanted - sum(t.state in finished for t in study.trials))


def train(
    cfg: Config, partition: Partition, tuned: Sequence[Mapping[str, Any]] = ()
) -> dict[str, Any]:
    """Fits the partition's forecaster (tuned parameters where given), backtests it and saves
    the bundle and the backtest. Returns their URIs and the bundle's digest."""
    _, data = _train_part(cfg, partition)
    label = _label(partition)
    params = {t["model"]: t["params"] for t in tuned if t.get("partition", label) == label}
    fc = forecaster(cfg, params).fit(data)
    cv = fc.cross_validation(data, n_windows=2)
    digest = fc.save(_out(cfg, "models", label))
    cv_uri = storage.write_frame(cv, _out(cfg, "backtests", f"{label}.parquet"))
    return {
        **partition,
        "bundle": _out(cfg, "models", label),
        "digest": digest,
        "backtest": cv_uri,
        "params": params,
    }


def evaluate_partition(cfg: Config, trained: Mapping[str, Any]) -> dict[str, Any]:
    """Metrics, charts and the HTML report of one partition's backtest."""
    from salesforecast.report import report

    fc = Forecaster.load(trained["bundle"], digest=trained["digest"])
    cv = storage.read_frame(trained["backtest"])
    history = fc.history
    label = _label(trained)
    page = report(fc, cv, _out(cfg, "reports", label), history=history)
    scores = fc.evaluate(cv, history).filter(pl.col("scope") == "overall")
    wanted = ["wape", "mase", "rmse", *[f"coverage_{lv}" for lv in fc.levels]]
    metrics = {
        row["model"]: {k: row[k] for k in wanted if k in row}
        for row in scores.iter_rows(named=True)
    }
    return {**trained, "report": page, "metrics": _json.finite_or_none(metrics)}


def _registered_name(cfg: Config, partition: Mapping[str, Any]) -> str:
    if partition.get("value") is None:
        return str(cfg["model_name"])
    return f"{cfg['model_name']}.{_segment(partition['value'])}"


def champion_of(cfg: Config, partition: Partition) -> dict[str, Any]:
    """A partition with the registered model whose champion forecasts it (inference)."""
    return {**partition, "model_name": _registered_name(cfg, partition)}


def register(cfg: Config, evaluated: Mapping[str, Any]) -> dict[str, Any]:
    """Logs the run to MLflow and registers the forecaster as the challenger; the DAG run (and
    partition) is the idempotency key, so a rerun returns the version already registered."""
    fc = Forecaster.load(evaluated["bundle"], digest=evaluated["digest"])
    label = _label(evaluated)
    logged = tracking.log_run(
        fc,
        cv=storage.read_frame(evaluated["backtest"]),
        report=evaluated["report"],
        run_key=f"{cfg['dag_id']}/{cfg['run_id']}/{label}",
        name=_registered_name(cfg, evaluated),
        dataset_uri=evaluated["data"],
        tags={"partition": label},
    )
    return {
        **evaluated,
        "model_name": logged.model_name,
        "version": logged.version,
        "mlflow_run_id": logged.run_id,
    }


def promote(cfg: Config, registered: Mapping[str, Any]) -> dict[str, Any]:
    """The gate: the challenger against the champion on the partition's latest horizon."""
    latest, _ = _train_part(cfg, registered)
    decision = tracking.promote(
        registered["model_name"],
        registered["version"],
        holdout=latest,
        metric=cfg["metric"],
        min_improvement=float(cfg["min_improvement"]),
    )
    return {**registered, "decision": decision.to_dict()}


def forecast(cfg: Config, promoted: Mapping[str, Any]) -> dict[str, Any]:
    """Forecasts the next horizon after the partition's data with the champion (from the
    registry, digest checked) and writes it with the model version in the path and a column.
    Known-future values come from the partition's ``future`` file, else the baseline of
    :func:`salesforecast.scenario.baseline`."""
    if tracking.champion(promoted["model_name"]) is None:
        # The gate refused the first version: nothing may serve yet, and the run says why.
        decision = promoted.get("decision", {})
        log.warning(
            "%s has no champion (%s): nothing forecast",
            promoted["model_name"],
            decision.get("reason", "no version was promoted"),
        )
        return {**promoted, "forecast": None, "champion_version": None}
    fc, version = tracking.load_version(promoted["model_name"])
    # The forecaster's columns only: the ingested data may hold others (the generator's).
    latest = storage.read_frame(promoted["data"])
    latest = latest.select([c for c in fc.columns if c in latest.columns])
    fut = storage.read_frame(promoted["future"]) if promoted.get("future") else None
    if fc.known_future and fut is None:
        fut = scenario.baseline(fc, latest)
    pred = fc.predict(new_df=latest, future=fut).with_columns(
        pl.lit(promoted["model_name"]).alias("model_name"), pl.lit(version).alias("model_version")
    )
    uri = storage.write_frame(
        pred, _out(cfg, "forecasts", f"{_label(promoted)}.v{version}.parquet")
    )
    return {**promoted, "forecast": uri, "champion_version": version}


def combine(cfg: Config, results: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """One forecast file and one metrics summary for every partition."""
    frames = [storage.read_frame(r["forecast"]) for r in results if r["forecast"]]
    combined = pl.concat(frames, how="diagonal_relaxed") if frames else pl.DataFrame()
    uri = storage.write_frame(combined, _out(cfg, "forecast.parquet")) if frames else None
    summary = {
        "dag_id": cfg["dag_id"],
        "run_id": cfg["run_id"],
        "finished_at": dt.datetime.now(dt.UTC).isoformat(),
        "forecast": uri,
        "rows": combined.height,
        "partitions": [
            {
                "partition": _label(r),
                "model_name": r["model_name"],
                "champion_version": r["champion_version"],
                **{key: r[key] for key in ("version", "metrics", "report") if key in r},
                **(
                    {"promoted": r["decision"]["promoted"], "reason": r["decision"]["reason"]}
                    if "decision" in r
                    else {}
                ),
            }
            for r in results
        ],
    }
    storage.write_bytes(_out(cfg, "summary.json"), _json.dumps(summary, indent=2).encode())
    if cfg["dag_id"] == TRAINING_DAG:
        # What the inference DAG forecasts with: the same source, columns and partitions.
        storage.write_bytes(latest_training(cfg["storage_root"]), _json.dumps(cfg).encode())
    summary["summary"] = _out(cfg, "summary.json")
    return summary
