//! Fixed calendar steps (`"1d"`, `"1w"`, `"1mo"`, `"1h"`), stepping along a time axis, and
//! inference of the step from data.

use crate::error::{CoreError, Result};
use chrono::{DateTime, Datelike, Months, NaiveDate, NaiveDateTime};
use std::collections::HashMap;
use std::fmt;

/// How times are stored in the frame: polars `Date` (days since 1970-01-01) or `Datetime` with
/// a unit. Every time value in the core is an `i64` in that storage.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimeAxis {
    Date,
    /// `Datetime`; the field is the number of storage ticks in one second.
    Datetime {
        ticks_per_second: i64,
    },
}

impl TimeAxis {
    fn ticks_per_day(self) -> i64 {
        match self {
            Self::Date => 1,
            Self::Datetime { ticks_per_second } => ticks_per_second * 86_400,
        }
    }

    /// The time as a calendar date-time (midnight for dates).
    pub fn to_naive(self, t: i64) -> NaiveDateTime {
        match self {
            Self::Date => epoch_day_to_date(t)
                .and_hms_opt(0, 0, 0)
                .unwrap_or_default(),
            Self::Datetime { ticks_per_second } => {
                let secs = t.div_euclid(ticks_per_second);
                let nanos =
                    (t.rem_euclid(ticks_per_second) * (1_000_000_000 / ticks_per_second)) as u32;
                DateTime::from_timestamp(secs, nanos)
                    .map(|d| d.naive_utc())
                    .unwrap_or_default()
            }
        }
    }

    /// The storage value of a calendar date-time, or `None` outside the storage's range.
    pub fn checked_from_naive(self, d: NaiveDateTime) -> Option<i64> {
        match self {
            Self::Date => Some(date_to_epoch_day(d.date())),
            Self::Datetime { ticks_per_second } => {
                let utc = d.and_utc();
                utc.timestamp().checked_mul(ticks_per_second)?.checked_add(
                    i64::from(utc.timestamp_subsec_nanos()) / (1_000_000_000 / ticks_per_second),
                )
            }
        }
    }

    /// The storage value of a calendar date-time.
    pub fn from_naive(self, d: NaiveDateTime) -> i64 {
        match self {
            Self::Date => date_to_epoch_day(d.date()),
            Self::Datetime { ticks_per_second } => {
                let utc = d.and_utc();
                utc.timestamp() * ticks_per_second
                    + i64::from(utc.timestamp_subsec_nanos()) / (1_000_000_000 / ticks_per_second)
            }
        }
    }

    /// The first and last storage values of years 1 to 9999, what Python's `datetime` holds.
    /// Times outside are refused on reading and never made by stepping, so calendar arithmetic
    /// stays in chrono's range and every time converts back to Python.
    pub fn bounds(self) -> (i64, i64) {
        const FIRST_SECOND: i64 = -62_135_596_800; // 0001-01-01 00:00:00
        const END_SECOND: i64 = 253_402_300_800; // 10000-01-01 00:00:00
        match self {
            Self::Date => (FIRST_SECOND / 86_400, END_SECOND / 86_400 - 1),
            // A bound the storage cannot reach (a nanosecond column ends in 2262) bounds nothing.
            Self::Datetime { ticks_per_second } => (
                FIRST_SECOND
                    .checked_mul(ticks_per_second)
                    .unwrap_or(i64::MIN),
                END_SECOND
                    .checked_mul(ticks_per_second)
                    .map_or(i64::MAX, |end| end - 1),
            ),
        }
    }

    /// Formats a time for messages: `2023-01-31` or `2023-01-31 13:00:00`.
    pub fn format(self, t: i64) -> String {
        match self {
            Self::Date => epoch_day_to_date(t).to_string(),
            Self::Datetime { .. } => self.to_naive(t).to_string(),
        }
    }
}

const EPOCH: NaiveDate = match NaiveDate::from_ymd_opt(1970, 1, 1) {
    Some(d) => d,
    None => panic!("1970-01-01 is a valid date"),
};

