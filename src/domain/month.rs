//! A calendar month of the scheme, written `yyyy-MM`: the period of a public
//! disclosure and the rows of a fund summary. Months are China Standard Time months
//! (see [`super::china_time`]): a moment stored in UTC belongs to the month of its
//! day in China.

use std::fmt;

use chrono::{Datelike, NaiveDate, NaiveDateTime};

use super::china_time;

/// The first year of the scheme (NCMS began in 2003): no month before it is one.
pub const FIRST_YEAR: i32 = 2003;

/// A month: a year from [`FIRST_YEAR`] to 9998 and a month 1 to 12.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Month {
    year: i32,
    month: u32,
}

/// Why a month was refused: code `month_invalid`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, thiserror::Error)]
pub enum MonthError {
    /// Not four digits, `-`, two digits, with a month 01 to 12.
    #[error("a month is written yyyy-MM, e.g. 2026-05")]
    Malformed,
    /// Before the scheme began, or too far on to have a next month.
    #[error("a month from 2003-01 on")]
    OutOfRange,
}

impl MonthError {
    /// The stable machine-readable code shown to clients.
    pub fn code(&self) -> &'static str {
        "month_invalid"
    }
}

impl Month {
    /// Parses exactly `yyyy-MM` (no spaces, no other separator, two-digit month).
    pub fn parse(text: &str) -> Result<Month, MonthError> {
        let bytes = text.as_bytes();
        let digits = |range: std::ops::Range<usize>| {
            bytes.get(range).filter(|d| d.iter().all(u8::is_ascii_digit)).and_then(|d| std::str::from_utf8(d).ok())
        };
        let (Some(year), Some(b'-'), Some(month), 7) = (digits(0..4), bytes.get(4), digits(5..7), bytes.len()) else {
            return Err(MonthError::Malformed);
        };
        let (Ok(year), Ok(month)) = (year.parse::<i32>(), month.parse::<u32>()) else {
            return Err(MonthError::Malformed);
        };
        if !(1..=12).contains(&month) {
            return Err(MonthError::Malformed);
        }
        if !(FIRST_YEAR..=9998).contains(&year) {
            return Err(MonthError::OutOfRange);
        }
        Ok(Month { year, month })
    }

    /// The month of a calendar day.
    pub fn of(date: NaiveDate) -> Month {
        Month { year: date.year(), month: date.month() }
    }

    /// The month in China of a stored (naive UTC) time.
    pub fn of_stored(at: NaiveDateTime) -> Month {
        Month::of(china_time::date_of_stored(at))
    }

    pub fn year(self) -> i32 {
        self.year
    }

    /// 1 to 12.
    pub fn month(self) -> u32 {
        self.month
    }

    /// The first day of the month.
    pub fn first_day(self) -> NaiveDate {
        // Every Month holds a valid year and month, so the day exists; the fallback
        // is never taken.
        NaiveDate::from_ymd_opt(self.year, self.month, 1).unwrap_or_default()
    }

    /// The month after this one.
    pub fn next(self) -> Month {
        if self.month == 12 { Month { year: self.year + 1, month: 1 } } else { Month { month: self.month + 1, ..self } }
    }

    /// The last day of the month.
    pub fn last_day(self) -> NaiveDate {
        self.next().first_day().pred_opt().unwrap_or_default()
    }

    /// The month as stored times: from its first moment in China (inclusive) to the
    /// first moment of the next month (exclusive), both naive UTC.
    pub fn stored_range(self) -> (NaiveDateTime, NaiveDateTime) {
        let start = |m: Month| china_time::to_utc(m.first_day().and_time(chrono::NaiveTime::MIN));
        (start(self), start(self.next()))
    }
}

impl fmt::Display for Month {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04}-{:02}", self.year, self.month)
    }
}

impl serde::Serialize for Month {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn date(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).unwrap()
    }

    #[test]
    fn months_are_read_exactly_as_yyyy_mm() {
        let may = Month::parse("2026-05").unwrap();
        assert_eq!((may.year(), may.month(), may.to_string()), (2026, 5, "2026-05".to_string()));
        assert_eq!(Month::parse("2003-01").unwrap().to_string(), "2003-01");
        for bad in [
            "",
            "2026-5",
            "2026-13",
            "2026-00",
            "202605",
            "2026/05",
            " 2026-05",
            "2026-05 ",
            "2026-05-01",
            "２０２６-05",
        ] {
            assert_eq!(Month::parse(bad), Err(MonthError::Malformed), "{bad:?}");
        }
        assert_eq!(Month::parse("2002-12"), Err(MonthError::OutOfRange));
        assert_eq!(Month::parse("9999-01"), Err(MonthError::OutOfRange));
        assert_eq!(MonthError::Malformed.code(), "month_invalid");
    }

    #[test]
    fn a_month_runs_from_its_first_moment_in_china() {
        let may = Month::parse("2026-05").unwrap();
        let (from, to) = may.stored_range();
        assert_eq!(from, date(2026, 4, 30).and_hms_opt(16, 0, 0).unwrap());
        assert_eq!(to, date(2026, 5, 31).and_hms_opt(16, 0, 0).unwrap());
        assert_eq!(Month::of_stored(from), may);
        assert_eq!(Month::of_stored(from - chrono::TimeDelta::seconds(1)), Month::parse("2026-04").unwrap());
        assert_eq!(Month::of_stored(to), Month::parse("2026-06").unwrap());
        assert_eq!(may.last_day(), date(2026, 5, 31));
        let december = Month::parse("2026-12").unwrap();
        assert_eq!(december.next(), Month::parse("2027-01").unwrap());
        assert_eq!(december.last_day(), date(2026, 12, 31));
        assert_eq!(Month::parse("2028-02").unwrap().last_day(), date(2028, 2, 29));
        assert!(december < december.next());
    }

    proptest! {
        #[test]
        fn every_day_lies_in_its_month(days in 0i64..40_000) {
            let day = date(2003, 1, 1) + chrono::TimeDelta::days(days);
            let month = Month::of(day);
            prop_assert!(month.first_day() <= day && day <= month.last_day());
            prop_assert_eq!(Month::parse(&month.to_string()), Ok(month));
            let noon = china_time::to_utc(day.and_hms_opt(12, 0, 0).unwrap());
            let (from, to) = month.stored_range();
            prop_assert!(from <= noon && noon < to);
        }
    }
}
