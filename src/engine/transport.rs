//! Which HTTP stack carries a request: the direct HTTP/1 path for plain `http://` without a
//! proxy or HTTP/2 (see `direct`), reqwest for everything else. Both answer with a [`Reply`], so
//! the request, redirect and retry logic above is written once.

use std::sync::{Arc, OnceLock};
use std::time::Instant;

use base64::Engine as _;
use bytes::Bytes;
use reqwest::header::{HeaderMap, HeaderValue, AUTHORIZATION, CONTENT_LENGTH, HOST};
use reqwest::{Method, Url};

use super::client::{self, ClientOptions};
use super::connections::ConnectionCounter;
use super::direct::{self, Direct, DirectError, Origin};
pub(crate) use super::reply::Reply;
use super::resolver::ResolveOnce;

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
    /// The target as a parsed URL (to resolve a redirect's `Location` against).
    pub(crate) fn to_url(self) -> Result<Url, url::ParseError> {
        match self {
            Target::Url(url) => Ok(url.clone()),
            Target::Verbatim(text, _) => Url::parse(text),
        }
    }
}

/// What every direct request to the run's own origin starts with, built once per run: the
/// default headers merged with the run's fixed ones, Host and basic auth (about 2,000
/// instructions a request when built each time, at 50,000 requests/s).
#[derive(Debug)]
pub(crate) struct Prepared {
    direct: Arc<Direct>,
    origin: Origin,
    /// Where the path starts in the URL's text.
    path_at: usize,
    head: HeaderMap,
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

/// A failed exchange, from whichever stack carried it.
#[derive(Debug)]
pub(crate) enum TransportError {
    Pooled(reqwest::Error),
    Direct(DirectError),
}

/// The two stacks of a run.
#[derive(Debug)]
pub(crate) struct Transport {
    /// Built on first use when the direct path may carry the run (an `http://` run then never
    /// pays the ~10 ms of loading the system's CA certificates), up front otherwise.
    pooled: OnceLock<reqwest::Client>,
    concurrency: usize,
    counter: ConnectionCounter,
    resolver: ResolveOnce,
    /// None when every request must go through reqwest (a proxy, HTTP/2).
    direct: Option<Arc<Direct>>,
    /// Headers every direct request starts with, as reqwest would send them.
    defaults: HeaderMap,
    /// The head of requests to the run's own origin, when the direct path carries them.
    prepared: Option<Prepared>,
    options: ClientOptions,
}

impl Transport {
    pub(crate) fn new(
        options: &ClientOptions,
        concurrency: usize,
        counter: &ConnectionCounter,
    ) -> Result<Self, reqwest::Error> {
        let resolver = ResolveOnce::default();
        let direct = direct_allowed(options).then(|| {
            Arc::new(Direct::new(
                !options.no_keepalive,
                options.connect_timeout,
                options.resolve.clone(),
                resolver.clone(),
                counter.clone(),
            ))
        });
        let transport = Self {
            pooled: OnceLock::new(),
            concurrency,
            counter: counter.clone(),
            resolver,
            direct,
            defaults: client::default_headers(options),
            prepared: None,
            options: options.clone(),
        };
        if transport.direct.is_none() {
            // Everything goes through reqwest: a bad setting (a proxy URL) fails the run now.
            transport.pooled()?;
        }
        Ok(transport)
    }

    /// Builds once the head of every request to `base`'s origin carrying `headers` (the run's
    /// fixed headers), if the direct path carries that origin; see [`Target::Verbatim`].
    pub(crate) fn prepare(&mut self, base: &Url, headers: &HeaderMap) {
        let Some((direct, origin)) = self.direct.clone().zip(Origin::of(base)) else {
            return;
        };
        self.prepared = Some(Prepared {
            direct,
            origin,
            path_at: base[..url::Position::BeforePath].len(),
            head: self.head_for(base, headers),
        });
    }

    /// The prepared origin's head, if there is one.
    pub(crate) fn prepared(&self) -> Option<&Prepared> {
        self.prepared.as_ref()
    }

