//! Compression on the request path: fetchbench asks for compressed bodies, decodes gzip and brotli
//! as they stream in, reports wire and decoded sizes, and stops a gzip bomb at the body cap.

use crate::common::cmd::Cmd;
use crate::common::run::{fetchbench, records, stderr};
use crate::common::{gzip, item_body, Behaviour, TestServer};
use serde_json::Value;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gzip_and_brotli_bodies_are_decoded_and_both_sizes_recorded() {
    let server = TestServer::start(Behaviour::default()).await;
    let dir = tempfile::tempdir().unwrap();
    let report_path = dir.path().join("report.json");
    for route in ["gzip", "brotli"] {
        let out = Cmd::url(server.route(route))
            .words("-r 1..=3 -m concurrent -f name")
            .report(&report_path)
            .words("-q")
            .run()
            .await;
        assert_eq!(out.status.code(), Some(0), "{route}: {}", stderr(&out));
        let recs = records(&out);
        assert_eq!(recs[1]["fields"]["name"], "item-2", "{route}");
        let decoded = item_body(2).len() as u64;
        assert_eq!(recs[1]["bytes"], decoded, "{route}");
        let wire = recs[1]["wire_bytes"].as_u64().unwrap();
        assert!(
            wire < decoded / 3,
            "{route}: {wire} on the wire for {decoded} decoded"
        );
        if route == "gzip" {
            assert_eq!(wire, gzip(item_body(2).as_bytes()).len() as u64);
        }

        let report: Value =
            serde_json::from_str(&std::fs::read_to_string(&report_path).unwrap()).unwrap();
        let run = &report["runs"][0];
        let (bytes, wire) = (
            run["bytes"].as_u64().unwrap(),
            run["wire_bytes"].as_u64().unwrap(),
        );
        let expected: u64 = (1..=3).map(|id| item_body(id).len() as u64).sum();
        assert_eq!(bytes, expected, "{route}");
        let ratio = run["compression_ratio"].as_f64().unwrap();
        assert!((ratio - bytes as f64 / wire as f64).abs() < 1e-9, "{route}");
        assert!(run["wire_mb_per_s"].as_f64().unwrap() > 0.0);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn compression_is_asked_for_by_default_and_not_with_no_compression() {
    let server = TestServer::start(Behaviour::default()).await;
    let header = "headers.accept-encoding";
    let out = Cmd::url(server.route("echo-headers"))
        .words("-r 1 -m sequential")
        .flag("-f", header)
        .words("-q")
        .run()
        .await;
    assert_eq!(
        records(&out)[0]["fields"][header],
        "gzip, br, zstd, deflate"
    );

    let out = Cmd::url(server.route("echo-headers"))
        .words("-r 1 -m sequential")
        .flag("-f", header)
        .words("--no-compression -q")
        .exits(0)
        .await;
    assert_eq!(
        records(&out)[0]["fields"][header],
        Value::Null,
        "no Accept-Encoding sent"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_fixture_server_sends_gzip_only_to_clients_that_ask() {
    let base = [
        "-r",
        "25",
        "-m",
        "sequential",
        "-f",
        "name",
        "--latency",
        "0",
        "-q",
    ];
    let out = fetchbench(&base).await;
    let rec = &records(&out)[0];
    assert_eq!(rec["fields"]["name"], "pikachu");
    let (bytes, wire) = (
        rec["bytes"].as_u64().unwrap(),
        rec["wire_bytes"].as_u64().unwrap(),
    );
    assert!(
        wire * 20 < bytes,
        "gzip expected: {wire} wire bytes for {bytes}"
    );

    let mut plain = base.to_vec();
    plain.push("--no-compression");
    let out = fetchbench(&plain).await;
    let rec = &records(&out)[0];
    assert_eq!(rec["fields"]["name"], "pikachu");
    assert_eq!(rec["wire_bytes"], rec["bytes"]);
    assert_eq!(rec["bytes"].as_u64().unwrap(), bytes);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_gzip_bomb_stops_at_the_cap_with_memory_near_it() {
    let server = TestServer::start(Behaviour::default()).await;
    let template = server.route("bomb");
    let (out, peak_rss) = Cmd::url(&template)
        .words("-r 1 -m sequential -f name --max-body 16MiB -q")
        .run_measuring_memory()
        .await;
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let rec: Value =
        serde_json::from_slice(out.stdout.split(|&b| b == b'\n').next().unwrap()).unwrap();
    assert!(
        rec["error"].as_str().unwrap().starts_with("body too large"),
        "{rec}"
    );
    assert_eq!(rec["attempts"], 1, "a body over the cap is not retried");
    // The whole bomb is about 1 MiB on the wire; it is the decoding that must stop at the cap.
    assert!(rec["wire_bytes"].as_u64().unwrap() < 2 << 20, "{rec}");
    assert!(
        peak_rss < 64 << 20,
        "peak RSS {} MiB for a 16 MiB cap (1 GiB bomb)",
        peak_rss >> 20
    );
}
