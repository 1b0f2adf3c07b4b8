"""The boosters trained through Rust: training control, errors, determinism, logging."""

from __future__ import annotations

import logging
import os
import signal
import threading
from pathlib import Path

import numpy as np
import pytest

import salesforecast as sf
from salesforecast.errors import InvalidArgumentError, ModelFileError, NotFittedError

BOOSTERS = [sf.LightGBM, sf.XGBoost]


@pytest.fixture(scope="module")
def data() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(3)
    x = rng.normal(size=(3000, 5))
    y = 2 * x[:, 0] - x[:, 1] ** 2 + rng.normal(scale=0.3, size=3000)
    return x, y


class TrialPrunedError(Exception):
    """Stands in for optuna.TrialPruned."""


@pytest.mark.parametrize("cls", BOOSTERS)
def test_callback_sees_metrics_and_can_stop(cls: type, data: tuple[np.ndarray, np.ndarray]) -> None:
    x, y = data
    seen: list[tuple[int, dict[str, float]]] = []

    def cb(round_: int, metrics: dict[str, float]) -> bool:
        seen.append((round_, metrics))
        return round_ == 4

    model = cls(n_estimators=100).fit(
        x[:2000], y[:2000], eval_set=[(x[2000:], y[2000:])], callback=cb
    )
    assert model.n_rounds == 5
    assert [r for r, _ in seen] == [0, 1, 2, 3, 4]
    assert all(m and all(k.startswith("valid_0-") for k in m) for _, m in seen)


@pytest.mark.parametrize("cls", BOOSTERS)
def test_exception_in_callback_propagates_unchanged(
    cls: type, data: tuple[np.ndarray, np.ndarray]
) -> None:
    x, y = data
    error = TrialPrunedError("trial 3 pruned at round 2")

    def cb(round_: int, metrics: dict[str, float]) -> None:
        if round_ == 2:
            raise error

    with pytest.raises(TrialPrunedError) as info:
        cls(n_estimators=50).fit(x, y, callback=cb)
    assert info.value is error


@pytest.mark.parametrize("cls", BOOSTERS)
def test_early_stopping_keeps_best_round(cls: type, data: tuple[np.ndarray, np.ndarray]) -> None:
    x, y = data
    noisy = y[2000:] + np.where(np.arange(1000) % 2 == 0, 4.0, -4.0)
    model = cls(n_estimators=2000, learning_rate=0.3).fit(
        x[:2000], y[:2000], eval_set=[(x[2000:], noisy)], early_stopping_rounds=10
    )
    assert 1 <= model.n_rounds < 2000


@pytest.mark.parametrize("cls", BOOSTERS)
def test_ctrl_c_interrupts_training(cls: type, data: tuple[np.ndarray, np.ndarray]) -> None:
    x, y = data
    # A shell that starts the test run in the background ignores SIGINT, and Python then keeps
    # it ignored; install Python's own handler, as an interactive session has it.
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    timer = threading.Timer(0.5, os.kill, (os.getpid(), signal.SIGINT))
    timer.start()
    try:
        # Bounded: a lost interrupt fails the test (training ends) instead of hanging it.
        with pytest.raises(KeyboardInterrupt):
            cls(n_estimators=20_000, learning_rate=0.01).fit(x, y)
    finally:
        timer.cancel()
        signal.signal(signal.SIGINT, previous)


@pytest.mark.parametrize("cls", BOOSTERS)
def test_same_seed_same_bytes(cls: type, data: tuple[np.ndarray, np.ndarray]) -> None:
    x, y = data
    a = cls(n_estimators=30, subsample=0.7, colsample_bytree=0.7, seed=11).fit(x, y).to_native()
    b = cls(n_estimators=30, subsample=0.7, colsample_bytree=0.7, seed=11).fit(x, y).to_native()
    c = cls(n_estimators=30, subsample=0.7, colsample_bytree=0.7, seed=12).fit(x, y).to_native()
    assert a == b
    assert a != c


