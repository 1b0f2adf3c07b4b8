//! Series on their regular time grid: values by period (NaN where a period is missing), the
//! periods after each series' end, time shifts, and the declared frequency checked against data.

use crate::error::{CoreError, Result};
use crate::freq::{Frequency, TimeAxis};
use crate::panel::{column, time_axis, time_values, ColumnRoles, Panel};
use polars::prelude::*;
use std::collections::HashMap;

/// One series' values from its first to its last period, NaN where a period has no row.
#[derive(Debug, Clone, PartialEq)]
pub struct GridSeries {
    pub start: i64,
    pub values: Vec<f64>,
}

/// Every series of `panel` on its grid; `values` are in panel order. Rows off the grid are left
/// out. A series with gaps that would span more than [`MAX_SERIES_PERIODS`], or gaps adding up
/// to more than [`MAX_MISSING_PERIODS`] over the panel, is refused (an error naming `time_col`)
/// before any grid is allocated.
pub fn series_on_grid(
    panel: &Panel,
    values: &[f64],
    freq: Frequency,
    time_col: &str,
) -> Result<Vec<GridSeries>> {
    // Each row's period on its series' grid (None off the grid), found once: monthly steps
    // take calendar arithmetic.
    let steps: Vec<Vec<Option<usize>>> = (0..panel.n_series())
        .map(|s| {
            let start = panel.times[panel.range(s).start];
            panel
                .range(s)
                .map(|pos| {
                    freq.steps_between(start, panel.times[pos], panel.axis)
                        .and_then(|k| usize::try_from(k).ok())
                })
                .collect()
        })
        .collect();
    let lengths: Vec<usize> = steps
        .iter()
        .map(|series| {
            series
                .iter()
                .flatten()
                .max()
                .map_or(0, |k| k.saturating_add(1))
        })
        .collect();
    let mut missing = 0usize;
    for (s, (&len, series)) in lengths.iter().zip(&steps).enumerate() {
        if len > MAX_SERIES_PERIODS && len > series.len() {
            return Err(series_span_error(panel, s, len, freq, time_col));
        }
        missing = missing.saturating_add(len.saturating_sub(series.len()));
    }
    if missing > MAX_MISSING_PERIODS {
        return Err(CoreError::invalid_data(
            time_col,
            missing_periods_message(missing, freq),
        ));
    }
    Ok(steps
        .into_iter()
        .zip(lengths)
        .enumerate()
        .map(|(s, (series, len))| {
            let mut grid = vec![f64::NAN; len];
            for (pos, step) in panel.range(s).zip(series) {
                if let Some(k) = step {
                    grid[k] = values[pos];
                }
            }
            GridSeries {
                start: panel.times[panel.range(s).start],
                values: grid,
            }
        })
        .collect())
}

/// A time column of `dtype` from storage values (days for `Date`, ticks for `Datetime`).
pub fn time_column(name: &str, values: Vec<i64>, dtype: &DataType) -> Result<Column> {
    as_time(Column::new(name.into(), values), dtype)
}

fn as_time(storage: Column, dtype: &DataType) -> Result<Column> {
    Ok(match dtype {
        DataType::Date => storage.cast(&DataType::Int32)?.cast(&DataType::Date)?,
        other => storage.cast(other)?,
    })
}

/// The error for `steps` (a horizon, as the message words it) that move a time out of years 1
/// to 9999 or out of its column's storage.
fn past_time_range(steps: String) -> CoreError {
    CoreError::invalid_argument(
        "h",
        format!("{steps} leave years 1 to 9999 or the range its time column can hold"),
    )
}

/// What [`shift_times`] does with a time moved out of years 1 to 9999 (or out of what its
/// column's storage holds).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutOfRange {
    /// An error: the time was to be a period of the output, as a forecast's.
    Refuse,
    /// A null: the time only bounds others, as the start of a window, and lies beyond them all.
    Null,
}

impl OutOfRange {
    /// `refuse` or `null`.
    pub fn parse(text: &str) -> Result<Self> {
        match text {
            "refuse" => Ok(Self::Refuse),
            "null" => Ok(Self::Null),
            other => Err(CoreError::invalid_argument(
                "outside",
                format!("expected refuse or null, got {other:?}"),
            )),
        }
    }
}

