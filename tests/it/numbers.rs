//! Numbers that explain themselves: outcomes apart, scheduled vs sent (coordinated omission), who
//! limited the rate, the slowest ids, and the timestamps of every record.

use std::time::Duration;

use crate::common::cmd::Cmd;
use crate::common::run::{assert_said, fetchbench, read_json, records, stderr};
use crate::common::{Behaviour, TestServer};
use serde_json::Value;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fast_429s_do_not_hide_the_latency_of_the_successes() {
    let server = TestServer::start(Behaviour::default()).await;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("report.json");
    let out = Cmd::url(server.route("half"))
        .words("-r 1..=20 -m concurrent -c 20 --retries 0")
        .report(&path)
        .exits(1)
        .await;
    let run = &read_json(&path)["runs"][0];
    let two = run["latency_ms_by_class"]["2xx"]["p50"].as_f64().unwrap();
    let blended = run["latency_ms"]["p50"].as_f64().unwrap();
    assert!(two >= 50.0, "2xx p50 {two}");
    assert!(blended < two, "blended p50 {blended} vs 2xx {two}");
    assert!(run["latency_ms_by_class"]["4xx"]["p50"].as_f64().unwrap() < 50.0);
    let err = stderr(&out);
    assert!(
        err.contains("2xx latency p50") && err.contains("not 2xx"),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rate_beyond_the_concurrency_shows_queueing_and_names_the_limit() {
    let server =
        TestServer::start(Behaviour::default().with_delay(|_| Duration::from_millis(100))).await;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("report.json");
    let out = Cmd::url(server.template())
        .words("-r 1..=20 -m concurrent -c 1 --rate 20/s")
        .report(&path)
        .exits(0)
        .await;
    let run = &read_json(&path)["runs"][0];
    let raw = run["latency_ms"]["p99"].as_f64().unwrap();
    let corrected = run["latency_corrected_ms"]["p99"].as_f64().unwrap();
    assert!(
        corrected > 3.0 * raw,
        "corrected p99 {corrected} vs raw {raw}"
    );
    let achieved = run["rate"]["achieved"].as_f64().unwrap();
    assert!((5.0..=10.5).contains(&achieved), "achieved {achieved}/s");
    assert_eq!(run["rate"]["target"], 20.0);
    assert_eq!(run["rate"]["limited_by"], "concurrency");
    assert_eq!(run["closed_loop"], false);
    assert_said(&out, "limited by concurrency 1; raise -c");
    for r in records(&out) {
        let (s, st, f) = (
            r["scheduled_s"].as_f64().unwrap(),
            r["started_s"].as_f64().unwrap(),
            r["finished_s"].as_f64().unwrap(),
        );
        assert!(s <= st && st <= f, "{r}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_report_names_its_schema_the_slowest_ids_and_the_client_cost() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("report.json");
    Cmd::new()
        .words("-r 140..=151 -m concurrent --latency 0")
        .report(&path)
        .words("-q")
        .exits(0)
        .await;
    let report = read_json(&path);
    assert_eq!(report["schema_version"], 1);
    let run = &report["runs"][0];
    assert_eq!(run["closed_loop"], true);
    assert_eq!(run["latency_corrected_ms"], Value::Null);
    assert!(run["client_cpu_s"].as_f64().unwrap() > 0.0);
    let slowest = run["slowest"].as_array().unwrap();
    assert_eq!(slowest.len(), 5);
    let ms: Vec<f64> = slowest.iter().map(|s| s["ms"].as_f64().unwrap()).collect();
    assert!(ms.windows(2).all(|w| w[0] >= w[1]), "slowest first: {ms:?}");
    assert!(slowest.iter().all(|s| s["bytes"].as_u64().unwrap() > 0));
    let seconds = run["per_second"].as_array().unwrap();
    let total: u64 = seconds
        .iter()
        .map(|s| s["requests"].as_u64().unwrap())
        .sum();
    assert_eq!(total, 12, "every request in one second bucket");
    assert!(seconds[0]["p99_ms"].as_f64().unwrap() > 0.0);
    for phase in ["ttfb", "body", "connect"] {
        assert!(
            run["phases_ms"][phase]["p50"].as_f64().is_some(),
            "{phase}: {}",
            run["phases_ms"]
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_are_counted_and_reuse_can_be_turned_off() {
    let server = TestServer::start(Behaviour::default()).await;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("report.json");
    let base = Cmd::url(server.template())
        .words("-r 1..=10 -m sequential")
        .report(&path);
    let out = fetchbench(&base).await;
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let report = read_json(&path);
    // One connection serves the run: it is back among the idle ones before the slot is.
    assert_eq!(report["runs"][0]["connections_opened"], 1);
    assert_eq!(report["keepalive"], true);
    let recs = records(&out);
    assert!(
        recs[0]["timing"]["connect_ms"].as_f64().is_some(),
        "{}",
        recs[0]
    );
    let connecting = recs
        .iter()
        .filter(|r| r["timing"]["connect_ms"].as_f64().is_some())
        .count();
    assert!(
        connecting <= 2,
        "{connecting} of 10 requests opened a connection"
    );
    assert!(recs
        .iter()
        .all(|r| r["timing"]["ttfb_ms"].as_f64().is_some()
            && r["timing"]["body_ms"].as_f64().is_some()));

    let no_reuse = base.clone().arg("--no-keepalive");
    let out = fetchbench(&no_reuse).await;
    assert_eq!(out.status.code(), Some(0));
    let report = read_json(&path);
    assert_eq!(report["runs"][0]["connections_opened"], 10);
    assert_eq!(report["keepalive"], false);
    assert!(records(&out)
        .iter()
        .all(|r| r["timing"]["connect_ms"].as_f64().is_some()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_warmup_is_sent_but_not_counted() {
    let server = TestServer::start(Behaviour::default()).await;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("report.json");
    let out = Cmd::url(server.template())
        .words("-r 1..=10 -m concurrent -c 4 --warmup 3")
        .report(&path)
        .words("-q")
        .exits(0)
        .await;
    assert_eq!(server.total_hits(), 13);
    assert_eq!(read_json(&path)["runs"][0]["requests"], 10);
    assert_eq!(records(&out).len(), 10);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resolve_pins_a_name_to_the_local_server() {
    let server = TestServer::start(Behaviour::default()).await;
    let port = server.addr.port();
    let url = format!("http://pokeapi.test:{port}/item/{{}}");
    let pin = format!("pokeapi.test:{port}:127.0.0.1");
    let out = Cmd::url(&url)
        .flag("--resolve", &pin)
        .words("-r 1..=2 -m concurrent -f name -q")
        .exits(0)
        .await;
    assert_eq!(records(&out)[1]["fields"]["name"], "item-2");
    Cmd::url(&url)
        .words("--resolve nonsense -r 1")
        .exits(2)
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_name_is_resolved_once_per_run() {
    let server = TestServer::start(Behaviour::default()).await;
    let url = format!("http://localhost:{}/item/{{}}", server.addr.port());
    let out = Cmd::url(&url)
        .words("-r 1..=4 -m sequential --no-keepalive -q")
        .exits(0)
        .await;
    let recs = records(&out);
    assert!(
        recs[0]["timing"]["dns_ms"].as_f64().is_some(),
        "{}",
        recs[0]
    );
    for r in &recs[1..] {
        assert!(r["timing"]["dns_ms"].is_null(), "looked up again: {r}");
        assert!(
            r["timing"]["connect_ms"].as_f64().is_some(),
            "new connection each time: {r}"
        );
    }
}
