//! The CLI's job from plan to exit code: open the output, start the fixture server if no URL was
//! given, make each run through the engine, write the report.
//!
//! Everything that can fail because of the user's input (an unwritable file) fails here before
//! the first request, with exit code 2.

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use tokio_util::sync::CancellationToken;

pub use super::error::{AppError, Exit};
use super::progress::ProgressSink;
use super::resume::{self, Done, DoneIds};
pub use super::signals::Signal;
use super::signals::SignalWatch;
use super::{Destination, Plan, Repeat, Target};
use crate::engine::crawl::NextPage;
use crate::engine::{JobSpec, Run, RunSpec, SavedWork};
use crate::fixture::FixtureServer;
use crate::output::{self, Discard, Format, RecordSink, RunInfo, SqliteSink};
use crate::plan::ids::{Id, IdList, IdSource};
use crate::plan::shard::Shard;
use crate::plan::template::Template;
use crate::report::paint::Paint;
use crate::report::stats::{Ending, RunStats};
use crate::report::{html, human, Report};

/// Runs the plan to completion and says how the process should exit.
pub async fn run(plan: Plan, paint: Paint) -> Result<Exit, AppError> {
    // Every refusal comes before the output file is opened (and emptied): a usage error leaves
    // the user's files as they were.
    check_writable(plan.report.as_deref(), "--report")?;
    check_writable(plan.html.as_deref(), "--html")?;
    let runs = plan.mode.runs(&plan.concurrency);
    // Blocking reads (counting a word list, spooling stdin to its end) on this task: nothing else
    // runs yet, and until the signal watch starts, Ctrl-C while stdin is spooled just ends the
    // process, nothing fetched.
    // Ids sent again (-n, -z) are read more than once, as by several runs: stdin is spooled.
    let readings = if plan.repeat.is_some() || plan.find_rate.is_some() {
        2
    } else {
        runs.len()
    };
    let id_list = plan.ids.prepare(readings)?;
    let (done, mut sink) = match (&plan.output, plan.format) {
        (Destination::File(path), Format::Sqlite) => open_database(&plan, path)?,
        _ => (
            Done::Every(resume_point(&plan, &id_list)?),
            open_output(&plan)?,
        ),
    };
    let (template, _fixture) = resolve_target(&plan).await?;
    // The run starts: an earlier run's reports are stale from here, whether or not this one
    // gets to write its own.
    for path in [&plan.report, &plan.html].into_iter().flatten() {
        File::create(path).map_err(AppError::Report)?;
    }
    if plan.job.client.insecure {
        // A security warning, so even with -q.
        if template.as_str().starts_with("https:") {
            eprintln!("fetchbench: warning: --insecure: TLS certificates are not verified");
        } else if !plan.quiet {
            eprintln!(
                "fetchbench: note: --insecure changes nothing for http:// URLs (no TLS, no \
                 certificates); it applies only where a redirect or a link leads to https"
            );
        }
    }
    let job = &plan.job;
    let crawl = job.crawl.is_crawl();
    let cancel = CancellationToken::new();
    let signals = SignalWatch::spawn(cancel.clone(), plan.job.grace);

    if let Some(spec) = &plan.find_rate {
        return find_rate(
            &plan, spec, &template, job, &id_list, &cancel, &signals, paint,
        )
        .await;
    }
    let planned = match plan.shard {
        Some(shard) => id_list.count().map(|n| shard.share_of(n)),
        None => id_list.count(),
    };
    // What run `i` has left to do (each run of a database resumes on its own).
    let todo_of = |i: usize| match plan.repeat {
        Some(Repeat::Requests(n)) => Some(plan.shard.map_or(n, |s| s.share_of(n))),
        Some(Repeat::For(_)) => None,
        None => planned.map(|n| n.saturating_sub(done.of_run(i).len() as u64)),
    };
    let todo = todo_of(runs.len().saturating_sub(1));
    if let (Some(shard), false) = (plan.shard, plan.quiet) {
        eprintln!(
            "fetchbench: shard {shard}: the ids whose position in the range is {} modulo {}",
            shard.index.unwrap_or(0),
            shard.count
        );
    }
    if !plan.quiet {
        for notice in super::notices::notices(&plan, todo) {
            eprintln!("fetchbench: note: {notice}");
        }
    }
    // Whether the list gave any id: stdin may be empty on purpose, which is noted, not refused.
    let read_an_id = Arc::new(AtomicBool::new(false));
    let mut all_stats = Vec::with_capacity(runs.len());
    let mut output_closed = false;
    for (i, run) in runs.iter().enumerate() {
        let last = i + 1 == runs.len();
        let done = done.of_run(i);
        let mut run_job;
        let saved = done.saved().filter(|_| crawl);
        let job = if crawl && saved.is_none() {
            // A crawl resumes by URL: its pages are fetched again, the results they lead to
            // that the file holds are not (a database's frontier goes on from its pages).
            run_job = job.clone();
            run_job.crawl.done = done.urls().to_vec();
            &run_job
        } else {
            job
        };
        let mut discard = Discard;
        let every_run = sink.every_run();
        if every_run {
            sink.start_run(&RunInfo {
                number: i as u32 + 1,
                mode: run.mode.to_string(),
                concurrency: run.concurrency.max(1),
                rate: plan.job.rate.map(|r| r.to_string()),
                command: super::identity::command_line(),
                version: concat!("fetchbench ", env!("CARGO_PKG_VERSION")).to_owned(),
            })
            .map_err(AppError::Output)?;
        }
        let target: &mut dyn RecordSink = if last || every_run {
            sink.as_mut()
        } else {
            &mut discard
        };
        // A crawl's results are not its seeds: the bar counts without a total.
        let total = todo_of(i).filter(|_| !job.crawl.is_crawl());
        let mut progress = ProgressSink::new(target, total, &run.mode.to_string(), plan.progress);
        let cannot_read = |e: io::Error| AppError::Usage {
            flag: "--ids",
            message: format!("cannot read: {e}"),
        };
        let source = match plan.repeat {
            Some(_) => id_list.passes().map_err(cannot_read)?,
            None => id_list.open().map_err(cannot_read)?,
        };
        let read = Arc::clone(&read_an_id);
        let ids = in_shard(
            plan.shard,
            source.inspect(move |_| read.store(true, Ordering::Relaxed)),
        )
        .filter(|id| crawl || !done.contains(id))
        .take(match plan.repeat {
            Some(Repeat::Requests(_)) => todo.map_or(usize::MAX, |n| n as usize),
            _ => usize::MAX,
        });
        let (mut stats, closed) =
            run_one(&template, job, *run, ids, saved, &mut progress, &cancel).await?;
        drop(progress);
        output_closed = closed;
        if matches!(plan.repeat, Some(Repeat::For(_))) && stats.ending == Ending::Deadline {
            // -z: the time was the plan, not a budget overrun.
            stats.ending = Ending::Completed;
        }
        let ended_early = stats.ending != Ending::Completed;
        all_stats.push(stats);
        if ended_early {
            break;
        }
    }
    // Once stdout's reader has gone, what is left to write has nowhere to go; the reports do.
    let unless_closed = |written: io::Result<()>| match written {
        Err(e) if output_closed && e.kind() == io::ErrorKind::BrokenPipe => Ok(()),
        other => other.map_err(AppError::Output),
    };
    unless_closed(sink.finish())?;
    if !plan.quiet {
        let stdin_empty = plan.ids == IdSource::Stdin && !read_an_id.load(Ordering::Relaxed);
        for line in super::notices::after_run(&all_stats, stdin_empty) {
            eprintln!("fetchbench: {line}");
        }
    }

    let interrupted = signals.received();
    let stopped_by = interrupted
        .map(Signal::name)
        .or(output_closed.then_some(OUTPUT_CLOSED));
    let mut report = Report::new(&all_stats, todo)
        .interrupted_by(stopped_by)
        .for_shard(plan.shard)
        .with_slo(plan.slo.as_ref())
        .with_fields(
            plan.job.fields.paths(),
            &job.crawl.follow,
            job.crawl.items.as_ref(),
            job.crawl.next.as_ref().map(NextPage::flag_value),
            &all_stats,
        );
    if plan.repeat.is_some() {
        let ids = match plan.shard {
            Some(shard) => id_list.count().map(|n| shard.share_of(n)),
            None => id_list.count(),
        };
        report.passes = ids.filter(|&n| n > 0).and_then(|n| {
            let most = all_stats.iter().map(|s| s.requests).max()?;
            Some(most as f64 / n as f64)
        });
    }
    if !plan.quiet {
        for line in super::notices::never_matched(&report.fields_never_matched) {
            eprintln!("fetchbench: {line}");
        }
    }
    report.keepalive = !plan.job.client.no_keepalive;
    report.insecure = plan.job.client.insecure;
    report.job = Some(super::identity::job_of(&plan, id_list.count()));
    if sink.every_run() {
        let runs: Vec<serde_json::Value> = report
            .runs
            .iter()
            .map(|r| serde_json::to_value(r).unwrap_or(serde_json::Value::Null))
            .collect();
        unless_closed(sink.end_runs(&runs))?;
    }
    if !plan.quiet {
        print_report(&report, paint);
    }
    if let Some(path) = &plan.report {
        report.write_json(path).map_err(AppError::Report)?;
    }
    if let Some(path) = &plan.html {
        let waterfalls: Vec<_> = all_stats.iter().map(|s| &s.waterfall).collect();
        html::write(path, &report, &waterfalls).map_err(AppError::Report)?;
    }
    // A list read as it goes cannot be checked before the run: what it held up to the bad line
    // was fetched and written; the ids after it were not, and that is no success.
    if let Some(error) = id_list.ended_early() {
        return Err(AppError::Usage {
            flag: "--ids",
            message: format!(
                "{error}; the ids before that line were fetched and written, none after it"
            ),
        });
    }
    let deadline_reached = all_stats.iter().any(|s| s.ending == Ending::Deadline);
    Ok(match interrupted {
        Some(signal) => Exit::Interrupted(signal),
        // The reader took what it wanted (`| head`): as for any Unix filter, not a failure.
        None if output_closed => Exit::Success,
        None if deadline_reached => Exit::DeadlineReached,
        None if report.all_ok() => Exit::Success,
        None => Exit::SomeFailed,
    })
}

