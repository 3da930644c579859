//! Units people read: byte counts in decimal units and milliseconds, shared by the terminal and
//! HTML reports, and wall-clock times as RFC 3339 for the JSON report.

use std::fmt::Write;
use std::time::{Duration, UNIX_EPOCH};

/// Bytes in decimal units: `999 B`, `34.7 MB`.
pub fn bytes(n: u64) -> String {
    const UNITS: [&str; 4] = ["B", "kB", "MB", "GB"];
    let mut value = n as f64;
    let mut unit = 0;
    while value >= 1000.0 && unit + 1 < UNITS.len() {
        value /= 1000.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{n} B")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

/// Milliseconds, to a tenth, or to the microsecond below one: `41.3 ms`, `0.412 ms` (a tenth
/// would make a loopback run's latencies read `0.4 ms` or `0.0 ms`).
pub fn ms(x: f64) -> String {
    if x < 1.0 {
        format!("{x:.3} ms")
    } else {
        format!("{x:.1} ms")
    }
}

/// Unix seconds as RFC 3339 in UTC to the millisecond: `2023-11-14T22:13:20.123Z`.
///
/// Rounded to the millisecond first: the float nearest `…20.123` may be `…20.12299`, which the
/// formatter alone would truncate to `.122`. Out-of-range input is clamped (to the epoch, or to
/// the last millisecond of year 9999, beyond which RFC 3339 has no four-digit year).
pub fn rfc3339(unix_s: f64) -> String {
    const LAST_MS: u64 = 253_402_300_800_000 - 1;
    // `as` saturates: NaN and negatives become 0.
    let millis = ((unix_s * 1000.0).round() as u64).min(LAST_MS);
    let mut text = String::with_capacity(24);
    let _ = write!(
        text,
        "{}",
        humantime::format_rfc3339_millis(UNIX_EPOCH + Duration::from_millis(millis))
    );
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_in_utc_to_the_rounded_millisecond() {
        assert_eq!(rfc3339(1_700_000_000.123), "2023-11-14T22:13:20.123Z");
        assert_eq!(rfc3339(1_700_000_000.123_6), "2023-11-14T22:13:20.124Z");
        assert_eq!(rfc3339(1_700_000_000.0), "2023-11-14T22:13:20.000Z");
        assert_eq!(rfc3339(1_700_000_059.999_9), "2023-11-14T22:14:20.000Z");
        assert_eq!(rfc3339(-5.0), "1970-01-01T00:00:00.000Z");
        assert_eq!(rfc3339(f64::NAN), "1970-01-01T00:00:00.000Z");
        assert_eq!(rfc3339(f64::INFINITY), "9999-12-31T23:59:59.999Z");
    }

    #[test]
    fn milliseconds_to_a_tenth_or_below_one_to_the_microsecond() {
        assert_eq!(ms(41.26), "41.3 ms");
        assert_eq!(ms(1.0), "1.0 ms");
        assert_eq!(ms(0.4123), "0.412 ms");
        assert_eq!(ms(0.0), "0.000 ms");
    }

    #[test]
    fn byte_units() {
        assert_eq!(bytes(999), "999 B");
        assert_eq!(bytes(34_700_000), "34.7 MB");
    }
}