pub fn epoch_day_to_date(days: i64) -> NaiveDate {
    EPOCH + chrono::Duration::days(days)
}

pub fn date_to_epoch_day(date: NaiveDate) -> i64 {
    (date - EPOCH).num_days()
}

/// A fixed calendar step.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Frequency {
    /// A whole number of seconds shorter than a day (`"1h"`, `"15min"`); needs a `Datetime` axis.
    Seconds(i64),
    /// A whole number of days (`"1d"`, `"1w"` is 7).
    Days(i64),
    /// A whole number of calendar months (`"1mo"`, `"1q"` is 3, `"1y"` is 12). A series dated on
    /// month ends stays on month ends.
    Months(i64),
}

/// The longest step `parse` takes, in days (a century).
const MAX_STEP_DAYS: i64 = 36_600;

impl Frequency {
    /// Parses `"<n><unit>"` with unit `s`, `m`/`min`, `h`, `d`, `w`, `mo`, `q`, `y` (n defaults
    /// to 1), and the pandas aliases `S`, `T`, `H`, `D`, `W` (`W-SUN`, ...), `M`/`ME`/`MS`,
    /// `Q`/`QE`/`QS`, `Y`/`YE`/`YS`/`A`/`AS`: the anchor (month start or end, week day) comes
    /// from the data's own dates.
    pub fn parse(text: &str) -> Result<Self> {
        let bad = |reason: &str| {
            CoreError::invalid_argument(
                "freq",
                format!(
                    "{reason} in {text:?}; expected <count><unit> with unit s, min, h, d, w, mo, \
                     q or y (e.g. \"1d\", \"1w\", \"1mo\", \"15min\"), or a pandas alias \
                     (D, W, MS, M, Q, Y, H)"
                ),
            )
        };
        let trimmed = text.trim();
        let split = trimmed
            .find(|c: char| !c.is_ascii_digit())
            .ok_or_else(|| bad("missing unit"))?;
        let (count, unit) = trimmed.split_at(split);
        let n: i64 = if count.is_empty() {
            1
        } else {
            count.parse().map_err(|_| bad("count out of range"))?
        };
        if n <= 0 {
            return Err(bad("count must be positive"));
        }
        // pandas anchors (`W-MON`, `QE-DEC`, `YS-JAN`): checked, then left to the data's dates.
        let (unit, anchor) = unit.split_once('-').unwrap_or((unit, ""));
        const WEEKDAYS: [&str; 7] = ["MON", "TUE", "WED", "THU", "FRI", "SAT", "SUN"];
        const MONTHS: [&str; 12] = [
            "JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC",
        ];
        let anchors: &[&str] = match unit {
            "W" => &WEEKDAYS,
            "Q" | "QE" | "QS" | "Y" | "YE" | "YS" | "A" | "AS" => &MONTHS,
            _ => &[],
        };
        if !anchor.is_empty() && !anchors.contains(&anchor) {
            return Err(bad(&format!("unknown anchor {anchor:?}")));
        }
        let (make, per_unit): (fn(i64) -> Self, i64) = match unit {
            "s" | "S" => (Self::Seconds, 1),
            "m" | "min" | "T" => (Self::Seconds, 60),
            "h" | "H" => (Self::Seconds, 3600),
            "d" | "D" => (Self::Days, 1),
            "w" | "W" => (Self::Days, 7),
            "mo" | "M" | "ME" | "MS" => (Self::Months, 1),
            "q" | "Q" | "QE" | "QS" => (Self::Months, 3),
            "y" | "Y" | "YE" | "YS" | "A" | "AS" => (Self::Months, 12),
            "B" | "C" => return Err(bad("business-day steps are not supported")),
            _ => return Err(bad(&format!("unknown unit {unit:?}"))),
        };
        // A step longer than a century is a typo, and times stepped by it would leave the
        // range a nanosecond time column holds.
        let freq = n
            .checked_mul(per_unit)
            .map(make)
            .filter(|f| f.within_a_century())
            .ok_or_else(|| bad("a step longer than a century"))?;
        if let Self::Seconds(s) = freq {
            if s % 86_400 == 0 {
                return Ok(Self::Days(s / 86_400));
            }
        }
        Ok(freq)
    }

