"""Type stubs of the compiled core. Not a public API: use the functions `salesforecast` exports."""

import datetime as dt
from collections.abc import Callable, Sequence
from typing import Literal, final

import numpy as np
import numpy.typing as npt
import polars as pl

from salesforecast.config import ColumnRoles

__all__ = [
    "GUARD_LIMIT",
    "FeatureStepper",
    "NativeBooster",
    "__version__",
    "baseline_forecasts",
    "build_features",
    "bundle_check_manifest",
    "check_feature_part",
    "check_features",
    "check_forecastable",
    "check_frame",
    "check_stat_model",
    "conformal_widths",
    "conformity_scores",
    "ensemble_weights",
    "evaluate",
    "feature_lookback",
    "future_periods",
    "generate_sales",
    "guard_forecasts",
    "interval_scales",
    "interval_spreads",
    "log1p_smeared",
    "log1p_smearing_factors",
    "parse_frequency",
    "periods_per_year_of",
    "render_chart",
    "residual_tests",
    "season_length_of",
    "shift_times",
    "stat_forecasts",
    "storage_check_relative",
    "storage_delete",
    "storage_delete_prefix",
    "storage_exists",
    "storage_get",
    "storage_get_within",
    "storage_list",
    "storage_put",
    "time_split",
    "validate",
]

__version__: str
GUARD_LIMIT: float

def generate_sales(
    n_stores: int,
    n_products: int,
    start: dt.date,
    end: dt.date,
    freq: str,
    seed: int,
    n_threads: int | None = None,
) -> pl.DataFrame: ...
def validate(
    df: pl.DataFrame,
    roles: ColumnRoles,
    freq: str | None,
    min_length: int | None,
    outlier_threshold: float,
    as_of: dt.datetime,
    reference: pl.DataFrame | None,
    drift_threshold: float,
    raise_on_error: bool,
) -> str: ...
def time_split(
    df: pl.DataFrame,
    roles: ColumnRoles,
    test_periods: int,
    val_periods: int,
    gap: int,
    freq: str | None,
) -> list[pl.DataFrame]: ...
def build_features(
    df: pl.DataFrame,
    spec_json: str,
    roles: ColumnRoles,
    freq: str | None,
    holidays: Sequence[dt.date] | None,
    float32: bool,
    n_threads: int | None,
    last_period_only: bool = False,
) -> tuple[pl.DataFrame, pl.Series | None]: ...
def feature_lookback(spec_json: str, within: int | None = None) -> int: ...
def check_features(spec_json: str) -> None: ...
def check_feature_part(part: str, entry_json: str, name: str) -> None: ...
def check_forecastable(
    spec_json: str, horizon: int, recursive: bool, has_past_only: bool
) -> None: ...
def log1p_smearing_factors(
    spec_json: str, residuals: npt.NDArray[np.float64], sizes: list[int]
) -> tuple[list[float], float] | None: ...
def log1p_smeared(
    values: npt.NDArray[np.float64], factors: npt.NDArray[np.float64]
) -> npt.NDArray[np.float64]: ...
def parse_frequency(freq: str) -> str: ...
def periods_per_year_of(freq: str) -> int | None: ...
def season_length_of(freq: str) -> int: ...
def check_frame(
    df: pl.DataFrame,
    roles: ColumnRoles,
    freq: str | None,
    target: Literal["finite", "optional", "unread"],
    frame: str,
) -> None: ...
def shift_times(
    times: pl.Series, freq: str, k: int, outside: Literal["refuse", "null"]
) -> pl.Series: ...
def future_periods(df: pl.DataFrame, roles: ColumnRoles, freq: str, h: int) -> pl.DataFrame: ...
def baseline_forecasts(
    df: pl.DataFrame, roles: ColumnRoles, freq: str, kind: str, parameter: int, h: int
) -> pl.DataFrame: ...
def stat_forecasts(
    df: pl.DataFrame,
    roles: ColumnRoles,
    freq: str,
    kind: str,
    setting: str | None,
    damped: bool | None,
    season_length: int,
    h: int,
    n_threads: int | None = None,
) -> pl.DataFrame: ...
def check_stat_model(kind: str, setting: str | None, damped: bool | None) -> None: ...
def interval_scales(
    df: pl.DataFrame, roles: ColumnRoles, freq: str, season_length: int, level_periods: int
) -> pl.DataFrame: ...
def interval_spreads(
    forecasts: npt.NDArray[np.float64],
    scales: npt.NDArray[np.float64],
    levels: npt.NDArray[np.float64],
) -> npt.NDArray[np.float64]: ...
def evaluate(
    forecasts: pl.DataFrame,
    history: pl.DataFrame | None,
    roles: ColumnRoles,
    models: list[str],
    levels: list[int],
    season_length: int,
    segment_col: str | None,
    cutoff_col: str | None,
    freq: str | None,
) -> pl.DataFrame: ...
def ensemble_weights(
    predictions: list[list[float]],
    target: list[float],
    blocks: list[int],
    windows: list[int],
    baselines: list[int],
    loss: str,
) -> tuple[list[float], float, list[list[float]], int | None, int, int]: ...
def guard_forecasts(
    forecasts: list[list[float]],
    seasonal_naive: list[float],
    last_year: list[float],
    lengths: list[int],
    scales: list[float],
) -> tuple[list[list[float]], list[list[float]], list[list[bool]], list[float]]: ...
def conformity_scores(scaled_errors: npt.NDArray[np.float64], method: str) -> list[float]: ...
def conformal_widths(
    scores: list[list[float]], levels: list[float], method: str
) -> list[list[tuple[float, float]]]: ...
def render_chart(
    kind: str, spec_json: str, width: int, height: int, format: str
) -> tuple[bytes, tuple[float, float], tuple[float, float]]: ...
def residual_tests(
    stretches: list[list[float]], max_lag: int
) -> tuple[list[float], tuple[float, float], tuple[float, float], int]: ...

