//! Split-conformal interval widths from cross-validation errors.

use crate::error::{CoreError, Result};
use crate::freq::Frequency;
use crate::grid::{series_keys, series_on_grid};
use crate::metrics::Scale;
use crate::panel::{column, numeric_values, ColumnRoles, Panel};
use polars::prelude::*;

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

/// How interval widths are read from conformity scores.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IntervalMethod {
    /// Symmetric: the conformal quantile of absolute scaled errors.
    ConformalError,
    /// Asymmetric: the lower and upper quantiles of signed scaled errors.
    ConformalDistribution,
}

impl IntervalMethod {
    pub fn parse(text: &str) -> Result<Self> {
        match text {
            "conformal_error" => Ok(Self::ConformalError),
            "conformal_distribution" => Ok(Self::ConformalDistribution),
            other => Err(CoreError::invalid_argument(
                "interval_method",
                format!("{other:?} is neither \"conformal_error\" nor \"conformal_distribution\""),
            )),
        }
    }

    /// The conformity score of an error scaled by its series' scale.
    pub fn score(self, scaled_error: f64) -> f64 {
        match self {
            Self::ConformalError => scaled_error.abs(),
            Self::ConformalDistribution => scaled_error,
        }
    }

    /// (lower, upper) offsets for each group of scores and each level (in percent).
    pub fn widths(self, groups: &[Vec<f64>], levels: &[f64]) -> Result<Vec<Vec<(f64, f64)>>> {
        groups
            .iter()
            .map(|group| {
                levels
                    .iter()
                    .map(|&level| {
                        let q = conformal_quantile(group, level)?;
                        Ok(match self {
                            Self::ConformalError => (-q, q),
                            Self::ConformalDistribution => {
                                let tail = (1.0 - level / 100.0) / 2.0;
                                (
                                    error_quantile(group, tail),
                                    error_quantile(group, 1.0 - tail),
                                )
                            }
                        })
                    })
                    .collect()
            })
            .collect()
    }
}

/// How strongly interval widths follow the forecast's level: the spread of a count grows with
/// the square root of its mean (Poisson), the mildest of the usual variance laws for sales.
const LEVEL_POWER: f64 = 0.5;
/// How far the relative level is trusted either way: a forecast of zero keeps a third of the
/// series' width (0.1 to the power 0.5), as zeros are not certain, and no forecast gets more
/// than 3.2 times it.
const LEVEL_BOUND: f64 = 10.0;

/// The unit an interval is measured in at one forecast: the series' `scale` times the square
/// root of the forecast relative to the series' recent `level`, so a December forecast at twice
/// the series' recent level gets intervals 1.4 times as wide, as its errors will be. A level
/// below one scale is not told from noise: the forecast is compared with the scale instead, so
/// a series that sold nothing lately gets no width out of a forecast of 0.01 (the width moves
/// smoothly with the forecast and the level). The relative level is held within a factor of
/// [`LEVEL_BOUND`] either way. The scale alone where the level is unknown (series with negative
/// values, no history) or the forecast is missing.
pub fn spread(forecast: f64, scale: f64, level: f64) -> f64 {
    let reference = level.max(scale);
    if !(level.is_finite() && forecast.is_finite() && reference > 0.0) {
        return scale;
    }
    let relative = forecast.max(0.0) / reference;
    scale
        * relative
            .clamp(1.0 / LEVEL_BOUND, LEVEL_BOUND)
            .powf(LEVEL_POWER)
}

/// [`spread`] of each forecast with its series' scale and level.
pub fn spreads(forecasts: &[f64], scales: &[f64], levels: &[f64]) -> Result<Vec<f64>> {
    if forecasts.len() != scales.len() || forecasts.len() != levels.len() {
        return Err(CoreError::invalid_argument(
            "scales",
            format!(
                "{} forecasts, {} scales and {} levels",
                forecasts.len(),
                scales.len(),
                levels.len()
            ),
        ));
    }
    Ok(forecasts
        .iter()
        .zip(scales)
        .zip(levels)
        .map(|((&f, &s), &l)| spread(f, s, l))
        .collect())
}

