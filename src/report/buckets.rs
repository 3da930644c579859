//! Latencies grouped into equal buckets for drawing, from a run's lossless histogram: the terminal
//! histogram and the HTML one draw from the same function.

use hdrhistogram::Histogram;

/// Latencies between two bounds, in milliseconds.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Bucket {
    pub from_ms: f64,
    pub to_ms: f64,
    pub count: u64,
}

/// `n` buckets between the fastest and the slowest latency (one when they are all the same), and
/// whether they are log-spaced: they are when `log_from` is given and the slowest is that many
/// times the fastest, so a slow tail keeps its own bars instead of squashing the bulk into one.
pub fn buckets(histogram: &Histogram<u64>, n: usize, log_from: Option<f64>) -> (Vec<Bucket>, bool) {
    let low = histogram.min() as f64 / 1000.0;
    let high = histogram.max() as f64 / 1000.0;
    if histogram.is_empty() || histogram.equivalent(histogram.min(), histogram.max()) {
        let only = Bucket {
            from_ms: low,
            to_ms: high.max(low + 0.001),
            count: histogram.len(),
        };
        return (vec![only], false);
    }
    let log = low > 0.0 && log_from.is_some_and(|spread| high / low >= spread);
    let edge = |i: usize| {
        let share = i as f64 / n as f64;
        if log {
            low * (high / low).powf(share)
        } else {
            low + (high - low) * share
        }
    };
    let mut buckets: Vec<Bucket> = (0..n)
        .map(|i| Bucket {
            from_ms: edge(i),
            to_ms: edge(i + 1),
            count: 0,
        })
        .collect();
    for value in histogram.iter_recorded() {
        let at = histogram.median_equivalent(value.value_iterated_to()) as f64 / 1000.0;
        let share = if log {
            (at / low).ln() / (high / low).ln()
        } else {
            (at - low) / (high - low)
        };
        let slot = ((share * n as f64).floor().max(0.0) as usize).min(n - 1);
        buckets[slot].count += value.count_at_value();
    }
    (buckets, log)
}
