//! The run over time: one bucket per second of the run (requests, errors, bytes, p50, p99), for
//! plots and for seeing a server degrade while a run goes on.
//!
//! Each second keeps a coarse histogram (2 significant digits, u32 counts: about 2 KB), so an
//! hour-long run costs a few megabytes, not one histogram's worth of memory per second.

use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};

use crate::record::Record;

/// Longest latency a per-second histogram tracks exactly: one minute, in microseconds.
const MAX_MICROS: u64 = 60_000_000;

#[derive(Debug, Clone)]
struct Second {
    requests: u64,
    errors: u64,
    bytes: u64,
    latencies: Histogram<u32>,
}

/// Per-second buckets, by the second (from the run's start) in which each request finished.
#[derive(Debug, Clone, Default)]
pub struct Timeline {
    seconds: Vec<Option<Second>>,
}

/// One second of a run, as the report gives it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct SecondReport {
    /// Seconds from the run's start.
    pub second: u64,
    pub requests: u64,
    pub errors: u64,
    pub bytes: u64,
    /// Null in a merged report (per-second percentiles are not merged).
    pub p50_ms: Option<f64>,
    pub p99_ms: Option<f64>,
}

impl Timeline {
    pub fn add(&mut self, record: &Record) {
        let index = usize::try_from(record.finished().as_secs()).unwrap_or(usize::MAX);
        if index >= 24 * 3600 {
            return; // more than a day in: not worth a bucket each
        }
        if self.seconds.len() <= index {
            self.seconds.resize(index + 1, None);
        }
        let second = self.seconds[index].get_or_insert_with(|| Second {
            requests: 0,
            errors: 0,
            bytes: 0,
            latencies: Histogram::new_with_bounds(1, MAX_MICROS, 2)
                .expect("constant histogram bounds are valid"),
        });
        second.requests += 1;
        second.bytes += record.bytes;
        if !record.is_ok() {
            second.errors += 1;
        }
        let micros = u64::try_from(record.elapsed.as_micros()).unwrap_or(u64::MAX);
        second
            .latencies
            .saturating_record(micros.clamp(1, MAX_MICROS));
    }

    pub fn report(&self) -> Vec<SecondReport> {
        self.seconds
            .iter()
            .enumerate()
            .filter_map(|(i, s)| {
                let s = s.as_ref()?;
                let ms = |q| s.latencies.value_at_quantile(q) as f64 / 1000.0;
                Some(SecondReport {
                    second: i as u64,
                    requests: s.requests,
                    errors: s.errors,
                    bytes: s.bytes,
                    p50_ms: Some(ms(0.5)),
                    p99_ms: Some(ms(0.99)),
                })
            })
            .collect()
    }
}
