//! Nothing lost, nothing silent: the mistakes of a new user that used to lose data with exit 0
//! or pass unnoticed, each against a loopback server, with the exit code, what is on disk
//! afterwards and the message.

use std::time::Duration;

use fetchbench::fixture::{FixtureOptions, FixtureServer};
use serde_json::Value;

use crate::common::cmd::Cmd;
use crate::common::run::{
    assert_said, fetchbench, fetchbench_with_stdin, read_json, records, stderr,
};
use crate::common::{Behaviour, RawFault, RawServer, TestServer};

async fn server() -> TestServer {
    TestServer::start(Behaviour::default()).await
}

/// A fixture without latency: a small pokeapi with list pages.
async fn fixture() -> (FixtureServer, String) {
    let options = FixtureOptions {
        latency: Duration::ZERO,
        jitter: Duration::ZERO,
        ..FixtureOptions::default()
    };
    let server = FixtureServer::start("127.0.0.1:0".parse().expect("addr"), options)
        .await
        .expect("the fixture server starts");
    let base = format!("http://{}", server.addr());
    (server, base)
}

#[tokio::test]
async fn a_word_list_line_that_is_not_text_refuses_the_file_before_any_request() {
    let server = server().await;
    let dir = tempfile::tempdir().expect("dir");
    let ids = dir.path().join("ids.txt");
    std::fs::write(&ids, b"1\n\xff\xfebad\n3\n").expect("write");
    let out = Cmd::url(server.template())
        .path("--ids", &ids)
        .words("-m concurrent -q")
        .exits(2)
        .await;
    assert_said(&out, "line 2 is not UTF-8 text (\\xff\\xfebad)");
    assert_eq!(server.total_hits(), 0, "refused before any request");
}

#[tokio::test]
async fn stdin_read_as_it_goes_stops_at_a_bad_line_and_fails_the_run() {
    let server = server().await;
    // Stdin read by one run streams: the ids before the bad line are fetched and written, and
    // the run ends with exit 2 naming the line rather than 0.
    let input = String::from_utf8_lossy(b"1\n2\n").into_owned();
    let mut bytes = input.into_bytes();
    bytes.extend_from_slice(b"\xff\n4\n");
    let out = tokio::task::spawn_blocking({
        let template = server.template();
        move || {
            assert_cmd::Command::new(crate::common::run::BIN)
                .args(["--url", &template, "--ids", "-", "-m", "concurrent", "-q"])
                .write_stdin(bytes)
                .output()
                .expect("run")
        }
    })
    .await
    .expect("join");
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    let ids: Vec<u64> = records(&out)
        .iter()
        .map(|r| r["id"].as_u64().expect("id"))
        .collect();
    assert_eq!(ids, [1, 2]);
    let message = stderr(&out);
    assert!(
        message.contains("stdin: line 3 is not UTF-8 text"),
        "{message}"
    );
    assert!(message.contains("none after it"), "{message}");
    assert_eq!(server.hits().get(&4), None);
}

#[tokio::test]
async fn two_flags_naming_one_file_are_refused_before_anything_is_written() {
    let server = server().await;
    let dir = tempfile::tempdir().expect("dir");
    let path = |name: &str| dir.path().join(name).to_str().expect("path").to_owned();
    let report = path("report.json");
    let dotted = format!("{}/./report.json", dir.path().display());
    std::os::unix::fs::symlink(path("results.ndjson"), path("link.html")).expect("symlink");
    let ids = path("ids.txt");
    std::fs::write(&ids, "1\n2\n").expect("write");
    let cases: [(&[&str], &str); 3] = [
        (
            &["-r", "1..3", "-o", &report, "--report", &dotted],
            "--report: ",
        ),
        (
            &[
                "-r",
                "1..3",
                "-o",
                &path("results.ndjson"),
                "--html",
                &path("link.html"),
            ],
            "--html: ",
        ),
        (&["--ids", &ids, "-o", &ids], "--output: "),
    ];
    let template = server.template();
    for (args, flag) in cases {
        let mut argv = vec!["--url", template.as_str(), "-m", "concurrent"];
        argv.extend_from_slice(args);
        let out = fetchbench(&argv).await;
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", stderr(&out));
        let message = stderr(&out);
        assert!(message.contains(flag), "{message}");
        assert!(message.contains("give each its own file"), "{message}");
    }
    assert_eq!(server.total_hits(), 0);
    assert!(!dir.path().join("report.json").exists());
    assert!(!dir.path().join("results.ndjson").exists());
    assert_eq!(std::fs::read_to_string(&ids).expect("ids"), "1\n2\n");
}