/// `--find-rate`: the search, then its report (the step table on stderr, the JSON and HTML
/// reports with a `find_rate` section); exit 0 when a rate held, 1 when even the first step broke.
#[allow(clippy::too_many_arguments)]
async fn find_rate(
    plan: &Plan,
    spec: &super::plan::FindRate,
    template: &Template,
    job: &JobSpec,
    id_list: &IdList,
    cancel: &CancellationToken,
    signals: &SignalWatch,
    paint: Paint,
) -> Result<Exit, AppError> {
    let slo = plan.slo.clone().unwrap_or_default();
    let found =
        super::find_rate::search(spec, &slo, template, job, id_list, cancel, plan.quiet).await?;
    let interrupted = signals.received();
    let mut report = Report::new(&found.stats, None).interrupted_by(interrupted.map(Signal::name));
    // The steps share one concurrency: neither a sweep nor a comparison of modes.
    report.knee = None;
    report.speedup = None;
    report.keepalive = !plan.job.client.no_keepalive;
    report.insecure = plan.job.client.insecure;
    let held = found.report.sustained.is_some();
    report.find_rate = Some(found.report);
    if !plan.quiet {
        print_report(&report, paint);
    }
    if spec.json {
        // The search's results, where a run's records would go with --format json.
        let text = serde_json::to_string_pretty(&report).map_err(io::Error::other);
        let mut out = io::stdout().lock();
        text.and_then(|text| writeln!(out, "{text}").and_then(|()| out.flush()))
            .map_err(AppError::Output)?;
    }
    if let Some(path) = &plan.report {
        report.write_json(path).map_err(AppError::Report)?;
    }
    if let Some(path) = &plan.html {
        let waterfalls: Vec<_> = found.stats.iter().map(|s| &s.waterfall).collect();
        html::write(path, &report, &waterfalls).map_err(AppError::Report)?;
    }
    Ok(match interrupted {
        Some(signal) => Exit::Interrupted(signal),
        None if held => Exit::Success,
        None => Exit::SomeFailed,
    })
}

