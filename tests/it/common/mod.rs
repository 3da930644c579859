//! A real HTTP server on loopback for the tests: it records every hit, the peak number of requests
//! in flight and their arrival times, and can delay, refuse or hold back requests per id.

pub mod run;

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
    total_hits: watch::Sender<u32>,
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
            total_hits: watch::channel(0).0,
        });
        let app = Router::new()
            .route("/item/{id}", get(item))
            .route("/flaky/{id}", get(flaky))
            .route("/limited/{id}", get(limited))
            .route("/slow/{id}", get(slow))
            .route("/loop/{id}", get(redirect_loop))
            .route("/hop/{id}", get(hop))
            .route("/text/{id}", get(text))
            .route("/error/{id}", get(server_error))
            .route("/echo-headers/{id}", get(echo_headers))
            .route("/echo/{*rest}", axum::routing::any(echo))
            .route("/to-other/{port}/{*rest}", get(to_other))
            .route("/to-self/{*rest}", get(to_self))
            .route("/half/{id}", get(half_limited))
            .route("/gzip/{id}", get(gzip_item))
            .route("/brotli/{id}", get(brotli_item))
            .route("/bomb/{id}", get(gzip_bomb))
            .route("/pages/{page}", get(pages))
            .route("/stall-once/{id}", get(stall_once))
            .route("/stall-pages/{page}", get(stall_pages))
            .route("/items/{id}", get(example_item))
            .route("/v1/items/{id}", get(example_private_item))
            .route("/search", axum::routing::post(example_search))
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
        self.route("item")
    }

    /// The URL template for one of the fault routes: `flaky`, `limited`, `slow`, `loop`, ...
    pub fn route(&self, name: &str) -> String {
        format!("http://{}/{name}/{{}}", self.addr)
    }

    /// Hits per id.
    pub fn hits(&self) -> HashMap<u64, u32> {
        self.shared.counters.hits.lock().unwrap().clone()
    }

    pub fn total_hits(&self) -> u32 {
        self.hits().values().sum()
    }

    /// Waits until the server has seen at least `n` requests (panics after 30 s).
    pub async fn wait_for_hits(&self, n: u32) {
        let mut total = self.shared.total_hits.subscribe();
        tokio::time::timeout(Duration::from_secs(30), total.wait_for(|t| *t >= n))
            .await
            .expect("server saw too few requests in time")
            .expect("server stopped");
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

/// Counts a hit on `id` and returns how many hits it has had, this one included.
fn count_hit(shared: &Shared, id: u64) -> u32 {
    let mut hits = shared.counters.hits.lock().unwrap();
    let n = hits.entry(id).or_default();
    *n += 1;
    shared.total_hits.send_modify(|total| *total += 1);
    *n
}

/// The JSON document of an item.
pub fn item_body(id: u64) -> String {
    format!(
        r#"{{"id":{id},"name":"item-{id}","tags":["t{id}","u{id}"],"nested":{{"even":{}}},"padding":"{}"}}"#,
        id % 2 == 0,
        "pokemon ".repeat(64)
    )
}

fn item_json(id: u64) -> Response {
    ([("content-type", "application/json")], item_body(id)).into_response()
}

/// `data` gzip-compressed, as the test server sends it.
pub fn gzip(data: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

/// Pages of the list to crawl: how many, and how many items each lists.
pub const PAGES: u64 = 4;
pub const PAGE_ITEMS: u64 = 5;

/// `/pages/N`: page N of a list of [`PAGES`] pages (from 0), each naming [`PAGE_ITEMS`] items
/// of the item route and the next page, by relative URLs (pokeapi's list shape).
async fn pages(Path(page): Path<u64>) -> Response {
    let results: Vec<serde_json::Value> = (page * PAGE_ITEMS + 1..=(page + 1) * PAGE_ITEMS)
        .map(|id| serde_json::json!({ "url": format!("/item/{id}") }))
        .collect();
    let next = (page + 1 < PAGES).then(|| format!("/pages/{}", page + 1));
    let body = serde_json::json!({ "next": next, "results": results }).to_string();
    ([("content-type", "application/json")], body).into_response()
}

/// The id `/stall-once/{id}` holds on its first hit.
pub const STALL_ID: u64 = 7;

/// Hits on `/stall-pages/N` are counted under `STALL_PAGE_HITS + N`.
pub const STALL_PAGE_HITS: u64 = 1_000_000;

/// The item; on [`STALL_ID`]'s first hit, no answer for a minute (a run to kill mid-way), at
/// once on the next.
async fn stall_once(State(shared): State<Arc<Shared>>, Path(id): Path<u64>) -> Response {
    if count_hit(&shared, id) == 1 && id == STALL_ID {
        tokio::time::sleep(Duration::from_secs(60)).await;
    }
    item_json(id)
}

/// `/pages/N` counted, its items at `/stall-once/{id}`.
async fn stall_pages(State(shared): State<Arc<Shared>>, Path(page): Path<u64>) -> Response {
    count_hit(&shared, STALL_PAGE_HITS + page);
    let results: Vec<serde_json::Value> = (page * PAGE_ITEMS + 1..=(page + 1) * PAGE_ITEMS)
        .map(|id| serde_json::json!({ "url": format!("/stall-once/{id}") }))
        .collect();
    let next = (page + 1 < PAGES).then(|| format!("/stall-pages/{}", page + 1));
    let body = serde_json::json!({ "next": next, "results": results }).to_string();
    ([("content-type", "application/json")], body).into_response()
}

/// What the request looked like: method, raw path and query, headers, body, HTTP version.
async fn echo(
    State(shared): State<Arc<Shared>>,
    method: axum::http::Method,
    version: axum::http::Version,
    uri: axum::http::Uri,
    headers: axum::http::HeaderMap,
    body: String,
) -> Response {
    count_hit(&shared, 0);
    let map: serde_json::Map<String, serde_json::Value> = headers
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_str().unwrap_or("").into()))
        .collect();
    let echo = serde_json::json!({
        "method": method.as_str(),
        "path": uri.path(),
        "query": uri.query(),
        "headers": map,
        "body": body,
        "version": format!("{version:?}"),
    });
    ([("content-type", "application/json")], echo.to_string()).into_response()
}

