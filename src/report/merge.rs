//! Merging the reports of shards into the report of the whole job, exactly.
//!
//! Counts and bytes add; latency histograms are added sample-exact (hdrhistogram's lossless
//! serialization travels in every report), so the merged p99 is the p99 of one process that saw
//! all samples, never an average of percentiles; the wall time spans the earliest start to the
//! latest end. Runs are matched by position and must agree in mode.

use std::collections::BTreeMap;

use thiserror::Error;

use hdrhistogram::Histogram;

use super::stats::{decode_histogram, empty_histogram, encode_histogram, Ending, LatencySummary};
use super::timeline::SecondReport;
use super::units::rfc3339;
use super::{
    compression_ratio, limited_by, per_second, RateReport, Report, RunReport, SlowReport,
    SCHEMA_VERSION,
};
use crate::plan::shard::Shard;

#[derive(Debug, Error, PartialEq, Eq)]
pub enum MergeError {
    #[error("nothing to merge")]
    Empty,
    #[error("report {0} is of format version {1}, not {SCHEMA_VERSION}")]
    Version(usize, u32),
    #[error(
        "report {0} was written by {1}, report 1 by {2}: merge reports of one fetchbench version"
    )]
    Tool(usize, String, String),
    #[error("report {0} has runs {1:?}, report 1 has {2:?}: they are not shards of one job")]
    Runs(usize, Vec<String>, Vec<String>),
    #[error("report {0}: its latency histogram is not readable")]
    Histogram(usize),
    #[error("shard {0} appears twice")]
    DuplicateShard(String),
}

/// The report of the whole job from the reports of its shards.
pub fn merge(reports: &[Report]) -> Result<Report, MergeError> {
    let first = reports.first().ok_or(MergeError::Empty)?;
    let modes = |r: &Report| {
        r.runs
            .iter()
            .map(|run| format!("{:?}", run.mode))
            .collect::<Vec<_>>()
    };
    let mut seen_shards = Vec::new();
    for (i, report) in reports.iter().enumerate() {
        let n = i + 1;
        if report.schema_version != SCHEMA_VERSION {
            return Err(MergeError::Version(n, report.schema_version));
        }
        if report.version != first.version {
            return Err(MergeError::Tool(
                n,
                report.version.clone(),
                first.version.clone(),
            ));
        }
        if modes(report) != modes(first) {
            return Err(MergeError::Runs(n, modes(report), modes(first)));
        }
        if let Some(shard) = report.shard {
            if seen_shards.contains(&shard) {
                return Err(MergeError::DuplicateShard(shard.to_string()));
            }
            seen_shards.push(shard);
        }
    }
    let runs = (0..first.runs.len())
        .map(|k| merge_runs(reports.iter().map(|r| &r.runs[k]).collect()))
        .collect::<Result<Vec<_>, _>>()?;
    let shard = first.shard.map(|s| Shard {
        index: None,
        count: s.count,
    });
    let mut merged = Report::from_runs(runs, shard);
    merged.interrupted = reports.iter().find_map(|r| r.interrupted.clone());
    // One unverified shard is enough to qualify the whole.
    merged.insecure = reports.iter().any(|r| r.insecure);
    Ok(merged)
}

/// Per-second counts of all runs, aligned by wall-clock second from the earliest start.
fn merge_seconds(runs: &[&RunReport], started_at: f64) -> Vec<SecondReport> {
    let mut seconds: BTreeMap<u64, SecondReport> = BTreeMap::new();
    for run in runs {
        let offset = (run.started_at - started_at).max(0.0);
        for s in &run.per_second {
            let second = (s.second as f64 + offset).floor() as u64;
            let total = seconds.entry(second).or_insert(SecondReport {
                second,
                requests: 0,
                errors: 0,
                bytes: 0,
                p50_ms: None,
                p99_ms: None,
            });
            total.requests += s.requests;
            total.errors += s.errors;
            total.bytes += s.bytes;
        }
    }
    seconds.into_values().collect()
}

