//! Merging the reports of shards into the report of the whole job, exactly.
//!
//! Counts and bytes add; latency histograms are added sample-exact (hdrhistogram's lossless
//! serialization travels in every report), so the merged p99 is the p99 of one process that saw
//! all samples, never an average of percentiles; the wall time spans the earliest start to the
//! latest end. Runs are matched by position and must agree in mode.

use std::collections::BTreeMap;

use thiserror::Error;

use super::stats::{decode_histogram, empty_histogram, Ending, LatencySummary};
use super::{per_second, Report, RunReport, REPORT_VERSION};
use crate::plan::shard::Shard;

#[derive(Debug, Error, PartialEq, Eq)]
pub enum MergeError {
    #[error("nothing to merge")]
    Empty,
    #[error("report {0} is of format version {1}, not {REPORT_VERSION}")]
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
        if report.report_version != REPORT_VERSION {
            return Err(MergeError::Version(n, report.report_version));
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
    Ok(merged)
}

fn merge_runs(runs: Vec<&RunReport>) -> Result<RunReport, MergeError> {
    let mut histogram = empty_histogram();
    for (i, run) in runs.iter().enumerate() {
        let h = decode_histogram(&run.histogram).ok_or(MergeError::Histogram(i + 1))?;
        // Same bounds in every report, so adding cannot fail; a foreign histogram is refused.
        histogram
            .add(&h)
            .map_err(|_| MergeError::Histogram(i + 1))?;
    }
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
    Ok(RunReport {
        mode: first.mode,
        ended: runs
            .iter()
            .map(|r| r.ended)
            .find(|e| *e != Ending::Completed)
            .unwrap_or(Ending::Completed),
        planned,
        not_fetched: runs.iter().map(|r| r.not_fetched).sum::<Option<u64>>(),
        concurrency: runs.iter().map(|r| r.concurrency).sum(),
        rate: runs.iter().map(|r| r.rate).sum::<Option<f64>>(),
        requests,
        ok: sum(|r| r.ok),
        errors: sum(|r| r.errors),
        retries: sum(|r| r.retries),
        wall_s,
        rps: per_second(requests as f64, wall_s),
        bytes,
        wire_bytes,
        compression_ratio: (wire_bytes > 0).then(|| bytes as f64 / wire_bytes as f64),
        wire_mb_per_s: per_second(wire_bytes as f64 / 1e6, wall_s),
        latency_ms: LatencySummary::of(&histogram),
        status: add_maps(|r| &r.status),
        error_kinds: add_maps(|r| &r.error_kinds),
        http_versions: add_maps(|r| &r.http_versions),
        started_at,
        ended_at,
        histogram: super::stats::encode_histogram(&histogram),
    })
}
