//! Crawls against a small paging API on loopback: a list that names the next page and its
//! items, items that name their species, `Link` headers, duplicates, other origins, loops and a
//! failing page; records in pre-order whatever order the responses arrive in.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::{Path, RawQuery, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use serde_json::{json, Value};

use crate::common::cmd::Cmd;
use crate::common::run::{assert_said, fetchbench, read_json, records, stderr};
use crate::common::server;

const ITEMS: u64 = 151;

/// What the handlers share beyond what the server's guard counts.
#[derive(Default)]
struct Books {
    /// The list's pages in flight now and at most at once.
    pages_in_flight: AtomicUsize,
    pages_peak: AtomicUsize,
    /// Pages after the first seen so far, for a gate that holds them until all are in.
    later_pages: tokio::sync::watch::Sender<usize>,
    /// Item requests so far, to wait on.
    items_seen: tokio::sync::watch::Sender<u32>,
    /// Extra delay of every item, milliseconds (to interrupt a crawl midway).
    item_delay_ms: std::sync::atomic::AtomicU64,
    /// Another server's address, for links that leave the origin.
    other: Mutex<Option<SocketAddr>>,
}

struct CrawlServer {
    addr: SocketAddr,
    books: Arc<Books>,
    server: server::Server,
}

impl CrawlServer {
    async fn start() -> Self {
        let books = Arc::new(Books::default());
        let app = Router::new()
            .route("/list", get(list))
            .route("/linked", get(linked))
            .route("/loop", get(looping))
            .route("/item/{id}/", get(item))
            .route("/sparse/{id}", get(sparse))
            .route("/species/{id}/", get(species))
            .with_state(Arc::clone(&books));
        let server = server::spawn(app).await;
        Self {
            addr: server.addr,
            books,
            server,
        }
    }

    fn url(&self, path: &str) -> String {
        self.server.url(path)
    }

    /// Requests per path prefix (`/list`, `/item`, `/species`, `/list?offset=40`, ...).
    fn hits(&self, prefix: &str) -> u32 {
        self.server.hits(prefix)
    }

    fn peak(&self) -> usize {
        self.server.peak_in_flight()
    }
}

struct InFlight<'a>(&'a AtomicUsize);

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

/// A JSON answer (the test server's axum has no JSON feature).
fn json_response(value: Value) -> Response {
    (
        [(header::CONTENT_TYPE, "application/json")],
        value.to_string(),
    )
        .into_response()
}

/// The query's `k=v` pairs.
fn pairs(query: Option<String>) -> HashMap<String, String> {
    query
        .unwrap_or_default()
        .split('&')
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
}

fn base(headers: &HeaderMap) -> String {
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("localhost");
    format!("http://{host}")
}

/// Answers come back out of order: a delay that differs per id.
async fn scramble(id: u64) {
    tokio::time::sleep(Duration::from_millis(id.wrapping_mul(7919) % 13)).await;
}

