//! Forecast accuracy metrics, per series and overall, with the scaled errors of the M5
//! competition (MASE, RMSSE, revenue-weighted RMSSE).

use crate::error::{CoreError, Result};

/// The in-sample scale of one series: mean absolute and mean squared seasonal differences of its
/// history (what MASE and RMSSE divide by).
#[derive(Debug, Clone, Copy, Default)]
pub struct Scale {
    pub mae: f64,
    pub mse: f64,
}

impl Scale {
    /// From a history on its regular grid (NaN where missing), at lag `season_length`.
    pub fn of_history(history: &[f64], season_length: usize) -> Self {
        let (mut abs, mut sq, mut n) = (0.0, 0.0, 0usize);
        for t in season_length..history.len() {
            let d = history[t] - history[t - season_length];
            if d.is_finite() {
                abs += d.abs();
                sq += d * d;
                n += 1;
            }
        }
        if n == 0 {
            return Self {
                mae: f64::NAN,
                mse: f64::NAN,
            };
        }
        Self {
            mae: abs / n as f64,
            mse: sq / n as f64,
        }
    }
}

/// A prediction interval at a nominal level (e.g. 95).
#[derive(Debug, Clone, Copy)]
pub struct Interval<'a> {
    pub level: f64,
    pub lo: &'a [f64],
    pub hi: &'a [f64],
}

/// Every metric of one model on one set of points.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PointMetrics {
    pub n: usize,
    pub rmse: f64,
    pub mae: f64,
    /// Mean absolute percentage error over non-zero targets (in percent).
    pub mape: f64,
    /// Targets equal to zero, left out of `mape`.
    pub mape_zeros: usize,
    /// Symmetric MAPE in percent (0 when both target and prediction are 0).
    pub smape: f64,
    /// Sum of absolute errors over sum of absolute targets.
    pub wape: f64,
    pub mase: f64,
    pub rmsse: f64,
    pub r2: f64,
    /// Mean of prediction minus target.
    pub bias: f64,
    /// Per interval level: (level, coverage in [0, 1], mean Winkler score, mean pinball loss of
    /// the two bounds).
    pub intervals: Vec<(f64, f64, f64, f64)>,
}

