//! Exponential smoothing in innovations state-space form (ETS) with the form chosen by AICc:
//! statsforecast's `AutoETS`, itself a port of R's `forecast::ets`. Every candidate form (error
//! additive or multiplicative; trend none, additive or additive damped; season none, additive
//! or multiplicative) starts from the reference's states and smoothing parameters, is fitted by
//! maximum likelihood (Nelder-Mead over the smoothing parameters and the starting states, inside
//! the usual and admissible regions) and the smallest AICc wins. The point forecasts are the
//! state-space recursion's, as the reference's `pegelsfcast`.
//!
//! Where this departs from statsforecast 2.1.1, on purpose: seasons longer than 24 periods are
//! not modelled (as R; statsforecast fits them), the damped trend's forecast at horizon h is
//! `phi + ... + phi^h` times the slope (statsforecast 2.1.1 counts phi twice; fixed upstream
//! and in R), and the optimiser stays inside the usual and admissible regions (R's
//! bounds = "both"; statsforecast only checks the starting values).

use super::decompose::{seasonal_indices, Season};
use super::optim::NelderMead;
use super::Fit;
use crate::error::{CoreError, Result};

/// Longest season modelled, as R's `ets`: longer ones (weekly data, 52) get non-seasonal forms.
const MAX_SEASON_LENGTH: usize = 24;
/// Divisors closer to zero than this are replaced by `HUGE` (or nudged), as in the reference.
const TOLERANCE: f64 = 1e-10;
const HUGE: f64 = 1e10;
/// Floor of a multiplicative starting seasonal index.
const MIN_SEASONAL_FACTOR: f64 = 1e-2;
/// The objective never goes below this (a perfect fit would otherwise run to minus infinity).
const MIN_NEG2_LOG_LIKELIHOOD: f64 = -1e10;

/// The form of one component.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Component {
    None,
    Additive,
    Multiplicative,
}

impl Component {
    fn letter(self) -> &'static str {
        match self {
            Self::None => "N",
            Self::Additive => "A",
            Self::Multiplicative => "M",
        }
    }

    fn is_present(self) -> bool {
        self != Self::None
    }
}

/// One letter of the model code: a fixed component or `Z`, chosen by AICc.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Choice {
    Auto,
    Only(Component),
}

/// Which ETS forms the automatic selection considers: statsforecast's three-letter code
/// (error, trend, season) and whether the trend is damped (`None`: both are tried).
#[derive(Debug, Clone, PartialEq)]
pub struct EtsSpec {
    error: Choice,
    trend: Choice,
    season: Choice,
    damped: Option<bool>,
}

impl Default for EtsSpec {
    /// `ZZZ`, damped or not: every form the reference considers by default.
    fn default() -> Self {
        Self {
            error: Choice::Auto,
            trend: Choice::Auto,
            season: Choice::Auto,
            damped: None,
        }
    }
}

impl EtsSpec {
    /// From statsforecast's code: error, trend and season letters, each `Z` (chosen by AICc),
    /// `A` (additive), `M` (multiplicative) or `N` (none), e.g. `"ZZZ"`, `"MAM"`, `"ANN"`.
    /// `damped`: `Some(true)` only damped trends, `Some(false)` only undamped, `None` both.
    pub fn parse(model: &str, damped: Option<bool>) -> Result<Self> {
        let refuse = |reason: String| CoreError::invalid_argument("model", reason);
        let letters: Vec<char> = model.chars().collect();
        let &[error, trend, season] = letters.as_slice() else {
            return Err(refuse(format!(
                "{model:?} is not three letters: error, trend and season, each Z (chosen \
                 automatically), A, M or N, e.g. \"ZZZ\""
            )));
        };
        let choice = |letter: char, part: &str| match letter {
            'Z' => Ok(Choice::Auto),
            'N' => Ok(Choice::Only(Component::None)),
            'A' => Ok(Choice::Only(Component::Additive)),
            'M' => Ok(Choice::Only(Component::Multiplicative)),
            other => Err(refuse(format!(
                "unknown {part} letter {other:?} in {model:?}: expected Z, A, M or N"
            ))),
        };
        let (error, trend, season) = (
            choice(error, "error")?,
            choice(trend, "trend")?,
            choice(season, "season")?,
        );
        if error == Choice::Only(Component::None) {
            return Err(refuse(format!(
                "the error of {model:?} cannot be N: it is A, M or Z"
            )));
        }
        if trend == Choice::Only(Component::Multiplicative) {
            return Err(refuse(format!(
                "multiplicative trends ({model:?}) are not supported: use A (damped or not), N or Z"
            )));
        }
        if error == Choice::Only(Component::Additive)
            && season == Choice::Only(Component::Multiplicative)
        {
            return Err(refuse(format!(
                "an additive error with a multiplicative season ({model:?}) is numerically \
                 unstable and not fitted, as in statsforecast"
            )));
        }
        if trend == Choice::Only(Component::None) && damped == Some(true) {
            return Err(CoreError::invalid_argument(
                "damped",
                format!("damping needs a trend, but {model:?} has none"),
            ));
        }
        Ok(Self {
            error,
            trend,
            season,
            damped,
        })
    }

