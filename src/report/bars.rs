//! The compact latency histogram printed under the terminal report: a dozen lines of bars, enough
//! to see a second mode (a slow tail, a retry wave) that percentiles hide.

use std::io::{self, Write};

use hdrhistogram::Histogram;

use super::buckets::buckets;
use super::paint::Paint;

/// Buckets in the terminal histogram (equal widths: a dozen lines read best linearly).
const BUCKETS: usize = 10;
/// Width of the longest bar, in characters.
const WIDTH: u64 = 40;

/// Writes the histogram: `  41.9 ms  [  120] ■■■■■■■■`.
pub fn write(
    title: &str,
    histogram: &Histogram<u64>,
    paint: Paint,
    out: &mut dyn Write,
) -> io::Result<()> {
    let (buckets, _) = buckets(histogram, BUCKETS, None);
    let Some(most) = buckets.iter().map(|b| b.count).max().filter(|&n| n > 0) else {
        return Ok(());
    };
    let count_width = most.to_string().len();
    writeln!(out, "{}", paint.bold(title))?;
    for bucket in buckets {
        let bar_len = (bucket.count * WIDTH).div_ceil(most);
        let bar = "■".repeat(bar_len as usize);
        let label = format!("{:>9.1} ms", bucket.to_ms);
        writeln!(
            out,
            "  {} [{:>count_width$}] {}",
            paint.dim(&label),
            bucket.count,
            paint.note(&bar)
        )?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::stats::empty_histogram;

    #[test]
    fn every_latency_lands_in_one_bucket() {
        let mut h = empty_histogram();
        for micros in [10_000u64, 10_500, 11_000, 40_000, 40_100, 90_000] {
            h.record(micros).expect("in range");
        }
        let (buckets, _) = buckets(&h, BUCKETS, None);
        assert!(buckets.len() <= BUCKETS + 1);
        assert_eq!(buckets.iter().map(|b| b.count).sum::<u64>(), 6);
        assert_eq!(buckets[0].count, 3);
        assert!(buckets.last().is_some_and(|b| b.count == 1));
    }

    #[test]
    fn one_value_makes_one_bar() {
        let mut h = empty_histogram();
        h.record(5_000).expect("in range");
        let mut out = Vec::new();
        write("latency", &h, Paint::plain(), &mut out).expect("write to memory");
        let text = String::from_utf8(out).expect("utf-8");
        assert_eq!(text.lines().count(), 2, "{text}");
        assert!(text.contains("[1] ■"), "{text}");
    }

    #[test]
    fn empty_histogram_prints_nothing() {
        let mut out = Vec::new();
        write("latency", &empty_histogram(), Paint::plain(), &mut out).expect("write to memory");
        assert!(out.is_empty());
    }
}