/// Odd ids: 429 at once. Even ids: 200 after 50 ms.
async fn half_limited(State(shared): State<Arc<Shared>>, Path(id): Path<u64>) -> Response {
    count_hit(&shared, id);
    if id % 2 == 1 {
        return (StatusCode::TOO_MANY_REQUESTS, "slow down").into_response();
    }
    tokio::time::sleep(Duration::from_millis(50)).await;
    item_json(id)
}

/// A redirect to the echo route of the server on another port (another origin).
async fn to_other(Path((port, rest)): Path<(u16, String)>) -> Response {
    let location = format!("http://127.0.0.1:{port}/echo/{rest}");
    (StatusCode::FOUND, [("location", location)]).into_response()
}

/// A redirect to this server's own echo route (same origin).
async fn to_self(Path(rest): Path<String>) -> Response {
    (StatusCode::FOUND, [("location", format!("/echo/{rest}"))]).into_response()
}

/// The item gzip-compressed, whatever the client asked for.
async fn gzip_item(State(shared): State<Arc<Shared>>, Path(id): Path<u64>) -> Response {
    count_hit(&shared, id);
    let headers = [
        ("content-type", "application/json"),
        ("content-encoding", "gzip"),
    ];
    (headers, gzip(item_body(id).as_bytes())).into_response()
}

async fn brotli_item(State(shared): State<Arc<Shared>>, Path(id): Path<u64>) -> Response {
    count_hit(&shared, id);
    let mut wire = Vec::new();
    brotli::BrotliCompress(
        &mut item_body(id).as_bytes(),
        &mut wire,
        &brotli::enc::BrotliEncoderParams::default(),
    )
    .unwrap();
    let headers = [
        ("content-type", "application/json"),
        ("content-encoding", "br"),
    ];
    (headers, wire).into_response()
}

/// About 1 MB of gzip that inflates to 1 GiB of zeros: 1024 gzip members of 1 MiB each.
async fn gzip_bomb(State(shared): State<Arc<Shared>>, Path(id): Path<u64>) -> Response {
    count_hit(&shared, id);
    let member = gzip(&vec![0u8; 1 << 20]);
    let wire = member.repeat(1024);
    let headers = [
        ("content-type", "application/json"),
        ("content-encoding", "gzip"),
    ];
    (headers, wire).into_response()
}

/// 503 on the first hit of each id, 200 after.
async fn flaky(State(shared): State<Arc<Shared>>, Path(id): Path<u64>) -> Response {
    match count_hit(&shared, id) {
        1 => (StatusCode::SERVICE_UNAVAILABLE, "try later").into_response(),
        _ => item_json(id),
    }
}

/// 429 with `Retry-After: 1` on the first hit of each id, 200 after.
async fn limited(State(shared): State<Arc<Shared>>, Path(id): Path<u64>) -> Response {
    match count_hit(&shared, id) {
        1 => (
            StatusCode::TOO_MANY_REQUESTS,
            [("retry-after", "1")],
            "slow down",
        )
            .into_response(),
        _ => item_json(id),
    }
}

