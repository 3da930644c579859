//! The options of a job's requests, as the command line and the library set them: how each
//! request is shaped, the HTTP client's settings, the limits, and how patiently to retry. Both
//! `fetch` (one work item) and `http` (the stacks) read them; what they do with them lives there.
//! They are data only: `http` turns them into its own types when it builds a client.

use std::path::PathBuf;
use std::time::Duration;

use crate::engine::shape::RequestShape;

/// How the HTTP client is set up for a run.
#[derive(Debug, Clone)]
pub struct ClientOptions {
    /// Method, body and headers of each request, and how redirects treat credentials.
    pub shape: RequestShape,
    pub user_agent: String,
    /// Per attempt, from connect to the end of the body.
    pub timeout: Duration,
    pub connect_timeout: Duration,
    pub max_redirects: usize,
    /// Most header fields a response may have (see `head_limits`).
    pub max_headers: usize,
    /// At most this many requests in flight to one host (`--host-concurrency`).
    pub host_concurrency: Option<usize>,
    /// Request starts to one host paced at this rate (`--host-rate`).
    pub host_rate: Option<crate::plan::rate::Rate>,
    /// Read each origin's robots.txt and keep to it (`--robots`).
    pub robots: bool,
    /// Keep responses on disk and answer from them as HTTP's caching rules (and the mode) allow
    /// (`--cache`); None: every request goes to the server.
    pub cache: Option<CacheSpec>,
    /// A host's 429 or 503 pauses every request to it, then paces them back up (see
    /// `host::pushback`); false with `--no-backoff`.
    pub backoff: bool,
    /// Space request starts to each host by its latency over this target concurrency
    /// (`--auto-throttle`, see `host::throttle`).
    pub auto_throttle: Option<f64>,
    /// Bodies larger than this (after decompression) fail with "body too large" once it is passed.
    pub max_body: u64,
    /// Accept invalid TLS certificates.
    pub insecure: bool,
    /// CA certificates trusted besides the platform's roots (`--cacert`).
    pub ca_certs: Vec<rustls::pki_types::CertificateDer<'static>>,
    /// The client certificate and key presented to servers that ask for one (`--cert`/`--key`).
    pub identity: Option<ClientIdentity>,
    /// Ask for compressed bodies (gzip, br, zstd, deflate) and decode them.
    pub compression: bool,
    /// Speak HTTP/2 from the first byte (prior knowledge), also on http://.
    pub http2: bool,
    /// Speak HTTP/1.1 only: over TLS, ALPN offers nothing else (`--http1.1`).
    pub http1: bool,
    /// HTTP/2 connections kept to an origin, each request on the least busy (`--h2-connections`;
    /// at least 1). More open only when every one's streams are in use.
    pub h2_connections: usize,
    /// Open a new connection for every request (no connection reuse).
    pub no_keepalive: bool,
    /// Pin host names to addresses (curl's `--resolve`), skipping DNS for them.
    pub resolve: Vec<(String, std::net::SocketAddr)>,
    /// Send every request through this proxy; else `HTTP_PROXY`/`HTTPS_PROXY`/`ALL_PROXY` apply,
    /// with `NO_PROXY` as curl reads it (see `proxy`).
    pub proxy: Option<String>,
    pub retry: RetryPolicy,
    /// Read every response head for advertised rate limits and spent quotas (the rate search's
    /// hook): the client built on these options keeps what they said, for all the runs started
    /// on it ([`Client::limits`](crate::engine::Client::limits)); false: not read.
    pub watch_limits: bool,
}

impl Default for ClientOptions {
    fn default() -> Self {
        Self {
            shape: RequestShape::default(),
            user_agent: concat!("fetchbench/", env!("CARGO_PKG_VERSION")).to_owned(),
            timeout: Duration::from_secs(30),
            connect_timeout: Duration::from_secs(10),
            max_redirects: 10,
            max_headers: head_limits::FIELDS,
            host_concurrency: None,
            host_rate: None,
            robots: false,
            cache: None,
            backoff: true,
            auto_throttle: None,
            max_body: 64 * 1024 * 1024,
            insecure: false,
            ca_certs: Vec::new(),
            identity: None,
            compression: true,
            http2: false,
            http1: false,
            h2_connections: 1,
            no_keepalive: false,
            resolve: Vec::new(),
            proxy: None,
            retry: RetryPolicy::default(),
            watch_limits: false,
        }
    }
}

/// The client certificate chain (leaf first) and its private key, for mutual TLS (`--cert`/
/// `--key`), as `http::tls::load_identity` read them and checked the key against the leaf.
pub struct ClientIdentity {
    pub(crate) chain: Vec<rustls::pki_types::CertificateDer<'static>>,
    pub(crate) key: rustls::pki_types::PrivateKeyDer<'static>,
}

impl Clone for ClientIdentity {
    fn clone(&self) -> Self {
        Self {
            chain: self.chain.clone(),
            key: self.key.clone_key(),
        }
    }
}

impl std::fmt::Debug for ClientIdentity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the key.
        f.debug_struct("ClientIdentity")
            .field("certificates", &self.chain.len())
            .finish_non_exhaustive()
    }
}

/// How large a response head may be. The sizes are curl's: one header field at most 100 KiB
/// (`CURL_MAX_HTTP_HEADER`), the whole head at most 300 KiB (`MAX_HTTP_RESP_HEADER_SIZE`). curl
/// does not count fields; hyper must, and parses up to 100 into an array on the stack: any other
/// count puts two arrays of that many slots on the heap for every response, which costs more
/// than the rest of the client's work on a small response (docs/performance.md). So 100 is the
/// default and `--max-headers` raises it for the APIs that need more.
pub mod head_limits {
    /// Largest header field (name and value).
    pub const FIELD_BYTES: usize = 100 * 1024;
    /// Largest response head: status line and every header.
    pub const HEAD_BYTES: usize = 300 * 1024;
    /// Most header fields in one response, unless `--max-headers` says otherwise: hyper's own.
    pub const FIELDS: usize = 100;
}

/// How many times and how patiently to retry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Retries after the first attempt (0 = try once).
    pub retries: u32,
    /// First backoff ceiling; doubles with every retry.
    pub base: Duration,
    /// Largest backoff ceiling.
    pub cap: Duration,
    /// Longest wait a `Retry-After` header may impose.
    pub max_retry_wait: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            retries: 2,
            base: Duration::from_millis(100),
            cap: Duration::from_secs(30),
            max_retry_wait: Duration::from_secs(60),
        }
    }
}

/// How the cache answers (`--cache-mode`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum CacheMode {
    /// HTTP's rules: a fresh entry is served without a request, a stale one is revalidated.
    #[default]
    Normal,
    /// Every stored entry is revalidated, fresh or not.
    Refresh,
    /// A stored entry is served whatever its age (offline re-runs); a miss is fetched and stored.
    Replay,
    /// Never touch the network: a stored entry is served whatever its age, a miss is a failure.
    OnlyCached,
}

/// Where the cache lives and how it answers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CacheSpec {
    pub dir: PathBuf,
    pub mode: CacheMode,
}
