"""What ``fit`` learns from its calibration windows: the ensemble weights and the conformity
scores that interval widths are read from, and how both are applied to raw forecasts."""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import polars as pl

from salesforecast import _native
from salesforecast.config import Ensemble, Intervals
from salesforecast.errors import InvalidArgumentError

Widths = dict[str, list[list[tuple[float, float]]]]

# What conformity scores and widths are measured in, as bundles record it: the series' scale
# alone, or the spread of each period (see `spreads`). A changed rule gets a new name, so a
# bundle is never read in a unit it was not calibrated in. (One exception kept the name: a
# series without a seasonal pair was scaled by 1% of its mean, now by its naive error; a bundle
# from before reads such a series' intervals wider than its nearly empty ones of then.)
SERIES_SCALE = "series_scale"
LEVEL_SPREAD = "level_spread_v1"
INTERVAL_UNITS = (SERIES_SCALE, LEVEL_SPREAD)


@dataclass(frozen=True)
class Calibration:
    """Ensemble weights (``None`` without an ensemble) and, per model and the ensemble, the
    calibration errors of each forecast step, each divided by its period's spread."""

    weights: dict[str, float] | None
    conformity_scores: dict[str, list[list[float]]] | None
    method: str
    # How far the optimized weights were trusted over the robust mix (``None``: not optimized
    # or not known, as in a bundle).
    trust: float | None = None
    # What errors and widths are measured in (one of `INTERVAL_UNITS`; bundles from before the
    # spread were calibrated in the series' scale).
    unit: str = LEVEL_SPREAD
    # The baseline the ensemble fell back to because the blend did not beat it out of fold
    # (``None``: it did, no baseline was a member, or not known, as in a bundle saved before
    # it was recorded).
    fallback: str | None = None
    # Series-windows where the blend, weighted without their window, beat the better baseline,
    # and all series-windows (``None`` where not judged).
    beaten: tuple[int, int] | None = None

    @classmethod
    def fit(
        cls,
        cv: pl.DataFrame,
        model_names: Sequence[str],
        target_col: str,
        ensemble: Ensemble | None,
        intervals: Intervals,
        horizon: int,
        keys: Sequence[str],
        baselines: Sequence[str] = (),
    ) -> Calibration:
        """From out-of-fold forecasts of the series ``keys`` with their step (``_step``), series
        scale (``_scale``) and recent level (``_level``) and window number (``_window``). The
        optimized ensemble falls back to the better of the ``baselines`` (naive members) where
        its blend does not beat it out of fold (the core's gate)."""
        y = cv[target_col].to_numpy()
        ok = np.isfinite(y)
        preds = [cv[name].to_numpy() for name in model_names]
        for p in preds:
            ok &= np.isfinite(p)
        trust = None
        fallback: str | None = None
        beaten: tuple[int, int] | None = None
        w = [1.0 / len(preds)] * len(preds)
        # Weights each calibration window's ensemble errors are measured with (see below).
        held_out_weights: list[tuple[int, list[float]]] = []
        windows = cv["_window"].to_numpy()
        if ensemble is not None and ensemble.kind == "optimized":
            # Divided by each series' scale, every series counts alike in the weights. A series
            # with no history to scale by (all zeros before the window: a launch) would count
            # a billion times over, alike for every model, so it is left out of the weights.
            scale = cv["_scale"].to_numpy()
            typical = np.median(scale[ok]) if ok.any() else 0.0
            used = ok & (scale > 1e-6 * typical)
            # Each series in each window is one piece of evidence of how the models rank.
            _, blocks = np.unique(
                cv.select(pl.struct("_window", *keys).rank("dense")).to_series().to_numpy()[used],
                return_inverse=True,
            )
            held, in_windows = np.unique(windows[used], return_inverse=True)
            w, trust, held_out, fell_back, won, judged = _native.ensemble_weights(
                [(p[used] / scale[used]).tolist() for p in preds],
                (y[used] / scale[used]).tolist(),
                blocks.tolist(),
                in_windows.tolist(),
                [model_names.index(b) for b in baselines],
                ensemble.loss,
            )
            if judged:
                beaten = (won, judged)
            if fell_back is not None:
                fallback = model_names[fell_back]
            else:
                # The ensemble's errors in a window come from weights fitted without it (as
                # the gate scored them): weights fitted on the errors they are then scored on
                # would make its intervals narrow.
                held_out_weights = list(zip(held.tolist(), held_out, strict=True))
        weights = dict(zip(model_names, w, strict=True))
        columns = dict(zip(model_names, preds, strict=True))
        if ensemble is not None:
            # A fallen-back ensemble is its baseline, whose errors are out of fold as they are.
            combined = (
                columns[fallback]
                if fallback is not None
                else np.sum([wi * p for wi, p in zip(w, preds, strict=True)], axis=0)
            )
            for window, w_out in held_out_weights:
                out = windows == window
                combined[out] = np.sum(
                    [wi * p[out] for wi, p in zip(w_out, preds, strict=True)], axis=0
                )
            columns["ensemble"] = combined
        spread = spreads(cv, model_names)
        steps = cv["_step"].to_numpy()
        scores = {}
        for name, p in columns.items():
            errors = np.asarray(_native.conformity_scores((y - p) / spread, intervals.method))
            scores[name] = [
                errors[(steps == k) & np.isfinite(errors)].tolist() for k in range(1, horizon + 1)
            ]
        return cls(weights, scores, intervals.method, trust, fallback=fallback, beaten=beaten)

    def widths(self, levels: Sequence[int]) -> Widths:
        """Interval offsets (in units of each period's spread) per model, step and level."""
        if self.conformity_scores is None:
            raise InvalidArgumentError(
                "invalid argument `levels`: this forecaster has no conformity scores (a bundle "
                "from an older version); refit it to forecast other levels"
            )
        return {
            name: _native.conformal_widths(groups, [float(lv) for lv in levels], self.method)
            for name, groups in self.conformity_scores.items()
        }

    def to_parquet(self) -> bytes:
        """The conformity scores as a long parquet table (model, step, score)."""
        scores = self.conformity_scores or {}
        table = pl.DataFrame(
            {
                "model": [name for name, steps in scores.items() for g in steps for _ in g],
                "step": [k for steps in scores.values() for k, g in enumerate(steps, 1) for _ in g],
                "score": [v for steps in scores.values() for g in steps for v in g],
            },
            schema={"model": pl.String, "step": pl.Int32, "score": pl.Float64},
        )
        buffer = io.BytesIO()
        table.write_parquet(buffer)
        return buffer.getvalue()

    @staticmethod
    def scores_from_parquet(data: bytes, horizon: int) -> dict[str, list[list[float]]]:
        scores = pl.read_parquet(io.BytesIO(data))
        return {
            name: [g.filter(pl.col("step") == k)["score"].to_list() for k in range(1, horizon + 1)]
            for (name,), g in scores.group_by("model", maintain_order=True)
        }


