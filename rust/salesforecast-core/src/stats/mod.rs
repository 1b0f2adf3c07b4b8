//! Statistical models fitted on each series' own history: exponential smoothing chosen by
//! AICc ([`ets`]) and Theta ([`theta`]). They fit at forecast time, one series per task in
//! parallel, and forecast like the baselines: keys, time, `_step` and `forecast`.

pub mod decompose;
pub mod ets;
pub mod optim;
pub mod theta;

use crate::error::{CoreError, Result};
use crate::freq::Frequency;
use crate::grid::{check_panel_frequency, future_periods, series_on_grid};
use crate::panel::{column, numeric_values, ColumnRoles, Panel};
use polars::prelude::*;
use rayon::prelude::*;

/// One series' forecasts and the form its model took (`ETS(M,Ad,N)`, `Theta(OTM, theta=2.3)`).
#[derive(Debug, Clone, PartialEq)]
pub struct Fit {
    pub forecasts: Vec<f64>,
    pub form: String,
}

/// A statistical model and its settings.
#[derive(Debug, Clone, PartialEq)]
pub enum StatModel {
    AutoEts(ets::EtsSpec),
    Theta(theta::ThetaSpec),
}

impl StatModel {
    /// From its name (`auto_ets`, `theta`) and settings: ETS takes its three-letter form code
    /// (default `ZZZ`) and `damped`; Theta its variant (default: chosen per series).
    pub fn parse(kind: &str, setting: Option<&str>, damped: Option<bool>) -> Result<Self> {
        match kind {
            "auto_ets" => Ok(Self::AutoEts(ets::EtsSpec::parse(
                setting.unwrap_or("ZZZ"),
                damped,
            )?)),
            "theta" if damped.is_some() => Err(CoreError::invalid_argument(
                "damped",
                "Theta has no damping setting; leave it out",
            )),
            "theta" => Ok(Self::Theta(theta::ThetaSpec::parse(setting)?)),
            other => Err(CoreError::invalid_argument(
                "model",
                format!("unknown statistical model {other:?}; expected auto_ets or theta"),
            )),
        }
    }

    /// Fits the model on `y` (finite values on a regular grid, oldest first) with seasons of
    /// `season_length` periods and forecasts `h` periods ahead.
    pub fn fit_forecast(&self, y: &[f64], season_length: usize, h: usize) -> Fit {
        match self {
            Self::AutoEts(spec) => ets::fit_forecast(spec, y, season_length, h),
            Self::Theta(spec) => theta::fit_forecast(spec, y, season_length, h),
        }
    }
}

/// The series without its leading and trailing missing periods and with the missing periods
/// between observations filled by linear interpolation (the models need a gap-free series).
pub fn filled(values: &[f64]) -> Vec<f64> {
    let Some(first) = values.iter().position(|v| v.is_finite()) else {
        return Vec::new();
    };
    let last = values.iter().rposition(|v| v.is_finite()).unwrap_or(first);
    let mut out = values[first..=last].to_vec();
    let mut previous = 0;
    for t in 1..out.len() {
        if out[t].is_finite() {
            let gap = t - previous;
            for k in 1..gap {
                out[previous + k] =
                    out[previous] + (out[t] - out[previous]) * k as f64 / gap as f64;
            }
            previous = t;
        }
    }
    out
}

/// The model's forecasts for the `h` periods after the end of every series of `df`: keys,
/// time, `_step`, `forecast` and `_form` (the form the model took for that series). A series
/// without any observed value forecasts NaN.
pub fn stat_forecasts(
    df: &DataFrame,
    roles: &ColumnRoles,
    freq: Frequency,
    model: &StatModel,
    season_length: usize,
    h: usize,
) -> Result<DataFrame> {
    let panel = Panel::build(df, roles)?;
    check_panel_frequency(&panel, &roles.time_col, freq)?;
    // First: it refuses a forecast too large to hold before anything is fitted.
    let mut out = future_periods(df, roles, freq, h)?;
    let target = panel.gather(numeric_values(column(df, &roles.target_col)?)?);
    let fits: Vec<Fit> = series_on_grid(&panel, &target, freq, &roles.time_col)?
        .par_iter()
        .map(|g| {
            let y = filled(&g.values);
            if y.is_empty() {
                return Fit {
                    forecasts: vec![f64::NAN; h],
                    form: "no observations".to_owned(),
                };
            }
            // Missing periods at the end still count: the forecasts start after the series'
            // last period, so the model forecasts through the gap and drops those steps.
            let trailing = g.values.iter().rev().take_while(|v| !v.is_finite()).count();
            let mut fit = model.fit_forecast(&y, season_length, h + trailing);
            fit.forecasts.drain(..trailing.min(fit.forecasts.len()));
            fit
        })
        .collect();
    let forecasts: Vec<f64> = fits
        .iter()
        .flat_map(|f| f.forecasts.iter().copied())
        .collect();
    let forms: Vec<&str> = fits
        .iter()
        .flat_map(|f| std::iter::repeat_n(f.form.as_str(), h))
        .collect();
    out.with_column(Column::new("forecast".into(), forecasts))?;
    out.with_column(Column::new("_form".into(), forms))?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_periods_at_the_end_shift_nothing() {
        let roles = ColumnRoles::new(vec!["store".into()], "date", "y").unwrap();
        let season = [10.0, 20.0, 30.0, 40.0, 50.0, 60.0, 70.0];
        let mut y: Vec<Option<f64>> = (0..70).map(|t| Some(season[t % 7])).collect();
        // The last three days (50, 60, 70) are rows without a target.
        for v in y.iter_mut().skip(67) {
            *v = None;
        }
        let offsets: Vec<i32> = (0..70).collect();
        let df = crate::test_support::frame(&["a"; 70], &offsets, &y);
        let out = stat_forecasts(
            &df,
            &roles,
            Frequency::Days(1),
            &StatModel::Theta(theta::ThetaSpec::default()),
            7,
            7,
        )
        .unwrap();
        let f = crate::test_support::forecasts(&out);
        for (got, want) in f.iter().zip(season) {
            assert!((got - want).abs() < 1e-6, "{f:?}");
        }
    }

    #[test]
    fn gaps_are_interpolated_and_the_ends_trimmed() {
        let nan = f64::NAN;
        assert_eq!(
            filled(&[nan, 1.0, nan, nan, 4.0, 5.0, nan]),
            vec![1.0, 2.0, 3.0, 4.0, 5.0]
        );
        assert!(filled(&[nan, nan]).is_empty());
    }
}