/// Per series of `df`: `_scale`, what conformity scores and interval widths are measured in (the
/// in-sample seasonal-naive mean absolute error on the series' grid, at least 1% of its mean
/// absolute value, so flat series still get an interval); `_level`, the mean of the observed
/// values among its last `level_periods` periods on the grid, that [`spread`] compares
/// forecasts with (missing for a series with negative values, whose level says nothing of its
/// spread); and `_floor`, 0 when the series has no negative value (sales: forecasts and bounds
/// are clipped there), else minus infinity.
pub fn interval_scales(
    df: &DataFrame,
    roles: &ColumnRoles,
    freq: Frequency,
    season_length: usize,
    level_periods: usize,
) -> Result<DataFrame> {
    if season_length == 0 {
        return Err(CoreError::invalid_argument(
            "season_length",
            "must be at least 1",
        ));
    }
    let panel = Panel::build(df, roles)?;
    let target = panel.gather_f64(numeric_values(column(df, &roles.target_col)?)?);
    let grids = series_on_grid(&panel, &target, freq);
    let (mut scales, mut levels, mut floors) = (Vec::with_capacity(grids.len()), vec![], vec![]);
    for g in &grids {
        let observed: Vec<f64> = g.values.iter().copied().filter(|v| v.is_finite()).collect();
        let mean_abs = observed.iter().map(|v| v.abs()).sum::<f64>() / observed.len().max(1) as f64;
        let naive = Scale::of_history(&g.values, season_length).mae;
        scales.push(
            [naive, 0.01 * mean_abs, 1e-9]
                .into_iter()
                .filter(|v| v.is_finite())
                .fold(f64::MIN, f64::max),
        );
        let non_negative = observed.iter().all(|v| *v >= 0.0);
        let recent = &g.values[g.values.len().saturating_sub(level_periods)..];
        let recent: Vec<f64> = recent.iter().copied().filter(|v| v.is_finite()).collect();
        levels.push(if non_negative && !recent.is_empty() {
            recent.iter().sum::<f64>() / recent.len() as f64
        } else {
            f64::NAN
        });
        floors.push(if non_negative { 0.0 } else { f64::NEG_INFINITY });
    }
    let mut out = series_keys(df, &panel, 1)?;
    out.with_column(Column::new("_scale".into(), scales))?;
    out.with_column(Column::new("_level".into(), levels))?;
    out.with_column(Column::new("_floor".into(), floors))?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::dated_frame;

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

    #[test]
    fn scales_read_the_grid_not_the_rows() {
        // Day 2 is missing: on the grid the lag-1 differences are |2-1| and |5-4| = 1 each; by
        // row they would include |4-2| = 2.
        let y = [1.0, 2.0, 4.0, 5.0].map(Some);
        let df = dated_frame(&["a"; 4], &[0, 1, 3, 4], &y);
        let roles = ColumnRoles::new(vec!["store".into()], "date", "y").unwrap();
        let out = interval_scales(&df, &roles, Frequency::Days(1), 1, 2).unwrap();
        assert_eq!(
            out.column("_scale").unwrap().f64().unwrap().get(0),
            Some(1.0)
        );
        assert_eq!(
            out.column("_floor").unwrap().f64().unwrap().get(0),
            Some(0.0)
        );
        // The last two periods on the grid are days 3 and 4.
        assert_eq!(
            out.column("_level").unwrap().f64().unwrap().get(0),
            Some(4.5)
        );
    }

    #[test]
    fn the_spread_follows_the_forecast_level() {
        assert_eq!(spread(8.0, 2.0, 8.0), 2.0);
        // Four times the level: twice the width.
        assert!((spread(32.0, 2.0, 8.0) - 4.0).abs() < 1e-12);
        // A zero (or negative) forecast keeps the bound's share, even of a series that sold
        // nothing; no forecast gets more than the other bound.
        let least = 2.0 * 0.1f64.sqrt();
        assert!((spread(0.0, 2.0, 8.0) - least).abs() < 1e-12);
        assert!((spread(-3.0, 2.0, 8.0) - least).abs() < 1e-12);
        assert!((spread(0.0, 2.0, 0.0) - least).abs() < 1e-12);
        assert!((spread(1e6, 2.0, 8.0) - 2.0 * 10.0f64.sqrt()).abs() < 1e-12);
        // A series that sold nothing lately: its level is below one scale, so forecasts are
        // compared with the scale; no jump between level 0 and a tiny one, nor between a
        // forecast of 0 and one of 0.01.
        assert!((spread(6.0, 2.0, 0.0) - 2.0 * 3.0f64.sqrt()).abs() < 1e-12);
        assert_eq!(spread(6.0, 2.0, 1e-6), spread(6.0, 2.0, 0.0));
        assert!(spread(0.01, 2.0, 0.0) - spread(0.0, 2.0, 0.0) < 1e-12);
        // An unknown level or forecast leaves the scale alone.
        assert_eq!(spread(5.0, 2.0, f64::NAN), 2.0);
        assert_eq!(spread(f64::NAN, 2.0, 8.0), 2.0);
        assert!(spreads(&[1.0], &[1.0, 2.0], &[1.0]).is_err());
    }

    #[test]
    fn series_with_negative_values_have_no_level() {
        let df = dated_frame(&["a"; 3], &[0, 1, 2], &[-1.0, 2.0, 4.0].map(Some));
        let roles = ColumnRoles::new(vec!["store".into()], "date", "y").unwrap();
        let out = interval_scales(&df, &roles, Frequency::Days(1), 1, 7).unwrap();
        assert!(out
            .column("_level")
            .unwrap()
            .f64()
            .unwrap()
            .get(0)
            .unwrap()
            .is_nan());
        assert_eq!(
            out.column("_floor").unwrap().f64().unwrap().get(0),
            Some(f64::NEG_INFINITY)
        );
    }
}
