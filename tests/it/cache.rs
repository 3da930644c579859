//! The HTTP cache (`--cache DIR`) against a real loopback server that behaves like PokéAPI:
//! `Cache-Control: public, max-age=N`, a weak `ETag` per document, a 304 on a matching
//! `If-None-Match`. The server counts what reaches it; the tests count nothing else.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Path as UrlPath, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use serde_json::Value;

use crate::common::cmd::Cmd;
use crate::common::run::{assert_said, fetchbench, read_json, records, records_in, stderr, BIN};
use crate::common::server;

/// What the tests turn while the server runs; the server's guard counts the requests.
struct Books {
    /// Requests answered 304.
    not_modified: AtomicU32,
    /// The `max-age` every answer carries, 304s included.
    max_age: AtomicU64,
    /// Each answer's delay, in milliseconds.
    delay_ms: AtomicU64,
}

/// The document of `id`: large enough (~40 KB) that writing its entry takes a while.
fn document(id: u64) -> String {
    format!(
        r#"{{"id":{id},"name":"mon-{id}","padding":"{}"}}"#,
        "x".repeat(40_000)
    )
}

async fn doc(
    State(books): State<Arc<Books>>,
    UrlPath(id): UrlPath<u64>,
    headers: HeaderMap,
) -> Response {
    let delay = books.delay_ms.load(Ordering::SeqCst);
    if delay > 0 {
        tokio::time::sleep(Duration::from_millis(delay)).await;
    }
    let etag = format!("W/\"doc-{id}\"");
    let control = format!("public, max-age={}", books.max_age.load(Ordering::SeqCst));
    let matches = headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|tag| tag.trim() == etag));
    if matches {
        books.not_modified.fetch_add(1, Ordering::SeqCst);
        return (
            StatusCode::NOT_MODIFIED,
            [(header::ETAG, etag), (header::CACHE_CONTROL, control)],
        )
            .into_response();
    }
    (
        [
            (header::CONTENT_TYPE, "application/json".to_owned()),
            (header::ETAG, etag),
            (header::CACHE_CONTROL, control),
        ],
        document(id),
    )
        .into_response()
}

/// The PokéAPI-like server: `/doc/{id}`, and the knobs its handler reads.
struct Server {
    books: Arc<Books>,
    server: server::Server,
}

impl Server {
    fn template(&self) -> String {
        self.server.url("/doc/{}")
    }

    fn requests(&self) -> u32 {
        self.server.requests()
    }

    fn not_modified(&self) -> u32 {
        self.books.not_modified.load(Ordering::SeqCst)
    }
}

async fn start(max_age: u64) -> Server {
    let books = Arc::new(Books {
        not_modified: AtomicU32::new(0),
        max_age: AtomicU64::new(max_age),
        delay_ms: AtomicU64::new(0),
    });
    let app = Router::new()
        .route("/doc/{id}", get(doc))
        .with_state(Arc::clone(&books));
    let server = server::spawn(app).await;
    Server { books, server }
}

fn text(path: &Path) -> &str {
    path.to_str().expect("UTF-8 path")
}

/// A concurrent run of `range` through the cache at `dir`, plus `extra`.
fn args(server: &Server, range: &str, dir: &Path, extra: &[&str]) -> Cmd {
    Cmd::url(server.template())
        .range(range)
        .concurrent(8)
        .field("name")
        .quiet()
        .path("--cache", dir)
        .args(extra)
}

/// A record without what differs between two runs of the same ids: its timings, its cache use,
/// its attempts and its bytes on the wire (none for a hit).
fn untimed(record: &Value) -> Value {
    let mut record = record.clone();
    let object = record.as_object_mut().expect("a record is an object");
    for key in [
        "elapsed_ms",
        "wire_bytes",
        "waited_ms",
        "wait_cause",
        "scheduled_s",
        "started_s",
        "finished_s",
        "timing",
        "cache",
        "attempts",
    ] {
        object.remove(key);
    }
    record
}

