//! The Theta method in the state-space form statsforecast's `AutoTheta` fits (Fiorucci et al.,
//! 2016): simple exponential smoothing plus a share `1 - 1/theta` of a linear trend line. The
//! line is fitted once on the whole history (standard) or updated every period (dynamic), and
//! theta is either 2 (the classical method) or optimised. When the autocorrelation at the
//! seasonal lag is significant the series is deseasonalised first (classical decomposition,
//! multiplicative unless that cannot work) and the forecasts reseasonalised. Each variant's
//! initial level, alpha (and theta) minimise the in-sample one-step squared errors; the
//! automatic choice keeps the variant with the smallest of them.

use super::decompose::{seasonal_indices, Season};
use super::optim::NelderMead;
use super::Fit;
use crate::error::{CoreError, Result};

/// A Theta variant: trend line fitted once or updated every period, theta 2 or optimised.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Variant {
    /// Standard Theta method: the line through the whole history, theta = 2.
    Stm,
    /// Optimised Theta method: the line through the whole history, theta optimised.
    Otm,
    /// Dynamic standard Theta method: the line updated every period, theta = 2.
    Dstm,
    /// Dynamic optimised Theta method: the line updated every period, theta optimised.
    Dotm,
}

impl Variant {
    /// Every variant, in the order the automatic choice tries them (a tie keeps the first).
    pub const ALL: [Self; 4] = [Self::Stm, Self::Otm, Self::Dstm, Self::Dotm];

    pub fn name(self) -> &'static str {
        match self {
            Self::Stm => "STM",
            Self::Otm => "OTM",
            Self::Dstm => "DSTM",
            Self::Dotm => "DOTM",
        }
    }

    fn is_dynamic(self) -> bool {
        matches!(self, Self::Dstm | Self::Dotm)
    }

    fn optimises_theta(self) -> bool {
        matches!(self, Self::Otm | Self::Dotm)
    }
}

/// Which Theta variants are considered.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ThetaSpec {
    /// The one variant to fit; `None` fits all four and keeps the best in-sample.
    pub variant: Option<Variant>,
}

impl ThetaSpec {
    /// From a variant's name (`STM`, `OTM`, `DSTM`, `DOTM`, any case); `None` is the
    /// automatic choice among all four.
    pub fn parse(variant: Option<&str>) -> Result<Self> {
        let Some(name) = variant else {
            return Ok(Self::default());
        };
        Variant::ALL
            .into_iter()
            .find(|v| v.name().eq_ignore_ascii_case(name))
            .map(|v| Self { variant: Some(v) })
            .ok_or_else(|| {
                CoreError::invalid_argument(
                    "variant",
                    format!(
                        "unknown Theta variant {name:?}; expected STM, OTM, DSTM or DOTM \
                         (or none for the automatic choice)"
                    ),
                )
            })
    }

    fn variants(&self) -> &[Variant] {
        match &self.variant {
            Some(one) => std::slice::from_ref(one),
            None => &Variant::ALL,
        }
    }
}

/// Series of at most this many values are not fitted (three parameters), as in the reference.
const MAX_UNFITTED_LENGTH: usize = 3;
/// The first one-step errors, made while the states settle, are left out of the criterion.
const BURN_IN: usize = 3;
/// Theta of the standard variants, and where the optimised ones start.
const STANDARD_THETA: f64 = 2.0;
/// The one-sided 5% critical value of the normal: the seasonality test's threshold.
const SEASONALITY_CRITICAL_VALUE: f64 = 1.644_853_626_951_472_2;
/// A multiplicative seasonal index below this makes the decomposition additive instead.
const MIN_MULTIPLICATIVE_INDEX: f64 = 0.01;
/// The floor of the criterion's scale (the mean absolute value), as in the reference.
const MIN_SCALE: f64 = 1e-10;

