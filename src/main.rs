//! The `fetchbench` binary: parse the command line, run, map the outcome to an exit code
//! (0 all ok, 1 some requests failed, 2 usage error, 130 interrupted).

use std::process::ExitCode;

use anyhow::Context;
use clap::error::{ContextKind, ContextValue, ErrorKind};
use clap::Parser;
use fetchbench::cli::{self, run as app, subcommands, Cli, Command};

mod alloc;

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => return usage_error(&e),
    };
    match run(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("fetchbench: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    let mut builder = tokio::runtime::Builder::new_multi_thread();
    let set = std::env::var_os("TOKIO_WORKER_THREADS").is_some();
    if let Some(threads) = worker_threads(&cli, set) {
        builder.worker_threads(threads);
    }
    let runtime = builder
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    // The job runs as a task on a worker thread rather than on this thread (block_on): its request
    // tasks then wake it on the same thread, without a cross-thread wake-up per request.
    let paint = cli::Paint::for_stderr(cli.color);
    let job = runtime.spawn(async move {
        match cli.command {
            Some(Command::Serve(args)) => {
                subcommands::serve(&args).await.map(|()| app::Exit::Success)
            }
            Some(Command::Merge(args)) => subcommands::merge(&args, paint),
            Some(Command::Completions { shell }) => subcommands::completions(shell),
            Some(Command::Man) => subcommands::man_page(),
            Some(Command::Schema) => subcommands::report_schema(),
            Some(Command::Compare(args)) => subcommands::compare(&args),
            None => match cli.run.into_plan(cli::stdout_is_terminal()) {
                Ok(plan) => app::run(plan, paint).await,
                Err(e) => Err(e),
            },
        }
    });
    let result = runtime.block_on(job).context("the job's task failed")?;
    Ok(match result {
        Ok(exit) => ExitCode::from(exit.code()),
        Err(e) if e.is_broken_pipe() => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("fetchbench: error: {e}");
            ExitCode::from(e.exit_code())
        }
    })
}

/// The runtime's worker threads, when not tokio's default (one a core): the fetch run's road
/// decides (`RunArgs::worker_threads`), unless `TOKIO_WORKER_THREADS` (`env_set`) was given.
fn worker_threads(cli: &Cli, env_set: bool) -> Option<usize> {
    if env_set || cli.command.is_some() {
        return None;
    }
    cli.run.worker_threads()
}

/// Help and version go to stdout with exit 0; anything else is one line on stderr and exit 2.
fn usage_error(error: &clap::Error) -> ExitCode {
    if matches!(
        error.kind(),
        ErrorKind::DisplayHelp | ErrorKind::DisplayVersion
    ) {
        let _ = error.print();
        return ExitCode::SUCCESS;
    }
    // clap's message is a paragraph (a list of missing arguments may follow the first line), its
    // tips ("a similar argument exists", "to pass '-4' as a value, use '-- -4'"), then usage;
    // keep the paragraph and the tips, on one line.
    let rendered = error.render().to_string();
    let mut lines = rendered.lines().map(str::trim).skip_while(|l| l.is_empty());
    let mut message: Vec<&str> = lines.by_ref().take_while(|l| !l.is_empty()).collect();
    message.extend(lines.filter(|l| l.starts_with("tip:")));
    // A negative number after a flag reads as a flag of its own; say how to pass it as a value.
    if let Some(ContextValue::String(arg)) = error.get(ContextKind::InvalidArg) {
        let negative = arg
            .strip_prefix('-')
            .is_some_and(|rest| rest.starts_with(|c: char| c.is_ascii_digit() || c == '.'));
        if error.kind() == ErrorKind::UnknownArgument && negative {
            message.push("tip: counts, ids and durations are never negative, and a value that starts with '-' is read as a flag (to pass one, join it to its flag: `--retries=-1`)");
        }
    }
    eprintln!("fetchbench: {} (see fetchbench --help)", message.join("; "));
    ExitCode::from(2)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn threads(args: &[&str], env_set: bool) -> Option<usize> {
        let cli = Cli::try_parse_from(std::iter::once("fetchbench").chain(args.iter().copied()))
            .expect("valid arguments");
        worker_threads(&cli, env_set)
    }

    #[test]
    fn tls_and_http2_runs_take_one_worker() {
        assert_eq!(
            threads(&["--url", "https://example.test/{}"], false),
            Some(1)
        );
        assert_eq!(
            threads(&["--url", "HTTPS://example.test/{}"], false),
            Some(1)
        );
        assert_eq!(
            threads(&["--url", "http://example.test/{}", "--http2"], false),
            Some(1)
        );
    }

    #[test]
    fn plain_http_proxied_and_chosen_runs_keep_the_default() {
        assert_eq!(threads(&["--url", "http://example.test/{}"], false), None);
        assert_eq!(threads(&[], false), None);
        assert_eq!(threads(&["--url", "https://example.test/{}"], true), None);
        let proxied = [
            "--url",
            "https://example.test/{}",
            "--proxy",
            "http://127.0.0.1:3128",
        ];
        assert_eq!(threads(&proxied, false), None);
        assert_eq!(threads(&["serve", "--port", "0"], false), None);
        // Several HTTP/2 connections are asked for to use several cores.
        let several = ["--url", "https://example.test/{}", "--h2-connections", "2"];
        assert_eq!(threads(&several, false), None);
    }
}