    /// The forms fitted on `y`, in the reference's order (a tie in AICc keeps the first).
    /// Multiplicative components need positive data (a forced one becomes additive); seasons
    /// need `1 < m <= 24` and more than one season of data; series with at most four values
    /// more than the code's fixed parameters get simple (or, when forced, Holt's) smoothing.
    fn candidates(&self, y: &[f64], season_length: usize) -> Vec<Form> {
        let positive = y.iter().all(|&v| v > 0.0);
        let seasonal = (2..=MAX_SEASON_LENGTH).contains(&season_length) && y.len() > season_length;
        let forced_trend = self.trend == Choice::Only(Component::Additive);
        let forced_season = seasonal
            && matches!(
                self.season,
                Choice::Only(Component::Additive | Component::Multiplicative)
            );
        let fixed_parameters = 2
            + 2 * usize::from(forced_trend)
            + 2 * usize::from(forced_season)
            + usize::from(self.damped == Some(true));
        let tiny = y.len() <= fixed_parameters + 4;
        let allowed = |c: Component| {
            if c == Component::Multiplicative && !positive {
                Component::Additive
            } else {
                c
            }
        };
        let errors = match self.error {
            Choice::Auto if positive => vec![Component::Additive, Component::Multiplicative],
            Choice::Auto => vec![Component::Additive],
            Choice::Only(c) => vec![allowed(c)],
        };
        let trends = match self.trend {
            _ if forced_trend => vec![Component::Additive],
            Choice::Auto if !tiny => vec![Component::None, Component::Additive],
            _ => vec![Component::None],
        };
        let seasons = match self.season {
            _ if !seasonal || tiny => vec![Component::None],
            Choice::Auto if positive => vec![
                Component::None,
                Component::Additive,
                Component::Multiplicative,
            ],
            Choice::Auto => vec![Component::None, Component::Additive],
            Choice::Only(c) => vec![allowed(c)],
        };
        let dampings = match self.damped {
            _ if tiny => vec![false],
            None => vec![true, false],
            Some(d) => vec![d],
        };
        let mut forms = Vec::new();
        for &error in &errors {
            for &trend in &trends {
                for &season in &seasons {
                    for &damped in &dampings {
                        let damped_without_trend = damped && trend == Component::None;
                        // statsforecast's restrict=True: this combination is unstable.
                        let unstable =
                            error == Component::Additive && season == Component::Multiplicative;
                        if !damped_without_trend && !unstable {
                            forms.push(Form {
                                error,
                                trend,
                                season,
                                damped,
                            });
                        }
                    }
                }
            }
        }
        forms
    }
}

/// Fits the forms `spec` allows on `y` (finite, gap-free, oldest first) with seasons of
/// `season_length` periods and forecasts `h` periods with the one of smallest AICc. A constant
/// series gets ETS(A,N,N) forecasting the constant; when no form can be fitted (at most three
/// values) the forecast is the mean.
pub fn fit_forecast(spec: &EtsSpec, y: &[f64], season_length: usize, h: usize) -> Fit {
    let Some(&first) = y.first() else {
        return Fit {
            forecasts: vec![f64::NAN; h],
            form: "no observations".to_owned(),
        };
    };
    if y.iter().all(|&v| v == first) {
        return Fit {
            forecasts: vec![first; h],
            form: Form::SIMPLE.label(),
        };
    }
    let mut bounds = SmoothingBounds::default();
    let mut seasons = Vec::with_capacity(season_length.min(MAX_SEASON_LENGTH));
    let mut best: Option<Candidate> = None;
    for form in spec.candidates(y, season_length) {
        if let Some(fitted) = fit_form(form, y, season_length, &mut bounds, &mut seasons) {
            if best.as_ref().is_none_or(|b| fitted.aicc < b.aicc) {
                best = Some(fitted);
            }
        }
    }
    let best = best.or_else(|| {
        let mut bounds = SmoothingBounds::default();
        fit_form(Form::SIMPLE, y, season_length, &mut bounds, &mut seasons)
    });
    let Some(best) = best else {
        return mean_fit(y, h, "Mean (too short for ETS)");
    };
    best.forecast(y, h, &mut seasons)
        .unwrap_or_else(|| mean_fit(y, h, "Mean (ETS forecasts not finite)"))
}

fn mean_fit(y: &[f64], h: usize, form: &str) -> Fit {
    // Dividing before summing keeps the mean of finite values finite.
    let mean = y.iter().map(|v| v / y.len() as f64).sum();
    Fit {
        forecasts: vec![mean; h],
        form: form.to_owned(),
    }
}

/// One ETS form.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Form {
    error: Component,
    trend: Component,
    season: Component,
    damped: bool,
}

