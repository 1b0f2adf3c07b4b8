"""MLflow tracking and a model registry that gates promotion.

>>> run = sf.tracking.log_run(fc, cv=cv, report=report_uri, study=study, run_key=dag_run_id)
>>> decision = sf.tracking.promote("sales_forecast", run.version, holdout=latest)
>>> sf.tracking.rollback("sales_forecast")          # the previous champion again

``log_run`` records one MLflow run (parameters, metrics per model, ensemble and baseline, per
forecast step as MLflow steps, artifacts, dataset lineage, tags) and registers the forecaster as
a new version of a registered model with the alias ``challenger``. The version is an MLflow
pyfunc model whose artifacts are the bundle files; its ``bundle_digest`` tag is checked
whenever :func:`load_version` loads it. ``run_key`` (a DAG run id) makes logging idempotent:
logging the same key again returns the version already registered.

``promote`` scores the challenger and the current champion on the same latest holdout and moves
the ``champion`` alias only when the challenger is better by ``min_improvement`` and passes the
sanity checks; it writes the compared values and the decision as version tags either way.

The tracking server comes from ``MLFLOW_TRACKING_URI`` (or ``tracking_uri=``). Credentials stay
in the environment: nothing here logs an environment variable.
"""

from __future__ import annotations

import datetime as dt
import getpass
import json
import logging
import math
import os
import re
import subprocess
import tempfile
import warnings
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import polars as pl

from salesforecast import _json, _native, bundle, plots, storage
from salesforecast._frames import to_polars
from salesforecast.data import ValidationReport, time_split
from salesforecast.errors import InvalidArgumentError, MissingColumnError, SalesForecastError
from salesforecast.evaluation import check_improvement, check_metric
from salesforecast.forecast import Forecaster
from salesforecast.models import LightGBM, XGBoost

log = logging.getLogger(__name__)

__all__ = [
    "CHALLENGER",
    "CHAMPION",
    "GateDecision",
    "LoggedRun",
    "TrackingError",
    "VersionInfo",
    "alias_version",
    "backtest_of",
    "champion",
    "load_version",
    "log_run",
    "promote",
    "quiet_mlflow",
    "rollback",
    "tracking_server",
    "versions",
]

REGISTERED_MODEL = "sales_forecast"
EXPERIMENT = "salesforecast"
CHAMPION = "champion"
CHALLENGER = "challenger"
RUN_KEY = "sf_run_key"
DIGEST = "bundle_digest"
PREVIOUS = "previous_champion"
BACKTEST_ARTIFACT = "backtest.parquet"


class TrackingError(SalesForecastError):
    """The MLflow server could not be reached or refused a call; the message names the server
    and the operation, never a credential."""


_USERINFO = re.compile(r"(?<=//)[^/@\s]*@")


def _redact(text: str) -> str:
    """A URL's user and password (``https://user:token@host``) and query never reach a
    message."""
    return re.sub(r"(https?://[^\s?#]*)\?[^\s]*", r"\1", _USERINFO.sub("***@", text))


def quiet_mlflow() -> None:
    """For services (a DAG task, the app) rather than notebooks: no artifact progress bars, no
    run URLs printed (with the tracking URI's credentials), and MLflow's messages through
    logging instead of its own stderr handler (a task's stderr is logged at error level by
    Airflow). Call before MLflow is imported; the user's settings win."""
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    os.environ.setdefault("MLFLOW_CONFIGURE_LOGGING", "false")
    # MLflow prints each run's URL to stdout, the tracking URI's credentials included.
    os.environ.setdefault("MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT", "true")


def tracking_server() -> str:
    """The tracking server in use, any credentials in its URI redacted."""
    import mlflow

    return _redact(str(mlflow.get_tracking_uri()))


