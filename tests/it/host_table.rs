//! The host table: everything a run keeps about a host (its limits, its pauses, its robots.txt
//! rules) is kept per host name, robots.txt per origin, against real loopback servers. Two ports
//! of 127.0.0.1 are two origins of one host; two names pinned to one server are two hosts.

use std::time::Duration;

use serde_json::Value;

use crate::common::run::{fetchbench, fetchbench_with_stdin, records, stderr};
use crate::common::{Behaviour, TestServer};

/// The records whose wait was booked under `cause`.
fn waited_for<'a>(records: &'a [Value], cause: &str) -> Vec<&'a Value> {
    records
        .iter()
        .filter(|r| r["wait_cause"] == cause)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn host_concurrency_holds_a_host_to_its_places_and_books_the_waits() {
    // Requests are held at the server until two are in flight, so the peak reaches the limit.
    let server = TestServer::start(Behaviour {
        delay: Some(|_| Duration::from_millis(20)),
        gate: Some(2),
        ..Behaviour::default()
    })
    .await;
    let out = fetchbench(&[
        "--url",
        &server.template(),
        "--range",
        "1..=16",
        "-m",
        "concurrent",
        "-c",
        "8",
        "--host-concurrency",
        "2",
        "-q",
    ])
    .await;
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let records = records(&out);
    assert_eq!(records.len(), 16);
    assert_eq!(server.peak_in_flight(), 2, "in flight at once at the host");
    let held = waited_for(&records, "host-concurrency");
    assert!(
        !held.is_empty(),
        "eight workers for two places: some waited"
    );
    for record in held {
        assert!(
            record["waited_ms"].as_f64().is_some_and(|ms| ms > 0.0),
            "{record}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_ports_of_one_host_share_its_places() {
    let slow = Behaviour {
        delay: Some(|_| Duration::from_millis(300)),
        ..Behaviour::default()
    };
    let (a, b) = (
        TestServer::start(slow.clone()).await,
        TestServer::start(slow).await,
    );
    let ids = format!("{}\n{}\n", a.addr.port(), b.addr.port());
    let out = fetchbench_with_stdin(
        &[
            "--url",
            "http://127.0.0.1:{}/item/1",
            "--ids",
            "-",
            "-m",
            "concurrent",
            "-c",
            "2",
            "--host-concurrency",
            "1",
            "-q",
        ],
        ids,
    )
    .await;
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let records = records(&out);
    assert_eq!(records.len(), 2);
    assert_eq!((a.total_hits(), b.total_hits()), (1, 1));
    // One place at 127.0.0.1 for both ports: the second request waited for the first.
    assert_eq!(
        waited_for(&records, "host-concurrency").len(),
        1,
        "{records:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_ports_of_one_host_keep_their_own_robots_txt() {
    let closed = TestServer::start(Behaviour {
        robots: Some("User-agent: *\nDisallow: /item/\n"),
        ..Behaviour::default()
    })
    .await;
    let open = TestServer::start(Behaviour::default()).await;
    let (closed_port, open_port) = (closed.addr.port(), open.addr.port());
    let ids = format!("{closed_port}\n{open_port}\n{closed_port}\n{open_port}\n");
    let out = fetchbench_with_stdin(
        &[
            "--url",
            "http://127.0.0.1:{}/item/1",
            "--ids",
            "-",
            "--robots",
            "-c",
            "2",
            "-m",
            "concurrent",
            "-q",
        ],
        ids,
    )
    .await;
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let records = records(&out);
    assert_eq!(records.len(), 4);
    for record in &records {
        let port = record["id"].as_u64().expect("a port");
        if port == u64::from(closed_port) {
            let error = record["error"].as_str().unwrap_or_default();
            assert!(
                error.starts_with(&format!("robots.txt: http://127.0.0.1:{closed_port}/")),
                "{record}"
            );
        } else {
            assert_eq!(record["status"], 200, "{record}");
        }
    }
    assert_eq!(closed.total_hits(), 0, "its robots.txt disallows /item/");
    assert_eq!(open.total_hits(), 2, "its robots.txt is not the other's");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_host_that_pushes_back_holds_only_its_own_requests() {
    // h1.test answers 429 (no Retry-After) to everything, h2.test 200 after 50 ms: two names of
    // one server, so two hosts.
    let server = TestServer::start(Behaviour::default()).await;
    let port = server.addr.port();
    let (h1, h2) = (
        format!("h1.test:{port}:127.0.0.1"),
        format!("h2.test:{port}:127.0.0.1"),
    );
    let url = format!("http://h{{}}.test:{port}/half/{{}}");
    let out = fetchbench(&[
        "--url",
        &url,
        "--range",
        "1..=2",
        "-n",
        "12",
        "--resolve",
        &h1,
        "--resolve",
        &h2,
        "--retries",
        "0",
        "-m",
        "concurrent",
        "-c",
        "4",
        "-q",
    ])
    .await;
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let records = records(&out);
    assert_eq!(records.len(), 12);
    let (pushed, other): (Vec<&Value>, Vec<&Value>) =
        records.iter().partition(|r| r["id"].as_u64() == Some(1));
    assert!(pushed.iter().all(|r| r["status"] == 429), "{pushed:?}");
    assert!(
        pushed.iter().any(|r| r["wait_cause"] == "pushback"),
        "h1.test's later requests wait out its pause: {pushed:?}"
    );
    assert!(other.iter().all(|r| r["status"] == 200), "{other:?}");
    assert!(
        other.iter().all(|r| r["wait_cause"].is_null()),
        "h2.test is never held for h1.test's push-back: {other:?}"
    );
}
