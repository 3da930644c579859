//! A crawl's `frontier` in its results database: killed mid-way, a cursor crawl goes on from the
//! token it had saved instead of starting again from the first page, and a finished crawl
//! resumed has nothing left to fetch.

use rusqlite::types::Value as Sql;

use crate::common::run::{fetchbench, stderr};
use crate::common::{Behaviour, TestServer, LIST_ITEMS};
use crate::database::{kill, query, spawn, text, wait_for_rows};

/// Items per page of the cursor API in these tests: 24 pages of the 47 items.
const PER_PAGE: u64 = 2;

/// Every row as the results compare: key, URL, name and error (the timings aside).
fn rows(db: &std::path::Path) -> Vec<Vec<Sql>> {
    query(db, "SELECT key, url, name, error FROM records ORDER BY key")
}

/// A crawl of the cursor API at `url` by its `next_token`, each item's name to `db` (its value
/// last, so a test can swap it), with `extra` flags.
fn cursor_crawl<'a>(url: &'a str, extra: &[&'a str], db: &'a str) -> Vec<&'a str> {
    let mut args = vec!["--url", url, "--next", "meta.next_token"];
    args.extend([
        "--next-param",
        "pagination_token",
        "--items",
        "data",
        "-f",
        "name",
    ]);
    args.extend(extra);
    args.extend(["-m", "concurrent", "-o", db]);
    args
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cursor_crawl_killed_mid_way_goes_on_from_its_saved_token() {
    let server = TestServer::start(Behaviour::default()).await;
    let dir = tempfile::tempdir().expect("dir");
    let db = dir.path().join("cursor.sqlite");
    let db_arg = db.to_str().expect("utf-8").to_owned();
    let url = server.api(&format!("/api/cursor?max_results={PER_PAGE}"));
    // Paced, so the chain is still going when it is killed (24 pages take 3 s at least).
    let args = cursor_crawl(&url, &["--rate", "8/s"], &db_arg);
    let pages = LIST_ITEMS.div_ceil(PER_PAGE) as usize;
    let mut child = spawn(&args);
    let done = 5 * PER_PAGE as i64;
    wait_for_rows(&db, "SELECT count(*) FROM records", done, &mut child).await;
    kill(child);
    let before = server.list_hits();
    assert!(before < pages, "killed mid-way: {before} pages fetched");
    let pending: Vec<String> = query(&db, "SELECT url FROM frontier WHERE done = 0")
        .iter()
        .map(|r| text(&r[0]))
        .collect();
    // The next page is saved with its token, the one way to ask for it.
    assert!(
        pending.len() == 1 && pending[0].contains("pagination_token=c"),
        "{pending:?}"
    );

    let mut resume = args.to_vec();
    resume.push("--resume");
    let out = fetchbench(&resume).await;
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("the crawl goes on from its frontier: 1 requests pending"),
        "{}",
        stderr(&out)
    );
    // Each page once, but the one in flight and the one fetched and not yet committed when
    // killed: starting again from the first page would fetch the pages done a second time.
    let fetched = server.list_hits();
    assert!(
        fetched <= pages + 2,
        "{fetched} pages fetched for {pages} ({before} before the kill)"
    );
    assert_eq!(
        query(&db, "SELECT count(*) FROM frontier WHERE done = 0"),
        [[Sql::Integer(0)]],
        "nothing left pending"
    );

    let whole = dir.path().join("whole.sqlite");
    let whole_arg = whole.to_str().expect("utf-8").to_owned();
    let mut again = args.to_vec();
    *again.last_mut().expect("-o value") = &whole_arg;
    let out = fetchbench(&again).await;
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let resumed = rows(&db);
    assert_eq!(resumed.len() as u64, LIST_ITEMS);
    assert_eq!(resumed, rows(&whole));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_finished_crawl_resumed_fetches_nothing_again_and_keeps_its_rows() {
    let server = TestServer::start(Behaviour::default()).await;
    let dir = tempfile::tempdir().expect("dir");
    let db = dir.path().join("crawl.sqlite");
    let db_arg = db.to_str().expect("utf-8").to_owned();
    let url = server.api("/api/cursor?max_results=10");
    let args = cursor_crawl(&url, &[], &db_arg);
    let out = fetchbench(&args).await;
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let first = rows(&db);
    assert_eq!(first.len() as u64, LIST_ITEMS);
    let pages = LIST_ITEMS.div_ceil(10) as i64;
    assert_eq!(server.list_hits() as i64, pages);
    let kinds = query(
        &db,
        "SELECT kind, done, count(*) FROM frontier GROUP BY kind, done ORDER BY kind",
    );
    assert_eq!(
        kinds,
        [
            vec![
                Sql::Text("page".into()),
                Sql::Integer(1),
                Sql::Integer(pages - 1)
            ],
            vec![Sql::Text("seed".into()), Sql::Integer(1), Sql::Integer(1)]
        ],
        "every page done, none pending"
    );

    let mut resume = args.to_vec();
    resume.push("--resume");
    let out = fetchbench(&resume).await;
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(server.list_hits() as i64, pages, "a page was fetched again");
    assert_eq!(rows(&db), first);
}