/// The sum of the histograms `pick` finds in each run (None where a run has none).
fn add_histograms<'a>(
    runs: &[&'a RunReport],
    pick: impl Fn(&'a RunReport) -> Option<&'a String>,
) -> Result<Option<Histogram<u64>>, MergeError> {
    let mut total: Option<Histogram<u64>> = None;
    for (i, run) in runs.iter().enumerate() {
        let Some(text) = pick(run) else { continue };
        let h = decode_histogram(text).ok_or(MergeError::Histogram(i + 1))?;
        // Same bounds in every report, so adding cannot fail; a foreign histogram is refused.
        total
            .get_or_insert_with(empty_histogram)
            .add(&h)
            .map_err(|_| MergeError::Histogram(i + 1))?;
    }
    Ok(total)
}

fn merge_runs(runs: Vec<&RunReport>) -> Result<RunReport, MergeError> {
    let histogram = add_histograms(&runs, |r| Some(&r.histogram))?.unwrap_or_else(empty_histogram);
    let corrected = add_histograms(&runs, |r| r.histogram_corrected.as_ref())?;
    let classes: std::collections::BTreeSet<&String> = runs
        .iter()
        .flat_map(|r| r.histogram_by_class.keys())
        .collect();
    let mut by_class = BTreeMap::new();
    for class in classes {
        if let Some(h) = add_histograms(&runs, |r| r.histogram_by_class.get(class))? {
            by_class.insert(class.clone(), h);
        }
    }
    let mut slowest: Vec<SlowReport> = runs.iter().flat_map(|r| r.slowest.clone()).collect();
    slowest.sort_by(|a, b| b.ms.total_cmp(&a.ms));
    slowest.truncate(5);
    let sum = |f: fn(&RunReport) -> u64| runs.iter().map(|r| f(r)).sum::<u64>();
    let add_maps = |f: fn(&RunReport) -> &BTreeMap<String, u64>| {
        let mut total = BTreeMap::new();
        for run in &runs {
            for (key, n) in f(run) {
                *total.entry(key.clone()).or_insert(0) += n;
            }
        }
        total
    };
    let first = runs[0];
    let started_at = runs
        .iter()
        .map(|r| r.started_at)
        .fold(f64::INFINITY, f64::min);
    let ended_at = runs
        .iter()
        .map(|r| r.ended_at)
        .fold(f64::NEG_INFINITY, f64::max);
    let wall_s = (ended_at - started_at).max(0.0);
    let requests = sum(|r| r.requests);
    let (bytes, wire_bytes) = (sum(|r| r.bytes), sum(|r| r.wire_bytes));
    let planned = runs.iter().map(|r| r.planned).sum::<Option<u64>>();
    let concurrency = runs.iter().map(|r| r.concurrency).sum();
    let target = runs.iter().map(|r| r.rate.target).sum::<Option<f64>>();
    let rps = per_second(requests as f64, wall_s);
    let mean_in_flight = runs
        .iter()
        .map(|r| r.mean_in_flight * r.wall_s)
        .sum::<f64>()
        / wall_s.max(f64::MIN_POSITIVE);
    let client_cpu_s = runs.iter().map(|r| r.client_cpu_s).sum::<Option<f64>>();
    Ok(RunReport {
        mode: first.mode,
        ended: runs
            .iter()
            .map(|r| r.ended)
            .find(|e| *e != Ending::Completed)
            .unwrap_or(Ending::Completed),
        planned,
        not_fetched: runs.iter().map(|r| r.not_fetched).sum::<Option<u64>>(),
        concurrency,
        rate: RateReport {
            target,
            achieved: rps,
            // Each shard ran on its own machine: its CPU share says nothing of the others'.
            limited_by: limited_by(target, rps, mean_in_flight, concurrency, None)
                .map(str::to_owned),
        },
        mean_in_flight,
        client_cpu_s,
        connections_opened: sum(|r| r.connections_opened),
        proxied_requests: sum(|r| r.proxied_requests),
        proxies: runs
            .iter()
            .flat_map(|r| r.proxies.iter().cloned())
            .collect::<std::collections::BTreeSet<_>>()
            .into_iter()
            .collect(),
        closed_loop: first.closed_loop,
        requests,
        ok: sum(|r| r.ok),
        errors: sum(|r| r.errors),
        retries: sum(|r| r.retries),
        wall_s,
        rps,
        bytes,
        wire_bytes,
        compression_ratio: compression_ratio(bytes, wire_bytes),
        wire_mb_per_s: per_second(wire_bytes as f64 / 1e6, wall_s),
        latency_ms: LatencySummary::of(&histogram),
        latency_ms_by_class: by_class
            .iter()
            .map(|(c, h)| (c.clone(), LatencySummary::of(h)))
            .collect(),
        latency_corrected_ms: corrected.as_ref().map(LatencySummary::of),
        // Phase and per-second percentiles travel without histograms: not merged exactly, so
        // not merged at all; per-second counts are added by wall-clock second.
        phases_ms: Default::default(),
        per_second: merge_seconds(&runs, started_at),
        slowest,
        histogram_by_class: by_class
            .iter()
            .map(|(c, h)| (c.clone(), encode_histogram(h)))
            .collect(),
        histogram_corrected: corrected.as_ref().map(encode_histogram),
        status: add_maps(|r| &r.status),
        error_kinds: add_maps(|r| &r.error_kinds),
        http_versions: add_maps(|r| &r.http_versions),
        started_at,
        ended_at,
        started_at_rfc3339: rfc3339(started_at),
        ended_at_rfc3339: rfc3339(ended_at),
        histogram: encode_histogram(&histogram),
    })
}
