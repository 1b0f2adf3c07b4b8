//! Tiny panels for the core's unit tests.

use crate::freq::date_to_epoch_day;
use chrono::NaiveDate;
use polars::prelude::*;

/// The epoch day of a calendar date.
pub fn epoch(y: i32, m: u32, d: u32) -> i32 {
    date_to_epoch_day(NaiveDate::from_ymd_opt(y, m, d).unwrap()) as i32
}

/// A long frame `store | date | y` with dates as epoch days.
pub fn dated_frame(stores: &[&str], days: &[i32], y: &[Option<f64>]) -> DataFrame {
    let date = Series::new("date".into(), days)
        .cast(&DataType::Date)
        .unwrap();
    DataFrame::new_infer_height(vec![
        Series::new("store".into(), stores).into_column(),
        date.into_column(),
        Series::new("y".into(), y).into_column(),
    ])
    .unwrap()
}

/// A long frame `store | date | y` with `date` a millisecond Datetime.
pub fn datetime_frame(stores: &[&str], ms: Vec<i64>, y: &[Option<f64>]) -> DataFrame {
    let mut df = dated_frame(stores, &vec![0; stores.len()], y);
    let times = Series::new("date".into(), ms)
        .cast(&DataType::Datetime(TimeUnit::Milliseconds, None))
        .unwrap();
    df.with_column(times.into_column()).unwrap();
    df
}

/// A long frame `store | date | y`, dates as days after 2023-01-02 (a Monday).
pub fn frame(stores: &[&str], offsets: &[i32], y: &[Option<f64>]) -> DataFrame {
    let base = epoch(2023, 1, 2);
    dated_frame(
        stores,
        &offsets.iter().map(|o| base + o).collect::<Vec<_>>(),
        y,
    )
}

/// The `forecast` column of a forecast frame.
pub fn forecasts(out: &DataFrame) -> Vec<f64> {
    out.column("forecast")
        .unwrap()
        .f64()
        .unwrap()
        .into_no_null_iter()
        .collect()
}