/// Fits the Theta variants of `spec` on `y` (finite, gap-free, oldest first, not empty) with
/// seasons of `season_length` periods and forecasts `h` periods with the best.
pub fn fit_forecast(spec: &ThetaSpec, y: &[f64], season_length: usize, h: usize) -> Fit {
    let n = y.len();
    if n <= MAX_UNFITTED_LENGTH {
        // Dividing before summing keeps the mean of finite values finite.
        let mean = y.iter().map(|v| v / n as f64).sum();
        return constant_fit(mean, h, "Mean (too short for Theta)");
    }
    let last = y[n - 1];
    let seasonality = Seasonality::detect(y, season_length);
    let adjusted = match &seasonality {
        Some(s) => s.remove(y),
        None => y.to_vec(),
    };
    let history = History::new(adjusted);
    let best = spec
        .variants()
        .iter()
        .filter_map(|&variant| history.fit(variant))
        .fold(None, |best: Option<Fitted>, fitted| match best {
            Some(b) if b.criterion <= fitted.criterion => Some(b),
            _ => Some(fitted),
        });
    let Some(best) = best else {
        return constant_fit(last, h, "Naive (Theta did not fit)");
    };
    let mut forecasts = history.forecast(&best, h);
    if let Some(s) = &seasonality {
        s.restore(&mut forecasts, n);
    }
    if forecasts.iter().any(|f| !f.is_finite()) {
        return constant_fit(last, h, "Naive (Theta did not fit)");
    }
    let season = match seasonality.map(|s| s.season) {
        Some(Season::Multiplicative) => ", multiplicative season",
        Some(Season::Additive) => ", additive season",
        None => "",
    };
    Fit {
        forecasts,
        form: format!(
            "Theta({}, theta={:.2}{season})",
            best.variant.name(),
            best.params.theta
        ),
    }
}

fn constant_fit(value: f64, h: usize, form: &str) -> Fit {
    Fit {
        forecasts: vec![value; h],
        form: form.to_owned(),
    }
}

/// Whether the autocorrelation at lag `m` is significant (one-sided 5%, Bartlett's variance
/// from the lower lags), the reference's test: only for `m >= 4` and two whole seasons.
fn is_seasonal(y: &[f64], m: usize) -> bool {
    let n = y.len();
    if m < 4 || n < 2 * m {
        return false;
    }
    let mean = y.iter().sum::<f64>() / n as f64;
    let variation: f64 = y.iter().map(|v| (v - mean).powi(2)).sum();
    let autocorrelation = |lag: usize| {
        y[..n - lag]
            .iter()
            .zip(&y[lag..])
            .map(|(a, b)| (a - mean) * (b - mean))
            .sum::<f64>()
            / variation
    };
    let lower_lags: f64 = (1..m).map(|lag| autocorrelation(lag).powi(2)).sum();
    let standard_error = ((1.0 + 2.0 * lower_lags) / n as f64).sqrt();
    // A constant series has no autocorrelation (NaN), which is not seasonal.
    autocorrelation(m).abs() / standard_error > SEASONALITY_CRITICAL_VALUE
}

/// The seasonal indices removed before fitting (position 0 is the season of the first value).
#[derive(Debug)]
struct Seasonality {
    season: Season,
    indices: Vec<f64>,
}

impl Seasonality {
    /// The classical decomposition of a seasonal `y`: multiplicative when every value is
    /// positive and no index falls below 0.01, additive otherwise.
    fn detect(y: &[f64], m: usize) -> Option<Self> {
        if !is_seasonal(y, m) {
            return None;
        }
        let positive = y.iter().all(|&v| v > 0.0);
        let multiplicative = positive
            .then(|| seasonal_indices(y, m, Season::Multiplicative))
            .flatten()
            .filter(|indices| indices.iter().all(|&s| s >= MIN_MULTIPLICATIVE_INDEX));
        match multiplicative {
            Some(indices) => Some(Self {
                season: Season::Multiplicative,
                indices,
            }),
            None => seasonal_indices(y, m, Season::Additive).map(|indices| Self {
                season: Season::Additive,
                indices,
            }),
        }
    }

    fn remove(&self, y: &[f64]) -> Vec<f64> {
        let m = self.indices.len();
        y.iter()
            .enumerate()
            .map(|(t, v)| match self.season {
                Season::Multiplicative => v / self.indices[t % m],
                Season::Additive => v - self.indices[t % m],
            })
            .collect()
    }

