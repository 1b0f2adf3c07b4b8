//! Per-series feature kernels on a regular period grid. `y[q]` is the (transformed) target at
//! grid position `q`, NaN where missing. A feature at position `p` with lag `l` reads only
//! `y[..= p - l]`: that is the whole leak-freedom argument, and every kernel keeps it.

use super::spec::Stat;

/// Recompute running sums from scratch this often, so add/remove rounding cannot drift.
const RESYNC_EVERY: usize = 1024;

/// `out[p] = y[p - lag]`.
pub fn lag(y: &[f64], lag: usize, out: &mut [f64]) {
    for (p, o) in out.iter_mut().enumerate() {
        *o = if p >= lag { y[p - lag] } else { f64::NAN };
    }
}

/// Running moments of the finite values in a window, shifted by `shift` for precision.
#[derive(Debug, Default, Clone, Copy)]
struct Moments {
    count: usize,
    sum: f64,
    sumsq: f64,
}

impl Moments {
    fn add(&mut self, v: f64, shift: f64) {
        if v.is_finite() {
            let d = v - shift;
            self.count += 1;
            self.sum += d;
            self.sumsq += d * d;
        }
    }

    fn remove(&mut self, v: f64, shift: f64) {
        if v.is_finite() {
            let d = v - shift;
            self.count -= 1;
            self.sum -= d;
            self.sumsq -= d * d;
        }
    }

    fn value(&self, stat: Stat, shift: f64) -> f64 {
        let n = self.count as f64;
        match stat {
            Stat::Mean => shift + self.sum / n,
            Stat::Sum => self.sum + shift * n,
            Stat::Std => {
                if self.count < 2 {
                    f64::NAN
                } else {
                    ((self.sumsq - self.sum * self.sum / n) / (n - 1.0))
                        .max(0.0)
                        .sqrt()
                }
            }
            _ => f64::NAN,
        }
    }
}

fn first_finite(y: &[f64]) -> f64 {
    y.iter().copied().find(|v| v.is_finite()).unwrap_or(0.0)
}

/// Statistic of an explicit list of finite values (order statistics and the general path).
pub fn stat_of(values: &mut [f64], stat: Stat) -> f64 {
    let n = values.len();
    if n == 0 {
        return f64::NAN;
    }
    match stat {
        Stat::Mean => values.iter().sum::<f64>() / n as f64,
        Stat::Sum => values.iter().sum(),
        Stat::Std => {
            if n < 2 {
                return f64::NAN;
            }
            let mean = values.iter().sum::<f64>() / n as f64;
            (values.iter().map(|v| (v - mean) * (v - mean)).sum::<f64>() / (n as f64 - 1.0)).sqrt()
        }
        Stat::Min => values.iter().copied().fold(f64::INFINITY, f64::min),
        Stat::Max => values.iter().copied().fold(f64::NEG_INFINITY, f64::max),
        Stat::Median => quantile(values, 0.5),
        Stat::Quantile(q) => quantile(values, q),
    }
}

/// Linear interpolation between order statistics (pandas' default).
fn quantile(values: &mut [f64], q: f64) -> f64 {
    values.sort_unstable_by(|a, b| a.total_cmp(b));
    let pos = q * (values.len() - 1) as f64;
    let lo = pos.floor() as usize;
    let hi = pos.ceil() as usize;
    values[lo] + (values[hi] - values[lo]) * (pos - lo as f64)
}

/// Rolling statistics: `outs[k][p]` is `stats[k]` over the finite values of
/// `y[p - lag - window + 1 ..= p - lag]`, NaN when fewer than `min_samples` are finite.
pub fn rolling(
    y: &[f64],
    window: usize,
    lag: usize,
    min_samples: usize,
    stats: &[Stat],
    outs: &mut [&mut [f64]],
) {
    let n = y.len();
    let moments_only = stats
        .iter()
        .all(|s| matches!(s, Stat::Mean | Stat::Sum | Stat::Std));
    for out in outs.iter_mut() {
        out[..lag.min(n)].fill(f64::NAN);
    }
    if moments_only && y.iter().all(|v| v.is_finite()) {
        complete_moments(y, window, lag, min_samples, stats, outs);
        return;
    }
    if moments_only {
        let shift = first_finite(y);
        let mut m = Moments::default();
        for q in 0..n {
            if q % RESYNC_EVERY == 0 && q > 0 {
                m = Moments::default();
                for &v in &y[(q + 1).saturating_sub(window)..q] {
                    m.add(v, shift);
                }
            }
            m.add(y[q], shift);
            if q >= window && q % RESYNC_EVERY != 0 {
                m.remove(y[q - window], shift);
            }
            let p = q + lag;
            if p >= n {
                break;
            }
            for (out, &stat) in outs.iter_mut().zip(stats) {
                out[p] = if m.count >= min_samples {
                    m.value(stat, shift)
                } else {
                    f64::NAN
                };
            }
        }
        return;
    }
    let mut buf = Vec::with_capacity(window);
    for q in 0..n.saturating_sub(lag) {
        buf.clear();
        buf.extend(
            y[(q + 1).saturating_sub(window)..=q]
                .iter()
                .copied()
                .filter(|v| v.is_finite()),
        );
        let enough = buf.len() >= min_samples;
        for (out, &stat) in outs.iter_mut().zip(stats) {
            out[q + lag] = if enough {
                stat_of(&mut buf, stat)
            } else {
                f64::NAN
            };
        }
    }
}

