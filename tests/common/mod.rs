//! A real HTTP server on loopback for the tests: it records every hit, the peak number of requests
//! in flight and their arrival times, and can delay, refuse or hold back requests per id.
#![allow(dead_code)]

use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use tokio::sync::watch;

/// How the server behaves.
#[derive(Clone, Default)]
pub struct Behaviour {
    /// Delay per id before answering.
    pub delay: Option<fn(u64) -> Duration>,
    /// Ids answered with 404.
    pub not_found: HashSet<u64>,
    /// Hold every request until this many are in flight at once (then release all, for good).
    pub gate: Option<usize>,
}

#[derive(Default)]
struct Counters {
    hits: Mutex<HashMap<u64, u32>>,
    arrivals: Mutex<Vec<Instant>>,
    in_flight: AtomicUsize,
    peak_in_flight: AtomicUsize,
}

struct Shared {
    behaviour: Behaviour,
    counters: Counters,
    gate_open: watch::Sender<bool>,
}

pub struct TestServer {
    pub addr: SocketAddr,
    shared: Arc<Shared>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl TestServer {
    pub async fn start(behaviour: Behaviour) -> Self {
        let (gate_open, _) = watch::channel(behaviour.gate.is_none());
        let shared = Arc::new(Shared {
            behaviour,
            counters: Counters::default(),
            gate_open,
        });
        let app = Router::new()
            .route("/item/{id}", get(item))
            .with_state(Arc::clone(&shared));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind test server");
        let addr = listener.local_addr().expect("test server address");
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Self { addr, shared, task }
    }

    /// The URL template for the item endpoint.
    pub fn template(&self) -> String {
        format!("http://{}/item/{{}}", self.addr)
    }

    /// Hits per id.
    pub fn hits(&self) -> HashMap<u64, u32> {
        self.shared.counters.hits.lock().unwrap().clone()
    }

    pub fn total_hits(&self) -> u32 {
        self.hits().values().sum()
    }

    pub fn peak_in_flight(&self) -> usize {
        self.shared.counters.peak_in_flight.load(Ordering::SeqCst)
    }

    /// Arrival times of the requests, in arrival order.
    pub fn arrivals(&self) -> Vec<Instant> {
        self.shared.counters.arrivals.lock().unwrap().clone()
    }
}

/// Decrements the in-flight count however the handler ends.
struct InFlight<'a>(&'a AtomicUsize);

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

async fn item(State(shared): State<Arc<Shared>>, Path(id): Path<String>) -> Response {
    let Ok(id) = id.parse::<u64>() else {
        return (StatusCode::BAD_REQUEST, "bad id").into_response();
    };
    let counters = &shared.counters;
    *counters.hits.lock().unwrap().entry(id).or_default() += 1;
    counters.arrivals.lock().unwrap().push(Instant::now());
    let now = counters.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
    let _guard = InFlight(&counters.in_flight);
    counters.peak_in_flight.fetch_max(now, Ordering::SeqCst);

    if let Some(gate) = shared.behaviour.gate {
        if now >= gate {
            shared.gate_open.send_replace(true);
        }
        let mut open = shared.gate_open.subscribe();
        // Bounded: if the client never reaches the gate, the test's peak assertion reports it.
        let _ = tokio::time::timeout(Duration::from_secs(10), open.wait_for(|o| *o)).await;
    }
    if let Some(delay) = shared.behaviour.delay {
        tokio::time::sleep(delay(id)).await;
    }
    if shared.behaviour.not_found.contains(&id) {
        return (StatusCode::NOT_FOUND, r#"{"detail":"Not found."}"#).into_response();
    }
    let body = format!(
        r#"{{"id":{id},"name":"item-{id}","tags":["t{id}","u{id}"],"nested":{{"even":{}}}}}"#,
        id % 2 == 0
    );
    ([("content-type", "application/json")], body).into_response()
}

/// A delay that differs per id so responses come back out of order (0..=30 ms).
pub fn scrambled_delay(id: u64) -> Duration {
    Duration::from_millis(id.wrapping_mul(7919) % 31)
}