/// With --resume, the ids the output file already holds (the file is cleaned for appending),
/// once they are known to be ids this run fetches: a file that holds others (another shard's,
/// another range's) is refused as it is, rather than appended to out of order.
fn resume_point(plan: &Plan, id_list: &IdList) -> Result<DoneIds, AppError> {
    let usage = |message: String| AppError::Usage {
        flag: "--resume",
        message,
    };
    if !plan.resume {
        return Ok(DoneIds::default());
    }
    let Destination::File(path) = &plan.output else {
        return Err(usage("needs --output FILE".to_owned()));
    };
    if plan.format != Format::Ndjson {
        return Err(usage(format!(
            "works on NDJSON results, not {} (use --format ndjson)",
            plan.format
        )));
    }
    let cannot_read = |e: io::Error| usage(format!("cannot read {}: {e}", path.display()));
    let cleaned = resume::clean(path).map_err(cannot_read)?;
    // A crawl's records share their seeds' ids; -n and -z send ids again; a list of unknown
    // length (stdin streamed, an open range) cannot be read ahead.
    let flat = !plan.job.crawl.is_crawl() && plan.repeat.is_none();
    if flat && id_list.count().is_some() && plan.ids != IdSource::Stdin {
        let ids = id_list.open().map_err(|e| AppError::Usage {
            flag: "--ids",
            message: format!("cannot read: {e}"),
        })?;
        let ids = in_shard(plan.shard, ids);
        if let Some((count, example)) = resume::foreign(&cleaned.resumed().done, ids) {
            let whose = if plan.shard.is_some() {
                "another shard's"
            } else {
                "another job's"
            };
            return Err(usage(format!(
                "{} holds {count} ids this run does not fetch (such as {example}): {whose} \
                 results? Resume each job or shard into its own file (`fetchbench merge \
                 --results` joins them); the file was left as it was",
                path.display()
            )));
        }
    }
    let resumed = cleaned.commit().map_err(cannot_read)?;
    if !plan.quiet {
        eprintln!(
            "fetchbench: resuming {}: {} ids already done, {} failed ones to fetch again{}",
            path.display(),
            resumed.done.len(),
            resumed.failed,
            if resumed.damaged > 0 {
                format!(", {} damaged line(s) dropped", resumed.damaged)
            } else {
                String::new()
            }
        );
    }
    Ok(resumed.done)
}

