//! Politeness against servers that push back: a 429 with `Retry-After` pauses every request to
//! that host, not only the one it answered; a rate limit at zero waits for its reset.

use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::{Path, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;

use crate::common::cmd::Cmd;
use crate::common::run::{fetchbench, read_json, records, stderr};
use crate::common::server;

#[derive(Default)]
struct Books {
    /// robots.txt answered gzip-compressed and cacheable (see `robots`).
    gzip: AtomicBool,
    /// robots.txt answered with a redirect to `/real/robots.txt`.
    moved: AtomicBool,
    robots_fetches: AtomicU32,
    seen: AtomicU32,
    too_many: AtomicU32,
    arrivals: Mutex<Vec<Instant>>,
}

/// The first `first` requests get 429 `Retry-After: 2` at once; the others 200 after 100 ms (so
/// the 429s are read before any 200 frees a slot).
async fn limited(State(books): State<Arc<Books>>, Path(id): Path<u64>) -> Response {
    books.arrivals.lock().expect("books").push(Instant::now());
    let n = books.seen.fetch_add(1, Ordering::SeqCst);
    if n < 5 {
        books.too_many.fetch_add(1, Ordering::SeqCst);
        return (
            StatusCode::TOO_MANY_REQUESTS,
            [(header::RETRY_AFTER, "2")],
            "slow down",
        )
            .into_response();
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
    (
        [(header::CONTENT_TYPE, "application/json")],
        format!(r#"{{"id":{id}}}"#),
    )
        .into_response()
}

/// Every other request (by arrival) gets a 429 without `Retry-After`; every answer takes 50 ms.
async fn alternate(State(books): State<Arc<Books>>, Path(id): Path<u64>) -> Response {
    let n = books.seen.fetch_add(1, Ordering::SeqCst);
    tokio::time::sleep(Duration::from_millis(50)).await;
    if n % 2 == 1 {
        books.too_many.fetch_add(1, Ordering::SeqCst);
        return (StatusCode::TOO_MANY_REQUESTS, "slow down").into_response();
    }
    (
        [(header::CONTENT_TYPE, "application/json")],
        format!(r#"{{"id":{id}}}"#),
    )
        .into_response()
}

/// Answers 200 with `RateLimit-Remaining: 0, RateLimit-Reset: 1` on the first request.
async fn quota(State(books): State<Arc<Books>>) -> Response {
    books.arrivals.lock().expect("books").push(Instant::now());
    let n = books.seen.fetch_add(1, Ordering::SeqCst);
    let remaining = if n == 0 { "0" } else { "10" };
    (
        [
            (header::CONTENT_TYPE, "application/json"),
            (
                header::HeaderName::from_static("ratelimit-remaining"),
                remaining,
            ),
            (header::HeaderName::from_static("ratelimit-reset"), "1"),
        ],
        "{}",
    )
        .into_response()
}

/// `robots.txt` disallowing item 13 with a crawl delay of half a second, unless the server is
/// told to answer it 503 (`too_many` set to a marker, see the test).
async fn robots(State(books): State<Arc<Books>>) -> Response {
    books.robots_fetches.fetch_add(1, Ordering::SeqCst);
    if books.moved.swap(false, Ordering::SeqCst) {
        return (
            StatusCode::MOVED_PERMANENTLY,
            [(header::LOCATION, "/real/robots.txt")],
        )
            .into_response();
    }
    if books.too_many.load(Ordering::SeqCst) == u32::MAX {
        return (StatusCode::SERVICE_UNAVAILABLE, "down").into_response();
    }
    let rules = "User-agent: *\nDisallow: /item/13\nCrawl-delay: 0.5\n";
    if books.gzip.load(Ordering::SeqCst) {
        use std::io::Write as _;
        // Compressible, so deflate codes it: a short text is kept as a stored block, whose
        // rules an undecoding client would still find between the gzip bytes.
        let text = format!("{}{rules}", "# the rules follow\n".repeat(40));
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        gz.write_all(text.as_bytes()).expect("gzip");
        let body = gz.finish().expect("gzip");
        return (
            [
                (header::CONTENT_ENCODING, "gzip"),
                (header::CACHE_CONTROL, "max-age=60"),
            ],
            body,
        )
            .into_response();
    }
    rules.into_response()
}

async fn item(State(books): State<Arc<Books>>, Path(id): Path<u64>) -> Response {
    books.arrivals.lock().expect("books").push(Instant::now());
    books.seen.fetch_add(1, Ordering::SeqCst);
    if id == 13 {
        books.too_many.fetch_add(1000, Ordering::SeqCst);
    }
    (
        [(header::CONTENT_TYPE, "application/json")],
        format!(r#"{{"id":{id}}}"#),
    )
        .into_response()
}

/// The server on fresh books: the books, the base URL and the guard.
async fn start() -> (Arc<Books>, String, server::Server) {
    let books = Arc::new(Books::default());
    let app = Router::new()
        .route("/limited/{id}", get(limited))
        .route("/quota/{id}", get(quota))
        .route("/alternate/{id}", get(alternate))
        .route("/robots.txt", get(robots))
        .route("/real/robots.txt", get(robots))
        .route("/item/{id}", get(item))
        .with_state(Arc::clone(&books));
    let server = server::spawn(app).await;
    (books, server.base(), server)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_429_pauses_every_request_to_the_host_until_its_retry_after() {
    let (books, base, server) = start().await;
    let dir = tempfile::tempdir().expect("temp dir");
    let report = dir.path().join("report.json");
    let out = Cmd::url(format!("{base}/limited/{{}}"))
        .words("-r 1..=100 -m concurrent -c 32 -q")
        .report(&report)
        .exits(0)
        .await;
    drop(server);
    assert!(records(&out).iter().all(|r| r["status"] == 200));
    assert!(books.too_many.load(Ordering::SeqCst) <= 32);
    let arrivals = books.arrivals.lock().expect("books").clone();
    // The first 32 went out together; the next one only after the host's pause (2 s; a wide
    // margin for a loaded machine).
    let first = arrivals[0];
    let after_burst = arrivals[32];
    assert!(
        after_burst.duration_since(first) >= Duration::from_millis(1500),
        "a request reached the host {:?} after the 429s",
        after_burst.duration_since(first)
    );
    let run = &read_json(&report)["runs"][0];
    assert!(run["host_pauses"].as_u64().is_some_and(|n| n >= 1), "{run}");
    // The pauses set the pace, though the waiting requests kept their slots full.
    assert_eq!(run["rate"]["limited_by"], "pushback", "{run}");
    assert!(run["longest_pause_ms"]
        .as_f64()
        .is_some_and(|ms| ms >= 1999.0));
}

/// The phases of a record sent once: lookup, connect, headers and body add up to its elapsed_ms.
fn phases_add_up(record: &serde_json::Value) -> bool {
    let timing = &record["timing"];
    let sum: f64 = ["dns_ms", "connect_ms", "ttfb_ms", "body_ms"]
        .iter()
        .filter_map(|phase| timing[phase].as_f64())
        .sum();
    record["elapsed_ms"]
        .as_f64()
        .is_some_and(|elapsed| (elapsed - sum).abs() < 0.01)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn waiting_for_a_host_that_pushed_back_is_a_wait_not_latency() {
    let (books, base, server) = start().await;
    let dir = tempfile::tempdir().expect("temp dir");
    let report = dir.path().join("report.json");
    let out = fetchbench(&[
        "--url",
        &format!("{base}/alternate/{{}}"),
        "--range",
        "1..11",
        "-m",
        "concurrent",
        "-c",
        "4",
        "--retries",
        "0",
        // Shorter pauses keep the test short; each still holds every request to the host
        // for longer than the server takes.
        "--max-retry-wait",
        "500ms",
        "-q",
        "--report",
        report.to_str().expect("UTF-8"),
    ])
    .await;
    drop(server);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let recs = records(&out);
    assert!(books.too_many.load(Ordering::SeqCst) >= 1);
    let ok: Vec<_> = recs.iter().filter(|r| r["status"] == 200).collect();
    assert!(!ok.is_empty());
    for record in &ok {
        // The server took 50 ms: the pauses (500 ms each) before the send are not in it. The
        // margin is for a loaded machine; the median below is held under 80 ms.
        let elapsed = record["elapsed_ms"].as_f64().expect("elapsed");
        assert!((50.0..350.0).contains(&elapsed), "{record}");
        assert!(phases_add_up(record), "{record}");
    }
    let waited: Vec<_> = recs
        .iter()
        .filter(|r| r["wait_cause"] == "pushback")
        .collect();
    assert!(!waited.is_empty(), "no record waited for the push-back");
    for record in &waited {
        // Sent after its wait: the schedule (when a slot took it), the wait, then the send.
        let (scheduled, started) = (&record["scheduled_s"], &record["started_s"]);
        let wait_s = record["waited_ms"].as_f64().expect("waited") / 1000.0;
        assert!(wait_s > 0.0, "{record}");
        assert!(
            started.as_f64().unwrap() - scheduled.as_f64().unwrap() >= wait_s - 0.001,
            "{record}"
        );
    }
    let run = &read_json(&report)["runs"][0];
    let p50 = run["latency_ms_by_class"]["2xx"]["p50"]
        .as_f64()
        .expect("2xx p50");
    assert!(p50 < 80.0, "2xx p50 {p50} ms: {run}");
    let pushback = &run["waits"]["pushback"];
    assert_eq!(
        pushback["count"].as_u64(),
        Some(waited.len() as u64),
        "{run}"
    );
    let total: f64 = waited.iter().filter_map(|r| r["waited_ms"].as_f64()).sum();
    assert!(
        (pushback["total_ms"].as_f64().expect("total") - total).abs() < 1.0,
        "{run}"
    );
    assert!(
        pushback["p99_ms"].as_f64() >= pushback["p50_ms"].as_f64(),
        "{run}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rate_limit_at_zero_waits_for_its_reset_instead_of_drawing_429s() {
    let (books, base, server) = start().await;
    Cmd::url(format!("{base}/quota/{{}}"))
        .words("-r 1..=2 -m sequential -q")
        .exits(0)
        .await;
    drop(server);
    let arrivals = books.arrivals.lock().expect("books").clone();
    assert_eq!(arrivals.len(), 2);
    assert!(
        arrivals[1].duration_since(arrivals[0]) >= Duration::from_millis(700),
        "the second request did not wait for the reset"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn robots_txt_keeps_disallowed_urls_unrequested_and_spaces_the_starts() {
    let (books, base, server) = start().await;
    let out = Cmd::url(format!("{base}/item/{{}}"))
        .words("-r 11..=14 -m concurrent -c 8 --robots -q")
        .exits(1)
        .await;
    drop(server);
    let recs = records(&out);
    assert_eq!(recs.len(), 4);
    assert!(
        recs[2]["error"]
            .as_str()
            .is_some_and(|e| e.starts_with("robots.txt")),
        "{}",
        recs[2]
    );
    assert!(recs[2]["status"].is_null());
    assert_eq!(
        books.seen.load(Ordering::SeqCst),
        3,
        "item 13 was never requested"
    );
    assert_eq!(books.too_many.load(Ordering::SeqCst), 0);
    let mut arrivals = books.arrivals.lock().expect("books").clone();
    arrivals.sort();
    for pair in arrivals.windows(2) {
        assert!(
            pair[1].duration_since(pair[0]) >= Duration::from_millis(400),
            "starts {:?} apart under Crawl-delay: 0.5",
            pair[1].duration_since(pair[0])
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crawl_delay_is_waited_before_the_send_and_counted_as_a_wait() {
    let (_, base, server) = start().await;
    let dir = tempfile::tempdir().expect("temp dir");
    let report = dir.path().join("report.json");
    let out = Cmd::url(format!("{base}/item/{{}}"))
        .words("-r 1..=5 -m concurrent -c 8 --robots -q")
        .report(&report)
        .exits(0)
        .await;
    drop(server);
    let recs = records(&out);
    assert_eq!(recs.len(), 5);
    let mut starts: Vec<f64> = recs
        .iter()
        .filter_map(|r| r["started_s"].as_f64())
        .collect();
    starts.sort_by(f64::total_cmp);
    for pair in starts.windows(2) {
        assert!(
            pair[1] - pair[0] >= 0.45,
            "sent {:?} s apart",
            pair[1] - pair[0]
        );
    }
    for record in &recs {
        // The server answers at once: the delay is not in the latency.
        assert!(
            record["elapsed_ms"].as_f64().is_some_and(|ms| ms < 250.0),
            "{record}"
        );
    }
    let delayed = recs
        .iter()
        .filter(|r| r["wait_cause"] == "crawl-delay")
        .count();
    assert_eq!(delayed, 4, "all but the first waited for the Crawl-delay");
    let run = &read_json(&report)["runs"][0];
    let waits = &run["waits"]["crawl-delay"];
    assert_eq!(waits["count"].as_u64(), Some(4), "{run}");
    // 0.5, 1, 1.5 and 2 s after the first.
    assert!(
        waits["total_ms"].as_f64().is_some_and(|ms| ms >= 4500.0),
        "{run}"
    );
    assert!(
        run["latency_ms"]["max"]
            .as_f64()
            .is_some_and(|ms| ms < 250.0),
        "{run}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_robots_txt_that_answers_5xx_disallows_everything() {
    let (books, base, server) = start().await;
    books.too_many.store(u32::MAX, Ordering::SeqCst);
    let out = Cmd::url(format!("{base}/item/{{}}"))
        .words("-r 1..=3 -m concurrent --robots -q")
        .exits(1)
        .await;
    drop(server);
    assert!(records(&out)
        .iter()
        .all(|r| r["error"].as_str().is_some_and(|e| e.contains("503"))));
    assert_eq!(books.seen.load(Ordering::SeqCst), 0);
}

/// The records of `-r 12..=13` under the test robots.txt: 12 fetched, 13 refused unrequested.
fn item_12_fetched_and_13_refused_by_robots(out: &std::process::Output, run: u32) {
    let recs = records(out);
    assert_eq!(recs.len(), 2, "run {run}: {}", stderr(out));
    assert!(recs[0]["error"].is_null(), "run {run}: {}", recs[0]);
    let refused = recs[1]["error"].as_str().unwrap_or_default();
    assert!(refused.starts_with("robots.txt"), "run {run}: {}", recs[1]);
}

/// A robots.txt sent gzip-compressed is read decoded (else its rules would be noise, and item 13
/// requested), and with `--cache` it is asked for once: the second run finds it fresh.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_compressed_robots_txt_is_decoded_and_cached() {
    let (books, base, server) = start().await;
    books.gzip.store(true, Ordering::SeqCst);
    let cache = tempfile::tempdir().expect("a cache directory");
    let url = format!("{base}/item/{{}}");
    let args = Cmd::url(&url)
        .words("-r 12..=13 -m concurrent --robots")
        .path("--cache", cache.path())
        .words("-q");
    for run in 1..=2 {
        let out = fetchbench(&args).await;
        item_12_fetched_and_13_refused_by_robots(&out, run);
    }
    drop(server);
    assert_eq!(
        books.seen.load(Ordering::SeqCst),
        2,
        "item 12 twice, 13 never"
    );
    assert_eq!(books.robots_fetches.load(Ordering::SeqCst), 1);
}

/// A robots.txt that redirects is followed to its rules (RFC 9309: at least five hops).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_robots_txt_that_redirects_is_followed() {
    let (books, base, server) = start().await;
    books.moved.store(true, Ordering::SeqCst);
    let url = format!("{base}/item/{{}}");
    let out = Cmd::url(&url)
        .words("-r 12..=13 -m concurrent --robots -q")
        .run()
        .await;
    drop(server);
    item_12_fetched_and_13_refused_by_robots(&out, 1);
    assert_eq!(
        books.robots_fetches.load(Ordering::SeqCst),
        2,
        "the redirect, then the rules"
    );
    assert_eq!(
        books.seen.load(Ordering::SeqCst),
        1,
        "item 13 never requested"
    );
}