@pytest.mark.parametrize("cls", BOOSTERS)
def test_save_load_and_column_major_input(
    cls: type, data: tuple[np.ndarray, np.ndarray], tmp_path: Path
) -> None:
    x, y = data
    model = cls(n_estimators=20).fit(np.asfortranarray(x), y, sample_weight=np.ones(len(y)))
    path = tmp_path / "model.bin"
    model.save_model(path)
    loaded = cls.load_model(path)
    np.testing.assert_array_equal(loaded.predict(x), model.predict(np.asfortranarray(x)))
    gain = model.feature_importance("gain")
    assert max(gain, key=gain.__getitem__) in ("f0", "f1")
    contrib = model.predict_contributions(x[:50])
    np.testing.assert_allclose(contrib.sum(axis=1), model.predict(x[:50]), atol=1e-4)


@pytest.mark.parametrize("cls", BOOSTERS)
def test_bad_inputs_raise_typed_errors(
    cls: type, data: tuple[np.ndarray, np.ndarray], tmp_path: Path
) -> None:
    x, y = data
    bad_y = y.copy()
    bad_y[7] = np.nan
    with pytest.raises(InvalidArgumentError, match="row 7"):
        cls(n_estimators=5).fit(x, bad_y)
    with pytest.raises(InvalidArgumentError, match="labels"):
        cls(n_estimators=5).fit(x, y[:-1])
    with pytest.raises(InvalidArgumentError, match="no_such_param"):
        cls(n_estimators=5, no_such_param=3).fit(x, y)
    with pytest.raises(NotFittedError):
        cls().predict(x)
    model = cls(n_estimators=5).fit(x, y)
    with pytest.raises(InvalidArgumentError, match="columns"):
        model.predict(x[:, :3])
    with pytest.raises(InvalidArgumentError, match="early_stopping_rounds"):
        cls(n_estimators=5).fit(x, y, early_stopping_rounds=3)
    native = model.to_native()
    for garbage in (b"", native[: len(native) // 2], b"\x00\xff" * 100, b"tree\nversion=v4\n"):
        path = tmp_path / "broken"
        path.write_bytes(garbage)
        with pytest.raises(ModelFileError):
            cls.load_model(path)


def test_categorical_columns(data: tuple[np.ndarray, np.ndarray]) -> None:
    rng = np.random.default_rng(0)
    codes = rng.integers(0, 6, size=3000).astype(np.float64)
    effect = np.array([0.0, 3.0, -2.0, 5.0, 1.0, -4.0])
    x = np.column_stack([data[0][:, :2], codes])
    y = x[:, 0] + effect[codes.astype(int)]
    for cls in BOOSTERS:
        model = cls(n_estimators=60, learning_rate=0.2).fit(x, y, categorical_features=[2])
        resid = y - model.predict(x)
        assert np.sqrt(np.mean(resid**2)) < 0.5, cls


def test_training_logs_reach_python_logging(
    data: tuple[np.ndarray, np.ndarray], caplog: pytest.LogCaptureFixture
) -> None:
    x, y = data
    with caplog.at_level(logging.INFO, logger="salesforecast"):
        sf.LightGBM(n_estimators=5, verbosity=1).fit(x, y)
    assert any(r.name.startswith("salesforecast.lightgbm") for r in caplog.records)


def test_interrupt_raised_inside_a_log_line_stops_training(
    data: tuple[np.ndarray, np.ndarray],
) -> None:
    """A Ctrl-C that lands while a booster's log line runs Python logging code must still stop
    training (the log bridge leaves it pending rather than raised)."""

    class InterruptOnce(logging.Handler):
        fired = False

        def emit(self, record: logging.LogRecord) -> None:
            if not self.fired:
                self.fired = True
                raise KeyboardInterrupt

    x, y = data
    logger = logging.getLogger("salesforecast")
    handler = InterruptOnce(logging.INFO)
    logger.addHandler(handler)
    old_level = logger.level
    logger.setLevel(logging.INFO)
    try:
        with pytest.raises(KeyboardInterrupt):
            sf.LightGBM(n_estimators=20_000, learning_rate=0.01, verbosity=1).fit(x, y)
    finally:
        logger.removeHandler(handler)
        logger.setLevel(old_level)
    assert handler.fired