/// `times` moved by `k` periods of `freq` (negative `k` moves back); calendar months keep
/// month ends.
pub fn shift_times(times: &Column, freq: Frequency, k: i64, outside: OutOfRange) -> Result<Column> {
    let axis = time_axis(times)?;
    freq.check_axis(axis)?;
    let moved = time_values(times)?
        .into_iter()
        .map(|t| match freq.checked_advance(t, k, axis) {
            None if outside == OutOfRange::Refuse => Err(past_time_range(format!(
                "{k} periods of {freq} from {}",
                axis.format(t)
            ))),
            moved => Ok(moved),
        })
        .collect::<Result<Vec<_>>>()?;
    as_time(Column::new(times.name().clone(), moved), times.dtype())
}

/// Key columns of each series' last row, each repeated `repeat` times, in panel order.
pub fn series_keys(df: &DataFrame, panel: &Panel, repeat: usize) -> Result<DataFrame> {
    let rows: Vec<IdxSize> = (0..panel.n_series())
        .flat_map(|s| std::iter::repeat_n(panel.order[panel.range(s).end - 1], repeat))
        .collect();
    Ok(df
        .select(panel.id_cols.iter().map(String::as_str))?
        .take(&IdxCa::from_vec("rows".into(), rows))?)
}

/// A series with missing periods whose grid (first to last time) is longer than this is refused
/// before its gaps are filled in memory: two rows a century apart at an hourly step are a wrong
/// time column or `freq`, not a series.
pub const MAX_SERIES_PERIODS: usize = 10_000_000;

/// Missing periods over a whole panel that are filled in memory at most (as NaN, 800 MB): more
/// are a wrong time column or `freq` in many series, each within [`MAX_SERIES_PERIODS`].
pub const MAX_MISSING_PERIODS: usize = 100_000_000;

/// What is wrong with a panel missing more than [`MAX_MISSING_PERIODS`] periods.
pub fn missing_periods_message(missing: usize, freq: Frequency) -> String {
    format!(
        "the series miss {missing} periods of {freq} between their first and last rows; at most \
         {MAX_MISSING_PERIODS} can be filled in: check the time column and `freq`"
    )
}

/// What is wrong with a series whose grid exceeds [`MAX_SERIES_PERIODS`].
pub fn span_message(series: &str, periods: usize, freq: Frequency, from: &str, to: &str) -> String {
    format!(
        "series {series} spans {periods} periods of {freq} from {from} to {to}, with periods \
         missing; a series may span at most {MAX_SERIES_PERIODS}: check the time column and \
         `freq`"
    )
}

/// The error for series `s` of `panel`, whose grid would span `periods` periods.
pub(crate) fn series_span_error(
    panel: &Panel,
    s: usize,
    periods: usize,
    freq: Frequency,
    time_col: &str,
) -> CoreError {
    let r = panel.range(s);
    let (from, to) = (panel.times[r.start], panel.times[r.end - 1]);
    CoreError::invalid_data(
        time_col,
        span_message(
            &panel.label(s),
            periods,
            freq,
            &panel.axis.format(from),
            &panel.axis.format(to),
        ),
    )
}

/// A forecast frame of more rows than this is refused before anything is allocated.
pub const MAX_FORECAST_ROWS: usize = 100_000_000;

/// The `h` periods after the end of every series: keys, time and `_step` (1..=h). Each series
/// steps from its first period (a series dated on the 28th stays on the 28th after a 28
/// February), so `df` may hold only each series' first and last rows.
pub fn future_periods(
    df: &DataFrame,
    roles: &ColumnRoles,
    freq: Frequency,
    h: usize,
) -> Result<DataFrame> {
    let panel = Panel::build(df, roles)?;
    freq.check_axis(panel.axis)?;
    let rows = panel.n_series().saturating_mul(h);
    if rows > MAX_FORECAST_ROWS {
        return Err(CoreError::invalid_argument(
            "h",
            format!(
                "{h} periods for each of {} series would be {rows} rows, more than the \
                 {MAX_FORECAST_ROWS} a forecast may hold",
                panel.n_series()
            ),
        ));
    }
    let mut out = series_keys(df, &panel, h)?;
    let mut times = Vec::with_capacity(out.height());
    let mut steps = Vec::with_capacity(out.height());
    for s in 0..panel.n_series() {
        let r = panel.range(s);
        let (first, last) = (panel.times[r.start], panel.times[r.end - 1]);
        let elapsed = freq.steps_between(first, last, panel.axis);
        // The farthest period must fit the time column (a nanosecond column ends in 2262):
        // past it, times would wrap around silently.
        let h_steps = i64::try_from(h).unwrap_or(i64::MAX);
        let fits = match elapsed {
            Some(n) => n
                .checked_add(h_steps)
                .and_then(|k| freq.checked_advance(first, k, panel.axis)),
            None => freq.checked_advance(last, h_steps, panel.axis),
        };
        if fits.is_none() {
            return Err(past_time_range(format!(
                "{h} periods of {freq} after series {} ends at {}",
                panel.label(s),
                panel.axis.format(last)
            )));
        }
        for k in 1..=h as i64 {
            times.push(match elapsed {
                Some(n) => freq.advance(first, n + k, panel.axis),
                None => freq.advance(last, k, panel.axis),
            });
            steps.push(k);
        }
    }
    let dtype = column(df, &roles.time_col)?.dtype().clone();
    out.with_column(time_column(&roles.time_col, times, &dtype)?)?;
    out.with_column(Column::new("_step".into(), steps))?;
    Ok(out)
}