/// Answers after 30 s: always past the client's timeout in these tests.
async fn slow(State(shared): State<Arc<Shared>>, Path(id): Path<u64>) -> Response {
    count_hit(&shared, id);
    tokio::time::sleep(Duration::from_secs(30)).await;
    item_json(id)
}

async fn redirect_loop(State(shared): State<Arc<Shared>>, Path(id): Path<u64>) -> Response {
    count_hit(&shared, id);
    (StatusCode::FOUND, [("location", format!("/loop/{id}"))]).into_response()
}

async fn hop(State(shared): State<Arc<Shared>>, Path(id): Path<u64>) -> Response {
    count_hit(&shared, id);
    (StatusCode::FOUND, [("location", format!("/item/{id}"))]).into_response()
}

async fn text(State(shared): State<Arc<Shared>>, Path(id): Path<u64>) -> Response {
    count_hit(&shared, id);
    ([("content-type", "text/html")], "<html>not json</html>").into_response()
}

async fn server_error(State(shared): State<Arc<Shared>>, Path(id): Path<u64>) -> Response {
    count_hit(&shared, id);
    (StatusCode::INTERNAL_SERVER_ERROR, "boom").into_response()
}

/// The request headers as a JSON object, so a test can see what the client sent.
async fn echo_headers(
    State(shared): State<Arc<Shared>>,
    Path(id): Path<u64>,
    headers: axum::http::HeaderMap,
) -> Response {
    count_hit(&shared, id);
    let map: serde_json::Map<String, serde_json::Value> = headers
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_str().unwrap_or("").into()))
        .collect();
    let body = serde_json::json!({ "id": id, "headers": map }).to_string();
    ([("content-type", "application/json")], body).into_response()
}

async fn item(State(shared): State<Arc<Shared>>, Path(id): Path<String>) -> Response {
    let Ok(id) = id.parse::<u64>() else {
        return (StatusCode::BAD_REQUEST, "bad id").into_response();
    };
    let counters = &shared.counters;
    count_hit(&shared, id);
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
    item_json(id)
}

/// README's `https://api.example.com/items/{id:05}`: an item with a `title`, for any numeric id
/// (zero-padded too).
async fn example_item(State(shared): State<Arc<Shared>>, Path(id): Path<String>) -> Response {
    let Ok(id) = id.parse::<u64>() else {
        return (StatusCode::BAD_REQUEST, "bad id").into_response();
    };
    count_hit(&shared, id);
    let body = serde_json::json!({ "id": id, "title": format!("item {id}") });
    ([("content-type", "application/json")], body.to_string()).into_response()
}

/// README's authenticated `https://api.example.com/v1/items/{}`: 401 without a bearer token, so
/// a run that lost `FETCHBENCH_AUTH` fails.
async fn example_private_item(
    State(shared): State<Arc<Shared>>,
    Path(id): Path<u64>,
    headers: axum::http::HeaderMap,
) -> Response {
    count_hit(&shared, id);
    let bearer = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("Bearer ") && v.len() > "Bearer ".len());
    if !bearer {
        return (StatusCode::UNAUTHORIZED, r#"{"detail":"no token"}"#).into_response();
    }
    let body = serde_json::json!({ "id": id, "name": format!("item {id}") });
    ([("content-type", "application/json")], body.to_string()).into_response()
}

/// README's `POST https://api.example.com/search`: the JSON body's `query` comes back as the
/// first hit's `title` (so a test sees the id arrive intact); 400 for a body without one.
async fn example_search(State(shared): State<Arc<Shared>>, body: String) -> Response {
    count_hit(&shared, 0);
    let query = serde_json::from_str::<serde_json::Value>(&body)
        .ok()
        .and_then(|v| v["query"].as_str().map(str::to_owned));
    let Some(query) = query else {
        return (StatusCode::BAD_REQUEST, "a JSON body with a query").into_response();
    };
    let body = serde_json::json!({ "hits": [{ "title": query }] });
    ([("content-type", "application/json")], body.to_string()).into_response()
}

/// A delay that differs per id so responses come back out of order (0..=30 ms).
pub fn scrambled_delay(id: u64) -> Duration {
    Duration::from_millis(id.wrapping_mul(7919) % 31)
}

/// A server speaking raw HTTP/1.1 bytes, for faults a framework will not produce: a body cut
/// short, an endless body. Counts connections and the body bytes it managed to send.
pub struct RawServer {
    pub addr: SocketAddr,
    sent: Arc<std::sync::atomic::AtomicU64>,
    task: tokio::task::JoinHandle<()>,
}