/// `rolling` for mean, sum and std on a series without missing values: no per-value checks,
/// one running sum and sum of squares (shifted by the first value for precision) per window.
fn complete_moments(
    y: &[f64],
    window: usize,
    lag: usize,
    min_samples: usize,
    stats: &[Stat],
    outs: &mut [&mut [f64]],
) {
    let n = y.len();
    let shift = y.first().copied().unwrap_or(0.0);
    let (mut sum, mut sumsq) = (0.0f64, 0.0f64);
    for q in 0..n.saturating_sub(lag) {
        if q % RESYNC_EVERY == 0 && q >= window {
            (sum, sumsq) = (0.0, 0.0);
            for &v in &y[q + 1 - window..q] {
                let d = v - shift;
                sum += d;
                sumsq += d * d;
            }
        } else if q >= window {
            let d = y[q - window] - shift;
            sum -= d;
            sumsq -= d * d;
        }
        let d = y[q] - shift;
        sum += d;
        sumsq += d * d;
        let count = (q + 1).min(window);
        let p = q + lag;
        if count < min_samples {
            for out in outs.iter_mut() {
                out[p] = f64::NAN;
            }
            continue;
        }
        let n = count as f64;
        for (out, &stat) in outs.iter_mut().zip(stats) {
            out[p] = match stat {
                Stat::Mean => shift + sum / n,
                Stat::Sum => sum + shift * n,
                _ if count < 2 => f64::NAN,
                _ => ((sumsq - sum * sum / n) / (n - 1.0)).max(0.0).sqrt(),
            };
        }
    }
}

/// Seasonal rolling: the statistic over `y[q], y[q - s], ..., y[q - (window - 1) s]` with
/// `q = p - lag`.
#[allow(clippy::too_many_arguments)]
pub fn seasonal_rolling(
    y: &[f64],
    season: usize,
    window: usize,
    lag: usize,
    min_samples: usize,
    stats: &[Stat],
    outs: &mut [&mut [f64]],
) {
    let n = y.len();
    let mut buf = Vec::with_capacity(window);
    for p in 0..n {
        buf.clear();
        if p >= lag {
            let q = p - lag;
            buf.extend(
                (0..window)
                    .map_while(|k| q.checked_sub(k * season))
                    .map(|i| y[i])
                    .filter(|v| v.is_finite()),
            );
        }
        let enough = p >= lag && buf.len() >= min_samples;
        for (out, &stat) in outs.iter_mut().zip(stats) {
            out[p] = if enough {
                stat_of(&mut buf, stat)
            } else {
                f64::NAN
            };
        }
    }
}

/// Expanding statistics fed one value at a time: the running sums `expanding` keeps, so a
/// recursive forecast extends them per step instead of re-reading the history.
#[derive(Debug, Clone)]
pub struct ExpandingAccumulator {
    moments: Moments,
    shift: f64,
    lo: f64,
    hi: f64,
}

impl ExpandingAccumulator {
    /// Sums are kept relative to `shift` (the series' first finite value) for precision.
    pub fn new(shift: f64) -> Self {
        Self {
            moments: Moments::default(),
            shift,
            lo: f64::INFINITY,
            hi: f64::NEG_INFINITY,
        }
    }

    /// An accumulator for series `y`, shifted as `expanding` shifts it.
    pub fn for_series(y: &[f64]) -> Self {
        Self::new(first_finite(y))
    }

    pub fn add(&mut self, v: f64) {
        self.moments.add(v, self.shift);
        if v.is_finite() {
            self.lo = self.lo.min(v);
            self.hi = self.hi.max(v);
        }
    }

    pub fn value(&self, stat: Stat) -> f64 {
        if self.moments.count == 0 {
            return f64::NAN;
        }
        match stat {
            Stat::Min => self.lo,
            Stat::Max => self.hi,
            other => self.moments.value(other, self.shift),
        }
    }
}