/// `/list?offset=&limit=[&dups=1][&away=1][&fail=OFFSET]`: pokeapi's list shape.
async fn list(
    State(books): State<Arc<Books>>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Response {
    let q = pairs(query);
    let offset: u64 = q.get("offset").and_then(|v| v.parse().ok()).unwrap_or(0);
    let limit: u64 = q.get("limit").and_then(|v| v.parse().ok()).unwrap_or(20);
    let now = books.pages_in_flight.fetch_add(1, Ordering::SeqCst) + 1;
    books.pages_peak.fetch_max(now, Ordering::SeqCst);
    let _page = InFlight(&books.pages_in_flight);
    // `gate=N`: the pages after the first wait until N of them are in (bounded: a client that
    // never sends them together fails the test's count instead of hanging it).
    if let (Some(gate), true) = (
        q.get("gate").and_then(|g| g.parse::<usize>().ok()),
        offset > 0,
    ) {
        books.later_pages.send_modify(|n| *n += 1);
        let mut seen = books.later_pages.subscribe();
        let _ = tokio::time::timeout(Duration::from_secs(10), seen.wait_for(|n| *n >= gate)).await;
    }
    scramble(offset).await;
    if q.get("fail").and_then(|v| v.parse::<u64>().ok()) == Some(offset) {
        return (StatusCode::INTERNAL_SERVER_ERROR, "no").into_response();
    }
    let base = base(&headers);
    let mut results: Vec<Value> = (offset + 1..=(offset + limit).min(ITEMS))
        .map(|id| json!({"name": format!("item-{id}"), "url": format!("{base}/item/{id}/")}))
        .collect();
    if q.contains_key("dups") && offset == 0 {
        for id in [1, 2, 3] {
            results.push(json!({"url": format!("/item/{id}/")}));
        }
    }
    if q.contains_key("split") {
        // Every other item on the other server.
        if let Some(other) = *books.other.lock().expect("books") {
            for (k, item) in results.iter_mut().enumerate() {
                if k % 2 == 1 {
                    item["url"] = json!(format!("http://{other}/item/{}/", offset + 1 + k as u64));
                }
            }
        }
    }
    if q.contains_key("away") && offset == 0 {
        if let Some(other) = *books.other.lock().expect("books") {
            results.push(json!({"url": format!("http://{other}/item/999/")}));
        }
    }
    let extra: String = ["dups", "away", "fail", "gate"]
        .iter()
        .filter_map(|k| q.get(*k).map(|v| format!("&{k}={v}")))
        .collect();
    let next = (offset + limit < ITEMS)
        .then(|| format!("{base}/list?offset={}&limit={limit}{extra}", offset + limit));
    json_response(json!({"count": ITEMS, "next": next, "results": results}))
}

/// `/linked?page=N`: pages 1..=3 named by `Link` headers, 2 items each.
async fn linked(RawQuery(query): RawQuery, headers: HeaderMap) -> Response {
    let page: u64 = pairs(query)
        .get("page")
        .and_then(|p| p.parse().ok())
        .unwrap_or(1);
    let base = base(&headers);
    let results: Vec<Value> = (1..=2)
        .map(|k| json!({"url": format!("/item/{}/", (page - 1) * 2 + k)}))
        .collect();
    let mut response = json_response(json!({ "results": results }));
    if page < 3 {
        let link = format!(
            "<{base}/linked?page=1>; rel=\"first\", <{base}/linked?page={}>; rel=\"next\"",
            page + 1
        );
        if let Ok(value) = link.parse() {
            response.headers_mut().insert(header::LINK, value);
        }
    }
    response
}

/// `/loop?page=N`: page 3 names page 2 as its next.
async fn looping(RawQuery(query): RawQuery) -> Response {
    let page: u64 = pairs(query)
        .get("page")
        .and_then(|p| p.parse().ok())
        .unwrap_or(1);
    let next = if page == 3 { 2 } else { page + 1 };
    json_response(json!({"next": format!("/loop?page={next}"), "results": []}))
}

async fn item(State(books): State<Arc<Books>>, Path(id): Path<u64>) -> Response {
    books.items_seen.send_modify(|n| *n += 1);
    scramble(id).await;
    let delay = books.item_delay_ms.load(Ordering::SeqCst);
    tokio::time::sleep(Duration::from_millis(delay)).await;
    if id > ITEMS {
        return (StatusCode::NOT_FOUND, r#"{"detail":"Not found."}"#).into_response();
    }
    json_response(
        json!({"id": id, "name": format!("item-{id}"), "species": {"url": format!("/species/{id}/")}}),
    )
}

/// Ids 1..=151 and 160 exist; the rest are 404.
async fn sparse(Path(id): Path<u64>) -> Response {
    scramble(id).await;
    if id <= ITEMS || id == 160 {
        return json_response(json!({"id": id, "name": format!("item-{id}")}));
    }
    (StatusCode::NOT_FOUND, r#"{"detail":"Not found."}"#).into_response()
}

async fn species(Path(id): Path<u64>) -> Response {
    scramble(id + 5).await;
    json_response(json!({"id": id, "capture_rate": id * 3}))
}

fn names(records: &[Value]) -> Vec<String> {
    records
        .iter()
        .map(|r| r["fields"]["name"].as_str().unwrap_or("?").to_owned())
        .collect()
}

fn expected_items(range: std::ops::RangeInclusive<u64>) -> Vec<String> {
    range.map(|id| format!("item-{id}")).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn next_pages_and_their_items_come_out_in_order_while_fetched_together() {
    let server = CrawlServer::start().await;
    let dir = tempfile::tempdir().expect("temp dir");
    let report = dir.path().join("report.json");
    let url = server.url("/list?limit=20");
    let out = Cmd::url(&url)
        .words("--next next --follow results[*].url -f name -m concurrent -q")
        .report(&report)
        .exits(0)
        .await;
    let recs = records(&out);
    assert_eq!(names(&recs), expected_items(1..=ITEMS));
    assert!(recs.iter().all(|r| r["depth"] == 1));
    assert!(recs[0]["parent"]
        .as_str()
        .is_some_and(|p| p.contains("/list")));
    assert_eq!(server.hits("/list"), 8);
    assert_eq!(server.hits("/item"), 151);
    assert!(server.peak() >= 2, "details overlap the pages");
    let crawl = &read_json(&report)["runs"][0]["crawl"];
    assert_eq!(crawl["pages"], 7);
    assert_eq!(crawl["levels"][0]["requests"], 8);
    assert_eq!(crawl["levels"][1]["requests"], 151);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn offset_pages_from_a_range_run_together() {
    let server = CrawlServer::start().await;
    let url = server.url("/list?offset={}&limit=20");
    let out = Cmd::url(&url)
        .words("--range 0..160:20 --follow results[*].url -f name -m concurrent -q")
        .exits(0)
        .await;
    assert_eq!(names(&records(&out)), expected_items(1..=ITEMS));
    assert!(
        server.peak() >= 8,
        "the 8 pages and their items were in flight together"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_link_header_names_the_next_page() {
    let server = CrawlServer::start().await;
    let url = server.url("/linked?page=1");
    let out = Cmd::url(&url)
        .words("--next link --follow results[*].url -f name -q -m concurrent")
        .exits(0)
        .await;
    assert_eq!(names(&records(&out)), expected_items(1..=6));
    assert_eq!(server.hits("/linked"), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn duplicates_are_fetched_once_and_counted() {
    let server = CrawlServer::start().await;
    let dir = tempfile::tempdir().expect("temp dir");
    let report = dir.path().join("report.json");
    let url = server.url("/list?limit=20&dups=1");
    Cmd::url(&url)
        .words("--next next --follow results[*].url -q -m concurrent")
        .report(&report)
        .words("-o /dev/null")
        .exits(0)
        .await;
    assert_eq!(server.hits("/item"), 151);
    assert_eq!(read_json(&report)["runs"][0]["crawl"]["duplicates"], 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_link_to_another_origin_is_fetched_only_when_allowed() {
    let server = CrawlServer::start().await;
    let other = CrawlServer::start().await;
    *server.books.other.lock().expect("books") = Some(other.addr);
    let url = server.url("/list?limit=200&away=1");
    let run = |extra: Vec<String>| {
        Cmd::url(&url)
            .words("--follow results[*].url -q -m concurrent")
            .args(extra)
            .run()
    };
    let out = run(vec![]).await;
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(other.hits("/item"), 0);
    assert_eq!(records(&out).len(), 151);
    let out = run(vec![
        "--allow-origin".into(),
        format!("http://{}", other.addr),
    ])
    .await;
    assert_eq!(other.hits("/item"), 1);
    // Item 999 does not exist there: a 404 among the results.
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(records(&out).len(), 152);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_page_that_names_an_earlier_page_ends_its_chain_with_a_loop_failure() {
    let server = CrawlServer::start().await;
    let url = server.url("/loop?page=1");
    let out = Cmd::url(&url)
        .words("--next next -q -m concurrent")
        .exits(1)
        .await;
    assert_eq!(server.hits("/loop"), 3);
    let recs = records(&out);
    assert_eq!(recs.len(), 4, "three pages and the loop");
    let last = &recs[3];
    assert!(
        last["error"]
            .as_str()
            .is_some_and(|e| e.starts_with("pagination loop")),
        "{last}"
    );
    assert!(last["url"].as_str().is_some_and(|u| u.ends_with("page=2")));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_levels_give_the_last_level_in_the_order_of_the_first() {
    let server = CrawlServer::start().await;
    let url = server.url("/list?limit=50");
    let out = Cmd::url(&url).words("--next next --follow results[*].url --follow species.url -f capture_rate -q -m concurrent").exits(0).await;
    let rates: Vec<u64> = records(&out)
        .iter()
        .map(|r| r["fields"]["capture_rate"].as_u64().unwrap_or(0))
        .collect();
    assert_eq!(rates, (1..=ITEMS).map(|id| id * 3).collect::<Vec<_>>());
    assert_eq!(server.hits("/species"), 151);

    // Every level on request, each record after the one that named it.
    let out = Cmd::url(&url).words("--next next --follow results[*].url --follow species.url --all-levels -q -m concurrent").run()
    .await;
    let recs = records(&out);
    assert_eq!(recs.len(), 4 + 151 * 2);
    let depths: Vec<u64> = recs
        .iter()
        .take(4)
        .map(|r| r["depth"].as_u64().unwrap_or(9))
        .collect();
    assert_eq!(depths, [0, 1, 2, 1]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_page_is_a_record_and_the_other_pages_still_run() {
    let server = CrawlServer::start().await;
    let url = server.url("/list?offset={}&limit=20&fail=40");
    let out = Cmd::url(&url)
        .words("--range 0..160:20 --follow results[*].url -f name --retries 1 -q -m concurrent")
        .exits(1)
        .await;
    let recs = records(&out);
    let failed: Vec<&Value> = recs.iter().filter(|r| !r["error"].is_null()).collect();
    assert_eq!(failed.len(), 1);
    assert_eq!(failed[0]["status"], 500);
    assert_eq!(failed[0]["depth"], 0);
    assert_eq!(recs.len(), 151 - 20 + 1);
    assert_eq!(server.hits("/list?offset=40"), 2, "retried once");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crawl_flags_without_a_crawl_and_a_split_chain_are_refused() {
    let out = Cmd::new().words("--max-pages 3 -r 1 -q").exits(2).await;
    assert_said(&out, "--follow or --next");
    let out = Cmd::url("http://127.0.0.1:9/list")
        .words("--next next --shard 0/2 -q")
        .exits(2)
        .await;
    assert_said(&out, "cannot be split");
    let out = Cmd::new().words("--follow a..b -r 1 -q").exits(2).await;
    assert_said(&out, "--follow");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_library_crawls_with_a_window_of_two_when_one_page_names_fifty() {
    use futures_util::StreamExt;
    let server = CrawlServer::start().await;
    // A lazily pulled stream dispatches at most its concurrency ahead: window = concurrency = 2.
    let job = fetchbench::Job::builder(&server.url("/list?limit=50"))
        .follow("results[*].url")
        .field("name")
        .concurrency(2)
        .build()
        .expect("a job");
    let stream = job.stream().expect("a stream");
    let names: Vec<String> = tokio::time::timeout(
        Duration::from_secs(60),
        stream
            .map(|r| r.fields[0].as_str().unwrap_or("?").to_owned())
            .collect(),
    )
    .await
    .expect("the crawl completes");
    assert_eq!(names, expected_items(1..=50));
    assert!(server.peak() <= 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_total_from_the_first_page_sends_the_other_pages_together() {
    let server = CrawlServer::start().await;
    let dir = tempfile::tempdir().expect("temp dir");
    let report = dir.path().join("report.json");
    let url = server.url("/list?offset={}&limit=20&gate=7");
    let out = Cmd::url(&url)
        .words("--range 0..:20 --total count --follow results[*].url -f name -m concurrent -q")
        .report(&report)
        .exits(0)
        .await;
    assert_eq!(names(&records(&out)), expected_items(1..=ITEMS));
    assert_eq!(
        server.hits("/list"),
        8,
        "offsets 0..140: count 151 bounds the range"
    );
    assert_eq!(
        server.books.pages_peak.load(Ordering::SeqCst),
        7,
        "after the first page the other 7 are in flight together"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_range_with_no_end_stops_after_consecutive_missing_ids() {
    let server = CrawlServer::start().await;
    let dir = tempfile::tempdir().expect("temp dir");
    let report = dir.path().join("report.json");
    let url = server.url("/sparse/{}");
    let run = |n: &str| {
        Cmd::url(&url)
            .words("--range 1..")
            .flag("--stop-after-missing", n)
            .words("-m concurrent -q")
            .report(&report)
            .run()
    };
    let out = run("5").await;
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let ids: Vec<u64> = records(&out)
        .iter()
        .filter_map(|r| r["id"].as_u64())
        .collect();
    assert_eq!(ids, (1..=ITEMS).collect::<Vec<_>>());
    let crawl = &read_json(&report)["runs"][0]["crawl"];
    assert!(
        crawl["stopped"]
            .as_str()
            .is_some_and(|s| s.contains("from 152")),
        "{crawl}"
    );

    let out = run("10").await;
    let recs = records(&out);
    let found: Vec<u64> = recs
        .iter()
        .filter(|r| r["status"] == 200)
        .filter_map(|r| r["id"].as_u64())
        .collect();
    assert_eq!(found.last(), Some(&160));
    assert_eq!(found.len(), 152);
    // The misses between 151 and 160 are answers like any other: written, and failures.
    assert_eq!(recs.len(), 160);
    assert_eq!(out.status.code(), Some(1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_range_with_no_end_and_no_stop_rule_is_refused() {
    let out = Cmd::url("http://127.0.0.1:9/{}")
        .words("--range 1.. -q")
        .exits(2)
        .await;
    let err = stderr(&out);
    for flag in ["--stop-after-missing", "--until-empty", "--total"] {
        assert!(err.contains(flag), "{err}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_range_of_pages_stops_at_the_first_empty_one() {
    let server = CrawlServer::start().await;
    let url = server.url("/list?offset={}&limit=20");
    let out = Cmd::url(&url)
        .words(
            "--range 0..:20 --until-empty results --follow results[*].url -f name -m concurrent -q",
        )
        .exits(0)
        .await;
    assert_eq!(names(&records(&out)), expected_items(1..=ITEMS));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shards_split_a_crawl_by_seed_and_together_hold_every_leaf_once() {
    let server = CrawlServer::start().await;
    let url = server.url("/list?offset={}&limit=20");
    let mut all = Vec::new();
    for shard in ["0/2", "1/2"] {
        let out = Cmd::url(&url)
            .words("--range 0..160:20 --follow results[*].url -f name")
            .flag("--shard", shard)
            .words("-m concurrent -q")
            .exits(0)
            .await;
        all.extend(names(&records(&out)));
    }
    assert_eq!(server.hits("/item"), 151, "each leaf once over both shards");
    all.sort_by_key(|n| n.trim_start_matches("item-").parse::<u64>().unwrap_or(0));
    assert_eq!(all, expected_items(1..=ITEMS));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn host_concurrency_holds_each_host_to_its_share() {
    let server = CrawlServer::start().await;
    let other = CrawlServer::start().await;
    *server.books.other.lock().expect("books") = Some(other.addr);
    let url = server.url("/list?limit=40&split=1");
    let out = Cmd::url(&url).words("--follow results[*].url --allow-origin * -c 8 --host-concurrency 2 -m concurrent -q -f name").exits(0).await;
    assert_eq!(records(&out).len(), 40);
    assert_eq!(server.hits("/item") + other.hits("/item"), 40);
    assert!(other.hits("/item") == 20);
    assert!(
        server.peak() <= 2,
        "{} in flight at one host",
        server.peak()
    );
    assert!(other.peak() <= 2, "{} in flight at the other", other.peak());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigint_keeps_the_crawl_s_records_and_resume_fetches_each_remaining_leaf_once() {
    let server = CrawlServer::start().await;
    server.books.item_delay_ms.store(40, Ordering::SeqCst);
    let dir = tempfile::tempdir().expect("temp dir");
    let output = dir.path().join("out.ndjson");
    let url = server.url("/list?limit=20");
    let args = Cmd::url(url.as_str())
        .words("--next next --follow results[*].url -f name -m concurrent -c 4 -q")
        .out(&output);
    let child = std::process::Command::new(crate::common::run::BIN)
        .args(args.iter())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn fetchbench");
    // Interrupt once a quarter of the leaves were asked for.
    let mut seen = server.books.items_seen.subscribe();
    tokio::time::timeout(Duration::from_secs(30), seen.wait_for(|n| *n >= 40))
        .await
        .expect("the crawl reached its leaves")
        .expect("server running");
    // SAFETY: a signal to our own child.
    assert_eq!(
        unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGINT) },
        0
    );
    let out = tokio::task::spawn_blocking(move || child.wait_with_output())
        .await
        .expect("join")
        .expect("wait");
    assert_eq!(out.status.code(), Some(130), "{}", stderr(&out));
    let first = crate::common::run::records_in(&std::fs::read(&output).expect("output"));
    let n = first.len();
    assert!((40..151).contains(&n), "{n} records after SIGINT");
    assert_eq!(
        names(&first),
        expected_items(1..=n as u64),
        "whole, in order, no gap"
    );

    server.books.item_delay_ms.store(0, Ordering::SeqCst);
    let resumed = args.clone().arg("--resume");
    let out = fetchbench(&resumed).await;
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let all = crate::common::run::records_in(&std::fs::read(&output).expect("output"));
    assert_eq!(names(&all), expected_items(1..=ITEMS));
    assert_eq!(
        server.hits("/item"),
        151,
        "each leaf fetched once over both runs"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_resumed_crawl_warms_up_on_the_seeds_left_never_on_a_finished_one() {
    let server = CrawlServer::start().await;
    let dir = tempfile::tempdir().expect("temp dir");
    let db = dir.path().join("crawl.sqlite");
    let url = server.url("/list?offset={}&limit=20&fail=40");
    let args = Cmd::url(url.as_str())
        .words("--range 0..160:20 --follow results[*].url -f name --retries 0 -m concurrent -q")
        .out(&db);
    args.exits(1).await;
    let before = server.server.seen().len();
    // Seed 2 (offset 40) failed, every other seed is done: three seeds taken in a row from the
    // first not done would send the done offsets 60 and 80 again.
    args.clone().words("--warmup 3 --resume").exits(1).await;
    let resumed: Vec<String> = server.server.seen()[before..]
        .iter()
        .map(|seen| seen.path.clone())
        .collect();
    assert!(
        resumed
            .iter()
            .all(|path| path.starts_with("/list?offset=40&")),
        "only the failed page is asked for again: {resumed:?}"
    );
    assert_eq!(
        resumed.len(),
        2,
        "the failed page warmed up, then fetched: {resumed:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn items_turn_each_page_into_one_record_per_item_without_a_request_each() {
    let server = CrawlServer::start().await;
    let dir = tempfile::tempdir().expect("temp dir");
    let report = dir.path().join("report.json");
    let url = server.url("/list?limit=20");
    let out = Cmd::url(&url)
        .words("--next next --items results -f name -f url -m concurrent -q")
        .report(&report)
        .exits(0)
        .await;
    let recs = records(&out);
    assert_eq!(names(&recs), expected_items(1..=ITEMS));
    assert!(recs[24]["fields"]["url"]
        .as_str()
        .is_some_and(|u| u.ends_with("/item/25/")));
    assert_eq!(server.hits("/list"), 8);
    assert_eq!(server.hits("/item"), 0, "no request per item");
    assert_eq!(read_json(&report)["runs"][0]["requests"], 8);

    // A range of offsets, flat: the same items.
    let url = server.url("/list?offset={}&limit=20");
    let out = Cmd::url(&url)
        .words("--range 0..160:20 --items results -f name -q -m concurrent")
        .run()
        .await;
    assert_eq!(names(&records(&out)), expected_items(1..=ITEMS));
}
