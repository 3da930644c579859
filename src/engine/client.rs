//! How the HTTP client is set up for a run: the options users control and the one place they
//! become a `reqwest::Client`.

use std::time::Duration;

use reqwest::header::{HeaderMap, HeaderValue, ACCEPT, ACCEPT_ENCODING, USER_AGENT};
use reqwest::Client;

use super::connections::ConnectionCounter;
use super::decode;
use super::resolver::ResolveOnce;
use super::retry::RetryPolicy;
use super::shape::RequestShape;

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
    /// Bodies larger than this (after decompression) fail with "body too large" once it is passed.
    pub max_body: u64,
    /// Accept invalid TLS certificates.
    pub insecure: bool,
    /// CA certificates trusted besides the platform's roots (`--cacert`).
    pub ca_certs: Vec<reqwest::Certificate>,
    /// The client certificate and key presented to servers that ask for one (`--cert`/`--key`).
    pub identity: Option<reqwest::Identity>,
    /// Ask for compressed bodies (gzip, br, zstd, deflate) and decode them.
    pub compression: bool,
    /// Speak HTTP/2 from the first byte (prior knowledge), also on http://.
    pub http2: bool,
    /// Open a new connection for every request (no connection reuse).
    pub no_keepalive: bool,
    /// Pin host names to addresses (curl's `--resolve`), skipping DNS for them.
    pub resolve: Vec<(String, std::net::SocketAddr)>,
    /// Send every request through this proxy; else `HTTP_PROXY`/`HTTPS_PROXY`/`ALL_PROXY` apply,
    /// with `NO_PROXY` as curl reads it (see `proxy`).
    pub proxy: Option<String>,
    pub retry: RetryPolicy,
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
            max_body: 64 * 1024 * 1024,
            insecure: false,
            ca_certs: Vec::new(),
            identity: None,
            compression: true,
            http2: false,
            no_keepalive: false,
            resolve: Vec::new(),
            proxy: None,
            retry: RetryPolicy::default(),
        }
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

/// The headers every request starts with: `Accept: */*` (as reqwest and curl send), the
/// User-Agent, and Accept-Encoding unless compression is off or the user set their own.
pub(crate) fn default_headers(options: &ClientOptions) -> HeaderMap {
    let mut headers = HeaderMap::new();
    headers.insert(ACCEPT, HeaderValue::from_static("*/*"));
    if let Ok(agent) = HeaderValue::from_str(&options.user_agent) {
        headers.insert(USER_AGENT, agent);
    }
    let user_sets_encoding = options
        .shape
        .headers
        .iter()
        .any(|(n, _)| n == ACCEPT_ENCODING);
    if options.compression && !user_sets_encoding {
        headers.insert(
            ACCEPT_ENCODING,
            HeaderValue::from_static(decode::ACCEPT_ENCODING),
        );
    }
    headers
}

/// A client whose idle pool holds one connection per concurrent slot, through `proxies` (none:
/// not even the environment's, since `proxy` decides which requests go through one). Redirects
/// are off here: `Fetcher` follows them itself, knowing which headers are secrets.
pub(crate) fn build(
    options: &ClientOptions,
    concurrency: usize,
    connections: &ConnectionCounter,
    resolver: ResolveOnce,
    proxies: Vec<reqwest::Proxy>,
) -> Result<Client, reqwest::Error> {
    install_crypto();
    let mut builder = Client::builder()
        .default_headers(default_headers(options))
        .timeout(options.timeout)
        .connect_timeout(options.connect_timeout)
        .redirect(reqwest::redirect::Policy::none())
        .danger_accept_invalid_certs(options.insecure)
        .pool_max_idle_per_host(if options.no_keepalive { 0 } else { concurrency })
        .tcp_nodelay(true)
        .http2_max_header_list_size(head_limits::HEAD_BYTES as u32)
        .connector_layer(connections.clone())
        .dns_resolver(resolver);
    if options.max_headers != head_limits::FIELDS {
        builder = builder.http1_max_headers(options.max_headers);
    }
    if options.http2 {
        builder = builder.http2_prior_knowledge();
    } else {
        // reqwest's own retries are for HTTP/2 refusals, which HTTP/1 cannot have; its retry
        // layer would still copy every request in case (`Engine` retries by its own policy).
        builder = builder.retry(reqwest::retry::never().max_retries_per_request(0));
    }
    if !options.ca_certs.is_empty() {
        // Merged with the platform's roots, not instead of them: a private CA for one host
        // should not break the public ones a redirect may lead to.
        builder = builder.tls_certs_merge(options.ca_certs.iter().cloned());
    }
    if let Some(identity) = &options.identity {
        builder = builder.identity(identity.clone());
    }
    for (host, addr) in &options.resolve {
        builder = builder.resolve(host, *addr);
    }
    builder = builder.no_proxy();
    for proxy in proxies {
        builder = builder.proxy(proxy);
    }
    builder.build()
}

/// Makes ring the process's TLS crypto provider, unless one is installed already (by an earlier
/// run, or by a program using the library that chose its own). reqwest is built without a
/// provider of its own so that the first build does not compile aws-lc-sys.
fn install_crypto() {
    if rustls::crypto::CryptoProvider::get_default().is_none() {
        // Another thread may win the race; its provider is as good.
        let _ = rustls::crypto::ring::default_provider().install_default();
    }
}
