//! What real servers and proxies do that a test framework would not: close a kept-alive
//! connection without a word, send huge response heads, stand in the path as a proxy. Each is a
//! raw server on loopback; fetchbench runs as a process against it.

use std::process::Output;
use std::sync::Arc;

use crate::common::cmd::Cmd;
use crate::common::run::{assert_said, read_json, records, stderr, BIN};
use crate::common::server::{self, Conn, Server};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// The proxy variables a test run must not inherit.
const PROXY_VARIABLES: [&str; 8] = [
    "HTTP_PROXY",
    "http_proxy",
    "HTTPS_PROXY",
    "https_proxy",
    "ALL_PROXY",
    "all_proxy",
    "NO_PROXY",
    "no_proxy",
];

/// Runs the binary with `args` and exactly the proxy variables in `env`.
async fn fetchbench_with(args: &[String], env: &[(&str, &str)]) -> Output {
    let args = args.to_vec();
    let env: Vec<(String, String)> = env
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    tokio::task::spawn_blocking(move || {
        let mut command = assert_cmd::Command::new(BIN);
        for name in PROXY_VARIABLES {
            command.env_remove(name);
        }
        command
            .args(&args)
            .envs(env)
            .env("NO_COLOR", "1")
            .output()
            .expect("run fetchbench")
    })
    .await
    .expect("join")
}

/// Reads one request head (these tests send no bodies); None when the peer closed first.
async fn read_head(stream: &mut (impl AsyncRead + Unpin)) -> Option<Vec<u8>> {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        match stream.read(&mut byte).await {
            Ok(1) => head.push(byte[0]),
            _ => return None,
        }
    }
    Some(head)
}

/// A raw server that answers the `n`th request on a connection (0-based) with `answer(n)`'s
/// bytes, or closes the connection without a word when it gives None; its `requests()` are the
/// heads it read.
async fn raw_http(answer: fn(u32) -> Option<Vec<u8>>) -> Server {
    server::spawn_raw(move |mut conn: Conn| async move {
        let mut n = 0;
        while read_head(&mut conn.stream).await.is_some() {
            conn.books.count();
            let Some(bytes) = answer(n) else { return };
            if conn.stream.write_all(&bytes).await.is_err() {
                return;
            }
            n += 1;
        }
    })
    .await
}

/// A kept-alive JSON response with `headers` (each `name: value\r\n`) in its head.
fn response_with(headers: &str) -> Vec<u8> {
    let body = r#"{"name":"pikachu"}"#;
    format!(
        "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\n{headers}\r\n{body}",
        body.len()
    )
    .into_bytes()
}

