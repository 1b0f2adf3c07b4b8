//! Ensemble weights: non-negative, summing to one, fitted on out-of-fold predictions.

use crate::error::{CoreError, Result};
use crate::metrics::median;
use std::collections::BTreeMap;

/// What the weights minimise on the cross-validation predictions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EnsembleLoss {
    Squared,
    Absolute,
}

impl EnsembleLoss {
    pub fn parse(text: &str) -> Result<Self> {
        match text {
            "squared" => Ok(Self::Squared),
            "absolute" => Ok(Self::Absolute),
            other => Err(CoreError::invalid_argument(
                "ensemble_loss",
                format!("{other:?} is neither \"squared\" nor \"absolute\""),
            )),
        }
    }

    /// The loss of one error.
    fn of(self, error: f64) -> f64 {
        match self {
            Self::Squared => error * error,
            Self::Absolute => error.abs(),
        }
    }
}

fn loss(predictions: &[Vec<f64>], y: &[f64], w: &[f64], kind: EnsembleLoss) -> f64 {
    let mut total = 0.0;
    for (i, &t) in y.iter().enumerate() {
        let p: f64 = predictions.iter().zip(w).map(|(m, wi)| wi * m[i]).sum();
        total += kind.of(t - p);
    }
    total
}

/// Least squares on the simplex restricted to the models in `subset`: solves the equality-
/// constrained problem in closed form (KKT system) and returns `None` when a weight would be
/// negative, as then the optimum lies on a smaller subset.
fn constrained_least_squares(
    predictions: &[Vec<f64>],
    y: &[f64],
    subset: &[usize],
) -> Option<Vec<f64>> {
    let k = subset.len();
    // Gram matrix and right-hand side, bordered by the sum-to-one constraint.
    let n = k + 1;
    let mut a = vec![0.0; n * n];
    let mut b = vec![0.0; n];
    for (r, &i) in subset.iter().enumerate() {
        for (c, &j) in subset.iter().enumerate() {
            a[r * n + c] = predictions[i]
                .iter()
                .zip(&predictions[j])
                .map(|(x, z)| x * z)
                .sum();
        }
        b[r] = predictions[i].iter().zip(y).map(|(x, t)| x * t).sum();
        a[r * n + k] = 1.0;
        a[k * n + r] = 1.0;
    }
    b[k] = 1.0;
    let solution = solve(&mut a, &mut b, n)?;
    let weights = &solution[..k];
    weights
        .iter()
        .all(|&w| w >= -1e-12)
        .then(|| weights.iter().map(|w| w.max(0.0)).collect())
}

/// Gaussian elimination with partial pivoting; `None` when singular.
fn solve(a: &mut [f64], b: &mut [f64], n: usize) -> Option<Vec<f64>> {
    for col in 0..n {
        let pivot =
            (col..n).max_by(|&x, &y| a[x * n + col].abs().total_cmp(&a[y * n + col].abs()))?;
        if a[pivot * n + col].abs() < 1e-12 {
            return None;
        }
        for c in 0..n {
            a.swap(col * n + c, pivot * n + c);
        }
        b.swap(col, pivot);
        for r in col + 1..n {
            let f = a[r * n + col] / a[col * n + col];
            for c in col..n {
                a[r * n + c] -= f * a[col * n + c];
            }
            b[r] -= f * b[col];
        }
    }
    let mut x = vec![0.0; n];
    for r in (0..n).rev() {
        let s: f64 = (r + 1..n).map(|c| a[r * n + c] * x[c]).sum();
        x[r] = (b[r] - s) / a[r * n + r];
    }
    Some(x)
}

/// Absolute-error weights by projected subgradient descent on the simplex, started from the best
/// least-squares weights.
fn absolute_weights(predictions: &[Vec<f64>], y: &[f64], start: Vec<f64>) -> Vec<f64> {
    let mut best = start.clone();
    let mut best_loss = loss(predictions, y, &best, EnsembleLoss::Absolute);
    let mut w = start;
    let scale = y.iter().map(|v| v.abs()).sum::<f64>().max(1e-12);
    for iter in 1..=500 {
        let mut grad = vec![0.0; w.len()];
        for (i, &t) in y.iter().enumerate() {
            let p: f64 = predictions.iter().zip(&w).map(|(m, wi)| wi * m[i]).sum();
            let s = (p - t).signum();
            for (g, m) in grad.iter_mut().zip(predictions) {
                *g += s * m[i] / scale;
            }
        }
        let step = 0.5 / (iter as f64).sqrt();
        for (wi, g) in w.iter_mut().zip(&grad) {
            *wi -= step * g;
        }
        project_to_simplex(&mut w);
        let l = loss(predictions, y, &w, EnsembleLoss::Absolute);
        if l < best_loss {
            best_loss = l;
            best.clone_from(&w);
        }
    }
    best
}

