//! Real APIs' pagination on loopback: json-server, GitHub, WordPress and a cursor API (the
//! test server's `/api/...` routes), each crawled with `--items` and fields; the records equal
//! a sequential walk's, in order, and where the first page says how many pages there are, the
//! pages after it are in flight together at the server.

use crate::common::cmd::Cmd;
use crate::common::run::{read_json, records, stderr};
use crate::common::{list_names, TestServer};

/// The `name` of each record, in order.
fn names(out: &std::process::Output) -> Vec<String> {
    records(out)
        .iter()
        .map(|r| r["fields"]["name"].as_str().unwrap_or("<null>").to_owned())
        .collect()
}

/// Runs fetchbench with `args` with `-q -m concurrent` (one run), expecting exit 0.
async fn run_ok(args: &Cmd) -> std::process::Output {
    args.clone().words("-q -m concurrent").exits(0).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bare_array_s_items_carry_their_fields_on_a_chain_and_a_range() {
    let server = TestServer::start(Default::default()).await;
    let chain = server.api("/api/json-server?_page=1&_limit=10");
    let out = run_ok(&Cmd::url(&chain).words("--next link --items [*] -f name")).await;
    assert_eq!(names(&out), list_names());
    assert_eq!(server.list_hits(), 5, "47 items, 10 a page");

    let range = server.api("/api/json-server?_page={}&_limit=10");
    let out =
        run_ok(&Cmd::url(&range).words("--range 1.. --until-empty [*] --items [*] -f name")).await;
    assert_eq!(names(&out), list_names());
}

/// Crawls `url` with `flags`, `--items LIST -f name`, and checks the records are the list's
/// items in order, from 5 pages (47 items, 10 a page), the 4 after the first in flight at once
/// (the server holds them until 4 are: its `gate`).
async fn crawl_all_at_once(url: &str, list: &str, flags: &[&str]) {
    let server = TestServer::start(Default::default()).await;
    let url = server.api(url);
    let args = Cmd::url(&url)
        .flag("--items", list)
        .field("name")
        .args(flags);
    let out = run_ok(&args).await;
    assert_eq!(names(&out), list_names(), "{flags:?}");
    assert_eq!(server.list_hits(), 5, "{flags:?}: one request a page");
    assert_eq!(
        server.later_pages_peak(),
        4,
        "{flags:?}: the pages after the first go out together"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_server_s_total_header_and_last_link_send_the_other_pages_at_once() {
    let by_total = ["--range", "1..", "--total", "header:X-Total-Count"];
    let url = "/api/json-server?_page={}&_limit=10&gate=4";
    crawl_all_at_once(url, "[*]", &by_total).await;
    let url = "/api/json-server?_page=1&_limit=10&gate=4";
    crawl_all_at_once(url, "[*]", &["--next", "link"]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn github_s_last_link_sends_the_other_pages_at_once() {
    // The first page's URL has no `page`: the next and last links add it.
    let url = "/api/github?per_page=10&gate=4";
    crawl_all_at_once(url, "[*]", &["--next", "link"]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wordpress_s_totals_of_pages_and_of_items_bound_a_range_of_page_numbers() {
    let url = "/api/wp?page={}&per_page=10&gate=4";
    let pages = ["--range", "1..", "--total-pages", "header:X-WP-TotalPages"];
    crawl_all_at_once(url, "[*]", &pages).await;
    let items = ["--range", "1..", "--total", "header:X-WP-Total"];
    crawl_all_at_once(url, "[*]", &items).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_body_count_still_bounds_an_offset_range() {
    let url = "/api/offsets?offset={}&limit=10&gate=4";
    let flags = ["--range", "0..:10", "--total", "count"];
    crawl_all_at_once(url, "results", &flags).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_total_header_that_is_absent_ends_the_range_at_the_first_page() {
    let server = TestServer::start(Default::default()).await;
    let dir = tempfile::tempdir().expect("temp dir");
    let report = dir.path().join("report.json");
    let url = server.api("/api/json-server?_page={}&_limit=10");
    let out = run_ok(
        &Cmd::url(&url)
            .words("--range 1.. --total header:X-Count --items [*] -f name")
            .report(&report),
    )
    .await;
    assert_eq!(names(&out), list_names()[..10]);
    assert_eq!(server.list_hits(), 1);
    let stopped = read_json(&report)["runs"][0]["crawl"]["stopped"].clone();
    assert_eq!(
        stopped,
        "the first page gave no number in header x-count (--total)"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_total_that_names_no_header_is_refused_before_any_request() {
    let out = Cmd::url("http://127.0.0.1:9/?page={}")
        .words("--range 1..")
        .flag("--total", "header:X Count")
        .words("-q")
        .exits(2)
        .await;
    assert!(
        stderr(&out).contains("--total") && stderr(&out).contains("`X Count` is not a header name"),
        "{}",
        stderr(&out)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cursor_token_in_the_body_names_the_next_page_until_it_is_empty() {
    let server = TestServer::start(Default::default()).await;
    let url = server.api("/api/cursor?max_results=10");
    let out = run_ok(
        &Cmd::url(&url)
            .words("--next meta.next_token --next-param pagination_token --items data -f name"),
    )
    .await;
    assert_eq!(names(&out), list_names());
    assert_eq!(
        server.list_hits(),
        5,
        "the empty token of page 5 ends the chain"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cursor_parameter_for_a_link_header_is_refused_naming_the_flag() {
    let out = Cmd::url("http://127.0.0.1:9/list")
        .words("--next link --next-param cursor -q")
        .exits(2)
        .await;
    let err = stderr(&out);
    assert!(
        err.contains("--next-param") && err.contains("`Link` header names whole URLs"),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_open_range_probes_ahead_politely_at_any_concurrency() {
    // 47 items, 10 a page: 5 pages and the empty sixth are the useful requests.
    let server = TestServer::start(Default::default()).await;
    let dir = tempfile::tempdir().expect("temp dir");
    let report = dir.path().join("report.json");
    let url = server.api("/api/offsets?offset={}&limit=10");
    let out = run_ok(
        &Cmd::url(&url)
            .words("--range 0..:10 --until-empty results --items results -f name -c 50")
            .report(&report),
    )
    .await;
    assert_eq!(names(&out), list_names());
    let sent = server.list_hits() as u64;
    assert!((6..=12).contains(&sent), "{sent} requests for 6 useful");
    let run = &read_json(&report)["runs"][0];
    let past = run["crawl"]["past_stop"].as_u64().expect("past_stop");
    // Every request the server handled is counted; those past the stop apart as well.
    assert_eq!(run["requests"].as_u64().expect("requests"), sent);
    let answered = run["ok"].as_u64().expect("ok") + run["errors"].as_u64().expect("errors");
    assert_eq!(answered + past, sent);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_streak_stops_a_range_without_sending_the_rest_of_it() {
    let behaviour = crate::common::Behaviour {
        not_found: (152..400).collect(),
        ..Default::default()
    };
    let server = TestServer::start(behaviour).await;
    let dir = tempfile::tempdir().expect("temp dir");
    let report = dir.path().join("report.json");
    let out = Cmd::url(server.template())
        .words("--range 140..400 --stop-after-missing 3 -c 50 -m concurrent -q")
        .report(&report)
        .exits(0)
        .await;
    assert_eq!(records(&out).len(), 12, "140..=151");
    // 15 useful: 12 found and the streak of 3 that ends the range.
    let sent = u64::from(server.total_hits());
    assert!((15..=31).contains(&sent), "{sent} requests for 15 useful");
    let run = &read_json(&report)["runs"][0];
    let past = run["crawl"]["past_stop"].as_u64().expect("past_stop");
    // Every request the server handled is counted; those past the stop apart as well.
    assert_eq!(run["requests"].as_u64().expect("requests"), sent);
    let answered = run["ok"].as_u64().expect("ok") + run["errors"].as_u64().expect("errors");
    assert_eq!(answered + past, sent);
}