def with_ensemble(frame: pl.DataFrame, weights: dict[str, float] | None) -> pl.DataFrame:
    """``frame`` with the weighted ``ensemble`` column (unchanged without weights)."""
    if not weights:
        return frame
    # A member without weight (all but the baseline of a fallen-back ensemble) is left out, so
    # a series it cannot forecast (NaN) does not blank the ensemble.
    return frame.with_columns(
        pl.sum_horizontal(pl.col(n) * w for n, w in weights.items() if w > 0).alias("ensemble")
    )


def at_least(value: pl.Expr, floor: str) -> pl.Expr:
    """``value`` raised to the ``floor`` column; missing values stay missing (max_horizontal
    would turn them into the floor)."""
    return pl.when(value < pl.col(floor)).then(pl.col(floor)).otherwise(value)


def spreads(frame: pl.DataFrame, members: Sequence[str]) -> np.ndarray:
    """The unit each row's interval is measured in: its series' scale (``_scale``) grown with
    the members' median forecast relative to the series' recent level (``_level``). The median,
    not each model's own forecast, so that (with three models or more) a model that forecasts a
    drop does not narrow its own interval where the drop may not come."""
    consensus = frame.select(
        pl.concat_list(pl.col(n).cast(pl.Float64).fill_nan(None) for n in members)
        .list.median()
        .fill_null(float("nan"))
    ).to_series()
    return _native.interval_spreads(
        consensus.to_numpy(), frame["_scale"].to_numpy(), frame["_level"].to_numpy()
    )


def with_intervals(
    raw: pl.DataFrame,
    scales: pl.DataFrame,
    keys: list[str],
    widths: Widths,
    levels: Sequence[int],
    level_from: Sequence[str] | None,
) -> pl.DataFrame:
    """``raw`` (with ``_step``) with ``{model}-lo-{level}`` / ``{model}-hi-{level}`` for every
    model of ``widths``: the forecast plus each step's offset times the row's spread (of the
    models ``level_from``; the series' scale alone when ``None``), clipped at the series'
    floor."""
    if not widths:
        return raw
    out = raw.join(scales, on=keys, how="left")
    spread = (
        pl.lit(pl.Series(spreads(out, level_from), nan_to_null=True))
        if level_from is not None
        else pl.col("_scale")
    )
    step = pl.col("_step") - 1
    for name, per_step in widths.items():
        for j, level in enumerate(levels):
            lo = pl.lit(pl.Series([w[j][0] for w in per_step])).gather(step)
            hi = pl.lit(pl.Series([w[j][1] for w in per_step])).gather(step)
            out = out.with_columns(
                at_least(pl.col(name) + lo * spread, "_floor").alias(f"{name}-lo-{level}"),
                at_least(pl.col(name) + hi * spread, "_floor").alias(f"{name}-hi-{level}"),
            )
    return out.drop("_scale", "_level", "_floor")