/// Euclidean projection onto {w >= 0, sum w = 1}.
fn project_to_simplex(w: &mut [f64]) {
    let mut sorted: Vec<f64> = w.to_vec();
    sorted.sort_by(|a, b| b.total_cmp(a));
    let mut cumulative = 0.0;
    let mut theta = 0.0;
    for (k, v) in sorted.iter().enumerate() {
        cumulative += v;
        let t = (cumulative - 1.0) / (k + 1) as f64;
        if v - t > 0.0 {
            theta = t;
        }
    }
    for v in w.iter_mut() {
        *v = (*v - theta).max(0.0);
    }
}

/// Weights minimising `loss` of the weighted sum of `predictions` (one vector per model, all
/// aligned with `y`) over non-negative weights summing to one. Every subset of models is tried,
/// singletons included, so the result is never worse on these predictions than the best single
/// model.
pub fn optimal_weights(
    predictions: &[Vec<f64>],
    y: &[f64],
    kind: EnsembleLoss,
) -> Result<Vec<f64>> {
    let m = predictions.len();
    if m == 0 || m > 16 {
        return Err(CoreError::invalid_argument(
            "models",
            format!("the ensemble needs 1 to 16 models, got {m}"),
        ));
    }
    if let Some(bad) = predictions.iter().position(|p| p.len() != y.len()) {
        return Err(CoreError::invalid_argument(
            "predictions",
            format!(
                "model {bad} has {} predictions for {} targets",
                predictions[bad].len(),
                y.len()
            ),
        ));
    }
    if y.iter()
        .chain(predictions.iter().flatten())
        .any(|v| !v.is_finite())
    {
        return Err(CoreError::invalid_argument(
            "predictions",
            "ensemble weights need finite targets and predictions",
        ));
    }
    let mut best: Option<(f64, Vec<f64>)> = None;
    for mask in 1u32..(1 << m) {
        let subset: Vec<usize> = (0..m).filter(|i| mask & (1 << i) != 0).collect();
        let Some(sub_w) = constrained_least_squares(predictions, y, &subset) else {
            continue;
        };
        let mut w = vec![0.0; m];
        for (&i, v) in subset.iter().zip(sub_w) {
            w[i] = v;
        }
        let l = loss(predictions, y, &w, EnsembleLoss::Squared);
        if best.as_ref().is_none_or(|(b, _)| l < *b) {
            best = Some((l, w));
        }
    }
    let (_, weights) = best
        .ok_or_else(|| CoreError::invalid_argument("predictions", "no weights could be fitted"))?;
    Ok(match kind {
        EnsembleLoss::Squared => weights,
        EnsembleLoss::Absolute => {
            // The descent only improves on its start, so start from whichever of the
            // least-squares weights and the single models has the least absolute error.
            let absolute = |w: &Vec<f64>| loss(predictions, y, w, EnsembleLoss::Absolute);
            let singles = (0..m).map(|i| (0..m).map(|j| f64::from(u8::from(i == j))).collect());
            let start = std::iter::once(weights)
                .chain(singles)
                .min_by(|a, b| absolute(a).total_cmp(&absolute(b)))
                .unwrap_or_default();
            absolute_weights(predictions, y, start)
        }
    })
}

/// Weights that trust the optimized ones only as far as the calibration blocks support them.
#[derive(Debug, Clone, PartialEq)]
pub struct ShrunkWeights {
    /// `trust x optimized + (1 - trust) x robust`: what the ensemble uses unless the baseline
    /// gate ([`gated_weights`]) replaces them.
    pub weights: Vec<f64>,
    /// The weights that minimise the loss on all windows together.
    pub optimized: Vec<f64>,
    /// Equal weights on the better half of the models by their mean rank over the blocks.
    pub robust: Vec<f64>,
    /// `blocks / (blocks + models)` times the share of blocks where the model with the
    /// largest optimized weight ranks in the better half.
    pub trust: f64,
}

