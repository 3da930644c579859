//! `--find-rate`: the steps of the rate search, each an open-loop run of the ids again and again
//! at its target rate; what to make of them is `report::find_rate`'s.
//!
//! One request first (the probe) reads the limits the server advertises, so no step goes above
//! them. Every step stops at its first push-back (a 429 or 503, or a quota said to be spent),
//! its requests in flight allowed to finish; a step that broke is followed by a pause of a
//! second, or the push-back's `Retry-After` when longer, so the server's queue drains and its
//! window turns. A step broken by time alone (latency, a rate not reached) is made once more and
//! counts only if it breaks again. Requests are sent once (no retries: a retry would hide the failure and add
//! load). Each step is a run of its own on one client, built once for the search: the
//! connections the probe and the first steps open stay open for the next steps, as a client
//! that never stopped sending would keep them, so a step pays no connect time a steady load
//! would not (`--warmup N` opens them before the first step's schedule starts).

use std::time::Duration;

use tokio_util::sync::CancellationToken;

use super::error::AppError;
use super::plan::FindRate;
use crate::engine::http::advertised::LimitWatch;
use crate::engine::{Client, Ending, JobSpec, Run, RunMode, RunSpec};
use crate::plan::ids::IdList;
use crate::plan::rate::Rate;
use crate::plan::slo::Slo;
use crate::plan::template::Template;
use crate::report::find_rate::{
    self, judge, Behind, Breach, FindRateReport, Search, StepFigures, StepReport, Stopped,
};
use crate::report::stats::RunStats;
use crate::report::RunReport;

/// A step's length when `--step` does not set it: this long, or [`STEP_REQUESTS`] requests,
/// whichever is longer (a p99 needs a few hundred requests to mean anything).
const STEP_TIME: Duration = Duration::from_secs(5);
const STEP_REQUESTS: u64 = 200;

/// How long after a step that broke the next one waits, at least.
const COOL_DOWN: Duration = Duration::from_secs(1);

/// What the search found, and each step's statistics (one run each).
pub(super) struct Found {
    pub report: FindRateReport,
    pub stats: Vec<RunStats>,
}

