//! Ensemble weights: non-negative, summing to one, fitted on out-of-fold predictions.

use crate::error::{CoreError, Result};

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
}

fn loss(predictions: &[Vec<f64>], y: &[f64], w: &[f64], kind: EnsembleLoss) -> f64 {
    let mut total = 0.0;
    for (i, &t) in y.iter().enumerate() {
        let p: f64 = predictions.iter().zip(w).map(|(m, wi)| wi * m[i]).sum();
        let e = t - p;
        total += match kind {
            EnsembleLoss::Squared => e * e,
            EnsembleLoss::Absolute => e.abs(),
        };
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
    fn rejects_bad_input() {
        assert!(optimal_weights(&[], &[1.0], EnsembleLoss::Squared).is_err());
        assert!(optimal_weights(&[vec![1.0, 2.0]], &[1.0], EnsembleLoss::Squared).is_err());
        assert!(optimal_weights(&[vec![f64::NAN]], &[1.0], EnsembleLoss::Squared).is_err());
    }
}
