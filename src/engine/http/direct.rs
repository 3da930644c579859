//! The road of every request that goes through no proxy: hyper connections fetchbench holds
//! itself, plain or over TLS (tokio-rustls with the run's `tls::TlsSetup`), HTTP/1 or HTTP/2,
//! as oha drives them.
//!
//! Why not reqwest for these: its pool, its redirect and retry layers (which copy each request)
//! and its per-request header merging cost more than all of fetchbench's own work, on plain HTTP
//! and over TLS alike (the figure is in docs/performance.md, "Why the code is shaped so").
//!
//! An HTTP/1 connection carries one request at a time: it is taken from a short idle list and
//! given back when its response body has been read to the end; anything cut short closes it.
//! An HTTP/2 connection carries as many streams at once as the server allows
//! (`SETTINGS_MAX_CONCURRENT_STREAMS`, read from hyper as the connection runs); another opens
//! when they are all in use. With `--h2-connections N`, N are opened first and each request
//! goes on the least busy. Which one an https origin speaks is learnt from the first
//! connection's ALPN: until then the others wait for it rather than open one each.

use std::future::{poll_fn, Future};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::client::conn::{http1, http2};
use hyper_util::rt::{TokioExecutor, TokioIo};
use reqwest::Url;
use thiserror::Error;
use tokio::sync::OnceCell;

use crate::engine::http::connections::{self, ConnectionCounter};
use crate::engine::http::resolver::ResolveOnce;
use crate::engine::http::tls::TlsSetup;
use crate::engine::options::{head_limits, ClientOptions};

/// A request body as the direct path sends it.
pub(crate) type Body = Full<Bytes>;

/// Streams an HTTP/2 connection is assumed to allow until the server's settings say otherwise
/// (h2's own initial value).
const ASSUMED_STREAMS: usize = 100;

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
    #[error("TLS handshake: {0}")]
    Tls(std::io::Error),
    #[error("TLS set-up: {0}")]
    TlsSetup(rustls::Error),
    #[error("{0}")]
    Http(#[from] hyper::Error),
}

impl DirectError {
    /// True when the server said it did not process the request: an HTTP/2 stream above a
    /// GOAWAY's last stream, or one refused (`REFUSED_STREAM`). RFC 9113 section 8.7: it may be
    /// sent again, on another connection, whatever its method.
    pub(crate) fn is_unprocessed(&self) -> bool {
        let DirectError::Http(e) = self else {
            return false;
        };
        let mut source: Option<&(dyn std::error::Error + 'static)> = Some(e);
        while let Some(cause) = source {
            if let Some(h2) = cause.downcast_ref::<h2::Error>() {
                return (h2.is_go_away() && h2.is_remote())
                    || h2.reason() == Some(h2::Reason::REFUSED_STREAM);
            }
            source = cause.source();
        }
        false
    }
}

/// Where a connection goes: scheme, host and port of an `http://` or `https://` URL.
#[derive(Debug, Clone)]
pub(crate) struct Origin {
    /// Shared: every request of a run clones its origin.
    host: Arc<str>,
    port: u16,
    tls: bool,
    /// `host[:port]` as HTTP/2's `:authority` sends it.
    authority: http::uri::Authority,
}

impl PartialEq for Origin {
    fn eq(&self, other: &Self) -> bool {
        self.port == other.port && self.tls == other.tls && self.host == other.host
    }
}

impl Origin {
    /// The host name or address.
    pub(crate) fn host(&self) -> &str {
        &self.host
    }

    /// The origin of an `http://` or `https://` URL; None for anything else.
    pub(crate) fn of(url: &Url) -> Option<Self> {
        let tls = match url.scheme() {
            "http" => false,
            "https" => true,
            _ => return None,
        };
        Some(Self {
            host: Arc::from(url.host_str()?),
            port: url.port_or_known_default()?,
            tls,
            authority: url[url::Position::BeforeHost..url::Position::AfterPort]
                .parse()
                .ok()?,
        })
    }

    fn scheme(&self) -> http::uri::Scheme {
        if self.tls {
            http::uri::Scheme::HTTPS
        } else {
            http::uri::Scheme::HTTP
        }
    }
}

/// One HTTP/2 connection and the streams it carries.
#[derive(Debug)]
struct Shared {
    /// Set once the connection is open; None when it turned out not to be HTTP/2, or failed.
    sender: OnceCell<Option<http2::SendRequest<Body>>>,
    /// Streams in use.
    streams: AtomicUsize,
    /// Streams the server allows, as the connection's task last saw; 0 once it has ended.
    allowed: Arc<AtomicUsize>,
    /// Set when the server said it is going away (GOAWAY): no new stream picks it.
    going: AtomicBool,
}

impl Shared {
    fn new() -> Self {
        Self {
            sender: OnceCell::new(),
            streams: AtomicUsize::new(1),
            allowed: Arc::new(AtomicUsize::new(ASSUMED_STREAMS)),
            going: AtomicBool::new(false),
        }
    }

