//! Throttling against real loopback servers: after a pause the host-wide back-off paces a host
//! at what it accepted (AIMD), `--auto-throttle` spaces starts by latency, `--no-backoff` leaves the other
//! requests alone, and the fixture's `--rate-limit` answers 429 beyond its rate.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::{Path, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use fetchbench::fixture::{FixtureOptions, FixtureServer, STATS_PATH};

use crate::common::cmd::Cmd;
use crate::common::run::{fetchbench, read_json, records, stderr};
use crate::common::server;

/// What the server saw.
struct Books {
    seen: AtomicU32,
    too_many: AtomicU32,
    arrivals: Mutex<Vec<Instant>>,
    /// The first this many requests get 429 with this `Retry-After`.
    burst: u32,
    retry_after: &'static str,
    /// How long an answer takes.
    latency: Duration,
}

impl Books {
    fn new(burst: u32, retry_after: &'static str, latency: Duration) -> Arc<Self> {
        Arc::new(Self {
            seen: AtomicU32::new(0),
            too_many: AtomicU32::new(0),
            arrivals: Mutex::new(Vec::new()),
            burst,
            retry_after,
            latency,
        })
    }

    fn arrivals(&self) -> Vec<Instant> {
        let mut arrivals = self.arrivals.lock().expect("books").clone();
        arrivals.sort();
        arrivals
    }
}