impl Form {
    /// Simple exponential smoothing.
    const SIMPLE: Self = Self {
        error: Component::Additive,
        trend: Component::None,
        season: Component::None,
        damped: false,
    };

    /// R's notation: `ETS(M,Ad,M)`.
    fn label(self) -> String {
        format!(
            "ETS({},{}{},{})",
            self.error.letter(),
            self.trend.letter(),
            if self.damped { "d" } else { "" },
            self.season.letter()
        )
    }

    /// How many smoothing parameters lead the optimised vector (alpha, then beta, gamma, phi
    /// when present); the starting states follow.
    fn smoothing_count(self) -> usize {
        1 + usize::from(self.trend.is_present())
            + usize::from(self.season.is_present())
            + usize::from(self.damped)
    }
}

/// The smoothing parameters of a form (beta 0 without trend, gamma 0 without season, phi 1
/// undamped).
#[derive(Debug, Clone, Copy)]
struct Smoothing {
    alpha: f64,
    beta: f64,
    gamma: f64,
    phi: f64,
}

impl Smoothing {
    fn decode(form: Form, x: &[f64]) -> Self {
        let mut next = x.iter().copied();
        let mut take = |present: bool, absent: f64| {
            if present {
                next.next().unwrap_or(absent)
            } else {
                absent
            }
        };
        Self {
            alpha: take(true, 0.0),
            beta: take(form.trend.is_present(), 0.0),
            gamma: take(form.season.is_present(), 0.0),
            phi: take(form.damped, 1.0),
        }
    }

    /// R's `check.param` with bounds "both", past the box bounds the optimiser keeps: the
    /// usual region (beta <= alpha, gamma <= 1 - alpha) and the admissible one (the forecasts
    /// of the state-space form are stable).
    fn is_acceptable(self, form: Form, m: usize) -> bool {
        let Self {
            alpha,
            beta,
            gamma,
            phi,
        } = self;
        let has_trend = form.trend.is_present();
        let has_season = form.season.is_present();
        if (has_trend && beta > alpha) || (has_season && gamma > 1.0 - alpha) {
            return false;
        }
        if !(0.0..=1.0 + 1e-8).contains(&phi) {
            return false;
        }
        if !has_season {
            return (1.0 - 1.0 / phi..=1.0 + 1.0 / phi).contains(&alpha)
                && (!has_trend
                    || (alpha * (phi - 1.0)..=(1.0 + phi) * (2.0 - alpha)).contains(&beta));
        }
        let mf = m as f64;
        if gamma < (1.0 - 1.0 / phi - alpha).max(0.0) || gamma > 1.0 + 1.0 / phi - alpha {
            return false;
        }
        if alpha < 1.0 - 1.0 / phi - gamma * (1.0 - mf + phi + phi * mf) / (2.0 * phi * mf) {
            return false;
        }
        if beta < -(1.0 - phi) * (gamma / mf + alpha) {
            return false;
        }
        // The characteristic polynomial (ascending powers, monic of degree m + 1).
        let mut coefficients = [0.0; MAX_SEASON_LENGTH + 2];
        let Some(p) = coefficients.get_mut(..m + 2) else {
            return false;
        };
        p.fill(alpha + beta - alpha * phi);
        p[0] = phi * (1.0 - alpha - gamma);
        p[1] = alpha + beta - alpha * phi + gamma - 1.0;
        p[m] = alpha + beta - phi;
        p[m + 1] = 1.0;
        roots_within_unit_circle(p, 1e-10)
    }
}

/// Whether every root of the monic polynomial `p` (ascending powers) has modulus at most
/// `1 + slack`: the Schur-Cohn step-down test (every reflection coefficient inside (-1, 1)) on
/// the polynomial with its variable scaled by `1 + slack`, which needs no root finding.
fn roots_within_unit_circle(p: &[f64], slack: f64) -> bool {
    let degree = p.len().saturating_sub(1);
    let scale = 1.0 / (1.0 + slack);
    // a[i]: the coefficient of z^(degree - i) of the scaled monic polynomial; a[0] = 1.
    let mut a = [0.0; MAX_SEASON_LENGTH + 2];
    let Some(a) = a.get_mut(..=degree) else {
        return false;
    };
    let mut factor = 1.0;
    for i in 1..=degree {
        factor *= scale;
        a[i] = p[degree - i] * factor;
    }
    for order in (1..=degree).rev() {
        let k = a[order];
        if k.is_nan() || k.abs() >= 1.0 {
            return false;
        }
        let denominator = 1.0 - k * k;
        for i in 1..=order / 2 {
            let j = order - i;
            let (ai, aj) = (a[i], a[j]);
            a[i] = (ai - k * aj) / denominator;
            a[j] = (aj - k * ai) / denominator;
        }
    }
    true
}

/// Box bounds of alpha, beta, gamma and phi (statsforecast's defaults). Starting a candidate
/// narrows the upper bounds of beta to its starting alpha and of gamma to one minus it, and
/// statsforecast narrows them in the one array all candidates share: a candidate inherits the
/// narrowing of the ones before it. Kept so that the fits agree with it.
#[derive(Debug, Clone)]
struct SmoothingBounds {
    lower: [f64; 4],
    upper: [f64; 4],
}