/// Ensemble weights shrunk toward a robust mix by the evidence. On a few windows the optimized
/// weights often crown the model that was lucky there; the more blocks of evidence there are
/// (each series in each calibration window ranks the models once), and the more consistently
/// the crowned model ranks well in each of them, the more they are trusted. `blocks[i]` is
/// the block of row `i`; predictions and targets should already be divided by their series'
/// scale, so that every series counts alike.
pub fn shrunk_weights(
    predictions: &[Vec<f64>],
    y: &[f64],
    blocks: &[usize],
    kind: EnsembleLoss,
) -> Result<ShrunkWeights> {
    let optimized = optimal_weights(predictions, y, kind)?;
    if blocks.len() != y.len() {
        return Err(CoreError::invalid_argument(
            "blocks",
            format!("{} blocks for {} targets", blocks.len(), y.len()),
        ));
    }
    let m = predictions.len();
    let mut ids: Vec<usize> = blocks.to_vec();
    ids.sort_unstable();
    ids.dedup();
    // Mean error of each model in each block.
    let mut errors = vec![vec![0.0; m]; ids.len()];
    let mut counts = vec![0usize; ids.len()];
    for (i, (&t, block)) in y.iter().zip(blocks).enumerate() {
        let w = ids.binary_search(block).unwrap_or(0);
        counts[w] += 1;
        for (j, p) in predictions.iter().enumerate() {
            errors[w][j] += kind.of(t - p[i]);
        }
    }
    let half = m.div_ceil(2) as f64;
    let ranks: Vec<Vec<f64>> = errors
        .iter()
        .zip(&counts)
        .filter(|(_, &c)| c > 0)
        .map(|(e, _)| average_ranks(e))
        .collect();
    let mean_rank: Vec<f64> = (0..m)
        .map(|j| ranks.iter().map(|r| r[j]).sum::<f64>() / ranks.len().max(1) as f64)
        .collect();
    let mut sorted = mean_rank.clone();
    sorted.sort_by(f64::total_cmp);
    let cut = sorted[(m.div_ceil(2)).saturating_sub(1).min(m - 1)];
    let better_half: Vec<bool> = mean_rank.iter().map(|r| *r <= cut).collect();
    let chosen = better_half.iter().filter(|b| **b).count().max(1) as f64;
    let robust: Vec<f64> = better_half
        .iter()
        .map(|b| if *b { 1.0 / chosen } else { 0.0 })
        .collect();
    let crowned = (0..m)
        .max_by(|&a, &b| optimized[a].total_cmp(&optimized[b]))
        .unwrap_or(0);
    let stability = if ranks.is_empty() {
        0.0
    } else {
        ranks.iter().filter(|r| r[crowned] <= half).count() as f64 / ranks.len() as f64
    };
    let evidence = ranks.len() as f64 / (ranks.len() + m) as f64;
    let trust = evidence * stability;
    let weights = optimized
        .iter()
        .zip(&robust)
        .map(|(o, r)| trust * o + (1.0 - trust) * r)
        .collect();
    Ok(ShrunkWeights {
        weights,
        optimized,
        robust,
        trust,
    })
}

/// The ensemble's weights after the baseline gate.
#[derive(Debug, Clone, PartialEq)]
pub struct GatedWeights {
    /// What the ensemble uses: the shrunk weights, or the baseline alone.
    pub weights: Vec<f64>,
    /// The shrunk weights the gate judged.
    pub shrunk: ShrunkWeights,
    /// Shrunk weights fitted without each window (in increasing order of window), what the
    /// gate scored each window with; the shrunk weights themselves when there is one window.
    pub held_out: Vec<Vec<f64>>,
    /// The baseline the ensemble fell back to, if it did.
    pub fallback: Option<usize>,
    /// Blocks where the held-out blend beat the better baseline (0 without baselines).
    pub won: usize,
    /// Blocks judged (0 without baselines or rows).
    pub blocks: usize,
}