/// Metrics of `pred` against `y` (same length; pairs with a non-finite value are skipped).
pub fn point_metrics(
    y: &[f64],
    pred: &[f64],
    scale: Option<Scale>,
    intervals: &[Interval<'_>],
) -> Result<PointMetrics> {
    if y.len() != pred.len() {
        return Err(CoreError::invalid_argument(
            "predictions",
            format!("{} predictions for {} targets", pred.len(), y.len()),
        ));
    }
    let valid: Vec<usize> = (0..y.len())
        .filter(|&i| y[i].is_finite() && pred[i].is_finite())
        .collect();
    let n = valid.len();
    let mut m = PointMetrics {
        n,
        ..PointMetrics::default()
    };
    if n == 0 {
        let nan = f64::NAN;
        return Ok(PointMetrics {
            rmse: nan,
            mae: nan,
            mape: nan,
            smape: nan,
            wape: nan,
            mase: nan,
            rmsse: nan,
            r2: nan,
            bias: nan,
            ..m
        });
    }
    let nf = n as f64;
    let (mut se, mut ae, mut e_sum, mut abs_y, mut y_sum) = (0.0, 0.0, 0.0, 0.0, 0.0);
    let (mut ape, mut ape_n, mut sape) = (0.0, 0usize, 0.0);
    for &i in &valid {
        let e = pred[i] - y[i];
        se += e * e;
        ae += e.abs();
        e_sum += e;
        abs_y += y[i].abs();
        y_sum += y[i];
        if y[i] != 0.0 {
            ape += (e / y[i]).abs();
            ape_n += 1;
        }
        let denom = y[i].abs() + pred[i].abs();
        if denom > 0.0 {
            sape += 2.0 * e.abs() / denom;
        }
    }
    let mean_y = y_sum / nf;
    let ss_tot: f64 = valid.iter().map(|&i| (y[i] - mean_y).powi(2)).sum();
    m.rmse = (se / nf).sqrt();
    m.mae = ae / nf;
    m.mape = if ape_n > 0 {
        100.0 * ape / ape_n as f64
    } else {
        f64::NAN
    };
    m.mape_zeros = n - ape_n;
    m.smape = 100.0 * sape / nf;
    m.wape = if abs_y > 0.0 { ae / abs_y } else { f64::NAN };
    m.r2 = if ss_tot > 0.0 {
        1.0 - se / ss_tot
    } else {
        f64::NAN
    };
    m.bias = e_sum / nf;
    if let Some(s) = scale {
        m.mase = if s.mae > 0.0 { m.mae / s.mae } else { f64::NAN };
        m.rmsse = if s.mse > 0.0 {
            (se / nf / s.mse).sqrt()
        } else {
            f64::NAN
        };
    } else {
        m.mase = f64::NAN;
        m.rmsse = f64::NAN;
    }
    for iv in intervals {
        if iv.lo.len() != y.len() || iv.hi.len() != y.len() {
            return Err(CoreError::invalid_argument(
                "intervals",
                format!("level {} bounds do not match the targets", iv.level),
            ));
        }
        let alpha = 1.0 - iv.level / 100.0;
        let (mut covered, mut winkler, mut pinball) = (0usize, 0.0, 0.0);
        for &i in &valid {
            let (lo, hi, t) = (iv.lo[i], iv.hi[i], y[i]);
            if t >= lo && t <= hi {
                covered += 1;
            }
            winkler += (hi - lo)
                + if t < lo {
                    2.0 / alpha * (lo - t)
                } else if t > hi {
                    2.0 / alpha * (t - hi)
                } else {
                    0.0
                };
            let q_lo = alpha / 2.0;
            let q_hi = 1.0 - alpha / 2.0;
            let pin = |q: f64, b: f64| {
                if t >= b {
                    q * (t - b)
                } else {
                    (1.0 - q) * (b - t)
                }
            };
            pinball += 0.5 * (pin(q_lo, lo) + pin(q_hi, hi));
        }
        m.intervals
            .push((iv.level, covered as f64 / nf, winkler / nf, pinball / nf));
    }
    Ok(m)
}

/// The median of `values` (reordered in place); NaN when empty.
pub(crate) fn median(values: &mut [f64]) -> f64 {
    if values.is_empty() {
        return f64::NAN;
    }
    values.sort_by(f64::total_cmp);
    let n = values.len();
    if n % 2 == 1 {
        values[n / 2]
    } else {
        0.5 * (values[n / 2 - 1] + values[n / 2])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hand_computed_values() {
        let y = [1.0, 0.0, 3.0, 4.0];
        let p = [2.0, 1.0, 3.0, 2.0];
        let m = point_metrics(&y, &p, Some(Scale { mae: 2.0, mse: 4.0 }), &[]).unwrap();
        assert!((m.mae - 1.0).abs() < 1e-12);
        assert!((m.rmse - (6.0f64 / 4.0).sqrt()).abs() < 1e-12);
        assert!((m.wape - 4.0 / 8.0).abs() < 1e-12);
        assert_eq!(m.mape_zeros, 1);
        assert!((m.mape - 100.0 * (1.0 + 0.0 + 0.5) / 3.0).abs() < 1e-12);
        assert!((m.bias - 0.0).abs() < 1e-12);
        assert!((m.mase - 0.5).abs() < 1e-12);
        assert!((m.rmsse - (1.5f64 / 4.0).sqrt()).abs() < 1e-12);
    }

    #[test]
    fn interval_scores() {
        let y = [1.0, 5.0];
        let p = [1.0, 1.0];
        let lo = [0.0, 0.0];
        let hi = [2.0, 2.0];
        let m = point_metrics(
            &y,
            &p,
            None,
            &[Interval {
                level: 80.0,
                lo: &lo,
                hi: &hi,
            }],
        )
        .unwrap();
        let (level, coverage, winkler, _) = m.intervals[0];
        assert_eq!(level, 80.0);
        assert_eq!(coverage, 0.5);
        // Width 2 for both, plus 2 / 0.2 * 3 for the miss.
        assert!((winkler - (2.0 + 2.0 + 30.0) / 2.0).abs() < 1e-9);
    }

    #[test]
    fn seasonal_scale() {
        let s = Scale::of_history(&[1.0, 2.0, 4.0, 8.0], 1);
        assert!((s.mae - 7.0 / 3.0).abs() < 1e-12);
    }
}
