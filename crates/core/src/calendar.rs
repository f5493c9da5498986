//! UTC calendar boundaries: clock hours, days, months and fiscal years.
//!
//! Costs accrue per UTC clock hour, allowances are credited at 00:00 UTC on
//! the 1st of each month, and cost history is bucketed by UTC hour, day and
//! month. Every function here saturates at the end of representable time
//! instead of panicking, so a loop that steps with them always ends.

use chrono::{DateTime, Datelike, NaiveDate, TimeDelta, Utc};

use crate::Timestamp;

/// One clock hour.
pub const HOUR: TimeDelta = TimeDelta::hours(1);

/// One calendar day (UTC has no daylight-saving days).
pub const DAY: TimeDelta = TimeDelta::days(1);

/// The last representable instant; stepping past it stays there.
pub const END_OF_TIME: Timestamp = DateTime::<Utc>::MAX_UTC;

/// 00:00:00 UTC on the 1st of `month` (1–12) of `year`, if representable.
pub fn month_start_of(year: i32, month: u32) -> Option<Timestamp> {
    NaiveDate::from_ymd_opt(year, month, 1)
        .and_then(|date| date.and_hms_opt(0, 0, 0))
        .map(|t| t.and_utc())
}

/// The start of the UTC clock hour containing `t`.
pub fn hour_start(t: Timestamp) -> Timestamp {
    let seconds = t.timestamp().div_euclid(3600) * 3600;
    DateTime::from_timestamp(seconds, 0).unwrap_or(t)
}

/// 00:00 UTC of the day containing `t`.
pub fn day_start(t: Timestamp) -> Timestamp {
    t.date_naive()
        .and_hms_opt(0, 0, 0)
        .map_or(t, |start| start.and_utc())
}

/// 00:00 UTC on the 1st of the month containing `t`.
pub fn month_start(t: Timestamp) -> Timestamp {
    month_start_of(t.year(), t.month()).unwrap_or(t)
}

/// The first hour boundary strictly after `t`.
pub fn next_hour(t: Timestamp) -> Timestamp {
    later(hour_start(t), HOUR)
}

/// The first day boundary (00:00 UTC) strictly after `t`.
pub fn next_day(t: Timestamp) -> Timestamp {
    later(day_start(t), DAY)
}

/// The first month boundary (00:00 UTC on a 1st) strictly after `t`.
pub fn next_month_start(t: Timestamp) -> Timestamp {
    let (year, month) = match t.month() {
        12 => (t.year().saturating_add(1), 1),
        month => (t.year(), month + 1),
    };
    month_start_of(year, month).unwrap_or(END_OF_TIME)
}

/// Whether `t` is 00:00:00 UTC on the 1st of a month.
pub fn is_month_start(t: Timestamp) -> bool {
    month_start(t) == t
}

/// `t + step`, or [`END_OF_TIME`] when that is not representable.
pub fn later(t: Timestamp, step: TimeDelta) -> Timestamp {
    t.checked_add_signed(step).unwrap_or(END_OF_TIME)
}

/// `t` minus `step`, or the earliest representable time if that is before
/// it.
pub fn earlier(t: Timestamp, step: TimeDelta) -> Timestamp {
    t.checked_sub_signed(step).unwrap_or(Timestamp::MIN_UTC)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn at(y: i32, mo: u32, d: u32, h: u32, mi: u32, s: u32) -> Timestamp {
        Utc.with_ymd_and_hms(y, mo, d, h, mi, s).unwrap()
    }

    #[test]
    fn boundaries_are_utc_hours_days_and_months() {
        let t = at(2026, 12, 31, 23, 59, 59) + TimeDelta::milliseconds(500);
        assert_eq!(hour_start(t), at(2026, 12, 31, 23, 0, 0));
        assert_eq!(day_start(t), at(2026, 12, 31, 0, 0, 0));
        assert_eq!(month_start(t), at(2026, 12, 1, 0, 0, 0));
        assert_eq!(next_hour(t), at(2027, 1, 1, 0, 0, 0));
        assert_eq!(next_day(t), at(2027, 1, 1, 0, 0, 0));
        assert_eq!(next_month_start(t), at(2027, 1, 1, 0, 0, 0));
        assert!(is_month_start(at(2027, 1, 1, 0, 0, 0)));
        assert!(!is_month_start(at(2027, 1, 1, 1, 0, 0)));
    }

    #[test]
    fn a_boundary_steps_to_the_next_one() {
        let h = at(2026, 2, 28, 23, 0, 0);
        assert_eq!(next_hour(h), at(2026, 3, 1, 0, 0, 0));
        assert_eq!(next_day(at(2026, 2, 28, 0, 0, 0)), at(2026, 3, 1, 0, 0, 0));
        assert_eq!(
            next_month_start(at(2026, 2, 1, 0, 0, 0)),
            at(2026, 3, 1, 0, 0, 0)
        );
    }

    #[test]
    fn stepping_saturates_at_the_end_of_time() {
        assert_eq!(next_hour(END_OF_TIME), END_OF_TIME);
        assert_eq!(next_month_start(END_OF_TIME), END_OF_TIME);
        assert_eq!(later(END_OF_TIME, DAY), END_OF_TIME);
        let before_epoch = at(1969, 12, 31, 23, 30, 0);
        assert_eq!(hour_start(before_epoch), at(1969, 12, 31, 23, 0, 0));
    }
}