impl Default for SmoothingBounds {
    fn default() -> Self {
        Self {
            lower: [1e-4, 1e-4, 1e-4, 0.8],
            upper: [0.9999, 0.9999, 0.9999, 0.98],
        }
    }
}

impl SmoothingBounds {
    /// The reference's starting parameters of `form` (`initparam`), narrowing the bounds.
    fn start(&mut self, form: Form, m: usize) -> Smoothing {
        let (lower, upper) = (self.lower, &mut self.upper);
        let alpha = lower[0] + 0.2 * (upper[0] - lower[0]) / m as f64;
        let mut beta = 0.0;
        if form.trend.is_present() {
            upper[1] = upper[1].min(alpha);
            beta = lower[1] + 0.1 * (upper[1] - lower[1]);
            if beta < 0.0 || beta > alpha {
                beta = alpha - 1e-3;
            }
        }
        let mut gamma = 0.0;
        if form.season.is_present() {
            upper[2] = upper[2].min(1.0 - alpha);
            gamma = lower[2] + 0.05 * (upper[2] - lower[2]);
            if gamma < 0.0 || gamma > 1.0 - alpha {
                gamma = 1.0 - alpha - 1e-3;
            }
        }
        let phi = if form.damped {
            lower[3] + 0.99 * (upper[3] - lower[3])
        } else {
            1.0
        };
        Smoothing {
            alpha,
            beta,
            gamma,
            phi,
        }
    }

    /// Appends the start, lower and upper bounds of the parameters `form` optimises.
    fn push(
        &self,
        form: Form,
        start: Smoothing,
        x: &mut Vec<f64>,
        lo: &mut Vec<f64>,
        hi: &mut Vec<f64>,
    ) {
        let present = [
            (true, start.alpha),
            (form.trend.is_present(), start.beta),
            (form.season.is_present(), start.gamma),
            (form.damped, start.phi),
        ];
        for (i, (is_present, value)) in present.into_iter().enumerate() {
            if is_present {
                x.push(value);
                lo.push(self.lower[i]);
                hi.push(self.upper[i]);
            }
        }
    }
}

/// A fitted candidate: its form, season length, optimised vector and AICc.
#[derive(Debug)]
struct Candidate {
    form: Form,
    m: usize,
    x: Vec<f64>,
    aicc: f64,
}

impl Candidate {
    /// The forecasts of the fitted model, `None` if any is not finite.
    fn forecast(&self, y: &[f64], h: usize, seasons: &mut Vec<f64>) -> Option<Fit> {
        let end = evaluate(self.form, self.m, &self.x, y, seasons)?;
        let smoothing = Smoothing::decode(self.form, &self.x);
        let mut damping_sum = smoothing.phi;
        let mut damping_power = smoothing.phi;
        let mut position = if seasons.is_empty() {
            0
        } else {
            y.len() % seasons.len()
        };
        let mut forecasts = Vec::with_capacity(h);
        for _ in 0..h {
            let mut f = match self.form.trend {
                Component::None => end.level,
                _ => end.level + damping_sum * end.slope,
            };
            match self.form.season {
                Component::None => {}
                Component::Additive => f += seasons[position],
                Component::Multiplicative => f *= seasons[position],
            }
            forecasts.push(f);
            // phi + phi^2 + ... + phi^h (statsforecast 2.1.1 adds phi twice; fixed upstream).
            damping_power *= smoothing.phi;
            damping_sum += damping_power;
            if !seasons.is_empty() {
                position = (position + 1) % seasons.len();
            }
        }
        forecasts.iter().all(|f| f.is_finite()).then(|| Fit {
            forecasts,
            form: self.form.label(),
        })
    }
}

/// Fits `form` on `y` by maximum likelihood; `None` when it has too many parameters for the
/// data or cannot be started or fitted.
fn fit_form(
    form: Form,
    y: &[f64],
    season_length: usize,
    bounds: &mut SmoothingBounds,
    seasons: &mut Vec<f64>,
) -> Option<Candidate> {
    let m = if form.season.is_present() {
        season_length
    } else {
        1
    };
    let start = bounds.start(form, m);
    let states = initial_states(y, m, form)?;
    let n_free = form.smoothing_count() + states.len();
    let mut x0 = Vec::with_capacity(n_free);
    let mut lower = Vec::with_capacity(n_free);
    let mut upper = Vec::with_capacity(n_free);
    bounds.push(form, start, &mut x0, &mut lower, &mut upper);
    x0.extend_from_slice(&states);
    lower.resize(n_free, f64::NEG_INFINITY);
    upper.resize(n_free, f64::INFINITY);
    if n_free + 1 >= y.len() {
        return None;
    }
    let objective = |x: &[f64]| {
        if !Smoothing::decode(form, x).is_acceptable(form, m) {
            return f64::INFINITY;
        }
        evaluate(form, m, x, y, seasons).map_or(f64::INFINITY, |end| {
            end.neg2_log_likelihood.max(MIN_NEG2_LOG_LIKELIHOOD)
        })
    };
    let optimum = NelderMead::default().minimize(objective, &x0, &lower, &upper);
    let neg2_log_likelihood = evaluate(form, m, &optimum.x, y, seasons)?.neg2_log_likelihood;
    // The error variance counts as a parameter too.
    let k = (n_free + 1) as f64;
    let residual_freedom = (y.len() - n_free - 2) as f64;
    let aicc = if residual_freedom > 0.0 {
        neg2_log_likelihood + 2.0 * k + 2.0 * k * (k + 1.0) / residual_freedom
    } else {
        f64::INFINITY
    };
    (!aicc.is_nan()).then_some(Candidate {
        form,
        m,
        x: optimum.x,
        aicc,
    })
}

