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
    check_level(level)?;
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

fn check_level(level: f64) -> Result<()> {
    if level > 0.0 && level < 100.0 {
        Ok(())
    } else {
        Err(CoreError::invalid_argument(
            "levels",
            format!("{level} is not between 0 and 100"),
        ))
    }
}

/// The bounds of a two-sided split-conformal interval at coverage `level` (in percent) from
/// signed `scores`: the `floor((n + 1) * tail)`-th and `ceil((n + 1) * (1 - tail))`-th smallest,
/// with `tail` half the miss rate, held to the smallest and largest score when there are too
/// few. Linear interpolation between the empirical quantiles would cover about (n - 1) / (n + 1)
/// of the nominal level: 72% for a nominal 80% from 20 scores.
fn signed_bounds(scores: &[f64], level: f64) -> Result<(f64, f64)> {
    check_level(level)?;
    let mut finite: Vec<f64> = scores.iter().copied().filter(|v| v.is_finite()).collect();
    if finite.is_empty() {
        return Ok((f64::NAN, f64::NAN));
    }
    finite.sort_by(|a, b| a.total_cmp(b));
    let n = finite.len();
    // (n + 1) times the tail, in percent so that 80% of 20 ranks is 2 exactly, not 1.999...
    let tail = (n + 1) as f64 * (100.0 - level) / 200.0;
    let low = (tail.floor() as usize).clamp(1, n);
    let high = (((n + 1) as f64 - tail).ceil() as usize).clamp(1, n);
    Ok((finite[low - 1], finite[high - 1]))
}

/// A group's finite scores and the sum of their absolute values.
fn finite_and_total(group: &[f64]) -> (Vec<f64>, f64) {
    let finite: Vec<f64> = group.iter().copied().filter(|v| v.is_finite()).collect();
    let total = finite.iter().map(|v| v.abs()).sum();
    (finite, total)
}

/// Each score divided by the mean absolute value of the group's other finite scores; none
/// where that mean is not positive (a single score, or all the others zero).
fn left_out_scaled(group: &[f64]) -> Vec<f64> {
    let (finite, total) = finite_and_total(group);
    let others = finite.len() as f64 - 1.0;
    finite
        .iter()
        .filter_map(|&v| {
            let size = (total - v.abs()) / others;
            (size > 0.0).then(|| v / size)
        })
        .collect()
}