/// Runs the search to its end (or to a signal).
pub(super) async fn search(
    spec: &FindRate,
    slo: &Slo,
    template: &Template,
    job: &JobSpec,
    ids: &IdList,
    cancel: &CancellationToken,
    quiet: bool,
) -> Result<Found, AppError> {
    let mut job = job.clone();
    job.client.watch_limits = true;
    job.client.retry.retries = 0;
    job.crawl.max_requests = None;
    // One client for the probe and every step: their connections are kept across steps, and
    // what their responses say of rate limits is read into one watch.
    let client = Client::new(template, &job, spec.concurrency)?;
    let watch = client.limits();
    let mut spent = probe(&client, &job, ids, cancel).await?;

    let mut search = Search::new(spec.start, spec.max_rate);
    let mut cap_by = spec.max_rate.map(|_| "--max-rate".to_owned());
    let mut steps: Vec<(StepFigures, Vec<Breach>)> = Vec::new();
    let mut all_stats = Vec::new();
    let mut again = false;
    let stopped = loop {
        if let Some(advertised) = watch.advertised() {
            if search.cap().is_none_or(|c| advertised.per_second < c) {
                search.cap_at(advertised.per_second);
                cap_by = Some(advertised.said);
            }
        }
        if cancel.is_cancelled() {
            break Stopped::Interrupted;
        }
        let next = match (again, steps.last()) {
            (true, Some((last, _))) => Ok(last.target),
            _ => search.next(),
        };
        let target = match next {
            Ok(target) => target,
            Err(stopped) => break stopped,
        };
        let planned = step_requests(target, spec.step);
        let left = spec.max_requests.map(|m| m.saturating_sub(spent));
        if left.is_some_and(|left| left < planned.div_ceil(2)) {
            break Stopped::MaxRequests;
        }
        let requests = left.map_or(planned, |left| planned.min(left));
        let (figures, stats) = step(
            target,
            requests,
            spec.concurrency,
            &client,
            &job,
            ids,
            cancel,
            watch,
        )
        .await?;
        // The connections the warm-up opened are kept: later steps need none.
        job.warmup = 0;
        spent += stats.requests;
        let interrupted = cancel.is_cancelled();
        let breaches = judge(&figures, slo);
        if !quiet {
            let verdict = match breaches.first() {
                None => format!(
                    "held (p99 {:.1} ms from the schedule)",
                    figures.schedule.p99
                ),
                Some(breach) => format!("broke: {breach}"),
            };
            eprintln!(
                "fetchbench: step {} at {target:.1}/s: {verdict}",
                steps.len() + 1
            );
        }
        let held = breaches.is_empty();
        let pause = stats.pushback.longest.max(COOL_DOWN);
        // Broken by time alone (latency, a rate not reached) and not yet tried again: a stall of
        // this machine breaks one step, a server that cannot take the rate breaks two.
        again = !held
            && breaches.iter().all(Breach::may_be_noise)
            && steps.last().is_none_or(|(last, _)| last.target != target);
        if !again {
            search.record(target, held);
        }
        steps.push((figures, breaches));
        all_stats.push(stats);
        if interrupted {
            break Stopped::Interrupted;
        }
        // The server's queue drains and its window turns; a push-back's Retry-After is waited
        // out (the engine capped it at --max-retry-wait).
        if !held && (again || search.next().is_ok()) {
            tokio::select! {
                () = tokio::time::sleep(pause) => {}
                () = cancel.cancelled() => break Stopped::Interrupted,
            }
        }
    };
    let (sustained, broke) = search.bounds();
    let broke_why = broke.and_then(|b| {
        steps
            .iter()
            .find(|(step, _)| step.target == b)
            .and_then(|(_, breaches)| breaches.first().map(ToString::to_string))
    });
    let summary = find_rate::summary(slo, &steps, stopped, cap_by.as_deref());
    let report = FindRateReport {
        slo: slo_text(slo),
        sustained,
        broke,
        broke_why,
        cap: search.cap(),
        cap_by: search.cap().and(cap_by),
        stopped,
        steps: steps
            .iter()
            .map(|(step, breaches)| StepReport::new(step, breaches))
            .collect(),
        requests: spent,
        summary,
    };
    Ok(Found {
        report,
        stats: all_stats,
    })
}

/// The bounds as judged: the SLO with its error bound, the default one when it gave none.
fn slo_text(slo: &Slo) -> String {
    let mut slo = slo.clone();
    slo.errors = Some(slo.error_bound(find_rate::DEFAULT_ERROR_BOUND));
    slo.to_string()
}

/// Requests in a step at `target`: `--step`'s worth, else [`STEP_TIME`]'s or [`STEP_REQUESTS`],
/// whichever is more; one at least.
fn step_requests(target: f64, step: Option<Duration>) -> u64 {
    let timed = |d: Duration| (target * d.as_secs_f64()).ceil().max(1.0) as u64;
    match step {
        Some(step) => timed(step),
        None => timed(STEP_TIME).max(STEP_REQUESTS),
    }
}

/// One request before the search, so the limits a server advertises cap the first step too.
async fn probe(
    client: &Client,
    job: &JobSpec,
    ids: &IdList,
    cancel: &CancellationToken,
) -> Result<u64, AppError> {
    let mut job = job.clone();
    job.rate = None;
    job.warmup = 0;
    let first = ids.passes().map_err(cannot_read)?.take(1);
    let spec = RunSpec::new(RunMode::Sequential, 1);
    let mut run = Run::start_on(client, &job, spec, first, cancel.clone())?;
    let mut sent = 0;
    while run.next().await.is_some() {
        sent += 1;
    }
    Ok(sent)
}