/// The reference's starting states (`initstate`): the level (and slope) of a line through the
/// first `max(10, 2m)` seasonally adjusted values and the seasonal indices of a classical
/// decomposition (a line plus one Fourier pair below three seasons of data). Returned as
/// `[level, slope?, s_1, ..., s_(m-1)]`, the most recent season first; the last index follows
/// from the others.
fn initial_states(y: &[f64], m: usize, form: Form) -> Option<Vec<f64>> {
    let n = y.len();
    let start_length = n.min(10.max(2 * m));
    let mut states = vec![0.0; 1 + usize::from(form.trend.is_present())];
    let adjusted: Vec<f64> = match form.season {
        Component::None => y[..start_length].to_vec(),
        season_form => {
            let season = if season_form == Component::Additive {
                Season::Additive
            } else {
                Season::Multiplicative
            };
            let seasonal: Vec<f64> = if n < 3 * m {
                detrended_by_fourier_line(y, m, season)?
            } else {
                let indices = seasonal_indices(y, m, season)?;
                (0..start_length.max(m)).map(|t| indices[t % m]).collect()
            };
            let first_season = seasonal.get(1..m)?;
            match season {
                Season::Additive => {
                    states.extend(first_season.iter().rev());
                    y.iter()
                        .zip(&seasonal)
                        .take(start_length)
                        .map(|(v, s)| v - s)
                        .collect()
                }
                Season::Multiplicative => {
                    let start = states.len();
                    states.extend(
                        first_season
                            .iter()
                            .rev()
                            .map(|s| s.max(MIN_SEASONAL_FACTOR)),
                    );
                    let total: f64 = states[start..].iter().sum();
                    if total > m as f64 {
                        // The reference's normalisation, quirk included (it adds the floor).
                        let divisor = total + MIN_SEASONAL_FACTOR * (m - 1) as f64;
                        states[start..].iter_mut().for_each(|s| *s /= divisor);
                    }
                    y.iter()
                        .zip(&seasonal)
                        .take(start_length)
                        .map(|(v, s)| v / s.max(MIN_SEASONAL_FACTOR))
                        .collect()
                }
            }
        }
    };
    let count = adjusted.len() as f64;
    if form.trend.is_present() {
        // Least-squares line over t = 1..; the level is its value at t = 0.
        let mean_t = (count + 1.0) / 2.0;
        let mean_y = adjusted.iter().sum::<f64>() / count;
        let (mut covariation, mut variation) = (0.0, 0.0);
        for (i, v) in adjusted.iter().enumerate() {
            let dt = (i + 1) as f64 - mean_t;
            covariation += dt * (v - mean_y);
            variation += dt * dt;
        }
        let mut slope = covariation / variation;
        let mut level = mean_y - slope * mean_t;
        // A multiplicative error must not start from a zero forecast.
        if (level + slope).abs() < 1e-8 {
            level *= 1.0 + 1e-3;
            slope *= 1.0 - 1e-3;
        }
        states[0] = level;
        states[1] = slope;
    } else {
        states[0] = adjusted.iter().sum::<f64>() / count;
    }
    states.iter().all(|s| s.is_finite()).then_some(states)
}

/// The series less (additive) or over (multiplicative) the line of a least-squares fit of a
/// line plus one Fourier pair of period `m`: the reference's season when there are fewer than
/// three seasons to decompose.
fn detrended_by_fourier_line(y: &[f64], m: usize, season: Season) -> Option<Vec<f64>> {
    // With m = 2 the sine term is zero at every t and is left out.
    let columns = if m > 2 { 4 } else { 3 };
    let regressors = |t: f64| {
        let angle = std::f64::consts::TAU * t / m as f64;
        [1.0, t, angle.cos(), angle.sin()]
    };
    let mut gram = [[0.0; 4]; 4];
    let mut moments = [0.0; 4];
    for (i, &v) in y.iter().enumerate() {
        let row = regressors((i + 1) as f64);
        for a in 0..columns {
            moments[a] += row[a] * v;
            for b in 0..columns {
                gram[a][b] += row[a] * row[b];
            }
        }
    }
    let coefficients = solve(gram, moments, columns)?;
    Some(
        y.iter()
            .enumerate()
            .map(|(i, v)| {
                let line = coefficients[0] + coefficients[1] * (i + 1) as f64;
                match season {
                    Season::Additive => v - line,
                    Season::Multiplicative => v / line,
                }
            })
            .collect(),
    )
}