/// Each step's mean absolute score: how wide that step's errors run (NaN without a score).
fn step_sizes(groups: &[Vec<f64>]) -> Vec<f64> {
    groups
        .iter()
        .map(|group| {
            let (finite, total) = finite_and_total(group);
            total / finite.len() as f64
        })
        .collect()
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

    /// (lower, upper) offsets for each step's group of scores and each level (in percent). A
    /// step's errors tell how wide that step runs (their mean absolute size), all steps
    /// together tell the shape: each score divided by the mean size of its step's other scores
    /// (a new error is not part of the size it is measured against, so neither is a
    /// calibration one), pooled over the steps; the bounds are read from the pool and scaled
    /// back by each step's size. A calibration of a few windows holds a few dozen scores per
    /// step, where the 95% bounds would be the extremes seen; the pool holds the horizon's
    /// times as many. A step with a single score adds nothing to the pool.
    pub fn widths(self, groups: &[Vec<f64>], levels: &[f64]) -> Result<Vec<Vec<(f64, f64)>>> {
        let sizes = step_sizes(groups);
        let pooled: Vec<f64> = groups
            .iter()
            .flat_map(|group| left_out_scaled(group))
            .collect();
        let bounds = levels
            .iter()
            .map(|&level| match self {
                Self::ConformalError => conformal_quantile(&pooled, level).map(|q| (-q, q)),
                Self::ConformalDistribution => signed_bounds(&pooled, level),
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(sizes
            .iter()
            .map(|&size| {
                bounds
                    .iter()
                    // A step whose errors were all zero keeps a zero width.
                    .map(|&(lo, hi)| {
                        if size == 0.0 {
                            (0.0, 0.0)
                        } else {
                            (lo * size, hi * size)
                        }
                    })
                    .collect()
            })
            .collect())
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
/// in-sample seasonal-naive mean absolute error on the series' grid, the naive one where the
/// series has no seasonal pair, at least 1% of its mean absolute value, so flat series
/// still get an interval); `_level`, the mean of the observed
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
    let target = panel.gather(numeric_values(column(df, &roles.target_col)?)?);
    let grids = series_on_grid(&panel, &target, freq, &roles.time_col)?;
    let (mut scales, mut levels, mut floors) = (Vec::with_capacity(grids.len()), vec![], vec![]);
    for g in &grids {
        let observed: Vec<f64> = g.values.iter().copied().filter(|v| v.is_finite()).collect();
        let mean_abs = observed.iter().map(|v| v.abs()).sum::<f64>() / observed.len().max(1) as f64;
        // A series without a seasonal pair (not longer than a season, or gaps there): its
        // one-step naive error, not 1% of its mean, which would blow up its scores and, pooled
        // with the other series', everyone's widths.
        let seasonal = Scale::of_history(&g.values, season_length).mae;
        let naive = if seasonal.is_finite() {
            seasonal
        } else {
            Scale::of_history(&g.values, 1).mae
        };
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
    }

    #[test]
    fn signed_bounds_take_the_finite_sample_ranks() {
        // 19 scores -9..=9: floor(20 * 0.1) = 2nd and ceil(20 * 0.9) = 18th smallest.
        let scores: Vec<f64> = (-9..=9).map(f64::from).collect();
        assert_eq!(signed_bounds(&scores, 80.0).unwrap(), (-8.0, 8.0));
        // Too few scores for 95%: the extremes.
        assert_eq!(signed_bounds(&scores[..3], 95.0).unwrap(), (-9.0, -7.0));
        assert!(signed_bounds(&scores, 0.0).is_err());
    }

    #[test]
    fn steps_share_the_pooled_shape_at_their_own_size() {
        let base: Vec<f64> = (-9..=9).map(f64::from).collect();
        let doubled: Vec<f64> = base.iter().map(|v| 2.0 * v).collect();
        for method in [
            IntervalMethod::ConformalError,
            IntervalMethod::ConformalDistribution,
        ] {
            let widths = method
                .widths(
                    &[base.clone(), doubled.clone(), vec![0.0; 3], vec![]],
                    &[80.0, 95.0],
                )
                .unwrap();
            for (one, two) in widths[0].iter().zip(&widths[1]) {
                assert!((two.0 - 2.0 * one.0).abs() < 1e-9 && (two.1 - 2.0 * one.1).abs() < 1e-9);
                assert!(one.0 < 0.0 && one.1 > 0.0);
            }
            // 38 pooled scores reach further at 95% than at 80%.
            assert!(widths[0][1].1 > widths[0][0].1);
            assert_eq!(widths[2], vec![(0.0, 0.0); 2]);
            assert!(widths[3].iter().all(|(lo, hi)| lo.is_nan() && hi.is_nan()));
        }
    }

    #[test]
    fn scores_are_scaled_by_their_steps_other_scores() {
        // Left out of its own step's size, an outlier keeps its distance: 10 among nine 1s is
        // ten sizes out (it would be 5.3 against a mean that includes it).
        let mut group = vec![1.0; 9];
        group.push(10.0);
        let scaled = left_out_scaled(&group);
        assert!((scaled[9] - 10.0).abs() < 1e-12);
        assert!(left_out_scaled(&[4.0]).is_empty());
        // A step with one score takes the other steps' shape at its own size.
        let base: Vec<f64> = (-9..=9).map(f64::from).collect();
        let widths = IntervalMethod::ConformalDistribution
            .widths(&[vec![5.0], base.clone()], &[80.0])
            .unwrap();
        let size = base.iter().map(|v| v.abs()).sum::<f64>() / base.len() as f64;
        assert!((widths[0][0].1 / 5.0 - widths[1][0].1 / size).abs() < 1e-12);
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
    fn a_series_without_a_seasonal_pair_is_scaled_by_its_naive_error() {
        let y = [10.0, 12.0, 11.0, 14.0].map(Some);
        let df = dated_frame(&["a"; 4], &[0, 1, 2, 3], &y);
        let roles = ColumnRoles::new(vec!["store".into()], "date", "y").unwrap();
        let out = interval_scales(&df, &roles, Frequency::Days(1), 7, 7).unwrap();
        // |12-10|, |11-12|, |14-11|: 2 on average, not 1% of the mean (0.1175).
        assert_eq!(
            out.column("_scale").unwrap().f64().unwrap().get(0),
            Some(2.0)
        );
        // Longer than a season but every seasonal pair falls on a gap (days 2 and 3 are
        // missing): |3-1| and |11-10|.
        let y = [1.0, 3.0, 10.0, 11.0].map(Some);
        let df = dated_frame(&["a"; 4], &[0, 1, 4, 5], &y);
        let out = interval_scales(&df, &roles, Frequency::Days(1), 2, 7).unwrap();
        assert_eq!(
            out.column("_scale").unwrap().f64().unwrap().get(0),
            Some(1.5)
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
