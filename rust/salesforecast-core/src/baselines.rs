//! The baseline forecasts: naive, seasonal naive and moving average, read from each series'
//! history on its regular grid. The Forecaster's baseline models and `evaluate`'s reference
//! baselines both forecast through [`Baseline::forecast`].

use crate::error::{CoreError, Result};
use crate::freq::Frequency;
use crate::grid::{check_panel_frequency, future_periods, series_on_grid};
use crate::panel::{column, numeric_values, ColumnRoles, Panel};
use polars::prelude::*;

/// A baseline model.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Baseline {
    /// The last observed value.
    Naive,
    /// The value one whole number of seasons before the forecast period.
    SeasonalNaive { season_length: usize },
    /// The mean of the last `window` observed values.
    MovingAverage { window: usize },
    /// The value a year (`periods_per_year`) before the forecast period, shifted by how far the
    /// level moved since then: the mean of the last quarter year less the mean of the same
    /// quarter a year before. What the series' own history says of this time of year; NaN
    /// where the history is shorter than a year and a quarter or the value is missing (no
    /// evidence, no fallback).
    LastYear { periods_per_year: usize },
}

impl Baseline {
    /// From its name (`naive`, `seasonal_naive`, `moving_average`, `last_year`) and its one
    /// parameter.
    pub fn parse(kind: &str, parameter: usize) -> Result<Self> {
        let positive = |name: &str| {
            if parameter == 0 {
                Err(CoreError::invalid_argument(name, "must be at least 1"))
            } else {
                Ok(parameter)
            }
        };
        match kind {
            "naive" => Ok(Self::Naive),
            "seasonal_naive" => Ok(Self::SeasonalNaive {
                season_length: positive("season_length")?,
            }),
            "moving_average" => Ok(Self::MovingAverage {
                window: positive("window")?,
            }),
            // A quarter of the year must be a whole number of periods.
            "last_year" if parameter >= 4 => Ok(Self::LastYear {
                periods_per_year: parameter,
            }),
            "last_year" => Err(CoreError::invalid_argument(
                "periods_per_year",
                "must be at least 4 (quarterly or finer)",
            )),
            other => Err(CoreError::invalid_argument(
                "model",
                format!(
                    "unknown baseline {other:?}; expected naive, seasonal_naive, moving_average \
                     or last_year"
                ),
            )),
        }
    }

    /// The forecast `step` (1-based) periods after the end of `history`, a series on its grid
    /// (NaN where a period is missing). A missing seasonal value falls back to the last
    /// observed one; a history without any value forecasts NaN.
    pub fn forecast(self, history: &[f64], step: usize) -> f64 {
        let last = || {
            history
                .iter()
                .rev()
                .copied()
                .find(|v| v.is_finite())
                .unwrap_or(f64::NAN)
        };
        match self {
            Self::Naive => last(),
            Self::SeasonalNaive { season_length } => {
                let n = history.len();
                if n < season_length {
                    return last();
                }
                let v = history[n - season_length + (step.max(1) - 1) % season_length];
                if v.is_finite() {
                    v
                } else {
                    last()
                }
            }
            Self::MovingAverage { window } => {
                let recent: Vec<f64> = history
                    .iter()
                    .rev()
                    .copied()
                    .filter(|v| v.is_finite())
                    .take(window)
                    .collect();
                if recent.is_empty() {
                    f64::NAN
                } else {
                    recent.iter().sum::<f64>() / recent.len() as f64
                }
            }
            Self::LastYear { .. } => self.forecast_path(history, step.max(1))[step.max(1) - 1],
        }
    }

    /// The forecasts of steps 1 to `h`: what [`Baseline::forecast`] gives each step, with the
    /// work a path shares (last year's change in level) done once.
    pub fn forecast_path(self, history: &[f64], h: usize) -> Vec<f64> {
        let Self::LastYear { periods_per_year } = self else {
            return (1..=h).map(|k| self.forecast(history, k)).collect();
        };
        let n = history.len();
        let quarter = periods_per_year / 4;
        if n < periods_per_year + quarter {
            return vec![f64::NAN; h];
        }
        let then = n - periods_per_year;
        let shift =
            finite_mean(&history[n - quarter..]) - finite_mean(&history[then - quarter..then]);
        (1..=h)
            .map(|k| match history.get(then + k - 1) {
                Some(v) if k <= periods_per_year => v + shift,
                _ => f64::NAN,
            })
            .collect()
    }
}

/// The mean of the finite values (NaN when there are none).
fn finite_mean(values: &[f64]) -> f64 {
    let (sum, count) = values
        .iter()
        .filter(|v| v.is_finite())
        .fold((0.0, 0usize), |(s, c), v| (s + v, c + 1));
    if count == 0 {
        f64::NAN
    } else {
        sum / count as f64
    }
}

