//! The terminal summary on stderr: a crawl's figures in rows that fit 80 columns (and none for a
//! plain range), failures named as the limit when most requests failed, no advice to go higher
//! when the top level of a sweep already sent every id at once; and the table's columns: `error`,
//! a crawl's `key`, and the wait's two when requests waited at their host.

use std::collections::HashSet;
use std::process::Output;
use std::time::Duration;

use crate::common::cmd::Cmd;
use crate::common::run::stderr;
use crate::common::{Behaviour, TestServer, PAGES, PAGE_ITEMS};

/// The summary's sentences each on one line, whatever the wrapping to 80 columns.
fn unwrapped(out: &Output) -> String {
    stderr(out).replace("\n  ", " ")
}

/// The summary's lines wider than an 80-column terminal.
fn too_wide(text: &str) -> Vec<String> {
    text.lines()
        .filter(|l| l.chars().count() > 80)
        .map(str::to_owned)
        .collect()
}

/// The cells of the summary row labelled `label`, one per run (cells are apart by two spaces or
/// more, and hold single spaces only).
fn row(text: &str, label: &str) -> Option<Vec<String>> {
    let line = text.lines().find(|l| {
        l.strip_prefix(label)
            .is_some_and(|rest| rest.starts_with("  "))
    })?;
    Some(
        line[label.len()..]
            .split("  ")
            .map(str::trim)
            .filter(|c| !c.is_empty())
            .map(str::to_owned)
            .collect(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crawl_has_rows_of_its_own_that_fit_eighty_columns() {
    let server = TestServer::start(Behaviour::default()).await;
    let url = format!("http://{}/pages/0", server.addr);
    let out = Cmd::url(&url)
        .words("--next next --follow results[*].url -f name -m both")
        .run()
        .await;
    let text = stderr(&out);
    assert_eq!(out.status.code(), Some(0), "{text}");
    assert_eq!(too_wide(&text), Vec::<String>::new(), "{text}");
    let items = PAGES * PAGE_ITEMS;
    let both = |cell: String| Some(vec![cell.clone(), cell]);
    assert_eq!(
        row(&text, "crawl depth 0"),
        both(format!("{PAGES} (0 failed)")),
        "{text}"
    );
    assert_eq!(
        row(&text, "crawl depth 1"),
        both(format!("{items} (0 failed)")),
        "{text}"
    );
    assert_eq!(
        row(&text, "next pages"),
        both((PAGES - 1).to_string()),
        "{text}"
    );
    assert_eq!(row(&text, "duplicate links"), both("0".into()), "{text}");
    assert_eq!(row(&text, "crawl"), None, "no one-line crawl row: {text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_plain_range_with_a_stop_rule_has_no_crawl_rows_but_says_where_it_stopped() {
    let server =
        TestServer::start(Behaviour::default().with_not_found((11..=40).collect::<HashSet<u64>>()))
            .await;
    let out = Cmd::url(server.template())
        .words("-r 1..=40 --stop-after-missing 3 -m concurrent")
        .run()
        .await;
    let text = stderr(&out);
    assert_eq!(out.status.code(), Some(0), "{text}");
    assert!(
        !text.lines().any(|l| l.starts_with("crawl")),
        "no crawl rows for a plain range: {text}"
    );
    assert!(!text.contains("0 pages"), "{text}");
    assert!(!text.contains("next pages"), "{text}");
    assert!(
        unwrapped(&out).contains(
            "concurrent c=50 run: stopped after 3 consecutive missing ids from 11 \
             (--stop-after-missing 3)"
        ),
        "{text}"
    );
    assert_eq!(too_wide(&text), Vec::<String>::new(), "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn when_every_request_is_refused_failures_are_the_limit_and_none_is_slowest() {
    // Nothing listens there: every connection is refused.
    let addr = crate::common::server::dead_addr();
    let url = format!("http://{addr}/x/{{}}");
    let out = Cmd::url(&url)
        .words("-r 1..=20 -m concurrent --retries 0")
        .run()
        .await;
    let text = unwrapped(&out);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(
        text.contains("concurrent c=50 run: achieved")
            && text.contains("limited by failures: 20 of 20 requests failed (connect×20)"),
        "{text}"
    );
    assert!(!text.contains("limited by the server"), "{text}");
    assert!(
        !text.contains("slowest ids"),
        "a refusal is not a slow id: {text}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sweep_whose_top_level_sent_every_id_at_once_does_not_say_try_higher() {
    let server =
        TestServer::start(Behaviour::default().with_delay(|_| Duration::from_millis(40))).await;
    let out = Cmd::url(server.template())
        .words("-r 1..=8 -c 1,8 -m concurrent")
        .run()
        .await;
    let text = unwrapped(&out);
    assert_eq!(out.status.code(), Some(0), "{text}");
    // One at a time takes 8 delays, all at once about one: the top level is best by far.
    assert!(
        text.contains("no knee to find: c=8 gave the best rate")
            && text.contains("with all 8 requests in flight at once"),
        "{text}"
    );
    assert!(!text.contains("try higher levels"), "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_table_has_the_error_column_with_the_failure() {
    let server = TestServer::start(Behaviour::default().with_not_found([2])).await;
    let out = Cmd::url(server.template())
        .words("-r 1..=3 -f name --format table -q")
        .exits(1)
        .await;
    let table = String::from_utf8_lossy(&out.stdout);
    let lines: Vec<&str> = table.lines().collect();
    assert_eq!(lines.len(), 4, "{table}");
    let header: Vec<&str> = lines[0].split_whitespace().collect();
    assert_eq!(
        header,
        ["id", "status", "elapsed_ms", "name", "error"],
        "{table}"
    );
    let error_at = lines[0].find("error").expect("error column");
    assert!(
        lines[2].trim_start().starts_with("2  ")
            && lines[2].get(error_at..) == Some("HTTP 404 Not Found"),
        "the failure's message under `error`: {table}"
    );
    assert!(
        lines[1].ends_with("item-1") && lines[3].ends_with("item-3"),
        "{table}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crawls_table_has_each_records_key_in_a_last_column() {
    let server = TestServer::start(Behaviour::default()).await;
    let url = format!("http://{}/pages/0", server.addr);
    let out = Cmd::url(&url)
        .words("--next next --follow results[*].url -f name --format table -q")
        .exits(0)
        .await;
    let table = String::from_utf8_lossy(&out.stdout);
    let lines: Vec<&str> = table.lines().collect();
    let items = usize::try_from(PAGES * PAGE_ITEMS).expect("a few items");
    assert_eq!(lines.len(), 1 + items, "{table}");
    let header: Vec<&str> = lines[0].split_whitespace().collect();
    assert_eq!(
        header,
        ["id", "status", "elapsed_ms", "name", "error", "key"],
        "{table}"
    );
    let key_at = lines[0].find("key").expect("key column");
    let keys: Vec<&str> = lines[1..]
        .iter()
        .map(|l| l.get(key_at..).unwrap_or(""))
        .collect();
    assert_eq!(keys[0], "1.0.0", "the first page's first link: {table}");
    let unique: HashSet<&str> = keys.iter().copied().collect();
    assert!(
        unique.len() == items && !unique.contains(""),
        "a key on every row, each its own: {table}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_table_has_wait_columns_when_requests_waited_at_their_host_and_none_otherwise() {
    // Requests are held at the server until two are in flight, so both places get taken.
    let server = TestServer::start(Behaviour {
        delay: Some(|_| Duration::from_millis(20)),
        gate: Some(2),
        ..Behaviour::default()
    })
    .await;
    let args =
        Cmd::url(server.template()).words("-r 1..=16 -m concurrent -c 8 -f name --format table -q");
    let out = args.clone().words("--host-concurrency 2").exits(0).await;
    let table = String::from_utf8_lossy(&out.stdout);
    let lines: Vec<&str> = table.lines().collect();
    assert_eq!(lines.len(), 17, "{table}");
    let header: Vec<&str> = lines[0].split_whitespace().collect();
    assert_eq!(
        header,
        [
            "id",
            "status",
            "elapsed_ms",
            "name",
            "error",
            "waited_ms",
            "wait_cause"
        ],
        "{table}"
    );
    let cause_at = lines[0].find("wait_cause").expect("wait_cause column");
    let (held, free): (Vec<&str>, Vec<&str>) = lines[1..]
        .iter()
        .partition(|l| l.get(cause_at..) == Some("host-concurrency"));
    assert!(!held.is_empty(), "eight workers for two places: {table}");
    for line in held {
        // The row's waited_ms, right-aligned to end where its header does.
        let ms: f64 = line[..cause_at]
            .split_whitespace()
            .last()
            .and_then(|cell| cell.parse().ok())
            .expect("milliseconds before the cause");
        assert!(ms > 0.0, "{table}");
    }
    assert!(
        free.iter()
            .all(|l| l.ends_with(char::is_alphanumeric) && l.len() < cause_at),
        "a row that did not wait has empty wait cells: {table}"
    );

    let plain = args.exits(0).await;
    let table = String::from_utf8_lossy(&plain.stdout);
    let header: Vec<&str> = table
        .lines()
        .next()
        .unwrap_or("")
        .split_whitespace()
        .collect();
    assert_eq!(
        header,
        ["id", "status", "elapsed_ms", "name", "error"],
        "no host limit, no wait columns: {table}"
    );
}
