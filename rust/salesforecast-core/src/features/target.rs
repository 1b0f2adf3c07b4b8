//! The target's transform chain per series: applied before the features are built, undone on
//! predictions one period at a time, and the bias correction of the log1p back-transform.

use super::spec::{FeatureSpec, Stat, TargetTransform};
use super::{kernels, Grid};
use crate::error::{CoreError, Result};
use polars::prelude::IdxSize;

/// Per-series location and scale of a transform: `standardize`'s mean and standard deviation,
/// the identity for the others. Fitted once on the history a forecast starts from, so every
/// step of the forecast reads and undoes the same scale.
#[derive(Debug, Clone, Copy)]
pub(super) struct ScaleState {
    mean: f64,
    std: f64,
}

const IDENTITY: ScaleState = ScaleState {
    mean: 0.0,
    std: 1.0,
};

/// Applies `transforms` in order to one series' values on its grid; returns the scale of each
/// transform (in chain order).
pub(super) fn transform_series(
    y: &mut [f64],
    transforms: &[TargetTransform],
    label: &dyn Fn() -> String,
    target_col: &str,
) -> Result<Vec<ScaleState>> {
    let mut states = Vec::with_capacity(transforms.len());
    for t in transforms {
        let mut state = IDENTITY;
        match *t {
            TargetTransform::Log1p => {
                if let Some(v) = y.iter().find(|v| **v <= -1.0) {
                    return Err(CoreError::invalid_data(
                        target_col,
                        format!("log1p needs values above -1; series {} has {v}", label()),
                    ));
                }
                for v in y.iter_mut() {
                    *v = v.ln_1p();
                }
            }
            TargetTransform::Standardize => {
                let mut finite: Vec<f64> = y.iter().copied().filter(|v| v.is_finite()).collect();
                let mean = kernels::stat_of(&mut finite, Stat::Mean);
                let std = kernels::stat_of(&mut finite, Stat::Std);
                state = ScaleState {
                    mean: if mean.is_finite() { mean } else { 0.0 },
                    std: if std.is_finite() && std > 0.0 {
                        std
                    } else {
                        1.0
                    },
                };
                for v in y.iter_mut() {
                    *v = (*v - state.mean) / state.std;
                }
            }
            TargetTransform::Difference(k) => {
                for q in (0..y.len()).rev() {
                    y[q] = if q >= k { y[q] - y[q - k] } else { f64::NAN };
                }
            }
        }
        states.push(state);
    }
    Ok(states)
}

/// One series' target at every stage of the chain: `stages[0]` on the target's scale,
/// `stages[i]` after the first `i` transforms (the last stage is what the features read).
#[derive(Debug, Clone)]
pub(super) struct TargetStages {
    stages: Vec<Vec<f64>>,
    /// The scale of each transform, in chain order.
    scales: Vec<ScaleState>,
}

impl TargetStages {
    pub(super) fn new(
        raw: Vec<f64>,
        transforms: &[TargetTransform],
        label: &dyn Fn() -> String,
        target_col: &str,
    ) -> Result<Self> {
        let mut stages = Vec::with_capacity(transforms.len() + 1);
        let mut scales = Vec::with_capacity(transforms.len());
        let mut current = raw;
        for t in transforms {
            let mut next = current.clone();
            scales.extend(transform_series(
                &mut next,
                std::slice::from_ref(t),
                label,
                target_col,
            )?);
            stages.push(std::mem::replace(&mut current, next));
        }
        stages.push(current);
        Ok(Self { stages, scales })
    }

    /// Periods in the history.
    pub(super) fn len(&self) -> usize {
        self.stages[0].len()
    }

    /// The fully transformed history: what the features read.
    pub(super) fn transformed(&self) -> &[f64] {
        &self.stages[self.stages.len() - 1]
    }

    /// Appends the next period's prediction, made on the transformed scale, and returns it on
    /// the target's scale. The chain is undone in reverse: a difference at lag `k` adds the
    /// value `k` periods earlier at its own stage (an earlier prediction once the forecast is
    /// `k` steps in; where that period is missing, the last value before it), standardize
    /// rescales with the history's scale, log1p takes `expm1`. A value that cannot be undone
    /// (nothing observed `k` or more periods back) is NaN at every stage.
    pub(super) fn push_prediction(&mut self, transforms: &[TargetTransform], value: f64) -> f64 {
        let p = self.len();
        let mut v = value;
        for (i, t) in transforms.iter().enumerate().rev() {
            self.stages[i + 1].push(v);
            v = match *t {
                TargetTransform::Log1p => v.exp_m1(),
                TargetTransform::Standardize => v * self.scales[i].std + self.scales[i].mean,
                TargetTransform::Difference(k) => match p.checked_sub(k) {
                    Some(q) if self.stages[i][q].is_finite() => v + self.stages[i][q],
                    // A missing target there (a gap, an unreported last period) would make
                    // every later step NaN: the level carries over from the last value known.
                    // The difference itself stays undefined, as the features read it.
                    Some(q) => {
                        self.stages[i + 1][p] = f64::NAN;
                        v + self.stages[i][..q]
                            .iter()
                            .rev()
                            .find(|x| x.is_finite())
                            .copied()
                            .unwrap_or(f64::NAN)
                    }
                    None => f64::NAN,
                },
            };
        }
        self.stages[0].push(v);
        if v.is_nan() {
            // Undefined on the target's scale (a difference reading a missing period): so it is
            // at every stage, as transforming the history would have it.
            for stage in &mut self.stages[1..] {
                stage[p] = f64::NAN;
            }
        }
        v
    }
}