/// `count` header fields of `bytes` bytes each.
fn fields(count: usize, bytes: usize) -> String {
    (0..count)
        .map(|i| {
            let name = format!("x-filler-{i}");
            let value = "v".repeat(bytes.saturating_sub(name.len() + 2));
            format!("{name}: {value}\r\n")
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connection_closed_while_idle_costs_a_resend_not_a_retry() {
    // Each connection answers one request and closes silently on the next, as a server whose
    // idle timeout fired just as the request went out: every reuse finds a dead connection.
    let server = raw_http(|n| (n == 0).then(|| response_with(""))).await;
    let dir = tempfile::tempdir().expect("temp dir");
    let report = dir.path().join("report.json");
    let out = fetchbench_with(
        &Cmd::url(server.url("/item/{}"))
            .words("-r 1..=500 -m concurrent -c 32 -f name -q")
            .report(&report),
        &[],
    )
    .await;
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let recs = records(&out);
    assert_eq!(recs.len(), 500);
    let odd: Vec<_> = recs
        .iter()
        .filter(|r| !(r["status"] == 200 && r["attempts"] == 1 && r["fields"]["name"] == "pikachu"))
        .collect();
    assert!(odd.is_empty(), "{odd:?}");
    let run = &read_json(&report)["runs"][0];
    assert_eq!(run["retries"], 0);
    assert_eq!(run["errors"], 0);
    // Every request that was resent reached the server twice: once on the dead connection.
    assert!(
        server.requests() > 500,
        "no reuse was tried: {}",
        server.requests()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn response_heads_are_limited_as_curl_limits_them_and_the_error_says_which() {
    // 200 fields of 500 bytes (100 KB): more fields than the default 100, within the sizes.
    let many = raw_http(|_| Some(response_with(&fields(200, 500)))).await;
    // 800 fields of 500 bytes (400 KB): over the 300 KiB a head may have.
    let huge = raw_http(|_| Some(response_with(&fields(800, 500)))).await;
    // One field of 120 KB: over the 100 KiB a field may have.
    let wide = raw_http(|_| Some(response_with(&fields(1, 120 * 1024)))).await;
    // One field of 100 KB: at curl's limit, accepted.
    let at_limit = raw_http(|_| Some(response_with(&fields(1, 100 * 1000)))).await;

    let run = |server: &Server, extra: &'static [&'static str]| {
        let template = server.url("/item/{}");
        async move {
            let args = Cmd::url(&template)
                .words("-r 1 -m sequential -q")
                .args(extra);
            let out = fetchbench_with(&args, &[]).await;
            let record = records(&out).pop().expect("one record");
            (out.status.code(), record)
        }
    };
    let (code, record) = run(&many, &[]).await;
    assert_eq!(code, Some(1));
    let error = record["error"].as_str().expect("an error");
    assert!(
        error.contains("more than 100 header fields (--max-headers)"),
        "{error}"
    );
    let (code, record) = run(&many, &["--max-headers", "1000"]).await;
    assert_eq!(
        (code, &record["status"]),
        (Some(0), &200.into()),
        "{record}"
    );
    let (code, record) = run(&at_limit, &[]).await;
    assert_eq!(
        (code, &record["status"]),
        (Some(0), &200.into()),
        "{record}"
    );

    let (code, record) = run(&huge, &["--max-headers", "1000"]).await;
    assert_eq!(code, Some(1));
    let error = record["error"].as_str().expect("an error");
    assert!(error.contains("response head too large"), "{error}");
    assert!(error.contains("300 KiB"), "{error}");
    assert_eq!(record["attempts"], 1, "a limit is not retried");

    let (code, record) = run(&wide, &[]).await;
    assert_eq!(code, Some(1));
    let error = record["error"].as_str().expect("an error");
    assert!(error.contains("x-filler-0"), "{error}");
    assert!(error.contains("100 KiB a header field"), "{error}");
    assert_eq!(record["http_version"], "HTTP/1.1");
}

/// An HTTP forwarding proxy whose `requests()` are the requests it carried: each connection
/// carries one request, forwarded with `Connection: close`, and the answer piped back; or one
/// `CONNECT` tunnel (https through the proxy), counted once, its bytes piped both ways.
pub(crate) async fn counting_proxy() -> Server {
    server::spawn_raw(|conn: Conn| forward(conn.stream, conn.books)).await
}

async fn forward(mut client: Box<dyn server::Io>, books: Arc<server::Books>) {
    let Some(head) = read_head(&mut client).await else {
        return;
    };
    let head = String::from_utf8_lossy(&head).into_owned();
    let mut lines = head.split("\r\n");
    let request_line = lines.next().unwrap_or_default().to_owned();
    let mut parts = request_line.split(' ');
    let (method, target) = (parts.next().unwrap_or("GET"), parts.next().unwrap_or("/"));
    if method == "CONNECT" {
        let Ok(mut upstream) = TcpStream::connect(target).await else {
            return;
        };
        books.count();
        if client
            .write_all(b"HTTP/1.1 200 Connection established\r\n\r\n")
            .await
            .is_ok()
        {
            let _ = tokio::io::copy_bidirectional(&mut client, &mut upstream).await;
        }
        return;
    }
    let Some(rest) = target.strip_prefix("http://") else {
        return;
    };
    let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    let Ok(mut upstream) = TcpStream::connect(authority).await else {
        return;
    };
    books.count();
    let mut forwarded = format!(
        "{method} {} HTTP/1.1\r\n",
        if path.is_empty() { "/" } else { path }
    );
    for line in lines.filter(|l| !l.is_empty()) {
        let name = line
            .split(':')
            .next()
            .unwrap_or_default()
            .to_ascii_lowercase();
        if name != "connection" && name != "proxy-connection" {
            forwarded.push_str(line);
            forwarded.push_str("\r\n");
        }
    }
    forwarded.push_str("connection: close\r\n\r\n");
    if upstream.write_all(forwarded.as_bytes()).await.is_err() {
        return;
    }
    let mut answer = Vec::new();
    let _ = upstream.read_to_end(&mut answer).await;
    let _ = client.write_all(&answer).await;
    let _ = client.shutdown().await;
}

/// Runs 3 ids against the fixture-like `server` with `env`, and returns how many requests the
/// proxy carried, the run's report and stderr.
async fn through(
    proxy: &Server,
    template: &str,
    extra: &[&str],
    env: &[(&str, &str)],
) -> (u32, serde_json::Value, String) {
    let before = proxy.requests();
    let dir = tempfile::tempdir().expect("temp dir");
    let report = dir.path().join("report.json");
    let args = Cmd::url(template)
        .words("-r 1..=3 -m sequential")
        .report(&report)
        .words("-o /dev/null")
        .args(extra);
    let out = fetchbench_with(&args, env).await;
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    (proxy.requests() - before, read_json(&report), stderr(&out))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_report_says_which_requests_went_through_a_proxy() {
    let server = crate::common::TestServer::start(crate::common::Behaviour::default()).await;
    let proxy = counting_proxy().await;
    let by_ip = server.template();
    let by_name = by_ip.replace("127.0.0.1", "localhost");
    let proxy_url = proxy.base();

    // `--proxy`: every request, said in the report and the summary.
    let (carried, report, summary) = through(&proxy, &by_ip, &["--proxy", &proxy_url], &[]).await;
    assert_eq!(carried, 3);
    assert_eq!(report["runs"][0]["proxied_requests"], 3);
    assert_eq!(report["proxy"], format!("{proxy_url}/"));
    assert!(summary.contains("through proxy"), "{summary}");
    assert!(summary.contains(&proxy_url), "{summary}");

    // HTTP_PROXY from the environment, to a host name and to an IP address.
    let env_proxy = [("HTTP_PROXY", proxy_url.as_str())];
    for template in [&by_name, &by_ip] {
        let (carried, report, _) = through(&proxy, template, &[], &env_proxy).await;
        assert_eq!(carried, 3, "{template}");
        assert_eq!(report["runs"][0]["proxied_requests"], 3);
    }

    // NO_PROXY with the host name, the IP address, a block and `*`: nothing goes through it,
    // and the report does not claim a proxy.
    for (no_proxy, template) in [
        ("localhost", &by_name),
        ("127.0.0.1", &by_ip),
        ("127.0.0.0/8", &by_ip),
        ("*", &by_ip),
        ("*", &by_name),
    ] {
        let env = [("HTTP_PROXY", proxy_url.as_str()), ("NO_PROXY", no_proxy)];
        let (carried, report, summary) = through(&proxy, template, &[], &env).await;
        assert_eq!(carried, 0, "NO_PROXY={no_proxy} {template}");
        assert_eq!(report["runs"][0]["proxied_requests"], 0);
        assert!(report["proxy"].is_null(), "{}", report["proxy"]);
        assert!(!summary.contains("through proxy"), "{summary}");
    }

    // A NO_PROXY entry for another host leaves this one proxied.
    let env = [
        ("HTTP_PROXY", proxy_url.as_str()),
        ("NO_PROXY", "example.com"),
    ];
    let (carried, _, _) = through(&proxy, &by_ip, &[], &env).await;
    assert_eq!(carried, 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_proxy_setting_that_is_not_a_url_is_a_clear_error() {
    let out = fetchbench_with(
        &Cmd::url("http://127.0.0.1:9/{}").words("-r 1 -q"),
        &[("HTTP_PROXY", "http://[::1")],
    )
    .await;
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert_said(&out, "HTTP_PROXY");
    assert!(!stderr(&out).contains("panicked"));
}
