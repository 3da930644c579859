//! The one place the job's options become a `reqwest::Client` (for the requests that go
//! through a proxy), and the headers every request starts with on either road.

use reqwest::header::{HeaderMap, HeaderValue, ACCEPT, ACCEPT_ENCODING, USER_AGENT};
use reqwest::Client;

use crate::engine::http::connections::ConnectionCounter;
use crate::engine::http::resolver::ResolveOnce;
use crate::engine::options::{head_limits, ClientOptions};

/// What fetchbench offers in `Accept-Encoding` unless told not to: what `decode` decodes.
pub const ACCEPT_ENCODING_VALUE: &str = "gzip, br, zstd, deflate";

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
            HeaderValue::from_static(ACCEPT_ENCODING_VALUE),
        );
    }
    headers
}

/// A client whose idle pool holds one connection per concurrent slot, through `proxies` (none:
/// not even the environment's, since `proxy` decides which requests go through one), with the
/// run's TLS configuration (see `tls::TlsSetup`). Redirects are off here: `Fetcher` follows them
/// itself, knowing which headers are secrets.
pub(crate) fn build(
    options: &ClientOptions,
    concurrency: usize,
    connections: &ConnectionCounter,
    resolver: ResolveOnce,
    proxies: Vec<reqwest::Proxy>,
    tls: rustls::ClientConfig,
) -> Result<Client, reqwest::Error> {
    let mut builder = Client::builder()
        .default_headers(default_headers(options))
        .timeout(options.timeout)
        .connect_timeout(options.connect_timeout)
        .redirect(reqwest::redirect::Policy::none())
        .use_preconfigured_tls(tls)
        .pool_max_idle_per_host(if options.no_keepalive { 0 } else { concurrency })
        .tcp_nodelay(true)
        .http2_max_header_list_size(head_limits::HEAD_BYTES as u32)
        .connector_layer(connections.clone())
        .dns_resolver(resolver);
    if options.max_headers != head_limits::FIELDS {
        builder = builder.http1_max_headers(options.max_headers);
    }
    if options.http1 {
        builder = builder.http1_only();
    }
    if options.http2 {
        builder = builder.http2_prior_knowledge();
    } else {
        // reqwest's own retries are for HTTP/2 refusals, which HTTP/1 cannot have; its retry
        // layer would still copy every request in case (`Engine` retries by its own policy).
        builder = builder.retry(reqwest::retry::never().max_retries_per_request(0));
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
