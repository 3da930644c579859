//! fetchbench: fetch a templated URL over a range of ids, sequentially or through a bounded,
//! rate-limited concurrent pool; extract JSON fields in id order; report the timings.
//!
//! The library's surface is a [`Job`]: build it with [`Job::builder`], then consume it as
//! callbacks ([`Job::run_with`]), as a stream ([`Job::stream`]) or all at once ([`Job::gather`]).
//! Each yields [`Record`]s (one per id, failures included) and a [`RunReport`] summary. A job
//! stops early on its cancellation handle ([`Job::cancel_handle`]), a deadline or an error budget.
//! The [`fixture`] module serves the real pokeapi documents on loopback, for offline examples.
//!
//! ```
//! # #[tokio::main] async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use fetchbench::{fixture::FixtureServer, Job};
//!
//! let server = FixtureServer::start("127.0.0.1:0".parse()?, Default::default()).await?;
//! let job = Job::builder(&server.url_template()).ids("25").field("types[0].type.name").build()?;
//! let (records, _) = job.gather().await?;
//! assert_eq!(records[0].fields[0], "electric");
//! # Ok(()) }
//! ```
//!
//! Data flows one way: the input vocabulary (`plan`), `record` and `extract` <- `engine` <-
//! `output` and `report` <- `cli`, the binary's driver. Only [`extract`] and [`fixture`] are
//! modules of the documented API; `cli` serves the `fetchbench` binary and is hidden.

#[doc(hidden)]
pub mod cli;
mod engine;
pub mod extract;
pub mod fixture;
mod job;
mod output;
mod plan;
mod record;
mod replace;
mod report;
#[cfg(test)]
mod test_support;

// The documented API: every type a public signature names is re-exported here.
pub use engine::{
    CacheError, CacheMode, Ending, EngineError, ProxyError, RuleError, RunMode, SetupError,
};
pub use job::{Job, JobBuilder, JobError};
pub use plan::ids::{Id, RangeError};
pub use plan::rate::RateError;
pub use plan::template::TemplateError;
pub use record::{CacheUse, ErrorKind, Failure, Lineage, Record, Timing, Wait, WaitCause};
pub use report::crawl::{CrawlReport, LevelReport};
pub use report::stats::LatencySummary;
pub use report::timeline::SecondReport;
pub use report::{CacheReport, PhasesReport, RateReport, RunReport, SlowReport};
