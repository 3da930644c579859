//! Scraping anything templated: word lists (file and stdin), methods and templated bodies,
//! HTTP/2, and secrets that never leak (cross-origin redirects, passwords in URLs).

use std::io::Write;
use std::process::{Command, Output, Stdio};

use crate::common::cmd::Cmd;
use crate::common::run::{assert_said, records, stderr, BIN};
use crate::common::{Behaviour, TestServer};
use serde_json::{json, Value};

async fn fetchbench(
    args: Cmd,
    stdin: Option<&'static str>,
    env: Option<(&'static str, &'static str)>,
) -> Output {
    tokio::task::spawn_blocking(move || {
        let mut command = Command::new(BIN);
        command
            .args(args.iter())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .stdin(Stdio::piped());
        if let Some((k, v)) = env {
            command.env(k, v);
        }
        let mut child = command.spawn().unwrap();
        let mut input = child.stdin.take().unwrap();
        if let Some(text) = stdin {
            input.write_all(text.as_bytes()).unwrap();
        }
        drop(input);
        child.wait_with_output().unwrap()
    })
    .await
    .unwrap()
}

const WORDS: &str = "mr mime\n  porygon-z  \n# a comment\n\na/b & c\n日本\n25\n";

fn check_words(out: &Output) {
    assert_eq!(out.status.code(), Some(0), "{}", stderr(out));
    let recs = records(out);
    let ids: Vec<&Value> = recs.iter().map(|r| &r["id"]).collect();
    let expected = [
        json!("mr mime"),
        json!("porygon-z"),
        json!("a/b & c"),
        json!("日本"),
        json!(25),
    ];
    assert_eq!(
        ids,
        expected.iter().collect::<Vec<_>>(),
        "file order, comments skipped"
    );
    let paths: Vec<&str> = recs
        .iter()
        .map(|r| r["fields"]["path"].as_str().unwrap())
        .collect();
    assert_eq!(
        paths,
        [
            "/echo/mr%20mime",
            "/echo/porygon-z",
            "/echo/a%2Fb%20&%20c",
            "/echo/%E6%97%A5%E6%9C%AC",
            "/echo/25"
        ]
    );
    assert_eq!(
        recs[2]["fields"]["query"], "q=a%2Fb%20%26%20c",
        "`&` encoded in a query value"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn word_lists_from_a_file_and_from_stdin_are_encoded_for_their_place() {
    let server = TestServer::start(Behaviour::default()).await;
    let url = format!("http://{}/echo/{{}}?q={{}}", server.addr);
    let dir = tempfile::tempdir().unwrap();
    let list = dir.path().join("words.txt");
    std::fs::write(&list, WORDS).unwrap();
    let base = Cmd::url(&url).words("-m concurrent -c 3 -f path -f query -q");
    let from_file = base.clone().path("--ids", &list);
    check_words(&fetchbench(from_file, None, None).await);
    let from_stdin = base.words("--ids -");
    check_words(&fetchbench(from_stdin, Some(WORDS), None).await);

    let raw = fetchbench(
        Cmd::url(format!("http://{}/echo/{{}}", server.addr))
            .words("--ids - --raw -m sequential -f path -q"),
        Some("x/y\n"),
        None,
    )
    .await;
    assert_eq!(records(&raw)[0]["fields"]["path"], "/echo/x/y");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn range_and_ids_together_is_a_usage_error() {
    let out = fetchbench(
        Cmd::url("http://127.0.0.1:9/{}").words("--range 1..3 --ids x.txt"),
        None,
        None,
    )
    .await;
    assert_eq!(out.status.code(), Some(2));
    assert_said(&out, "--ids");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_templated_json_body_reaches_the_server_intact() {
    let server = TestServer::start(Behaviour::default()).await;
    let url = format!("http://{}/echo/items", server.addr);
    let out = fetchbench(
        Cmd::url(format!("{url}?id={{}}"))
            .words("--ids - -m sequential")
            .flag("--json", r#"{"id":"{}","n":{id},"tag":{"x":1}}"#)
            .flag("-H", "X-Trace: t-{}")
            .words("-f method -f body -f headers.content-type -f headers.x-trace -q"),
        Some("say \"hi\"\n7\n"),
        None,
    )
    .await;
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let recs = records(&out);
    assert_eq!(recs[0]["fields"]["method"], "POST");
    assert_eq!(
        recs[0]["fields"]["body"],
        r#"{"id":"say \"hi\"","n":say \"hi\","tag":{"x":1}}"#
    );
    assert_eq!(
        recs[1]["fields"]["body"],
        r#"{"id":"7","n":7,"tag":{"x":1}}"#
    );
    assert_eq!(
        recs[1]["fields"]["headers.content-type"],
        "application/json"
    );
    assert_eq!(recs[1]["fields"]["headers.x-trace"], "t-7");
    let parsed: Value = serde_json::from_str(recs[1]["fields"]["body"].as_str().unwrap()).unwrap();
    assert_eq!(parsed["n"], 7);

    let out = fetchbench(
        Cmd::url(format!("{url}/{{}}"))
            .words("-r 1 -m sequential -X put")
            .flag("-d", "plain {}")
            .words("-f method -f body -q"),
        None,
        None,
    )
    .await;
    let rec = &records(&out)[0];
    assert_eq!(
        (
            rec["fields"]["method"].as_str(),
            rec["fields"]["body"].as_str()
        ),
        (Some("PUT"), Some("plain 1"))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http2_prior_knowledge_is_answered_over_http2() {
    let server = TestServer::start(Behaviour::default()).await;
    let url = format!("http://{}/echo/{{}}", server.addr);
    let out = fetchbench(
        Cmd::url(&url).words("-r 1..=2 -m concurrent --http2 -f version -q"),
        None,
        None,
    )
    .await;
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    for rec in records(&out) {
        assert_eq!(rec["http_version"], "HTTP/2.0");
        assert_eq!(rec["fields"]["version"], "HTTP/2.0");
    }
    let dir = tempfile::tempdir().unwrap();
    let report = dir.path().join("report.json");
    let out = fetchbench(
        Cmd::url(&url)
            .words("-r 1..=3 -m concurrent --http2")
            .report(&report)
            .words("-q"),
        None,
        None,
    )
    .await;
    assert_eq!(out.status.code(), Some(0));
    let report: Value = serde_json::from_str(&std::fs::read_to_string(&report).unwrap()).unwrap();
    assert_eq!(
        report["runs"][0]["http_versions"]["HTTP/2.0"], 3,
        "the report says which version answered"
    );
    let out = fetchbench(Cmd::url(&url).words("-r 1 -m sequential -q"), None, None).await;
    assert_eq!(records(&out)[0]["http_version"], "HTTP/1.1");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn credentials_go_to_the_same_origin_only() {
    let first = TestServer::start(Behaviour::default()).await;
    let other = TestServer::start(Behaviour::default()).await;
    let fields = [
        "-f",
        "headers.x-api-key",
        "-f",
        "headers.authorization",
        "-f",
        "headers.x-trace",
        "-f",
        "path",
    ];
    let run = |url: String, extra: &'static [&'static str]| {
        let mut a = Cmd::url(&url)
            .words("-r 1 -m sequential")
            .flag("-H", "X-Api-Key: k-123")
            .flag("-H", "X-Trace: keep")
            .words("-q");
        a.extend(fields);
        a.extend(extra);
        fetchbench(a, None, Some(("FETCHBENCH_AUTH", "Bearer env-token")))
    };
    let cross = run(
        format!("http://{}/to-other/{}/{{}}", first.addr, other.addr.port()),
        &[],
    )
    .await;
    let rec = &records(&cross)[0];
    assert_eq!(rec["status"], 200, "{}", stderr(&cross));
    assert_eq!(rec["fields"]["path"], "/echo/1");
    assert_eq!(
        rec["fields"]["headers.x-api-key"],
        Value::Null,
        "X-Api-Key must not reach another origin"
    );
    assert_eq!(rec["fields"]["headers.authorization"], Value::Null);
    assert_eq!(
        rec["fields"]["headers.x-trace"], "keep",
        "other headers follow"
    );

    let same = run(format!("http://{}/to-self/{{}}", first.addr), &[]).await;
    let rec = &records(&same)[0];
    assert_eq!(rec["fields"]["headers.x-api-key"], "k-123");
    assert_eq!(rec["fields"]["headers.authorization"], "Bearer env-token");

    let trusted = run(
        format!("http://{}/to-other/{}/{{}}", first.addr, other.addr.port()),
        &["--location-trusted"],
    )
    .await;
    assert_eq!(records(&trusted)[0]["fields"]["headers.x-api-key"], "k-123");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_password_in_the_url_is_used_and_never_shown() {
    let server = TestServer::start(Behaviour::default()).await;
    let dir = tempfile::tempdir().unwrap();
    let out_file = dir.path().join("out.ndjson");
    let report = dir.path().join("report.json");
    let url = format!(
        "http://alice:s3cr3t-pw@{}/echo/{{}}?api_key=k3y-v4lue",
        server.addr
    );
    let out = fetchbench(
        Cmd::url(&url)
            .words("-r 1..=2 -m both -f path")
            .out(&out_file)
            .report(&report),
        None,
        None,
    )
    .await;
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let written = std::fs::read_to_string(&out_file).unwrap();
    let everything = format!(
        "{}{}{}{}",
        String::from_utf8_lossy(&out.stdout),
        stderr(&out),
        written,
        std::fs::read_to_string(&report).unwrap()
    );
    for secret in ["s3cr3t-pw", "k3y-v4lue", "YWxpY2U6czNjcjN0LXB3"] {
        assert!(
            !everything.contains(secret),
            "{secret} leaked: {everything}"
        );
    }
    let rec: Value = serde_json::from_str(written.lines().next().unwrap()).unwrap();
    assert_eq!(
        rec["url"],
        format!(
            "http://alice:<redacted>@{}/echo/1?api_key=<redacted>",
            server.addr
        )
    );
    // The request itself used the credentials: basic auth reached the server.
    let used = fetchbench(
        Cmd::url(&url).words("-r 1 -m sequential -f headers.authorization -q"),
        None,
        None,
    )
    .await;
    let auth = records(&used)[0]["fields"]["headers.authorization"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(auth.starts_with("Basic "), "{auth}");
}

/// The headers the server saw for one request, sent with `extra` arguments.
async fn headers_seen(server: &TestServer, url: &str, extra: &[&str]) -> Value {
    let mut args = Cmd::url(url).words("-r 1..2 -m sequential -q");
    args.extend(extra);
    args.extend(["-f", "headers", "-o", "-"]);
    let out = fetchbench(args, None, None).await;
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(server.total_hits() > 0);
    records(&out)[0]["fields"]["headers"].clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plain_http_and_proxied_requests_carry_the_same_headers() {
    let server = TestServer::start(Behaviour::default()).await;
    let direct = headers_seen(&server, &server.route("echo-headers"), &[]).await;
    // Through a proxy (the test server answers absolute-form requests by path), the name
    // `fetchbench.invalid` is never resolved: the request went through the proxy, not direct.
    let proxy = format!("http://{}", server.addr);
    let via_proxy = headers_seen(
        &server,
        "http://fetchbench.invalid/echo-headers/{}",
        &["--proxy", &proxy],
    )
    .await;
    for headers in [&direct, &via_proxy] {
        assert_eq!(headers["accept"], "*/*", "{headers}");
        assert_eq!(headers["user-agent"], "fetchbench/0.1.0", "{headers}");
        assert!(headers["accept-encoding"]
            .as_str()
            .unwrap()
            .contains("gzip"));
    }
    assert_eq!(direct["host"], server.addr.to_string());
    assert_eq!(via_proxy["host"], "fetchbench.invalid");
}

/// A word `.` or `..` where the template puts a path segment would be resolved away by the URL
/// parser (`/pokemon/../` is `/`): each is a failed record with no request, in its place.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dot_segment_ids_are_refused_not_sent_to_another_path() {
    let app = axum::Router::new().fallback(|| async {
        (
            [(axum::http::header::CONTENT_TYPE, "application/json")],
            r#"{"name":"x"}"#,
        )
    });
    let server = crate::common::server::spawn(app).await;
    let url = server.url("/api/v2/pokemon/{}/");
    let args = Cmd::url(&url).words("--ids - -m concurrent -f name");
    let out = fetchbench(args, Some("pikachu\n.\n..\nmew\n"), None).await;
    let records = records(&out);
    let ids: Vec<&str> = records.iter().map(|r| r["id"].as_str().unwrap()).collect();
    assert_eq!(ids, ["pikachu", ".", "..", "mew"], "{}", stderr(&out));
    assert!(records[0]["error"].is_null() && records[3]["error"].is_null());
    for dot in &records[1..3] {
        let error = dot["error"].as_str().unwrap_or_default();
        assert!(error.contains("not a valid URL"), "{dot}");
        assert!(dot["status"].is_null(), "{dot}");
    }
    let mut paths: Vec<String> = server.seen().into_iter().map(|s| s.path).collect();
    paths.sort();
    assert_eq!(paths, ["/api/v2/pokemon/mew/", "/api/v2/pokemon/pikachu/"]);
}