fn uses(records: &[Value]) -> Vec<&str> {
    records
        .iter()
        .map(|r| r["cache"].as_str().unwrap_or("none"))
        .collect()
}

fn all(records: &[Value], used: &str) -> bool {
    records.iter().all(|r| r["cache"] == used)
}

/// Every record's field is its own document's.
fn fields_correct(records: &[Value]) -> bool {
    records
        .iter()
        .all(|r| r["fields"]["name"] == format!("mon-{}", r["id"]))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fresh_cache_answers_a_second_run_without_a_request_and_the_same_records() {
    let server = start(60).await;
    let dir = tempfile::tempdir().expect("temp dir");
    let cache = dir.path().join("cache");
    let first = args(&server, "1..=151", &cache, &[]).exits(0).await;
    let first = records(&first);
    assert_eq!(first.len(), 151);
    assert!(all(&first, "stored"), "{:?}", uses(&first));
    assert_eq!(server.requests(), 151);

    let second = args(&server, "1..=151", &cache, &[]).exits(0).await;
    let second = records(&second);
    assert_eq!(server.requests(), 151, "the second run made requests");
    assert!(all(&second, "hit"), "{:?}", uses(&second));
    assert!(second
        .iter()
        .all(|r| r["attempts"] == 0 && r["wire_bytes"] == 0 && r["elapsed_ms"] == 0.0));
    assert!(fields_correct(&second));
    let (a, b): (Vec<_>, Vec<_>) = (
        first.iter().map(untimed).collect(),
        second.iter().map(untimed).collect(),
    );
    assert_eq!(a, b);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cache_hits_are_answered_before_the_rate_limiter() {
    // docs/cache.md's own example: 151 ids at -c 10 --rate 20/s, cold then warm.
    let server = start(60).await;
    let dir = tempfile::tempdir().expect("temp dir");
    let cache = dir.path().join("cache");
    let report = dir.path().join("report.json");
    let run = || async {
        let out = Cmd::url(server.template())
            .range("1..=151")
            .concurrent(10)
            .flag("--rate", "20/s")
            .field("name")
            .quiet()
            .path("--cache", &cache)
            .report(&report)
            .exits(0)
            .await;
        (read_json(&report)["runs"][0].clone(), records(&out))
    };
    let (cold, stored) = run().await;
    assert!(all(&stored, "stored"), "{:?}", uses(&stored));
    let (warm, hits) = run().await;
    assert_eq!(server.requests(), 151, "the warm run made requests");
    assert!(all(&hits, "hit"), "{:?}", uses(&hits));
    // The run's own wall time, without the process's start. Paced at 20/s the warm run would
    // take as long as the cold one (7.5 s); it may take only what reading and decoding 151
    // entries costs, which in this debug build on a loaded machine reached 1.1 s against 7.9 s.
    // The issue's tenfold figure is the release build's, measured by `bench.py cache`.
    let wall = |run: &Value| run["wall_s"].as_f64().expect("wall");
    assert!(
        wall(&warm) * 4.0 <= wall(&cold),
        "the warm run took {} s, the cold one {} s",
        wall(&warm),
        wall(&cold)
    );
    let run = &warm;
    assert_eq!(run["requests"], 151, "{run}");
    assert_eq!(run["wire_bytes"], 0, "{run}");
    assert!(run["latency_ms"].is_null(), "{run}");
    assert!(run["latency_corrected_ms"].is_null(), "{run}");
    assert_eq!(run["latency_ms_by_class"], serde_json::json!({}), "{run}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stale_entry_is_revalidated_and_a_304_refreshes_its_headers() {
    let server = start(0).await;
    let dir = tempfile::tempdir().expect("temp dir");
    let cache = dir.path().join("cache");
    let all_ids = args(&server, "1..=151", &cache, &[]);
    let run = || fetchbench(&all_ids);
    let first = run().await;
    assert_eq!(first.status.code(), Some(0), "{}", stderr(&first));
    assert!(all(&records(&first), "stored"));

    // max-age=0: every entry is stale at once, and revalidated with its ETag.
    let second = run().await;
    assert_eq!(second.status.code(), Some(0), "{}", stderr(&second));
    let second = records(&second);
    assert_eq!(server.not_modified(), 151);
    assert!(all(&second, "revalidated"), "{:?}", uses(&second));
    assert!(second.iter().all(|r| r["status"] == 200));
    assert!(fields_correct(&second));

    // The 304s now carry max-age=60 and the stored headers take it (unlike Scrapy #3778).
    server.books.max_age.store(60, Ordering::SeqCst);
    let third = run().await;
    assert_eq!(server.not_modified(), 302);
    assert!(all(&records(&third), "revalidated"));
    let before = server.requests();
    let fourth = run().await;
    assert_eq!(fourth.status.code(), Some(0), "{}", stderr(&fourth));
    assert_eq!(
        server.requests(),
        before,
        "the refreshed entries were not fresh"
    );
    let fourth = records(&fourth);
    assert!(all(&fourth, "hit"), "{:?}", uses(&fourth));
    assert!(fields_correct(&fourth));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_cached_replay_and_refresh_modes() {
    let server = start(0).await;
    let dir = tempfile::tempdir().expect("temp dir");
    let cache = dir.path().join("cache");

    // Only-cached on an empty cache: a failure per id, no request.
    let out = args(&server, "1..=151", &cache, &["--cache-mode", "only-cached"])
        .exits(1)
        .await;
    let recs = records(&out);
    assert_eq!(recs.len(), 151);
    assert!(recs.iter().all(|r| r["error"]
        .as_str()
        .is_some_and(|e| e.contains("not in the cache"))));
    assert!(all(&recs, "miss"));
    assert_eq!(server.requests(), 0);

    // Replay serves a stale entry (max-age=0) without a request.
    let stored = fetchbench(&args(&server, "1..=20", &cache, &[])).await;
    assert!(all(&records(&stored), "stored"));
    assert_eq!(server.requests(), 20);
    let replay = args(&server, "1..=20", &cache, &["--cache-mode", "replay"])
        .exits(0)
        .await;
    let replayed = records(&replay);
    assert!(all(&replayed, "hit"), "{:?}", uses(&replayed));
    assert!(fields_correct(&replayed));
    assert_eq!(server.requests(), 20);
    // ... and a miss is fetched and stored.
    let more = fetchbench(&args(
        &server,
        "1..=21",
        &cache,
        &["--cache-mode", "replay"],
    ))
    .await;
    assert_eq!(uses(&records(&more))[20], "stored");
    assert_eq!(server.requests(), 21);

    // Refresh revalidates even a fresh entry.
    server.books.max_age.store(60, Ordering::SeqCst);
    let fresh = dir.path().join("fresh");
    fetchbench(&args(&server, "1..=20", &fresh, &[])).await;
    let refresh = args(&server, "1..=20", &fresh, &["--cache-mode", "refresh"])
        .exits(0)
        .await;
    let refreshed = records(&refresh);
    assert!(all(&refreshed, "revalidated"), "{:?}", uses(&refreshed));
    assert!(fields_correct(&refreshed));
    assert_eq!(server.not_modified(), 20);
}

/// Every entry file under the cache directory.
fn entry_files(cache: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for sub in std::fs::read_dir(cache.join("v1")).expect("layout directory") {
        let sub = sub.expect("entry").path();
        for file in std::fs::read_dir(&sub).expect("subdirectory") {
            let file = file.expect("entry").path();
            let name = file.file_name().and_then(|n| n.to_str()).unwrap_or("");
            if !name.starts_with('.') {
                files.push(file);
            }
        }
    }
    files.sort();
    files
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_truncated_or_corrupted_entry_is_never_served() {
    let server = start(60).await;
    let dir = tempfile::tempdir().expect("temp dir");
    let cache = dir.path().join("cache");
    fetchbench(&args(&server, "1..=6", &cache, &[])).await;
    let files = entry_files(&cache);
    assert_eq!(files.len(), 6);
    for (i, file) in files.iter().enumerate() {
        let mut bytes = std::fs::read(file).expect("entry");
        match i % 3 {
            0 => bytes.truncate(bytes.len() / 2),
            1 => {
                let at = bytes.len() - 100;
                bytes[at] ^= 0x20;
            }
            _ => bytes.truncate(0),
        }
        std::fs::write(file, bytes).expect("corrupt the entry");
    }
    let only = fetchbench(&args(
        &server,
        "1..=6",
        &cache,
        &["--cache-mode", "only-cached"],
    ))
    .await;
    let recs = records(&only);
    assert!(
        recs.iter()
            .all(|r| r["error"].as_str().is_some_and(|e| e.contains("corrupt"))),
        "{recs:?}"
    );
    assert_eq!(server.requests(), 6);

    let again = args(&server, "1..=6", &cache, &[]).exits(0).await;
    assert_eq!(server.requests(), 12, "each corrupt entry fetched again");
    let recs = records(&again);
    assert!(all(&recs, "stored"), "{:?}", uses(&recs));
    assert!(fields_correct(&recs));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_killed_mid_write_leaves_no_entry_that_is_served_wrong() {
    let server = start(60).await;
    server.books.delay_ms.store(5, Ordering::SeqCst);
    let dir = tempfile::tempdir().expect("temp dir");
    let cache = dir.path().join("cache");
    let out = std::fs::File::create(dir.path().join("killed.ndjson")).expect("output");
    let mut child = std::process::Command::new(BIN)
        .args(args(&server, "1..=2000", &cache, &[]))
        .stdout(out)
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn fetchbench");
    server.server.wait_for_requests(300).await;
    child.kill().expect("SIGKILL");
    child.wait().expect("reap");
    let made = server.requests();

    let replay = fetchbench(&args(
        &server,
        "1..=2000",
        &cache,
        &["--cache-mode", "only-cached"],
    ))
    .await;
    assert_eq!(server.requests(), made, "only-cached made a request");
    let recs = records_in(&replay.stdout);
    assert_eq!(recs.len(), 2000);
    let (served, failed): (Vec<_>, Vec<_>) =
        recs.iter().cloned().partition(|r| r["error"].is_null());
    assert!(!served.is_empty(), "nothing was stored before the kill");
    assert!(!failed.is_empty(), "the run was not killed mid-way");
    assert!(all(&served, "hit"));
    assert!(fields_correct(&served), "an entry served garbage");
    assert!(failed
        .iter()
        .all(|r| r["error"].as_str().is_some_and(|e| e.contains("cache"))));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cache_path_that_is_a_file_or_a_mode_without_a_cache_is_a_usage_error() {
    let server = start(60).await;
    let dir = tempfile::tempdir().expect("temp dir");
    let file = dir.path().join("file");
    std::fs::write(&file, "not a directory").expect("file");
    let out = fetchbench(&args(&server, "1..=3", &file, &[])).await;
    assert_eq!(out.status.code(), Some(2));
    let message = stderr(&out);
    assert!(
        message.contains("--cache") && message.contains("not a directory"),
        "{message}"
    );
    let below = file.join("below");
    args(&server, "1..=3", &below, &[]).exits(2).await;

    let out = Cmd::url(server.template())
        .words("-r 1..=3 --cache-mode replay")
        .exits(2)
        .await;
    assert_said(&out, "--cache");

    // Several runs would measure the cache after the first.
    let cache = dir.path().join("cache");
    let out = Cmd::url(server.template())
        .words("-r 1..=3 -m both")
        .path("--cache", &cache)
        .exits(2)
        .await;
    assert_said(&out, "--cache");
    assert_eq!(server.requests(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_report_counts_the_cache_and_keeps_hits_out_of_the_latencies() {
    let server = start(60).await;
    let dir = tempfile::tempdir().expect("temp dir");
    let cache = dir.path().join("cache");
    let report = dir.path().join("report.json");
    let with_report = ["--report", text(&report)];
    fetchbench(&args(&server, "1..=10", &cache, &with_report)).await;
    let run = read_json(&report)["runs"][0].clone();
    assert_eq!(
        run["cache"],
        serde_json::json!({"hits": 0, "revalidated": 0, "misses": 0, "stored": 10})
    );

    // Ten hits and ten stored: the counts match the records, the latencies only the stored.
    let mixed = fetchbench(&args(&server, "1..=20", &cache, &with_report)).await;
    let recs = records(&mixed);
    let count = |used| recs.iter().filter(|r| r["cache"] == used).count() as u64;
    let run = read_json(&report)["runs"][0].clone();
    assert_eq!(run["cache"]["hits"], count("hit"));
    assert_eq!(run["cache"]["stored"], count("stored"));
    assert_eq!((count("hit"), count("stored")), (10, 10));
    assert_eq!(run["requests"], 20);
    let samples: u64 = run["per_second"]
        .as_array()
        .expect("per second")
        .iter()
        .map(|s| s["requests"].as_u64().unwrap_or(0))
        .sum();
    assert_eq!(samples, 10, "{run}");

    // All hits: no network figure at all.
    fetchbench(&args(&server, "1..=20", &cache, &with_report)).await;
    let run = read_json(&report)["runs"][0].clone();
    assert_eq!(run["cache"]["hits"], 20);
    assert!(run["latency_ms"].is_null(), "{run}");
    assert!(run["phases_ms"]["ttfb"].is_null(), "{run}");
    assert!(
        run["slowest"].as_array().is_some_and(Vec::is_empty),
        "{run}"
    );
    assert_eq!(server.requests(), 20);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resume_skips_the_done_ids_and_the_cache_answers_the_rest() {
    let server = start(60).await;
    let dir = tempfile::tempdir().expect("temp dir");
    let cache = dir.path().join("cache");
    let output = dir.path().join("out.ndjson");
    let to_file = ["-o", text(&output)];
    args(&server, "1..=20", &cache, &to_file).exits(0).await;
    // As if the run had stopped after ten records.
    let text_out = std::fs::read_to_string(&output).expect("output");
    let ten: String = text_out
        .lines()
        .take(10)
        .map(|l| format!("{l}\n"))
        .collect();
    std::fs::write(&output, ten).expect("cut the output");

    args(
        &server,
        "1..=20",
        &cache,
        &["-o", text(&output), "--resume"],
    )
    .exits(0)
    .await;
    assert_eq!(server.requests(), 20, "the resumed run made requests");
    let recs = records_in(&std::fs::read(&output).expect("output"));
    let ids: Vec<u64> = recs.iter().map(|r| r["id"].as_u64().expect("id")).collect();
    assert_eq!(ids, (1..=20).collect::<Vec<_>>());
    assert!(all(&recs[..10], "stored"));
    assert!(all(&recs[10..], "hit"), "{:?}", uses(&recs));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_library_s_job_builder_has_the_cache_too() {
    use fetchbench::{CacheMode, CacheUse, Job};
    let server = start(60).await;
    let dir = tempfile::tempdir().expect("temp dir");
    let job = || {
        Job::builder(&server.template())
            .ids("1..=5")
            .field("name")
            .cache(dir.path().join("cache"), CacheMode::Normal)
            .build()
            .expect("job")
    };
    let (first, _) = job().gather().await.expect("first run");
    assert!(first.iter().all(|r| r.cache == Some(CacheUse::Stored)));
    let (second, summary) = job().gather().await.expect("second run");
    assert!(second.iter().all(|r| r.cache == Some(CacheUse::Hit)));
    assert_eq!(second[2].fields[0], "mon-3");
    assert_eq!(summary.cache.map(|c| c.hits), Some(5));
    assert_eq!(server.requests(), 5);
}
