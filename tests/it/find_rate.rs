//! The rate search against real loopback servers: the fixture's finite capacity (`--capacity`)
//! slows its answers as the load nears it and refuses what is beyond it, and `--find-rate`
//! finds the rate it sustains, under an SLO or not, never above a limit the server advertises.

use std::time::Duration;

use fetchbench::fixture::{FixtureOptions, FixtureServer, STATS_PATH};

use crate::common::run::{fetchbench, records};

/// The fixture at `capacity`, with a 10 ms service time.
async fn fixture_at(capacity: &str) -> FixtureServer {
    let options = FixtureOptions {
        latency: Duration::from_millis(10),
        capacity: Some(capacity.parse().expect("a rate")),
        ..FixtureOptions::default()
    };
    FixtureServer::start("127.0.0.1:0".parse().expect("addr"), options)
        .await
        .expect("start the fixture")
}

/// The fixture's own counts: `{"requests": N, "too_many": M}`.
async fn stats(server: &FixtureServer) -> serde_json::Value {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let text = reqwest::get(format!("{}{STATS_PATH}", server.base_url()))
        .await
        .expect("stats")
        .text()
        .await
        .expect("a body");
    serde_json::from_str(&text).expect("JSON")
}

#[tokio::test]
async fn the_fixture_at_capacity_queues_up_to_it_and_refuses_beyond_it() {
    let server = fixture_at("20/s").await;
    // 30 requests at once: 20 fit in the second, each later one waiting longer; 10 are refused.
    let out = fetchbench(&[
        "--url",
        &server.url_template(),
        "-r",
        "1..=30",
        "-m",
        "concurrent",
        "-c",
        "30",
        "--retries",
        "0",
        "--no-backoff",
        "-q",
    ])
    .await;
    let records = records(&out);
    let status = |code: u64| records.iter().filter(|r| r["status"] == code).count();
    assert_eq!((status(200), status(429)), (20, 10), "{records:?}");
    let ok_ms: Vec<f64> = records
        .iter()
        .filter(|r| r["status"] == 200)
        .map(|r| r["elapsed_ms"].as_f64().expect("elapsed"))
        .collect();
    let slowest = ok_ms.iter().copied().fold(0.0, f64::max);
    let fastest = ok_ms.iter().copied().fold(f64::MAX, f64::min);
    // The last admitted waits at capacity: 20 × 10 ms; the first hardly queues.
    assert!(slowest >= 190.0, "{ok_ms:?}");
    assert!(fastest < 150.0, "{ok_ms:?}");
    let stats = stats(&server).await;
    assert_eq!(stats["too_many"], 10, "{stats}");
    assert_eq!(stats["requests"], 30, "{stats}");
    assert!(records
        .iter()
        .filter(|r| r["status"] == 429)
        .all(|r| r["error"].as_str().is_some()));
}
