//! The compact latency histogram printed under the terminal report: a dozen lines of bars, enough
//! to see a second mode (a slow tail, a retry wave) that percentiles hide.

use std::io::{self, Write};

use hdrhistogram::Histogram;

use super::paint::Paint;

/// Buckets in the terminal histogram.
const BUCKETS: u64 = 10;
/// Width of the longest bar, in characters.
const WIDTH: u64 = 40;

/// One bucket: its upper bound (microseconds) and how many latencies fell in it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Bucket {
    pub upto_micros: u64,
    pub count: u64,
}

/// Equal-width buckets from the fastest to the slowest latency (one bucket when all are equal).
pub fn buckets(histogram: &Histogram<u64>) -> Vec<Bucket> {
    if histogram.is_empty() {
        return Vec::new();
    }
    let (low, high) = (histogram.min(), histogram.max());
    let n = if histogram.equivalent(low, high) {
        1
    } else {
        BUCKETS
    };
    let width = (high - low).div_ceil(n).max(1);
    let mut buckets: Vec<Bucket> = (1..=n)
        .map(|i| Bucket {
            upto_micros: (low + i * width).min(high),
            count: 0,
        })
        .collect();
    for value in histogram.iter_recorded() {
        let micros = histogram
            .highest_equivalent(value.value_iterated_to())
            .clamp(low, high);
        let at = ((micros - low) / width).min(n - 1) as usize;
        buckets[at].count += value.count_at_value();
    }
    buckets
}

/// Writes the histogram: `  41.9 ms  [  120] ■■■■■■■■`.
pub fn write(
    title: &str,
    histogram: &Histogram<u64>,
    paint: Paint,
    out: &mut dyn Write,
) -> io::Result<()> {
    let buckets = buckets(histogram);
    let Some(most) = buckets.iter().map(|b| b.count).max().filter(|&n| n > 0) else {
        return Ok(());
    };
    let count_width = most.to_string().len();
    writeln!(out, "{}", paint.bold(title))?;
    for bucket in buckets {
        let bar_len = (bucket.count * WIDTH).div_ceil(most);
        let bar = "■".repeat(bar_len as usize);
        let label = format!("{:>9.1} ms", bucket.upto_micros as f64 / 1000.0);
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
        let buckets = buckets(&h);
        assert!(buckets.len() <= BUCKETS as usize + 1);
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
