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
//! Data flows one way: `cli` -> `plan` -> `engine` -> ordered records -> `output` sinks and the
//! `report`. Those modules serve the `fetchbench` binary and are not part of the documented API.

#[doc(hidden)]
pub mod cli;
#[doc(hidden)]
pub mod engine;
#[doc(hidden)]
pub mod extract;
pub mod fixture;
mod job;
#[doc(hidden)]
pub mod output;
#[doc(hidden)]
pub mod plan;
mod record;
#[doc(hidden)]
pub mod report;
#[cfg(test)]
mod test_support;

pub use engine::{Ending, RunMode};
pub use job::{Job, JobBuilder, JobError};
pub use plan::ids::Id;
pub use record::{ErrorKind, Failure, Record};
pub use report::stats::LatencySummary;
pub use report::RunReport;
