//! Which road carries a request: connections fetchbench holds itself (`direct`: plain HTTP/1,
//! HTTP/1 over TLS, HTTP/2 by ALPN or with `--http2`) for every request that goes through no
//! proxy, and reqwest for those that do (CONNECT tunnels, proxy authentication: see `proxy`).
//! Both answer with a [`Reply`], so the request, redirect and retry logic above is written once.

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};

use base64::Engine as _;
use bytes::Bytes;
use reqwest::header::{HeaderMap, HeaderValue, AUTHORIZATION, CONTENT_LENGTH, HOST};
use reqwest::{Method, Url};

use crate::engine::host::HostTable;
use crate::engine::http::advertised::LimitWatch;
use crate::engine::http::client;
use crate::engine::http::connections::{self, ConnectionCounter};
use crate::engine::http::direct::{self, Direct, DirectError, Origin};
pub(crate) use crate::engine::http::error::TransportError;
use crate::engine::http::proxy::{self, ProxyError, ProxyRoutes};
use crate::engine::http::reply;
use crate::engine::http::reply::DirectReply;
pub(crate) use crate::engine::http::reply::Reply;
use crate::engine::http::resolver::ResolveOnce;
use crate::engine::http::timers::Timers;
use crate::engine::http::tls::{Alpn, TlsSetup};
use crate::engine::http::url::UrlRenderer;
use crate::engine::options::ClientOptions;
use crate::engine::shape;
use crate::plan::ids::Id;

/// The runtime's worker threads a run on this road wants, when not one a core: one for a run
/// over TLS (an `https://` template) or HTTP/2 (`http2`) through no proxy, since a connection's
/// task and its requests' tasks on two workers wake each other across threads for every
/// response (as oha, it keeps a connection's work on one thread; plain HTTP/1.1 is faster on
/// two: the figures are in docs/performance.md, issue 31's second session). Several HTTP/2
/// connections (`h2_connections`) are there to use several cores, so they get one a core.
pub(crate) fn worker_threads(
    template: Option<&str>,
    http2: bool,
    proxied: bool,
    h2_connections: usize,
) -> Option<usize> {
    let tls = template.is_some_and(|url| {
        url.get(..8)
            .is_some_and(|scheme| scheme.eq_ignore_ascii_case("https://"))
    });
    (!proxied && (tls || http2) && h2_connections <= 1).then_some(1)
}

/// Where a request goes.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Target<'a> {
    Url(&'a Url),
    /// A URL on the run's prepared origin, as text exactly as parsing would write it (see
    /// [`Transport::prepare`]): sent over the direct path with the head built once, parsed only
    /// if a redirect needs it.
    Verbatim(&'a str, &'a Prepared),
}

impl Target<'_> {
    /// The host a request goes to (empty for a URL without one).
    pub(crate) fn host(&self) -> &str {
        match self {
            Target::Url(url) => url.host_str().unwrap_or_default(),
            Target::Verbatim(_, prepared) => prepared.origin.host(),
        }
    }

    /// The target as a parsed URL (to resolve a redirect's `Location` against).
    pub(crate) fn to_url(self) -> Result<Url, url::ParseError> {
        match self {
            Target::Url(url) => Ok(url.clone()),
            Target::Verbatim(text, _) => Url::parse(text),
        }
    }

    /// The URL as text (as robots.txt rules and the cache match it).
    pub(crate) fn text(&self) -> String {
        match self {
            Target::Url(url) => url.as_str().to_owned(),
            Target::Verbatim(text, _) => (*text).to_owned(),
        }
    }
}

/// An id's URL as the transport will carry it: what the request is sent to, and what records
/// show. Which road it takes is the transport's business; the request sees only this.
pub(crate) enum Located<'a> {
    /// On the run's prepared origin, sent with the head built once.
    Verbatim(String, &'a Prepared),
    /// Redacted for records, and as sent.
    Parsed(String, Url),
    /// The template's text with the id in, which is not a URL.
    Invalid(String),
}