    /// Whether any request of the run has gone through reqwest (and its pool).
    pub(crate) fn uses_pool(&self) -> bool {
        self.pooled.get().is_some()
    }

    /// The reqwest client, built the first time a request needs it.
    fn pooled(&self) -> Result<&reqwest::Client, reqwest::Error> {
        if let Some(client) = self.pooled.get() {
            return Ok(client);
        }
        let built = client::build(
            &self.options,
            self.concurrency,
            &self.counter,
            self.resolver.clone(),
        )?;
        // Two first requests may race to build it; either client will do.
        Ok(self.pooled.get_or_init(|| built))
    }

    /// Sends one request (no redirect following: that is `redirect`'s job).
    pub(crate) async fn send(
        &self,
        method: Method,
        target: Target<'_>,
        headers: &HeaderMap,
        body: Option<&String>,
    ) -> Result<Reply, TransportError> {
        let url = match target {
            Target::Url(url) => url,
            Target::Verbatim(text, prepared) => {
                let request = prepared.request(method, text, body);
                let origin = prepared.origin.clone();
                return self.send_direct(&prepared.direct, origin, request).await;
            }
        };
        let direct = self.direct.as_ref().zip(Origin::of(url));
        let Some((direct, origin)) = direct else {
            let pooled = self.pooled().map_err(TransportError::Pooled)?;
            let mut builder = pooled.request(method, url.clone()).headers(headers.clone());
            if let Some(body) = body {
                builder = builder.body(body.clone());
            }
            return builder
                .send()
                .await
                .map(Reply::Pooled)
                .map_err(TransportError::Pooled);
        };
        let request = self.direct_request(method, url, headers, body);
        self.send_direct(direct, origin, request).await
    }

    /// Sends `request` over the direct path, under the attempt's `--timeout`.
    async fn send_direct(
        &self,
        direct: &Arc<Direct>,
        origin: Origin,
        request: http::Request<direct::Body>,
    ) -> Result<Reply, TransportError> {
        let deadline = Instant::now() + self.options.timeout;
        let sent = tokio::time::timeout_at(deadline.into(), direct.send(origin, request)).await;
        match sent {
            Ok(Ok((response, lease))) => Ok(Reply::Direct {
                response,
                lease: Some(lease),
                deadline,
            }),
            Ok(Err(e)) => Err(TransportError::Direct(e)),
            Err(_) => Err(TransportError::Direct(DirectError::Timeout)),
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

/// Plain `http://` goes direct unless a proxy or HTTP/2 is asked for (the environment's proxy
/// variables included: the user set them for a reason).
fn direct_allowed(options: &ClientOptions) -> bool {
    // HTTPS_PROXY and https_proxy apply to https only, which never goes direct.
    let http_proxy = client::env_proxy(&client::PROXY_VARIABLES[2..]).is_some();
    options.proxy.is_none() && !options.http2 && !http_proxy
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
    use reqwest::header::{HeaderName, ACCEPT, USER_AGENT};

    fn request_for(url: &str, headers: &HeaderMap) -> http::Request<direct::Body> {
        let transport = Transport::new(&ClientOptions::default(), 1, &ConnectionCounter::default())
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
        let mut transport =
            Transport::new(&ClientOptions::default(), 1, &ConnectionCounter::default())
                .expect("a transport");
        let mut headers = HeaderMap::new();
        headers.insert(ACCEPT, HeaderValue::from_static("application/json"));
        let base = Url::parse("http://example.test:8080/").expect("a URL");
        transport.prepare(&base, &headers);
        let text = "http://example.test:8080/api/v2/pokemon/25";
        let body = "{}".to_owned();
        let prepared = transport.prepared().expect("http:// is carried direct");
        let fast = prepared.request(Method::POST, text, Some(&body));
        let url = Url::parse(text).expect("a URL");
        let built = transport.direct_request(Method::POST, &url, &headers, Some(&body));
        assert_eq!(fast.uri(), "/api/v2/pokemon/25");
        assert_eq!(fast.uri(), built.uri());
        assert_eq!(fast.headers(), built.headers());
        assert_eq!(fast.headers()[CONTENT_LENGTH], "2");
    }
}