fn open_output(plan: &Plan) -> Result<Box<dyn RecordSink + Send>, AppError> {
    let out: Box<dyn Write + Send> = match &plan.output {
        Destination::Stdout => Box::new(io::stdout()),
        Destination::File(path) => {
            let file = if plan.resume {
                OpenOptions::new().append(true).create(true).open(path)
            } else {
                File::create(path)
            };
            Box::new(file.map_err(|e| AppError::Usage {
                flag: "--output",
                message: format!("cannot create {}: {e}", path.display()),
            })?)
        }
    };
    output::sink(plan.format, out, plan.job.fields.paths().to_vec()).map_err(|e| AppError::Usage {
        flag: "--format",
        message: e.to_string(),
    })
}

/// Opens (or, with --resume, continues) a results database, before any request: what each run
/// already has, and the sink that writes the rest.
fn open_database(
    plan: &Plan,
    path: &std::path::Path,
) -> Result<(Done, Box<dyn RecordSink + Send>), AppError> {
    if plan.resume && plan.repeat.is_some() {
        // Checked in the plan too; a database keyed by id cannot hold the same id twice as done.
        return Err(AppError::Usage {
            flag: "--resume",
            message: "sends the ids again on purpose, which --resume would skip".to_owned(),
        });
    }
    let flag = if plan.resume { "--resume" } else { "--output" };
    let (sink, resumed) = SqliteSink::open(
        path,
        &super::identity::resume_identity(plan),
        plan.job.fields.paths(),
        plan.resume,
    )
    .map_err(|e| AppError::Usage {
        flag,
        message: e.to_string(),
    })?;
    if plan.resume && !plan.quiet {
        let last = plan.mode.runs(&plan.concurrency).len().saturating_sub(1);
        let done = resumed.done.get(last).map_or(0, Vec::len);
        let failed = resumed.failed.get(last).copied().unwrap_or(0);
        let frontier = match resumed.saved.get(last).filter(|s| !s.is_empty()) {
            Some(saved) => format!(
                "; the crawl goes on from its frontier: {} requests pending, {} pages and steps done",
                saved.pending.len(),
                saved.done.len()
            ),
            None => String::new(),
        };
        eprintln!(
            "fetchbench: resuming {}: {done} records already done, {failed} failed ones to fetch \
             again{frontier}",
            path.display()
        );
    }
    // A run may have saved work and no record yet, or records and no saved work.
    let runs = resumed.done.len().max(resumed.saved.len());
    let (mut rows, mut saved) = (resumed.done.into_iter(), resumed.saved.into_iter());
    let done = (0..runs)
        .map(|_| {
            let ids = DoneIds::from_rows(rows.next().unwrap_or_default());
            ids.with_saved(saved.next().unwrap_or_default())
        })
        .collect();
    Ok((Done::PerRun(done), Box::new(sink)))
}