impl Located<'_> {
    /// A URL found by a crawl.
    pub(crate) fn found(url: &Url) -> Self {
        Located::Parsed(shape::redact(url), url.clone())
    }

    /// Where the request goes; None for an id that gives no valid URL.
    pub(crate) fn target(&self) -> Option<Target<'_>> {
        match self {
            Located::Verbatim(text, prepared) => Some(Target::Verbatim(text, prepared)),
            Located::Parsed(_, url) => Some(Target::Url(url)),
            Located::Invalid(_) => None,
        }
    }

    /// The URL as records show it.
    pub(crate) fn text(&self) -> &str {
        match self {
            Located::Verbatim(text, _) | Located::Parsed(text, _) | Located::Invalid(text) => text,
        }
    }

    pub(crate) fn shown(self) -> String {
        match self {
            Located::Verbatim(text, _) | Located::Parsed(text, _) | Located::Invalid(text) => text,
        }
    }
}

/// What every direct request to the run's own origin starts with, built once per run: the
/// default headers merged with the run's fixed ones, Host and basic auth, so that no request
/// pays for merging them (the figure is in docs/performance.md, "Why the code is shaped so").
#[derive(Debug)]
pub(crate) struct Prepared {
    direct: Arc<Direct>,
    origin: Origin,
    /// Where the path starts in the URL's text.
    path_at: usize,
    head: HeaderMap,
    /// The run's fixed headers `head` was built with: a request carrying others (a
    /// revalidation's conditional headers) takes the parsed URL's road.
    fixed: HeaderMap,
}

impl Prepared {
    fn request(
        &self,
        method: Method,
        url: &str,
        body: Option<&String>,
    ) -> http::Request<direct::Body> {
        let uri = url[self.path_at..]
            .parse()
            .unwrap_or_else(|_| http::Uri::from_static("/"));
        finish_request(method, self.head.clone(), uri, body)
    }
}

/// Why a run's transport could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    #[error("could not set up the HTTP client for the proxy: {0}")]
    Client(#[from] reqwest::Error),
    #[error(transparent)]
    Proxy(#[from] ProxyError),
}

/// Which requests went through a proxy, and which proxies carried them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProxyUse {
    pub requests: u64,
    /// The proxies, passwords redacted.
    pub proxies: BTreeSet<String>,
}

/// The two roads of a run.
#[derive(Debug)]
pub(crate) struct Transport {
    /// For requests that go through a proxy, built on first use (with the TLS configuration,
    /// whose system roots are slow to load: a plain `http://` run never pays for them).
    proxied: OnceLock<reqwest::Client>,
    routes: ProxyRoutes,
    /// Requests sent through the http and the https proxy.
    proxied_requests: [AtomicU64; 2],
    concurrency: usize,
    counter: ConnectionCounter,
    resolver: ResolveOnce,
    direct: Arc<Direct>,
    tls: Arc<TlsSetup>,
    /// Headers every direct request starts with, as reqwest would send them.
    defaults: HeaderMap,
    /// The head of requests to the run's own origin, when the direct path carries them.
    prepared: Option<Prepared>,
    /// The direct path's `--timeout` timers.
    timers: Arc<Timers>,
    /// What the response heads said of rate limits, when the options ask to read them.
    limits: LimitWatch,
    options: ClientOptions,
}

impl Transport {
    pub(crate) fn new(
        options: &ClientOptions,
        concurrency: usize,
        counter: &ConnectionCounter,
        hosts: &Arc<HostTable>,
    ) -> Result<Self, SetupError> {
        let resolver = ResolveOnce::through(Arc::clone(hosts));
        let routes = ProxyRoutes::new(options.proxy.as_deref())?;
        // A proxy that reqwest would refuse fails the run now, before any request.
        if routes.any() {
            routes.for_reqwest()?;
        }
        let tls = Arc::new(TlsSetup::new(
            options.insecure,
            options.ca_certs.clone(),
            options.identity.clone(),
            Alpn::new(options.http2, options.http1),
        ));
        let direct = Arc::new(Direct::new(
            options,
            resolver.clone(),
            counter.clone(),
            Arc::clone(&tls),
        ));
        Ok(Self {
            proxied: OnceLock::new(),
            routes,
            proxied_requests: [AtomicU64::new(0), AtomicU64::new(0)],
            concurrency,
            counter: counter.clone(),
            resolver,
            direct,
            tls,
            defaults: client::default_headers(options),
            prepared: None,
            timers: Arc::default(),
            limits: LimitWatch::default(),
            options: options.clone(),
        })
    }

    /// What the responses said of rate limits so far (read only when the options ask).
    pub(crate) fn limits(&self) -> &LimitWatch {
        &self.limits
    }

