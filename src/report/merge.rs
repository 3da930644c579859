//! Merging the reports of shards into the report of the whole job, exactly.
//!
//! Counts and bytes add; latency histograms are added sample-exact (hdrhistogram's lossless
//! serialization travels in every report), so the merged p99 is the p99 of one process that saw
//! all samples, never an average of percentiles; the wall time spans the earliest start to the
//! latest end; the waits at a host add up per cause, their percentiles from their histograms
//! too. Runs are matched by position and must agree in mode; the reports must be the shards of
//! one job (its identity and the shard indexes say so).

use std::collections::BTreeMap;
use std::path::Path;

use thiserror::Error;

use hdrhistogram::Histogram;

use super::stats::{decode_histogram, empty_histogram, encode_histogram, Ending};
use super::timeline::SecondReport;
use super::{Report, RunParts, RunReport, SlowReport, WaitReport, SCHEMA_VERSION};
use crate::plan::shard::Shard;

/// Why reports cannot be merged; each names the report files concerned.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum MergeError {
    #[error("nothing to merge")]
    Empty,
    #[error("{0} is of format version {1}, not {SCHEMA_VERSION}")]
    Version(String, u32),
    #[error("{0} was written by {1}, {2} by {3}: merge reports of one fetchbench version")]
    Tool(String, String, String, String),
    #[error("{0} has runs {1:?}, {2} has {3:?}: they are not shards of one job")]
    Runs(String, Vec<String>, String, Vec<String>),
    #[error("{0}: its latency histogram is not readable")]
    Histogram(String),
    #[error("{0} and {1} are both shard {2}: give each shard once")]
    DuplicateShard(String, String, String),
    #[error(
        "{0} is not a shard (it ran without --shard): only the shards of one job merge, \
         not whole runs"
    )]
    NotSharded(String),
    #[error("{0} is already a merge of {1} shards: merge the shards' own reports")]
    AlreadyMerged(String, u64),
    #[error("{0} is a shard of {1}, {2} of {3}: they are not shards of one job")]
    ShardCount(String, u64, String, u64),
    #[error("{0} and {1} are not shards of one job: they differ in {2}")]
    OtherJob(String, String, String),
    #[error("{0}: its waits under {1} carry no histogram: not mergeable")]
    WaitHistogram(String, String),
}

/// Refused unless all `reports` are shards of one job (see [`merge_named`]), or one report.
fn check_shards(
    reports: &[(&Path, &Report)],
    warn: &mut dyn FnMut(String),
) -> Result<(), MergeError> {
    let name = |i: usize| reports[i].0.display().to_string();
    let first = reports[0].1;
    for (i, (_, report)) in reports.iter().enumerate().skip(1) {
        if let (Some(job), Some(first_job)) = (&report.job, &first.job) {
            if job.fingerprint != first_job.fingerprint {
                return Err(MergeError::OtherJob(
                    name(0),
                    name(i),
                    first_job.differences(job).join(", "),
                ));
            }
        }
    }
    if reports.len() > 1 {
        let without: Vec<String> = (0..reports.len())
            .filter(|&i| reports[i].1.job.is_none())
            .map(name)
            .collect();
        if !without.is_empty() {
            // Reports of an older fetchbench: refusing them would strand their runs, and the
            // shard checks below still hold.
            warn(format!(
                "{} carr{} no job identity (written by an older fetchbench): not checked to be \
                 of one job",
                without.join(", "),
                if without.len() == 1 { "ies" } else { "y" }
            ));
        }
    }
    let mut indexes: BTreeMap<u64, usize> = BTreeMap::new();
    let mut count = None;
    for (i, (_, report)) in reports.iter().enumerate() {
        let shard = match report.shard {
            Some(shard) => shard,
            None if reports.len() == 1 => return Ok(()),
            None => return Err(MergeError::NotSharded(name(i))),
        };
        let Some(index) = shard.index else {
            return Err(MergeError::AlreadyMerged(name(i), shard.count));
        };
        let (first, first_count) = *count.get_or_insert((i, shard.count));
        if shard.count != first_count {
            return Err(MergeError::ShardCount(
                name(i),
                shard.count,
                name(first),
                first_count,
            ));
        }
        if let Some(&other) = indexes.get(&index) {
            return Err(MergeError::DuplicateShard(
                name(other),
                name(i),
                shard.to_string(),
            ));
        }
        indexes.insert(index, i);
    }
    if let Some((_, count)) = count {
        let missing: Vec<String> = (0..count)
            .filter(|i| !indexes.contains_key(i))
            .map(|i| format!("{i}/{count}"))
            .collect();
        if !missing.is_empty() {
            let (shards, are) = if missing.len() == 1 {
                ("shard", "is")
            } else {
                ("shards", "are")
            };
            warn(format!(
                "{shards} {} {are} missing: the merge covers {} of {count} shards",
                missing.join(", "),
                indexes.len()
            ));
        }
    }
    Ok(())
}

