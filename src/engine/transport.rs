//! Which HTTP stack carries a request: the direct HTTP/1 path for plain `http://` without a
//! proxy or HTTP/2 (see `direct`), reqwest for everything else. Both answer with a [`Reply`], so
//! the request, redirect and retry logic above is written once.

use std::sync::{Arc, OnceLock};
use std::time::Instant;

use base64::Engine as _;
use bytes::Bytes;
use hyper::body::{Body as _, Incoming};
use reqwest::header::{HeaderMap, HeaderValue, AUTHORIZATION, CONTENT_LENGTH, HOST};
use reqwest::{Method, StatusCode, Url, Version};

use super::client::{self, ClientOptions};
use super::connections::ConnectionCounter;
use super::direct::{self, Direct, DirectError, Lease, Origin};
use super::resolver::ResolveOnce;

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
            options: options.clone(),
        };
        if transport.direct.is_none() {
            // Everything goes through reqwest: a bad setting (a proxy URL) fails the run now.
            transport.pooled()?;
        }
        Ok(transport)
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
        url: &Url,
        headers: &HeaderMap,
        body: Option<&String>,
    ) -> Result<Reply, TransportError> {
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
        let deadline = Instant::now() + self.options.timeout;
        let request = self.direct_request(method, url, headers, body);
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
        let body = body.map_or_else(Bytes::new, |b| Bytes::from(b.clone()));
        if !body.is_empty() || !matches!(method, Method::GET | Method::HEAD) {
            all.insert(CONTENT_LENGTH, HeaderValue::from(body.len()));
        }
        let mut request = http::Request::new(direct::Body::new(body));
        *request.method_mut() = method;
        *request.uri_mut() = url[url::Position::BeforePath..]
            .parse()
            .unwrap_or_else(|_| http::Uri::from_static("/"));
        *request.headers_mut() = all;
        request
    }
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

/// A response from either stack, its body still to be read.
#[derive(Debug)]
pub(crate) enum Reply {
    Pooled(reqwest::Response),
    Direct {
        response: http::Response<Incoming>,
        /// The connection, given back once the body has been read to the end.
        lease: Option<Lease>,
        /// The attempt's `--timeout` covers the body too.
        deadline: Instant,
    },
}

impl Reply {
    pub(crate) fn status(&self) -> StatusCode {
        match self {
            Reply::Pooled(r) => r.status(),
            Reply::Direct { response, .. } => response.status(),
        }
    }

    pub(crate) fn version(&self) -> Version {
        match self {
            Reply::Pooled(r) => r.version(),
            Reply::Direct { response, .. } => response.version(),
        }
    }

    pub(crate) fn headers(&self) -> &HeaderMap {
        match self {
            Reply::Pooled(r) => r.headers(),
            Reply::Direct { response, .. } => response.headers(),
        }
    }

    /// The body's length when the server announced it.
    pub(crate) fn content_length(&self) -> Option<u64> {
        match self {
            Reply::Pooled(r) => r.content_length(),
            Reply::Direct { response, .. } => response.body().size_hint().exact(),
        }
    }

    /// The next piece of the body as it arrived; None at its end.
    pub(crate) async fn chunk(&mut self) -> Result<Option<Bytes>, TransportError> {
        let (response, lease, deadline) = match self {
            Reply::Pooled(r) => return r.chunk().await.map_err(TransportError::Pooled),
            Reply::Direct {
                response,
                lease,
                deadline,
            } => (response, lease, *deadline),
        };
        loop {
            let frame = tokio::time::timeout_at(deadline.into(), next_frame(response.body_mut()))
                .await
                .map_err(|_| TransportError::Direct(DirectError::Timeout))?;
            match frame {
                None => {
                    if let Some(lease) = lease.take() {
                        lease.give_back();
                    }
                    return Ok(None);
                }
                Some(Ok(frame)) => {
                    if let Ok(data) = frame.into_data() {
                        return Ok(Some(data));
                    }
                }
                Some(Err(e)) => return Err(TransportError::Direct(DirectError::Http(e))),
            }
        }
    }
}

async fn next_frame(
    body: &mut Incoming,
) -> Option<Result<hyper::body::Frame<Bytes>, hyper::Error>> {
    http_body_util::BodyExt::frame(body).await
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
}
