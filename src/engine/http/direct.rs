//! The plain-HTTP/1 fast path: requests to `http://` origins (no proxy, no HTTP/2) go over hyper
//! connections this module holds itself, one request per connection at a time, as oha does.
//!
//! Why not reqwest for these too: on 5,000 1 KB requests, reqwest's pool (hash-keyed, shared
//! with background connects), its redirect and retry layers (which copy each request) and its
//! per-request header merging cost about 40,000 instructions per request, more than all of
//! fetchbench's own work. A connection here is taken from a short idle list and given back when
//! its response body has been read to the end; anything cut short closes it. reqwest still
//! carries TLS, HTTP/2 and proxies.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::client::conn::http1::{self, SendRequest};
use hyper_util::rt::TokioIo;
use reqwest::Url;
use thiserror::Error;

use crate::engine::http::connections::{self, ConnectionCounter};
use crate::engine::http::resolver::ResolveOnce;
use crate::engine::options::head_limits;

/// A request body as the direct path sends it.
pub(crate) type Body = Full<Bytes>;

/// Why a direct request failed.
#[derive(Debug, Error)]
pub(crate) enum DirectError {
    #[error("connect timed out")]
    ConnectTimeout,
    #[error("timed out")]
    Timeout,
    #[error("dns error: {0}")]
    Resolve(std::io::Error),
    #[error("tcp connect error: {0}")]
    Connect(std::io::Error),
    #[error("{0}")]
    Http(#[from] hyper::Error),
}

/// Where a connection goes: host and port of an `http://` URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Origin {
    /// Shared: every request of a run clones its origin.
    host: Arc<str>,
    port: u16,
}

impl Origin {
    /// The host name or address.
    pub(crate) fn host(&self) -> &str {
        &self.host
    }

    /// The origin of an `http://` URL; None for anything the direct path does not carry.
    pub(crate) fn of(url: &Url) -> Option<Self> {
        if url.scheme() != "http" {
            return None;
        }
        Some(Self {
            host: Arc::from(url.host_str()?),
            port: url.port_or_known_default()?,
        })
    }
}

/// Idle connections and how to open new ones, shared by all request tasks of a run.
#[derive(Debug)]
pub(crate) struct Direct {
    /// How connections speak HTTP/1: the response head limits (see `head_limits`).
    http1: http1::Builder,
    idle: Mutex<Vec<(Origin, SendRequest<Body>)>>,
    keepalive: bool,
    connect_timeout: Duration,
    pinned: Vec<(String, SocketAddr)>,
    resolver: ResolveOnce,
    counter: ConnectionCounter,
}

/// A connection lent to one response: given back to the idle list once its body has been read
/// to the end, dropped (closed) otherwise.
#[derive(Debug)]
pub(crate) struct Lease {
    origin: Origin,
    sender: SendRequest<Body>,
    home: Arc<Direct>,
}

impl Lease {
    /// Puts the connection back for the next request, unless reuse is off or it was closed.
    pub(crate) fn give_back(self) {
        if !self.home.keepalive || self.sender.is_closed() {
            return;
        }
        if let Ok(mut idle) = self.home.idle.lock() {
            idle.push((self.origin, self.sender));
        }
    }
}

impl Direct {
    pub(crate) fn new(
        keepalive: bool,
        connect_timeout: Duration,
        pinned: Vec<(String, SocketAddr)>,
        resolver: ResolveOnce,
        counter: ConnectionCounter,
        max_headers: usize,
    ) -> Self {
        let mut http1 = http1::Builder::new();
        http1.max_header_size(head_limits::HEAD_BYTES);
        if max_headers != head_limits::FIELDS {
            http1.max_headers(max_headers);
        }
        Self {
            http1,
            idle: Mutex::new(Vec::new()),
            keepalive,
            connect_timeout,
            pinned,
            resolver,
            counter,
        }
    }

    /// Sends `request` on an idle connection to `origin` (unless `fresh`), or a new one. A
    /// reused connection the server closed before the request went out is replaced silently, as
    /// any client's pool does.
    pub(crate) async fn send(
        self: &Arc<Self>,
        origin: Origin,
        mut request: http::Request<Body>,
        fresh: bool,
    ) -> Result<(http::Response<Incoming>, Lease), DirectError> {
        loop {
            let idle = if fresh { None } else { self.take_idle(&origin) };
            let (mut sender, reused) = match idle {
                Some(sender) => (sender, true),
                None => (self.connect(&origin).await?, false),
            };
            match sender.try_send_request(request).await {
                Ok(response) => {
                    let lease = Lease {
                        origin,
                        sender,
                        home: Arc::clone(self),
                    };
                    return Ok((response, lease));
                }
                Err(mut failed) => match failed.take_message() {
                    Some(unsent) if reused => request = unsent,
                    _ => return Err(DirectError::Http(failed.into_error())),
                },
            }
        }
    }

    /// The most recently returned live connection to `origin` (warm, and its server has not yet
    /// timed it out); closed ones are dropped on the way.
    fn take_idle(&self, origin: &Origin) -> Option<SendRequest<Body>> {
        let mut idle = self.idle.lock().ok()?;
        while let Some(at) = idle.iter().rposition(|(o, _)| o == origin) {
            let (_, sender) = idle.swap_remove(at);
            if sender.is_ready() {
                return Some(sender);
            }
        }
        None
    }

    /// Opens, counts and times a connection; the time goes to the request that waited for it.
    async fn connect(&self, origin: &Origin) -> Result<SendRequest<Body>, DirectError> {
        let start = Instant::now();
        let addrs = self.addresses(origin).await?;
        let stream = tokio::time::timeout(self.connect_timeout, connect_any(&addrs))
            .await
            .map_err(|_| DirectError::ConnectTimeout)?
            .map_err(DirectError::Connect)?;
        // Requests are small and written whole: waiting to coalesce them only adds latency.
        stream.set_nodelay(true).map_err(DirectError::Connect)?;
        let (sender, connection) = self.http1.handshake(TokioIo::new(stream)).await?;
        tokio::spawn(async move {
            // The connection's own errors reach the request that uses it; nothing to add here.
            let _ = connection.await;
        });
        self.counter.count_one();
        connections::note_connect(start.elapsed());
        Ok(sender)
    }

    /// The origin's addresses: pinned with `--resolve`, an IP literal, or looked up once per run.
    async fn addresses(&self, origin: &Origin) -> Result<Vec<SocketAddr>, DirectError> {
        let with_port = |addr: SocketAddr| SocketAddr::new(addr.ip(), origin.port);
        if let Some((_, addr)) = self.pinned.iter().find(|(host, _)| **host == *origin.host) {
            return Ok(vec![with_port(*addr)]);
        }
        let literal = origin.host.trim_start_matches('[').trim_end_matches(']');
        if let Ok(ip) = literal.parse::<std::net::IpAddr>() {
            return Ok(vec![SocketAddr::new(ip, origin.port)]);
        }
        let found = self
            .resolver
            .lookup(&origin.host)
            .await
            .map_err(DirectError::Resolve)?;
        Ok(found.iter().copied().map(with_port).collect())
    }
}

/// Connects to the first address that answers, returning the last error if none does.
async fn connect_any(addrs: &[SocketAddr]) -> std::io::Result<tokio::net::TcpStream> {
    let mut last = std::io::Error::new(std::io::ErrorKind::NotFound, "no addresses");
    for addr in addrs {
        match tokio::net::TcpStream::connect(addr).await {
            Ok(stream) => return Ok(stream),
            Err(e) => last = e,
        }
    }
    Err(last)
}
