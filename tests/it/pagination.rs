//! Real APIs' pagination on loopback: json-server, GitHub, WordPress and a cursor API (the
//! test server's `/api/...` routes), each crawled with `--items` and fields; the records equal
//! a sequential walk's, in order, and where the first page says how many pages there are, the
//! pages after it are in flight together at the server.

use crate::common::run::{fetchbench, records, stderr};
use crate::common::{list_names, TestServer};

/// The `name` of each record, in order.
fn names(out: &std::process::Output) -> Vec<String> {
    records(out)
        .iter()
        .map(|r| r["fields"]["name"].as_str().unwrap_or("<null>").to_owned())
        .collect()
}

/// Runs fetchbench with `args` with `-q -m concurrent` (one run), expecting exit 0.
async fn run_ok(args: &[&str]) -> std::process::Output {
    let mut all = args.to_vec();
    all.extend(["-q", "-m", "concurrent"]);
    let out = fetchbench(&all).await;
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bare_array_s_items_carry_their_fields_on_a_chain_and_a_range() {
    let server = TestServer::start(Default::default()).await;
    let chain = server.api("/api/json-server?_page=1&_limit=10");
    let out = run_ok(&[
        "--url", &chain, "--next", "link", "--items", "[*]", "-f", "name",
    ])
    .await;
    assert_eq!(names(&out), list_names());
    assert_eq!(server.list_hits(), 5, "47 items, 10 a page");

    let range = server.api("/api/json-server?_page={}&_limit=10");
    let out = run_ok(&[
        "--url",
        &range,
        "--range",
        "1..",
        "--until-empty",
        "[*]",
        "--items",
        "[*]",
        "-f",
        "name",
    ])
    .await;
    assert_eq!(names(&out), list_names());
}
