//! APIs shaped unlike the fixture, on the one loopback server: bare arrays as pages, pages
//! without their list, bodies that are empty or start with a byte-order mark, cursors that
//! loop or end, next pages on another origin, word lists saved by Windows editors, and usage
//! errors that must leave the user's files as they were; and the user's likely slips: a `--next`
//! typo, a word list with no ids, a seed given twice, a key with a dot. Each checks that no id,
//! record, page or file is lost while the run says it went well.

use axum::extract::{Path, RawQuery};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use serde_json::{json, Value};

use crate::common::cmd::Cmd;
use crate::common::run::{fetchbench_with_stdin, read_json, records, stderr};
use crate::common::server;

/// The value of query parameter `name`, if given.
fn param(query: &Option<String>, name: &str) -> Option<String> {
    query.as_deref().unwrap_or("").split('&').find_map(|pair| {
        let (k, v) = pair.split_once('=')?;
        (k == name).then(|| v.to_owned())
    })
}

fn page_number(query: &Option<String>) -> u64 {
    param(query, "page")
        .and_then(|p| p.parse().ok())
        .unwrap_or(1)
}

fn json_body(body: impl Into<String>) -> Response {
    ([(header::CONTENT_TYPE, "application/json")], body.into()).into_response()
}

/// A bare array of three items a page, pages 1..=3, the next in a `Link` header and the total
/// of items in `X-Total-Count`, as json-server answers.
async fn bare(RawQuery(query): RawQuery, headers: HeaderMap) -> Response {
    let page = page_number(&query);
    let host = headers[header::HOST].to_str().unwrap_or("").to_owned();
    let items: Vec<Value> = (0..3).map(|i| json!({"n": page * 10 + i})).collect();
    let mut response = json_body(json!(items).to_string());
    let h = response.headers_mut();
    h.insert("x-total-count", "9".parse().unwrap());
    if page < 3 {
        let link = format!("<http://{host}/bare?page={}>; rel=\"next\"", page + 1);
        h.insert(header::LINK, link.parse().unwrap());
    }
    response
}

/// Page 1 and 5 list one item under `results`; page 2 is an error document sent with a 200,
/// page 3 has an object where the list goes, page 4 a null list (Go writes an empty slice so).
async fn shaky(RawQuery(query): RawQuery) -> Response {
    let page = page_number(&query);
    json_body(
        match page {
            2 => json!({"error": "busy, try later"}),
            3 => json!({"results": {"n": 3}}),
            4 => json!({"results": null}),
            _ => json!({"results": [{"n": page}]}),
        }
        .to_string(),
    )
}

/// A cursor API: `mode=loop` names A, B, A; `mode=empty` an empty token; `mode=number` 7, 8.
async fn cursor(RawQuery(query): RawQuery) -> Response {
    let at = param(&query, "c").unwrap_or_default();
    let mode = param(&query, "mode").unwrap_or_default();
    let next = match (mode.as_str(), at.as_str()) {
        ("loop", "") | ("loop", "B") => json!("A"),
        ("loop", "A") => json!("B"),
        ("empty", "") => json!(""),
        ("number", "") => json!(7),
        ("number", "7") => json!(8),
        _ => Value::Null,
    };
    json_body(json!({"data": [{"at": at}], "next": next}).to_string())
}

/// Page 1 names its next page relative to itself (`far?page=2`, on this origin), page 2 a page
/// on another origin (`localhost` instead of `127.0.0.1`: the same server under another name).
async fn near(RawQuery(query): RawQuery, headers: HeaderMap) -> Response {
    let page = page_number(&query);
    let port = headers[header::HOST]
        .to_str()
        .unwrap_or("")
        .rsplit(':')
        .next()
        .unwrap_or("")
        .to_owned();
    let next = match page {
        1 => json!("near?page=2"),
        _ => json!(format!("http://localhost:{port}/far?page=3")),
    };
    json_body(json!({"data": [{"page": page}], "next": next}).to_string())
}