    /// Periods in one season: a week of days (7), a year of weeks (52), of months (12) or of
    /// quarters (4), a day of sub-daily periods (24 hours); 1 when the step has no such cycle.
    pub fn season_length(self) -> usize {
        match self {
            Self::Seconds(s) if 86_400 % s == 0 => (86_400 / s) as usize,
            Self::Days(1) => 7,
            Self::Days(d) if 364 % d == 0 && d % 7 == 0 => (364 / d) as usize,
            Self::Months(m) if 12 % m == 0 => (12 / m) as usize,
            _ => 1,
        }
    }

    /// Periods in one year, counted in whole weeks for day-based steps (364 days keeps the
    /// weekday, which retail series follow more than the date); `None` for steps that do not
    /// divide a year.
    pub fn periods_per_year(self) -> Option<usize> {
        match self {
            Self::Seconds(s) if (364 * 86_400) % s == 0 => Some((364 * 86_400 / s) as usize),
            Self::Days(d) if 364 % d == 0 => Some((364 / d) as usize),
            Self::Months(m) if 12 % m == 0 => Some((12 / m) as usize),
            _ => None,
        }
    }

    /// Checks the step can be taken on this axis (sub-daily steps need `Datetime`).
    pub fn check_axis(self, axis: TimeAxis) -> Result<()> {
        match (self, axis) {
            (Self::Seconds(_), TimeAxis::Date) => Err(CoreError::invalid_argument(
                "freq",
                format!("{self} is shorter than a day but the time column has dtype Date"),
            )),
            _ => Ok(()),
        }
    }

    /// `t` moved by `k` steps.
    pub fn advance(self, t: i64, k: i64, axis: TimeAxis) -> i64 {
        match self {
            Self::Seconds(s) => match axis {
                TimeAxis::Datetime { ticks_per_second } => t + k * s * ticks_per_second,
                TimeAxis::Date => t + (k * s) / 86_400,
            },
            Self::Days(d) => t + k * d * axis.ticks_per_day(),
            Self::Months(m) => {
                let start = axis.to_naive(t);
                axis.from_naive(add_months(start, k * m))
            }
        }
    }

    /// `t` moved by `k` steps, or `None` when the result leaves years 1 to 9999 or what the
    /// axis' storage holds (a nanosecond time column ends in 2262).
    pub fn checked_advance(self, t: i64, k: i64, axis: TimeAxis) -> Option<i64> {
        let (first, last) = axis.bounds();
        self.advance_in_storage(t, k, axis)
            .filter(|moved| (first..=last).contains(moved))
    }

    fn advance_in_storage(self, t: i64, k: i64, axis: TimeAxis) -> Option<i64> {
        match self {
            Self::Seconds(s) => match axis {
                TimeAxis::Datetime { ticks_per_second } => {
                    t.checked_add(k.checked_mul(s)?.checked_mul(ticks_per_second)?)
                }
                TimeAxis::Date => t.checked_add(k.checked_mul(s)? / 86_400),
            },
            Self::Days(d) => t.checked_add(k.checked_mul(d)?.checked_mul(axis.ticks_per_day())?),
            Self::Months(m) => {
                let months = Months::new(u32::try_from(k.checked_mul(m)?.unsigned_abs()).ok()?);
                let start = axis.to_naive(t);
                let shifted = if k >= 0 {
                    start.checked_add_months(months)
                } else {
                    start.checked_sub_months(months)
                }?;
                // In range, so `advance` (which keeps month ends) does not overflow.
                axis.checked_from_naive(shifted)?;
                Some(self.advance(t, k, axis))
            }
        }
    }