    /// Puts the season back into forecasts of the periods after the `n` observed.
    fn restore(&self, forecasts: &mut [f64], n: usize) {
        let m = self.indices.len();
        for (j, f) in forecasts.iter_mut().enumerate() {
            let index = self.indices[(n + j) % m];
            match self.season {
                Season::Multiplicative => *f *= index,
                Season::Additive => *f += index,
            }
        }
    }
}

/// A trend line `intercept + slope * t` (t counted from 1 at the first period).
#[derive(Debug, Clone, Copy)]
struct Line {
    intercept: f64,
    slope: f64,
}

impl Line {
    /// The dynamic line after period `t >= 1` takes `value`, from the line and the running
    /// mean after `t - 1` (the reference's recursive least squares); returns the new mean too.
    fn updated(self, mean: f64, value: f64, t: usize) -> (Self, f64) {
        let t = t as f64;
        let slope = ((t - 1.0) * self.slope + 6.0 * (value - mean) / (t + 1.0)) / (t + 2.0);
        let mean = (t * mean + value) / (t + 1.0);
        let line = Self {
            intercept: mean - slope * (t + 2.0) / 2.0,
            slope,
        };
        (line, mean)
    }
}

/// A variant's parameters: the level before the first period, the smoothing weight and theta.
#[derive(Debug, Clone, Copy)]
struct Params {
    initial_level: f64,
    alpha: f64,
    theta: f64,
}

impl Params {
    /// From an optimiser's point: (initial level, alpha) or (initial level, alpha, theta).
    fn at(point: &[f64]) -> Self {
        match *point {
            [initial_level, alpha, theta] => Self {
                initial_level,
                alpha,
                theta,
            },
            [initial_level, alpha] => Self {
                initial_level,
                alpha,
                theta: STANDARD_THETA,
            },
            // Not a point of this model: NaN makes the optimiser reject it.
            _ => Self {
                initial_level: f64::NAN,
                alpha: f64::NAN,
                theta: f64::NAN,
            },
        }
    }

    fn smoother(self) -> Smoother {
        Smoother {
            alpha: self.alpha,
            keep: 1.0 - self.alpha,
            inverse_alpha: 1.0 / self.alpha,
            trend_share: 1.0 - 1.0 / self.theta,
        }
    }
}

/// The smoothing recursions with the parameters' derived constants worked out once.
#[derive(Debug, Clone, Copy)]
struct Smoother {
    alpha: f64,
    keep: f64,
    inverse_alpha: f64,
    trend_share: f64,
}

impl Smoother {
    /// The prediction for period `t` from the level and line after `t - 1`, where `decay` is
    /// `(1 - alpha)^t`: the level plus theta's share of the line's drift, the intercept's part
    /// fading as the level takes over.
    fn predict(&self, level: f64, line: Line, decay: f64) -> f64 {
        level
            + self.trend_share
                * (line.intercept * decay
                    + line.slope * (1.0 - decay * self.keep) * self.inverse_alpha)
    }

    fn next_level(&self, level: f64, value: f64) -> f64 {
        self.alpha * value + self.keep * level
    }
}

/// A fitted variant and its in-sample criterion.
#[derive(Debug, Clone, Copy)]
struct Fitted {
    variant: Variant,
    params: Params,
    criterion: f64,
}

/// The (deseasonalised) history and what every variant's fit reads from it.
#[derive(Debug)]
struct History {
    y: Vec<f64>,
    /// The mean absolute value, which the criterion is scaled by (as in the reference).
    scale: f64,
    /// The least-squares line through the whole history (standard variants).
    whole_line: Line,
    /// The line after each period (dynamic variants): it does not depend on the parameters.
    dynamic_lines: Vec<Line>,
    /// The running mean after the last period, where the dynamic forecasts continue from.
    running_mean: f64,
}

