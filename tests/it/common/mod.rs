//! What the tests share. A test adds routes, not servers:
//!
//! - [`server`]: the one loopback server. `server::spawn(router).await` serves an axum `Router`
//!   (HTTP/1, and h2c by prior knowledge) and returns a guard that stops it on drop: `base()`,
//!   `url("/item/{}")`, `requests()`, `answered()`, `hits(prefix)`, `seen()` (each request's
//!   method, path, version, headers and arrival), `peak_in_flight()`, `connections()`,
//!   `wait_for_requests(n)`. `server::Options::default()` makes the same server https
//!   (`.tls(config)`, then `failed_handshakes(n)`), HTTP/2 only (`.h2(max_streams)`,
//!   `.goaway_after(n)`, `peak_streams()`), slower (`.delay(d)`), or raw
//!   (`.spawn_raw(|conn| ...)`: the connection's bytes, for what no framework writes);
//!   `server::dead_addr()` is a port nothing listens on.
//! - [`cmd`]: the command lines. `Cmd::url(&url).words("-r 1..=20 -m concurrent -q")
//!   .report(&path).exits(0).await` runs the binary and checks its exit code; `run()` only runs
//!   it; `flag(name, value)`, `path(name, &path)`, `arg(..)`, `args(..)` for the rest.
//! - [`run`]: running the binary by hand and reading what it wrote (`records`, `stderr`, ...).
//! - [`TestServer`]: the shared pokeapi-like routes (`/item/{id}` and the fault routes:
//!   `route("flaky")`, `route("limited")`, ...) on [`server`], counting hits per id, delaying,
//!   refusing or holding back requests per [`Behaviour`]
//!   (`Behaviour::default().with_delay(f).with_not_found([2]).with_gate(8)`). Its API is as it
//!   was; `server` is the guard under it. [`RawServer`] is the two raw faults on `spawn_raw`.

pub mod cmd;
pub mod run;
pub mod server;

use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::{Path, RawQuery, State};
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
    /// The body of `/robots.txt`; None answers 404.
    pub robots: Option<&'static str>,
}

impl Behaviour {
    /// With a delay per id before answering.
    pub fn with_delay(mut self, delay: fn(u64) -> Duration) -> Self {
        self.delay = Some(delay);
        self
    }

    /// With these ids answered 404.
    pub fn with_not_found(mut self, ids: impl IntoIterator<Item = u64>) -> Self {
        self.not_found = ids.into_iter().collect();
        self
    }

    /// Holding every request until `n` are in flight at once.
    pub fn with_gate(mut self, n: usize) -> Self {
        self.gate = Some(n);
        self
    }
}