/// The port this request came in on, from its `Host` header.
fn port_of(headers: &HeaderMap) -> String {
    headers[header::HOST]
        .to_str()
        .unwrap_or("")
        .rsplit(':')
        .next()
        .unwrap_or("")
        .to_owned()
}

/// One page of one item whose next page is on another origin (`localhost`).
async fn hop(Path(n): Path<String>, headers: HeaderMap) -> Response {
    let next = format!("http://localhost:{}/far?from={n}", port_of(&headers));
    json_body(json!({"data": [{"page": n}], "next": next}).to_string())
}

/// A list whose one link is on another origin (`localhost`).
async fn away(headers: HeaderMap) -> Response {
    let link = format!("http://localhost:{}/far", port_of(&headers));
    json_body(json!({"results": [{"url": link}]}).to_string())
}

/// A bare array of one item naming the word, and no next page.
async fn one(Path(word): Path<String>) -> Response {
    json_body(json!([{"w": word}]).to_string())
}

/// Keys with a dot in them beside the nesting a dotted path names.
async fn dotted() -> Response {
    json_body(r#"{"k.d": 1, "k": {"d": 2}, "a": {"b.c": [3, 4]}}"#)
}

async fn far() -> Response {
    json_body(r#"{"data": [{"page": 3}], "next": null}"#)
}

/// Any word: the test reads how it was encoded from what the server saw.
async fn word() -> Response {
    StatusCode::OK.into_response()
}

async fn bom() -> Response {
    json_body("\u{feff}{\"name\": \"with a BOM\"}")
}

async fn empty() -> Response {
    json_body("")
}

async fn start() -> server::Server {
    server::spawn(
        Router::new()
            .route("/bare", get(bare))
            .route("/shaky", get(shaky))
            .route("/cursor", get(cursor))
            .route("/near", get(near))
            .route("/far", get(far))
            .route("/hop/{n}", get(hop))
            .route("/away", get(away))
            .route("/one/{word}", get(one))
            .route("/dotted", get(dotted))
            .route("/w/{word}", get(word))
            .route("/bom", get(bom))
            .route("/empty", get(empty)),
    )
    .await
}

/// One field of every record, in order (null where the record has none).
fn column(out: &std::process::Output, field: &str) -> Vec<Value> {
    records(out)
        .iter()
        .map(|r| r["fields"][field].clone())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bare_array_chain_by_link_header_and_a_range_by_total_header_give_every_item() {
    let server = start().await;
    let every: Vec<Value> = [10, 11, 12, 20, 21, 22, 30, 31, 32]
        .into_iter()
        .map(Value::from)
        .collect();
    let chain = Cmd::url(server.url("/bare?page=1")).words("--next link --items [*] -f n -q");
    assert_eq!(column(&chain.exits(0).await, "n"), every);
    let range = Cmd::url(server.url("/bare?page={}"))
        .words("--range 1.. --total header:X-Total-Count --items [*] -f n -q -m concurrent");
    assert_eq!(column(&range.exits(0).await, "n"), every);
}

/// A page of `--items` without its list (an error document with a 200, an object where the list
/// goes) used to leave no record at all and exit 0; it is a failure now. A null list is empty.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_page_of_items_without_its_list_is_a_failure_not_a_silent_gap() {
    let server = start().await;
    let out = Cmd::url(server.url("/shaky?page={}"))
        .words("-r 1..=5 --items results -f n -q -m concurrent")
        .exits(1)
        .await;
    let got: Vec<(Value, Value, Value)> = records(&out)
        .into_iter()
        .map(|r| {
            (
                r["id"].clone(),
                r["fields"]["n"].clone(),
                r["error"].clone(),
            )
        })
        .collect();
    assert_eq!(
        got,
        vec![
            (json!(1), json!(1), Value::Null),
            (
                json!(2),
                Value::Null,
                json!("--items results: the response holds nothing there, not a list")
            ),
            (
                json!(3),
                Value::Null,
                json!("--items results: the response holds an object there, not a list")
            ),
            (json!(5), json!(5), Value::Null),
        ]
    );
    // With a stop rule, a page without its list is where the range ends, as documented.
    let out = Cmd::url(server.url("/shaky?page={}"))
        .words("-r 1.. --until-empty results --items results -f n -q")
        .exits(0)
        .await;
    assert_eq!(column(&out, "n"), vec![json!(1)]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cursors_that_loop_end_empty_or_are_numbers() {
    let server = start().await;
    let run = |mode: &str, code: i32| {
        let cmd = Cmd::url(server.url(&format!("/cursor?mode={mode}")))
            .words("--next next --next-param c --items data -f at -q -m sequential");
        async move { cmd.exits(code).await }
    };
    let out = run("loop", 1).await;
    assert_eq!(column(&out, "at")[..3], [json!(""), json!("A"), json!("B")]);
    let last = records(&out).pop().expect("a loop's record");
    assert!(
        last["error"]
            .as_str()
            .unwrap_or("")
            .starts_with("pagination loop"),
        "{last}"
    );
    assert_eq!(column(&run("empty", 0).await, "at"), vec![json!("")]);
    assert_eq!(
        column(&run("number", 0).await, "at"),
        vec![json!(""), json!("7"), json!("8")]
    );
}

/// A next page on another origin obeys `--allow-origin` as a link does: its request would carry
/// the chain's headers, credentials among them, to a host the user never named.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_next_page_on_another_origin_is_not_requested_unless_allowed() {
    let server = start().await;
    let dir = tempfile::tempdir().unwrap();
    let report = dir.path().join("report.json");
    let resolve = format!("localhost:{}:127.0.0.1", server.addr.port());
    let cmd = Cmd::url(server.url("/near?page=1"))
        .words("--next next --items data -f page -q -m sequential")
        .flag("--resolve", &resolve)
        .report(&report);
    let out = cmd.exits(0).await;
    assert_eq!(column(&out, "page"), vec![json!(1), json!(2)]);
    assert_eq!(server.hits("/far"), 0, "the other origin was asked");
    assert_eq!(read_json(&report)["runs"][0]["crawl"]["out_of_scope"], 1);

    let allowed = cmd.flag(
        "--allow-origin",
        format!("http://localhost:{}", server.addr.port()),
    );
    let out = allowed.exits(0).await;
    assert_eq!(column(&out, "page"), vec![json!(1), json!(2), json!(3)]);
}

/// `--total header:NAME` reads a header; `--next header:NAME` used to be read as a body key no
/// page has, ending every chain at its first page with exit 0.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_next_page_in_a_header_other_than_link_is_refused_before_any_request() {
    let server = start().await;
    let out = Cmd::url(server.url("/cursor"))
        .words("--next header:X-Next-Cursor --next-param c --items data -f at -q")
        .exits(2)
        .await;
    assert!(
        stderr(&out).contains("--next: `header:X-Next-Cursor`: a next page is read from the body"),
        "{}",
        stderr(&out)
    );
    assert_eq!(server.requests(), 0);
}

/// CRLF line ends, blank lines, a last line without a newline, duplicates, words that need
/// percent-encoding, and a byte-order mark (Notepad's UTF-8) that used to stick to the first id.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_windows_word_list_gives_every_word_once_per_line_encoded_for_its_place() {
    let server = start().await;
    let dir = tempfile::tempdir().unwrap();
    let list = dir.path().join("words.txt");
    std::fs::write(
        &list,
        "\u{feff}first\r\n\r\na b\r\nx/y\r\nq?r#s\r\n100%\r\nünï\r\nfirst\r\nlast",
    )
    .unwrap();
    let out = Cmd::url(server.url("/w/{}"))
        .path("--ids", &list)
        .words("-q -m concurrent")
        .exits(0)
        .await;
    let ids: Vec<Value> = records(&out).iter().map(|r| r["id"].clone()).collect();
    let words = [
        "first", "a b", "x/y", "q?r#s", "100%", "ünï", "first", "last",
    ];
    assert_eq!(ids, words.map(Value::from));
    let paths: Vec<String> = server.seen().iter().map(|s| s.path.clone()).collect();
    for encoded in [
        "/w/first",
        "/w/a%20b",
        "/w/x%2Fy",
        "/w/q%3Fr%23s",
        "/w/100%25",
        "/w/%C3%BCn%C3%AF",
    ] {
        assert!(paths.iter().any(|p| p == encoded), "{encoded} in {paths:?}");
    }
}

/// A body with a byte-order mark is JSON (RFC 8259 lets a parser ignore the mark); an empty
/// body says it is empty rather than "EOF while parsing".
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_json_body_with_a_bom_is_read_and_an_empty_body_says_so() {
    let server = start().await;
    let out = Cmd::url(server.url("/bom"))
        .words("-n 1 -f name -q")
        .exits(0)
        .await;
    assert_eq!(column(&out, "name"), vec![json!("with a BOM")]);
    let out = Cmd::url(server.url("/empty"))
        .words("-n 1 -f name -q")
        .exits(1)
        .await;
    assert_eq!(
        records(&out)[0]["error"],
        "response is not JSON: the body is empty"
    );
}

/// A usage error (exit 2, nothing fetched) leaves the user's files as they were: the results
/// file used to be emptied by a bad `--report` or a word list refused after it was opened, and
/// an earlier report by a bad `-o`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_usage_error_leaves_the_results_and_the_report_as_they_were() {
    let server = start().await;
    let dir = tempfile::tempdir().unwrap();
    let results = dir.path().join("results.ndjson");
    let report = dir.path().join("report.json");
    let missing = dir.path().join("no-such-dir");
    let not_text = dir.path().join("ids.txt");
    std::fs::write(&not_text, b"a\xffb\n").unwrap();
    let kept = "{\"kept\":true}\n";
    let url = server.url("/w/{}");
    let refusals = [
        Cmd::url(&url)
            .words("-r 1..=3 -q")
            .out(&results)
            .report(&missing.join("r.json")),
        Cmd::url(&url)
            .words("-q")
            .path("--ids", &not_text)
            .out(&results)
            .report(&report),
        Cmd::url(&url)
            .words("-r 1..=3 -q")
            .out(&missing.join("r.ndjson"))
            .report(&report),
        Cmd::url(&url)
            .words("-r 1..=3 -q")
            .out(&results)
            .path("--html", &missing.join("h.html")),
    ];
    for cmd in refusals {
        std::fs::write(&results, kept).unwrap();
        std::fs::write(&report, kept).unwrap();
        cmd.exits(2).await;
        assert_eq!(
            std::fs::read_to_string(&results).unwrap(),
            kept,
            "{:?}",
            &*cmd
        );
        assert_eq!(
            std::fs::read_to_string(&report).unwrap(),
            kept,
            "{:?}",
            &*cmd
        );
    }
    assert_eq!(server.requests(), 0);
    // A run that starts replaces both.
    Cmd::url(&url)
        .words("-r 1..=3 -q")
        .out(&results)
        .report(&report)
        .exits(0)
        .await;
    assert_eq!(
        std::fs::read_to_string(&results).unwrap().lines().count(),
        3
    );
    assert_eq!(read_json(&report)["runs"][0]["ok"], 3);
}