@contextmanager
def _calling(operation: str) -> Iterator[None]:
    """MLflow and network failures as one typed error naming the server and the operation.
    Warnings MLflow raises about its own internals (deprecations of its pandas use, dataset
    source guesses) are not the user's to act on and stay out of task logs."""
    from mlflow.exceptions import MlflowException

    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", module=r"mlflow(\.|$)")
            yield
    except SalesForecastError:
        raise  # ours (storage, bundles) already name what failed
    except (MlflowException, OSError) as e:
        raise TrackingError(
            f"MLflow at {tracking_server()}: {operation} failed: {_short(e)}"
        ) from e
    except Exception as e:
        # requests' exceptions when the server is down mid-call.
        if type(e).__module__.startswith(("requests", "urllib3")):
            raise TrackingError(
                f"MLflow at {tracking_server()} is unreachable: {operation} failed "
                f"({type(e).__name__})"
            ) from e
        raise


def _short(e: Exception) -> str:
    text = str(e).splitlines()[0] if str(e) else type(e).__name__
    return _redact(text)[:300]


def _client(tracking_uri: str | None) -> Any:
    import mlflow

    if tracking_uri is not None:
        mlflow.set_tracking_uri(tracking_uri)
    return mlflow.MlflowClient()


# ----------------------------------------------------------------------------- logging


@dataclass(frozen=True)
class LoggedRun:
    """Where ``log_run`` put the forecaster."""

    run_id: str
    model_name: str
    version: str
    model_uri: str
    bundle_digest: str
    created: bool


def _flatten(prefix: str, value: Any, out: dict[str, str]) -> None:
    if isinstance(value, Mapping):
        for k, v in value.items():
            _flatten(f"{prefix}.{k}" if prefix else str(k), v, out)
    else:
        text = value if isinstance(value, str) else _json.dumps(value)
        out[prefix] = text[:6000]


def _params(fc: Forecaster, study: Any | None) -> dict[str, str]:
    out: dict[str, str] = {}
    _flatten("settings", fc.settings(), out)
    _flatten("features", fc.features.to_dict(), out)
    for name, model in zip(fc.model_names, fc.models, strict=True):
        params = model.params() if isinstance(model, LightGBM | XGBoost) else dict(vars(model))
        _flatten(f"model.{name}", params, out)
    for name, rounds in fc.fitted_rounds.items():
        out[f"model.{name}.fitted_rounds"] = ",".join(map(str, rounds))
    if fc.ensemble_fallback is not None:
        out["ensemble.fallback"] = fc.ensemble_fallback
    if study is not None:
        from optuna.trial import TrialState

        states = [t.state for t in study.trials]
        out["tuning.study"] = str(study.study_name)
        out["tuning.n_trials"] = str(len(states))
        out["tuning.n_complete"] = str(states.count(TrialState.COMPLETE))
        out["tuning.n_pruned"] = str(states.count(TrialState.PRUNED))
        if any(s == TrialState.COMPLETE for s in states):
            out["tuning.best_value"] = repr(float(study.best_value))
            _flatten("tuning.best", study.best_params, out)
    return out


