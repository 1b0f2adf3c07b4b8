//! Arbitrary panels for the fuzz targets: a long frame `store | date | sales` whose keys, times
//! and targets may be null, repeated, unsorted, off any grid, of another dtype, NaN or infinite.

use arbitrary::Arbitrary;
use polars::prelude::*;
use salesforecast_core::ColumnRoles;

/// Longest frame a run builds: enough for every kind of breach, small enough for thousands of
/// runs a second.
const MAX_ROWS: usize = 400;
const MS_PER_DAY: i64 = 86_400_000;
/// 2023-01-02 as days since 1970-01-01.
const BASE_DAY: i32 = 19_359;

#[derive(Arbitrary, Debug, Clone, Copy)]
pub enum TimeKind {
    Date,
    Datetime,
    DatetimeUtc,
    Integer,
    Text,
}

#[derive(Arbitrary, Debug, Clone, Copy)]
pub enum KeyKind {
    Text,
    Categorical,
    Integer,
}

#[derive(Arbitrary, Debug, Clone, Copy)]
pub enum TargetKind {
    Float64,
    Float32,
    Int64,
    Boolean,
    Text,
}

#[derive(Arbitrary, Debug, Clone, Copy)]
pub enum Value {
    Missing,
    Count(u16),
    Any(f64),
}

#[derive(Arbitrary, Debug, Clone)]
pub struct Row {
    /// One of a few series, or a null key.
    pub series: Option<u8>,
    /// Periods after the base date (a step of `step_days`), or a null time. Spans stay within
    /// 180 years, so a grid fits in memory at any frequency the targets declare.
    pub step: Option<i8>,
    /// Hours into the day, for datetime times (0 on the grid).
    pub hour: u8,
    pub value: Value,
}

#[derive(Arbitrary, Debug, Clone)]
pub struct RawPanel {
    pub time: TimeKind,
    pub key: KeyKind,
    pub target: TargetKind,
    /// Days between periods: 1 (daily), 7 (weekly) or anything else.
    pub step_days: u8,
    pub rows: Vec<Row>,
}

impl RawPanel {
    pub fn roles() -> ColumnRoles {
        ColumnRoles::new(vec!["store".into()], "date", "sales").expect("valid roles")
    }

    /// The frame, with the rows beyond `MAX_ROWS` dropped.
    pub fn frame(&self) -> PolarsResult<DataFrame> {
        let rows = &self.rows[..self.rows.len().min(MAX_ROWS)];
        let step = i32::from(self.step_days.max(1));
        let days: Vec<Option<i32>> = rows
            .iter()
            .map(|r| r.step.map(|s| BASE_DAY + i32::from(s) * step))
            .collect();
        let keys: Vec<Option<u8>> = rows.iter().map(|r| r.series.map(|s| s % 4)).collect();
        DataFrame::new_infer_height(vec![
            self.keys(&keys)?.into_column(),
            self.times(rows, &days)?.into_column(),
            self.targets(rows)?.into_column(),
        ])
    }

    fn keys(&self, keys: &[Option<u8>]) -> PolarsResult<Series> {
        let text: Vec<Option<String>> = keys.iter().map(|k| k.map(|k| format!("s{k}"))).collect();
        let series = Series::new("store".into(), text);
        match self.key {
            KeyKind::Text => Ok(series),
            KeyKind::Categorical => series.cast(&DataType::from_categories(Categories::global())),
            KeyKind::Integer => {
                let codes: Vec<Option<i32>> = keys.iter().map(|k| k.map(i32::from)).collect();
                Ok(Series::new("store".into(), codes))
            }
        }
    }

    fn times(&self, rows: &[Row], days: &[Option<i32>]) -> PolarsResult<Series> {
        let ms = |(row, day): (&Row, &Option<i32>)| {
            day.map(|d| i64::from(d) * MS_PER_DAY + i64::from(row.hour % 24) * 3_600_000)
        };
        match self.time {
            TimeKind::Date => Series::new("date".into(), days).cast(&DataType::Date),
            TimeKind::Datetime | TimeKind::DatetimeUtc => {
                let zone = matches!(self.time, TimeKind::DatetimeUtc).then(|| TimeZone::UTC);
                let values: Vec<Option<i64>> = rows.iter().zip(days).map(ms).collect();
                Series::new("date".into(), values)
                    .cast(&DataType::Datetime(TimeUnit::Milliseconds, zone))
            }
            TimeKind::Integer => Ok(Series::new("date".into(), days)),
            TimeKind::Text => {
                let text: Vec<Option<String>> =
                    days.iter().map(|d| d.map(|d| format!("day {d}"))).collect();
                Ok(Series::new("date".into(), text))
            }
        }
    }

    fn targets(&self, rows: &[Row]) -> PolarsResult<Series> {
        let values: Vec<Option<f64>> = rows
            .iter()
            .map(|r| match r.value {
                Value::Missing => None,
                Value::Count(c) => Some(f64::from(c)),
                Value::Any(v) => Some(v),
            })
            .collect();
        let series = Series::new("sales".into(), values);
        match self.target {
            TargetKind::Float64 => Ok(series),
            TargetKind::Float32 => series.cast(&DataType::Float32),
            TargetKind::Int64 => series.strict_cast(&DataType::Int64).or_else(|_| {
                Ok(Series::new(
                    "sales".into(),
                    rows.iter()
                        .map(|r| matches!(r.value, Value::Count(_)).then_some(1_i64))
                        .collect::<Vec<_>>(),
                ))
            }),
            TargetKind::Boolean => Ok(Series::new(
                "sales".into(),
                rows.iter()
                    .map(|r| matches!(r.value, Value::Count(c) if c > 0))
                    .collect::<Vec<_>>(),
            )),
            TargetKind::Text => series.cast(&DataType::String),
        }
    }
}