/// Solves the leading `size` x `size` system by Gaussian elimination with partial pivoting;
/// `None` when it is singular.
fn solve(mut a: [[f64; 4]; 4], mut b: [f64; 4], size: usize) -> Option<[f64; 4]> {
    for col in 0..size {
        let pivot = (col..size).max_by(|&i, &j| a[i][col].abs().total_cmp(&a[j][col].abs()))?;
        if a[pivot][col] == 0.0 || !a[pivot][col].is_finite() {
            return None;
        }
        a.swap(col, pivot);
        b.swap(col, pivot);
        let pivot_row = a[col];
        for row in col + 1..size {
            let factor = a[row][col] / pivot_row[col];
            for (target, p) in a[row][col..size].iter_mut().zip(&pivot_row[col..size]) {
                *target -= factor * p;
            }
            b[row] -= factor * b[col];
        }
    }
    let mut x = [0.0; 4];
    for row in (0..size).rev() {
        let tail: f64 = (row + 1..size).map(|k| a[row][k] * x[k]).sum();
        x[row] = (b[row] - tail) / a[row][row];
    }
    Some(x)
}

/// The states after the last observation and the fit's -2 log-likelihood (up to a constant).
#[derive(Debug, Clone, Copy)]
struct End {
    level: f64,
    slope: f64,
    neg2_log_likelihood: f64,
}

/// Runs the state-space recursion of `form` with the parameters and starting states of `x`
/// over `y`. `seasons` is the seasonal ring buffer (reused across calls): on return it holds
/// the last `m` seasonal states, the one of period `t` at `t % m`. `None` when a
/// multiplicative season starts negative.
fn evaluate(form: Form, m: usize, x: &[f64], y: &[f64], seasons: &mut Vec<f64>) -> Option<End> {
    let smoothing = Smoothing::decode(form, x);
    let states = x.get(form.smoothing_count()..)?;
    let mut level = *states.first()?;
    let mut slope = if form.trend.is_present() {
        *states.get(1)?
    } else {
        0.0
    };
    seasons.clear();
    if form.season.is_present() {
        let given = states.get(1 + usize::from(form.trend.is_present())..)?;
        // The states run from the most recent season back; the ring starts with the oldest,
        // which the normalisation (indices summing to 0, or averaging 1) determines.
        let total = if form.season == Component::Multiplicative {
            m as f64
        } else {
            0.0
        };
        seasons.push(total - given.iter().sum::<f64>());
        seasons.extend(given.iter().rev());
        if form.season == Component::Multiplicative && seasons.iter().any(|&s| s < 0.0) {
            return None;
        }
    }
    let Smoothing {
        alpha,
        beta,
        gamma,
        phi,
    } = smoothing;
    let mut position = 0;
    let mut squared_errors = 0.0;
    let mut log_forecasts = LogSum::default();
    for &value in y {
        // One-step forecast: the damped level, then the season.
        let damped_slope = phi * slope;
        let base = if form.trend.is_present() {
            level + damped_slope
        } else {
            level
        };
        let season = seasons.get(position).copied().unwrap_or(0.0);
        let forecast = match form.season {
            Component::None => base,
            Component::Additive => base + season,
            Component::Multiplicative => base * season,
        };
        let error = match form.error {
            Component::Multiplicative => {
                let divisor = if forecast.abs() < TOLERANCE {
                    forecast + TOLERANCE
                } else {
                    forecast
                };
                log_forecasts.add(if forecast == 0.0 {
                    1e-8
                } else {
                    forecast.abs()
                });
                (value - forecast) / divisor
            }
            _ => value - forecast,
        };
        squared_errors += error * error;
        // Update the states.
        let deseasonalised = match form.season {
            Component::None => value,
            Component::Additive => value - season,
            Component::Multiplicative if season.abs() < TOLERANCE => HUGE,
            Component::Multiplicative => value / season,
        };
        // The reference's slope update, damped_slope + beta / alpha * (level - previous level -
        // damped_slope), in error-correction form: the same value, a shorter dependency chain.
        let correction = deseasonalised - base;
        level = base + alpha * correction;
        if form.trend.is_present() {
            slope = damped_slope + beta * correction;
        }
        if form.season.is_present() {
            let observed_season = match form.season {
                Component::Multiplicative if base.abs() < TOLERANCE => HUGE,
                Component::Multiplicative => value / base,
                _ => value - base,
            };
            if let Some(s) = seasons.get_mut(position) {
                *s += gamma * (observed_season - *s);
            }
            position += 1;
            if position == seasons.len() {
                position = 0;
            }
        }
    }
    let n = y.len() as f64;
    let mut neg2_log_likelihood = if squared_errors > 0.0 {
        n * squared_errors.ln()
    } else {
        n * (squared_errors + 1e-8).ln()
    };
    if form.error == Component::Multiplicative {
        neg2_log_likelihood += 2.0 * log_forecasts.total();
    }
    Some(End {
        level,
        slope,
        neg2_log_likelihood,
    })
}