/// Whether, in every run, all reports' runs were going on at one moment.
fn overlapped(reports: &[(&Path, &Report)]) -> bool {
    let runs = reports.first().map_or(0, |(_, r)| r.runs.len());
    (0..runs).all(|k| {
        let latest_start = reports
            .iter()
            .map(|(_, r)| r.runs[k].started_at)
            .fold(f64::NEG_INFINITY, f64::max);
        let earliest_end = reports
            .iter()
            .map(|(_, r)| r.runs[k].ended_at)
            .fold(f64::INFINITY, f64::min);
        latest_start <= earliest_end
    })
}

/// The line to print beside a merged report's wall time and speed-up when its shards did not
/// run side by side.
pub fn sequential_note(merged: &Report) -> Option<&'static str> {
    (merged.shards_overlapped == Some(false)).then_some(
        "the shards did not all run at the same time: the wall time spans them one after \
         another, so it (and requests/s, the speed-up) does not measure them side by side",
    )
}

/// The report of one job from the reports of its shards, each named by its file.
///
/// Refused unless the reports are shards of one job: the same job identity (template, ids,
/// mode, options), each with its own index of the same shard count (one report alone merges
/// whatever it is). `warn` hears what is accepted but worth saying: reports without a job
/// identity, shards missing.
pub fn merge_named(
    reports: &[(&Path, &Report)],
    mut warn: impl FnMut(String),
) -> Result<Report, MergeError> {
    let (first_path, first) = *reports.first().ok_or(MergeError::Empty)?;
    let name = |p: &Path| p.display().to_string();
    let modes = |r: &Report| {
        r.runs
            .iter()
            .map(|run| format!("{:?}", run.mode))
            .collect::<Vec<_>>()
    };
    for (path, report) in reports {
        if report.schema_version != SCHEMA_VERSION {
            return Err(MergeError::Version(name(path), report.schema_version));
        }
        if report.version != first.version {
            return Err(MergeError::Tool(
                name(path),
                report.version.clone(),
                name(first_path),
                first.version.clone(),
            ));
        }
    }
    check_shards(reports, &mut warn)?;
    for (path, report) in reports {
        if modes(report) != modes(first) {
            return Err(MergeError::Runs(
                name(path),
                modes(report),
                name(first_path),
                modes(first),
            ));
        }
    }
    let names: Vec<String> = reports.iter().map(|(p, _)| name(p)).collect();
    let runs = (0..first.runs.len())
        .map(|k| merge_runs(reports.iter().map(|(_, r)| &r.runs[k]).collect(), &names))
        .collect::<Result<Vec<_>, _>>()?;
    let shard = first.shard.map(|s| Shard {
        index: None,
        count: s.count,
    });
    let mut merged = Report::from_runs(runs, shard);
    merged.interrupted = reports.iter().find_map(|(_, r)| r.interrupted.clone());
    // One unverified shard is enough to qualify the whole.
    merged.insecure = reports.iter().any(|(_, r)| r.insecure);
    merged.keepalive = reports.iter().all(|(_, r)| r.keepalive);
    merged.job = first.job.clone();
    merged.shards_overlapped = (reports.len() > 1).then(|| overlapped(reports));
    Ok(merged)
}

