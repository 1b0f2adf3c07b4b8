//! Train / validation / test splits by date within each series.

use crate::error::{CoreError, Result};
use crate::freq::Frequency;
use crate::panel::{ColumnRoles, Panel};
use polars::prelude::*;

/// Settings of `time_split`.
#[derive(Debug, Clone)]
pub struct SplitOptions {
    pub roles: ColumnRoles,
    /// The last `test_periods` periods of each series are the test block.
    pub test_periods: usize,
    /// The `val_periods` periods before the test block (and its gap) are the validation block.
    pub val_periods: usize,
    /// Periods left out before each held-out block, so features of the first held-out period
    /// cannot overlap the periods just before it.
    pub gap: usize,
    pub freq: Option<Frequency>,
}

/// Splits per series at dates counted back from each series' own last date.
/// Returns `[train, test]`, or `[train, val, test]` when `val_periods > 0`; rows sorted by
/// series and time.
pub fn time_split(df: &DataFrame, opts: &SplitOptions) -> Result<Vec<DataFrame>> {
    if opts.test_periods == 0 {
        return Err(CoreError::invalid_argument(
            "test_periods",
            "must be at least 1",
        ));
    }
    let panel = Panel::build(df, &opts.roles)?;
    if panel.n_series() == 0 {
        return Err(CoreError::invalid_argument("df", "the frame has no rows"));
    }
    let freq = match opts.freq {
        Some(f) => {
            f.check_axis(panel.axis)?;
            f
        }
        None => Frequency::infer(&panel.times, &panel.offsets, panel.axis)?,
    };
    // `None` when stepping back leaves the time column's range: no training period is left.
    let step_back = |t: i64, k: usize| {
        i64::try_from(k)
            .ok()
            .and_then(|k| freq.checked_advance(t, -k, panel.axis))
    };
    let with_val = opts.val_periods > 0;
    // 0 train, 1 val, 2 test, 3 dropped gap
    let mut label = vec![0u8; panel.times.len()];
    for s in 0..panel.n_series() {
        let r = panel.range(s);
        let last = panel.times[r.end - 1];
        let first = panel.times[r.start];
        let bounds = step_back(last, opts.test_periods - 1).and_then(|test_start| {
            let test_gap_start = step_back(test_start, opts.gap)?;
            let val_start = step_back(test_gap_start, opts.val_periods)?;
            let train_end = if with_val {
                step_back(val_start, opts.gap)?
            } else {
                test_gap_start
            };
            (first < train_end).then_some((test_start, test_gap_start, val_start, train_end))
        });
        let Some((test_start, test_gap_start, val_start, train_end)) = bounds else {
            let held_out = if with_val {
                [opts.test_periods, opts.gap, opts.val_periods, opts.gap, 1]
            } else {
                [opts.test_periods, opts.gap, 0, 0, 1]
            };
            let required = held_out
                .iter()
                .try_fold(0usize, |sum, &k| sum.checked_add(k))
                .and_then(|k| i64::try_from(k).ok())
                .unwrap_or(i64::MAX);
            let periods = freq
                .steps_between(first, last, panel.axis)
                .map_or(r.len() as i64, |k| k + 1);
            return Err(CoreError::SeriesTooShort {
                series: panel.label(s),
                periods,
                required,
                context: "time_split leaves it no training period".into(),
            });
        };
        for pos in r {
            let t = panel.times[pos];
            label[pos] = if t >= test_start {
                2
            } else if t >= test_gap_start {
                3
            } else if with_val && t >= val_start {
                1
            } else if t >= train_end {
                3
            } else {
                0
            };
        }
    }
    let sorted = panel.sorted_frame(df)?;
    let part = |code: u8| -> Result<DataFrame> {
        let mask: BooleanChunked = label.iter().map(|&l| l == code).collect();
        Ok(sorted.filter(&mask)?)
    };
    let mut out = vec![part(0)?];
    if with_val {
        out.push(part(1)?);
    }
    out.push(part(2)?);
    Ok(out)
}