fn cannot_read(e: std::io::Error) -> AppError {
    AppError::Usage {
        flag: "--ids",
        message: format!("cannot read: {e}"),
    }
}

/// The rate `per_second` as the engine takes one.
fn rate_of(per_second: f64) -> Result<Rate, AppError> {
    format!("{per_second:.6}/s")
        .parse()
        .map_err(|e: crate::plan::rate::RateError| AppError::Usage {
            flag: "--find-rate",
            message: e.to_string(),
        })
}

/// One step: `requests` requests scheduled at `target` per second on `concurrency` slots,
/// stopped at the first push-back.
#[allow(clippy::too_many_arguments)]
async fn step(
    target: f64,
    requests: u64,
    concurrency: usize,
    client: &Client,
    job: &JobSpec,
    ids: &IdList,
    cancel: &CancellationToken,
    watch: &LimitWatch,
) -> Result<(StepFigures, RunStats), AppError> {
    let rate = rate_of(target)?;
    let schedule = Duration::from_secs_f64(requests as f64 / target);
    let mut job = job.clone();
    job.rate = Some(rate);
    // Time for the last requests to finish, then the step is cut: the server fell behind.
    job.deadline = Some(schedule + schedule.max(Duration::from_secs(2)));
    let mut spec = RunSpec::new(RunMode::Concurrent, concurrency);
    // As they complete, so the first push-back is seen at once.
    spec.order = crate::engine::Order::Completion;
    let ids = ids
        .passes()
        .map_err(cannot_read)?
        .take(usize::try_from(requests).unwrap_or(usize::MAX));
    let stop = cancel.child_token();
    let _ = watch.take_spent();
    let mut run = Run::start_on(client, &job, spec, ids, stop.clone())?;
    run.warm_up(job.warmup).await;
    let _ = watch.take_spent();
    let mut stats = RunStats::new(RunMode::Concurrent, concurrency, job.rate);
    let (mut started, mut last_start) = (0u64, Duration::ZERO);
    let mut quota_spent = false;
    let mut lag = Duration::ZERO;
    while let Some(record) = run.next().await {
        stats.add(&record);
        if record.went_out() {
            started += 1;
            last_start = last_start.max(record.started);
            lag = lag.max(record.started.saturating_sub(record.scheduled));
        }
        quota_spent |= watch.take_spent();
        if matches!(record.status, Some(429 | 503)) || quota_spent {
            stop.cancel();
        }
    }
    stats.conclude(run.end());
    let report = RunReport::from_stats(&stats, Some(requests));
    let cores = std::thread::available_parallelism().map_or(1, usize::from) as f64;
    let cpu_share = report
        .client_cpu_s
        .filter(|_| report.wall_s > 0.0)
        .map(|c| c / report.wall_s);
    let span = last_start.as_secs_f64() + rate.interval().as_secs_f64();
    let figures = StepFigures {
        target,
        achieved: if span > 0.0 {
            started as f64 / span
        } else {
            0.0
        },
        requests: stats.requests,
        errors: stats.errors(),
        too_many: stats.status.get(&429).copied().unwrap_or(0),
        unavailable: stats.status.get(&503).copied().unwrap_or(0),
        quota_spent,
        schedule: report.latency_corrected_ms.unwrap_or_default(),
        unfinished: stats.ending == Ending::Deadline,
        behind: Behind::of(report.mean_in_flight, concurrency, cpu_share, cores),
        lag,
    };
    Ok((figures, stats))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_step_lasts_its_time_or_its_requests() {
        assert_eq!(step_requests(10.0, None), 200);
        assert_eq!(step_requests(100.0, None), 500);
        assert_eq!(step_requests(16.25, Some(Duration::from_secs(1))), 17);
        assert_eq!(step_requests(0.5, Some(Duration::from_secs(1))), 1);
        assert_eq!(rate_of(16.25).map(|r| r.per_second()).ok(), Some(16.25));
    }
}