/// Undoes the target transforms on the predictions of a multi-step forecast, one period per
/// call in step order, for every series of the history it starts from.
#[derive(Debug, Clone)]
pub struct TargetInverter {
    transforms: Vec<TargetTransform>,
    series: Vec<TargetStages>,
    /// Input row of each series' last row: the series come (and predictions are given) in
    /// this order.
    last_rows: Vec<IdxSize>,
}

impl TargetInverter {
    /// From a panel laid on its grid, with its target in panel order.
    pub(super) fn on_grid(
        grid: &Grid,
        raw: &[f64],
        spec: &FeatureSpec,
        target_col: &str,
    ) -> Result<Self> {
        let panel = &grid.panel;
        let mut buf = Vec::new();
        let series = (0..panel.n_series())
            .map(|s| {
                let history = grid.dense(s, raw, &mut buf).to_vec();
                TargetStages::new(
                    history,
                    &spec.target_transforms,
                    &|| panel.label(s),
                    target_col,
                )
            })
            .collect::<Result<_>>()?;
        Ok(Self {
            transforms: spec.target_transforms.clone(),
            series,
            last_rows: (0..panel.n_series())
                .map(|s| panel.order[panel.offsets[s + 1] - 1])
                .collect(),
        })
    }

    pub fn n_series(&self) -> usize {
        self.series.len()
    }

    pub fn last_rows(&self) -> &[IdxSize] {
        &self.last_rows
    }

    pub(super) fn series(&self, s: usize) -> &TargetStages {
        &self.series[s]
    }

    /// Appends the next period's predictions (transformed scale, one per series) to the
    /// histories and returns them on the target's scale.
    pub fn push_predictions(&mut self, values: &[f64]) -> Result<Vec<f64>> {
        if values.len() != self.n_series() {
            return Err(CoreError::invalid_argument(
                "values",
                format!("{} values for {} series", values.len(), self.n_series()),
            ));
        }
        Ok(self
            .series
            .iter_mut()
            .zip(values)
            .map(|(history, &v)| history.push_prediction(&self.transforms, v))
            .collect())
    }
}

/// Duan's smearing estimate of the log1p back-transform's bias, from log-scale residuals
/// (actual minus predicted) grouped by series (`sizes[s]` consecutive residuals each):
/// `expm1` of a mean log is the geometric mean, below the mean, and `E[1 + y]` is
/// `exp(prediction) * E[exp(residual)]`. Returns each series' factor and the panel's (over
/// every residual, for series not seen at fit); non-finite residuals are skipped and a series
/// without any gets the panel's factor. `None` when the spec's chain cannot be corrected this
/// way (see `FeatureSpec::smearing_applies`).
pub fn smearing_factors(
    spec: &FeatureSpec,
    residuals: &[f64],
    sizes: &[usize],
) -> Result<Option<(Vec<f64>, f64)>> {
    if sizes.iter().sum::<usize>() != residuals.len() {
        return Err(CoreError::invalid_argument(
            "sizes",
            format!(
                "the series sizes add up to {}, not the {} residuals",
                sizes.iter().sum::<usize>(),
                residuals.len()
            ),
        ));
    }
    if !spec.smearing_applies() {
        return Ok(None);
    }
    let mean_exp = |values: &[f64]| -> Option<f64> {
        let (sum, n) = values
            .iter()
            .filter(|e| e.is_finite())
            .fold((0.0, 0usize), |(sum, n), e| (sum + e.exp(), n + 1));
        (n > 0).then(|| sum / n as f64)
    };
    let panel = mean_exp(residuals).unwrap_or(1.0);
    let mut start = 0;
    let per_series = sizes
        .iter()
        .map(|&n| {
            let factor = mean_exp(&residuals[start..start + n]).unwrap_or(panel);
            start += n;
            factor
        })
        .collect();
    Ok(Some((per_series, panel)))
}

/// Forecasts on the target's scale with the smearing `factors` (one per value) applied to the
/// log1p back-transform: `(1 + y) * factor - 1`.
pub fn smeared(values: &[f64], factors: &[f64]) -> Result<Vec<f64>> {
    if values.len() != factors.len() {
        return Err(CoreError::invalid_argument(
            "factors",
            format!("{} factors for {} values", factors.len(), values.len()),
        ));
    }
    Ok(values
        .iter()
        .zip(factors)
        .map(|(&y, &f)| (1.0 + y) * f - 1.0)
        .collect())
}
