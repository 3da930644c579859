//! The fetch engine: one scheduler for every run, pulled one record at a time.
//!
//! Sequential is concurrency 1; concurrent allows N requests in flight: N long-lived workers, each
//! busy with one request from its start to its last body byte; a crawl is the same run whose
//! frontier also holds the work its responses created (see `frontier`, `crawl`). Before each
//! start the scheduler waits for a free worker and then for the shared rate limiter.
//! Completions go through a bounded release window (see `release`) and leave in output order
//! (or in completion order, when asked) as soon as the next one is in. Dispatch
//! happens only while the consumer asks for the next record and never runs more than the window
//! ahead of the oldest unreleased one, so memory stays flat for a range of any length, and a
//! consumer that stops asking (a dropped stream, a closed pipe) stops the requests too.

mod client;
pub(crate) mod crawl;
pub mod fetch;
pub(crate) mod frontier;
pub(crate) mod host;
pub mod http;
mod options;
pub mod pacer;
pub(crate) mod release;
mod run;
pub mod shape;
mod stop;
pub(crate) mod worker;

use std::fmt;
use std::num::NonZeroU32;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::extract::FieldSet;
use crate::plan::rate::Rate;

pub use self::client::Client;
pub use self::crawl::{CrawlCounts, CrawlRules, CrawlSettings, RuleError, StopRules};
pub use self::fetch::cache::CacheError;
pub use self::frontier::SavedWork;
pub use self::host::pushback::PushbackCounts;
pub use self::host::throttle::ThrottleCounts;
pub use self::http::proxy::ProxyError;
pub use self::http::transport::{ProxyUse, SetupError};
pub use self::options::{CacheMode, CacheSpec, ClientOptions, RetryPolicy};
pub use self::run::Run;

/// Why a run could not start or stopped before its end.
#[derive(Debug, Error)]
pub enum EngineError {
    /// The client could not be built (a TLS setting, a proxy that is not a URL).
    #[error(transparent)]
    Setup(#[from] SetupError),
    /// The cache directory cannot be used (`--cache`).
    #[error(transparent)]
    Cache(#[from] CacheError),
}

/// Which scheduling a run used.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum RunMode {
    Sequential,
    Concurrent,
}

impl fmt::Display for RunMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            RunMode::Sequential => "sequential",
            RunMode::Concurrent => "concurrent",
        })
    }
}

/// How a run ended.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Ending {
    /// Every id was fetched.
    #[default]
    Completed,
    /// The time budget (--deadline) ran out.
    Deadline,
    /// --max-errors failed requests.
    MaxErrors,
    /// Cancelled (a signal, or the library's cancellation handle).
    Cancelled,
}

/// What the engine knows of a run once it is over, beside its records: how it ended and what it
/// cost. The caller's statistics add these to what they gathered from the records.
#[derive(Debug, Clone, Default)]
pub struct RunEnd {
    pub ending: Ending,
    /// The wall clock at the instant records' offsets (`started`, `scheduled`) count from.
    pub epoch: Option<std::time::SystemTime>,
    /// Connections the measured run opened (the warm-up's not counted).
    pub connections_opened: u64,
    /// User plus system CPU time of the process during the run.
    pub client_cpu: Option<Duration>,
    /// Requests that went through a proxy, and which proxies carried them.
    pub proxy: ProxyUse,
    /// In a crawl: pages, and the links skipped and why.
    pub crawl: Option<CrawlCounts>,
    /// How often hosts pushed back (429, 503, a rate limit at zero), and the longest pause.
    pub pushback: PushbackCounts,
    /// With `--auto-throttle`: the delay and concurrency the busiest host converged to.
    pub throttle: Option<ThrottleCounts>,
}

/// How to fetch, shared by every run of a job; what to fetch is the URL template and the ids
/// each run is given. The command line's plan and the library's builder both make one.
#[derive(Debug, Clone)]
pub struct JobSpec {
    pub fields: FieldSet,
    /// What responses lead to (links to follow, next pages), if anything.
    pub crawl: CrawlRules,
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