/// `--next nxt` for a body's `next` used to end every chain at its first page with exit 0 and
/// no word; a next path no page held anything at is named as `-f` and `--follow` paths are. A
/// chain that ends at `next: null`, even on its first page, held it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_next_path_no_page_held_is_named_and_a_null_next_is_not() {
    let server = start().await;
    let dir = tempfile::tempdir().unwrap();
    let report = dir.path().join("report.json");
    let out = Cmd::url(server.url("/near?page=1"))
        .words("--next nxt --items data -f page -m sequential")
        .report(&report)
        .exits(0)
        .await;
    assert!(
        stderr(&out).contains("warning: --next nxt: matched nothing in any successful response"),
        "{}",
        stderr(&out)
    );
    assert_eq!(
        read_json(&report)["fields_never_matched"],
        json!(["--next nxt"])
    );
    for (url, words, pages) in [
        ("/far", "--next next --items data -f page", 0),
        (
            "/cursor?mode=number",
            "--next next --next-param c --items data -f at",
            2,
        ),
    ] {
        let out = Cmd::url(server.url(url))
            .words(words)
            .report(&report)
            .exits(0)
            .await;
        assert!(!stderr(&out).contains("warning"), "{}", stderr(&out));
        let run = read_json(&report);
        assert_eq!(run["fields_never_matched"], json!([]), "{url}");
        assert_eq!(run["runs"][0]["crawl"]["pages"], pages, "{url}");
    }
    // `--next link` against pages with no `Link` header at all, then against a chain of them.
    let out = Cmd::url(server.url("/near?page=1"))
        .words("--next link --items data -f page -m sequential")
        .report(&report)
        .exits(0)
        .await;
    assert!(
        stderr(&out).contains("warning: --next link: no successful page had a Link header"),
        "{}",
        stderr(&out)
    );
    assert_eq!(
        read_json(&report)["fields_never_matched"],
        json!(["--next link"])
    );
    let out = Cmd::url(server.url("/bare"))
        .words("--next link --items [*] -f n -m sequential")
        .report(&report)
        .exits(0)
        .await;
    assert!(!stderr(&out).contains("warning"), "{}", stderr(&out));
    assert_eq!(read_json(&report)["fields_never_matched"], json!([]));
}