/// Shrunk weights (see [`shrunk_weights`]) that must earn their place against the better of the
/// `baselines` (indices of the naive members; better by its loss over all rows): scored on
/// each window with weights fitted without it, they must beat that baseline in more than half
/// of the blocks, or the ensemble is that baseline alone. A blend that only beats naive on the
/// windows it was fitted on is luck; a forecaster that loses to naive out of sample does not
/// deserve the name. With one window nothing is held out, and the blend is scored on the window it
/// was fitted on. `windows[i]` is the window of row `i`; every block lies within one window.
pub fn gated_weights(
    predictions: &[Vec<f64>],
    y: &[f64],
    blocks: &[usize],
    windows: &[usize],
    baselines: &[usize],
    kind: EnsembleLoss,
) -> Result<GatedWeights> {
    let shrunk = shrunk_weights(predictions, y, blocks, kind)?;
    if windows.len() != y.len() {
        return Err(CoreError::invalid_argument(
            "windows",
            format!("{} windows for {} targets", windows.len(), y.len()),
        ));
    }
    if let Some(&bad) = baselines.iter().find(|&&b| b >= predictions.len()) {
        return Err(CoreError::invalid_argument(
            "baselines",
            format!("model {bad} of {}", predictions.len()),
        ));
    }
    let mut ids: Vec<usize> = windows.to_vec();
    ids.sort_unstable();
    ids.dedup();
    let mut held_out = Vec::with_capacity(ids.len());
    let mut blended = vec![0.0; y.len()];
    for &held in &ids {
        let weights = if ids.len() > 1 {
            let rest: Vec<usize> = (0..y.len()).filter(|&i| windows[i] != held).collect();
            let pick = |v: &[f64]| rest.iter().map(|&i| v[i]).collect::<Vec<f64>>();
            let preds: Vec<Vec<f64>> = predictions.iter().map(|p| pick(p)).collect();
            let rest_blocks: Vec<usize> = rest.iter().map(|&i| blocks[i]).collect();
            shrunk_weights(&preds, &pick(y), &rest_blocks, kind)?.weights
        } else {
            shrunk.weights.clone()
        };
        for i in (0..y.len()).filter(|&i| windows[i] == held) {
            blended[i] = predictions
                .iter()
                .zip(&weights)
                .map(|(p, w)| w * p[i])
                .sum();
        }
        held_out.push(weights);
    }
    // The better baseline by its loss over all windows, the one the must compares with: the
    // one the blend beats least often can be far worse (seasonal naive on a random walk).
    let total = |j: usize| -> f64 {
        y.iter()
            .zip(&predictions[j])
            .map(|(t, p)| kind.of(t - p))
            .sum()
    };
    let better = baselines
        .iter()
        .copied()
        .min_by(|&a, &b| total(a).total_cmp(&total(b)));
    let mut margin: BTreeMap<usize, f64> = BTreeMap::new();
    if let Some(b) = better {
        for (i, &block) in blocks.iter().enumerate() {
            *margin.entry(block).or_default() +=
                kind.of(y[i] - blended[i]) - kind.of(y[i] - predictions[b][i]);
        }
    }
    let judged = margin.len();
    let won = margin.values().filter(|m| **m < 0.0).count();
    // Shrunk weights that already are the baseline alone (a robust mix of one model) lose
    // nothing to it: every block ties, and there is nothing to fall back from.
    let fallback = better.filter(|&b| judged > 0 && 2 * won <= judged && shrunk.weights[b] < 1.0);
    let weights = match fallback {
        Some(b) => (0..predictions.len())
            .map(|j| f64::from(u8::from(j == b)))
            .collect(),
        None => shrunk.weights.clone(),
    };
    Ok(GatedWeights {
        weights,
        shrunk,
        held_out,
        fallback,
        won,
        blocks: judged,
    })
}

/// Ranks from 1 (smallest) with ties sharing their average rank.
fn average_ranks(values: &[f64]) -> Vec<f64> {
    let mut order: Vec<usize> = (0..values.len()).collect();
    order.sort_by(|&a, &b| values[a].total_cmp(&values[b]));
    let mut ranks = vec![0.0; values.len()];
    let mut start = 0;
    while start < order.len() {
        let mut end = start + 1;
        while end < order.len() && values[order[end]] == values[order[start]] {
            end += 1;
        }
        let rank = (start + end + 1) as f64 / 2.0;
        for &i in &order[start..end] {
            ranks[i] = rank;
        }
        start = end;
    }
    ranks
}

/// How far, in units of the series' scale, a model's forecast path may stray from the consensus
/// (the median of the models' and seasonal naive's forecasts), and from what the series did at
/// the same time last year, before the guard replaces it; each distance is the median over the
/// steps, so one step where the consensus itself jumps does not condemn a calm path. Seasonal
/// naive's 95% interval spans about 2.5 scale units either side (1.96 standard deviations of
/// errors whose mean absolute value is one unit), so a path farther than 3 units lies where no
/// honest interval around the reference would reach.
pub const GUARD_LIMIT: f64 = 3.0;

