//! China Standard Time (UTC+8, no daylight saving), in which the scheme judges every
//! date: a year of enrollment, an admission day, "not in the future". Stored times stay
//! UTC; this is only how a moment maps to the scheme's calendar.

use chrono::{DateTime, FixedOffset, NaiveDate, NaiveDateTime, Offset, Utc};

/// UTC+8.
pub fn offset() -> FixedOffset {
    // 8 hours is well inside FixedOffset's range: the fallback is never taken.
    FixedOffset::east_opt(8 * 3600).unwrap_or_else(|| Utc.fix())
}

/// The scheme's calendar day of a moment.
pub fn date_of(at: DateTime<Utc>) -> NaiveDate {
    at.with_timezone(&offset()).date_naive()
}

/// The scheme's calendar day of a stored (naive UTC) time.
pub fn date_of_stored(at: NaiveDateTime) -> NaiveDate {
    date_of(at.and_utc())
}

/// The stored (naive UTC) time of a wall-clock time in China.
pub fn to_utc(local: NaiveDateTime) -> NaiveDateTime {
    local - chrono::TimeDelta::hours(8)
}

/// The wall-clock time in China of a stored (naive UTC) time.
pub fn from_utc(at: NaiveDateTime) -> NaiveDateTime {
    at + chrono::TimeDelta::hours(8)
}

/// Today in China.
pub fn today() -> NaiveDate {
    date_of(Utc::now())
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn the_day_turns_at_sixteen_hundred_utc() {
        let before = DateTime::parse_from_rfc3339("2026-12-31T15:59:59Z").unwrap().to_utc();
        let after = DateTime::parse_from_rfc3339("2026-12-31T16:00:00Z").unwrap().to_utc();
        assert_eq!(date_of(before), NaiveDate::from_ymd_opt(2026, 12, 31).unwrap());
        assert_eq!(date_of(after), NaiveDate::from_ymd_opt(2027, 1, 1).unwrap());
        assert_eq!(date_of_stored(after.naive_utc()), NaiveDate::from_ymd_opt(2027, 1, 1).unwrap());
        let local = NaiveDate::from_ymd_opt(2027, 1, 1).unwrap().and_hms_opt(0, 0, 0).unwrap();
        assert_eq!(to_utc(local), after.naive_utc());
        assert_eq!(from_utc(to_utc(local)), local);
    }
}
