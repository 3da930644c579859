//! A record's times written as serde_json writes them, without its float formatter where that
//! is not needed.
//!
//! Every time a record holds is a whole number of microseconds (milliseconds to three places)
//! or of nanoseconds (seconds to nine): for such a value the shortest decimal that reads back as
//! the same `f64`, which serde_json writes, is that number of units with the point put in and
//! trailing zeros dropped. Writing those digits two at a time costs less than the general
//! shortest-digits search; any value this cannot prove is written by serde_json.

use std::io::{self, Write};

/// Writes `x` exactly as `serde_json::to_writer` would; fast when `x` is a whole number of
/// `10^-places` (`places` is 3 or 9).
pub(crate) fn write_f64(out: &mut impl Write, x: f64, places: u32) -> io::Result<()> {
    match units(x, places) {
        Some(units) => write_units(out, units, places),
        None => Ok(serde_json::to_writer(out, &x)?),
    }
}

/// `x` as a number of `10^-places` units, when the decimal they spell is the shortest one that
/// reads back as `x`: the units' quotient rounds to `x` (one correctly rounded division of two
/// exact values), and the grid of `10^-places` is coarser than the `f64`s around `x` there, so
/// no other decimal of as few digits rounds to it. Within `[0.001, 1e9)` serde_json writes no
/// exponent.
fn units(x: f64, places: u32) -> Option<u64> {
    let scale = match places {
        3 => 1e3,
        9 => 1e9,
        _ => return None,
    };
    if !(1e-3..1e9).contains(&x) {
        return None;
    }
    let scaled = x * scale;
    // Below 2^52 units every integer is exact and the f64 spacing is under one unit.
    if scaled >= 4_503_599_627_370_496.0 {
        return None;
    }
    // Truncation after adding a half rounds to the nearest unit; the check below decides.
    let units = (scaled + 0.5) as u64;
    ((units as f64) / scale == x).then_some(units)
}

/// "00" to "99".
const PAIRS: &[u8; 200] = b"\
    0001020304050607080910111213141516171819\
    2021222324252627282930313233343536373839\
    4041424344454647484950515253545556575859\
    6061626364656667686970717273747576777879\
    8081828384858687888990919293949596979899";

/// `units` with the point `places` digits from the right and the fraction's trailing zeros
/// dropped (one kept), in one write.
fn write_units(out: &mut impl Write, units: u64, places: u32) -> io::Result<()> {
    const POINT: usize = 20;
    let divisor = 10u64.pow(places);
    let (mut whole, mut fraction) = (units / divisor, units % divisor);
    let mut text = [b'0'; 32];
    text[POINT] = b'.';
    // The whole part, right to left, ending before the point.
    let mut start = POINT;
    while whole >= 100 {
        start -= 2;
        put_pair(&mut text, start, whole % 100);
        whole /= 100;
    }
    if whole >= 10 {
        start -= 2;
        put_pair(&mut text, start, whole);
    } else {
        start -= 1;
        text[start] = b'0' + whole as u8;
    }
    // The fraction without its trailing zeros, right to left; the buffer's zeros pad it.
    let mut digits = places as usize;
    while fraction % 10 == 0 && digits > 1 {
        fraction /= 10;
        digits -= 1;
    }
    let end = POINT + 1 + digits;
    let mut at = end;
    while fraction >= 10 {
        at -= 2;
        put_pair(&mut text, at, fraction % 100);
        fraction /= 100;
    }
    if fraction > 0 {
        text[at - 1] = b'0' + fraction as u8;
    }
    out.write_all(&text[start..end])
}

fn put_pair(text: &mut [u8; 32], at: usize, pair: u64) {
    let from = pair as usize * 2;
    text[at..at + 2].copy_from_slice(&PAIRS[from..from + 2]);
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use proptest::prelude::*;

    use super::*;

    fn fast(x: f64, places: u32) -> String {
        let mut out = Vec::new();
        write_f64(&mut out, x, places).expect("written");
        String::from_utf8(out).expect("text")
    }

    fn serde(x: f64) -> String {
        serde_json::to_string(&x).expect("written")
    }

    #[test]
    fn writes_what_serde_json_writes() {
        let ms = [
            0.0,
            0.001,
            0.009,
            0.01,
            0.1,
            0.25,
            1.0,
            10.0,
            41.5,
            41.501,
            62.193,
            77.716,
            100.0,
            1000.0,
            123_456.789,
            999_999_999.999,
            1e9,
            1e12,
            -1.0,
            0.0005,
        ];
        for x in ms {
            assert_eq!(fast(x, 3), serde(x), "{x}");
        }
        for nanos in [
            1u64,
            999,
            1_000,
            11_972_991,
            32_198_350,
            109_914_652,
            1_000_000_000,
        ] {
            let x = Duration::from_nanos(nanos * 7).as_secs_f64();
            assert_eq!(fast(x, 9), serde(x), "{x}");
        }
        assert_eq!(fast(f64::NAN, 3), serde(f64::NAN));
        assert_eq!(fast(41.5, 3), "41.5");
        assert_eq!(fast(62.0, 3), "62.0");
    }

    proptest! {
        #[test]
        fn milliseconds_as_serde_json_writes_them(micros in 0u64..100_000_000_000) {
            let x = Duration::from_micros(micros).as_micros() as f64 / 1000.0;
            prop_assert_eq!(fast(x, 3), serde(x));
        }

        #[test]
        fn seconds_as_serde_json_writes_them(nanos in 0u64..10_000_000_000_000) {
            let x = Duration::from_nanos(nanos).as_secs_f64();
            prop_assert_eq!(fast(x, 9), serde(x));
        }

        #[test]
        fn any_float_as_serde_json_writes_it(bits in any::<u64>(), places in prop::sample::select(vec![3u32, 9])) {
            let x = f64::from_bits(bits);
            prop_assert_eq!(fast(x, places), serde(x));
        }
    }
}