/// A chain that ended at a next page on another origin says so once per origin, with the flag
/// that allows it; links found by `--follow` on another origin are skipped without a word.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_chain_ended_by_an_out_of_scope_next_page_names_its_origin_once() {
    let server = start().await;
    let origin = format!("http://localhost:{}", server.addr.port());
    let dir = tempfile::tempdir().unwrap();
    let report = dir.path().join("report.json");
    let out = Cmd::url(server.url("/hop/{}"))
        .words("-r 1..=3 --next next --items data -f page -m sequential")
        .report(&report)
        .exits(0)
        .await;
    let said = stderr(&out);
    let warning = format!(
        "warning: --next: 3 chains ended at a next page on {origin}, another origin, not \
         requested; add --allow-origin {origin} to follow them"
    );
    assert_eq!(said.matches(&warning).count(), 1, "{said}");
    assert_eq!(server.hits("/far"), 0);
    // The report counts them too, by origin.
    let crawl = &read_json(&report)["runs"][0]["crawl"];
    assert_eq!(
        crawl["next_out_of_scope"],
        json!({ origin.as_str(): 3 }),
        "{crawl}"
    );
    let out = Cmd::url(server.url("/away"))
        .words("--follow results[*].url -f page -m sequential")
        .exits(0)
        .await;
    assert!(!stderr(&out).contains("--allow-origin"), "{}", stderr(&out));
    // Quiet is quiet.
    let out = Cmd::url(server.url("/hop/{}"))
        .words("-r 1..=2 --next next --items data -f page -q")
        .exits(0)
        .await;
    assert_eq!(stderr(&out), "");
}