/// A sum of logarithms taken as the logarithm of a running product, folded before it can
/// overflow or underflow: one logarithm in hundreds of terms instead of one per term (the
/// multiplicative error's likelihood spends most of its time there otherwise).
#[derive(Debug)]
struct LogSum {
    folded: f64,
    product: f64,
}

impl Default for LogSum {
    fn default() -> Self {
        Self {
            folded: 0.0,
            product: 1.0,
        }
    }
}

impl LogSum {
    /// Adds `ln(value)` for a positive `value`.
    fn add(&mut self, value: f64) {
        if (1e-100..=1e100).contains(&value) {
            self.product *= value;
            if !(1e-200..=1e200).contains(&self.product) {
                self.folded += self.product.ln();
                self.product = 1.0;
            }
        } else {
            self.folded += value.ln();
        }
    }

    fn total(&self) -> f64 {
        self.folded + self.product.ln()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fit(y: &[f64], m: usize, h: usize) -> Fit {
        fit_forecast(&EtsSpec::default(), y, m, h)
    }

    /// A small deterministic noise in [-0.5, 0.5).
    fn noise(t: usize) -> f64 {
        ((t as f64 * 12.9898).sin() * 43_758.545_3).fract()
    }

    #[test]
    fn a_constant_series_forecasts_the_constant() {
        let f = fit(&[7.5; 30], 12, 5);
        assert_eq!(f.form, "ETS(A,N,N)");
        assert_eq!(f.forecasts, vec![7.5; 5]);
    }

    #[test]
    fn a_straight_line_is_continued() {
        let y: Vec<f64> = (0..40).map(|t| 10.0 + 2.0 * t as f64).collect();
        let f = fit(&y, 1, 6);
        assert!(f.form.contains(",A,N)"), "{}", f.form);
        for (i, v) in f.forecasts.iter().enumerate() {
            let expected = 10.0 + 2.0 * (40 + i) as f64;
            assert!(
                (v - expected).abs() < 0.01,
                "{i}: {v} vs {expected} ({})",
                f.form
            );
        }
    }

    #[test]
    fn a_repeating_season_is_forecast() {
        let monthly: Vec<f64> = (0..12).map(|k| (k as f64 * 0.7).sin() * 4.0).collect();
        // Ten seasons, four, and two and a half (the Fourier start below three seasons).
        for (pattern, seasons) in [
            (vec![3.0, -1.0, -2.0, 0.0], 10.0),
            (monthly.clone(), 4.0),
            (monthly, 2.5),
        ] {
            let m = pattern.len();
            let n = (seasons * m as f64) as usize;
            let y: Vec<f64> = (0..n).map(|t| 20.0 + pattern[t % m]).collect();
            let f = fit(&y, m, 2 * m);
            assert!(
                f.form.ends_with(",A)") || f.form.ends_with(",M)"),
                "{}",
                f.form
            );
            for (i, v) in f.forecasts.iter().enumerate() {
                let expected = 20.0 + pattern[(y.len() + i) % m];
                assert!(
                    (v - expected).abs() < 0.05,
                    "m={m} {i}: {v} vs {expected} ({})",
                    f.form
                );
            }
        }
    }

    #[test]
    fn a_growing_seasonal_amplitude_gets_a_multiplicative_season() {
        let factors = [0.7, 0.9, 1.3, 1.1];
        let y: Vec<f64> = (0..60)
            .map(|t| (50.0 + 3.0 * t as f64) * factors[t % 4] * (1.0 + 0.02 * noise(t)))
            .collect();
        let f = fit(&y, 4, 8);
        assert!(f.form.ends_with(",M)"), "{}", f.form);
        assert!(f.forecasts.iter().all(|v| v.is_finite() && *v > 0.0));
    }

    #[test]
    fn non_positive_data_never_gets_a_multiplicative_component() {
        let factors = [0.7, 0.9, 1.3, 1.1];
        let positive: Vec<f64> = (0..60)
            .map(|t| (50.0 + 3.0 * t as f64) * factors[t % 4] * (1.0 + 0.02 * noise(t)))
            .collect();
        let mut with_zero = positive.clone();
        with_zero[20] = 0.0;
        let negative: Vec<f64> = positive.iter().map(|v| v - 100.0).collect();
        for y in [with_zero, negative] {
            for code in ["ZZZ", "MAM", "MNN", "ZZM"] {
                let spec = EtsSpec::parse(code, None).unwrap();
                let f = fit_forecast(&spec, &y, 4, 8);
                assert!(!f.form.contains('M'), "{code}: {}", f.form);
                assert!(f.forecasts.iter().all(|v| v.is_finite()), "{code}");
            }
        }
    }

    #[test]
    fn weekly_seasons_are_not_modelled() {
        let y: Vec<f64> = (0..300)
            .map(|t| 100.0 + 30.0 * (std::f64::consts::TAU * t as f64 / 52.0).sin() + noise(t))
            .collect();
        let f = fit(&y, 52, 13);
        assert!(f.form.ends_with(",N)"), "{}", f.form);
        let f = fit(&y[..60], 12, 13);
        assert!(f.forecasts.iter().all(|v| v.is_finite()));
    }

    #[test]
    fn short_series_give_finite_forecasts() {
        for n in 1..=9 {
            for m in [1, 4, 12] {
                let y: Vec<f64> = (0..n).map(|t| 5.0 + t as f64 + noise(t)).collect();
                let f = fit(&y, m, 4);
                assert_eq!(f.forecasts.len(), 4);
                assert!(
                    f.forecasts.iter().all(|v| v.is_finite()),
                    "n={n} m={m} {f:?}"
                );
                if n <= 3 {
                    let mean = y.iter().sum::<f64>() / n as f64;
                    assert!((f.forecasts[0] - mean).abs() < 1e-12, "n={n} {f:?}");
                } else {
                    assert!(f.form.starts_with("ETS("), "n={n} m={m} {f:?}");
                }
            }
        }
        assert!(fit(&[], 1, 2).forecasts.iter().all(|v| v.is_nan()));
    }

    #[test]
    fn extreme_magnitudes_give_finite_forecasts() {
        for scale in [1e-300, 1e-5, 1e150, 1e300] {
            for shift in [0.0, -0.5] {
                let y: Vec<f64> = (0..40)
                    .map(|t| scale * (1.0 + shift + 0.3 * noise(t) + 0.2 * (t % 4) as f64))
                    .collect();
                let f = fit(&y, 4, 6);
                assert!(
                    f.forecasts.iter().all(|v| v.is_finite()),
                    "{scale} {shift}: {f:?}"
                );
            }
        }
    }

    #[test]
    fn parse_reads_the_code_and_refuses_bad_ones() {
        assert_eq!(EtsSpec::parse("ZZZ", None).unwrap(), EtsSpec::default());
        let spec = EtsSpec::parse("MAN", Some(true)).unwrap();
        let y: Vec<f64> = (0..30).map(|t| 10.0 + t as f64 + noise(t)).collect();
        assert_eq!(fit_forecast(&spec, &y, 1, 3).form, "ETS(M,Ad,N)");
        for (code, damped) in [
            ("ZZ", None),
            ("ZZZZ", None),
            ("ZMZ", None),
            ("NZZ", None),
            ("XZZ", None),
            ("ZZq", None),
            ("AZM", None),
            ("zzz", None),
            ("ZNZ", Some(true)),
        ] {
            let err = EtsSpec::parse(code, damped).unwrap_err();
            assert!(
                matches!(err, CoreError::InvalidArgument { .. }),
                "{code}: {err}"
            );
        }
    }

    #[test]
    fn the_damped_forecast_sums_the_powers_of_phi() {
        let form = Form {
            error: Component::Additive,
            trend: Component::Additive,
            season: Component::None,
            damped: true,
        };
        let (alpha, beta, phi, level, slope) = (0.5, 0.1, 0.9, 10.0, 2.0);
        let y = [12.0, 14.0, 16.0];
        let candidate = Candidate {
            form,
            m: 1,
            x: vec![alpha, beta, phi, level, slope],
            aicc: 0.0,
        };
        let end = evaluate(form, 1, &candidate.x, &y, &mut Vec::new()).unwrap();
        let f = candidate
            .forecast(&y, 3, &mut Vec::new())
            .unwrap()
            .forecasts;
        for (h, v) in f.iter().enumerate() {
            let sum: f64 = (1..=h as i32 + 1).map(|k| phi.powi(k)).sum();
            assert!(
                (v - (end.level + sum * end.slope)).abs() < 1e-12,
                "{h}: {f:?}"
            );
        }
    }

    #[test]
    fn the_stability_test_finds_roots_outside_the_unit_circle() {
        // (z - 0.5)(z + 0.9) = z^2 + 0.4 z - 0.45: both roots inside.
        assert!(roots_within_unit_circle(&[-0.45, 0.4, 1.0], 1e-10));
        // (z - 1.1)(z + 0.2) = z^2 - 0.9 z - 0.22: one root outside.
        assert!(!roots_within_unit_circle(&[-0.22, -0.9, 1.0], 1e-10));
        // (z^2 + 1.21)(z - 0.3): a complex pair of modulus 1.1.
        assert!(!roots_within_unit_circle(&[-0.363, 1.21, -0.3, 1.0], 1e-10));
        assert!(roots_within_unit_circle(&[-0.243, 0.81, -0.3, 1.0], 1e-10));
    }
}