/// Expanding statistics over `y[..= p - lag]` (pandas `expanding(min_periods=1)`).
pub fn expanding(y: &[f64], lag: usize, stats: &[Stat], outs: &mut [&mut [f64]]) {
    let n = y.len();
    for out in outs.iter_mut() {
        out[..lag.min(n)].fill(f64::NAN);
    }
    let mut acc = ExpandingAccumulator::for_series(y);
    for q in 0..n.saturating_sub(lag) {
        acc.add(y[q]);
        for (out, &stat) in outs.iter_mut().zip(stats) {
            out[q + lag] = acc.value(stat);
        }
    }
}

/// The pandas `adjust = False`, `ignore_na = False` exponentially weighted mean, fed one value
/// at a time.
#[derive(Debug, Clone, Copy)]
pub struct EwmAccumulator {
    alpha: f64,
    weighted: f64,
    old_weight: f64,
}

impl EwmAccumulator {
    pub fn new(alpha: f64) -> Self {
        Self {
            alpha,
            weighted: f64::NAN,
            old_weight: 1.0,
        }
    }

    pub fn add(&mut self, cur: f64) {
        let observed = cur.is_finite();
        if self.weighted.is_finite() {
            self.old_weight *= 1.0 - self.alpha;
            if observed {
                if self.weighted != cur {
                    self.weighted = (self.old_weight * self.weighted + self.alpha * cur)
                        / (self.old_weight + self.alpha);
                }
                self.old_weight = 1.0;
            }
        } else if observed {
            self.weighted = cur;
        }
    }

    pub fn value(&self) -> f64 {
        self.weighted
    }
}

/// Exponentially weighted mean with `adjust = False`, NaN-aware exactly as pandas
/// (`ignore_na = False`), of `y` lagged by `lag`.
pub fn ewm(y: &[f64], alpha: f64, lag: usize, out: &mut [f64]) {
    let n = y.len();
    out[..lag.min(n)].fill(f64::NAN);
    let mut acc = EwmAccumulator::new(alpha);
    for q in 0..n.saturating_sub(lag) {
        acc.add(y[q]);
        out[q + lag] = acc.value();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run_rolling(y: &[f64], w: usize, l: usize, m: usize, stat: Stat) -> Vec<f64> {
        let mut out = vec![0.0; y.len()];
        rolling(y, w, l, m, &[stat], &mut [&mut out[..]]);
        out
    }

    #[test]
    fn rolling_mean_matches_direct_computation_across_resyncs() {
        let y: Vec<f64> = (0..3000)
            .map(|i| {
                if i % 97 == 0 {
                    f64::NAN
                } else {
                    ((i * 37) % 101) as f64 * 1.5
                }
            })
            .collect();
        let fast = run_rolling(&y, 28, 7, 5, Stat::Std);
        let direct = {
            let mut out = vec![f64::NAN; y.len()];
            for (p, slot) in out.iter_mut().enumerate().skip(7) {
                let q = p - 7;
                let mut vals: Vec<f64> = y[(q + 1).saturating_sub(28)..=q]
                    .iter()
                    .copied()
                    .filter(|v| v.is_finite())
                    .collect();
                if vals.len() >= 5 {
                    *slot = stat_of(&mut vals, Stat::Std);
                }
            }
            out
        };
        for (a, b) in fast.iter().zip(&direct) {
            assert!(
                (a.is_nan() && b.is_nan()) || (a - b).abs() < 1e-9,
                "{a} vs {b}"
            );
        }
    }

    #[test]
    fn features_never_read_at_or_after_lag() {
        let clean: Vec<f64> = (0..200).map(|i| i as f64).collect();
        let mut poisoned = clean.clone();
        for v in &mut poisoned[150..] {
            *v = 1e12;
        }
        // Positions up to 150 + lag - 1 may only see clean values.
        let a = run_rolling(&clean, 14, 7, 1, Stat::Max);
        let b = run_rolling(&poisoned, 14, 7, 1, Stat::Max);
        let bits = |v: &[f64]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
        assert_eq!(bits(&a[..157]), bits(&b[..157]));
        assert_ne!(a[157], b[157]);
    }

    #[test]
    fn ewm_follows_recursion() {
        let y = [1.0, 2.0, f64::NAN, 4.0];
        let mut out = [0.0; 4];
        ewm(&y, 0.5, 1, &mut out);
        assert!(out[0].is_nan());
        assert_eq!(out[1], 1.0);
        assert_eq!(out[2], 1.5);
        assert_eq!(out[3], 1.5);
    }
}