#[derive(Default)]
struct Counters {
    hits: Mutex<HashMap<u64, u32>>,
    arrivals: Mutex<Vec<Instant>>,
    in_flight: AtomicUsize,
    peak_in_flight: AtomicUsize,
    /// Requests to the list APIs (`/api/...`), and their pages after the first in flight now
    /// and at most at once.
    list_hits: AtomicUsize,
    later_pages: AtomicUsize,
    /// Set once `gate` later pages were in flight at once: they all go on from then.
    list_gate_open: std::sync::atomic::AtomicBool,
    later_pages_peak: AtomicUsize,
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
    /// The server under the routes; it stops when the `TestServer` is dropped.
    pub server: server::Server,
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
            .route("/agent/{page}", get(agent_page))
            .route("/api/json-server", get(json_server))
            .route("/api/github", get(github))
            .route("/api/wp", get(wordpress))
            .route("/api/cursor", get(cursor))
            .route("/api/offsets", get(offsets))
            .route("/advertised/{id}", get(advertised))
            .route("/robots.txt", get(robots_txt))
            .with_state(Arc::clone(&shared));
        let server = server::spawn(app).await;
        Self {
            addr: server.addr,
            shared,
            server,
        }
    }

    /// The URL template for the item endpoint.
    pub fn template(&self) -> String {
        self.route("item")
    }

    /// The URL template for one of the fault routes: `flaky`, `limited`, `slow`, `loop`, ...
    pub fn route(&self, name: &str) -> String {
        self.server.url(&format!("/{name}/{{}}"))
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

    /// Requests the list APIs (`/api/...`) answered.
    pub fn list_hits(&self) -> usize {
        self.shared.counters.list_hits.load(Ordering::SeqCst)
    }

    /// The most pages after the first of a list that were in flight at once.
    pub fn later_pages_peak(&self) -> usize {
        self.shared.counters.later_pages_peak.load(Ordering::SeqCst)
    }

    /// The list APIs' URL for `path_and_query` (`/api/github?per_page=10`).
    pub fn api(&self, path_and_query: &str) -> String {
        self.server.url(path_and_query)
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

/// Items in the list APIs: `{"id": i, "name": "item-i"}` for i in 1..=LIST_ITEMS.
pub const LIST_ITEMS: u64 = 47;

/// The names of the list APIs' items, in order.
pub fn list_names() -> Vec<String> {
    (1..=LIST_ITEMS).map(|i| format!("item-{i}")).collect()
}

/// The query's `k=v` pairs.
fn query_pairs(query: &Option<String>) -> HashMap<String, String> {
    query
        .as_deref()
        .unwrap_or_default()
        .split('&')
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
}

/// A list page's request: counted, and when it is a page after the first with `gate=N` in the
/// query, held until N such pages are in flight at once (or 5 s have passed, so a client that
/// never sends them together fails the test's overlap assertion instead of hanging).
struct ListPage<'a> {
    shared: &'a Shared,
    later: bool,
}

impl<'a> ListPage<'a> {
    async fn arrive(shared: &'a Shared, page: u64, query: &HashMap<String, String>) -> Self {
        let counters = &shared.counters;
        counters.list_hits.fetch_add(1, Ordering::SeqCst);
        let later = page > 1;
        if later {
            let now = counters.later_pages.fetch_add(1, Ordering::SeqCst) + 1;
            counters.later_pages_peak.fetch_max(now, Ordering::SeqCst);
            if let Some(gate) = query.get("gate").and_then(|g| g.parse::<usize>().ok()) {
                // Open for good once reached: the first let through may be done before the
                // others look again.
                let open = &counters.list_gate_open;
                if now >= gate {
                    open.store(true, Ordering::SeqCst);
                }
                let until = Instant::now() + Duration::from_secs(5);
                while !open.load(Ordering::SeqCst) && Instant::now() < until {
                    tokio::time::sleep(Duration::from_millis(2)).await;
                }
            }
        }
        Self { shared, later }
    }
}

impl Drop for ListPage<'_> {
    fn drop(&mut self) {
        if self.later {
            let counters = &self.shared.counters;
            counters.later_pages.fetch_sub(1, Ordering::SeqCst);
        }
    }
}

/// The items of page `page` (from 1) of `per_page` each, as a JSON array.
fn list_page(page: u64, per_page: u64) -> Vec<serde_json::Value> {
    let first = page.saturating_sub(1).saturating_mul(per_page) + 1;
    (first..first.saturating_add(per_page))
        .take_while(|i| *i <= LIST_ITEMS)
        .map(|i| serde_json::json!({ "id": i, "name": format!("item-{i}") }))
        .collect()
}

