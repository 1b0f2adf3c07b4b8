//! Split-conformal interval widths from cross-validation errors.

use crate::error::{CoreError, Result};

/// The conformal quantile of `scores` for coverage `level` (in percent): the
/// `ceil((n + 1) * level / 100)`-th smallest score, the finite-sample-valid choice. Infinite when
/// there are too few scores for that level.
pub fn conformal_quantile(scores: &[f64], level: f64) -> Result<f64> {
    if !(level > 0.0 && level < 100.0) {
        return Err(CoreError::invalid_argument(
            "levels",
            format!("{level} is not between 0 and 100"),
        ));
    }
    let mut finite: Vec<f64> = scores.iter().copied().filter(|v| v.is_finite()).collect();
    if finite.is_empty() {
        return Ok(f64::NAN);
    }
    finite.sort_by(|a, b| a.total_cmp(b));
    let n = finite.len();
    let rank = ((n + 1) as f64 * level / 100.0).ceil() as usize;
    Ok(if rank > n {
        f64::INFINITY
    } else {
        finite[rank.max(1) - 1]
    })
}

/// Signed-error quantile for the `conformal_distribution` method: the empirical `q` quantile
/// (linear interpolation) of the errors `actual - prediction`.
pub fn error_quantile(errors: &[f64], q: f64) -> f64 {
    let mut finite: Vec<f64> = errors.iter().copied().filter(|v| v.is_finite()).collect();
    if finite.is_empty() {
        return f64::NAN;
    }
    finite.sort_by(|a, b| a.total_cmp(b));
    let pos = q.clamp(0.0, 1.0) * (finite.len() - 1) as f64;
    let (lo, hi) = (pos.floor() as usize, pos.ceil() as usize);
    finite[lo] + (finite[hi] - finite[lo]) * (pos - lo as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finite_sample_rank() {
        let scores: Vec<f64> = (1..=19).map(f64::from).collect();
        // ceil(20 * 0.9) = 18th smallest.
        assert_eq!(conformal_quantile(&scores, 90.0).unwrap(), 18.0);
        assert_eq!(
            conformal_quantile(&scores[..5], 95.0).unwrap(),
            f64::INFINITY
        );
        assert!(conformal_quantile(&scores, 100.0).is_err());
        assert_eq!(error_quantile(&[-1.0, 0.0, 1.0], 0.5), 0.0);
    }
}
