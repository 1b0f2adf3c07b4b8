"""sf.tune: Optuna trials over backtests, pruning from inside the Rust training loop, studies
shared between processes through one RDB storage."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import warnings
from pathlib import Path

import optuna
import polars as pl
import pytest
from optuna.distributions import CategoricalDistribution, IntDistribution

import salesforecast as sf
from salesforecast.errors import InvalidArgumentError

SPEC = sf.FeatureSpec(lags=[7, 14], rolling=[sf.Rolling(window=7, lag=7)], calendar=["dayofweek"])


@pytest.fixture(scope="module")
def panel() -> pl.DataFrame:
    df = sf.generate_sales(n_stores=2, n_products=4, start="2022-09-01", end="2023-06-30", seed=2)
    return df.select("store_id", "product_id", "date", "sales", "price", "promo")


def forecaster() -> sf.Forecaster:
    return sf.Forecaster(
        [sf.LightGBM(n_estimators=60), sf.XGBoost(n_estimators=60), sf.SeasonalNaive()],
        SPEC,
        freq="1d",
        horizon=14,
        known_future=["price", "promo"],
    )


def test_tune_returns_the_best_parameters(panel: pl.DataFrame) -> None:
    study, best = sf.tune(forecaster(), panel, n_trials=4, models=["lightgbm"], cv_windows=2)
    complete = [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]
    assert complete
    assert study.best_value == min(t.value for t in complete if t.value is not None)
    lightgbm = best.models[0]
    assert isinstance(lightgbm, sf.LightGBM)
    assert lightgbm.learning_rate == study.best_params["lightgbm.learning_rate"]
    assert lightgbm.num_leaves == study.best_params["lightgbm.num_leaves"]
    # The untuned models are as they were, and the result is unfitted.
    assert best.models[1].params() == forecaster().models[1].params()  # type: ignore[union-attr]
    assert best.history is None
    assert set(study.best_trial.user_attrs["metrics"]) == {"lightgbm"}


def test_pruned_trials_stop_inside_training_and_are_recorded(
    panel: pl.DataFrame, tmp_path: Path
) -> None:
    storage = f"sqlite:///{tmp_path / 'optuna.db'}"
    # Three trials that learn fast, then three that learn 300 times slower: once the first
    # three are complete, the median pruner stops the slow ones inside their first fit.
    queued = optuna.create_study(study_name="pruning", storage=storage)
    for rate in (0.3, 0.3, 0.3, 0.001, 0.001, 0.001):
        queued.enqueue_trial({"lightgbm.learning_rate": rate})
    space = {
        "learning_rate": CategoricalDistribution([0.3, 0.001]),
        "n_estimators": IntDistribution(100, 100),
    }
    study, _ = sf.tune(
        sf.LightGBM(),
        panel,
        n_trials=6,
        features=SPEC,
        freq="1d",
        horizon=14,
        known_future=["price", "promo"],
        storage=storage,
        study_name="pruning",
        search_space=space,
        prune_every=5,
        seed=1,
    )
    pruned = [t for t in study.trials if t.state == optuna.trial.TrialState.PRUNED]
    assert [t.number for t in pruned] == [3, 4, 5], [(t.state, t.params) for t in study.trials]
    # Every pruned trial was a slow one, stopped before its first fit finished its 100 rounds.
    assert all(t.params["lightgbm.learning_rate"] == 0.001 for t in pruned)
    assert all(max(t.intermediate_values) < 100 for t in pruned)
    reloaded = optuna.load_study(study_name="pruning", storage=storage)
    assert sum(t.state == optuna.trial.TrialState.PRUNED for t in reloaded.trials) == len(pruned)


def test_a_callback_exception_crosses_the_rust_loop_unchanged(panel: pl.DataFrame) -> None:
    class StopError(Exception):
        pass

    raised = StopError("from the callback")
    seen: list[tuple[int, int]] = []

    def callback(fit: int, round_: int, metrics: dict[str, float]) -> None:
        seen.append((fit, round_))
        assert metrics  # the loss on the window after the training data
        if round_ == 3:
            raise raised

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(StopError) as info:
            forecaster().backtest(panel, n_windows=2, round_callback=callback)
    assert info.value is raised
    assert seen == [(0, 0), (0, 1), (0, 2), (0, 3)]


def test_two_processes_share_one_study(panel: pl.DataFrame, tmp_path: Path) -> None:
    data = tmp_path / "panel.parquet"
    panel.write_parquet(data)
    storage = f"sqlite:///{tmp_path / 'shared.db'}"
    script = textwrap.dedent(
        f"""
        import sys, polars as pl, salesforecast as sf
        from optuna.distributions import IntDistribution
        df = pl.read_parquet({str(data)!r})
        fc = sf.Forecaster([sf.LightGBM(n_estimators=30)], sf.FeatureSpec(lags=[7, 14]),
                           freq="1d", horizon=14, known_future=["price", "promo"])
        sf.tune(fc, df, n_trials=2, storage={storage!r}, study_name="shared",
                seed=int(sys.argv[1]), search_space={{"num_leaves": IntDistribution(4, 64)}})
        """
    )
    # The database schema is made once, as a deployment does (two processes creating a fresh
    # SQLite schema at the same instant race in Optuna's migrations).
    optuna.create_study(study_name="shared", storage=storage)
    workers = [
        subprocess.Popen([sys.executable, "-c", script, str(seed)], stderr=subprocess.PIPE)
        for seed in (1, 2)
    ]
    for worker in workers:
        _, err = worker.communicate(timeout=600)
        assert worker.returncode == 0, err.decode()[-2000:]
    study = optuna.load_study(study_name="shared", storage=storage)
    assert len(study.trials) == 4
    assert len({t.number for t in study.trials}) == 4


def test_bad_arguments_are_typed_errors(panel: pl.DataFrame) -> None:
    with pytest.raises(InvalidArgumentError, match="metric"):
        sf.tune(forecaster(), panel, n_trials=1, metric="accuracy")
    with pytest.raises(InvalidArgumentError, match="models"):
        sf.tune(forecaster(), panel, n_trials=1, models=["seasonal_naive"])
    with pytest.raises(InvalidArgumentError, match="not parameters of lightgbm"):
        sf.tune(
            forecaster(), panel, n_trials=1, models=["lightgbm"],
            search_space={"max_depth_typo": IntDistribution(1, 3)},
        )  # fmt: skip
    with pytest.raises(InvalidArgumentError, match="features"):
        sf.tune(sf.LightGBM(), panel, n_trials=1)
