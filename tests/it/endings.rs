//! Every way a CLI run ends: a deadline (124), an error budget (1), a reader that goes away
//! (`| head -3`: 0, quietly, and the requests stop), against a loopback server with latency.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Duration;

use crate::common::run::{read_json, strings, BIN};
use crate::common::{Behaviour, TestServer};
use serde_json::Value;

async fn fetchbench(args: Vec<String>) -> std::process::Output {
    tokio::task::spawn_blocking(move || Command::new(BIN).args(&args).output().unwrap())
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deadline_exits_124_with_whole_ordered_records_and_counts_the_rest() {
    let server =
        TestServer::start(Behaviour::default().with_delay(|_| Duration::from_millis(20))).await;
    let dir = tempfile::tempdir().unwrap();
    let report = dir.path().join("report.json");
    let out = fetchbench(strings(&[
        "--url",
        &server.template(),
        "-r",
        "1..=2000",
        "-m",
        "concurrent",
        "-c",
        "4",
        "--deadline",
        "400ms",
        "--report",
        report.to_str().unwrap(),
        "-f",
        "name",
    ]))
    .await;
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(124), "{stderr}");
    let records: Vec<Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).expect("whole record"))
        .collect();
    let ids: Vec<u64> = records.iter().map(|r| r["id"].as_u64().unwrap()).collect();
    assert!(!ids.is_empty() && ids.len() < 2000);
    assert!(ids.windows(2).all(|w| w[0] < w[1]), "in order");
    let report: Value = serde_json::from_str(&std::fs::read_to_string(&report).unwrap()).unwrap();
    let run = &report["runs"][0];
    assert_eq!(run["ended"], "deadline");
    assert_eq!(
        run["not_fetched"].as_u64().unwrap(),
        2000 - ids.len() as u64
    );
    assert!(stderr.contains("deadline reached"), "{stderr}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn max_errors_stops_a_failing_range_after_n_plus_in_flight() {
    let server = TestServer::start(
        Behaviour::default()
            .with_delay(|_| Duration::from_millis(5))
            .with_not_found(1..=500),
    )
    .await;
    let out = fetchbench(strings(&[
        "--url",
        &server.template(),
        "-r",
        "1..=500",
        "-m",
        "concurrent",
        "-c",
        "4",
        "--max-errors",
        "3",
        "-q",
    ]))
    .await;
    assert_eq!(out.status.code(), Some(1));
    let hits = server.total_hits();
    assert!(hits <= 3 + 4 + 4, "{hits} requests after 3 errors at c=4");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn head_3_exits_quickly_and_quietly_and_stops_the_requests() {
    let server =
        TestServer::start(Behaviour::default().with_delay(|_| Duration::from_millis(10))).await;
    let template = server.template();
    let dir = tempfile::tempdir().unwrap();
    let report = dir.path().join("report.json");
    let report_arg = report.to_str().unwrap().to_owned();
    let (code, stderr) = tokio::task::spawn_blocking(move || {
        let mut child = Command::new(BIN)
            .args([
                "--url",
                &template,
                "-r",
                "1..=1000",
                "-m",
                "concurrent",
                "-c",
                "8",
                "-f",
                "name",
                "--report",
                &report_arg,
            ])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        for _ in 0..3 {
            lines.next().unwrap().unwrap();
        }
        drop(lines); // what `head -3` does: read three lines, close the pipe
        let out = child.wait_with_output().unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    })
    .await
    .unwrap();
    assert_eq!(code, Some(0), "{stderr}");
    assert!(
        !stderr.contains("panicked") && !stderr.contains("Broken pipe"),
        "{stderr}"
    );
    let hits = server.total_hits();
    assert!(hits < 200, "{hits} of 1000 requests after the reader left");
    // The report is still written, and says what stopped the run and what it covers.
    let report = read_json(&report);
    assert_eq!(report["interrupted"], "output closed", "{report}");
    let requests = report["runs"][0]["requests"].as_u64().unwrap();
    assert!(
        (3..=u64::from(hits)).contains(&requests),
        "{requests} of {hits}"
    );
    assert!(stderr.contains("interrupted by output closed"), "{stderr}");
}