    /// Builds once the head of every request to `base`'s origin carrying `headers` (the run's
    /// fixed headers), if the direct path carries that origin; see [`Target::Verbatim`].
    pub(crate) fn prepare(&mut self, base: &Url, headers: &HeaderMap) {
        if self.routes.for_url(base).is_some() {
            return;
        }
        let Some(origin) = Origin::of(base) else {
            return;
        };
        self.prepared = Some(Prepared {
            direct: Arc::clone(&self.direct),
            origin,
            path_at: base[..url::Position::BeforePath].len(),
            head: self.head_for(base, headers),
            fixed: headers.clone(),
        });
    }

    /// Where `id`'s request goes. On the run's prepared origin a numeric id's URL needs no
    /// parsing (nor redacting: it has no credentials or query); anything else is parsed.
    pub(crate) fn locate(&self, urls: &UrlRenderer, id: &Id) -> Located<'_> {
        if let Some(prepared) = &self.prepared {
            if let Some(text) = urls.verbatim(id) {
                return Located::Verbatim(text, prepared);
            }
        }
        match urls.url(id) {
            Ok(url) => Located::Parsed(shape::redact(&url), url),
            Err(_) => Located::Invalid(urls.render(id)),
        }
    }

    /// The requests sent through a proxy so far, and the proxies that carried them.
    pub(crate) fn proxy_use(&self) -> ProxyUse {
        let [http, https] = self
            .proxied_requests
            .each_ref()
            .map(|n| n.load(Ordering::Relaxed));
        let used = [(http, self.routes.http()), (https, self.routes.https())];
        ProxyUse {
            requests: http + https,
            proxies: used
                .into_iter()
                .filter(|(n, _)| *n > 0)
                .filter_map(|(_, proxy)| proxy.map(proxy::shown))
                .collect(),
        }
    }

    /// The reqwest client for requests that go through a proxy, built on first use; counts the
    /// request.
    fn proxied(&self, url: &Url) -> Result<&reqwest::Client, TransportError> {
        let scheme = usize::from(url.scheme() == "https");
        self.proxied_requests[scheme].fetch_add(1, Ordering::Relaxed);
        if let Some(client) = self.proxied.get() {
            return Ok(client);
        }
        let tls = self.tls.config().map_err(TransportError::TlsSetup)?;
        let built = client::build(
            &self.options,
            self.concurrency,
            &self.counter,
            self.resolver.clone(),
            self.routes.for_reqwest().map_err(TransportError::Pooled)?,
            (*tls).clone(),
        )
        .map_err(TransportError::Pooled)?;
        // Two first requests may race to build it; either client will do.
        Ok(self.proxied.get_or_init(|| built))
    }

    /// Sends one request (no redirect following: that is `redirect`'s job).
    ///
    /// An idempotent request that fails on a reused connection before any byte of a response
    /// came (the server closed it while idle, without `Connection: close`) is sent again at once
    /// on another connection, as browsers and curl do: that is not the server's answer, so it
    /// is neither a retry nor a failure. An HTTP/1 resend goes on a new connection; reqwest's
    /// pool chooses the connection itself, so each resend there drops one stale connection, at
    /// most one per pooled connection. A request an HTTP/2 server did not process (above its
    /// GOAWAY's last stream, or refused) is sent again the same way, whatever its method.
    pub(crate) async fn send(
        &self,
        method: Method,
        target: Target<'_>,
        headers: &HeaderMap,
        body: Option<&String>,
    ) -> Result<Reply, TransportError> {
        let mut resends = 0;
        let mut fresh = false;
        loop {
            let connects = connections::connects_so_far();
            let sent = self
                .send_once(method.clone(), target, headers, body, fresh)
                .await;
            match sent {
                Err(e) if resends <= self.concurrency && e.is_unprocessed() => {
                    resends += 1;
                }
                Err(e)
                    if e.is_cut_short()
                        && method.is_idempotent()
                        && connections::connects_so_far() == connects
                        && resends <= self.concurrency =>
                {
                    resends += 1;
                    fresh = true;
                }
                sent => {
                    if let (true, Ok(reply)) = (self.options.watch_limits, &sent) {
                        self.limits.note(reply.headers());
                    }
                    return sent;
                }
            }
        }
    }

    async fn send_once(
        &self,
        method: Method,
        target: Target<'_>,
        headers: &HeaderMap,
        body: Option<&String>,
        fresh: bool,
    ) -> Result<Reply, TransportError> {
        let url = match target {
            Target::Url(url) => url,
            Target::Verbatim(text, prepared) if *headers == prepared.fixed => {
                let request = prepared.request(method, text, body);
                let origin = prepared.origin.clone();
                return self
                    .send_direct(&prepared.direct, origin, request, fresh)
                    .await;
            }
            // Headers of its own (a revalidation's): the head is built for them.
            Target::Verbatim(text, _) => {
                let url = Url::parse(text).map_err(|e| {
                    let bad = std::io::Error::new(std::io::ErrorKind::InvalidInput, e);
                    TransportError::Direct(DirectError::Connect(bad))
                })?;
                return Box::pin(self.send_once(method, Target::Url(&url), headers, body, fresh))
                    .await;
            }
        };
        if self.routes.for_url(url).is_none() {
            let origin = Origin::of(url).ok_or_else(|| {
                let no_host = std::io::Error::new(std::io::ErrorKind::InvalidInput, "no host");
                TransportError::Direct(DirectError::Connect(no_host))
            })?;
            let request = self.direct_request(method, url, headers, body);
            return self.send_direct(&self.direct, origin, request, fresh).await;
        }
        // Through a proxy: reqwest's road.
        let client = self.proxied(url)?;
        let mut builder = client.request(method, url.clone()).headers(headers.clone());
        if let Some(body) = body {
            builder = builder.body(body.clone());
        }
        builder
            .send()
            .await
            .map(|r| Reply::Pooled(Box::new(r)))
            .map_err(TransportError::Pooled)
    }

    /// Sends `request` over the direct path, under the attempt's `--timeout`.
    async fn send_direct(
        &self,
        direct: &Arc<Direct>,
        origin: Origin,
        request: http::Request<direct::Body>,
        fresh: bool,
    ) -> Result<Reply, TransportError> {
        // The reply keeps it for the body: one timer per attempt, and a reused one.
        let mut deadline = self.timers.start(self.options.timeout);
        let sending = std::pin::pin!(direct.send(origin, request, fresh));
        let sent = reply::within(&mut deadline, sending).await;
        match sent {
            Some(Ok((response, lease))) => Ok(Reply::Direct(Box::new(DirectReply {
                response,
                lease: Some(lease),
                deadline,
            }))),
            Some(Err(e)) => Err(TransportError::Direct(e)),
            None => Err(TransportError::Direct(DirectError::Timeout)),
        }
    }

    /// The request as reqwest would have built it: its default headers, then the caller's, a
    /// Host header, and basic auth from the URL's user and password.
    fn direct_request(
        &self,
        method: Method,
        url: &Url,
        headers: &HeaderMap,
        body: Option<&String>,
    ) -> http::Request<direct::Body> {
        let uri = url[url::Position::BeforePath..]
            .parse()
            .unwrap_or_else(|_| http::Uri::from_static("/"));
        finish_request(method, self.head_for(url, headers), uri, body)
    }

    /// The headers of a request to `url` carrying `headers`, but for its body's length.
    fn head_for(&self, url: &Url, headers: &HeaderMap) -> HeaderMap {
        let mut all = self.defaults.clone();
        // A header given replaces the default of that name, and keeps all its values (`-H 'X: 1'
        // -H 'X: 2'` sends both), as reqwest's `headers` does.
        for name in headers.keys() {
            all.remove(name);
            for value in headers.get_all(name) {
                all.append(name.clone(), value.clone());
            }
        }
        if let Some(host) = host_header(url) {
            all.insert(HOST, host);
        }
        if !url.username().is_empty() && !all.contains_key(AUTHORIZATION) {
            if let Some(auth) = basic_auth(url) {
                all.insert(AUTHORIZATION, auth);
            }
        }
        all
    }
}

