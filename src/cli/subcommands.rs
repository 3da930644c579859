//! The subcommands besides a run: `serve`, `merge`, `compare`, and the generated `completions`,
//! `man` page and report `schema`.

use std::io::{self, Write};

use super::error::{AppError, Exit};
use super::identity::command_line;
use super::plan::format_from_extension;
use super::run::print_report;
use crate::fixture::{FixtureServer, ServeError};
use crate::output::Format;
use crate::report::paint::Paint;
use crate::report::Report;

/// `fetchbench serve`: the fixture server alone, until Ctrl-C.
pub async fn serve(args: &super::ServeArgs) -> Result<(), AppError> {
    let (addr, options) = (
        args.addr(),
        args.fixture_options().map_err(ServeError::from)?,
    );
    let (latency, jitter) = (options.latency, options.jitter);
    let server = FixtureServer::start(addr, options).await?;
    eprintln!(
        "fetchbench: serving {} real pokeapi documents with {} latency (+ up to {} jitter) at {}",
        server.documents(),
        humantime::format_duration(latency),
        humantime::format_duration(jitter),
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
            Some(path) => Some(crate::replace::beside(path).map_err(|e| {
                failed("--output", format!("cannot create {}: {e}", path.display()))
            })?),
            None => None,
        };
    let persist = |file: Option<tempfile::NamedTempFile>| match (file, &args.output) {
        (Some(temp), Some(path)) => crate::replace::persist(temp, path)
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
        if let Some(order) = &merged.reordered {
            let names: Vec<String> = order.iter().map(|p| p.display().to_string()).collect();
            eprintln!(
                "fetchbench: note: took the files in the order of the numbers in their names: {}",
                names.join(", ")
            );
        }
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
    let temp = crate::replace::beside(path)
        .map_err(|e| failed("--output", format!("cannot create {}: {e}", path.display())))?;
    let mut merged = results::Merged::default();
    results::merge_databases(&args.files, temp.path(), &command_line(), &mut merged)
        .map_err(|e| failed("merge --results", e.to_string()))?;
    crate::replace::persist(temp, path)
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