/// Refuses a declared frequency that is not the data's own step: the most common number of
/// `freq` steps between a series' consecutive periods must be one (weekly rows read with `"1d"`
/// would forecast daily dates). Missing periods and a few irregular gaps are the validator's
/// business, not a reason to refuse. The data contract ([`crate::validate::check_frame`]) and
/// the forecasts that read a panel check it.
pub(crate) fn check_panel_frequency(panel: &Panel, time_col: &str, freq: Frequency) -> Result<()> {
    freq.check_axis(panel.axis)?;
    let mut counts: HashMap<Option<i64>, usize> = HashMap::new();
    for s in 0..panel.n_series() {
        for pair in panel.times[panel.range(s)].windows(2) {
            *counts
                .entry(freq.steps_between(pair[0], pair[1], panel.axis))
                .or_default() += 1;
        }
    }
    // Ties go to one step: a panel that is as often on the grid as off it is not refused.
    let Some((&mode, _)) = counts
        .iter()
        .max_by_key(|&(steps, n)| (*n, *steps == Some(1)))
    else {
        return Ok(()); // no series has two periods: nothing to compare
    };
    if mode == Some(1) {
        return Ok(());
    }
    let Some(found) = Frequency::most_common_step(&panel.times, &panel.offsets, panel.axis) else {
        return Err(CoreError::invalid_data(
            time_col,
            format!(
                "consecutive periods of a series are not one {freq} step apart (repeated times?)"
            ),
        ));
    };
    if !found.within_a_century() {
        return Err(CoreError::invalid_data(
            time_col,
            format!(
                "the data steps by {found} (the most common gap between a series' periods), \
                 longer than a century: check the time column"
            ),
        ));
    }
    Err(CoreError::invalid_data(
        time_col,
        format!(
            "the data steps by {found} (the most common gap between a series' periods) but \
             freq is {freq}; pass freq=\"{found}\"{}",
            match panel.axis {
                TimeAxis::Date => "",
                TimeAxis::Datetime { .. } => " (or resample the data)",
            }
        ),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::freq::date_to_epoch_day;
    use chrono::NaiveDate;

    fn day(y: i32, m: u32, d: u32) -> i32 {
        date_to_epoch_day(NaiveDate::from_ymd_opt(y, m, d).unwrap()) as i32
    }

    fn frame(ids: &[&str], days: &[i32], values: &[f64]) -> DataFrame {
        let date = Column::new("date".into(), days.to_vec())
            .cast(&DataType::Date)
            .unwrap();
        DataFrame::new(
            ids.len(),
            vec![
                Column::new("id".into(), ids.to_vec()),
                date,
                Column::new("y".into(), values.to_vec()),
            ],
        )
        .unwrap()
    }

    fn roles() -> ColumnRoles {
        ColumnRoles::new(vec!["id".into()], "date", "y").unwrap()
    }

    #[test]
    fn grid_leaves_missing_periods_as_nan() {
        let df = frame(&["a", "a", "a"], &[0, 1, 3], &[1.0, 2.0, 4.0]);
        let panel = Panel::build(&df, &roles()).unwrap();
        let grid = series_on_grid(&panel, &[1.0, 2.0, 4.0], Frequency::Days(1), "date").unwrap();
        assert_eq!(grid[0].values.len(), 4);
        assert!(grid[0].values[2].is_nan());
        assert_eq!(grid[0].values[3], 4.0);
    }

    #[test]
    fn future_periods_follow_each_series_end() {
        let df = frame(
            &["b", "a", "a"],
            &[day(2023, 1, 31), day(2023, 1, 31), day(2023, 2, 28)],
            &[1.0, 2.0, 3.0],
        );
        let out = future_periods(&df, &roles(), Frequency::Months(1), 2).unwrap();
        assert_eq!(out.height(), 4);
        let dates: Vec<i32> = out
            .column("date")
            .unwrap()
            .to_physical_repr()
            .i32()
            .unwrap()
            .into_no_null_iter()
            .collect();
        // "a" ends on Feb 28 (a month end): Mar 31, Apr 30; "b" ends on Jan 31.
        assert_eq!(
            dates,
            vec![
                day(2023, 3, 31),
                day(2023, 4, 30),
                day(2023, 2, 28),
                day(2023, 3, 31)
            ]
        );
        let ids: Vec<Option<&str>> = out.column("id").unwrap().str().unwrap().iter().collect();
        assert_eq!(ids, vec![Some("a"), Some("a"), Some("b"), Some("b")]);
    }

    #[test]
    fn a_series_on_the_28th_stays_there_after_february() {
        let df = frame(
            &["a", "a"],
            &[day(2023, 1, 28), day(2023, 2, 28)],
            &[1.0, 2.0],
        );
        let out = future_periods(&df, &roles(), Frequency::Months(1), 1).unwrap();
        let date = out.column("date").unwrap().to_physical_repr();
        assert_eq!(date.i32().unwrap().get(0), Some(day(2023, 3, 28)));
    }

    #[test]
    fn shifts_sub_daily_datetimes() {
        let ticks = Column::new("t".into(), vec![0i64, 900_000])
            .cast(&DataType::Datetime(TimeUnit::Milliseconds, None))
            .unwrap();
        let quarter = Frequency::parse("15min").unwrap();
        let moved = shift_times(&ticks, quarter, 2, OutOfRange::Refuse).unwrap();
        let values: Vec<i64> = moved
            .to_physical_repr()
            .i64()
            .unwrap()
            .into_no_null_iter()
            .collect();
        assert_eq!(values, vec![1_800_000, 2_700_000]);
        let dates = Column::new("d".into(), vec![0i32])
            .cast(&DataType::Date)
            .unwrap();
        assert!(shift_times(&dates, quarter, 1, OutOfRange::Refuse).is_err());
        // Before year 1: refused, or a null where only a bound is wanted.
        assert!(shift_times(&ticks, quarter, -1 << 50, OutOfRange::Refuse).is_err());
        let before = shift_times(&ticks, quarter, -1 << 50, OutOfRange::Null).unwrap();
        assert_eq!(before.null_count(), 2);
    }

    fn check_frequency(df: &DataFrame, roles: &ColumnRoles, freq: Frequency) -> Result<()> {
        check_panel_frequency(&Panel::build(df, roles)?, &roles.time_col, freq)
    }

    #[test]
    fn refuses_a_frequency_the_data_does_not_have() {
        let weekly = frame(&["a", "a", "a"], &[0, 7, 14], &[1.0, 2.0, 3.0]);
        let err = check_frequency(&weekly, &roles(), Frequency::Days(1)).unwrap_err();
        assert!(err.to_string().contains("1w"), "{err}");
        assert!(check_frequency(&weekly, &roles(), Frequency::Days(7)).is_ok());
        // Four-weekly and two-monthly steps are the data's own, whatever `infer` would name.
        let four_weekly = frame(&["a", "a", "a"], &[0, 28, 56], &[1.0, 2.0, 3.0]);
        assert!(check_frequency(&four_weekly, &roles(), Frequency::Days(28)).is_ok());
        let two_monthly = frame(
            &["a", "a", "a"],
            &[day(2023, 1, 1), day(2023, 3, 1), day(2023, 5, 1)],
            &[1.0, 2.0, 3.0],
        );
        assert!(check_frequency(&two_monthly, &roles(), Frequency::Months(2)).is_ok());
        let one_row = frame(&["a"], &[0], &[1.0]);
        assert!(check_frequency(&one_row, &roles(), Frequency::Days(1)).is_ok());
    }
}