    /// The number of whole steps from `a` to `b`, or `None` when `b` is not on `a`'s grid (or
    /// so far from `a` that the difference leaves the storage's range).
    pub fn steps_between(self, a: i64, b: i64, axis: TimeAxis) -> Option<i64> {
        match self {
            Self::Seconds(_) | Self::Days(_) => {
                let step = self.advance(0, 1, axis);
                let diff = b.checked_sub(a)?;
                (diff % step == 0).then_some(diff / step)
            }
            Self::Months(m) => {
                let (da, db) = (axis.to_naive(a), axis.to_naive(b));
                let months = (i64::from(db.year()) * 12 + i64::from(db.month0()))
                    - (i64::from(da.year()) * 12 + i64::from(da.month0()));
                (months % m == 0 && self.advance(a, months / m, axis) == b).then_some(months / m)
            }
        }
    }

    /// Infers the step from the most common gap between consecutive times of each series.
    /// `times` is sorted within each `[offsets[i], offsets[i+1])` block.
    pub fn infer(times: &[i64], offsets: &[usize], axis: TimeAxis) -> Result<Self> {
        let freq = Self::most_common_step(times, offsets, axis).ok_or_else(|| {
            CoreError::invalid_argument(
                "freq",
                "cannot infer the frequency: no series has two distinct times; pass freq",
            )
        })?;
        if !freq.within_a_century() {
            return Err(CoreError::invalid_argument(
                "freq",
                format!(
                    "cannot infer the frequency: the most common gap between a series' times is \
                     {freq}, longer than a century; check the time column, or pass freq"
                ),
            ));
        }
        Ok(freq)
    }

    /// The step of the most common gap between consecutive times of each series, however long;
    /// `None` when no series has two distinct times.
    pub(crate) fn most_common_step(
        times: &[i64],
        offsets: &[usize],
        axis: TimeAxis,
    ) -> Option<Self> {
        let mut counts: HashMap<i64, usize> = HashMap::new();
        for w in offsets.windows(2) {
            for pair in times[w[0]..w[1]].windows(2) {
                match pair[1].checked_sub(pair[0]) {
                    Some(gap) if gap > 0 => *counts.entry(gap).or_default() += 1,
                    _ => {}
                }
            }
        }
        let gap = counts
            .into_iter()
            .max_by_key(|&(gap, n)| (n, std::cmp::Reverse(gap)))
            .map(|(gap, _)| gap)?;
        let per_day = axis.ticks_per_day();
        Some(if gap % per_day != 0 {
            let ticks_per_second = per_day / 86_400;
            Self::Seconds((gap / ticks_per_second).max(1))
        } else {
            match gap / per_day {
                28..=31 => Self::Months(1),
                89..=92 => Self::Months(3),
                365 | 366 => Self::Months(12),
                d => Self::Days(d),
            }
        })
    }

    /// Whether the step is at most a century long, as every step `parse` accepts.
    pub(crate) fn within_a_century(self) -> bool {
        match self {
            Self::Seconds(s) => s <= MAX_STEP_DAYS * 86_400,
            Self::Days(d) => d <= MAX_STEP_DAYS,
            Self::Months(m) => m <= 1_200,
        }
    }
}

impl fmt::Display for Frequency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Self::Seconds(s) if s % 3600 == 0 => write!(f, "{}h", s / 3600),
            Self::Seconds(s) if s % 60 == 0 => write!(f, "{}min", s / 60),
            Self::Seconds(s) => write!(f, "{s}s"),
            Self::Days(d) if d % 7 == 0 => write!(f, "{}w", d / 7),
            Self::Days(d) => write!(f, "{d}d"),
            Self::Months(m) => write!(f, "{m}mo"),
        }
    }
}

fn is_month_end(d: NaiveDate) -> bool {
    d.succ_opt().is_none_or(|next| next.month() != d.month())
}

