//! Faults, each injected by a real loopback server, and what fetchbench records for them:
//! retries (503, 429 + Retry-After, a body cut short), timeouts, redirect loops, endless bodies,
//! non-JSON, 500s, signals mid-run, and resuming after an interruption.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

use crate::common::cmd::Cmd;
use crate::common::run::{assert_said, fetchbench, ids, records_in, stderr, BIN};
use crate::common::{Behaviour, RawFault, RawServer, TestServer};
use serde_json::Value;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_503_then_200_is_retried_and_counted_apart() {
    let server = TestServer::start(Behaviour::default()).await;
    let dir = tempfile::tempdir().unwrap();
    let report = dir.path().join("report.json");
    let out = Cmd::url(server.route("flaky"))
        .words("-r 1..=5 -m concurrent -f name")
        .report(&report)
        .words("-q")
        .exits(0)
        .await;
    let recs = records_in(&out.stdout);
    assert_eq!(recs.len(), 5);
    assert!(recs
        .iter()
        .all(|r| r["attempts"] == 2 && r["status"] == 200));
    assert_eq!(recs[2]["fields"]["name"], "item-3");
    assert!(server.hits().values().all(|&n| n == 2));
    let report: Value = serde_json::from_str(&std::fs::read_to_string(&report).unwrap()).unwrap();
    assert_eq!(report["runs"][0]["requests"], 5);
    assert_eq!(report["runs"][0]["retries"], 5);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retry_after_is_honoured_and_the_latency_covers_every_attempt() {
    let server = TestServer::start(Behaviour::default()).await;
    let out = Cmd::url(server.route("limited"))
        .words("-r 1..=2 -m concurrent -q")
        .exits(0)
        .await;
    for r in records_in(&out.stdout) {
        assert_eq!(r["attempts"], 2);
        // The server said "Retry-After: 1"; the backoff alone would wait at most 100 ms.
        assert!(r["elapsed_ms"].as_f64().unwrap() >= 1000.0, "{r}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn other_4xx_are_not_retried_and_retries_can_be_turned_off() {
    let server = TestServer::start(Behaviour::default().with_not_found([1])).await;
    Cmd::url(server.template()).words("-r 1 -q").exits(1).await;
    assert_eq!(
        server.hits()[&1],
        2,
        "one request per run of --mode both, no retry"
    );

    let out = Cmd::url(server.route("flaky"))
        .words("-r 7 -m sequential --retries 0 -q")
        .exits(1)
        .await;
    let recs = records_in(&out.stdout);
    assert_eq!(recs[0]["attempts"], 1);
    assert_eq!(recs[0]["status"], 503);
    assert!(recs[0]["error"].as_str().unwrap().contains("503"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_server_is_a_timeout_error_that_says_after_how_long() {
    let server = TestServer::start(Behaviour::default()).await;
    let out = Cmd::url(server.route("slow"))
        .words("-r 1..=2 -m concurrent --timeout 300ms --retries 1 -q")
        .exits(1)
        .await;
    for r in records_in(&out.stdout) {
        assert_eq!(r["error"], "timed out after 300ms (--timeout)");
        assert_eq!(r["attempts"], 2, "timeouts are retried");
        assert_eq!(r["status"], Value::Null);
    }
    assert!(server.hits().values().all(|&n| n == 2));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redirects_are_followed_and_a_loop_is_a_redirect_error() {
    let server = TestServer::start(Behaviour::default()).await;
    let out = Cmd::url(server.route("hop"))
        .words("-r 3 -m sequential -f name -q")
        .exits(0)
        .await;
    assert_eq!(records_in(&out.stdout)[0]["fields"]["name"], "item-3");

    let out = Cmd::url(server.route("loop"))
        .words("-r 4 -m sequential --max-redirects 4 -q")
        .exits(1)
        .await;
    let recs = records_in(&out.stdout);
    let error = recs[0]["error"].as_str().unwrap();
    assert!(error.contains("redirect"), "{error}");
    assert_eq!(recs[0]["attempts"], 1, "a redirect loop is not retried");
    assert_eq!(server.hits()[&4], 5, "the first request and 4 redirects");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn non_json_and_500_are_recorded_and_the_run_goes_on() {
    let server = TestServer::start(Behaviour::default()).await;
    let out = Cmd::url(server.route("text"))
        .words("-r 1..=2 -m concurrent -f name -q")
        .exits(1)
        .await;
    let recs = records_in(&out.stdout);
    assert_eq!(recs.len(), 2);
    assert_eq!(recs[0]["status"], 200);
    assert!(
        recs[0]["error"]
            .as_str()
            .unwrap()
            .starts_with("response is not JSON"),
        "{}",
        recs[0]
    );
    assert_eq!(recs[0]["attempts"], 1);

    // Without fields the body is not parsed, so an HTML page is a success.
    Cmd::url(server.route("text"))
        .words("-r 1 -m concurrent -q")
        .exits(0)
        .await;

    let out = Cmd::url(server.route("error"))
        .words("-r 1..=3 -m concurrent --retries 1 -q")
        .exits(1)
        .await;
    let recs = records_in(&out.stdout);
    assert_eq!(ids(&recs), [1, 2, 3]);
    assert!(recs
        .iter()
        .all(|r| r["status"] == 500 && r["attempts"] == 2));
    // The version that answered, failures included.
    assert!(recs.iter().all(|r| r["http_version"] == "HTTP/1.1"));
    assert!(recs[0]["error"].as_str().unwrap().contains("500"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_body_cut_short_is_retried() {
    let server = RawServer::start(RawFault::TruncateFirst).await;
    let out = Cmd::url(server.template())
        .words("-r 1 -m sequential -f name -q")
        .exits(0)
        .await;
    let recs = records_in(&out.stdout);
    assert_eq!(recs[0]["attempts"], 2);
    assert_eq!(recs[0]["fields"]["name"], "whole");

    let server = RawServer::start(RawFault::TruncateFirst).await;
    let out = Cmd::url(server.template())
        .words("-r 1 -m sequential -f name --retries 0 -q")
        .exits(1)
        .await;
    let recs = records_in(&out.stdout);
    assert!(recs[0]["error"].is_string(), "{}", recs[0]);
    assert_eq!(recs[0]["fields"]["name"], Value::Null);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_endless_body_stops_at_the_cap_with_memory_near_it() {
    let server = RawServer::start(RawFault::Endless { limit: 512 << 20 }).await;
    let template = server.template();
    let (out, peak_rss) = Cmd::url(&template)
        .words("-r 1 -m sequential -f name --max-body 16MiB --retries 0 -q")
        .run_measuring_memory()
        .await;
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let recs = records_in(&out.stdout);
    assert!(
        recs[0]["error"]
            .as_str()
            .unwrap()
            .starts_with("body too large"),
        "{}",
        recs[0]
    );
    assert!(
        peak_rss < 64 << 20,
        "peak RSS {} MiB for a 16 MiB cap",
        peak_rss >> 20
    );
    let sent = server.body_bytes_sent();
    assert!(
        sent < 128 << 20,
        "client kept reading: {} MiB sent",
        sent >> 20
    );
}

/// Spawns the binary with stderr piped, so a test can wait for a line from it.
fn spawn(args: &[String]) -> Child {
    Command::new(BIN)
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn fetchbench")
}

fn signal(child: &Child, signal: libc::c_int) {
    // SAFETY: sending a signal to our own child process.
    assert_eq!(unsafe { libc::kill(child.id() as libc::pid_t, signal) }, 0);
}

/// Reads the child's stderr until a line contains `needle`; returns everything read.
fn wait_for_stderr_line(reader: &mut impl BufRead, needle: &str) -> String {
    let mut seen = String::new();
    loop {
        let mut line = String::new();
        let n = reader.read_line(&mut line).unwrap();
        assert!(n > 0, "stderr ended before {needle:?}: {seen}");
        seen.push_str(&line);
        if line.contains(needle) {
            return seen;
        }
    }
}

async fn wait_with_timeout(child: Child) -> Output {
    let waited = tokio::task::spawn_blocking(move || child.wait_with_output());
    tokio::time::timeout(Duration::from_secs(30), waited)
        .await
        .expect("fetchbench did not exit in time")
        .unwrap()
        .unwrap()
}

fn read_records(path: &Path) -> Vec<Value> {
    records_in(&std::fs::read(path).unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigint_keeps_every_completed_record_and_resume_completes_the_range() {
    let server =
        TestServer::start(Behaviour::default().with_delay(|_| Duration::from_millis(50))).await;
    let dir = tempfile::tempdir().unwrap();
    let output = dir.path().join("out.ndjson");
    let args = Cmd::url(server.template())
        .words("-r 1..=400 -m concurrent -c 8 -f name")
        .out(&output);
    let child = spawn(&args);
    server.wait_for_hits(40).await;
    signal(&child, libc::SIGINT);
    let out = wait_with_timeout(child).await;
    assert_eq!(out.status.code(), Some(130), "{}", stderr(&out));
    assert_said(&out, "interrupted by SIGINT");

    let first = read_records(&output);
    let n = first.len() as u64;
    assert!((40..400).contains(&n), "{n} records");
    assert_eq!(
        ids(&first),
        (1..=n).collect::<Vec<_>>(),
        "whole records, in order, no gap"
    );
    assert_eq!(
        server.total_hits() as u64,
        n,
        "every started request finished and was kept"
    );

    let resumed_args = args.clone().arg("--resume");
    let out = fetchbench(&resumed_args).await;
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let all = read_records(&output);
    let mut all_ids = ids(&all);
    all_ids.sort_unstable();
    assert_eq!(
        all_ids,
        (1..=400).collect::<Vec<_>>(),
        "each id exactly once"
    );
    assert!(
        server.hits().values().all(|&h| h == 1),
        "no id fetched twice"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_exits_143_and_in_flight_requests_are_aborted_after_the_grace() {
    let server = TestServer::start(Behaviour::default()).await;
    let dir = tempfile::tempdir().unwrap();
    let output = dir.path().join("out.ndjson");
    let mut child = spawn(
        &Cmd::url(server.route("slow"))
            .words("-r 1..=10 -m concurrent -c 2 --grace 200ms")
            .out(&output),
    );
    server.wait_for_hits(2).await;
    signal(&child, libc::SIGTERM);
    let mut err = BufReader::new(child.stderr.take().unwrap());
    let seen = wait_for_stderr_line(&mut err, "SIGTERM");
    let rest = std::io::read_to_string(err).unwrap();
    let out = wait_with_timeout(child).await;
    assert_eq!(out.status.code(), Some(143), "{seen}{rest}");
    assert!(rest.contains("interrupted by SIGTERM"), "{seen}{rest}");
    assert_eq!(
        std::fs::read_to_string(&output).unwrap(),
        "",
        "nothing completed, nothing written"
    );
    assert_eq!(
        server.total_hits(),
        2,
        "no request started after the signal"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_sigint_exits_at_once() {
    let server = TestServer::start(Behaviour::default()).await;
    let mut child =
        spawn(&Cmd::url(server.route("slow")).words("-r 1..=10 -m concurrent --grace 60s"));
    server.wait_for_hits(10).await;
    signal(&child, libc::SIGINT);
    let mut err = BufReader::new(child.stderr.take().unwrap());
    wait_for_stderr_line(&mut err, "send it again to exit now");
    signal(&child, libc::SIGINT);
    // The slow requests would hold the run for 30 s and the grace is 60 s: only the second
    // signal can end it within the 30 s wait.
    let out = wait_with_timeout(child).await;
    assert_eq!(out.status.code(), Some(130));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reliability_flags_refuse_bad_values() {
    let cases: &[(&[&str], &str)] = &[
        (&["--max-body", "huge"], "--max-body"),
        (&["--retries", "many"], "--retries"),
        (&["--connect-timeout", "0"], "--connect-timeout"),
        (&["--resume"], "--output"),
        (&["--resume", "-o", "x.csv"], "--resume"),
    ];
    let dir = tempfile::tempdir().unwrap();
    for (args, flag) in cases {
        let mut all = vec!["--url", "http://127.0.0.1:9/{}"];
        all.extend_from_slice(args);
        let out = tokio::task::spawn_blocking({
            let all: Vec<String> = all.iter().map(|s| s.to_string()).collect();
            let dir = dir.path().to_owned();
            move || {
                Command::new(BIN)
                    .args(&all)
                    .current_dir(dir)
                    .output()
                    .unwrap()
            }
        })
        .await
        .unwrap();
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert!(err.contains(flag), "{args:?}: {err}");
        assert_eq!(err.trim().lines().count(), 1, "{args:?}: {err}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn credentials_never_appear_in_records_reports_or_errors_and_the_agent_is_named() {
    let server = TestServer::start(Behaviour::default()).await;
    let dir = tempfile::tempdir().unwrap();
    let report = dir.path().join("report.json");
    let secrets = [
        "Authorization: Bearer s3cr3t-token",
        "Cookie: session=c00kie",
        "Proxy-Authorization: Basic pr0xy",
    ];
    for route in ["echo-headers", "error", "loop"] {
        let mut args = vec![
            "--url".to_owned(),
            server.route(route),
            "-r".into(),
            "1..=2".into(),
            "-m".into(),
            "concurrent".into(),
            "-f".into(),
            "headers.user-agent".into(),
            "--retries".into(),
            "0".into(),
            "--report".into(),
            report.to_str().unwrap().into(),
        ];
        for secret in secrets {
            args.extend(["-H".to_owned(), secret.to_owned()]);
        }
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let out = fetchbench(&args).await;
        let everything = format!(
            "{}{}{}",
            String::from_utf8_lossy(&out.stdout),
            stderr(&out),
            std::fs::read_to_string(&report).unwrap()
        );
        for secret in ["s3cr3t", "c00kie", "pr0xy"] {
            assert!(
                !everything.contains(secret),
                "{route}: {secret} leaked: {everything}"
            );
        }
        if route == "echo-headers" {
            let recs = records_in(&out.stdout);
            let agent = recs[0]["fields"]["headers.user-agent"].as_str().unwrap();
            assert_eq!(agent, concat!("fetchbench/", env!("CARGO_PKG_VERSION")));
        }
    }
}

#[cfg(unix)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_resumed_results_file_keeps_a_plain_files_permissions() {
    use std::os::unix::fs::PermissionsExt;
    let server = TestServer::start(Behaviour::default()).await;
    let dir = tempfile::tempdir().unwrap();
    let output = dir.path().join("out.ndjson");
    let run = |range: &str| {
        Cmd::url(server.template())
            .range(range)
            .arg("-q")
            .out(&output)
    };
    run("1..=5").exits(0).await;
    std::fs::set_permissions(&output, std::fs::Permissions::from_mode(0o644)).unwrap();
    run("1..=10").arg("--resume").exits(0).await;
    let mode = std::fs::metadata(&output).unwrap().permissions().mode() & 0o777;
    // The file is rewritten through a temporary file, whose own mode is a private 0600.
    assert_eq!(mode, 0o644, "{mode:o}");
    assert_eq!(read_records(&output).len(), 10);
}

/// A results file that holds ids this run does not fetch (another shard's, a wider range's) is
/// refused before any request and left as it was; the same shard resumes as before.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resuming_into_another_shards_or_ranges_file_is_refused_and_leaves_it_whole() {
    let server = TestServer::start(Behaviour::default().with_not_found([4])).await;
    let dir = tempfile::tempdir().unwrap();
    let output = dir.path().join("shard1.ndjson");
    let run = |range: &str, shard: &str| {
        Cmd::url(server.template())
            .range(range)
            .flag("--shard", shard)
            .words("-m concurrent -q")
            .out(&output)
    };
    // Shard 1/2 of 1..=10: ids 2, 4 (a 404: fetched again on resume), 6, 8, 10.
    run("1..=10", "1/2").exits(1).await;
    let before = std::fs::read(&output).unwrap();
    let hits = server.total_hits();

    let out = run("1..=10", "0/2").arg("--resume").exits(2).await;
    assert_said(&out, "holds 4 ids this run does not fetch");
    assert_said(&out, "another shard's");
    let out = run("1..=4", "1/2").arg("--resume").exits(2).await;
    assert_said(&out, "holds 3 ids this run does not fetch");
    assert_eq!(
        std::fs::read(&output).unwrap(),
        before,
        "the file left as it was"
    );
    assert_eq!(server.total_hits(), hits, "no request");

    // The same shard goes on: only the failed id is fetched again.
    run("1..=10", "1/2").arg("--resume").exits(1).await;
    assert_eq!(server.total_hits(), hits + 1);
}
