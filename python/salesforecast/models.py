"""XGBoost and LightGBM trained by the Rust core, usable alone or inside a Forecaster.

Common parameters have one name for both libraries; anything else is passed to the library
under its own name (``sf.LightGBM(max_bin=127)``, ``sf.XGBoost(max_bin=127)``).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, ClassVar, Literal, Self

import numpy as np
import numpy.typing as npt

from salesforecast._native import NativeBooster
from salesforecast.errors import InvalidArgumentError, NotFittedError

if TYPE_CHECKING:
    from salesforecast._strategies import Smearing

__all__ = ["LightGBM", "XGBoost", "available_threads", "threads_for"]

Objective = Literal["squared_error", "poisson", "tweedie", "quantile"]


def available_threads() -> int:
    """Cores this process may run on (the default thread count everywhere)."""
    return len(os.sched_getaffinity(0))


# Rows per thread below which another thread costs more in synchronisation than it saves: a
# small fit on every core mostly waits (and, beside other busy processes, waits for the
# scheduler).
ROWS_PER_THREAD = 20_000


def threads_for(n_rows: int) -> int:
    """Threads for a fit or feature pass over ``n_rows`` rows: one per ``ROWS_PER_THREAD`` rows,
    at least one, at most the cores available."""
    return max(1, min(available_threads(), n_rows // ROWS_PER_THREAD))


# Parameters that make a library read or write files (LightGBM's and XGBoost's names and
# aliases). A model's parameters can come from a bundle manifest, so they are refused outright.
FILE_PARAMETERS = frozenset(
    {
        "config", "config_file", "task", "data", "train", "train_data", "train_data_file",
        "data_filename", "valid", "test", "valid_data", "valid_data_file", "test_data",
        "test_data_file", "valid_filenames", "input_model", "model_input", "model_in",
        "output_model", "model_output", "model_out", "model_dir", "output_result",
        "predict_result", "prediction_result", "predict_name", "prediction_name", "pred_name",
        "name_pred", "forcedsplits_filename", "fs", "forced_splits_filename",
        "forced_splits_file", "forced_splits", "forcedbins_filename", "initscore_filename",
        "init_score_filename", "init_score_file", "init_score", "input_init_score",
        "valid_data_initscores", "valid_init_score_file", "valid_init_score", "convert_model",
        "convert_model_language", "parser_config_file", "machine_list_filename",
        "machine_list_file", "machine_list", "mlist", "machines", "save_binary",
        "is_save_binary", "is_save_binary_file", "snapshot_freq", "save_period", "fmap",
        "name_dump", "dump_format", "test:data",
    }
)  # fmt: skip
_FILE_SUFFIXES = ("_file", "_filename", "_filenames", "_dir", "_path")


def _refuse_file_parameters(native: dict[str, Any]) -> None:
    named = sorted(
        k
        for k in native
        if k.lower() in FILE_PARAMETERS or k.lower().endswith(_FILE_SUFFIXES) or "eval[" in k
    )
    if named:
        raise InvalidArgumentError(
            f"invalid argument {named}: parameters that make the library read or write files "
            "are not accepted"
        )


def _as_matrix(x: Any, name: str = "X") -> npt.NDArray[np.float64]:
    if hasattr(x, "to_numpy"):
        x = x.to_numpy()
    arr = np.asarray(x, dtype=np.float64)
    if arr.ndim != 2:
        raise InvalidArgumentError(
            f"invalid argument `{name}`: expected 2 dimensions, got {arr.ndim}"
        )
    # Column-major input (what polars and the feature engine produce) is passed without a copy.
    if not (arr.flags.c_contiguous or arr.flags.f_contiguous):
        arr = np.ascontiguousarray(arr)
    return arr


def _as_vector(y: Any, name: str = "y") -> npt.NDArray[np.float64]:
    if hasattr(y, "to_numpy"):
        y = y.to_numpy()
    arr = np.ascontiguousarray(y, dtype=np.float64)
    if arr.ndim != 1:
        raise InvalidArgumentError(
            f"invalid argument `{name}`: expected 1 dimension, got {arr.ndim}"
        )
    return arr


RoundCallback = Callable[[int, dict[str, float]], bool | None]
EvalSet = tuple[Any, Any] | tuple[Any, Any, Any]


class _Booster:
    library: ClassVar[str]

    def __init__(
        self,
        *,
        n_estimators: int,
        learning_rate: float,
        objective: Objective,
        tweedie_variance_power: float,
        alpha: float,
        seed: int,
        n_threads: int | None,
        native: dict[str, Any],
    ) -> None:
        if objective not in ("squared_error", "poisson", "tweedie", "quantile"):
            raise InvalidArgumentError(
                f"invalid argument `objective`: {objective!r} is not one of squared_error, "
                "poisson, tweedie, quantile"
            )
        if n_threads is not None and n_threads < 1:
            raise InvalidArgumentError("invalid argument `n_threads`: must be at least 1")
        _refuse_file_parameters(native)
        self.n_estimators = n_estimators
        self.learning_rate = learning_rate
        self.objective = objective
        self.tweedie_variance_power = tweedie_variance_power
        self.alpha = alpha
        self.seed = seed
        self.n_threads = n_threads
        self.native = native
        self.feature_names: list[str] | None = None
        # Set when a Forecaster fits it on a log1p target: the bias correction of its forecasts.
        self.smearing: Smearing | None = None
        self._booster: NativeBooster | None = None

    def native_params(self) -> list[tuple[str, str]]:
        """The parameters exactly as the library receives them."""
        raise NotImplementedError

    def params(self) -> dict[str, Any]:
        """The constructor arguments, common and native, that rebuild this model."""
        keys = [
            k
            for k in vars(self)
            if not k.startswith("_") and k not in ("native", "feature_names", "smearing")
        ]
        return {**{k: getattr(self, k) for k in keys}, **self.native}

    def fit(
        self,
        X: Any,  # noqa: N803
        y: Any,
        *,
        sample_weight: Any | None = None,
        eval_set: Sequence[EvalSet] = (),
        early_stopping_rounds: int | None = None,
        categorical_features: Sequence[int | str] = (),
        callback: RoundCallback | None = None,
    ) -> Self:
        """Trains on a 2-D feature matrix and a target vector (numpy, polars or pandas).

        ``eval_set``: ``[(X_val, y_val)]`` or ``[(X_val, y_val, weight)]``; with
        ``early_stopping_rounds`` training stops when the first metric of the last set has not
        improved for that many rounds and the model keeps its best round. ``callback(round,
        metrics)`` runs after every round: return True to stop; an exception it raises (for
        example ``optuna.TrialPruned``) stops training and propagates unchanged. The GIL is
        released while the C++ trains; Ctrl-C interrupts between rounds.
        """
        names = list(X.columns) if hasattr(X, "columns") else None
        categorical = [
            names.index(c) if isinstance(c, str) and names is not None else int(c)
            for c in categorical_features
        ]
        sets = [
            (
                _as_matrix(s[0], "eval_set"),
                _as_vector(s[1], "eval_set"),
                _as_vector(s[2], "eval_set") if len(s) == 3 else None,
            )
            for s in eval_set
        ]
        self._booster = NativeBooster.fit(
            self.library,
            _as_matrix(X),
            _as_vector(y),
            self.n_estimators,
            self.native_params(),
            None if sample_weight is None else _as_vector(sample_weight, "sample_weight"),
            sets,
            early_stopping_rounds,
            categorical,
            callback,
        )
        self.feature_names = [str(n) for n in names] if names is not None else None
        return self

    def predict(self, X: Any) -> npt.NDArray[np.float64]:  # noqa: N803
        """One prediction per row of ``X``."""
        return np.asarray(self._fitted().predict(_as_matrix(X)), dtype=np.float64)

    def predict_contributions(self, X: Any) -> npt.NDArray[np.float64]:  # noqa: N803
        """Native TreeSHAP values, shape ``(n_rows, n_features + 1)``; the last column is the
        bias and each row sums to the raw prediction."""
        return self._fitted().contributions(_as_matrix(X))

    def feature_importance(
        self, importance_type: Literal["gain", "split"] = "gain"
    ) -> dict[str, float]:
        """Importance per feature: ``"gain"`` (total gain of its splits) or ``"split"`` (number
        of splits), keyed by feature name (``f0``, ``f1``, ... without names)."""
        values = self._fitted().importance(importance_type)
        names = self.feature_names or [f"f{i}" for i in range(len(values))]
        return dict(zip(names, values, strict=True))

    @property
    def n_rounds(self) -> int:
        """Boosting rounds in the trained model (the best one after early stopping)."""
        return self._fitted().n_rounds

    def to_native(self, *, json: bool = False) -> bytes:
        """The trained model in the library's native format (LightGBM text, XGBoost UBJSON;
        ``json=True`` gives XGBoost JSON)."""
        return self._fitted().to_native(json)

    def save_model(self, path: str | os.PathLike[str]) -> None:
        """Writes the native model file (readable by the Python ``lightgbm``/``xgboost``)."""
        data = self.to_native()
        tmp = f"{os.fspath(path)}.tmp"
        with open(tmp, "wb") as f:
            f.write(data)
        os.replace(tmp, path)

    @classmethod
    def load_model(cls, path: str | os.PathLike[str], **params: Any) -> Self:
        """Reads a native model file written by ``save_model`` (or by the Python packages)."""
        with open(path, "rb") as f:
            return cls.from_native(f.read(), **params)

    @classmethod
    def from_native(cls, data: bytes, **params: Any) -> Self:
        """A model from the bytes of a native model file (as ``to_native`` returns them)."""
        model = cls(**params)
        model._booster = NativeBooster.from_native(cls.library, data)
        return model

    def _fitted(self) -> NativeBooster:
        if self._booster is None:
            raise NotFittedError(f"{type(self).__name__} is not fitted; call fit first")
        return self._booster

    def _threads(self) -> int:
        return self.n_threads if self.n_threads is not None else available_threads()

    def __repr__(self) -> str:
        return f"{type(self).__name__}({', '.join(f'{k}={v}' for k, v in self.native_params())})"


_COMMON_PARAMETERS = """
    Common parameters: ``n_estimators`` boosting rounds; ``learning_rate`` shrinkage per round;
    ``subsample`` / ``colsample_bytree`` the share of rows / features each tree sees;
    ``reg_alpha`` / ``reg_lambda`` L1 / L2 penalties on leaf weights; ``objective`` one of
    ``"squared_error"``, ``"poisson"``, ``"tweedie"`` (with ``tweedie_variance_power`` in
    [1, 2)) or ``"quantile"`` (at ``alpha``); ``seed``; ``n_threads`` (default: scaled to the
    rows). Any other keyword goes to the library unchanged under its native name.
