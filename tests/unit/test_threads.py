"""OpenMP runtimes wait passively and fits size their threads to the work."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from salesforecast.models import ROWS_PER_THREAD, available_threads, threads_for


def omp_settings(env: dict[str, str]) -> tuple[int, str]:
    """How many OpenMP runtimes loaded with ``import salesforecast``, and what they printed of
    their settings (OMP_DISPLAY_ENV makes each runtime print them when it initialises)."""
    clean = {k: v for k, v in os.environ.items() if k != "OMP_WAIT_POLICY"}
    done = subprocess.run(
        [sys.executable, "-c", "import salesforecast"],
        env={**clean, **env, "OMP_DISPLAY_ENV": "TRUE"},
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr
    return done.stderr.count("OPENMP DISPLAY ENVIRONMENT BEGIN"), done.stderr


def test_every_bundled_openmp_runtime_waits_passively() -> None:
    count, shown = omp_settings({})
    # LightGBM's and XGBoost's runtimes: both bundled in the wheel.
    assert count == 2, shown
    assert shown.count("OMP_WAIT_POLICY = 'PASSIVE'") == count, shown


def test_a_users_wait_policy_wins() -> None:
    count, shown = omp_settings({"OMP_WAIT_POLICY": "ACTIVE"})
    assert count == 2, shown
    assert shown.count("OMP_WAIT_POLICY = 'ACTIVE'") == count, shown


@pytest.mark.parametrize(
    ("rows", "expected"),
    [(0, 1), (ROWS_PER_THREAD - 1, 1), (2 * ROWS_PER_THREAD, 2), (10**9, available_threads())],
)
def test_threads_follow_the_rows(rows: int, expected: int) -> None:
    assert threads_for(rows) == min(expected, available_threads())


def test_forecaster_threads_reach_the_boosters(caplog: pytest.LogCaptureFixture) -> None:
    import warnings

    import salesforecast as sf

    df = sf.generate_sales(n_stores=1, n_products=2, start="2023-01-01", end="2023-06-30")
    spec = sf.FeatureSpec(lags=[7])
    caplog.set_level("INFO", logger="salesforecast._strategies")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        # A few hundred rows: one thread is plenty, whatever the machine has.
        sf.Forecaster([sf.LightGBM(n_estimators=5)], spec, freq="1d", horizon=7).fit(df)
        assert "with 1 threads" in caplog.text
        caplog.clear()
        sf.Forecaster([sf.LightGBM(n_estimators=5)], spec, freq="1d", horizon=7, n_threads=2).fit(
            df
        )
        assert "with 2 threads" in caplog.text
        assert "with 1 threads" not in caplog.text
        caplog.clear()
        # A model's own setting wins over the forecaster's.
        sf.Forecaster(
            [sf.LightGBM(n_estimators=5, n_threads=1)], spec, freq="1d", horizon=7, n_threads=2
        ).fit(df)
        assert "with 2 threads" not in caplog.text
