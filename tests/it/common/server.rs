//! The one loopback server of the tests: [`spawn`] serves an axum `Router` and hands back a
//! [`Server`] guard (its base URL, what it saw, and a shutdown on drop). [`Options`] turn the same
//! server into https (a given rustls config), HTTP/2 only (a stream limit, a GOAWAY), or a raw
//! mode ([`Options::spawn_raw`]) whose handler gets each connection's bytes, for faults no
//! framework will produce. Tests add routes, not servers.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU32, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::http::{HeaderMap, Method, Request, Version};
use axum::Router;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinSet;
use tokio_rustls::TlsAcceptor;
use tower_service::Service;

/// A request as the server saw it arrive.
// A record for the tests to read: not every field is read by today's tests.
#[allow(dead_code)]
#[derive(Clone, Debug)]
pub struct Seen {
    pub method: Method,
    /// Path and query (`/item/1?x=2`).
    pub path: String,
    pub version: Version,
    pub headers: HeaderMap,
    pub at: Instant,
}

/// What the server saw, shared with its connections.
#[derive(Default)]
pub struct Books {
    seen: Mutex<Vec<Seen>>,
    /// Requests arrived (raw handlers count theirs with [`Books::count`]).
    requests: watch::Sender<u32>,
    /// Requests answered (the router returned).
    answered: AtomicU32,
    in_flight: Arc<AtomicUsize>,
    peak_in_flight: AtomicUsize,
    /// The most requests one connection had in its handler at once (HTTP/2 streams).
    peak_streams: AtomicUsize,
    connections: AtomicU32,
    failed_handshakes: watch::Sender<u32>,
}

impl Books {
    /// Counts a request a raw handler read.
    pub fn count(&self) {
        self.requests.send_modify(|n| *n += 1);
    }
}

/// A byte stream of one connection: TCP, or TLS over it.
pub trait Io: AsyncRead + AsyncWrite + Send + Unpin {}
impl<T: AsyncRead + AsyncWrite + Send + Unpin> Io for T {}

/// One accepted connection, for a raw handler.
pub struct Conn {
    pub stream: Box<dyn Io>,
    /// The connection's number, from 0 in order of arrival.
    pub index: u32,
    pub books: Arc<Books>,
}

/// The running server; dropping it stops the server and every connection it holds.
pub struct Server {
    pub addr: SocketAddr,
    scheme: &'static str,
    books: Arc<Books>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Server {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Server {
    /// `http://127.0.0.1:PORT` (`https` under TLS), without a trailing slash.
    pub fn base(&self) -> String {
        format!("{}://{}", self.scheme, self.addr)
    }

    /// The base URL followed by `path_and_query` (`/item/{}`).
    pub fn url(&self, path_and_query: &str) -> String {
        format!("{}{path_and_query}", self.base())
    }

    /// Requests that arrived.
    pub fn requests(&self) -> u32 {
        *self.books.requests.borrow()
    }

    /// Requests the router answered.
    pub fn answered(&self) -> u32 {
        self.books.answered.load(Ordering::SeqCst)
    }

    /// The requests the router saw, in arrival order.
    pub fn seen(&self) -> Vec<Seen> {
        self.books.seen.lock().expect("books").clone()
    }

    /// Requests whose path starts with `prefix`.
    pub fn hits(&self, prefix: &str) -> u32 {
        let seen = self.books.seen.lock().expect("books");
        seen.iter().filter(|s| s.path.starts_with(prefix)).count() as u32
    }

    /// The most requests in the router at once.
    pub fn peak_in_flight(&self) -> usize {
        self.books.peak_in_flight.load(Ordering::SeqCst)
    }

    /// The most requests one connection had in the router at once.
    pub fn peak_streams(&self) -> usize {
        self.books.peak_streams.load(Ordering::SeqCst)
    }

    /// Connections accepted (after their TLS handshake, under TLS).
    pub fn connections(&self) -> u32 {
        self.books.connections.load(Ordering::SeqCst)
    }

    /// Waits until at least `n` requests have arrived (panics after 60 s).
    pub async fn wait_for_requests(&self, n: u32) {
        let mut requests = self.books.requests.subscribe();
        tokio::time::timeout(Duration::from_secs(60), requests.wait_for(|r| *r >= n))
            .await
            .expect("server saw too few requests in time")
            .expect("server stopped");
    }

    /// Waits until at least `n` TLS handshakes have failed, and says how many have.
    pub async fn failed_handshakes(&self, n: u32) -> u32 {
        let mut failed = self.books.failed_handshakes.subscribe();
        let seen = *failed.wait_for(|&f| f >= n).await.expect("server running");
        seen
    }
}

/// A loopback address nothing listens on (a port bound, then let go): connecting is refused.
pub fn dead_addr() -> SocketAddr {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind a free port");
    listener.local_addr().expect("free port's address")
}

/// How to serve: plain or TLS, any protocol or HTTP/2 only.
#[derive(Default)]
pub struct Options {
    tls: Option<Arc<rustls::ServerConfig>>,
    h2_only: bool,
    max_streams: Option<u32>,
    goaway_after: Option<u32>,
    delay: Option<Duration>,
}

/// Plain HTTP/1 (and h2c by prior knowledge) on 127.0.0.1, serving `router`.
pub async fn spawn(router: Router) -> Server {
    Options::default().spawn(router).await
}

/// A raw server on 127.0.0.1: `handler` gets each connection.
pub async fn spawn_raw<F, Fut>(handler: F) -> Server
where
    F: Fn(Conn) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    Options::default().spawn_raw(handler).await
}

impl Options {
    /// https under `config` (its ALPN list says which protocols are offered).
    pub fn tls(mut self, config: rustls::ServerConfig) -> Self {
        self.tls = Some(Arc::new(config));
        self
    }

