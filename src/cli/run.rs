//! The CLI's job from plan to exit code: open the output, start the fixture server if no URL was
//! given, make each run through the engine, write the report.
//!
//! Everything that can fail because of the user's input (an unwritable file) fails here before
//! the first request, with exit code 2.

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::net::{Ipv4Addr, SocketAddr};
use std::time::Duration;

use tokio_util::sync::CancellationToken;

pub use super::error::{AppError, Exit};
use super::plan::{format_from_extension, DEFAULT_CONCURRENCY};
use super::progress::ProgressSink;
use super::resume::{self, Done, DoneIds};
pub use super::signals::Signal;
use super::signals::SignalWatch;
use super::{Destination, Mode, Plan, Repeat, Target};
use crate::engine::{JobSpec, Run, RunSpec};
use crate::fixture::{BackgroundFixture, FixtureServer, ServeError};
use crate::output::{self, Discard, Format, RecordSink, RunInfo, SqliteSink};
use crate::plan::ids::{Id, IdList};
use crate::plan::template::Template;
use crate::report::paint::Paint;
use crate::report::stats::{Ending, RunStats};
use crate::report::{html, human, Report};

/// Runs the plan to completion and says how the process should exit.
pub async fn run(plan: Plan, paint: Paint) -> Result<Exit, AppError> {
    let (done, mut sink) = match (&plan.output, plan.format) {
        (Destination::File(path), Format::Sqlite) => open_database(&plan, path)?,
        _ => (Done::Every(resume_point(&plan)?), open_output(&plan)?),
    };
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
    let (template, _fixture) = resolve_target(&plan).await?;
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
        for notice in notices(&plan, todo) {
            eprintln!("fetchbench: note: {notice}");
        }
    }
    let mut all_stats = Vec::with_capacity(runs.len());
    for (i, run) in runs.iter().enumerate() {
        let last = i + 1 == runs.len();
        let done = done.of_run(i);
        let mut run_job;
        let job = if crawl {
            // A crawl resumes by URL: its pages are fetched again, the results they lead to
            // that the file holds are not.
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
                command: command_line(),
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
        let ids = source
            .enumerate()
            .filter(|(position, _)| plan.shard.is_none_or(|s| s.takes(*position as u64)))
            .map(|(_, id)| id)
            .filter(|id| crawl || !done.contains(id))
            .take(match plan.repeat {
                Some(Repeat::Requests(_)) => todo.map_or(usize::MAX, |n| n as usize),
                _ => usize::MAX,
            });
        let mut stats = run_one(&template, job, *run, ids, &mut progress, &cancel).await?;
        drop(progress);
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
    sink.finish().map_err(AppError::Output)?;

    let interrupted = signals.received();
    let mut report = Report::new(&all_stats, todo)
        .interrupted_by(interrupted.map(Signal::name))
        .for_shard(plan.shard)
        .with_slo(plan.slo.as_ref())
        .with_fields(
            plan.job.fields.paths(),
            &job.crawl.follow,
            job.crawl.items.as_ref(),
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
    for path in report.fields_never_matched.iter().filter(|_| !plan.quiet) {
        // A warning, not a failure: a field may be null in every document by design.
        let (flag, path) = match path.split_once(' ') {
            Some((flag, path)) if flag.starts_with("--") => (flag, path),
            _ => ("-f", path.as_str()),
        };
        eprintln!(
            "fetchbench: warning: {flag} {path}: matched nothing in any successful response; \
             check the path (keys are case-sensitive, lists need [N] or [*])"
        );
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
        sink.end_runs(&runs).map_err(AppError::Output)?;
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

/// What the flags ask for that will not happen as a reader of the command may think, one line
/// each: a setting that changes nothing, a format not named by the file's extension, a shard
/// with no ids, a rate that makes the run take hours.
fn notices(plan: &Plan, todo: Option<u64>) -> Vec<String> {
    let mut notices = Vec::new();
    if plan.mode == Mode::Sequential && plan.concurrency != [DEFAULT_CONCURRENCY] {
        notices.push(
            "-c applies to concurrent runs; -m sequential makes one request at a time \
             (add -m concurrent or -m both)"
                .to_owned(),
        );
    }
    if let (Destination::File(path), false) = (&plan.output, plan.format_given) {
        if path.extension().is_some() && format_from_extension(path).is_none() {
            notices.push(format!(
                "writing {} to {}: its extension names no format fetchbench writes (csv, json, \
                 ndjson, jsonl, txt, sqlite); --format chooses",
                plan.format,
                path.display()
            ));
        }
    }
    if let Some(shard) = plan.shard.filter(|s| s.count > 1) {
        let limits: Vec<String> = [
            plan.job.rate.map(|r| format!("--rate {r}")),
            plan.job
                .client
                .host_rate
                .map(|r| format!("--host-rate {r}")),
            plan.job
                .client
                .host_concurrency
                .map(|n| format!("--host-concurrency {n}")),
            match plan.repeat {
                Some(Repeat::Requests(_)) => todo.map(|n| format!("-n {n}")),
                _ => None,
            },
        ]
        .into_iter()
        .flatten()
        .collect();
        if !limits.is_empty() {
            notices.push(format!(
                "shard {shard} takes its share of the job's limits: {}",
                limits.join(", ")
            ));
        }
    }
    if let (Some(shard), Some(0)) = (plan.shard, todo) {
        notices.push(format!(
            "shard {shard} holds none of these ids (fewer ids than shards): nothing to fetch"
        ));
    }
    if let (Some(rate), Some(n)) = (plan.job.rate, todo) {
        let at_least = Duration::from_secs_f64(n as f64 / rate.per_second());
        if at_least > Duration::from_secs(600) {
            notices.push(format!(
                "at --rate {rate}, {n} requests take at least {}",
                humantime::format_duration(Duration::from_secs(at_least.as_secs()))
            ));
        }
    }
    notices
}

/// With --resume, the ids the output file already holds (the file is cleaned for appending).
fn resume_point(plan: &Plan) -> Result<DoneIds, AppError> {
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
    let resumed =
        resume::prepare(path).map_err(|e| usage(format!("cannot read {}: {e}", path.display())))?;
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
        &resume_identity(plan),
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
        eprintln!(
            "fetchbench: resuming {}: {done} records already done, {failed} failed ones to fetch \
             again",
            path.display()
        );
    }
    let done = resumed.done.into_iter().map(DoneIds::from_rows).collect();
    Ok((Done::PerRun(done), Box::new(sink)))
}

/// What makes a database's records the records of this job, for --resume: the URL template and
/// request, the ids, the fields, the crawl's rules and the runs (mode and how many), not the
/// limits (rate, deadline, concurrency) a resumed run may change.
fn resume_identity(plan: &Plan) -> crate::report::job::JobReport {
    let job = super::identity::job_of(plan, None);
    let mut settings: std::collections::BTreeMap<String, String> = job
        .settings
        .into_iter()
        .filter(|(name, _)| ["url", "ids", "fields", "request", "crawl"].contains(&name.as_str()))
        .collect();
    settings.insert(
        "runs".to_owned(),
        format!(
            "{:?} ({} runs)",
            plan.mode,
            plan.mode.runs(&plan.concurrency).len()
        )
        .to_lowercase(),
    );
    crate::report::job::JobReport::new(settings)
}

/// The command line as typed, for the database's `runs` rows, with what may be secret redacted:
/// header values, request bodies, and passwords or secret parameters in URLs.
fn command_line() -> String {
    let mut words = Vec::new();
    let mut hide_next: Option<&str> = None;
    for arg in std::env::args_os().skip(1) {
        let arg = arg.to_string_lossy().into_owned();
        let shown = match hide_next.take() {
            Some(flag) => redact_value(flag, &arg),
            None => {
                if let Some(flag) = SECRET_FLAGS.iter().find(|f| **f == arg) {
                    hide_next = Some(flag);
                    arg
                } else if let Some((flag, value)) = arg
                    .split_once('=')
                    .filter(|(f, _)| SECRET_FLAGS.contains(f))
                {
                    format!("{flag}={}", redact_value(flag, value))
                } else {
                    redact_url(&arg)
                }
            }
        };
        words.push(shell_quoted(&shown));
    }
    std::iter::once("fetchbench".to_owned())
        .chain(words)
        .collect::<Vec<_>>()
        .join(" ")
}

/// Flags whose value may hold a secret.
const SECRET_FLAGS: [&str; 6] = ["-H", "--header", "--data", "--json", "--proxy", "--url"];

/// A secret flag's value as the command line shows it: a header's name kept, a body (unless read
/// from a file, `@path`) hidden, a URL's password and secret parameters redacted.
fn redact_value(flag: &str, value: &str) -> String {
    match flag {
        "-H" | "--header" if value.starts_with('@') => value.to_owned(),
        "-H" | "--header" => match value.split_once(':') {
            Some((name, _)) => format!("{name}: <redacted>"),
            None => "<redacted>".to_owned(),
        },
        "--data" | "--json" if value.starts_with('@') => value.to_owned(),
        "--data" | "--json" => "<redacted>".to_owned(),
        _ => redact_url(value),
    }
}

fn redact_url(text: &str) -> String {
    match url::Url::parse(text) {
        Ok(url) if url.has_host() => {
            let shown = crate::engine::shape::redact(&url);
            if shown == url.as_str() {
                text.to_owned()
            } else {
                shown
            }
        }
        _ => text.to_owned(),
    }
}

/// `word` as a POSIX shell reads it back: bare when plain, else in single quotes.
fn shell_quoted(word: &str) -> String {
    let plain = !word.is_empty()
        && word
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./:=@,+%^".contains(c));
    if plain {
        word.to_owned()
    } else {
        format!("'{}'", word.replace('\'', "'\\''"))
    }
}

/// Refuses an unwritable report path before anything is fetched, rather than after the run.
fn check_writable(path: Option<&std::path::Path>, flag: &'static str) -> Result<(), AppError> {
    let Some(path) = path else {
        return Ok(());
    };
    File::create(path).map(drop).map_err(|e| AppError::Usage {
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
    sink: &mut dyn RecordSink,
    cancel: &CancellationToken,
) -> Result<RunStats, AppError> {
    let mut run = Run::start(template, job, spec, ids, cancel.clone())?;
    run.warm_up(job.warmup).await;
    let mut stats = RunStats::new(spec.mode, spec.concurrency.max(1), job.rate);
    output::write_run(&mut run, sink, |record| stats.add(record))
        .await
        .map_err(AppError::Output)?;
    stats.conclude(run.end());
    Ok(stats)
}

/// The template to fetch, starting the fixture server (kept alive by the caller) when needed.
async fn resolve_target(plan: &Plan) -> Result<(Template, Option<BackgroundFixture>), AppError> {
    match &plan.target {
        Target::Url(template) => Ok((template.clone(), None)),
        Target::Fixture(options) => {
            let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, 0));
            // On its own thread, so the run's timings are the client's alone.
            let server = BackgroundFixture::start(addr, *options).await?;
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

fn print_report(report: &Report, paint: Paint) {
    let mut err = io::stderr().lock();
    // The report is best-effort: a closed stderr must not turn a good run into a failure.
    let _ = writeln!(err);
    let _ = human::write(report, &mut err, paint);
}

/// `fetchbench serve`: the fixture server alone, until Ctrl-C.
pub async fn serve(
    addr: SocketAddr,
    options: crate::fixture::FixtureOptions,
) -> Result<(), AppError> {
    let server = FixtureServer::start(addr, options).await?;
    eprintln!(
        "fetchbench: serving {} real pokeapi documents with {} latency (+ up to {} jitter) at {}",
        server.documents(),
        humantime::format_duration(options.latency),
        humantime::format_duration(options.jitter),
        server.url_template()
    );
    tokio::select! {
        result = server.wait() => result.map_err(|e| AppError::Fixture(ServeError::Bind { addr, source: e })),
        _ = tokio::signal::ctrl_c() => Ok(()),
    }
}

/// `fetchbench merge`: shard reports into one report (printed side by side, JSON to the output),
/// or with `--results`, NDJSON results into one file in id order.
pub fn merge(args: &super::MergeArgs, paint: Paint) -> Result<Exit, AppError> {
    use crate::output::merge::{self as results, MergeResultsError};
    let failed = |flag: &'static str, message: String| AppError::Usage { flag, message };
    if let (true, Some(path)) = (args.results, &args.output) {
        if format_from_extension(path) == Some(Format::Sqlite) {
            return merge_databases(args, path);
        }
    }
    // A file output is written beside its place and renamed over it once whole, so a refused
    // merge leaves no half-merged file (and an existing one untouched).
    let mut file =
        match &args.output {
            Some(path) => Some(results::temporary_beside(path).map_err(|e| {
                failed("--output", format!("cannot create {}: {e}", path.display()))
            })?),
            None => None,
        };
    let persist = |file: Option<tempfile::NamedTempFile>| match (file, &args.output) {
        (Some(temp), Some(path)) => results::persist(temp, path)
            .map_err(|e| failed("--output", format!("cannot write {}: {e}", path.display()))),
        _ => Ok(()),
    };
    let mut stdout = io::stdout();
    let mut out = io::BufWriter::new(match &mut file {
        Some(temp) => temp.as_file_mut() as &mut dyn Write,
        None => &mut stdout,
    });
    if args.results {
        let mut merged = results::Merged::default();
        match results::merge_results(&args.files, &mut out, &mut merged) {
            Ok(()) => {}
            // The reader went away (`| head`): what it wanted was written.
            Err(MergeResultsError::Write(e)) if e.kind() == io::ErrorKind::BrokenPipe => {
                return Ok(Exit::Success)
            }
            Err(MergeResultsError::Write(e)) => return Err(AppError::Output(e)),
            Err(e) => {
                // Streamed: what stdout already got is not the whole merge.
                let partial = match (&args.output, merged.records) {
                    (None, 1) => "; the record written before it is not the whole merge".into(),
                    (None, n) if n > 1 => {
                        format!("; the {n} records written before it are not the whole merge")
                    }
                    _ => String::new(),
                };
                return Err(failed("merge --results", format!("{e}{partial}")));
            }
        }
        drop(out);
        for place in &merged.torn {
            eprintln!(
                "fetchbench: warning: {place}: dropped a torn last line (its write was \
                 interrupted): that record is not in the merge"
            );
        }
        persist(file)?;
        eprintln!(
            "fetchbench: merged {} records from {} files",
            merged.records,
            args.files.len()
        );
        return Ok(Exit::Success);
    }
    let reports = args
        .files
        .iter()
        .map(|p| Report::read_json(p).map_err(|e| failed("merge", format!("{}: {e}", p.display()))))
        .collect::<Result<Vec<_>, _>>()?;
    let named: Vec<(&std::path::Path, &Report)> = args
        .files
        .iter()
        .map(|p| p.as_path())
        .zip(&reports)
        .collect();
    let merged = crate::report::merge::merge_named(&named, |warning| {
        eprintln!("fetchbench: warning: {warning}")
    })
    .map_err(|e| failed("merge", e.to_string()))?;
    print_report(&merged, paint);
    if let Some(note) = crate::report::merge::sequential_note(&merged) {
        eprintln!("note: {note}");
    }
    let mut text =
        serde_json::to_string_pretty(&merged).map_err(|e| failed("merge", e.to_string()))?;
    text.push('\n');
    write_quietly(&mut out, text.as_bytes())?;
    drop(out);
    persist(file)?;
    Ok(if merged.all_ok() {
        Exit::Success
    } else {
        Exit::SomeFailed
    })
}

/// `fetchbench merge --results DB... -o merged.sqlite`: shard databases as one database, written
/// beside `path` and renamed over it once whole.
fn merge_databases(args: &super::MergeArgs, path: &std::path::Path) -> Result<Exit, AppError> {
    use crate::output::merge as results;
    let failed = |flag: &'static str, message: String| AppError::Usage { flag, message };
    let temp = results::temporary_beside(path)
        .map_err(|e| failed("--output", format!("cannot create {}: {e}", path.display())))?;
    let mut merged = results::Merged::default();
    results::merge_databases(&args.files, temp.path(), &command_line(), &mut merged)
        .map_err(|e| failed("merge --results", e.to_string()))?;
    results::persist(temp, path)
        .map_err(|e| failed("--output", format!("cannot write {}: {e}", path.display())))?;
    eprintln!(
        "fetchbench: merged {} records from {} databases into {}",
        merged.records,
        args.files.len(),
        path.display()
    );
    Ok(Exit::Success)
}

/// `fetchbench compare`: exit 1 when the current report regressed past the threshold.
pub fn compare(args: &super::CompareArgs) -> Result<Exit, AppError> {
    let read = |p: &std::path::Path| {
        Report::read_json(p).map_err(|e| AppError::Usage {
            flag: "compare",
            message: format!("{}: {e}", p.display()),
        })
    };
    let (baseline, current) = (read(&args.baseline)?, read(&args.current)?);
    if let Some(warning) = crate::report::compare::job_warning(&baseline, &current) {
        eprintln!("fetchbench: warning: {warning}");
    }
    let comparisons = crate::report::compare::compare(&baseline, &current, args.fail_if_slower);
    let _ = crate::report::compare::write(&comparisons, args.fail_if_slower, &mut io::stdout());
    let regressed = comparisons.iter().any(|c| !c.regressions.is_empty());
    Ok(if regressed {
        Exit::SomeFailed
    } else {
        Exit::Success
    })
}

/// `fetchbench completions SHELL`: the completion script, generated from the clap definition.
pub fn completions(shell: clap_complete::Shell) -> Result<Exit, AppError> {
    let mut command = <super::Cli as clap::CommandFactory>::command();
    let mut script = Vec::new();
    clap_complete::generate(shell, &mut command, "fetchbench", &mut script);
    print_quietly(&script)
}

/// `fetchbench man`: the man page, generated from the clap definition.
pub fn man_page() -> Result<Exit, AppError> {
    let command = <super::Cli as clap::CommandFactory>::command();
    let mut page = Vec::new();
    clap_mangen::Man::new(command)
        .render(&mut page)
        .map_err(AppError::Report)?;
    print_quietly(&page)
}

/// `fetchbench schema`: the JSON Schema of the report, generated from the report's types.
pub fn report_schema() -> Result<Exit, AppError> {
    let mut text = crate::report::json_schema();
    text.push('\n');
    print_quietly(text.as_bytes())
}

/// Writes to stdout; a reader that went away (`| head`) is not an error.
fn print_quietly(bytes: &[u8]) -> Result<Exit, AppError> {
    write_quietly(&mut io::stdout().lock(), bytes)
}

/// Writes `bytes` whole; a reader that went away (`| head`) is not an error.
fn write_quietly(out: &mut dyn Write, bytes: &[u8]) -> Result<Exit, AppError> {
    match out.write_all(bytes).and_then(|()| out.flush()) {
        Err(e) if e.kind() != io::ErrorKind::BrokenPipe => Err(AppError::Report(e)),
        _ => Ok(Exit::Success),
    }
}