#[derive(Clone, Copy)]
pub enum RawFault {
    /// The first connection gets half of a Content-Length body, then a close; later ones all of it.
    TruncateFirst,
    /// `200 OK` then body bytes without end (until the client goes away or `limit` is sent).
    Endless { limit: u64 },
}

impl Drop for RawServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl RawServer {
    pub async fn start(fault: RawFault) -> Self {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let sent = Arc::new(std::sync::atomic::AtomicU64::new(0));
        let counter = Arc::clone(&sent);
        let task = tokio::spawn(async move {
            let mut connection = 0u32;
            while let Ok((mut stream, _)) = listener.accept().await {
                connection += 1;
                let counter = Arc::clone(&counter);
                let first = connection == 1;
                tokio::spawn(async move {
                    let mut request = [0u8; 4096];
                    let _ = stream.read(&mut request).await;
                    match fault {
                        RawFault::TruncateFirst => {
                            let body = br#"{"name":"whole","padding":"0123456789012345678901234567890123456789"}"#;
                            let head = format!(
                                "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
                                body.len()
                            );
                            let _ = stream.write_all(head.as_bytes()).await;
                            let part = if first {
                                &body[..body.len() / 2]
                            } else {
                                &body[..]
                            };
                            let _ = stream.write_all(part).await;
                            let _ = stream.shutdown().await;
                        }
                        RawFault::Endless { limit } => {
                            let head = "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\nconnection: close\r\n\r\n[";
                            let _ = stream.write_all(head.as_bytes()).await;
                            let chunk = vec![b' '; 64 * 1024];
                            while counter.load(Ordering::SeqCst) < limit {
                                if stream.write_all(&chunk).await.is_err() {
                                    break;
                                }
                                counter.fetch_add(chunk.len() as u64, Ordering::SeqCst);
                            }
                        }
                    }
                });
            }
        });
        Self { addr, sent, task }
    }

    pub fn template(&self) -> String {
        format!("http://{}/raw/{{}}", self.addr)
    }

    /// Body bytes written to clients so far.
    pub fn body_bytes_sent(&self) -> u64 {
        self.sent.load(Ordering::SeqCst)
    }
}

/// Runs `bin` to its end and returns its output with its peak resident memory in bytes.
///
/// The peak is the child's own `VmHWM`, sampled while it runs: the rusage of `wait4` is no
/// good here, since on exec Linux keeps the spawning process's high-water mark in the child's
/// `ru_maxrss`, so a busy test process would be blamed on fetchbench. Only a run too short to
/// be sampled falls back to it.
// The child is reaped by `wait4`, not by `Child::wait`.
#[allow(clippy::zombie_processes)]
pub fn run_measuring_memory(bin: &str, args: &[&str]) -> (std::process::Output, u64) {
    use std::process::{Command, Stdio};
    let child = Command::new(bin)
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn fetchbench");
    let pid = child.id() as libc::pid_t;
    let stdout = child.stdout.unwrap();
    let stderr = child.stderr.unwrap();
    let out_reader = std::thread::spawn(move || std::io::read_to_string(stdout).unwrap());
    let err_reader = std::thread::spawn(move || std::io::read_to_string(stderr).unwrap());
    let done = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let sampling = std::sync::Arc::clone(&done);
    let sampler = std::thread::spawn(move || {
        let mut peak = 0u64;
        while !sampling.load(std::sync::atomic::Ordering::SeqCst) {
            peak = peak.max(high_water_mark(pid).unwrap_or(0));
            std::thread::sleep(std::time::Duration::from_millis(2));
        }
        peak
    });
    let mut status = 0;
    // SAFETY: rusage is plain old data; wait4 fills it for our own child.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    let waited = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
    assert_eq!(waited, pid);
    done.store(true, std::sync::atomic::Ordering::SeqCst);
    let sampled = sampler.join().unwrap();
    let code = libc::WEXITSTATUS(status);
    let output = std::process::Output {
        status: std::os::unix::process::ExitStatusExt::from_raw(code << 8),
        stdout: out_reader.join().unwrap().into_bytes(),
        stderr: err_reader.join().unwrap().into_bytes(),
    };
    let peak = match sampled {
        0 => usage.ru_maxrss as u64 * 1024,
        sampled => sampled,
    };
    (output, peak)
}

/// A live process's peak resident memory (`VmHWM`), in bytes.
fn high_water_mark(pid: libc::pid_t) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}