/// The request with its body, and the body's length where reqwest would send it.
fn finish_request(
    method: Method,
    mut head: HeaderMap,
    uri: http::Uri,
    body: Option<&String>,
) -> http::Request<direct::Body> {
    let body = body.map_or_else(Bytes::new, |b| Bytes::from(b.clone()));
    if !body.is_empty() || !matches!(method, Method::GET | Method::HEAD) {
        head.insert(CONTENT_LENGTH, HeaderValue::from(body.len()));
    }
    let mut request = http::Request::new(direct::Body::new(body));
    *request.method_mut() = method;
    *request.uri_mut() = uri;
    *request.headers_mut() = head;
    request
}

/// `host` or `host:port` when the port is not the scheme's default.
fn host_header(url: &Url) -> Option<HeaderValue> {
    // `host[:port]` as the URL holds it (the port only when not the scheme's default).
    let authority = &url[url::Position::BeforeHost..url::Position::AfterPort];
    (!authority.is_empty())
        .then(|| HeaderValue::from_str(authority).ok())
        .flatten()
}

/// `Basic base64(user:password)` from the URL, percent-decoded as reqwest does.
fn basic_auth(url: &Url) -> Option<HeaderValue> {
    let decode = |s: &str| {
        percent_encoding::percent_decode_str(s)
            .decode_utf8_lossy()
            .into_owned()
    };
    let user = decode(url.username());
    let password = url.password().map(decode).unwrap_or_default();
    let token = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
    let mut value = HeaderValue::from_str(&format!("Basic {token}")).ok()?;
    value.set_sensitive(true);
    Some(value)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::host::Politeness;
    use reqwest::header::{HeaderName, ACCEPT, USER_AGENT};

    fn request_for(url: &str, headers: &HeaderMap) -> http::Request<direct::Body> {
        let transport = Transport::new(
            &ClientOptions::default(),
            1,
            &ConnectionCounter::default(),
            &Arc::new(HostTable::new(Politeness::default())),
        )
        .expect("a transport");
        let url = Url::parse(url).expect("a URL");
        transport.direct_request(Method::GET, &url, headers, None)
    }

    #[test]
    fn direct_requests_carry_what_reqwest_would_send() {
        let mut headers = HeaderMap::new();
        let name = HeaderName::from_static("x-tag");
        headers.append(&name, HeaderValue::from_static("1"));
        headers.append(&name, HeaderValue::from_static("2"));
        headers.insert(ACCEPT, HeaderValue::from_static("application/json"));
        let request = request_for("http://alice:s%20cret@example.test:8080/a/b?q=1", &headers);
        let sent = request.headers();
        assert_eq!(request.uri(), "/a/b?q=1");
        assert_eq!(sent.get_all(&name).iter().count(), 2);
        assert_eq!(sent.get_all(ACCEPT).iter().count(), 1);
        assert_eq!(sent[ACCEPT], "application/json");
        assert_eq!(sent[HOST], "example.test:8080");
        assert!(sent[USER_AGENT]
            .to_str()
            .is_ok_and(|ua| ua.starts_with("fetchbench/")));
        // "alice:s cret", percent-decoded, in base64.
        assert_eq!(sent[AUTHORIZATION], "Basic YWxpY2U6cyBjcmV0");
        assert!(!sent.contains_key(CONTENT_LENGTH));
    }

    #[test]
    fn the_default_port_is_not_in_the_host_header() {
        let request = request_for("http://example.test/x", &HeaderMap::new());
        assert_eq!(request.headers()[HOST], "example.test");
    }

    #[test]
    fn a_prepared_request_is_the_request_built_for_its_url() {
        let mut transport = Transport::new(
            &ClientOptions::default(),
            1,
            &ConnectionCounter::default(),
            &Arc::new(HostTable::new(Politeness::default())),
        )
        .expect("a transport");
        let mut headers = HeaderMap::new();
        headers.insert(ACCEPT, HeaderValue::from_static("application/json"));
        let base = Url::parse("http://example.test:8080/").expect("a URL");
        transport.prepare(&base, &headers);
        let text = "http://example.test:8080/api/v2/pokemon/25";
        let body = "{}".to_owned();
        let prepared = transport
            .prepared
            .as_ref()
            .expect("http:// is carried direct");
        let fast = prepared.request(Method::POST, text, Some(&body));
        let url = Url::parse(text).expect("a URL");
        let built = transport.direct_request(Method::POST, &url, &headers, Some(&body));
        assert_eq!(fast.uri(), "/api/v2/pokemon/25");
        assert_eq!(fast.uri(), built.uri());
        assert_eq!(fast.headers(), built.headers());
        assert_eq!(fast.headers()[CONTENT_LENGTH], "2");
    }
}