impl History {
    /// `y` has at least two values.
    fn new(y: Vec<f64>) -> Self {
        let n = y.len() as f64;
        let mean = y.iter().sum::<f64>() / n;
        let scale = (y.iter().map(|v| v.abs()).sum::<f64>() / n).max(MIN_SCALE);
        let weighted_mean = y
            .iter()
            .enumerate()
            .map(|(t, v)| (t + 1) as f64 * v)
            .sum::<f64>()
            / n;
        let slope = 6.0 * (2.0 * weighted_mean - (n + 1.0) * mean) / (n * n - 1.0);
        let whole_line = Line {
            intercept: mean - (n + 1.0) * slope / 2.0,
            slope,
        };
        let mut dynamic_lines = Vec::with_capacity(y.len());
        let mut line = Line {
            intercept: y[0],
            slope: 0.0,
        };
        let mut running_mean = y[0];
        dynamic_lines.push(line);
        for (t, &value) in y.iter().enumerate().skip(1) {
            (line, running_mean) = line.updated(running_mean, value, t);
            dynamic_lines.push(line);
        }
        Self {
            y,
            scale,
            whole_line,
            dynamic_lines,
            running_mean,
        }
    }

    /// Minimises the variant's criterion over its parameters from the reference's start and
    /// within its bounds; `None` when no finite criterion is found.
    fn fit(&self, variant: Variant) -> Option<Fitted> {
        let start = [self.y[0] / 2.0, 0.5, STANDARD_THETA];
        let lower = [-1e10, 0.1, 1.0];
        let upper = [1e10, 0.99, 1e10];
        let dimensions = if variant.optimises_theta() { 3 } else { 2 };
        let minimum = NelderMead::default().minimize(
            |point| self.criterion(variant, Params::at(point)),
            &start[..dimensions],
            &lower[..dimensions],
            &upper[..dimensions],
        );
        minimum.value.is_finite().then(|| Fitted {
            variant,
            params: Params::at(&minimum.x),
            criterion: minimum.value,
        })
    }

    /// The squared one-step errors after the burn-in, summed, over the scale.
    fn criterion(&self, variant: Variant, params: Params) -> f64 {
        self.smooth(variant, params).0 / self.scale
    }

    /// Runs the one-step predictions through the history: the sum of squared errors after the
    /// burn-in, and the level after the last period.
    fn smooth(&self, variant: Variant, params: Params) -> (f64, f64) {
        if variant.is_dynamic() {
            smooth(&self.y, params, self.dynamic_lines.iter().copied())
        } else {
            smooth(&self.y, params, std::iter::repeat(self.whole_line))
        }
    }

    fn forecast(&self, fitted: &Fitted, h: usize) -> Vec<f64> {
        let dynamic = fitted.variant.is_dynamic();
        let n = self.y.len();
        let (_, mut level) = self.smooth(fitted.variant, fitted.params);
        let mut line = match self.dynamic_lines.last() {
            Some(&last) if dynamic => last,
            _ => self.whole_line,
        };
        let mut mean = self.running_mean;
        let smoother = fitted.params.smoother();
        let mut decay = smoother.keep.powf(n as f64);
        (n..n + h)
            .map(|t| {
                // Each forecast is fed back as if observed.
                let forecast = smoother.predict(level, line, decay);
                level = smoother.next_level(level, forecast);
                decay *= smoother.keep;
                if dynamic {
                    (line, mean) = line.updated(mean, forecast, t);
                }
                forecast
            })
            .collect()
    }
}

