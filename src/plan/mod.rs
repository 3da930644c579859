//! The plan: what to fetch and how, validated before any I/O.
//!
//! The command line is parsed once into a [`Plan`]; everything after that reads typed values and
//! never re-parses text. Each piece of syntax has its own module with its own error type.

pub mod ids;
pub mod rate;
pub mod shard;
pub mod spool;
pub mod template;
pub mod url;

use std::num::NonZeroU32;
use std::path::PathBuf;

use clap::ValueEnum;

use crate::engine::{ClientOptions, RunSpec};
use crate::extract::FieldSet;
use crate::fixture::FixtureOptions;
use crate::output::Format;
use crate::report::stats::RunMode;

use self::ids::IdSource;
use self::rate::Rate;
use self::template::Template;

/// Which runs to make.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Mode {
    /// One request after another.
    Sequential,
    /// Up to --concurrency requests in flight.
    Concurrent,
    /// Sequential first, then concurrent, compared side by side.
    Both,
}

impl Mode {
    /// The runs this mode makes, in order: sequential first, then one concurrent run per level
    /// (a sweep when there are several). The last run's records are the results written.
    pub fn runs(self, levels: &[usize]) -> Vec<RunSpec> {
        let sequential = RunSpec::new(RunMode::Sequential, 1);
        let concurrent = levels
            .iter()
            .map(|&level| RunSpec::new(RunMode::Concurrent, level));
        match self {
            Mode::Sequential => vec![sequential],
            Mode::Concurrent => concurrent.collect(),
            Mode::Both => std::iter::once(sequential).chain(concurrent).collect(),
        }
    }
}

/// Where requests go.
#[derive(Debug, Clone)]
pub enum Target {
    /// The built-in fixture server, started on loopback for this run.
    Fixture(FixtureOptions),
    /// A user-given URL template.
    Url(Template),
}

/// Where the results go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Destination {
    Stdout,
    File(PathBuf),
}

/// A validated job, ready to run.
#[derive(Debug, Clone)]
pub struct Plan {
    pub target: Target,
    pub ids: IdSource,
    /// Only this shard's share of the ids.
    pub shard: Option<self::shard::Shard>,
    pub mode: Mode,
    /// Concurrency levels: one concurrent run per level (never empty).
    pub concurrency: Vec<usize>,
    pub rate: Option<Rate>,
    pub burst: NonZeroU32,
    pub fields: FieldSet,
    pub client: ClientOptions,
    pub format: Format,
    pub output: Destination,
    pub report: Option<PathBuf>,
    /// The visual report's path.
    pub html: Option<PathBuf>,
    /// After a signal, how long in-flight requests may finish before they are aborted.
    pub grace: std::time::Duration,
    /// Skip the ids already in the output file and append the rest.
    pub resume: bool,
    /// Requests made before each measured run, counted in no figure.
    pub warmup: u64,
    /// Time budget per run.
    pub deadline: Option<std::time::Duration>,
    /// Stop a run after this many failed requests.
    pub max_errors: Option<u64>,
    /// Show progress bars (still only when stderr is a terminal).
    pub progress: bool,
    /// Print nothing on stderr but errors.
    pub quiet: bool,
}
