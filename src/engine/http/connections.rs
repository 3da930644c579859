//! Connections: how many a run opens, and how long opening one took for the request that waited
//! for it. The direct road counts and times its own connects (the TLS handshake apart); a layer
//! around reqwest's connector does the same for connections through a proxy (DNS, TCP and TLS
//! together there). The time goes to the request whose task drove the connect, through a
//! task-local slot, so a record on a reused connection has no connect time.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use tower_layer::Layer;
use tower_service::Service;

/// What opening a connection cost the request that waited for it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct ConnectTiming {
    /// Looking the host names up (None when cached, pinned or an IP address), summed.
    pub dns: Option<Duration>,
    /// The whole connects, DNS and TLS included, summed.
    pub connect: Option<Duration>,
    /// The TLS handshakes among them, summed (None when no connect timed one apart).
    pub tls: Option<Duration>,
    /// Connects the request drove, to tell a reused connection from a fresh one.
    pub count: u32,
}

tokio::task_local! {
    /// Where a request's task receives the time of the connect it drove.
    static CONNECT_TIME: std::cell::Cell<ConnectTiming>;
}

/// Runs `request` with a slot for its connect time; returns its output and that time, if the
/// request opened a connection itself.
///
/// A combinator rather than an `async fn`: an `async fn` keeps its argument and the future it
/// awaits as two copies of `request` in its state, and this one wraps every request.
pub(crate) fn timing_connect<F: Future>(
    request: F,
) -> impl Future<Output = (F::Output, ConnectTiming)> {
    use futures_util::FutureExt;
    // The closure runs inside the inner poll, while the scope is still entered.
    CONNECT_TIME.scope(
        std::cell::Cell::new(ConnectTiming::default()),
        request.map(|output| (output, CONNECT_TIME.with(std::cell::Cell::get))),
    )
}

/// Notes a lookup's duration for the request whose task made it, if any; a request that
/// looked up more than one name (a redirect to another host) gets their sum.
pub(crate) fn note_dns(took: Duration) {
    let _ = CONNECT_TIME.try_with(|slot| {
        let was = slot.get();
        slot.set(ConnectTiming {
            dns: Some(was.dns.unwrap_or_default() + took),
            ..was
        })
    });
}

/// Notes a connect's duration (DNS and TLS included) and its TLS handshake's, if timed apart,
/// for the request whose task made it, if any; the connects of one request (redirect hops, a
/// stale connection's resend) are summed, so its phases add up to its time.
pub(crate) fn note_connect(took: Duration, tls: Option<Duration>) {
    let _ = CONNECT_TIME.try_with(|slot| {
        let was = slot.get();
        slot.set(ConnectTiming {
            connect: Some(was.connect.unwrap_or_default() + took),
            tls: match (was.tls, tls) {
                (Some(a), Some(b)) => Some(a + b),
                (a, b) => a.or(b),
            },
            count: was.count + 1,
            ..was
        })
    });
}

/// How many connects the current request has driven so far (0 outside `timing_connect`).
pub(crate) fn connects_so_far() -> u32 {
    CONNECT_TIME.try_with(|slot| slot.get().count).unwrap_or(0)
}

/// Counts and times connects; cloned into the client, shared with the run's stats.
#[derive(Debug, Clone, Default)]
pub struct ConnectionCounter {
    opened: Arc<AtomicU64>,
}

impl ConnectionCounter {
    /// Connections established so far.
    pub fn opened(&self) -> u64 {
        self.opened.load(Ordering::Relaxed)
    }

    /// Counts a connection opened outside the client's connector (the direct HTTP/1 path).
    pub(crate) fn count_one(&self) {
        self.opened.fetch_add(1, Ordering::Relaxed);
    }
}

impl<S> Layer<S> for ConnectionCounter {
    type Service = Counted<S>;

    fn layer(&self, inner: S) -> Self::Service {
        Counted {
            inner,
            opened: Arc::clone(&self.opened),
        }
    }
}

/// The connector, counted and timed.
#[derive(Debug, Clone)]
pub struct Counted<S> {
    inner: S,
    opened: Arc<AtomicU64>,
}

impl<S, R> Service<R> for Counted<S>
where
    S: Service<R>,
    S::Future: Send + 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<S::Response, S::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: R) -> Self::Future {
        let connecting = self.inner.call(request);
        let opened = Arc::clone(&self.opened);
        Box::pin(async move {
            let start = Instant::now();
            let result = connecting.await;
            if result.is_ok() {
                opened.fetch_add(1, Ordering::Relaxed);
                // Only the request whose task drove this connect has the slot; a connect that
                // finishes in the background for the pool is counted but timed for nobody.
                note_connect(start.elapsed(), None);
            }
            result
        })
    }
}
