//! The CLI's job from plan to exit code: open the output, start the fixture server if no URL was
//! given, make each run through the engine, write the report.
//!
//! Everything that can fail because of the user's input (an unwritable file) fails here before
//! the first request, with exit code 2.

use std::fs::File;
use std::io::{self, Write};
use std::net::{Ipv4Addr, SocketAddr};

use thiserror::Error;
use tokio_util::sync::CancellationToken;

use crate::engine::{self, EngineError, JobSpec};
use crate::fixture::{FixtureServer, ServeError};
use crate::output::{self, Discard, RecordSink};
use crate::plan::template::{Template, TemplateError};
use crate::plan::{Destination, Plan, Target};
use crate::progress::ProgressSink;
use crate::report::{human, Report};

/// How the process ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// Every request succeeded.
    Success,
    /// The run completed but some requests failed.
    SomeFailed,
    /// Interrupted by SIGINT.
    Interrupted,
}

impl Exit {
    pub fn code(self) -> u8 {
        match self {
            Exit::Success => 0,
            Exit::SomeFailed => 1,
            Exit::Interrupted => 130,
        }
    }
}

/// Why the job could not run or finish.
#[derive(Debug, Error)]
pub enum AppError {
    /// Bad input found before any request: exit 2.
    #[error("{flag}: {message}")]
    Usage { flag: &'static str, message: String },
    #[error("built-in fixture server: {0}")]
    Fixture(#[from] ServeError),
    #[error("fixture server template: {0}")]
    Template(#[from] TemplateError),
    #[error(transparent)]
    Engine(#[from] EngineError),
    #[error("could not write the report: {0}")]
    Report(io::Error),
}

impl AppError {
    pub fn exit_code(&self) -> u8 {
        match self {
            AppError::Usage { .. } => 2,
            _ => 1,
        }
    }

    /// True when the reader of stdout went away (`| head`): not an error worth a message.
    pub fn is_broken_pipe(&self) -> bool {
        matches!(self, AppError::Engine(EngineError::Output(e)) if e.kind() == io::ErrorKind::BrokenPipe)
    }
}

/// Runs the plan to completion and says how the process should exit.
pub async fn run(plan: Plan) -> Result<Exit, AppError> {
    let mut sink = open_output(&plan)?;
    check_report_path(&plan)?;
    let (template, _fixture) = resolve_target(&plan).await?;
    let job = JobSpec {
        template,
        fields: plan.fields.clone(),
        client: plan.client.clone(),
        rate: plan.rate,
        burst: plan.burst,
    };
    let cancel = CancellationToken::new();
    let _signals = spawn_interrupt_watch(cancel.clone());

    let runs = plan.mode.runs(plan.concurrency);
    let mut all_stats = Vec::with_capacity(runs.len());
    for (i, run) in runs.iter().enumerate() {
        let last = i + 1 == runs.len();
        let mut discard = Discard;
        let target: &mut dyn RecordSink = if last { sink.as_mut() } else { &mut discard };
        let mut progress =
            ProgressSink::new(target, plan.ids.len(), &run.mode.to_string(), plan.progress);
        let stats = engine::run(&job, *run, plan.ids.iter(), &mut progress, &cancel).await?;
        drop(progress);
        all_stats.push(stats);
        if cancel.is_cancelled() {
            break;
        }
    }
    sink.finish().map_err(EngineError::Output)?;

    let report = Report::new(&all_stats);
    if !plan.quiet {
        print_report(&report, cancel.is_cancelled());
    }
    if let Some(path) = &plan.report {
        report.write_json(path).map_err(AppError::Report)?;
    }
    Ok(if cancel.is_cancelled() {
        Exit::Interrupted
    } else if report.all_ok() {
        Exit::Success
    } else {
        Exit::SomeFailed
    })
}

fn open_output(plan: &Plan) -> Result<Box<dyn RecordSink + Send>, AppError> {
    let out: Box<dyn Write + Send> = match &plan.output {
        Destination::Stdout => Box::new(io::stdout()),
        Destination::File(path) => Box::new(File::create(path).map_err(|e| AppError::Usage {
            flag: "--output",
            message: format!("cannot create {}: {e}", path.display()),
        })?),
    };
    Ok(output::sink(plan.format, out, plan.fields.paths().to_vec()))
}

/// Refuses an unwritable report path before anything is fetched, rather than after the run.
fn check_report_path(plan: &Plan) -> Result<(), AppError> {
    let Some(path) = &plan.report else {
        return Ok(());
    };
    File::create(path).map(drop).map_err(|e| AppError::Usage {
        flag: "--report",
        message: format!("cannot create {}: {e}", path.display()),
    })
}

/// The template to fetch, starting the fixture server (kept alive by the caller) when needed.
async fn resolve_target(plan: &Plan) -> Result<(Template, Option<FixtureServer>), AppError> {
    match &plan.target {
        Target::Url(template) => Ok((template.clone(), None)),
        Target::Fixture(options) => {
            let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, 0));
            let server = FixtureServer::start(addr, *options).await?;
            let template = Template::parse_url(&server.url_template())?;
            if !plan.quiet {
                eprintln!(
                    "fetchbench: no --url given: fetching from the built-in fixture server \
                     ({} real pokeapi documents, {} simulated latency) at {}",
                    server.documents(),
                    humantime::format_duration(options.latency),
                    template.as_str()
                );
            }
            Ok((template, Some(server)))
        }
    }
}

/// On Ctrl-C, stop starting requests; in-flight ones finish and their records are written.
fn spawn_interrupt_watch(cancel: CancellationToken) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        if tokio::signal::ctrl_c().await.is_ok() {
            cancel.cancel();
        }
    })
}

fn print_report(report: &Report, interrupted: bool) {
    let mut err = io::stderr().lock();
    // The report is best-effort: a closed stderr must not turn a good run into a failure.
    let _ = writeln!(err);
    if interrupted {
        let _ = writeln!(err, "interrupted: the report covers the requests completed");
    }
    let _ = human::write(report, &mut err);
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