async fn item(State(books): State<Arc<Books>>, Path(id): Path<u64>) -> Response {
    books.arrivals.lock().expect("books").push(Instant::now());
    let n = books.seen.fetch_add(1, Ordering::SeqCst);
    tokio::time::sleep(books.latency).await;
    if n < books.burst {
        books.too_many.fetch_add(1, Ordering::SeqCst);
        return (
            StatusCode::TOO_MANY_REQUESTS,
            [(header::RETRY_AFTER, books.retry_after)],
            "slow down",
        )
            .into_response();
    }
    (
        [(header::CONTENT_TYPE, "application/json")],
        format!(r#"{{"id":{id}}}"#),
    )
        .into_response()
}

async fn start(books: Arc<Books>) -> (String, server::Server) {
    let app = Router::new()
        .route("/item/{id}", get(item))
        .with_state(books);
    let server = server::spawn(app).await;
    (server.url("/item/{}"), server)
}

/// Runs fetchbench on `template` with `extra` flags; the output and the report's first run.
async fn run(
    template: &str,
    ids: &str,
    extra: &[&str],
) -> (std::process::Output, serde_json::Value) {
    let dir = tempfile::tempdir().expect("temp dir");
    let report = dir.path().join("report.json");
    let mut args = Cmd::url(template)
        .flag("-r", ids)
        .words("-m concurrent -q")
        .report(&report);
    args.extend(extra);
    let out = fetchbench(&args).await;
    let run = match out.status.code() {
        Some(0) => read_json(&report)["runs"][0].clone(),
        _ => serde_json::Value::Null,
    };
    (out, run)
}

/// Arrivals in `[from, from + span)`.
fn within(arrivals: &[Instant], from: Instant, span: Duration) -> usize {
    arrivals
        .iter()
        .filter(|a| **a >= from && a.duration_since(from) < span)
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_a_pause_the_host_is_approached_at_no_more_than_it_accepted() {
    // 16 requests at once; the first 8 draw 429 `Retry-After: 1`, every answer after 100 ms (so
    // all 16 are out before the first 429 is read, and the 8 accepted answers arrive during
    // the pause: what the host took is counted from answers still in flight).
    let books = Books::new(8, "1", Duration::from_millis(100));
    let (template, server) = start(Arc::clone(&books)).await;
    let (out, run) = run(&template, "1..=40", &["-c", "16", "--retries", "10"]).await;
    drop(server);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let recs = records(&out);
    assert_eq!(recs.len(), 40);
    assert!(recs.iter().all(|r| r["status"] == 200), "every id ends 200");
    let arrivals = books.arrivals();
    // Before the push-back: 16 starts together (well within half a second).
    let first = arrivals[0];
    assert!(arrivals[15].duration_since(first) < Duration::from_millis(500));
    // The pause holds everything for about a second; the second after it gets about four
    // fifths of the 8 the host accepted (6.4/s), never the 16 it was sent at once, and not a
    // slow start from 1/s either (one or two).
    let resumed = arrivals
        .iter()
        .copied()
        .find(|a| a.duration_since(first) >= Duration::from_millis(800))
        .expect("requests after the pause");
    let after = within(&arrivals, resumed, Duration::from_secs(1));
    assert!(
        (4..=9).contains(&after),
        "{after} requests in the second after the pause"
    );
    // Paced from there on: no second of the rest of the run takes more than the host accepted.
    let last = *arrivals.last().expect("arrivals");
    let mut from = resumed;
    while from + Duration::from_secs(1) <= last {
        let n = within(&arrivals, from, Duration::from_secs(1));
        assert!(n <= 9, "{n} requests in a second, {:?} in", from - first);
        from += Duration::from_millis(250);
    }
    assert!(books.too_many.load(Ordering::SeqCst) <= 16);
    assert_eq!(run["host_pauses"].as_u64(), Some(1), "{run}");
    assert!(
        run["settled_rate"]
            .as_f64()
            .is_some_and(|r| (4.0..=9.0).contains(&r)),
        "{run}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn auto_throttle_spaces_starts_by_latency_over_the_target() {
    // 200 ms answers, target 2: a start every 100 ms.
    let books = Books::new(0, "1", Duration::from_millis(200));
    let (template, server) = start(Arc::clone(&books)).await;
    let (out, run) = run(&template, "1..=40", &["-c", "8", "--auto-throttle", "2"]).await;
    drop(server);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let arrivals = books.arrivals();
    assert_eq!(arrivals.len(), 40);
    let mut gaps: Vec<Duration> = arrivals[20..]
        .windows(2)
        .map(|pair| pair[1].duration_since(pair[0]))
        .collect();
    gaps.sort();
    let median = gaps[gaps.len() / 2];
    assert!(
        (Duration::from_millis(70)..=Duration::from_millis(200)).contains(&median),
        "median spacing {median:?}"
    );
    let delay = run["throttle_delay_ms"].as_f64().expect("a delay");
    assert!((70.0..=200.0).contains(&delay), "{run}");
    let concurrency = run["throttle_concurrency"].as_f64().expect("a concurrency");
    assert!((1.0..=3.0).contains(&concurrency), "{run}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_backoff_a_429_holds_only_its_own_retry() {
    // The first 5 get 429 `Retry-After: 2`; the others go on meanwhile (195 answers of 50 ms at
    // -c 8 take over a second, so the window below is full of them unless they were held).
    let books = Books::new(5, "2", Duration::from_millis(50));
    let (template, server) = start(Arc::clone(&books)).await;
    let (out, run) = run(
        &template,
        "1..=200",
        &["-c", "8", "--no-backoff", "--retries", "10"],
    )
    .await;
    drop(server);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(records(&out).iter().all(|r| r["status"] == 200));
    let arrivals = books.arrivals();
    let first = arrivals[0];
    // Inside the 2 s Retry-After window (its middle), the server still gets requests.
    let during = within(
        &arrivals,
        first + Duration::from_millis(300),
        Duration::from_millis(1200),
    );
    assert!(
        during >= 5,
        "{during} requests during the Retry-After window"
    );
    assert_eq!(run["host_pauses"], 0, "{run}");
    assert!(run["settled_rate"].is_null(), "{run}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_fixture_answers_429_beyond_its_rate_limit_and_counts_them() {
    let options = FixtureOptions {
        latency: Duration::ZERO,
        rate_limit: Some("10/s".parse().expect("a rate")),
        rate_limit_headers: true,
        ..FixtureOptions::default()
    };
    let server = FixtureServer::start("127.0.0.1:0".parse().expect("addr"), options)
        .await
        .expect("the fixture server starts");
    let _ = rustls::crypto::ring::default_provider().install_default();
    let client = reqwest::Client::new();
    let url = format!("{}/bench/1", server.base_url());
    let (mut ok, mut too_many) = (0u64, 0u64);
    // 30 requests in a row fall in at most two or three windows of 10: at least ten 429s.
    for _ in 0..30 {
        let response = client.get(&url).send().await.expect("an answer");
        assert!(response.headers().contains_key("ratelimit-remaining"));
        match response.status().as_u16() {
            200 => ok += 1,
            429 => {
                too_many += 1;
                let retry = response.headers().get(header::RETRY_AFTER).cloned();
                assert_eq!(retry.as_ref().and_then(|v| v.to_str().ok()), Some("1"));
            }
            other => panic!("status {other}"),
        }
    }
    assert!(too_many >= 10 && ok >= 10, "{ok} ok, {too_many} 429s");
    let stats = client
        .get(format!("{}{STATS_PATH}", server.base_url()))
        .send()
        .await
        .expect("stats")
        .text()
        .await
        .expect("a body");
    let stats: serde_json::Value = serde_json::from_str(&stats).expect("JSON");
    assert_eq!(stats["requests"], 30);
    assert_eq!(stats["too_many"], too_many);
}

#[tokio::test]
async fn bad_throttle_values_are_usage_errors() {
    for args in [
        &["--auto-throttle", "0"][..],
        &["--auto-throttle", "-1"],
        &["--auto-throttle", "abc"],
        &["--auto-throttle=-2.5"],
        &["--auto-throttle", "inf"],
        &["serve", "--rate-limit", "nonsense"],
        &["serve", "--rate-limit", "0/s"],
        &["serve", "--rate-limit-headers"],
    ] {
        let out = fetchbench(args).await;
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert!(!err.contains("panicked"), "{args:?}: {err}");
        assert!(err.contains("--"), "{args:?}: {err}");
    }
}

#[test]
fn the_library_refuses_a_target_of_zero_and_takes_a_positive_one() {
    use fetchbench::{Job, JobError};
    let template = "http://127.0.0.1:1/item/{}";
    for bad in [0.0, -1.0, f64::NAN, f64::INFINITY] {
        let built = Job::builder(template).auto_throttle(bad).build();
        assert!(matches!(built, Err(JobError::ThrottleTarget)), "{bad}");
    }
    assert!(Job::builder(template)
        .auto_throttle(2.0)
        .no_backoff()
        .build()
        .is_ok());
}