    /// Whether a new stream may go on it now.
    fn has_room(&self) -> bool {
        !self.is_gone()
            && self.streams.load(Ordering::Relaxed) < self.allowed.load(Ordering::Relaxed)
    }

    /// Ended, going away, or never opened.
    fn is_gone(&self) -> bool {
        self.going.load(Ordering::Relaxed)
            || match self.sender.get() {
                Some(Some(sender)) => sender.is_closed(),
                Some(None) => true,
                None => false,
            }
    }
}

/// A stream of an HTTP/2 connection held by one request; given up when dropped.
#[derive(Debug)]
pub(crate) struct Seat(Arc<Shared>);

impl Drop for Seat {
    fn drop(&mut self) {
        self.0.streams.fetch_sub(1, Ordering::Relaxed);
    }
}

/// An origin's connections.
#[derive(Debug)]
struct Place {
    origin: Origin,
    /// HTTP/1 connections not in use.
    idle: Vec<http1::SendRequest<Body>>,
    /// HTTP/2 connections.
    shared: Vec<Arc<Shared>>,
    /// Whether the origin speaks HTTP/2: known for plain HTTP, learnt from ALPN over TLS.
    h2: Option<bool>,
}

/// Connections to every origin and how to open new ones, shared by all request tasks of a run.
#[derive(Debug)]
pub(crate) struct Direct {
    /// How connections speak HTTP/1: the response head limits (see `head_limits`).
    http1: http1::Builder,
    http2: http2::Builder<TokioExecutor>,
    places: Mutex<Vec<Place>>,
    keepalive: bool,
    /// HTTP/2 connections to keep to an origin before streams share them (`--h2-connections`).
    h2_connections: usize,
    /// `--http2`: HTTP/2 from the first byte on plain HTTP (h2c), and by ALPN alone over TLS.
    prior_knowledge: bool,
    connect_timeout: Duration,
    pinned: Vec<(String, SocketAddr)>,
    resolver: ResolveOnce,
    counter: ConnectionCounter,
    tls: Arc<TlsSetup>,
}

/// A connection lent to one response: an HTTP/1 connection goes back to the idle list once its
/// body has been read to the end and is closed otherwise; an HTTP/2 stream is given up either
/// way.
#[derive(Debug)]
pub(crate) enum Lease {
    Http1 {
        origin: Origin,
        sender: http1::SendRequest<Body>,
        home: Arc<Direct>,
    },
    /// Held for its `Drop`, which gives the stream up.
    Http2(#[allow(dead_code)] Seat),
}

impl Lease {
    /// Puts the connection back for the next request, unless reuse is off or it was closed.
    pub(crate) fn give_back(self) {
        let Lease::Http1 {
            origin,
            sender,
            home,
        } = self
        else {
            return;
        };
        if !home.keepalive || sender.is_closed() {
            return;
        }
        let places = home.places.lock();
        if let Ok(mut places) = places {
            if let Some(place) = places.iter_mut().find(|p| p.origin == origin) {
                place.idle.push(sender);
            }
        }
    }
}

/// A new connection, as the server agreed to speak.
enum Opened {
    Http1(http1::SendRequest<Body>),
    Http2(http2::SendRequest<Body>),
}

/// What came of joining an HTTP/2 connection.
enum Joined {
    Stream(http2::SendRequest<Body>),
    /// It turned out unusable for HTTP/2 (it speaks HTTP/1, or someone else's open failed):
    /// choose again.
    Again,
    /// This request opened it and it speaks HTTP/1: its connection, for this request.
    OwnHttp1(http1::SendRequest<Body>),
    /// This request's open failed.
    Failed(DirectError),
}

/// What a request goes out on.
enum Choice {
    /// An idle HTTP/1 connection.
    Idle(http1::SendRequest<Body>),
    /// A stream of an HTTP/2 connection, open or being opened (by whoever runs its cell's
    /// initialisation first).
    Stream(Seat),
    /// A new connection (an origin known to speak HTTP/1).
    Connect,
}

impl Direct {
    pub(crate) fn new(
        options: &ClientOptions,
        resolver: ResolveOnce,
        counter: ConnectionCounter,
        tls: Arc<TlsSetup>,
    ) -> Self {
        let mut http1 = http1::Builder::new();
        http1.max_header_size(head_limits::HEAD_BYTES);
        if options.max_headers != head_limits::FIELDS {
            http1.max_headers(options.max_headers);
        }
        let mut http2 = http2::Builder::new(TokioExecutor::new());
        http2.max_header_list_size(head_limits::HEAD_BYTES as u32);
        Self {
            http1,
            http2,
            places: Mutex::new(Vec::new()),
            keepalive: !options.no_keepalive,
            h2_connections: options.h2_connections.max(1),
            prior_knowledge: options.http2,
            connect_timeout: options.connect_timeout,
            pinned: options.resolve.clone(),
            resolver,
            counter,
            tls,
        }
    }