/// A word list with no ids (empty, or blank lines and comments only) used to run no request and
/// exit 0; it is refused. Stdin may be empty on purpose (a pipeline that found nothing): a note.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_word_list_without_ids_is_refused_and_an_empty_stdin_noted() {
    let server = start().await;
    let dir = tempfile::tempdir().unwrap();
    let list = dir.path().join("ids.txt");
    for text in ["", "\n  \n# only a comment\r\n#\n"] {
        std::fs::write(&list, text).unwrap();
        let out = Cmd::url(server.url("/w/{}"))
            .path("--ids", &list)
            .words("-q")
            .exits(2)
            .await;
        let said = stderr(&out);
        assert!(
            said.contains(&format!("--ids: {}: no ids in the file", list.display())),
            "{said}"
        );
    }
    assert_eq!(server.requests(), 0);
    for mode in ["sequential", "both"] {
        let cmd = Cmd::url(server.url("/w/{}")).words(&format!("--ids - -m {mode}"));
        let out = fetchbench_with_stdin(&*cmd, "# nothing today\n".to_owned()).await;
        assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
        assert!(
            stderr(&out).contains("note: --ids -: stdin held no ids"),
            "{}",
            stderr(&out)
        );
    }
    assert_eq!(server.requests(), 0);
}