@final
class FeatureStepper:
    """One recursive forecast in progress: every series' history, extended by `push`."""

    def __new__(
        cls,
        df: pl.DataFrame,
        spec_json: str,
        roles: ColumnRoles,
        freq: str | None,
        holidays: Sequence[dt.date] | None,
    ) -> FeatureStepper: ...
    def last_rows(self) -> list[int]: ...
    def features(self, known_future: list[list[float]]) -> pl.DataFrame: ...
    def push_predictions(self, values: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]: ...
    def __copy__(self) -> FeatureStepper: ...

@final
class NativeBooster:
    """A trained booster. Build it with `fit` or `from_native`."""

    @staticmethod
    def fit(
        library: str,
        x: npt.NDArray[np.float64],
        y: npt.NDArray[np.float64],
        n_rounds: int,
        params: list[tuple[str, str]],
        sample_weight: npt.NDArray[np.float64] | None = None,
        eval_set: list[
            tuple[npt.NDArray[np.float64], npt.NDArray[np.float64], npt.NDArray[np.float64] | None]
        ] = ...,
        early_stopping_rounds: int | None = None,
        categorical: list[int] = ...,
        callback: Callable[[int, dict[str, float]], bool | None] | None = None,
    ) -> NativeBooster: ...
    @staticmethod
    def from_native(library: str, data: bytes) -> NativeBooster: ...
    def predict(self, x: npt.NDArray[np.float64]) -> list[float]: ...
    def contributions(self, x: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]: ...
    def importance(self, kind: str) -> list[float]: ...
    def to_native(self, json: bool = False) -> bytes: ...
    @property
    def library(self) -> str: ...
    @property
    def n_rounds(self) -> int: ...
    @property
    def n_features(self) -> int: ...

def storage_put(uri: str, data: bytes) -> None: ...
def storage_get(uri: str) -> bytes: ...
def storage_get_within(base: str, relative: str) -> bytes: ...
def storage_check_relative(relative: str) -> None: ...
def bundle_check_manifest(
    raw: bytes, base: str
) -> tuple[int, str | None, list[tuple[str, str]]]: ...
def storage_exists(uri: str) -> bool: ...
def storage_list(uri: str) -> list[str]: ...
def storage_delete(uri: str) -> None: ...
def storage_delete_prefix(uri: str) -> None: ...
