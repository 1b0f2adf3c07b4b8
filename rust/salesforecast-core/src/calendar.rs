//! Holiday calendars. The US federal calendar is built in (with the observed-day rules the
//! Python `holidays` package uses); any other calendar is a list of dates.

use crate::freq::date_to_epoch_day;
use chrono::{Datelike, NaiveDate, Weekday};

/// The US federal holidays the generator and the calendar features know by name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UsHoliday {
    NewYear,
    MartinLutherKing,
    Washington,
    Memorial,
    Juneteenth,
    Independence,
    Labor,
    Columbus,
    Veterans,
    Thanksgiving,
    Christmas,
}

/// One holiday occurrence: the calendar date and, for fixed-date holidays on a weekend, the
/// weekday on which it is observed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Holiday {
    pub kind: UsHoliday,
    pub date: NaiveDate,
    pub observed: NaiveDate,
}

fn nth_weekday(year: i32, month: u32, weekday: Weekday, n: u8) -> NaiveDate {
    NaiveDate::from_weekday_of_month_opt(year, month, weekday, n).unwrap_or(NaiveDate::MIN)
}

fn last_weekday(year: i32, month: u32, weekday: Weekday) -> NaiveDate {
    NaiveDate::from_weekday_of_month_opt(year, month, weekday, 5)
        .unwrap_or_else(|| nth_weekday(year, month, weekday, 4))
}

fn fixed(year: i32, month: u32, day: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(year, month, day).unwrap_or(NaiveDate::MIN)
}

/// Saturday holidays are observed on Friday, Sunday holidays on Monday.
fn observed(date: NaiveDate) -> NaiveDate {
    match date.weekday() {
        Weekday::Sat => date.pred_opt().unwrap_or(date),
        Weekday::Sun => date.succ_opt().unwrap_or(date),
        _ => date,
    }
}

/// US federal holidays of one year.
pub fn us_holidays(year: i32) -> Vec<Holiday> {
    let mut out = Vec::with_capacity(11);
    let mut push_fixed = |kind, date| {
        out.push(Holiday {
            kind,
            date,
            observed: observed(date),
        })
    };
    push_fixed(UsHoliday::NewYear, fixed(year, 1, 1));
    if year >= 2021 {
        push_fixed(UsHoliday::Juneteenth, fixed(year, 6, 19));
    }
    push_fixed(UsHoliday::Independence, fixed(year, 7, 4));
    push_fixed(UsHoliday::Veterans, fixed(year, 11, 11));
    push_fixed(UsHoliday::Christmas, fixed(year, 12, 25));
    let floating = [
        (
            UsHoliday::MartinLutherKing,
            nth_weekday(year, 1, Weekday::Mon, 3),
        ),
        (UsHoliday::Washington, nth_weekday(year, 2, Weekday::Mon, 3)),
        (UsHoliday::Memorial, last_weekday(year, 5, Weekday::Mon)),
        (UsHoliday::Labor, nth_weekday(year, 9, Weekday::Mon, 1)),
        (UsHoliday::Columbus, nth_weekday(year, 10, Weekday::Mon, 2)),
        (
            UsHoliday::Thanksgiving,
            nth_weekday(year, 11, Weekday::Thu, 4),
        ),
    ];
    for (kind, date) in floating {
        out.push(Holiday {
            kind,
            date,
            observed: date,
        });
    }
    out.sort_by_key(|h| h.date);
    out
}

/// A sorted set of holiday dates (epoch days), including observed days.
#[derive(Debug, Clone, Default)]
pub struct HolidayCalendar {
    days: Vec<i64>,
}

impl HolidayCalendar {
    /// US federal holidays and their observed days for `first_year..=last_year`.
    pub fn us(first_year: i32, last_year: i32) -> Self {
        let days = (first_year..=last_year)
            .flat_map(us_holidays)
            .flat_map(|h| [h.date, h.observed])
            .map(date_to_epoch_day);
        Self::from_days(days)
    }

    /// Any calendar, from epoch days in any order.
    pub fn from_days(days: impl IntoIterator<Item = i64>) -> Self {
        let mut days: Vec<i64> = days.into_iter().collect();
        days.sort_unstable();
        days.dedup();
        Self { days }
    }

    pub fn contains(&self, day: i64) -> bool {
        self.days.binary_search(&day).is_ok()
    }

    /// Whether any holiday falls in `[start, end)`.
    pub fn any_in(&self, start: i64, end: i64) -> bool {
        let i = self.days.partition_point(|&d| d < start);
        self.days.get(i).is_some_and(|&d| d < end)
    }

    pub fn days(&self) -> &[i64] {
        &self.days
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_dates() {
        let h = us_holidays(2023);
        let find = |k| h.iter().find(|x| x.kind == k).unwrap();
        assert_eq!(find(UsHoliday::Thanksgiving).date, fixed(2023, 11, 23));
        assert_eq!(find(UsHoliday::Memorial).date, fixed(2023, 5, 29));
        assert_eq!(find(UsHoliday::MartinLutherKing).date, fixed(2023, 1, 16));
        // 2023-01-01 was a Sunday: observed Monday the 2nd.
        assert_eq!(find(UsHoliday::NewYear).observed, fixed(2023, 1, 2));
        // 2022-06-19 was a Sunday.
        let j = us_holidays(2022);
        let jt = j.iter().find(|x| x.kind == UsHoliday::Juneteenth).unwrap();
        assert_eq!(jt.observed, fixed(2022, 6, 20));
        assert!(!us_holidays(2020)
            .iter()
            .any(|x| x.kind == UsHoliday::Juneteenth));
    }

    #[test]
    fn calendar_lookup() {
        let cal = HolidayCalendar::us(2023, 2023);
        assert!(cal.contains(date_to_epoch_day(fixed(2023, 7, 4))));
        assert!(cal.contains(date_to_epoch_day(fixed(2023, 1, 2))));
        assert!(!cal.contains(date_to_epoch_day(fixed(2023, 7, 5))));
        let d = date_to_epoch_day(fixed(2023, 7, 1));
        assert!(cal.any_in(d, d + 7));
        assert!(!cal.any_in(d + 4, d + 30));
    }
}