/// The guard's verdict on one series: per model, the median distances over the steps, in scale
/// units, from the consensus and from last year's path, and whether the path was replaced.
#[derive(Debug, Clone, PartialEq)]
pub struct GuardVerdict {
    pub distance: Vec<f64>,
    /// NaN where the series has no last year to compare with.
    pub last_year_distance: Vec<f64>,
    pub replaced: Vec<bool>,
    /// The consensus per step: what a replaced model forecasts instead.
    pub consensus: Vec<f64>,
}

/// Median over the steps of `|path - reference|` in units of `scale`, over the steps where both
/// are finite; NaN when there is no such step or no positive finite scale.
fn median_distance(path: &[f64], reference: &[f64], scale: f64) -> f64 {
    let mut gaps: Vec<f64> = path
        .iter()
        .zip(reference)
        .map(|(v, c)| (v - c).abs())
        .filter(|d| d.is_finite())
        .collect();
    if gaps.is_empty() || !(scale.is_finite() && scale > 0.0) {
        f64::NAN
    } else {
        median(&mut gaps) / scale
    }
}

/// Judges one series' forecast paths (`paths[model][step]`): a path is implausible when it lies
/// far from the consensus of the paths and the seasonal naive path, and also far from
/// `last_year` (the series' own values a year before, shifted to its current level; NaN where
/// unknown), so a path that foresees a yearly peak the other models miss is kept. Last year
/// counts only when it is known at every step the path forecasts. A series
/// without a positive finite scale keeps every path.
pub fn guard(
    paths: &[Vec<f64>],
    seasonal_naive: &[f64],
    last_year: &[f64],
    scale: f64,
) -> GuardVerdict {
    let consensus: Vec<f64> = (0..seasonal_naive.len())
        .map(|k| {
            let mut values: Vec<f64> = paths
                .iter()
                .filter_map(|p| p.get(k).copied())
                .chain(std::iter::once(seasonal_naive[k]))
                .filter(|v| v.is_finite())
                .collect();
            median(&mut values)
        })
        .collect();
    let distance: Vec<f64> = paths
        .iter()
        .map(|p| median_distance(p, &consensus, scale))
        .collect();
    // Last year vouches for a path only where it knows every step the path forecasts: a path
    // that follows it for a few steps and then explodes must not be excused.
    let last_year_distance: Vec<f64> = paths
        .iter()
        .map(|p| {
            let complete = p
                .iter()
                .zip(last_year)
                .all(|(v, y)| !v.is_finite() || y.is_finite());
            if complete {
                median_distance(p, last_year, scale)
            } else {
                f64::NAN
            }
        })
        .collect();
    let replaced = distance
        .iter()
        .zip(&last_year_distance)
        .map(|(d, y)| *d > GUARD_LIMIT && (y.is_nan() || *y > GUARD_LIMIT))
        .collect();
    GuardVerdict {
        distance: distance
            .into_iter()
            .map(|d| if d.is_nan() { 0.0 } else { d })
            .collect(),
        last_year_distance,
        replaced,
        consensus,
    }
}