"""


class LightGBM(_Booster):
    """LightGBM gradient boosting (vendored LightGBM 4.7, trained through its C API).

    Tree shape: ``num_leaves`` (leaves per tree, the main capacity knob), ``max_depth`` (-1:
    unlimited), ``min_child_samples`` (rows a leaf needs; raise it on short, noisy panels).
    """

    library = "lightgbm"

    def __init__(
        self,
        *,
        n_estimators: int = 300,
        learning_rate: float = 0.05,
        num_leaves: int = 31,
        max_depth: int = -1,
        min_child_samples: int = 20,
        subsample: float = 1.0,
        colsample_bytree: float = 0.8,
        reg_alpha: float = 0.0,
        reg_lambda: float = 0.0,
        objective: Objective = "squared_error",
        tweedie_variance_power: float = 1.5,
        alpha: float = 0.5,
        seed: int = 0,
        n_threads: int | None = None,
        **native: Any,
    ) -> None:
        super().__init__(
            n_estimators=n_estimators,
            learning_rate=learning_rate,
            objective=objective,
            tweedie_variance_power=tweedie_variance_power,
            alpha=alpha,
            seed=seed,
            n_threads=n_threads,
            native=native,
        )
        self.num_leaves = num_leaves
        self.max_depth = max_depth
        self.min_child_samples = min_child_samples
        self.subsample = subsample
        self.colsample_bytree = colsample_bytree
        self.reg_alpha = reg_alpha
        self.reg_lambda = reg_lambda

    def native_params(self) -> list[tuple[str, str]]:
        """LightGBM parameter names and values."""
        objective = {"squared_error": "regression"}.get(self.objective, self.objective)
        params: dict[str, Any] = {
            "objective": objective,
            "learning_rate": self.learning_rate,
            "num_leaves": self.num_leaves,
            "max_depth": self.max_depth,
            "min_data_in_leaf": self.min_child_samples,
            "bagging_fraction": self.subsample,
            "bagging_freq": 1 if self.subsample < 1.0 else 0,
            "feature_fraction": self.colsample_bytree,
            "lambda_l1": self.reg_alpha,
            "lambda_l2": self.reg_lambda,
            "seed": self.seed,
            "deterministic": "true",
            "num_threads": self._threads(),
            "verbosity": -1,
        }
        if self.objective == "tweedie":
            params["tweedie_variance_power"] = self.tweedie_variance_power
        if self.objective == "quantile":
            params["alpha"] = self.alpha
        params.update(self.native)
        return [(k, str(v)) for k, v in params.items()]


class XGBoost(_Booster):
    """XGBoost gradient boosting (XGBoost 3.4, trained through its C API).

    Tree shape: ``max_depth`` (levels per tree, the main capacity knob), ``min_child_weight``
    (hessian a leaf needs; raise it on short, noisy panels).
    """

    library = "xgboost"

    def __init__(
        self,
        *,
        n_estimators: int = 300,
        learning_rate: float = 0.05,
        max_depth: int = 8,
        min_child_weight: float = 1.0,
        subsample: float = 0.8,
        colsample_bytree: float = 0.8,
        reg_alpha: float = 0.0,
        reg_lambda: float = 1.0,
        objective: Objective = "squared_error",
        tweedie_variance_power: float = 1.5,
        alpha: float = 0.5,
        seed: int = 0,
        n_threads: int | None = None,
        **native: Any,
    ) -> None:
        super().__init__(
            n_estimators=n_estimators,
            learning_rate=learning_rate,
            objective=objective,
            tweedie_variance_power=tweedie_variance_power,
            alpha=alpha,
            seed=seed,
            n_threads=n_threads,
            native=native,
        )
        self.max_depth = max_depth
        self.min_child_weight = min_child_weight
        self.subsample = subsample
        self.colsample_bytree = colsample_bytree
        self.reg_alpha = reg_alpha
        self.reg_lambda = reg_lambda

    def native_params(self) -> list[tuple[str, str]]:
        """XGBoost parameter names and values."""
        objective = {
            "squared_error": "reg:squarederror",
            "poisson": "count:poisson",
            "tweedie": "reg:tweedie",
            "quantile": "reg:quantileerror",
        }[self.objective]
        params: dict[str, Any] = {
            "objective": objective,
            "eta": self.learning_rate,
            "max_depth": self.max_depth,
            "min_child_weight": self.min_child_weight,
            "subsample": self.subsample,
            "colsample_bytree": self.colsample_bytree,
            "alpha": self.reg_alpha,
            "lambda": self.reg_lambda,
            "tree_method": "hist",
            "seed": self.seed,
            "nthread": self._threads(),
            "verbosity": 0,
        }
        if self.objective == "tweedie":
            params["tweedie_variance_power"] = self.tweedie_variance_power
        if self.objective == "quantile":
            params["quantile_alpha"] = self.alpha
        params.update(self.native)
        return [(k, str(v)) for k, v in params.items()]


# Both boosters document the parameters they share once.
for _booster in (LightGBM, XGBoost):
    _booster.__doc__ = f"{_booster.__doc__}{_COMMON_PARAMETERS}"
