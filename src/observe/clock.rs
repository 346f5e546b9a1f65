//! The `Date` header value, formatted once per second per core instead of
//! once per response (RFC 9110 §5.6.7 IMF-fixdate).

use std::cell::{Cell, RefCell};
use std::time::{SystemTime, UNIX_EPOCH};

/// Length of an IMF-fixdate: `Sun, 06 Nov 1994 08:49:37 GMT`.
pub const DATE_LEN: usize = 29;

/// A per-core cache of the formatted current date.
#[derive(Debug)]
pub struct DateCache {
    second: Cell<u64>,
    text: RefCell<[u8; DATE_LEN]>,
}

impl Default for DateCache {
    fn default() -> Self {
        let cache = DateCache {
            second: Cell::new(u64::MAX),
            text: RefCell::new([b' '; DATE_LEN]),
        };
        cache.refresh();
        cache
    }
}

impl DateCache {
    /// Re-read the system clock and reformat when the second changed. Called
    /// by the worker's housekeeping tick, not per request.
    pub fn refresh(&self) {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        if now != self.second.get() {
            self.second.set(now);
            *self.text.borrow_mut() = format_imf_fixdate(now);
        }
    }

    /// Copy the current date's text out (so no borrow is held across an await).
    pub fn copy_to(&self, out: &mut [u8; DATE_LEN]) {
        *out = *self.text.borrow();
    }

    /// Append the current date's text to `out`.
    pub fn write(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&*self.text.borrow());
    }
}

/// Format seconds since the Unix epoch as an IMF-fixdate.
pub fn format_imf_fixdate(secs: u64) -> [u8; DATE_LEN] {
    const DAYS: [&[u8; 3]; 7] = [b"Thu", b"Fri", b"Sat", b"Sun", b"Mon", b"Tue", b"Wed"];
    const MONTHS: [&[u8; 3]; 12] = [
        b"Jan", b"Feb", b"Mar", b"Apr", b"May", b"Jun", b"Jul", b"Aug", b"Sep", b"Oct", b"Nov",
        b"Dec",
    ];
    let days = secs / 86_400;
    let rem = secs % 86_400;
    let (year, month, day) = civil_from_days(days as i64);
    let mut out = [0u8; DATE_LEN];
    out[..3].copy_from_slice(DAYS[(days % 7) as usize]);
    out[3..5].copy_from_slice(b", ");
    two(&mut out[5..7], day);
    out[7] = b' ';
    out[8..11].copy_from_slice(MONTHS[(month - 1) as usize]);
    out[11] = b' ';
    let y = year as u32;
    out[12] = b'0' + (y / 1000 % 10) as u8;
    out[13] = b'0' + (y / 100 % 10) as u8;
    two(&mut out[14..16], y % 100);
    out[16] = b' ';
    two(&mut out[17..19], (rem / 3600) as u32);
    out[19] = b':';
    two(&mut out[20..22], (rem / 60 % 60) as u32);
    out[22] = b':';
    two(&mut out[23..25], (rem % 60) as u32);
    out[25..].copy_from_slice(b" GMT");
    out
}

fn two(out: &mut [u8], v: u32) {
    out[0] = b'0' + (v / 10 % 10) as u8;
    out[1] = b'0' + (v % 10) as u8;
}

/// Days since 1970-01-01 to (year, month, day), Howard Hinnant's algorithm.
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_rfc9110_example() {
        // RFC 9110 §5.6.7: "Sun, 06 Nov 1994 08:49:37 GMT" is 784111777.
        assert_eq!(
            &format_imf_fixdate(784_111_777),
            b"Sun, 06 Nov 1994 08:49:37 GMT"
        );
    }

    #[test]
    fn formats_leap_day() {
        // 2024-02-29 00:00:00 UTC
        assert_eq!(
            &format_imf_fixdate(1_709_164_800),
            b"Thu, 29 Feb 2024 00:00:00 GMT"
        );
    }
}
