//! The fetch engine: one scheduler for both modes, pulled one record at a time.
//!
//! Sequential is concurrency 1; concurrent allows N requests in flight: N long-lived workers, each
//! busy with one request from its start to its last body byte. Before each start the scheduler
//! waits for a free worker and then for the shared rate limiter. Completions go through a bounded reorder window and leave
//! in range order (or in completion order, when asked) as soon as the next one is in. Dispatch
//! happens only while the consumer asks for the next record and never runs more than the window
//! ahead of the oldest unreleased one, so memory stays flat for a range of any length, and a
//! consumer that stops asking (a dropped stream, a closed pipe) stops the requests too.

pub mod client;
pub mod connections;
pub mod decode;
mod direct;
mod failure;
pub mod pacer;
mod proxy;
mod redirect;
pub mod reorder;
mod reply;
pub mod request;
mod resolver;
pub mod retry;
mod run;
mod settle;
pub mod shape;
pub(crate) mod tls;
mod transport;
mod worker;

use std::io;
use std::num::NonZeroU32;
use std::time::Duration;

use thiserror::Error;
use tokio_util::sync::CancellationToken;

use crate::extract::FieldSet;
use crate::output::RecordSink;
use crate::plan::ids::Id;
use crate::plan::rate::Rate;
use crate::plan::template::Template;
use crate::report::stats::{RunMode, RunStats};

pub use self::client::ClientOptions;
pub use self::proxy::ProxyError;
pub use self::retry::RetryPolicy;
pub use self::run::Run;
pub use self::transport::{ProxyUse, SetupError};

/// Why a run could not start or stopped before its end.
#[derive(Debug, Error)]
pub enum EngineError {
    /// The client could not be built (a TLS setting, a proxy that is not a URL).
    #[error(transparent)]
    Setup(#[from] SetupError),
    /// Writing a record failed (a closed pipe, a full disk); the run stopped.
    #[error("could not write results: {0}")]
    Output(#[source] io::Error),
}

/// What to fetch and how: shared by every run of a job.
#[derive(Debug, Clone)]
pub struct JobSpec {
    pub template: Template,
    pub fields: FieldSet,
    pub client: ClientOptions,
    pub rate: Option<Rate>,
    pub burst: NonZeroU32,
    /// After a cancel, how long in-flight requests may take to finish before they are aborted.
    pub grace: Duration,
    /// Time budget of a run: when it is spent, no request starts and in-flight ones are cancelled.
    pub deadline: Option<Duration>,
    /// Stop after this many failed requests (1 = cancel on the first failure).
    pub max_errors: Option<u64>,
    /// Requests made (on the run's client, the first ids) before the measured run.
    pub warmup: u64,
}

/// In which order records are released.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Order {
    /// Range order, whatever order the responses came in.
    #[default]
    Ids,
    /// As soon as each request completes.
    Completion,
}

/// One run: a mode, the number of requests it may have in flight, and the release order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RunSpec {
    pub mode: RunMode,
    pub concurrency: usize,
    pub order: Order,
    /// How many records dispatch may run ahead of the last one handed out. Wider lets requests go
    /// on past a slow one (head-of-line) at the cost of parked records; a lazily pulled stream
    /// uses the concurrency itself, so it never fetches more than that beyond what was taken.
    pub lookahead: u64,
}

impl RunSpec {
    pub fn new(mode: RunMode, concurrency: usize) -> Self {
        Self {
            mode,
            concurrency,
            order: Order::Ids,
            lookahead: reorder_window(concurrency),
        }
    }
}

/// How far dispatch may run ahead of the oldest record not yet released.
fn reorder_window(concurrency: usize) -> u64 {
    (concurrency as u64).saturating_mul(4).max(16)
}

/// Longest a written record may wait in the sink's buffer before it is flushed.
const FLUSH_INTERVAL: Duration = Duration::from_millis(10);

/// Runs `ids` under `run`, writing records to `sink` as they are released. Records are flushed in
/// batches: when no record came for `FLUSH_INTERVAL` (10 ms), or that long after the last flush, so a
/// reader sees each whole record within 10 ms without a write call per record at 50,000/s.
pub async fn run(
    job: &JobSpec,
    run: RunSpec,
    ids: impl Iterator<Item = Id>,
    sink: &mut dyn RecordSink,
    cancel: &CancellationToken,
) -> Result<RunStats, EngineError> {
    let mut run = Run::start(job, run, ids, cancel.clone())?;
    run.warm_up(job.warmup).await;
    // One timer for the whole run, re-armed when a batch starts: a timer per record would cost
    // more than the write it saves.
    let flush_timer = tokio::time::sleep(FLUSH_INTERVAL);
    tokio::pin!(flush_timer);
    let mut unflushed = false;
    loop {
        tokio::select! {
            // `Run::next` is cancel-safe, so giving up on it to flush loses nothing.
            next = run.next() => {
                let Some(record) = next else { break };
                sink.write(&record).map_err(EngineError::Output)?;
                if !unflushed {
                    unflushed = true;
                    flush_timer.as_mut().reset(tokio::time::Instant::now() + FLUSH_INTERVAL);
                }
            }
            () = &mut flush_timer, if unflushed => {
                sink.flush().map_err(EngineError::Output)?;
                unflushed = false;
            }
        }
    }
    sink.flush().map_err(EngineError::Output)?;
    Ok(run.into_stats())
}