/// A crawl requests each canonical URL once: a seed given twice used to be fetched twice and its
/// keys written twice (`a.0.0`), against "a key is unique in a run". The first stands, the
/// others are dropped and said so. A flat run fetches an id as often as it is given.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crawl_seed_given_twice_is_fetched_and_written_once() {
    let server = start().await;
    let dir = tempfile::tempdir().unwrap();
    let list = dir.path().join("ids.txt");
    std::fs::write(&list, "a\nb\na\na\n").unwrap();
    let report = dir.path().join("report.json");
    let out = Cmd::url(server.url("/one/{}"))
        .path("--ids", &list)
        .words("--next link --items [*] -f w -m concurrent")
        .report(&report)
        .exits(0)
        .await;
    let keys: Vec<Value> = records(&out).iter().map(|r| r["key"].clone()).collect();
    assert_eq!(keys, vec![json!("a.0.0"), json!("b.0.0")]);
    assert_eq!(read_json(&report)["runs"][0]["crawl"]["duplicate_seeds"], 2);
    assert_eq!(server.hits("/one/a"), 1);
    assert!(
        stderr(&out).contains("note: 2 duplicate seeds dropped"),
        "{}",
        stderr(&out)
    );
    // Probing ahead with a stop rule, a seed dropped moves the window on as a page released does.
    let probed = dir.path().join("probed.txt");
    std::fs::write(&probed, "x\nx\nx\ny\nz\n").unwrap();
    let out = Cmd::url(server.url("/one/{}"))
        .path("--ids", &probed)
        .words("--until-empty [*] --next link --items [*] -f w -q")
        .exits(0)
        .await;
    let keys: Vec<Value> = records(&out).iter().map(|r| r["key"].clone()).collect();
    assert_eq!(keys, vec![json!("x.0.0"), json!("y.0.0"), json!("z.0.0")]);
    let flat = Cmd::url(server.url("/one/{}"))
        .path("--ids", &list)
        .words("-f [0].w -q")
        .exits(0)
        .await;
    assert_eq!(records(&flat).len(), 4);
}

/// `["k.d"]` names a key with a dot in it (jq's and JSONPath's bracket form); it used to be
/// refused as "unclosed `[`" though the bracket was closed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_with_a_dot_is_named_in_quotes_in_brackets() {
    let server = start().await;
    let out = Cmd::url(server.url("/dotted"))
        .flag("-f", r#"["k.d"]"#)
        .flag("-f", "k.d")
        .flag("-f", r#"a["b.c"][1]"#)
        .words("-n 1 -q")
        .exits(0)
        .await;
    let fields = &records(&out)[0]["fields"];
    assert_eq!(fields[r#"["k.d"]"#], 1);
    assert_eq!(fields["k.d"], 2);
    assert_eq!(fields[r#"a["b.c"][1]"#], 4);
    // JSONPath's `$.` and jq's leading `.` used to read a key named `$` (matching nothing, a
    // warning) or fail as an empty key; both are refused, before any request, with the path
    // to write.
    let hits = server.hits("/dotted");
    for (path, write) in [
        ("$.k.d", "write `k.d`"),
        (".a[\"b.c\"]", "write `a[\"b.c\"]`"),
    ] {
        let out = Cmd::url(server.url("/dotted"))
            .flag("-f", path)
            .words("-n 1 -q")
            .exits(2)
            .await;
        assert!(stderr(&out).contains(write), "{}", stderr(&out));
    }
    assert_eq!(server.hits("/dotted"), hits);
}