/// [`merge_named`] with the reports named `report 1`, `report 2`, ... and warnings dropped.
#[cfg(test)]
pub fn merge(reports: &[Report]) -> Result<Report, MergeError> {
    let names: Vec<std::path::PathBuf> = (1..=reports.len())
        .map(|i| format!("report {i}").into())
        .collect();
    let named: Vec<(&Path, &Report)> = names.iter().map(|p| p.as_path()).zip(reports).collect();
    merge_named(&named, |_| ())
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
    names: &[String],
    pick: impl Fn(&'a RunReport) -> Option<&'a String>,
) -> Result<Option<Histogram<u64>>, MergeError> {
    let mut total: Option<Histogram<u64>> = None;
    for (i, run) in runs.iter().enumerate() {
        let Some(text) = pick(run) else { continue };
        let h = decode_histogram(text).ok_or_else(|| MergeError::Histogram(names[i].clone()))?;
        // Same bounds in every report, so adding cannot fail; a foreign histogram is refused.
        total
            .get_or_insert_with(empty_histogram)
            .add(&h)
            .map_err(|_| MergeError::Histogram(names[i].clone()))?;
    }
    Ok(total)
}

/// The sum of the values given, or None when none is.
fn add_some(values: impl Iterator<Item = Option<f64>>) -> Option<f64> {
    values.flatten().reduce(|a, b| a + b)
}

/// The waits of all runs per cause: counts and totals added, percentiles from the added
/// histograms; and those histograms, encoded. None when no run waited.
type MergedWaits = (
    Option<BTreeMap<String, WaitReport>>,
    BTreeMap<String, String>,
);

fn merge_waits(runs: &[&RunReport], names: &[String]) -> Result<MergedWaits, MergeError> {
    let causes: std::collections::BTreeSet<&String> = runs
        .iter()
        .filter_map(|r| r.waits.as_ref())
        .flat_map(BTreeMap::keys)
        .collect();
    let mut waits = BTreeMap::new();
    let mut histograms = BTreeMap::new();
    for cause in causes {
        let mut total_ms = 0.0;
        for (i, run) in runs.iter().enumerate() {
            let Some(figures) = run.waits.as_ref().and_then(|w| w.get(cause)) else {
                continue;
            };
            if !run.histogram_waits.contains_key(cause) {
                return Err(MergeError::WaitHistogram(names[i].clone(), cause.clone()));
            }
            total_ms += figures.total_ms;
        }
        let Some(times) = add_histograms(runs, names, |r| r.histogram_waits.get(cause))? else {
            continue;
        };
        waits.insert(cause.clone(), WaitReport::from_histogram(&times, total_ms));
        histograms.insert(cause.clone(), encode_histogram(&times));
    }
    Ok(((!waits.is_empty()).then_some(waits), histograms))
}

fn merge_runs(runs: Vec<&RunReport>, names: &[String]) -> Result<RunReport, MergeError> {
    let histogram =
        add_histograms(&runs, names, |r| Some(&r.histogram))?.unwrap_or_else(empty_histogram);
    let corrected = add_histograms(&runs, names, |r| r.histogram_corrected.as_ref())?;
    let classes: std::collections::BTreeSet<&String> = runs
        .iter()
        .flat_map(|r| r.histogram_by_class.keys())
        .collect();
    let mut by_class = BTreeMap::new();
    for class in classes {
        if let Some(h) = add_histograms(&runs, names, |r| r.histogram_by_class.get(class))? {
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
    let concurrency = runs.iter().map(|r| r.concurrency).sum();
    let mean_in_flight = runs
        .iter()
        .map(|r| r.mean_in_flight * r.wall_s)
        .sum::<f64>()
        / wall_s.max(f64::MIN_POSITIVE);
    let (waits, histogram_waits) = merge_waits(&runs, names)?;
    let mut merged = RunReport::from_parts(RunParts {
        mode: first.mode,
        ended: runs
            .iter()
            .map(|r| r.ended)
            .find(|e| *e != Ending::Completed)
            .unwrap_or(Ending::Completed),
        planned: runs.iter().map(|r| r.planned).sum::<Option<u64>>(),
        not_fetched: runs.iter().map(|r| r.not_fetched).sum::<Option<u64>>(),
        concurrency,
        target: runs.iter().map(|r| r.rate.target).sum::<Option<f64>>(),
        closed_loop: first.closed_loop,
        requests,
        ok: sum(|r| r.ok),
        errors: sum(|r| r.errors),
        retries: sum(|r| r.retries),
        bytes: sum(|r| r.bytes),
        wire_bytes: sum(|r| r.wire_bytes),
        connections_opened: sum(|r| r.connections_opened),
        proxied_requests: sum(|r| r.proxied_requests),
        proxies: runs
            .iter()
            .flat_map(|r| r.proxies.iter().cloned())
            .collect::<std::collections::BTreeSet<_>>()
            .into_iter()
            .collect(),
        status: add_maps(|r| &r.status),
        error_kinds: add_maps(|r| &r.error_kinds),
        http_versions: add_maps(|r| &r.http_versions),
        host_pauses: sum(|r| r.host_pauses),
        cache: crate::report::CacheReport::merge(runs.iter().filter_map(|r| r.cache.as_ref())),
        longest_pause_ms: runs.iter().map(|r| r.longest_pause_ms).fold(0.0, f64::max),
        // Shards run side by side: the host saw their rates and concurrencies added up, each
        // shard's own delay between its starts.
        settled_rate: add_some(runs.iter().map(|r| r.settled_rate)),
        throttle_delay_ms: runs
            .iter()
            .filter_map(|r| r.throttle_delay_ms)
            .reduce(f64::max),
        throttle_concurrency: add_some(runs.iter().map(|r| r.throttle_concurrency)),
        crawl: crate::report::crawl::CrawlReport::merge(
            runs.iter().filter_map(|r| r.crawl.as_ref()),
        ),
        started_at,
        ended_at,
        wall_s,
        mean_in_flight,
        client_cpu_s: runs.iter().map(|r| r.client_cpu_s).sum::<Option<f64>>(),
        // Each shard ran on its own machine: its CPU share says nothing of the others'.
        cpu_share: None,
        histogram: &histogram,
        by_class: by_class.iter().map(|(c, h)| (c.clone(), h)).collect(),
        corrected: corrected.as_ref(),
        slowest,
        // Phase and per-second percentiles travel without histograms: not merged exactly, so
        // not merged at all; per-second counts are added by wall-clock second.
        phases_ms: Default::default(),
        per_second: merge_seconds(&runs, started_at),
    });
    merged.waits = waits;
    merged.histogram_waits = histogram_waits;
    Ok(merged)
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use serde_json::Value;

    use super::*;
    use crate::report::html::fixture;
    use crate::report::stats::RunStats;

    /// `field` of both reports, as numbers, after checking they agree to within `tolerance`;
    /// then the merged one's is made the run's, so the rest can be compared exactly.
    fn close(run: &Value, merged: &mut Value, field: &str, tolerance: f64) {
        let (a, b) = (
            run[field].as_f64().unwrap(),
            merged[field].as_f64().unwrap(),
        );
        assert!(
            (a - b).abs() <= tolerance * a.abs().max(1.0),
            "{field}: {a} vs {b}"
        );
        merged[field] = run[field].clone();
    }

    /// A run's report and the merge of that report alone agree in every field but the few a
    /// merge cannot keep (phase and per-second percentiles) and the floats it recomputes from
    /// the wall-clock span (equal up to rounding).
    fn merge_of_one_is_the_run(stats: &RunStats) {
        let report = Report::new(std::slice::from_ref(stats), Some(stats.requests + 7));
        let merged = merge(std::slice::from_ref(&report)).expect("merge");
        let mut run = serde_json::to_value(&report.runs[0]).unwrap();
        let mut merged = serde_json::to_value(&merged.runs[0]).unwrap();
        // The wall time of a merge is ended_at - started_at, in Unix seconds: the run's own up
        // to the rounding of adding the epoch.
        for field in ["wall_s", "rps", "wire_mb_per_s", "mean_in_flight"] {
            close(&run, &mut merged, field, 1e-6);
        }
        let (rate, merged_rate) = (&run["rate"], &mut merged["rate"]);
        close(rate, merged_rate, "achieved", 1e-6);
        let no_phases = serde_json::to_value(crate::report::PhasesReport::default()).unwrap();
        assert_eq!(merged["phases_ms"], no_phases);
        merged["phases_ms"] = run["phases_ms"].clone();
        for (second, merged_second) in run["per_second"]
            .as_array_mut()
            .unwrap()
            .iter_mut()
            .zip(merged["per_second"].as_array_mut().unwrap())
        {
            assert!(merged_second["p50_ms"].is_null() && merged_second["p99_ms"].is_null());
            second["p50_ms"] = Value::Null;
            second["p99_ms"] = Value::Null;
        }
        let (run, merged) = (run.as_object().unwrap(), merged.as_object().unwrap());
        assert!(run.keys().eq(merged.keys()));
        for (field, value) in run {
            assert_eq!(&merged[field], value, "{field}");
        }
    }

    #[test]
    fn a_merge_of_one_run_is_that_run() {
        merge_of_one_is_the_run(&fixture::run(150, 1, |n| n % 40 == 3));
        merge_of_one_is_the_run(&fixture::run(0, 1, |_| false));
        let mut rated = fixture::rated(300, 8, "400/s".parse().unwrap(), |n| n % 9 == 0);
        rated.proxied_requests = 120;
        rated.proxies = vec!["http://proxy:3128".to_owned()];
        rated.connections_opened = 8;
        rated.retries = 4;
        merge_of_one_is_the_run(&rated);
        merge_of_one_is_the_run(&waited(fixture::run(30, 2, |_| false), &[5, 7, 900]));
    }

    /// Shard `index` of `count` of the job `settings`, its run from `start` for a second.
    fn shard(index: u64, count: u64, settings: &[(&str, &str)], start: f64) -> Report {
        let stats = fixture::run(20, 4, |_| false);
        let mut report = Report::new(std::slice::from_ref(&stats), None)
            .for_shard(Some(Shard::new(index, count).unwrap()));
        report.job = Some(crate::report::job::JobReport::new(
            settings
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        ));
        report.runs[0].started_at = start;
        report.runs[0].ended_at = start + 1.0;
        report
    }

    fn merged(reports: &[Report]) -> (Result<Report, MergeError>, Vec<String>) {
        let names: Vec<std::path::PathBuf> = (0..reports.len())
            .map(|i| format!("r{i}.json").into())
            .collect();
        let named: Vec<(&Path, &Report)> = names.iter().map(|p| p.as_path()).zip(reports).collect();
        let mut warnings = Vec::new();
        let merged = merge_named(&named, |w| warnings.push(w));
        (merged, warnings)
    }

    const JOB: &[(&str, &str)] = &[("ids", "range 1..100"), ("mode", "concurrent")];

    #[test]
    fn only_shards_of_one_job_merge() {
        let (ok, warnings) = merged(&[shard(0, 2, JOB, 10.0), shard(1, 2, JOB, 10.5)]);
        let ok = ok.unwrap();
        assert!(warnings.is_empty(), "{warnings:?}");
        assert_eq!(ok.shards_overlapped, Some(true));
        assert_eq!(ok.job, shard(0, 2, JOB, 0.0).job);

        let other = &[("ids", "range 1..200"), ("mode", "concurrent")];
        assert_eq!(
            merged(&[shard(0, 2, JOB, 0.0), shard(1, 2, other, 0.0)])
                .0
                .unwrap_err(),
            MergeError::OtherJob(
                "r0.json".into(),
                "r1.json".into(),
                r#"ids ("range 1..100" vs "range 1..200")"#.into()
            )
        );
        assert_eq!(
            merged(&[shard(1, 2, JOB, 0.0), shard(1, 2, JOB, 0.0)])
                .0
                .unwrap_err(),
            MergeError::DuplicateShard("r0.json".into(), "r1.json".into(), "1/2".into())
        );
        assert_eq!(
            merged(&[shard(0, 2, JOB, 0.0), shard(1, 3, JOB, 0.0)])
                .0
                .unwrap_err(),
            MergeError::ShardCount("r1.json".into(), 3, "r0.json".into(), 2)
        );
        let whole = shard(0, 2, JOB, 0.0).for_shard(None);
        assert_eq!(
            merged(&[whole.clone(), whole.clone()]).0.unwrap_err(),
            MergeError::NotSharded("r0.json".into())
        );
        // One report alone merges, whatever it is.
        assert!(merged(&[whole]).0.is_ok());
        let done = merged(&[shard(0, 2, JOB, 0.0), shard(1, 2, JOB, 0.0)])
            .0
            .unwrap();
        assert_eq!(
            merged(&[done, shard(0, 2, JOB, 0.0)]).0.unwrap_err(),
            MergeError::AlreadyMerged("r0.json".into(), 2)
        );
    }

    #[test]
    fn what_is_accepted_but_worth_saying_is_said() {
        let (ok, warnings) = merged(&[shard(0, 4, JOB, 0.0), shard(2, 4, JOB, 0.0)]);
        assert!(ok.is_ok());
        assert_eq!(
            warnings,
            ["shards 1/4, 3/4 are missing: the merge covers 2 of 4 shards"]
        );
        let old = |i| {
            let mut report = shard(i, 2, JOB, 0.0);
            report.job = None;
            report
        };
        let (ok, warnings) = merged(&[old(0), old(1)]);
        assert!(ok.is_ok());
        assert_eq!(
            warnings,
            [
                "r0.json, r1.json carry no job identity (written by an older fetchbench): not \
              checked to be of one job"
            ]
        );
    }

    #[test]
    fn shards_that_ran_one_after_another_are_said_not_to_overlap() {
        let (one_after_another, _) = merged(&[shard(0, 2, JOB, 10.0), shard(1, 2, JOB, 11.5)]);
        let merged = one_after_another.unwrap();
        assert_eq!(merged.shards_overlapped, Some(false));
        assert!((merged.runs[0].wall_s - 2.5).abs() < 1e-9);
        assert!(sequential_note(&merged).is_some());
        let (touching, _) = self::merged(&[shard(0, 2, JOB, 10.0), shard(1, 2, JOB, 11.0)]);
        assert_eq!(touching.unwrap().shards_overlapped, Some(true));
    }

    /// `stats` after requests that waited `ms` each under `--host-rate`.
    fn waited(mut stats: RunStats, ms: &[u64]) -> RunStats {
        let mut waits = crate::report::stats::Waits {
            times: empty_histogram(),
            total: Duration::ZERO,
        };
        for &ms in ms {
            waits.times.record(ms * 1000).unwrap();
            waits.total += Duration::from_millis(ms);
        }
        stats
            .waits
            .insert(crate::record::WaitCause::HostRate, waits);
        stats
    }

    #[test]
    fn the_waits_of_shards_add_up() {
        let shard_waiting = |index, ms: &[u64]| {
            let stats = waited(fixture::run(20, 4, |_| false), ms);
            Report::new(std::slice::from_ref(&stats), None)
                .for_shard(Some(Shard::new(index, 2).unwrap()))
        };
        let (a, b) = (
            shard_waiting(0, &[10, 20, 30]),
            shard_waiting(1, &[40, 50, 60, 70, 1000]),
        );
        let whole = merged(&[a.clone(), b.clone()]).0.expect("merge");
        let waits = &whole.runs[0].waits.as_ref().expect("waits")["host-rate"];
        assert_eq!(waits.count, 8);
        assert!((waits.total_ms - 1280.0).abs() < 1e-6, "{waits:?}");
        // From the added histograms, as one process that saw every wait.
        assert!((waits.p50_ms - 40.0).abs() < 0.1, "{waits:?}");
        assert!((waits.p99_ms - 1000.0).abs() < 1.0, "{waits:?}");
        assert!(whole.runs[0].histogram_waits.contains_key("host-rate"));
        // A shard that did not wait adds nothing.
        let quiet = Report::new(&[fixture::run(20, 4, |_| false)], None)
            .for_shard(Some(Shard::new(1, 2).unwrap()));
        let half = merged(&[a.clone(), quiet]).0.expect("merge");
        assert_eq!(
            half.runs[0].waits.as_ref().expect("waits")["host-rate"].count,
            3
        );
        // Waits without their histogram cannot be merged exactly: refused, naming the file.
        let mut bare = b;
        bare.runs[0].histogram_waits.clear();
        assert_eq!(
            merged(&[a, bare]).0.unwrap_err(),
            MergeError::WaitHistogram("r1.json".into(), "host-rate".into())
        );
    }

    #[test]
    fn a_merge_of_one_run_keeps_its_cpu_but_not_its_cpu_limit() {
        // Slots not always full (39 of 50 in flight), and every core busy for the whole run: the
        // run blames the client's CPU.
        let mut stats = fixture::run(150, 50, |_| false);
        let wall = stats.wall();
        assert!(wall > Duration::ZERO);
        let cores = std::thread::available_parallelism().map_or(1, usize::from) as u32;
        stats.client_cpu = Some(wall * cores);
        let report = Report::new(std::slice::from_ref(&stats), None);
        let merged = merge(std::slice::from_ref(&report)).expect("merge");
        let (run, merged) = (&report.runs[0], &merged.runs[0]);
        assert_eq!(run.rate.limited_by.as_deref(), Some("client_cpu"));
        assert_eq!(merged.client_cpu_s, run.client_cpu_s);
        assert_eq!(merged.rate.limited_by.as_deref(), Some("server"));
    }
}