#[tokio::test]
async fn a_placeholder_in_the_body_or_a_header_is_enough() {
    let server = server().await;
    let dir = tempfile::tempdir().expect("dir");
    let queries = dir.path().join("queries.txt");
    std::fs::write(&queries, "pikachu\nmr \"mime\"\n").expect("write");
    let url = format!("http://{}/echo/search", server.addr);
    // The README's POST example, on loopback.
    let out = Cmd::url(&url)
        .path("--ids", &queries)
        .words("-m concurrent")
        .flag(
            "--json",
            r#"{"query":"{}","limit":5,"opts":{"fuzzy":true}}"#,
        )
        .words("-f body -f method")
        .exits(0)
        .await;
    let bodies: Vec<Value> = records(&out)
        .iter()
        .map(|r| serde_json::from_str(r["fields"]["body"].as_str().expect("body")).expect("JSON"))
        .collect();
    assert_eq!(bodies[0]["query"], "pikachu");
    assert_eq!(bodies[1]["query"], "mr \"mime\"");
    assert_eq!(bodies[1]["opts"]["fuzzy"], true);
    assert_eq!(records(&out)[0]["fields"]["method"], "POST");

    let out = Cmd::url(&url)
        .words("-r 1..=2 -m concurrent")
        .flag("-H", "X-Item: {}")
        .words("-f headers.x-item")
        .exits(0)
        .await;
    let sent: Vec<String> = records(&out)
        .iter()
        .map(|r| {
            r["fields"]["headers.x-item"]
                .as_str()
                .expect("header")
                .to_owned()
        })
        .collect();
    assert_eq!(sent, ["1", "2"]);

    // Still refused when nothing varies by id.
    let out = Cmd::url(&url)
        .words("-r 1..=2")
        .flag("--json", r#"{"a":1}"#)
        .exits(2)
        .await;
    assert_said(&out, "no placeholder");
}

#[tokio::test]
async fn a_field_or_follow_path_that_matches_nothing_is_named() {
    let server = server().await;
    let dir = tempfile::tempdir().expect("dir");
    let report = dir.path().join("report.json");
    let out = Cmd::url(server.template())
        .words("-r 1..=5 -m concurrent -f nmae -f name -f tags[*].nope --no-progress")
        .report(&report)
        .run()
        .await;
    assert_eq!(out.status.code(), Some(0), "a warning, not a failure");
    let message = stderr(&out);
    assert!(
        message.contains("warning: -f nmae: matched nothing in any successful response"),
        "{message}"
    );
    assert!(
        message.contains("-f tags[*].nope: matched nothing"),
        "{message}"
    );
    assert!(!message.contains("-f name:"), "{message}");
    assert_eq!(
        read_json(&report)["fields_never_matched"],
        serde_json::json!(["nmae", "tags[*].nope"])
    );

    let (_fixture, base) = fixture().await;
    let out = Cmd::url(format!("{base}/api/v2/pokemon?limit=20"))
        .words("--follow results[*].ur -m concurrent -f name --no-progress")
        .report(&report)
        .run()
        .await;
    assert_said(&out, "warning: --follow results[*].ur: matched nothing");
    assert_eq!(
        read_json(&report)["fields_never_matched"],
        serde_json::json!(["--follow results[*].ur"])
    );

    // A page whose list is not at --items is a failure naming the path (exit 1), not a page
    // that leaves no record (tests/it/real_shapes.rs has pages of both kinds in one run).
    let out = Cmd::url(format!("{base}/api/v2/pokemon?limit=20"))
        .words("--next next --items reslts -m concurrent -f name --no-progress")
        .exits(1)
        .await;
    let errors: Vec<_> = records(&out).iter().map(|r| r["error"].clone()).collect();
    assert_eq!(
        errors,
        ["--items reslts: the response holds nothing there, not a list"]
    );
}

#[tokio::test]
async fn clap_suggestions_and_tips_survive() {
    let cases = [
        (
            vec!["--concurency", "4"],
            "a similar argument exists: '--concurrency'",
        ),
        (vec!["-c", "-4"], "`-4` is negative: it must be at least 1"),
        (
            vec!["-r", "-5..3"],
            "`-5` is not a number: ids are whole numbers from 0",
        ),
        (
            vec!["--retries", "-1"],
            "a value that starts with '-' is read as a flag",
        ),
        (vec!["--rate", "1/s", "--burst", "0"], "must be at least 1"),
        (vec!["--shard", "0/0"], "the shard count must be at least 1"),
        (
            vec!["-r", "18446744073709551614..=18446744073709551615"],
            "goes past the largest id, 18446744073709551614",
        ),
        (
            vec!["--url", "localhost:8000/items/{}"],
            "has no scheme: add http:// or https://",
        ),
    ];
    for (args, expected) in cases {
        let out = fetchbench(&args).await;
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let message = stderr(&out);
        assert!(message.contains(expected), "{args:?}: {message}");
        assert_eq!(message.lines().count(), 1, "one line: {message}");
    }
}

#[tokio::test]
async fn every_crawl_record_has_a_key_unique_and_the_same_in_every_run() {
    let (_fixture, base) = fixture().await;
    let url = format!("{base}/api/v2/pokemon?limit=20");
    let keys = |out: &std::process::Output| -> Vec<String> {
        records(out)
            .iter()
            .map(|r| r["key"].as_str().expect("key").to_owned())
            .collect()
    };
    let args = Cmd::url(&url).words("--next next --items results -f name -q");
    let sequential = args.clone().words("-m sequential").run().await;
    let concurrent = args.clone().words("-m concurrent").run().await;
    assert_eq!(sequential.status.code(), Some(0), "{}", stderr(&sequential));
    let first = keys(&sequential);
    assert_eq!(first.len(), 151);
    let unique: std::collections::HashSet<&String> = first.iter().collect();
    assert_eq!(unique.len(), 151, "every key is unique");
    assert_eq!(first[0], "1.0.0");
    assert_eq!(first[20], "1.1.0", "the second page's first item");
    assert_eq!(first, keys(&concurrent), "the same in every run");

    let csv = args.words("--format csv").run().await;
    let text = String::from_utf8_lossy(&csv.stdout).into_owned();
    assert!(
        text.lines().next().expect("header").ends_with(",key"),
        "{text}"
    );
    assert!(
        text.lines().nth(21).expect("row").ends_with(",1.1.0"),
        "{text}"
    );
}

#[tokio::test]
async fn settings_that_change_nothing_get_a_notice() {
    let server = server().await;
    let dir = tempfile::tempdir().expect("dir");
    let tsv = dir.path().join("out.tsv");
    let template = server.template();
    let out = Cmd::url(&template)
        .words("-r 1..3 -m sequential -c 8")
        .out(&tsv)
        .words("--no-progress")
        .exits(0)
        .await;
    let message = stderr(&out);
    assert!(
        message.contains("note: -c applies to concurrent runs"),
        "{message}"
    );
    assert!(
        message.contains("note: writing ndjson to ") && message.contains("--format chooses"),
        "{message}"
    );

    let out = Cmd::url(&template)
        .words("-r 1..3 --shard 2/4 -m concurrent --no-progress")
        .exits(0)
        .await;
    assert_said(&out, "note: shard 2/4 holds none of these ids");

    let out = Cmd::url(&template)
        .words("-r 1..=150 --rate 5/h -m concurrent --deadline 200ms --no-progress")
        .exits(124)
        .await;
    assert_said(
        &out,
        "note: at --rate 5/h, 150 requests take at least 1day 6h",
    );

    let out = Cmd::url(&template)
        .words("-r 1..3 --insecure -m concurrent --no-progress")
        .run()
        .await;
    assert_said(&out, "--insecure changes nothing for http:// URLs");
}

/// The first record's error message.
fn first_error(out: &std::process::Output) -> String {
    records(out)[0]["error"].as_str().expect("error").to_owned()
}

#[tokio::test]
async fn failures_of_http2_and_proxies_say_which_side_gave_up() {
    // A server that answers HTTP/1 whatever it is sent.
    let raw = RawServer::start(RawFault::TruncateFirst).await;
    let out = Cmd::url(raw.template())
        .words("-r 1 --http2 -m sequential --retries 0")
        .exits(1)
        .await;
    let error = first_error(&out);
    assert!(error.contains("may not speak HTTP/2"), "{error}");

    let server = server().await;
    let proxy = format!("http://{}", crate::common::server::dead_addr());
    let out = Cmd::url(server.template())
        .words("-r 1")
        .flag("--proxy", &proxy)
        .words("-m sequential --retries 0")
        .exits(1)
        .await;
    let error = first_error(&out);
    assert!(
        error.contains("cannot reach the proxy (--proxy)"),
        "{error}"
    );
    assert_eq!(server.total_hits(), 0);
}

/// The same with `fetchbench_with_stdin` for a list that is text: every id fetched, exit 0.
#[tokio::test]
async fn a_text_list_on_stdin_is_read_to_its_end() {
    let server = server().await;
    let out = fetchbench_with_stdin(
        &[
            "--url",
            &server.template(),
            "--ids",
            "-",
            "-m",
            "concurrent",
            "-q",
        ],
        "1\n# comment\n2\n\n3".to_owned(),
    )
    .await;
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(records(&out).len(), 3);
}
