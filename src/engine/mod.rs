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

pub(crate) mod cache;
mod client;
pub(crate) mod crawl;
pub mod decode;
pub mod fetch;
pub(crate) mod frontier;
pub(crate) mod host;
pub mod http;
mod options;
pub mod pacer;
pub(crate) mod release;
mod run;
pub mod shape;
mod spec;
mod stop;
pub(crate) mod worker;

pub use self::cache::CacheError;
pub use self::client::Client;
pub use self::crawl::{CrawlCounts, CrawlRules, CrawlSettings, RuleError};
pub use self::frontier::SavedWork;
pub use self::host::pushback::PushbackCounts;
pub use self::host::throttle::ThrottleCounts;
pub use self::http::proxy::ProxyError;
pub use self::http::transport::SetupError;
pub use self::options::{CacheMode, CacheSpec, ClientOptions, RetryPolicy};
pub use self::run::Run;
pub use self::spec::{Ending, EngineError, JobSpec, Order, RunEnd, RunMode, RunSpec};