/// The guard over a panel: `forecasts[model]`, `seasonal_naive` and `last_year` hold the series'
/// rows one after another, `lengths[s]` rows and `scales[s]` for series `s`. One verdict per
/// series.
pub fn guard_panel(
    forecasts: &[Vec<f64>],
    seasonal_naive: &[f64],
    last_year: &[f64],
    lengths: &[usize],
    scales: &[f64],
) -> Result<Vec<GuardVerdict>> {
    let rows: usize = lengths.iter().sum();
    if lengths.len() != scales.len()
        || seasonal_naive.len() != rows
        || last_year.len() != rows
        || forecasts.iter().any(|f| f.len() != rows)
    {
        return Err(CoreError::invalid_argument(
            "forecasts",
            "the guard needs one scale per series and every path of the series' length",
        ));
    }
    let mut start = 0;
    Ok(lengths
        .iter()
        .zip(scales)
        .map(|(&n, &scale)| {
            let paths: Vec<Vec<f64>> = forecasts
                .iter()
                .map(|f| f[start..start + n].to_vec())
                .collect();
            let verdict = guard(
                &paths,
                &seasonal_naive[start..start + n],
                &last_year[start..start + n],
                scale,
            );
            start += n;
            verdict
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recovers_a_known_mixture_and_never_loses_to_a_single_model() {
        let y: Vec<f64> = (0..200)
            .map(|i| (i as f64 * 0.1).sin() * 10.0 + 20.0)
            .collect();
        let a: Vec<f64> = y
            .iter()
            .enumerate()
            .map(|(i, v)| v + if i % 2 == 0 { 3.0 } else { -3.0 })
            .collect();
        let b: Vec<f64> = y
            .iter()
            .enumerate()
            .map(|(i, v)| v - if i % 2 == 0 { 3.0 } else { -3.0 })
            .collect();
        let bad: Vec<f64> = y.iter().map(|v| v * 2.0).collect();
        let preds = vec![a, b, bad];
        let w = optimal_weights(&preds, &y, EnsembleLoss::Squared).unwrap();
        assert!(
            (w[0] - 0.5).abs() < 1e-9 && (w[1] - 0.5).abs() < 1e-9 && w[2] == 0.0,
            "{w:?}"
        );
        assert!((w.iter().sum::<f64>() - 1.0).abs() < 1e-12);
        for kind in [EnsembleLoss::Squared, EnsembleLoss::Absolute] {
            let w = optimal_weights(&preds, &y, kind).unwrap();
            let ens = loss(&preds, &y, &w, kind);
            for m in 0..3 {
                let mut single = vec![0.0; 3];
                single[m] = 1.0;
                assert!(ens <= loss(&preds, &y, &single, kind) + 1e-9);
            }
        }
    }

    #[test]
    fn absolute_loss_never_loses_to_a_model_least_squares_dislikes() {
        // A is exact but for a few huge misses (small MAE, large MSE); B is off everywhere by
        // a little (larger MAE, small MSE). Least squares favours B; absolute error wants A.
        let y: Vec<f64> = (0..200).map(|i| 50.0 + (i % 7) as f64).collect();
        let a: Vec<f64> = y
            .iter()
            .enumerate()
            .map(|(i, v)| if i % 20 == 0 { v + 100.0 } else { *v })
            .collect();
        let b: Vec<f64> = y
            .iter()
            .enumerate()
            .map(|(i, v)| v + if i % 2 == 0 { 6.0 } else { -6.0 })
            .collect();
        let preds = vec![a, b];
        let w = optimal_weights(&preds, &y, EnsembleLoss::Absolute).unwrap();
        let ens = loss(&preds, &y, &w, EnsembleLoss::Absolute);
        assert!(
            ens <= loss(&preds, &y, &[1.0, 0.0], EnsembleLoss::Absolute) + 1e-9,
            "{w:?}"
        );
    }

    #[test]
    fn a_lucky_model_on_few_windows_is_trusted_little() {
        // Model 0 wins window 0 by a wide margin and ranks third of four in the other three:
        // the optimized weights crown it, but it ranks in the better half in one window of four.
        let y = vec![0.0; 8];
        let windows = vec![0, 0, 1, 1, 2, 2, 3, 3];
        let path =
            |first: f64, rest: f64| vec![first, -first, rest, -rest, rest, -rest, rest, -rest];
        let preds = vec![
            path(0.0, 1.2),
            path(3.0, 1.0),
            path(3.5, 1.1),
            path(4.0, 2.0),
        ];
        let shrunk = shrunk_weights(&preds, &y, &windows, EnsembleLoss::Squared).unwrap();
        let crowned = (0..4)
            .max_by(|&a, &b| shrunk.optimized[a].total_cmp(&shrunk.optimized[b]))
            .unwrap();
        assert_eq!(crowned, 0, "{shrunk:?}");
        // Mean ranks 2.5, 1.25, 2.25, 4: the robust mix is the better two, equally.
        assert_eq!(shrunk.robust, vec![0.0, 0.5, 0.5, 0.0]);
        // 4 windows of 4 models: evidence 4/8; stability 1/4.
        assert!((shrunk.trust - 0.5 * 0.25).abs() < 1e-12, "{shrunk:?}");
        let expected: Vec<f64> = (0..4)
            .map(|j| shrunk.trust * shrunk.optimized[j] + (1.0 - shrunk.trust) * shrunk.robust[j])
            .collect();
        assert_eq!(shrunk.weights, expected);
        assert!((shrunk.weights.iter().sum::<f64>() - 1.0).abs() < 1e-12);
        // A model that is best in every window of many is trusted nearly fully.
        let windows: Vec<usize> = (0..40).collect();
        let y = vec![0.0; 40];
        let best: Vec<f64> = (0..40)
            .map(|i| if i % 2 == 0 { 0.1 } else { -0.1 })
            .collect();
        let worse: Vec<f64> = best.iter().map(|v| v * 10.0).collect();
        let shrunk = shrunk_weights(&[best, worse], &y, &windows, EnsembleLoss::Absolute).unwrap();
        assert!((shrunk.trust - 40.0 / 42.0).abs() < 1e-12, "{shrunk:?}");
        assert!(shrunk.weights[0] > 0.97, "{shrunk:?}");
    }

    /// Four series in each of three windows (blocks `4 * window + series`), every model off
    /// the target by its own constant error in every row.
    fn constant_errors(errors: &[f64]) -> (Vec<Vec<f64>>, Vec<f64>, Vec<usize>, Vec<usize>) {
        let rows = 3 * 4 * 2;
        let y: Vec<f64> = (0..rows).map(|i| 10.0 + (i % 5) as f64).collect();
        let windows: Vec<usize> = (0..rows).map(|i| i / 8).collect();
        let blocks: Vec<usize> = (0..rows).map(|i| i / 2).collect();
        let preds = errors
            .iter()
            .map(|e| y.iter().map(|t| t + e).collect())
            .collect();
        (preds, y, blocks, windows)
    }

    #[test]
    fn the_ensemble_falls_back_to_a_baseline_it_does_not_beat_out_of_fold() {
        // The baseline (model 0) is best everywhere; the robust mix blends in model 1, so the
        // shrunk weights are worse than the baseline in every block.
        let (preds, y, blocks, windows) = constant_errors(&[0.1, 1.0, 2.0]);
        let gated =
            gated_weights(&preds, &y, &blocks, &windows, &[0], EnsembleLoss::Squared).unwrap();
        assert!(gated.shrunk.weights[1] > 0.0, "{gated:?}");
        assert_eq!(gated.fallback, Some(0));
        assert_eq!(gated.weights, vec![1.0, 0.0, 0.0]);
        assert_eq!((gated.won, gated.blocks), (0, 12));
        // Each window was scored with weights fitted on the other two.
        assert_eq!(gated.held_out.len(), 3);
        // Of two baselines, the better one is the fallback.
        let (preds, y, blocks, windows) = constant_errors(&[1.5, 1.0, 2.0, 0.1]);
        let gated = gated_weights(
            &preds,
            &y,
            &blocks,
            &windows,
            &[0, 3],
            EnsembleLoss::Absolute,
        )
        .unwrap();
        assert_eq!(gated.fallback, Some(3));
        assert_eq!(gated.weights, vec![0.0, 0.0, 0.0, 1.0]);
    }

    #[test]
    fn an_ensemble_that_beats_the_baseline_out_of_fold_keeps_its_weights() {
        let (preds, y, blocks, windows) = constant_errors(&[1.0, 0.1, 2.0]);
        let gated =
            gated_weights(&preds, &y, &blocks, &windows, &[0], EnsembleLoss::Squared).unwrap();
        assert_eq!(gated.fallback, None);
        assert_eq!(gated.weights, gated.shrunk.weights);
        assert_eq!((gated.won, gated.blocks), (12, 12));
        // Without baselines there is nothing to beat.
        let gated =
            gated_weights(&preds, &y, &blocks, &windows, &[], EnsembleLoss::Squared).unwrap();
        assert_eq!((gated.fallback, gated.blocks), (None, 0));
        // A tie in every block is no win: the baseline is kept.
        let (preds, y, blocks, windows) = constant_errors(&[0.5, 0.5]);
        let gated =
            gated_weights(&preds, &y, &blocks, &windows, &[1], EnsembleLoss::Squared).unwrap();
        assert_eq!(gated.fallback, Some(1));
    }

    #[test]
    fn weights_that_already_are_the_baseline_are_no_fallback() {
        // Two models: the robust mix is the better one alone, the baseline, and so is the
        // optimum; every block ties with the baseline and nothing is replaced.
        let (preds, y, blocks, windows) = constant_errors(&[0.1, 1.0]);
        let gated =
            gated_weights(&preds, &y, &blocks, &windows, &[0], EnsembleLoss::Squared).unwrap();
        assert_eq!(gated.shrunk.weights, vec![1.0, 0.0]);
        assert_eq!((gated.fallback, gated.won, gated.blocks), (None, 0, 12));
        assert_eq!(gated.weights, vec![1.0, 0.0]);
    }

    #[test]
    fn the_gate_refuses_misaligned_windows_and_unknown_baselines() {
        let (preds, y, blocks, windows) = constant_errors(&[1.0, 0.0]);
        let bad = gated_weights(
            &preds,
            &y,
            &blocks,
            &windows[1..],
            &[0],
            EnsembleLoss::Squared,
        );
        assert!(bad.is_err());
        let bad = gated_weights(&preds, &y, &blocks, &windows, &[3], EnsembleLoss::Squared);
        assert!(bad.is_err());
    }

    #[test]
    fn the_guard_replaces_an_explosive_path_and_keeps_plausible_ones() {
        let seasonal_naive = vec![10.0, 12.0, 10.0, 12.0];
        let calm = vec![10.5, 11.5, 10.5, 11.5];
        let close = vec![9.5, 12.5, 9.5, 12.5];
        let explosive = vec![30.0, 40.0, 50.0, 60.0];
        let unknown = vec![f64::NAN; 4];
        let paths = [calm, close, explosive];
        let verdict = guard(&paths, &seasonal_naive, &unknown, 2.0);
        assert_eq!(verdict.replaced, vec![false, false, true]);
        // Consensus of {10.5, 9.5, 30, 10} is 10.25 at step 1.
        assert!((verdict.consensus[0] - 10.25).abs() < 1e-12, "{verdict:?}");
        assert!(verdict.distance[2] > GUARD_LIMIT && verdict.distance[0] < 1.0);
        assert!(verdict.last_year_distance[2].is_nan());
        // Last year the series rose the same way at this time: the rising path is kept.
        let last_year = vec![28.0, 41.0, 52.0, 58.0];
        let verdict = guard(&paths, &seasonal_naive, &last_year, 2.0);
        assert_eq!(verdict.replaced, vec![false, false, false]);
        assert!(verdict.last_year_distance[2] < 1.5, "{verdict:?}");
        // A last year known for only some steps vouches for nothing.
        let partial = vec![28.0, 41.0, f64::NAN, f64::NAN];
        let verdict = guard(&paths, &seasonal_naive, &partial, 2.0);
        assert_eq!(verdict.replaced, vec![false, false, true]);
        assert!(verdict.last_year_distance[2].is_nan());
        // A last year that looks like the consensus condemns it as before.
        let verdict = guard(&paths, &seasonal_naive, &seasonal_naive, 2.0);
        assert_eq!(verdict.replaced, vec![false, false, true]);
        // Without a scale the guard cannot judge and keeps everything.
        let verdict = guard(&[vec![1e9; 4]], &seasonal_naive, &unknown, 0.0);
        assert_eq!(verdict.replaced, vec![false]);
    }

    #[test]
    fn the_panel_guard_reads_each_series_own_rows() {
        // Series a (2 steps) follows its last year far from the consensus; series b (3 steps)
        // strays from both; their rows sit one after the other.
        let explosive = vec![50.0, 60.0, 90.0, 95.0, 99.0];
        let calm = vec![10.0, 10.0, 10.0, 10.0, 10.0];
        let seasonal_naive = vec![10.0; 5];
        let last_year = vec![52.0, 58.0, 10.0, 10.0, 10.0];
        let verdicts = guard_panel(
            &[explosive, calm.clone(), calm],
            &seasonal_naive,
            &last_year,
            &[2, 3],
            &[1.0, 1.0],
        )
        .unwrap();
        assert_eq!(verdicts[0].replaced, vec![false, false, false]);
        assert_eq!(verdicts[1].replaced, vec![true, false, false]);
        assert_eq!(verdicts[1].consensus, vec![10.0, 10.0, 10.0]);
        assert!(guard_panel(
            &[vec![1.0; 5]],
            &seasonal_naive,
            &[1.0; 4],
            &[2, 3],
            &[1.0; 2]
        )
        .is_err());
    }

    #[test]
    fn rejects_bad_input() {
        assert!(optimal_weights(&[], &[1.0], EnsembleLoss::Squared).is_err());
        assert!(optimal_weights(&[vec![1.0, 2.0]], &[1.0], EnsembleLoss::Squared).is_err());
        assert!(optimal_weights(&[vec![f64::NAN]], &[1.0], EnsembleLoss::Squared).is_err());
    }
}