fn number(query: &HashMap<String, String>, key: &str, default: u64) -> u64 {
    query
        .get(key)
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// The query with `key` set to `value`, the other pairs as they came (in order).
fn with_param(query: &Option<String>, key: &str, value: u64) -> String {
    let mut pairs: Vec<String> = query
        .as_deref()
        .unwrap_or_default()
        .split('&')
        .filter(|kv| !kv.is_empty() && kv.split('=').next() != Some(key))
        .map(str::to_owned)
        .collect();
    pairs.push(format!("{key}={value}"));
    pairs.join("&")
}

/// A `Link` header of the `rels` given as (rel, page number), URLs absolute as GitHub's are.
fn link_header(base: &str, query: &Option<String>, key: &str, rels: &[(&str, u64)]) -> String {
    rels.iter()
        .map(|(rel, page)| format!("<{base}?{}>; rel=\"{rel}\"", with_param(query, key, *page)))
        .collect::<Vec<_>>()
        .join(", ")
}

fn host_of(headers: &axum::http::HeaderMap) -> String {
    let host = headers
        .get("host")
        .and_then(|h| h.to_str().ok())
        .unwrap_or("localhost");
    format!("http://{host}")
}

/// Pages 1 to 3 of a chain (`next`, relative), each saying the User-Agent and `X-Api-Key` it
/// was sent: what a library crawl's request settings looked like at the server.
async fn agent_page(Path(page): Path<u64>, headers: axum::http::HeaderMap) -> Response {
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    let body = serde_json::json!({
        "page": page,
        "agent": header("user-agent"),
        "key": header("x-api-key"),
        "next": (page < 3).then(|| format!("/agent/{}", page + 1)),
    });
    ([("content-type", "application/json")], body.to_string()).into_response()
}

/// json-server: a bare array; `_page` (from 1) and `_limit`, or every item without `_page`;
/// `X-Total-Count` and a `Link` with first, prev, next and last.
async fn json_server(
    State(shared): State<Arc<Shared>>,
    headers: axum::http::HeaderMap,
    RawQuery(raw): RawQuery,
) -> Response {
    let query = query_pairs(&raw);
    let Some(page) = query.get("_page").and_then(|p| p.parse::<u64>().ok()) else {
        let _hit = ListPage::arrive(&shared, 1, &query).await;
        let all = serde_json::Value::Array(list_page(1, LIST_ITEMS));
        return ([("content-type", "application/json")], all.to_string()).into_response();
    };
    let _hit = ListPage::arrive(&shared, page, &query).await;
    let limit = number(&query, "_limit", 10).max(1);
    let last = LIST_ITEMS.div_ceil(limit);
    let mut rels = vec![("first", 1)];
    if page > 1 {
        rels.push(("prev", page - 1));
    }
    if page < last {
        rels.push(("next", page + 1));
    }
    rels.push(("last", last));
    let base = format!("{}/api/json-server", host_of(&headers));
    let link = link_header(&base, &raw, "_page", &rels);
    let body = serde_json::Value::Array(list_page(page, limit)).to_string();
    (
        [
            ("content-type", "application/json".to_owned()),
            ("x-total-count", LIST_ITEMS.to_string()),
            ("link", link),
        ],
        body,
    )
        .into_response()
}

/// GitHub: a bare array; `page` (from 1) and `per_page` (default 30); a `Link` with next and
/// last (and prev and first after the first page), none of them on a lone page.
async fn github(
    State(shared): State<Arc<Shared>>,
    headers: axum::http::HeaderMap,
    RawQuery(raw): RawQuery,
) -> Response {
    let query = query_pairs(&raw);
    let page = number(&query, "page", 1).max(1);
    let _hit = ListPage::arrive(&shared, page, &query).await;
    let per_page = number(&query, "per_page", 30).clamp(1, 100);
    let last = LIST_ITEMS.div_ceil(per_page);
    let mut rels = Vec::new();
    if page > 1 {
        rels.extend([("prev", page - 1), ("first", 1)]);
    }
    if page < last {
        rels.extend([("next", page + 1), ("last", last)]);
    }
    let base = format!("{}/api/github", host_of(&headers));
    let body = serde_json::Value::Array(list_page(page, per_page)).to_string();
    let mut response = ([("content-type", "application/json")], body).into_response();
    if !rels.is_empty() {
        let link = link_header(&base, &raw, "page", &rels);
        if let Ok(value) = link.parse() {
            response.headers_mut().insert("link", value);
        }
    }
    response
}

/// The WordPress REST API: a bare array; `page` (from 1) and `per_page` (default 10);
/// `X-WP-Total` and `X-WP-TotalPages`; a page past the last is a 400, as WordPress answers.
async fn wordpress(State(shared): State<Arc<Shared>>, RawQuery(raw): RawQuery) -> Response {
    let query = query_pairs(&raw);
    let page = number(&query, "page", 1).max(1);
    let _hit = ListPage::arrive(&shared, page, &query).await;
    let per_page = number(&query, "per_page", 10).clamp(1, 100);
    let pages = LIST_ITEMS.div_ceil(per_page);
    if page > pages {
        let body = r#"{"code":"rest_post_invalid_page_number"}"#;
        return (StatusCode::BAD_REQUEST, body).into_response();
    }
    let body = serde_json::Value::Array(list_page(page, per_page)).to_string();
    (
        [
            ("content-type", "application/json".to_owned()),
            ("x-wp-total", LIST_ITEMS.to_string()),
            ("x-wp-totalpages", pages.to_string()),
        ],
        body,
    )
        .into_response()
}

/// A cursor API (Twitter's shape): `{"data": [...], "meta": {"next_token": T}}` with
/// `pagination_token=T` for the next page and `max_results` per page; the last page's token is
/// empty. A token is opaque to the client (`c` and the offset, reversed).
async fn cursor(State(shared): State<Arc<Shared>>, RawQuery(raw): RawQuery) -> Response {
    let query = query_pairs(&raw);
    let offset = match query.get("pagination_token") {
        None => 0,
        Some(token) => match token
            .strip_prefix('c')
            .map(|t| t.chars().rev().collect::<String>())
            .and_then(|t| t.parse::<u64>().ok())
        {
            Some(offset) => offset,
            None => return (StatusCode::BAD_REQUEST, "bad token").into_response(),
        },
    };
    let per_page = number(&query, "max_results", 10).max(1);
    let _hit = ListPage::arrive(&shared, 1, &query).await;
    let data = list_page(offset / per_page + 1, per_page);
    let next = offset + per_page;
    let token = if next < LIST_ITEMS {
        format!("c{}", next.to_string().chars().rev().collect::<String>())
    } else {
        String::new()
    };
    let body = serde_json::json!({ "data": data, "meta": { "next_token": token } }).to_string();
    ([("content-type", "application/json")], body).into_response()
}

/// Offset paging in pokeapi's shape: `{"count", "results": [...]}` for `offset` and `limit`;
/// past the end an empty `results`.
async fn offsets(State(shared): State<Arc<Shared>>, RawQuery(raw): RawQuery) -> Response {
    let query = query_pairs(&raw);
    let limit = number(&query, "limit", 10).max(1);
    let offset = number(&query, "offset", 0);
    let _hit = ListPage::arrive(&shared, offset / limit + 1, &query).await;
    let results: Vec<serde_json::Value> = (offset + 1..=offset + limit)
        .take_while(|i| *i <= LIST_ITEMS)
        .map(|i| serde_json::json!({ "name": format!("item-{i}") }))
        .collect();
    let body = serde_json::json!({ "count": LIST_ITEMS, "results": results }).to_string();
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

/// The behaviour's robots.txt, or 404.
async fn robots_txt(State(shared): State<Arc<Shared>>) -> Response {
    match shared.behaviour.robots {
        Some(body) => ([("content-type", "text/plain")], body).into_response(),
        None => StatusCode::NOT_FOUND.into_response(),
    }
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

/// The item with `X-RateLimit-Limit: 10` (a quota without its window: read as per second),
/// whatever the load; its arrivals are recorded.
async fn advertised(State(shared): State<Arc<Shared>>, Path(id): Path<u64>) -> Response {
    count_hit(&shared, id);
    shared
        .counters
        .arrivals
        .lock()
        .unwrap()
        .push(Instant::now());
    let mut response = item_json(id);
    response.headers_mut().insert(
        "x-ratelimit-limit",
        axum::http::HeaderValue::from_static("10"),
    );
    response
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
/// short, an endless body. Counts the body bytes it managed to send.
pub struct RawServer {
    sent: Arc<std::sync::atomic::AtomicU64>,
    /// The raw server under the fault; it stops when the `RawServer` is dropped.
    pub server: server::Server,
}

#[derive(Clone, Copy)]
pub enum RawFault {
    /// The first connection gets half of a Content-Length body, then a close; later ones all of it.
    TruncateFirst,
    /// `200 OK` then body bytes without end (until the client goes away or `limit` is sent).
    Endless { limit: u64 },
}

impl RawServer {
    pub async fn start(fault: RawFault) -> Self {
        let sent = Arc::new(std::sync::atomic::AtomicU64::new(0));
        let counter = Arc::clone(&sent);
        let server =
            server::spawn_raw(move |conn| raw_fault(conn, fault, Arc::clone(&counter))).await;
        Self { sent, server }
    }

    pub fn template(&self) -> String {
        self.server.url("/raw/{}")
    }

    /// Body bytes written to clients so far.
    pub fn body_bytes_sent(&self) -> u64 {
        self.sent.load(Ordering::SeqCst)
    }
}

/// One connection of a [`RawServer`]: the request read, then `fault`'s answer.
async fn raw_fault(
    mut conn: server::Conn,
    fault: RawFault,
    sent: Arc<std::sync::atomic::AtomicU64>,
) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let stream = &mut conn.stream;
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
            let part = if conn.index == 0 {
                &body[..body.len() / 2]
            } else {
                &body[..]
            };
            let _ = stream.write_all(part).await;
            let _ = stream.shutdown().await;
        }
        RawFault::Endless { limit } => {
            let head =
                "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\nconnection: close\r\n\r\n[";
            let _ = stream.write_all(head.as_bytes()).await;
            let chunk = vec![b' '; 64 * 1024];
            while sent.load(Ordering::SeqCst) < limit {
                if stream.write_all(&chunk).await.is_err() {
                    break;
                }
                sent.fetch_add(chunk.len() as u64, Ordering::SeqCst);
            }
        }
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
pub fn run_measuring_memory(bin: &str, args: &[String]) -> (std::process::Output, u64) {
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
