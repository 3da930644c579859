//! What a run is asked and what it gives back: the job's settings ([`JobSpec`]), each run's
//! scheduling ([`RunSpec`], [`RunMode`], [`Order`]), how it ended ([`Ending`], [`RunEnd`]) and
//! why it could not ([`EngineError`]). Its own room beside `options`, so the engine's rooms read
//! these types without an arrow back up to the engine's front door.

use std::fmt;
use std::num::NonZeroU32;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use thiserror::Error;

use super::cache::CacheError;
use super::crawl::{CrawlCounts, CrawlRules};
use super::host::pushback::PushbackCounts;
use super::host::throttle::ThrottleCounts;
use super::http::transport::{ProxyUse, SetupError};
use super::options::ClientOptions;
use crate::extract::FieldSet;
use crate::plan::rate::Rate;

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
