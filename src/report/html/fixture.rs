//! Runs made up for the rendering tests: records with plausible, varied latencies, scheduled one
//! after another or through a pool of slots, counted by the real [`RunStats`].

use std::time::Duration;

use crate::plan::ids::Id;
use crate::plan::rate::Rate;
use crate::record::{ErrorKind, Failure, Record, Timing};
use crate::report::stats::{RunMode, RunStats};
use crate::report::Report;

/// A run of `requests` through `concurrency` slots (sequential when 1); `fails(n)` picks the
/// failed requests.
pub fn run(requests: u64, concurrency: usize, fails: fn(u64) -> bool) -> RunStats {
    let mode = if concurrency == 1 {
        RunMode::Sequential
    } else {
        RunMode::Concurrent
    };
    run_as(mode, requests, concurrency, fails)
}

/// The same with the mode given: a sweep's `c=1` level is a concurrent run.
pub fn run_as(
    mode: RunMode,
    requests: u64,
    concurrency: usize,
    fails: fn(u64) -> bool,
) -> RunStats {
    fill(RunStats::new(mode, concurrency, None), requests, fails)
}

/// A concurrent run as [`run`] makes, with `--rate` given (so latencies are also timed from the
/// schedule).
pub fn rated(requests: u64, concurrency: usize, rate: Rate, fails: fn(u64) -> bool) -> RunStats {
    let stats = RunStats::new(RunMode::Concurrent, concurrency, Some(rate));
    fill(stats, requests, fails)
}

/// `stats` after `requests` records through its slots.
fn fill(mut stats: RunStats, requests: u64, fails: fn(u64) -> bool) -> RunStats {
    let concurrency = stats.concurrency;
    let mut slots = vec![Duration::ZERO; concurrency.max(1)];
    for n in 0..requests {
        let (slot, free_at) = slots
            .iter()
            .copied()
            .enumerate()
            .min_by_key(|&(_, t)| t)
            .unwrap_or_default();
        let elapsed = latency(n);
        stats.add(&record(n, free_at, elapsed, fails(n)));
        slots[slot] = free_at + elapsed;
    }
    stats
}

/// The report of `runs`.
pub fn report(runs: &[&RunStats]) -> Report {
    let owned: Vec<RunStats> = runs.iter().map(|&r| r.clone()).collect();
    Report::new(&owned, None)
}

/// 5 ms and a spread of up to 4 ms, varying from request to request.
fn latency(n: u64) -> Duration {
    Duration::from_micros(5_000 + (n * 7_919) % 4_000)
}

fn record(n: u64, started: Duration, elapsed: Duration, failed: bool) -> Record {
    Record {
        index: n,
        id: Id::Num(n + 1),
        url: format!("http://127.0.0.1/item/{}", n + 1),
        status: Some(if failed { 500 } else { 200 }),
        http_version: Some("HTTP/1.1"),
        timing: Timing::default(),
        elapsed,
        scheduled: started,
        started,
        wait: None,
        bytes: 2_000,
        wire_bytes: 1_000,
        attempts: 1,
        failure: failed.then(|| Failure {
            kind: ErrorKind::Status,
            message: "HTTP 500".to_owned(),
        }),
        fields: Vec::new(),
        crawl: None,
        cache: None,
    }
}