/// The baseline's forecasts for the `h` periods after the end of every series of `df`: keys,
/// time, `_step` and `forecast`.
pub fn baseline_forecasts(
    df: &DataFrame,
    roles: &ColumnRoles,
    freq: Frequency,
    baseline: Baseline,
    h: usize,
) -> Result<DataFrame> {
    let panel = Panel::build(df, roles)?;
    check_panel_frequency(&panel, &roles.time_col, freq)?;
    // First: it refuses a forecast too large to hold before anything is fitted.
    let mut out = future_periods(df, roles, freq, h)?;
    let target = panel.gather(numeric_values(column(df, &roles.target_col)?)?);
    let forecasts: Vec<f64> = series_on_grid(&panel, &target, freq, &roles.time_col)?
        .iter()
        .flat_map(|g| baseline.forecast_path(&g.values, h))
        .collect();
    out.with_column(Column::new("forecast".into(), forecasts))?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const NAN: f64 = f64::NAN;

    #[test]
    fn seasonal_naive_reads_the_grid_and_falls_back_to_the_last_value() {
        let season = Baseline::SeasonalNaive { season_length: 3 };
        let history = [1.0, 2.0, 3.0, 4.0, NAN, 6.0];
        assert_eq!(season.forecast(&history, 1), 4.0);
        assert_eq!(season.forecast(&history, 2), 6.0); // the missing 5th period: last value
        assert_eq!(season.forecast(&history, 3), 6.0);
        assert_eq!(season.forecast(&history, 4), 4.0);
        assert_eq!(season.forecast(&[1.0, 2.0], 1), 2.0); // shorter than a season
    }

    #[test]
    fn moving_average_uses_its_window_of_observed_values() {
        let ma = Baseline::MovingAverage { window: 2 };
        assert_eq!(ma.forecast(&[1.0, 2.0, NAN, 4.0], 1), 3.0);
        assert_eq!(ma.forecast(&[5.0], 3), 5.0);
        assert!(ma.forecast(&[NAN, NAN], 1).is_nan());
        assert_eq!(Baseline::Naive.forecast(&[1.0, 7.0, NAN], 2), 7.0);
    }

    #[test]
    fn last_year_repeats_the_year_shifted_by_the_change_in_level() {
        let year = Baseline::parse("last_year", 4).unwrap();
        assert!(Baseline::parse("last_year", 2).is_err()); // no whole quarter
                                                           // Two years of a quarter-period season, the second 10 higher, then one more period.
        let history = [1.0, 5.0, 2.0, 3.0, 11.0, 15.0, 12.0, 13.0, 21.0];
        // A year before step 1 is 15.0 (index 5); the last period is 10 above its year-ago.
        assert_eq!(year.forecast(&history, 1), 25.0);
        assert_eq!(year.forecast(&history, 3), 23.0);
        assert!(year.forecast(&history, 5).is_nan()); // beyond a year
        let path = year.forecast_path(&history, 5);
        assert_eq!(&path[..4], &[25.0, 22.0, 23.0, 31.0]);
        assert!(path[4].is_nan());
        assert!(year.forecast(&history[..4], 1).is_nan()); // shorter than a year and a quarter
        let gap = [1.0, 5.0, 2.0, 3.0, 11.0, 15.0, NAN, 13.0, 21.0];
        assert!(year.forecast(&gap, 2).is_nan()); // the year-ago value is missing
        assert_eq!(year.forecast(&gap, 1), 25.0);
    }

    #[test]
    fn parses_names_and_refuses_zero_parameters() {
        assert_eq!(
            Baseline::parse("moving_average", 4).unwrap(),
            Baseline::MovingAverage { window: 4 }
        );
        assert!(Baseline::parse("seasonal_naive", 0).is_err());
        assert!(Baseline::parse("drift", 1).is_err());
    }

    #[test]
    fn forecasts_every_series_on_its_grid() {
        // Series "a" misses day 2: its seasonal value for day 5 (season 3) is day 2's, missing,
        // so the last value; by row it would have been day 3's.
        let date = Column::new("date".into(), vec![0i32, 1, 3, 4, 0, 1])
            .cast(&DataType::Date)
            .unwrap();
        let df = DataFrame::new(
            6,
            vec![
                Column::new("id".into(), vec!["a", "a", "a", "a", "b", "b"]),
                date,
                Column::new("y".into(), vec![10.0, 11.0, 13.0, 14.0, 1.0, 2.0]),
            ],
        )
        .unwrap();
        let roles = ColumnRoles::new(vec!["id".into()], "date", "y").unwrap();
        let out = baseline_forecasts(
            &df,
            &roles,
            Frequency::Days(1),
            Baseline::SeasonalNaive { season_length: 3 },
            3,
        )
        .unwrap();
        let f = crate::test_support::forecasts(&out);
        assert_eq!(f, vec![14.0, 13.0, 14.0, 2.0, 2.0, 2.0]);
    }
}