/// The smoothing pass over `y` (`lines` yields the line after each period from the first):
/// the sum of squared one-step errors after the burn-in and the level after the last period.
fn smooth(y: &[f64], params: Params, lines: impl Iterator<Item = Line>) -> (f64, f64) {
    let Some((&first, rest)) = y.split_first() else {
        return (f64::NAN, f64::NAN);
    };
    let smoother = params.smoother();
    let mut level = smoother.next_level(params.initial_level, first);
    let mut decay = smoother.keep;
    let mut squared_errors = 0.0;
    for (t, (&value, line)) in (1..).zip(rest.iter().zip(lines)) {
        if t >= BURN_IN {
            squared_errors += (value - smoother.predict(level, line, decay)).powi(2);
        }
        level = smoother.next_level(level, value);
        decay *= smoother.keep;
    }
    (squared_errors, level)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn assert_close(found: &[f64], expected: &[f64], tolerance: f64) {
        assert_eq!(found.len(), expected.len());
        for (f, e) in found.iter().zip(expected) {
            assert!((f - e).abs() <= tolerance, "{found:?} vs {expected:?}");
        }
    }

    fn auto() -> ThetaSpec {
        ThetaSpec::default()
    }

    #[test]
    fn a_constant_series_forecasts_the_constant() {
        let fit = fit_forecast(&auto(), &[5.0; 20], 1, 6);
        assert_close(&fit.forecasts, &[5.0; 6], 1e-9);
        // Its autocorrelation is undefined, so no season either.
        let fit = fit_forecast(&auto(), &[5.0; 30], 12, 3);
        assert_close(&fit.forecasts, &[5.0; 3], 1e-9);
        assert!(!fit.form.contains("season"), "{}", fit.form);
    }

    #[test]
    fn a_linear_trend_is_continued() {
        let y: Vec<f64> = (0..40).map(|t| 10.0 + 2.0 * t as f64).collect();
        // The standard method forecasts a line with half the least-squares slope (2 / 2 = 1).
        // Its one-step prediction runs short of the next value by slope / (2 alpha) once the
        // level has settled (the level lags by slope (1 - alpha) / alpha, the line adds
        // slope / (2 alpha)), so alpha goes to its bound 0.99 and the first forecast is
        // 90 - 1 / 0.99.
        let standard = ThetaSpec::parse(Some("STM")).unwrap();
        let fit = fit_forecast(&standard, &y, 1, 4);
        let first = 90.0 - 1.0 / 0.99;
        assert_close(
            &fit.forecasts,
            &[first, first + 1.0, first + 2.0, first + 3.0],
            1e-3,
        );
        assert!(
            fit.form.starts_with("Theta(STM, theta=2.00"),
            "{}",
            fit.form
        );
        // Optimising theta shrinks that shortfall to slope / (theta alpha) and brings the
        // forecast slope (1 - 1/theta) * 2 to 2, so the automatic choice continues the line.
        let fit = fit_forecast(&auto(), &y, 1, 6);
        let line: Vec<f64> = (40..46).map(|t| 10.0 + 2.0 * t as f64).collect();
        assert_close(&fit.forecasts, &line, 0.1);
        assert!(fit.form.contains("OTM"), "{}", fit.form);
    }

    #[test]
    fn a_multiplicative_season_is_found_and_repeated() {
        let factors = [1.2, 0.8, 1.1, 0.9];
        let y: Vec<f64> = (0..24).map(|t| 50.0 * factors[t % 4]).collect();
        let fit = fit_forecast(&auto(), &y, 4, 8);
        let expected: Vec<f64> = (24..32).map(|t| 50.0 * factors[t % 4]).collect();
        assert_close(&fit.forecasts, &expected, 1e-6);
        assert!(fit.form.ends_with("multiplicative season)"), "{}", fit.form);

        let monthly: Vec<f64> = (0..12)
            .map(|k| 1.0 + 0.3 * (k as f64 * 0.5).sin())
            .collect();
        let y: Vec<f64> = (0..48).map(|t| 100.0 * monthly[t % 12]).collect();
        let fit = fit_forecast(&auto(), &y, 12, 18);
        let expected: Vec<f64> = (48..66).map(|t| 100.0 * monthly[t % 12]).collect();
        assert_close(&fit.forecasts, &expected, 1e-6);
        assert!(fit.form.ends_with("multiplicative season)"), "{}", fit.form);
    }

    #[test]
    fn a_season_through_zero_is_additive() {
        let season = [3.0, -1.0, -2.0, 0.0];
        let y: Vec<f64> = (0..24).map(|t| season[t % 4]).collect();
        let fit = fit_forecast(&auto(), &y, 4, 4);
        assert_close(&fit.forecasts, &season, 1e-6);
        assert!(fit.form.ends_with("additive season)"), "{}", fit.form);
    }

    #[test]
    fn no_season_without_the_length_or_season_length_the_test_needs() {
        let factors = [1.2, 0.8, 1.1, 0.9];
        let y: Vec<f64> = (0..24).map(|t| 50.0 * factors[t % 4]).collect();
        assert!(is_seasonal(&y, 4));
        // m = 1, fewer than two seasons, and m < 4 (the reference tests only m >= 4).
        assert!(!is_seasonal(&y, 1));
        assert!(!is_seasonal(&y[..7], 4));
        let period_three: Vec<f64> = (0..24).map(|t| 50.0 * factors[t % 3]).collect();
        assert!(!is_seasonal(&period_three, 3));
        for (series, m) in [(&y[..], 1), (&y[..7], 4), (&period_three[..], 3)] {
            let fit = fit_forecast(&auto(), series, m, 4);
            assert!(!fit.form.contains("season"), "{}", fit.form);
            assert!(fit.forecasts.iter().all(|f| f.is_finite()));
        }
        // A season of 12 on a series with no 12-period pattern.
        let mut state = 7_u64;
        let noise: Vec<f64> = (0..60)
            .map(|_| {
                state = state
                    .wrapping_mul(6_364_136_223_846_793_005)
                    .wrapping_add(1_442_695_040_888_963_407);
                50.0 + (state >> 33) as f64 / 2f64.powi(31)
            })
            .collect();
        assert!(!is_seasonal(&noise, 12));
    }

    #[test]
    fn short_series_give_finite_forecasts() {
        for y in [&[4.0][..], &[4.0, 6.0], &[4.0, 6.0, 11.0]] {
            let fit = fit_forecast(&auto(), y, 7, 3);
            let mean = y.iter().sum::<f64>() / y.len() as f64;
            assert_close(&fit.forecasts, &[mean; 3], 1e-12);
        }
        for n in 4..8 {
            let y: Vec<f64> = (0..n)
                .map(|t| [3.0, 1.0, 4.0, 1.0, 5.0, 9.0, 2.0][t])
                .collect();
            let fit = fit_forecast(&auto(), &y, 7, 3);
            assert_eq!(fit.forecasts.len(), 3);
            assert!(fit.forecasts.iter().all(|f| f.is_finite()), "{fit:?}");
            assert!(fit.form.starts_with("Theta("), "{}", fit.form);
        }
        assert!(fit_forecast(&auto(), &[1.0, 2.0, 3.0, 4.0], 1, 0)
            .forecasts
            .is_empty());
    }

    #[test]
    fn huge_values_still_give_finite_forecasts() {
        let y: Vec<f64> = (0..30)
            .map(|t| if t % 2 == 0 { 1e308 } else { -1e308 })
            .collect();
        for m in [1, 4] {
            let fit = fit_forecast(&auto(), &y, m, 5);
            assert!(fit.forecasts.iter().all(|f| f.is_finite()), "{fit:?}");
        }
        let fit = fit_forecast(&auto(), &[1e308, 1e308, 1e308], 1, 2);
        assert_close(&fit.forecasts, &[1e308; 2], 1e293);
    }

    #[test]
    fn the_automatic_choice_has_the_smallest_criterion() {
        let y: Vec<f64> = (0..60)
            .map(|t| 100.0 + 0.8 * t as f64 + ((t * 37) % 11) as f64 - 5.0)
            .collect();
        let history = History::new(y.clone());
        let criteria: Vec<f64> = Variant::ALL
            .iter()
            .map(|&v| history.fit(v).unwrap().criterion)
            .collect();
        let smallest = criteria.iter().copied().fold(f64::INFINITY, f64::min);
        let chosen = Variant::ALL[criteria.iter().position(|&c| c == smallest).unwrap()];
        let fit = fit_forecast(&auto(), &y, 1, 5);
        assert!(
            fit.form.starts_with(&format!("Theta({},", chosen.name())),
            "{} vs {criteria:?}",
            fit.form
        );
    }

    #[test]
    fn parse_takes_the_four_variants_or_none() {
        assert_eq!(ThetaSpec::parse(None).unwrap(), ThetaSpec::default());
        assert_eq!(ThetaSpec::parse(None).unwrap().variants(), &Variant::ALL);
        for (name, variant) in [
            ("STM", Variant::Stm),
            ("otm", Variant::Otm),
            ("Dstm", Variant::Dstm),
            ("DOTM", Variant::Dotm),
        ] {
            assert_eq!(ThetaSpec::parse(Some(name)).unwrap().variant, Some(variant));
        }
        for bad in ["", "theta", "DOTM ", "AUTO"] {
            let err = ThetaSpec::parse(Some(bad)).unwrap_err();
            assert!(err.to_string().contains("STM, OTM, DSTM or DOTM"), "{err}");
        }
    }
}