/// Adds calendar months; the day is clamped to the month's length, and a month-end stays a
/// month-end (Jan 31 + 1 month = Feb 28, Feb 28 + 1 month = Mar 31 when Feb 28 is month end).
fn add_months(d: NaiveDateTime, k: i64) -> NaiveDateTime {
    let date = d.date();
    let month_end = is_month_end(date);
    let shifted = if k >= 0 {
        date.checked_add_months(Months::new(k as u32))
    } else {
        date.checked_sub_months(Months::new((-k) as u32))
    }
    .unwrap_or(date);
    let shifted = if month_end {
        last_day_of_month(shifted.year(), shifted.month())
    } else {
        shifted
    };
    shifted.and_time(d.time())
}

fn last_day_of_month(year: i32, month: u32) -> NaiveDate {
    let (ny, nm) = if month == 12 {
        (year + 1, 1)
    } else {
        (year, month + 1)
    };
    NaiveDate::from_ymd_opt(ny, nm, 1)
        .and_then(|d| d.pred_opt())
        .unwrap_or(NaiveDate::MIN)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(y: i32, m: u32, d: u32) -> i64 {
        date_to_epoch_day(NaiveDate::from_ymd_opt(y, m, d).unwrap())
    }

    #[test]
    fn parses_units() {
        assert_eq!(Frequency::parse("1d").unwrap(), Frequency::Days(1));
        assert_eq!(Frequency::parse("w").unwrap(), Frequency::Days(7));
        assert_eq!(Frequency::parse("1mo").unwrap(), Frequency::Months(1));
        assert_eq!(Frequency::parse("1q").unwrap(), Frequency::Months(3));
        assert_eq!(Frequency::parse("2h").unwrap(), Frequency::Seconds(7200));
        assert_eq!(Frequency::parse("24h").unwrap(), Frequency::Days(1));
        assert!(Frequency::parse("0d").is_err());
        assert!(Frequency::parse("1x").is_err());
        assert!(Frequency::parse("").is_err());
        // pandas aliases: the anchor comes from the data.
        assert_eq!(Frequency::parse("W").unwrap(), Frequency::Days(7));
        assert_eq!(Frequency::parse("W-MON").unwrap(), Frequency::Days(7));
        assert_eq!(Frequency::parse("MS").unwrap(), Frequency::Months(1));
        assert_eq!(Frequency::parse("M").unwrap(), Frequency::Months(1));
        assert_eq!(Frequency::parse("D").unwrap(), Frequency::Days(1));
        assert_eq!(Frequency::parse("15min").unwrap(), Frequency::Seconds(900));
        assert!(Frequency::parse("B").is_err());
        assert_eq!(Frequency::parse("QE-DEC").unwrap(), Frequency::Months(3));
        assert_eq!(Frequency::parse("YS-JAN").unwrap(), Frequency::Months(12));
        assert!(Frequency::parse("W-FOO").is_err());
        assert!(Frequency::parse("D-MON").is_err());
        assert_eq!(Frequency::parse("15T").unwrap().to_string(), "15min");
        // Found by the `validate` fuzz target: the count times the unit overflowed.
        for huge in [
            "1111111111111111111A",
            "9223372036854775807W",
            "36601d",
            "101y",
        ] {
            let error = Frequency::parse(huge).unwrap_err().to_string();
            assert!(error.contains("longer than a century"), "{huge}: {error}");
        }
        assert_eq!(Frequency::parse("100y").unwrap(), Frequency::Months(1_200));
    }

    #[test]
    fn steps_past_the_storage_range_are_none_not_wrapped() {
        let ns = TimeAxis::Datetime {
            ticks_per_second: 1_000_000_000,
        };
        let t = 1_704_067_200_000_000_000; // 2024-01-01 in nanoseconds
        let day = Frequency::Days(1);
        assert_eq!(day.checked_advance(t, 10, ns), Some(day.advance(t, 10, ns)));
        assert_eq!(day.checked_advance(t, 100_000, ns), None); // past 2262
        let century = Frequency::Months(1_200);
        assert_eq!(century.checked_advance(t, 3, ns), None);
        let month = Frequency::Months(1);
        assert_eq!(
            month.checked_advance(t, 2, ns),
            Some(month.advance(t, 2, ns))
        );
        let last_day = date_to_epoch_day(NaiveDate::from_ymd_opt(9999, 12, 31).unwrap());
        assert_eq!(
            day.checked_advance(last_day - 1, 1, TimeAxis::Date),
            Some(last_day)
        );
        assert_eq!(day.checked_advance(last_day, 1, TimeAxis::Date), None);
        assert_eq!(month.checked_advance(0, -1970 * 12, TimeAxis::Date), None); // year 0
        let us = TimeAxis::Datetime {
            ticks_per_second: 1_000_000,
        };
        assert_eq!(us.bounds().1, (last_day + 1) * 86_400_000_000 - 1);
        let first_day = date_to_epoch_day(NaiveDate::from_ymd_opt(1, 1, 1).unwrap());
        assert_eq!(TimeAxis::Date.bounds(), (first_day, last_day));
        assert_eq!(us.bounds().0, first_day * 86_400_000_000);
        assert_eq!(ns.bounds(), (i64::MIN, i64::MAX));
        // A placeholder at the storage's minimum beside 2024: not a whole number of steps.
        assert_eq!(day.steps_between(i64::MIN + 1, t, ns), None);
        let inferred = Frequency::infer(&[i64::MIN + 1, t, t + 86_400_000_000_000], &[0, 3], ns);
        assert_eq!(inferred.unwrap(), Frequency::Days(1));
        // Two rows two centuries apart: no step to suggest.
        let apart = Frequency::infer(&[0, 73_050], &[0, 2], TimeAxis::Date).unwrap_err();
        assert!(
            apart
                .to_string()
                .contains("is 73050d, longer than a century"),
            "{apart}"
        );
    }

    #[test]
    fn seasons_follow_the_step() {
        let season = |f: &str| Frequency::parse(f).unwrap().season_length();
        assert_eq!(
            [
                season("1d"),
                season("1w"),
                season("2w"),
                season("1mo"),
                season("1q")
            ],
            [7, 52, 26, 12, 4]
        );
        assert_eq!(
            [season("1h"), season("15min"), season("1y"), season("3d")],
            [24, 96, 1, 1]
        );
        let year = |f: &str| Frequency::parse(f).unwrap().periods_per_year();
        assert_eq!(
            [year("1d"), year("1w"), year("1mo"), year("1q"), year("1h")],
            [Some(364), Some(52), Some(12), Some(4), Some(8736)]
        );
        assert_eq!([year("5d"), year("5mo")], [None, None]);
    }

    #[test]
    fn months_keep_month_ends() {
        let f = Frequency::Months(1);
        let jan31 = day(2023, 1, 31);
        assert_eq!(f.advance(jan31, 1, TimeAxis::Date), day(2023, 2, 28));
        assert_eq!(f.advance(jan31, 2, TimeAxis::Date), day(2023, 3, 31));
        assert_eq!(
            f.steps_between(jan31, day(2023, 4, 30), TimeAxis::Date),
            Some(3)
        );
        assert_eq!(
            f.steps_between(jan31, day(2023, 4, 29), TimeAxis::Date),
            None
        );
    }

    #[test]
    fn infers_common_steps() {
        let daily: Vec<i64> = (0..10).collect();
        assert_eq!(
            Frequency::infer(&daily, &[0, 10], TimeAxis::Date).unwrap(),
            Frequency::Days(1)
        );
        let monthly: Vec<i64> = (0..6)
            .map(|k| Frequency::Months(1).advance(day(2022, 1, 1), k, TimeAxis::Date))
            .collect();
        assert_eq!(
            Frequency::infer(&monthly, &[0, 6], TimeAxis::Date).unwrap(),
            Frequency::Months(1)
        );
        assert!(Frequency::infer(&[5], &[0, 1], TimeAxis::Date).is_err());
    }
}