/// Refuses an unwritable report path before anything is fetched, rather than after the run,
/// leaving a file already there as it was (and no file where there was none).
fn check_writable(path: Option<&std::path::Path>, flag: &'static str) -> Result<(), AppError> {
    let Some(path) = path else {
        return Ok(());
    };
    let existed = path.exists();
    let opened = OpenOptions::new().append(true).create(true).open(path);
    if opened.is_ok() && !existed {
        // Only made to learn it can be; the run writes it at its end.
        let _ = std::fs::remove_file(path);
    }
    opened.map(drop).map_err(|e| AppError::Usage {
        flag,
        message: format!("cannot create {}: {e}", path.display()),
    })
}

/// One run of the job, its records written to `sink` and counted into its statistics.
async fn run_one(
    template: &Template,
    job: &JobSpec,
    spec: RunSpec,
    ids: impl Iterator<Item = Id>,
    saved: Option<&SavedWork>,
    sink: &mut dyn RecordSink,
    cancel: &CancellationToken,
) -> Result<(RunStats, bool), AppError> {
    let mut run = Run::start(template, job, spec, ids, cancel.clone())?;
    if let Some(saved) = saved {
        run.resume(saved);
    }
    run.warm_up(job.warmup).await;
    let mut stats = RunStats::new(spec.mode, spec.concurrency.max(1), job.rate);
    let closed = match output::write_run(&mut run, sink, |record| stats.add(record)).await {
        Ok(()) => false,
        // The reader of stdout went away (`| head`): the run stops here, and its figures are
        // still reported, as for a signal; requests in flight are dropped.
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => true,
        Err(e) => return Err(AppError::Output(e)),
    };
    let mut end = run.end();
    if closed {
        end.ending = Ending::Cancelled;
    }
    stats.conclude(end);
    Ok((stats, closed))
}

/// The ids of a list that `shard` fetches, in order (all of them without `--shard`).
fn in_shard(shard: Option<Shard>, ids: impl Iterator<Item = Id>) -> impl Iterator<Item = Id> {
    ids.enumerate()
        .filter(move |(position, _)| shard.is_none_or(|s| s.takes(*position as u64)))
        .map(|(_, id)| id)
}

/// The report's `interrupted` when stdout's reader went away before the run's end.
const OUTPUT_CLOSED: &str = "output closed";

/// The template to fetch, starting the fixture server (kept alive by the caller) when needed.
async fn resolve_target(plan: &Plan) -> Result<(Template, Option<FixtureServer>), AppError> {
    match &plan.target {
        Target::Url(template) => Ok((template.clone(), None)),
        Target::Fixture(options) => {
            let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, 0));
            // On its own thread, so the run's timings are the client's alone.
            let server = FixtureServer::start_on_own_thread(addr, options.clone()).await?;
            let template = Template::parse_url(&server.url_template())?;
            if !plan.quiet {
                eprintln!(
                    "fetchbench: no --url given: fetching from the built-in fixture server \
                     ({} real pokeapi documents, {} simulated latency) at {}",
                    server.documents(),
                    humantime::format_duration(options.latency),
                    template.as_str()
                );
                if plan.job.client.cache.is_some() {
                    // Entries are keyed by URL, and this server's port is new each run.
                    eprintln!(
                        "fetchbench: note: the built-in fixture listens on a new port each run, \
                         so a later run finds none of its --cache entries; for a cache that \
                         lasts, run `fetchbench serve --port 8000` and fetch it with --url"
                    );
                }
            }
            Ok((template, Some(server)))
        }
    }
}

pub(super) fn print_report(report: &Report, paint: Paint) {
    let mut err = io::stderr().lock();
    // The report is best-effort: a closed stderr must not turn a good run into a failure.
    let _ = writeln!(err);
    let _ = human::write(report, &mut err, paint);
}