def _git_commit() -> str | None:
    commit = os.environ.get("GIT_COMMIT")
    if commit:
        return commit
    try:
        done = subprocess.run(
            ["git", "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5, check=False
        )
    except OSError:
        return None
    return done.stdout.strip() or None if done.returncode == 0 else None


def _step_scores(
    cv: pl.DataFrame, history: pl.DataFrame | None, fc: Forecaster
) -> dict[int, pl.DataFrame]:
    """Overall metrics of the forecasts ``k`` periods after each cutoff, per step ``k``."""
    stepped = cv.with_columns(
        pl.col(fc.time_col).rank("dense").over([*fc.keys, "cutoff"]).cast(pl.Int64).alias("_k")
    )
    return {
        int(k): fc.evaluate(part.drop("_k"), history, levels=()).filter(
            pl.col("scope") == "overall"
        )
        for (k,), part in stepped.group_by("_k")
    }


def _metric_rows(scores: pl.DataFrame, prefix: str) -> dict[str, float]:
    out = {}
    for row in scores.filter(pl.col("scope") == "overall").iter_rows(named=True):
        for key, value in row.items():
            if key in ("scope", "model", "cutoff") or not isinstance(value, int | float):
                continue
            if isinstance(value, bool) or not math.isfinite(value):
                continue
            out[f"{prefix}{row['model']}.{key}"] = float(value)
    return out


def _experiment_id(client: Any, name: str) -> str:
    """The experiment's id, created if missing; partitions registering at once may race to
    create it, and the losers use the winner's."""
    from mlflow.exceptions import MlflowException

    found = client.get_experiment_by_name(name)
    if found is not None:
        return str(found.experiment_id)
    try:
        return str(client.create_experiment(name))
    except MlflowException as error:
        if error.error_code != "RESOURCE_ALREADY_EXISTS":
            raise
        return str(client.get_experiment_by_name(name).experiment_id)


def _ensure_registered_model(client: Any, name: str) -> None:
    from mlflow.exceptions import MlflowException

    try:
        client.create_registered_model(name)
    except MlflowException as error:
        if error.error_code not in ("RESOURCE_ALREADY_EXISTS", "ALREADY_EXISTS"):
            raise


def _find_version(client: Any, name: str, run_key: str) -> Any | None:
    """The version registered for ``run_key`` (the lowest, should a retried request have
    registered two)."""
    versions = client.search_model_versions(f"name = '{name}' and tags.{RUN_KEY} = '{run_key}'")
    return min(versions, key=lambda v: int(v.version)) if versions else None


def _complete(
    client: Any, name: str, version: Any, run_id: str | None, window: Mapping[str, Any]
) -> None:
    """The steps after registration; ``run_id`` is the last tag, so a version without it was
    registered by an attempt that stopped midway, and a retry finishes it."""
    client.set_registered_model_alias(name, CHALLENGER, version.version)
    client.set_model_version_tag(
        name, version.version, "data.window", f"{window['start']}..{window['end']}"
    )
    if run_id:
        client.set_terminated(run_id, "FINISHED")
    client.set_model_version_tag(name, version.version, "run_id", run_id or "")


def _input_example(fc: Forecaster) -> pl.DataFrame:
    """Two series' next horizon, with the known-future values of their last periods (a whole
    horizon: MLflow validates the example with the default `h`)."""
    history = fc.history
    assert history is not None
    keys, time_col = fc.keys, fc.time_col
    series = history.select(keys).unique(maintain_order=True).head(2)
    last = history.join(series, on=keys, how="semi").sort([*keys, time_col])
    h = fc.horizon
    rows = last.group_by(keys, maintain_order=True).tail(h)
    return (
        rows.with_columns(fc.shift(rows[time_col], h))
        .select(*keys, time_col, *fc.known_future)
        .with_columns(pl.col(time_col).cast(pl.Datetime("us")))
    )


def log_run(
    fc: Forecaster,
    *,
    cv: Any | None = None,
    history: Any | None = None,
    report: str | os.PathLike[str] | None = None,
    study: Any | None = None,
    validation: ValidationReport | None = None,
    dataset_uri: str | None = None,
    tags: Mapping[str, str] | None = None,
    run_key: str | None = None,
    name: str = REGISTERED_MODEL,
    experiment: str = EXPERIMENT,
    tracking_uri: str | None = None,
) -> LoggedRun:
    """Logs a fitted forecaster as an MLflow run and registers it as a new version of ``name``
    with the alias ``challenger``.

    ``cv`` (a ``cross_validation`` frame) and ``history`` (the data it ran on) give the metrics
    per model, ensemble and baseline, overall and per forecast step; ``report`` a folder or URI
    written by :func:`salesforecast.report`, logged under ``report/``; ``study`` an Optuna study
    (best parameters, trial counts, its chart); ``validation`` the input's validation report;
    ``dataset_uri`` the training data's source for the lineage. ``run_key`` makes the call
    idempotent: when a version with that key exists it is returned (``created=False``) and
    nothing is logged again."""
    import mlflow

    if fc.history is None:
        raise InvalidArgumentError("invalid argument `fc`: the Forecaster is not fitted")
    if mlflow.active_run() is not None:
        raise InvalidArgumentError(
            "log_run starts and ends its own MLflow run; call it outside `with "
            "mlflow.start_run()` (pass tags= to label it)"
        )
    client = _client(tracking_uri)
    window = fc.training_window()
    with _calling("finding the experiment"):
        experiment_id = _experiment_id(client, experiment)
    if run_key is not None:
        with _calling("looking up the run key"):
            existing = _find_version(client, name, run_key)
            if existing is not None:
                if "run_id" not in existing.tags:
                    _complete(client, name, existing, existing.run_id, window)
                log.info("run key %s is already version %s of %s", run_key, existing.version, name)
                return LoggedRun(
                    run_id=existing.run_id,
                    model_name=name,
                    version=str(existing.version),
                    model_uri=f"models:/{name}/{existing.version}",
                    bundle_digest=existing.tags.get(DIGEST, ""),
                    created=False,
                )
            # Runs of an earlier attempt that never registered a version (the server went
            # away mid-log): deleted, so exactly one run carries the key.
            for stale in client.search_runs(
                [experiment_id], filter_string=f"tags.{RUN_KEY} = '{run_key}'"
            ):
                client.delete_run(stale.info.run_id)
    frame = None if cv is None else to_polars(cv, "cv")
    hist = fc.history if history is None else to_polars(history, "history")
    run_tags = {
        "data.start": str(window["start"]),
        "data.end": str(window["end"]),
        "data.series": str(window["n_series"]),
        **({RUN_KEY: run_key} if run_key else {}),
        **({"git.commit": c} if (c := _git_commit()) else {}),
        **{
            f"airflow.{k}": os.environ[v]
            for k, v in (("dag_id", "AIRFLOW_CTX_DAG_ID"), ("run_id", "AIRFLOW_CTX_DAG_RUN_ID"))
            if os.environ.get(v)
        },
        **dict(tags or {}),
    }
    with tempfile.TemporaryDirectory(prefix="sf-mlflow-") as tmp:
        staging = Path(tmp)
        digest = fc.save(staging / "bundle")
        artifacts = staging / "artifacts"
        artifacts.mkdir()
        _write_artifacts(fc, frame, hist, study, validation, artifacts)
        with _calling("logging the run"):
            run = client.create_run(experiment_id, tags=run_tags)
            run_id = run.info.run_id
        try:
            with _calling("logging the run"):
                _log_values(client, run_id, fc, frame, hist, study)
                client.log_artifacts(run_id, str(artifacts))
                if report is not None:
                    _log_report(client, run_id, report, staging / "report")
                _log_dataset(run_id, hist, dataset_uri, fc)
            with _calling("logging the model"):
                example = _input_example(fc)
                from salesforecast.serving import forecast_for

                output = forecast_for(fc, example, None)
                signature = mlflow.models.infer_signature(
                    example.to_pandas(),
                    output.to_pandas(),
                    params={"h": fc.horizon, "levels": [int(v) for v in fc.levels]},
                )
                with mlflow.start_run(run_id=run_id):
                    info = mlflow.pyfunc.log_model(
                        name="model",
                        python_model=str(Path(__file__).with_name("_mlflow_model.py")),
                        artifacts={"bundle": str(staging / "bundle")},
                        signature=signature,
                        input_example=example.to_pandas(),
                        model_config={DIGEST: digest},
                        pip_requirements=_requirements(),
                    )
            with _calling("registering the model"):
                # The client's calls, not mlflow.register_model, which prints to stderr (an
                # error line in an Airflow task log).
                _ensure_registered_model(client, name)
                version = client.create_model_version(
                    name,
                    info.model_uri,
                    run_id=run_id,
                    tags={DIGEST: digest, **({RUN_KEY: run_key} if run_key else {})},
                    model_id=info.model_id,
                )
                if run_key is not None:
                    version = _find_version(client, name, run_key) or version
                _complete(client, name, version, run_id, window)
        except TrackingError:
            try:
                client.set_terminated(run_id, "FAILED")
            except Exception:  # the server is gone; the retry deletes this run
                log.debug("could not mark run %s as failed", run_id)
            raise
    log.info("logged run %s as version %s of %s (challenger)", run_id, version.version, name)
    return LoggedRun(
        run_id=run_id,
        model_name=name,
        version=str(version.version),
        model_uri=f"models:/{name}/{version.version}",
        bundle_digest=digest,
        created=True,
    )


def _requirements() -> list[str]:
    from importlib.metadata import version

    from salesforecast._native import __version__

    return [f"salesforecast=={__version__}", f"mlflow=={version('mlflow')}", "pandas", "pyarrow"]


def _log_values(
    client: Any,
    run_id: str,
    fc: Forecaster,
    cv: pl.DataFrame | None,
    history: pl.DataFrame,
    study: Any | None,
) -> None:
    from mlflow.entities import Metric, Param

    now = int(dt.datetime.now(dt.UTC).timestamp() * 1000)
    params = [Param(k, v) for k, v in _params(fc, study).items()]
    metrics = []
    if fc.calibration_metrics is not None:
        values = _metric_rows(fc.calibration_metrics, "calibration.")
        metrics += [Metric(k, v, now, 0) for k, v in values.items()]
    if cv is not None:
        values = _metric_rows(fc.evaluate(cv, history), "")
        metrics += [Metric(k, v, now, 0) for k, v in values.items()]
        for step, scores in _step_scores(cv, history, fc).items():
            for row in scores.iter_rows(named=True):
                for metric in ("mase", "wape", "rmse"):
                    value = row.get(metric)
                    if isinstance(value, int | float) and math.isfinite(value):
                        name = f"by_step.{row['model']}.{metric}"
                        metrics.append(Metric(name, float(value), now, step))
    if fc.weights:
        metrics += [Metric(f"weight.{k}", float(v), now, 0) for k, v in fc.weights.items()]
    for i in range(0, len(params), 100):
        client.log_batch(run_id, params=params[i : i + 100])
    for i in range(0, len(metrics), 1000):
        client.log_batch(run_id, metrics=metrics[i : i + 1000])


def _write_artifacts(
    fc: Forecaster,
    cv: pl.DataFrame | None,
    history: pl.DataFrame,
    study: Any | None,
    validation: ValidationReport | None,
    folder: Path,
) -> None:
    importance = fc.feature_importance()
    if importance.height:
        importance.write_csv(folder / "feature_importance.csv")
        plots.importance(fc, path=folder / "importance.png")
    if fc.calibration_metrics is not None:
        fc.calibration_metrics.write_csv(folder / "calibration_metrics.csv")
    if validation is not None:
        (folder / "validation.json").write_text(validation.to_json())
    if fc.weights:
        plots.weights(fc, path=folder / "weights.png")
    if cv is not None:
        # The app's model page reads the backtest itself (metrics per segment, residuals).
        cv.write_parquet(folder / BACKTEST_ARTIFACT)
        scores = fc.evaluate(cv, history)
        scores.write_csv(folder / "backtest_metrics.csv")
        plots.comparison(scores, path=folder / "comparison.png")
    if study is not None and any(t.value is not None for t in study.trials):
        plots.optuna_study(study, path=folder / "optuna.png")
    (folder / "forecaster.json").write_text(
        _json.dumps({"settings": fc.settings(), "models": fc.model_names}, indent=2)
    )


def _log_report(client: Any, run_id: str, report: str | os.PathLike[str], local: Path) -> None:
    source = os.fspath(report)
    # A report page's location or its folder.
    folder = source.rsplit("/", 1)[0] if source.endswith(".html") else source
    names = storage.list(folder)
    if not names:
        raise InvalidArgumentError(f"invalid argument `report`: nothing is stored at {folder}")
    for entry in names:
        target = local / entry
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(storage.read_within(folder, entry))
    client.log_artifacts(run_id, str(local), "report")


def _log_dataset(run_id: str, history: pl.DataFrame, source: str | None, fc: Forecaster) -> None:
    import mlflow
    from mlflow.data.code_dataset_source import CodeDatasetSource

    # MLflow keeps one dataset per name and digest: the source is part of its identity.
    rows = history.hash_rows().to_numpy().tobytes()
    digest = bundle.sha256(rows + (source or "").encode())[:16]
    dataset = mlflow.data.from_polars(
        # MLflow's schema has no date type; it warns and maps dates to datetimes itself.
        history.head(1000).with_columns(pl.col(pl.Date).cast(pl.Datetime("us"))),
        source=source or CodeDatasetSource({"generated_by": "salesforecast"}),
        targets=fc.target_col,
        name="training_data",
        digest=digest,
    )
    with mlflow.start_run(run_id=run_id):
        mlflow.log_input(dataset, context="training")


# ----------------------------------------------------------------------------- the registry


def _version_digest(client: Any, name: str, version: str) -> str:
    tags = client.get_model_version(name, version).tags
    digest = tags.get(DIGEST)
    if not digest:
        raise TrackingError(
            f"version {version} of {name} has no {DIGEST} tag; it was not logged by log_run"
        )
    return str(digest)


def load_version(
    name: str,
    version: str | int | None = None,
    *,
    alias: str = CHAMPION,
    tracking_uri: str | None = None,
) -> tuple[Forecaster, str]:
    """The Forecaster of a registered version (or of the version the ``alias`` points at) and
    its version number. The bundle's digest is checked against the one the registry recorded
    at registration, so an edited artifact is refused."""
    import mlflow

    client = _client(tracking_uri)
    with _calling(f"loading {name}"):
        if version is None:
            version = client.get_model_version_by_alias(name, alias).version
        version = str(version)
        digest = _version_digest(client, name, version)
        with tempfile.TemporaryDirectory(prefix="sf-model-") as tmp:
            local = mlflow.artifacts.download_artifacts(
                artifact_uri=f"models:/{name}/{version}", dst_path=tmp
            )
            return Forecaster.load(Path(local) / "artifacts" / "bundle", digest=digest), version


@dataclass(frozen=True)
class VersionInfo:
    """One registered version as the registry holds it: aliases, when and from which run it
    was created, its data window, tags (the gate's ``gate.*`` decision among them) and the
    run's metrics."""

    version: str
    aliases: list[str]
    created_at: str
    run_id: str
    data_window: str
    tags: dict[str, str]
    metrics: dict[str, float]


def versions(
    name: str = REGISTERED_MODEL, *, limit: int = 20, tracking_uri: str | None = None
) -> list[VersionInfo]:
    """The newest ``limit`` versions of ``name``, newest first (empty when it is not
    registered)."""
    client = _client(tracking_uri)
    with _calling(f"listing the versions of {name}"):
        found = client.search_model_versions(
            f"name = '{name}'", max_results=limit, order_by=["version_number DESC"]
        )
        # A search does not fill in aliases on every store; the registered model has them,
        # and the versions they point at are listed even when older than the newest `limit`.
        aliases: dict[str, list[str]] = {}
        if found:
            for alias, number in client.get_registered_model(name).aliases.items():
                aliases.setdefault(str(number), []).append(alias)
        listed = {str(v.version) for v in found}
        found += [client.get_model_version(name, n) for n in sorted(aliases) if n not in listed]
        found = sorted(found, key=lambda v: int(v.version), reverse=True)
        out = []
        for v in found:
            metrics = client.get_run(v.run_id).data.metrics if v.run_id else {}
            created = dt.datetime.fromtimestamp(v.creation_timestamp / 1000, dt.UTC)
            out.append(
                VersionInfo(
                    version=str(v.version),
                    aliases=sorted(aliases.get(str(v.version), [])),
                    created_at=created.isoformat(timespec="seconds"),
                    run_id=v.run_id or "",
                    data_window=v.tags.get("data.window", ""),
                    tags=dict(v.tags),
                    metrics={k: float(x) for k, x in metrics.items()},
                )
            )
    return out


def backtest_of(
    name: str, version: str | int, *, tracking_uri: str | None = None
) -> pl.DataFrame | None:
    """The cross-validation frame logged with version ``version`` of ``name`` (None for a run
    logged without one)."""
    client = _client(tracking_uri)
    with _calling(f"reading the backtest of {name} version {version}"):
        run_id = client.get_model_version(name, str(version)).run_id
        listed = {f.path for f in client.list_artifacts(run_id)}
        if BACKTEST_ARTIFACT not in listed:
            return None
        with tempfile.TemporaryDirectory(prefix="sf-backtest-") as tmp:
            local = client.download_artifacts(run_id, BACKTEST_ARTIFACT, tmp)
            return pl.read_parquet(local)


def champion(name: str = REGISTERED_MODEL, *, tracking_uri: str | None = None) -> str | None:
    """The version the ``champion`` alias points at, or None."""
    return alias_version(name, CHAMPION, tracking_uri=tracking_uri)


def alias_version(name: str, alias: str, *, tracking_uri: str | None = None) -> str | None:
    """The version ``alias`` of ``name`` points at, or None (no such model or alias)."""
    from mlflow.exceptions import MlflowException

    client = _client(tracking_uri)
    try:
        return str(client.get_model_version_by_alias(name, alias).version)
    except MlflowException as e:
        if "not found" in str(e).lower() or "RESOURCE_DOES_NOT_EXIST" in str(e):
            return None
        raise TrackingError(
            f"MLflow at {tracking_server()}: reading the {alias} of {name} failed: {_short(e)}"
        ) from e


@dataclass(frozen=True)
class GateDecision:
    """What ``promote`` compared and decided."""

    model_name: str
    version: str
    champion_before: str | None
    champion_after: str | None
    promoted: bool
    reason: str
    metric: str
    challenger_value: float | None
    champion_value: float | None
    checks: dict[str, bool]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _holdout_scores(
    fc: Forecaster, holdout: pl.DataFrame, h: int, metric: str
) -> tuple[float, dict[str, bool], dict[str, float]]:
    """``metric`` of the forecaster's main column on the last ``h`` periods of ``holdout``
    (forecast from the periods before), and the sanity checks."""
    keys, time_col, target = fc.keys, fc.time_col, fc.target_col
    declared = fc.columns
    missing = [c for c in declared if c not in holdout.columns]
    if missing:
        raise MissingColumnError(
            f"`holdout` lacks the columns {missing} that version's forecaster needs; it has "
            f"{holdout.columns}"
        )
    holdout = holdout.select(declared)
    # Checked as the user's frame: its own rows, its last periods too (the forecast's actuals).
    _native.check_frame(holdout, fc.roles, fc.freq, "finite", "holdout")
    past, recent = time_split(
        holdout, test_periods=h, id_col=keys, time_col=time_col, target_col=target
    )
    pred = fc.predict(h=h, new_df=past, future=recent if fc.known_future else None)
    column = "ensemble" if "ensemble" in pred.columns else fc.model_names[0]
    scored = pred.join(recent.select([*keys, time_col, target]), on=[*keys, time_col], how="inner")
    scores = fc.evaluate(scored, past, models=[column]).filter(pl.col("scope") == "overall")
    value = float(scores[metric][0])
    forecast_cols = [c for c in pred.columns if c not in (*keys, time_col)]
    finite = bool(
        pred.select(pl.all_horizontal(pl.col(c).is_finite() for c in forecast_cols).all()).item()
    )
    expected = recent.select(keys).unique()
    served = pred.filter(pl.col(column).is_not_null()).select(keys).unique()
    no_missing = expected.join(served, on=keys, how="anti").height == 0
    coverage = {}
    for level in fc.levels:
        col = f"coverage_{level}"
        if col in scores.columns and scores[col][0] is not None:
            coverage[col] = float(scores[col][0])
    coverage_ok = all(abs(100 * v - int(k.split("_")[1])) <= 10 for k, v in coverage.items())
    checks = {
        "finite_forecasts": finite,
        "no_series_missing": no_missing,
        "coverage_within_10_points": coverage_ok,
    }
    return value, checks, coverage


def _stamp() -> tuple[str, str]:
    who = os.environ.get("AIRFLOW_CTX_DAG_RUN_ID")
    by = (
        f"airflow:{os.environ.get('AIRFLOW_CTX_DAG_ID', '?')}/{who}"
        if who
        else f"user:{getpass.getuser()}"
    )
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds"), by


def promote(
    name: str,
    version: str | int,
    *,
    holdout: Any,
    metric: str = "mase",
    min_improvement: float = 0.01,
    h: int | None = None,
    tracking_uri: str | None = None,
) -> GateDecision:
    """The gate: scores version ``version`` (the challenger) and the current champion on the
    same ``holdout`` (the latest data: its last ``h`` periods, default the challenger's
    horizon, are forecast from the periods before) and moves the ``champion`` alias to the
    challenger only if its ``metric`` is lower by at least ``min_improvement`` (relative) and
    it passes the sanity checks: finite forecasts, every series forecast, interval coverage
    within 10 points of each nominal level. The first version becomes champion when there is
    none (after the same checks). Either way the compared values and the decision are written
    as tags of the challenger version."""
    check_metric(metric)
    check_improvement(min_improvement)
    frame = to_polars(holdout, "holdout")
    client = _client(tracking_uri)
    version = str(version)
    before = champion(name)
    challenger, _ = load_version(name, version)
    incumbent = None if before in (None, version) else load_version(name, before)[0]
    # Both are scored on the same periods: the shorter of the two horizons.
    horizons = [challenger.horizon, *([incumbent.horizon] if incumbent else [])]
    horizon = h or min(horizons)
    value, checks, coverage = _holdout_scores(challenger, frame, horizon, metric)
    checks["finite_metric"] = math.isfinite(value)
    champion_value = None
    if before == version:
        # A retry after this version was promoted: the recorded decision stands.
        log.info("version %s of %s is already the champion", version, name)
        return GateDecision(
            model_name=name, version=version, champion_before=before, champion_after=before,
            promoted=True, reason="already the champion", metric=metric,
            challenger_value=value, champion_value=None, checks=checks,
        )  # fmt: skip
    if not all(checks.values()):
        failed = [k for k, ok in checks.items() if not ok]
        promoted, reason = False, f"sanity checks failed: {failed} (coverage {coverage})"
    elif incumbent is None:
        promoted, reason = True, "first version: no champion yet"
    else:
        champion_value, champion_checks, _ = _holdout_scores(incumbent, frame, horizon, metric)
        if not (math.isfinite(champion_value) and champion_value > 0) or not all(
            champion_checks.values()
        ):
            # A champion that no longer forecasts sensibly is replaced by any sane challenger.
            promoted = True
            reason = (
                f"the champion fails on this holdout ({metric} {champion_value}, {champion_checks})"
            )
        else:
            improvement = (champion_value - value) / champion_value
            promoted = improvement >= min_improvement
            reason = (
                f"{metric} {value:.4f} vs champion {champion_value:.4f}: {improvement:+.1%} "
                f"{'>=' if promoted else '<'} the required {min_improvement:.1%}"
            )
    at, by = _stamp()
    tags = {
        "gate.metric": metric,
        "gate.challenger_value": repr(value),
        "gate.champion_value": "" if champion_value is None else repr(champion_value),
        "gate.champion_version": before or "",
        "gate.checks": json.dumps(checks),
        "gate.coverage": json.dumps(coverage),
        "gate.decision": "promoted" if promoted else "rejected",
        "gate.reason": reason,
        "gate.decided_at": at,
        "gate.decided_by": by,
    }
    with _calling("recording the gate decision"):
        for key, text in tags.items():
            client.set_model_version_tag(name, version, key, text)
        if promoted:
            client.set_model_version_tag(name, version, PREVIOUS, before or "")
            client.set_registered_model_alias(name, CHAMPION, version)
    log.info("gate for %s version %s: %s (%s)", name, version, tags["gate.decision"], reason)
    return GateDecision(
        model_name=name,
        version=version,
        champion_before=before,
        champion_after=version if promoted else before,
        promoted=promoted,
        reason=reason,
        metric=metric,
        challenger_value=value,
        champion_value=champion_value,
        checks=checks,
    )


def rollback(name: str = REGISTERED_MODEL, *, tracking_uri: str | None = None) -> str:
    """Moves ``champion`` back to the version it replaced (recorded by ``promote``) and returns
    that version."""
    client = _client(tracking_uri)
    current = champion(name)
    if current is None:
        raise TrackingError(f"{name} has no champion to roll back")
    with _calling("rolling back"):
        previous = client.get_model_version(name, current).tags.get(PREVIOUS)
        if not previous:
            raise TrackingError(
                f"version {current} of {name} records no previous champion; nothing to roll back to"
            )
        at, by = _stamp()
        client.set_registered_model_alias(name, CHAMPION, previous)
        client.set_model_version_tag(name, current, "gate.rolled_back_at", at)
        client.set_model_version_tag(name, current, "gate.rolled_back_by", by)
        client.set_model_version_tag(name, current, "gate.decision", "rolled back")
    log.info("rolled %s back from version %s to %s", name, current, previous)
    return str(previous)
