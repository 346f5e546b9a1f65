//! Quota periods in UTC: which day, week or month a moment belongs to, as
//! API Gateway counts them (`QuotaSettings`): a period starts at midnight
//! UTC; `offset` moves the start of a week (0 = Sunday … 6 = Saturday) or
//! of a month (0 = the 1st … 27 = the 28th); a day has no offset.
//!
//! Times are Unix seconds, days are days since 1970-01-01 (negative before).
//! Civil dates use the proleptic Gregorian calendar (Howard Hinnant's
//! `days_from_civil` / `civil_from_days`). Pure functions, no clock.

/// How long a quota counts before it starts again.
#[derive(Clone, Copy, Debug, PartialEq, Eq, rkyv::Archive, rkyv::Serialize, rkyv::Deserialize)]
pub enum Period {
    Day,
    Week,
    Month,
}

impl Period {
    pub fn as_str(self) -> &'static str {
        match self {
            Period::Day => "DAY",
            Period::Week => "WEEK",
            Period::Month => "MONTH",
        }
    }

    /// The largest offset the period takes.
    pub fn max_offset(self) -> u32 {
        match self {
            Period::Day => 0,
            Period::Week => 6,
            Period::Month => 27,
        }
    }
}

pub const DAY_SECS: i64 = 86_400;

/// The day (since 1970-01-01) of Unix time `t`.
pub fn day_of(t: i64) -> i64 {
    t.div_euclid(DAY_SECS)
}

/// The period that holds day `day`: `[start, end)` as days.
pub fn bounds(period: Period, offset: u32, day: i64) -> (i64, i64) {
    match period {
        Period::Day => (day, day + 1),
        Period::Week => {
            // 1970-01-01 was a Thursday (4 with Sunday = 0).
            let weekday = (day + 4).rem_euclid(7);
            let start = day - (weekday - i64::from(offset % 7)).rem_euclid(7);
            (start, start + 7)
        }
        Period::Month => {
            let first = i64::from(offset.min(27)) + 1;
            let (y, m, d) = civil_from_days(day);
            let (y, m) = if i64::from(d) >= first {
                (y, m)
            } else if m == 1 {
                (y - 1, 12)
            } else {
                (y, m - 1)
            };
            let (ny, nm) = if m == 12 { (y + 1, 1) } else { (y, m + 1) };
            (
                days_from_civil(y, m, first as u32),
                days_from_civil(ny, nm, first as u32),
            )
        }
    }
}

/// Days since 1970-01-01 of the civil date `y-m-d`.
pub fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = i64::from(m);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The civil date `(year, month, day)` of day `z` since 1970-01-01.
pub fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// `YYYY-MM-DD` of a day.
pub fn date(day: i64) -> String {
    let (y, m, d) = civil_from_days(day);
    format!("{y:04}-{m:02}-{d:02}")
}

/// The day of a `YYYY-MM-DD` date.
pub fn parse_date(text: &str) -> Option<i64> {
    let mut it = text.splitn(3, '-');
    let y: i64 = it.next()?.parse().ok()?;
    let m: u32 = it.next()?.parse().ok()?;
    let d: u32 = it.next()?.parse().ok()?;
    if text.len() != 10 || !(1..=12).contains(&m) || !(1..=31).contains(&d) {
        return None;
    }
    let day = days_from_civil(y, m, d);
    (civil_from_days(day) == (y, m, d)).then_some(day)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(s: &str) -> i64 {
        parse_date(s).unwrap()
    }

    #[test]
    fn civil_round_trip() {
        assert_eq!(day("1970-01-01"), 0);
        assert_eq!(day("2000-03-01"), 11_017);
        for z in (-800_000..800_000).step_by(7) {
            let (y, m, d) = civil_from_days(z);
            assert_eq!(days_from_civil(y, m, d), z);
        }
        assert_eq!(parse_date("2023-02-29"), None);
        assert_eq!(parse_date("2024-02-29"), Some(day("2024-02-29")));
        assert_eq!(date(day("2024-12-31")), "2024-12-31");
    }

    #[test]
    fn day_periods() {
        let t = day("2025-06-15") * DAY_SECS + 3600 * 23 + 59;
        assert_eq!(
            bounds(Period::Day, 0, day_of(t)),
            (day("2025-06-15"), day("2025-06-16"))
        );
        assert_eq!(day_of(-1), -1);
    }

    #[test]
    fn weeks_start_on_the_offset_weekday() {
        // 2025-06-15 is a Sunday.
        let sun = day("2025-06-15");
        assert_eq!(bounds(Period::Week, 0, sun), (sun, sun + 7));
        assert_eq!(bounds(Period::Week, 0, sun + 6), (sun, sun + 7));
        // Monday start: Sunday belongs to the week that began the Monday before.
        assert_eq!(bounds(Period::Week, 1, sun), (sun - 6, sun + 1));
        assert_eq!(bounds(Period::Week, 1, sun + 1), (sun + 1, sun + 8));
        assert_eq!(bounds(Period::Week, 4, 0), (0, 7)); // 1970-01-01, a Thursday
    }

    #[test]
    fn months_start_on_the_offset_day() {
        assert_eq!(
            bounds(Period::Month, 0, day("2024-02-29")),
            (day("2024-02-01"), day("2024-03-01"))
        );
        assert_eq!(
            bounds(Period::Month, 0, day("2024-12-31")),
            (day("2024-12-01"), day("2025-01-01"))
        );
        // Offset 14: from the 15th to the 15th.
        assert_eq!(
            bounds(Period::Month, 14, day("2025-01-10")),
            (day("2024-12-15"), day("2025-01-15"))
        );
        assert_eq!(
            bounds(Period::Month, 14, day("2025-01-15")),
            (day("2025-01-15"), day("2025-02-15"))
        );
        assert_eq!(
            bounds(Period::Month, 27, day("2025-02-27")),
            (day("2025-01-28"), day("2025-02-28"))
        );
    }
}
