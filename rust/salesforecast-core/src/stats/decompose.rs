//! Classical seasonal decomposition (a centred moving average as the trend, the mean
//! detrended value at each position of the season as the seasonal index): what ETS starts its
//! seasonal states from and what Theta removes before fitting.

/// Additive (`y - trend`) or multiplicative (`y / trend`) season.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Season {
    Additive,
    Multiplicative,
}

/// The centred moving average of order `m` (a 2 x m average when `m` is even); `NaN` where
/// the window reaches past either end.
pub fn centred_moving_average(y: &[f64], m: usize) -> Vec<f64> {
    let n = y.len();
    let weights: Vec<f64> = if m.is_multiple_of(2) {
        let mut w = vec![1.0 / m as f64; m + 1];
        w[0] = 0.5 / m as f64;
        w[m] = 0.5 / m as f64;
        w
    } else {
        vec![1.0 / m as f64; m]
    };
    let half = weights.len() / 2;
    (0..n)
        .map(|t| {
            if t < half || t + half >= n {
                f64::NAN
            } else {
                weights
                    .iter()
                    .enumerate()
                    .map(|(k, w)| w * y[t + k - half])
                    .sum()
            }
        })
        .collect()
}

/// The `m` seasonal indices of `y` (position 0 is the season of `y[0]`), normalised to sum to
/// zero (additive) or to average one (multiplicative). `None` when `y` is shorter than two
/// seasons or a position has no detrended value.
pub fn seasonal_indices(y: &[f64], m: usize, season: Season) -> Option<Vec<f64>> {
    if m < 2 || y.len() < 2 * m {
        return None;
    }
    let trend = centred_moving_average(y, m);
    let mut sums = vec![0.0; m];
    let mut counts = vec![0usize; m];
    for (t, (v, tr)) in y.iter().zip(&trend).enumerate() {
        let detrended = match season {
            Season::Additive => v - tr,
            Season::Multiplicative => v / tr,
        };
        if detrended.is_finite() {
            sums[t % m] += detrended;
            counts[t % m] += 1;
        }
    }
    if counts.contains(&0) {
        return None;
    }
    let indices: Vec<f64> = sums
        .iter()
        .zip(&counts)
        .map(|(s, c)| s / *c as f64)
        .collect();
    let mean = indices.iter().sum::<f64>() / m as f64;
    Some(match season {
        Season::Additive => indices.iter().map(|s| s - mean).collect(),
        Season::Multiplicative => indices.iter().map(|s| s / mean).collect(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recovers_a_planted_season_on_a_trend() {
        let season = [3.0, -1.0, -2.0, 0.0];
        let y: Vec<f64> = (0..16)
            .map(|t| 10.0 + 0.5 * t as f64 + season[t % 4])
            .collect();
        let found = seasonal_indices(&y, 4, Season::Additive).unwrap();
        for (f, s) in found.iter().zip(season) {
            assert!((f - s).abs() < 1e-9, "{found:?}");
        }
        let factors = [1.2, 0.8, 1.1, 0.9];
        let y: Vec<f64> = (0..12).map(|t| 50.0 * factors[t % 4]).collect();
        let found = seasonal_indices(&y, 4, Season::Multiplicative).unwrap();
        for (f, s) in found.iter().zip(factors) {
            assert!((f - s).abs() < 1e-9, "{found:?}");
        }
        assert!(seasonal_indices(&y[..7], 4, Season::Additive).is_none());
    }
}