    /// Sends `request` on a connection to `origin`: an idle HTTP/1 one (unless `fresh`), a
    /// stream of an HTTP/2 one, or a new one. A reused HTTP/1 connection the server closed
    /// before the request went out is replaced silently, as any client's pool does.
    pub(crate) async fn send(
        self: &Arc<Self>,
        origin: Origin,
        mut request: http::Request<Body>,
        fresh: bool,
    ) -> Result<(http::Response<Incoming>, Lease), DirectError> {
        loop {
            let (mut sender, reused) = match self.choose(&origin, fresh) {
                Choice::Idle(sender) => (sender, true),
                // Boxed, as below: a connect's future (the TLS handshake's state among it) is
                // larger than all the rest of a request's, and is needed once per connection.
                Choice::Connect => match Box::pin(self.connect(&origin, None)).await? {
                    Opened::Http1(sender) => (sender, false),
                    // The server changed its mind: take the stream road next time round.
                    Opened::Http2(_) => {
                        self.learn(&origin, true);
                        continue;
                    }
                },
                Choice::Stream(seat) => match self.stream(&origin, &seat).await {
                    Joined::Stream(sender) => return send_h2(&origin, sender, request, seat).await,
                    Joined::Again => continue,
                    Joined::OwnHttp1(sender) => (sender, false),
                    Joined::Failed(e) => return Err(e),
                },
            };
            match sender.try_send_request(request).await {
                Ok(response) => {
                    let lease = Lease::Http1 {
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

    /// Where the next request to `origin` goes: for HTTP/1, the most recently returned live
    /// connection (warm, and its server has not yet timed it out; closed ones are dropped on
    /// the way); for HTTP/2 (or an https origin not yet known), the first connection with a
    /// free stream, else a new one, whose stream is taken now.
    fn choose(&self, origin: &Origin, fresh: bool) -> Choice {
        let Ok(mut places) = self.places.lock() else {
            return Choice::Connect;
        };
        let at = match places.iter().position(|p| p.origin == *origin) {
            Some(at) => at,
            None => {
                let h2 = match (origin.tls, self.prior_knowledge) {
                    (false, prior) => Some(prior),
                    (true, true) => Some(true),
                    (true, false) => None,
                };
                places.push(Place {
                    origin: origin.clone(),
                    idle: Vec::new(),
                    shared: Vec::new(),
                    h2,
                });
                places.len() - 1
            }
        };
        let place = &mut places[at];
        if place.h2 == Some(false) {
            // A fresh connection is asked for when a reused one just failed: the idle ones
            // stay for the next requests.
            while let Some(sender) = (!fresh).then(|| place.idle.pop()).flatten() {
                if sender.is_ready() {
                    return Choice::Idle(sender);
                }
            }
            return Choice::Connect;
        }
        // Connections gone and no longer used are let go (their last seat holds them till then).
        place
            .shared
            .retain(|s| !s.is_gone() || s.streams.load(Ordering::Relaxed) > 0);
        // Up to `h2_connections` are opened first; then each stream goes on the one with room
        // that carries the fewest, and another opens only when none has room.
        let open = place.shared.iter().filter(|s| !s.is_gone()).count();
        if self.keepalive && open >= self.h2_connections {
            let least_busy = place
                .shared
                .iter()
                .filter(|s| s.has_room())
                .min_by_key(|s| s.streams.load(Ordering::Relaxed));
            if let Some(shared) = least_busy {
                shared.streams.fetch_add(1, Ordering::Relaxed);
                return Choice::Stream(Seat(Arc::clone(shared)));
            }
        }
        let shared = Arc::new(Shared::new());
        place.shared.push(Arc::clone(&shared));
        Choice::Stream(Seat(shared))
    }

    /// The HTTP/2 connection of `seat`, opened by this request if it is first to get there.
    async fn stream(&self, origin: &Origin, seat: &Seat) -> Joined {
        let mut joined = Joined::Again;
        let opened = seat
            .0
            .sender
            .get_or_init(|| async {
                match Box::pin(self.connect(origin, Some(&seat.0.allowed))).await {
                    Ok(Opened::Http2(sender)) => {
                        self.learn(origin, true);
                        Some(sender)
                    }
                    Ok(Opened::Http1(sender)) => {
                        self.learn(origin, false);
                        joined = Joined::OwnHttp1(sender);
                        None
                    }
                    Err(e) => {
                        joined = Joined::Failed(e);
                        None
                    }
                }
            })
            .await;
        match opened {
            Some(sender) => Joined::Stream(sender.clone()),
            None => joined,
        }
    }

    /// Remembers what an origin speaks.
    fn learn(&self, origin: &Origin, h2: bool) {
        if let Ok(mut places) = self.places.lock() {
            if let Some(place) = places.iter_mut().find(|p| p.origin == *origin) {
                place.h2 = Some(h2);
            }
        }
    }

    /// Opens, counts and times a connection; the time goes to the request that waited for it.
    /// An HTTP/2 connection's task keeps `allowed` at the number of streams the server allows.
    async fn connect(
        &self,
        origin: &Origin,
        allowed: Option<&Arc<AtomicUsize>>,
    ) -> Result<Opened, DirectError> {
        let start = Instant::now();
        let addrs = self.addresses(origin).await?;
        let opening = async {
            let stream = connect_any(&addrs).await.map_err(DirectError::Connect)?;
            // Requests are small and written whole: waiting to coalesce them only adds latency.
            stream.set_nodelay(true).map_err(DirectError::Connect)?;
            if !origin.tls {
                let h2 = self.prior_knowledge;
                let opened = self.handshake(stream, h2, allowed).await?;
                return Ok::<_, DirectError>((opened, None));
            }
            let handshake = Instant::now();
            let config = self.tls.config().map_err(DirectError::TlsSetup)?;
            let host = origin.host.trim_start_matches('[').trim_end_matches(']');
            let name = rustls::pki_types::ServerName::try_from(host.to_owned()).map_err(|e| {
                DirectError::Tls(std::io::Error::new(std::io::ErrorKind::InvalidInput, e))
            })?;
            let tls = tokio_rustls::TlsConnector::from(config)
                .connect(name, stream)
                .await
                .map_err(DirectError::Tls)?;
            let took = handshake.elapsed();
            let h2 = tls.get_ref().1.alpn_protocol() == Some(b"h2");
            Ok((self.handshake(tls, h2, allowed).await?, Some(took)))
        };
        let (opened, tls) = tokio::time::timeout(self.connect_timeout, opening)
            .await
            .map_err(|_| DirectError::ConnectTimeout)??;
        self.counter.count_one();
        connections::note_connect(start.elapsed(), tls);
        Ok(opened)
    }

    /// HTTP/1 or HTTP/2 over `io`, the connection's task spawned.
    async fn handshake<T>(
        &self,
        io: T,
        h2: bool,
        allowed: Option<&Arc<AtomicUsize>>,
    ) -> Result<Opened, DirectError>
    where
        T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
    {
        if !h2 {
            let (sender, connection) = self.http1.handshake(TokioIo::new(io)).await?;
            tokio::spawn(async move {
                // The connection's own errors reach the request that uses it; nothing to add.
                let _ = connection.await;
            });
            return Ok(Opened::Http1(sender));
        }
        let (sender, connection) = self.http2.handshake(TokioIo::new(io)).await?;
        let allowed = allowed.cloned().unwrap_or_default();
        // One stream per connection when reuse is off.
        let limit = if self.keepalive { usize::MAX } else { 1 };
        let mut connection = Box::pin(connection);
        tokio::spawn(async move {
            poll_fn(|cx| {
                let polled = connection.as_mut().poll(cx);
                let streams = match polled {
                    std::task::Poll::Ready(_) => 0,
                    std::task::Poll::Pending => connection.current_max_send_streams().min(limit),
                };
                if streams != allowed.load(Ordering::Relaxed) {
                    allowed.store(streams, Ordering::Relaxed);
                }
                polled.map(|_| ())
            })
            .await;
        });
        Ok(Opened::Http2(sender))
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

/// `request` on a stream of an HTTP/2 connection, its URI made absolute (HTTP/2 sends scheme
/// and authority as pseudo-headers, and no Host header).
async fn send_h2(
    origin: &Origin,
    mut sender: http2::SendRequest<Body>,
    mut request: http::Request<Body>,
    seat: Seat,
) -> Result<(http::Response<Incoming>, Lease), DirectError> {
    let mut parts = std::mem::take(request.uri_mut()).into_parts();
    parts.scheme = Some(origin.scheme());
    parts.authority = Some(origin.authority.clone());
    if let Ok(uri) = http::Uri::from_parts(parts) {
        *request.uri_mut() = uri;
    }
    request.headers_mut().remove(http::header::HOST);
    match sender.send_request(request).await {
        Ok(response) => Ok((response, Lease::Http2(seat))),
        Err(e) => {
            let e = DirectError::Http(e);
            if e.is_unprocessed() {
                // Going away: no new stream goes to it.
                seat.0.going.store(true, Ordering::Relaxed);
            }
            Err(e)
        }
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
