//! Residual diagnostics: autocorrelation with bounds, Ljung-Box, Jarque-Bera.

use crate::error::{CoreError, Result};

/// Autocorrelation of residuals pooled over independent stretches (series, backtest windows):
/// products are only taken within a stretch, around the pooled mean.
pub fn pooled_acf(stretches: &[Vec<f64>], max_lag: usize) -> Vec<f64> {
    let values: Vec<f64> = stretches
        .iter()
        .flatten()
        .copied()
        .filter(|v| v.is_finite())
        .collect();
    if values.is_empty() {
        return vec![f64::NAN; max_lag];
    }
    let mean = values.iter().sum::<f64>() / values.len() as f64;
    let denom: f64 = values.iter().map(|v| (v - mean).powi(2)).sum();
    (1..=max_lag)
        .map(|k| {
            let num: f64 = stretches
                .iter()
                .flat_map(|s| s.windows(k + 1).map(|w| (w[0], w[k])))
                .filter(|(a, b)| a.is_finite() && b.is_finite())
                .map(|(a, b)| (a - mean) * (b - mean))
                .sum();
            if denom > 0.0 {
                num / denom
            } else {
                f64::NAN
            }
        })
        .collect()
}

/// Ljung-Box Q over the first `acf.len()` lags for `n` residuals, and its chi-square p-value.
pub fn ljung_box(acf: &[f64], n: usize) -> (f64, f64) {
    let nf = n as f64;
    let q: f64 = acf
        .iter()
        .enumerate()
        .filter(|(_, r)| r.is_finite())
        .map(|(i, r)| r * r / (nf - (i + 1) as f64))
        .sum::<f64>()
        * nf
        * (nf + 2.0);
    (q, chi2_survival(q, acf.len() as f64))
}

/// Jarque-Bera normality statistic and p-value (chi-square, 2 degrees of freedom).
pub fn jarque_bera(residuals: &[f64]) -> Result<(f64, f64)> {
    let values: Vec<f64> = residuals
        .iter()
        .copied()
        .filter(|v| v.is_finite())
        .collect();
    if values.len() < 3 {
        return Err(CoreError::invalid_argument(
            "residuals",
            "Jarque-Bera needs at least 3 finite residuals",
        ));
    }
    let n = values.len() as f64;
    let mean = values.iter().sum::<f64>() / n;
    let m2 = values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / n;
    let m3 = values.iter().map(|v| (v - mean).powi(3)).sum::<f64>() / n;
    let m4 = values.iter().map(|v| (v - mean).powi(4)).sum::<f64>() / n;
    if m2 <= 0.0 {
        return Ok((0.0, 1.0));
    }
    let skew = m3 / m2.powf(1.5);
    let kurt = m4 / (m2 * m2);
    let jb = n / 6.0 * (skew * skew + (kurt - 3.0).powi(2) / 4.0);
    Ok((jb, chi2_survival(jb, 2.0)))
}

/// P(X > x) for a chi-square variable with `k` degrees of freedom: the regularised upper
/// incomplete gamma function Q(k/2, x/2), by series or continued fraction.
pub fn chi2_survival(x: f64, k: f64) -> f64 {
    if !(x.is_finite() && k > 0.0) {
        return f64::NAN;
    }
    if x <= 0.0 {
        return 1.0;
    }
    let (a, x) = (k / 2.0, x / 2.0);
    let ln_prefix = a * x.ln() - x - ln_gamma(a);
    if x < a + 1.0 {
        let (mut term, mut sum, mut ap) = (1.0 / a, 1.0 / a, a);
        for _ in 0..1000 {
            ap += 1.0;
            term *= x / ap;
            sum += term;
            if term.abs() < sum.abs() * 1e-15 {
                break;
            }
        }
        (1.0 - sum * ln_prefix.exp()).clamp(0.0, 1.0)
    } else {
        // Lentz's continued fraction.
        let tiny = 1e-300;
        let mut b = x + 1.0 - a;
        let mut c = 1.0 / tiny;
        let mut d = 1.0 / b;
        let mut h = d;
        for i in 1..1000 {
            let an = -(i as f64) * (i as f64 - a);
            b += 2.0;
            d = an * d + b;
            if d.abs() < tiny {
                d = tiny;
            }
            c = b + an / c;
            if c.abs() < tiny {
                c = tiny;
            }
            d = 1.0 / d;
            let delta = d * c;
            h *= delta;
            if (delta - 1.0).abs() < 1e-15 {
                break;
            }
        }
        (ln_prefix.exp() * h).clamp(0.0, 1.0)
    }
}