    /// HTTP/2 only, each connection allowing `max_streams` streams at once when given.
    pub fn h2(mut self, max_streams: Option<u32>) -> Self {
        self.h2_only = true;
        self.max_streams = max_streams;
        self
    }

    /// The first connection is shut down gracefully (a GOAWAY under HTTP/2) once the server has
    /// answered `n` requests.
    pub fn goaway_after(mut self, n: u32) -> Self {
        self.goaway_after = Some(n);
        self
    }

    /// Every request waits `delay` before the router sees it, so requests overlap.
    pub fn delay(mut self, delay: Duration) -> Self {
        self.delay = Some(delay);
        self
    }

    /// Serves `router` on every connection, counting and recording its requests.
    pub async fn spawn(mut self, router: Router) -> Server {
        let tls = self.tls.take();
        let options = Arc::new(self);
        let goaway = Arc::new(watch::channel(false).0);
        let handler = move |conn: Conn| {
            serve_http(
                Arc::clone(&options),
                router.clone(),
                Arc::clone(&goaway),
                conn,
            )
        };
        listen(tls, handler).await
    }

    /// Hands each connection (after its TLS handshake, under TLS) to `handler`.
    pub async fn spawn_raw<F, Fut>(self, handler: F) -> Server
    where
        F: Fn(Conn) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        listen(self.tls, handler).await
    }
}

/// Accepts connections, shakes hands under TLS, and gives each to `handler` in a task of its own
/// (held in a set, so aborting the server ends them all).
async fn listen<F, Fut>(tls: Option<Arc<rustls::ServerConfig>>, handler: F) -> Server
where
    F: Fn(Conn) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    let listener = TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind test server");
    let addr = listener.local_addr().expect("test server address");
    let books = Arc::new(Books::default());
    let scheme = if tls.is_some() { "https" } else { "http" };
    let acceptor = tls.map(TlsAcceptor::from);
    let handler = Arc::new(handler);
    let shared = Arc::clone(&books);
    let task = tokio::spawn(async move {
        let mut connections = JoinSet::new();
        let mut index = 0;
        while let Ok((tcp, _)) = listener.accept().await {
            while connections.try_join_next().is_some() {}
            let (books, handler, acceptor) =
                (Arc::clone(&shared), Arc::clone(&handler), acceptor.clone());
            let this = index;
            index += 1;
            connections.spawn(async move {
                let stream: Box<dyn Io> = match acceptor {
                    None => Box::new(tcp),
                    Some(acceptor) => match acceptor.accept(tcp).await {
                        Ok(tls) => Box::new(tls),
                        Err(_) => {
                            books.failed_handshakes.send_modify(|n| *n += 1);
                            return;
                        }
                    },
                };
                books.connections.fetch_add(1, Ordering::SeqCst);
                handler(Conn {
                    stream,
                    index: this,
                    books,
                })
                .await;
            });
        }
    });
    Server {
        addr,
        scheme,
        books,
        task,
    }
}

/// Decrements an in-flight count however the request ends.
struct InFlight(Arc<AtomicUsize>);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

/// One connection served by hyper (HTTP/1 and HTTP/2 by detection, or HTTP/2 only), each
/// request counted and recorded before `router` answers it.
async fn serve_http(
    options: Arc<Options>,
    router: Router,
    goaway: Arc<watch::Sender<bool>>,
    conn: Conn,
) {
    let Conn {
        stream,
        index,
        books,
    } = conn;
    let streams = Arc::new(AtomicUsize::new(0));
    let delay = options.delay;
    let goaway_after = options.goaway_after;
    let told_goaway = Arc::clone(&goaway);
    let service = hyper::service::service_fn(move |request: Request<hyper::body::Incoming>| {
        let (books, streams, goaway) = (
            Arc::clone(&books),
            Arc::clone(&streams),
            Arc::clone(&told_goaway),
        );
        let mut router = router.clone();
        async move {
            books.seen.lock().expect("books").push(Seen {
                method: request.method().clone(),
                path: request
                    .uri()
                    .path_and_query()
                    .map_or_else(|| request.uri().path().to_owned(), |p| p.to_string()),
                version: request.version(),
                headers: request.headers().clone(),
                at: Instant::now(),
            });
            books.count();
            let now = books.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
            let _in_flight = InFlight(Arc::clone(&books.in_flight));
            books.peak_in_flight.fetch_max(now, Ordering::SeqCst);
            let on_connection = streams.fetch_add(1, Ordering::SeqCst) + 1;
            let _stream = InFlight(Arc::clone(&streams));
            books
                .peak_streams
                .fetch_max(on_connection, Ordering::SeqCst);
            if let Some(delay) = delay {
                tokio::time::sleep(delay).await;
            }
            let response = router.call(request.map(Body::new)).await;
            let answered = books.answered.fetch_add(1, Ordering::SeqCst) + 1;
            if goaway_after == Some(answered) {
                goaway.send_replace(true);
            }
            response
        }
    });
    let mut builder =
        hyper_util::server::conn::auto::Builder::new(hyper_util::rt::TokioExecutor::new());
    if options.h2_only {
        builder = builder.http2_only();
        builder.http2().max_concurrent_streams(options.max_streams);
    }
    let connection =
        builder.serve_connection_with_upgrades(hyper_util::rt::TokioIo::new(stream), service);
    let mut connection = std::pin::pin!(connection);
    if index != 0 || options.goaway_after.is_none() {
        let _ = connection.await;
        return;
    }
    let mut told = goaway.subscribe();
    tokio::select! {
        _ = connection.as_mut() => {}
        () = async { let _ = told.wait_for(|&go| go).await; } => {
            connection.as_mut().graceful_shutdown();
            let _ = connection.await;
        }
    }
}