/// ln Γ(x) for x > 0 (Lanczos, g = 7).
fn ln_gamma(x: f64) -> f64 {
    const C: [f64; 9] = [
        0.999_999_999_999_809_9,
        676.520_368_121_885_1,
        -1_259.139_216_722_402_8,
        771.323_428_777_653_1,
        -176.615_029_162_140_6,
        12.507_343_278_686_905,
        -0.138_571_095_265_720_12,
        9.984_369_578_019_572e-6,
        1.505_632_735_149_311_6e-7,
    ];
    if x < 0.5 {
        return (std::f64::consts::PI / (std::f64::consts::PI * x).sin()).ln() - ln_gamma(1.0 - x);
    }
    let x = x - 1.0;
    let t = x + 7.5;
    let series: f64 = C[0]
        + C[1..]
            .iter()
            .enumerate()
            .map(|(i, c)| c / (x + i as f64 + 1.0))
            .sum::<f64>();
    0.5 * (2.0 * std::f64::consts::PI).ln() + (x + 0.5) * t.ln() - t + series.ln()
}

/// Pooled autocorrelation, (Ljung-Box Q, p), (Jarque-Bera, p) and the number of residuals.
pub type ResidualTests = (Vec<f64>, (f64, f64), (f64, f64), usize);

/// Residual tests over independent stretches of residuals (one per series and backtest
/// window): the pooled autocorrelation up to `max_lag`, Ljung-Box over those lags and
/// Jarque-Bera over every finite residual.
pub fn residual_tests(stretches: &[Vec<f64>], max_lag: usize) -> Result<ResidualTests> {
    if max_lag == 0 {
        return Err(CoreError::invalid_argument("max_lag", "must be at least 1"));
    }
    let all: Vec<f64> = stretches
        .iter()
        .flatten()
        .copied()
        .filter(|v| v.is_finite())
        .collect();
    let acf = pooled_acf(stretches, max_lag);
    let lb = ljung_box(&acf, all.len());
    let jb = jarque_bera(&all)?;
    Ok((acf, lb, jb, all.len()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chi_square_tail_matches_tables() {
        // Upper 5% points: 3.841 (1 df), 5.991 (2 df), 18.307 (10 df).
        assert!((chi2_survival(3.841_458_8, 1.0) - 0.05).abs() < 1e-6);
        assert!((chi2_survival(5.991_464_5, 2.0) - 0.05).abs() < 1e-6);
        assert!((chi2_survival(18.307_038, 10.0) - 0.05).abs() < 1e-6);
        assert!((chi2_survival(2.0, 2.0) - (-1.0f64).exp()).abs() < 1e-12);
    }

    #[test]
    fn acf_of_an_alternating_series_is_minus_one() {
        let s = vec![(0..100)
            .map(|i| if i % 2 == 0 { 1.0 } else { -1.0 })
            .collect::<Vec<f64>>()];
        let acf = pooled_acf(&s, 2);
        assert!(
            (acf[0] + 0.99).abs() < 0.011 && (acf[1] - 0.98).abs() < 0.021,
            "{acf:?}"
        );
        let (q, p) = ljung_box(&acf, 100);
        assert!(q > 100.0 && p < 1e-10);
        let (jb, p) = jarque_bera(&s[0]).unwrap();
        assert!(jb > 10.0 && p < 0.01);
    }
}
