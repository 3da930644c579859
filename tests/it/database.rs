//! Results in a SQLite database (`-o results.sqlite`): real database files read back with
//! rusqlite, a reader during the run, `kill -9` then `--resume`, another job's database refused,
//! bad paths refused before any request, and shard databases merged (each row as its shard wrote
//! it, column by column).

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use rusqlite::types::Value as Sql;
use rusqlite::{Connection, OpenFlags};
use serde_json::{json, Value};

use crate::common::cmd::Cmd;
use crate::common::run::{fetchbench, records, stderr, BIN};
use crate::common::{Behaviour, TestServer, PAGES, PAGE_ITEMS, STALL_ID, STALL_PAGE_HITS};

/// The rows `sql` selects from the database at `path`, read-only.
pub(crate) fn query(path: &Path, sql: &str) -> Vec<Vec<Sql>> {
    let conn = Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_ONLY)
        .expect("open the database");
    let mut stmt = conn.prepare(sql).expect("prepare");
    let width = stmt.column_count();
    stmt.query_map([], |r| (0..width).map(|i| r.get::<_, Sql>(i)).collect())
        .expect("query")
        .collect::<Result<_, _>>()
        .expect("rows")
}

pub(crate) fn int(v: &Sql) -> i64 {
    match v {
        Sql::Integer(n) => *n,
        other => panic!("not an integer: {other:?}"),
    }
}

pub(crate) fn text(v: &Sql) -> String {
    match v {
        Sql::Text(t) => t.clone(),
        other => panic!("not text: {other:?}"),
    }
}

/// A run of the binary in the background (its output discarded), to be killed.
pub(crate) fn spawn(args: &[&str]) -> Child {
    Command::new(BIN)
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start fetchbench")
}

/// Polls the database (as another reader would) until `sql`'s count reaches `n`, while `child`
/// still runs; returns the count seen.
pub(crate) async fn wait_for_rows(path: &Path, sql: &str, n: i64, child: &mut Child) -> i64 {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let count = if path.exists() {
            let conn =
                Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_ONLY).expect("open");
            conn.query_row(sql, [], |r| r.get::<_, i64>(0)).unwrap_or(0)
        } else {
            0
        };
        assert!(
            child.try_wait().expect("child status").is_none(),
            "the run ended before {n} rows were committed ({count})"
        );
        if count >= n {
            return count;
        }
        assert!(
            Instant::now() < deadline,
            "only {count} of {n} rows committed"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

pub(crate) fn kill(mut child: Child) {
    child.kill().expect("SIGKILL");
    child.wait().expect("reap");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_rows_are_the_ndjson_records_with_their_types_and_each_run_its_own() {
    let server = TestServer::start(Behaviour {
        not_found: [3, 8].into(),
        ..Behaviour::default()
    })
    .await;
    let dir = tempfile::tempdir().expect("dir");
    let db = dir.path().join("results.sqlite");
    let template = server.template();
    let args = |extra: &[&str]| -> Vec<String> {
        [
            "--url",
            template.as_str(),
            "--range",
            "1..=10",
            "-f",
            "name",
            "-f",
            "tags",
            "-f",
            "nested.even",
            "-f",
            "id",
            "--retries",
            "0",
        ]
        .iter()
        .chain(extra)
        .map(|s| s.to_string())
        .collect()
    };
    let to_db = args(&["-m", "both", "-o", db.to_str().expect("utf-8")]);
    let out = fetchbench(&to_db.iter().map(String::as_str).collect::<Vec<_>>()).await;
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let ndjson = args(&["-m", "concurrent"]);
    let out = fetchbench(&ndjson.iter().map(String::as_str).collect::<Vec<_>>()).await;
    let expected = records(&out);
    assert_eq!(expected.len(), 10);

    let runs = query(
        &db,
        "SELECT run, mode, concurrency, command, version, ended_at, report FROM runs ORDER BY run",
    );
    assert_eq!(runs.len(), 2);
    assert_eq!(
        (text(&runs[0][1]), text(&runs[1][1])),
        ("sequential".into(), "concurrent".into())
    );
    assert_eq!((int(&runs[0][2]), int(&runs[1][2])), (1, 50));
    assert!(
        text(&runs[0][3]).starts_with("fetchbench --url"),
        "{:?}",
        runs[0][3]
    );
    let report: Value = serde_json::from_str(&text(&runs[1][6])).expect("the run's report");
    assert_eq!(
        (report["requests"].as_u64(), report["errors"].as_u64()),
        (Some(10), Some(2))
    );
    assert_eq!(
        query(&db, "SELECT run, count(*) FROM records GROUP BY run"),
        [
            [Sql::Integer(1), Sql::Integer(10)],
            [Sql::Integer(2), Sql::Integer(10)]
        ]
    );

    let rows = query(
        &db,
        "SELECT id, url, status, http_version, bytes, attempts, error_kind, error, name, tags, \
         \"nested.even\", \"fields.id\", typeof(id), typeof(name), typeof(tags), \
         typeof(\"nested.even\"), typeof(elapsed_ms) FROM records WHERE run = 2 ORDER BY rowid",
    );
    for (row, record) in rows.iter().zip(&expected) {
        let id = record["id"].as_i64().expect("id");
        assert_eq!(int(&row[0]), id);
        assert_eq!(text(&row[1]), record["url"].as_str().expect("url"));
        assert_eq!(int(&row[2]), record["status"].as_i64().expect("status"));
        assert_eq!(
            text(&row[3]),
            record["http_version"].as_str().expect("version")
        );
        assert_eq!(int(&row[4]), record["bytes"].as_i64().expect("bytes"));
        assert_eq!(int(&row[5]), record["attempts"].as_i64().expect("attempts"));
        if record["error"].is_null() {
            assert_eq!((&row[6], &row[7]), (&Sql::Null, &Sql::Null));
            let fields = &record["fields"];
            assert_eq!(text(&row[8]), fields["name"].as_str().expect("name"));
            let tags: Value = serde_json::from_str(&text(&row[9])).expect("a list as JSON");
            assert_eq!(tags, fields["tags"]);
            assert_eq!(Value::from(int(&row[10]) == 1), fields["nested.even"]);
            assert_eq!(int(&row[11]), fields["id"].as_i64().expect("field id"));
            let types: Vec<String> = row[12..].iter().map(text).collect();
            assert_eq!(types, ["integer", "text", "text", "integer", "real"]);
        } else {
            assert_eq!(text(&row[6]), "status");
            assert_eq!(text(&row[7]), record["error"].as_str().expect("error"));
            assert_eq!(row[8], Sql::Null);
        }
    }
    assert_eq!(rows.len(), expected.len());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reader_sees_rows_during_the_run_and_a_killed_run_resumes_where_it_stopped() {
    let server = TestServer::start(Behaviour::default()).await;
    let dir = tempfile::tempdir().expect("dir");
    let db = dir.path().join("flat.sqlite");
    let db_arg = db.to_str().expect("utf-8").to_owned();
    let route = server.route("stall-once");
    let args = [
        "--url",
        &route,
        "--range",
        "1..=12",
        "-m",
        "sequential",
        "-f",
        "name",
        "-o",
        &db_arg,
    ];
    let mut child = spawn(&args);
    server.wait_for_hits(STALL_ID as u32).await;
    // Ids before the stalled one are committed while the run still goes on.
    let seen = wait_for_rows(
        &db,
        "SELECT count(*) FROM records",
        STALL_ID as i64 - 1,
        &mut child,
    )
    .await;
    assert_eq!(seen, STALL_ID as i64 - 1);
    kill(child);

    let mut resume = args.to_vec();
    resume.push("--resume");
    let out = fetchbench(&resume).await;
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("6 records already done, 0 failed ones to fetch again"),
        "{}",
        stderr(&out)
    );
    let hits = server.hits();
    for id in 1..=12u64 {
        // The stalled id was in flight, not committed: fetched again; nothing else was.
        let expected = if id == STALL_ID { 2 } else { 1 };
        assert_eq!(hits.get(&id), Some(&expected), "id {id}: {hits:?}");
    }
    let rows = query(&db, "SELECT id, name, error FROM records ORDER BY id");
    let ids: Vec<i64> = rows.iter().map(|r| int(&r[0])).collect();
    assert_eq!(ids, (1..=12).collect::<Vec<_>>());
    assert!(rows
        .iter()
        .all(|r| r[2] == Sql::Null && text(&r[1]).starts_with("item-")));
}

/// The results of a crawl as rows to compare: key, URL, depth, parent, status, name.
pub(crate) fn crawl_rows(db: &Path) -> Vec<Vec<Sql>> {
    query(
        db,
        "SELECT key, url, depth, parent, status, name, error FROM records ORDER BY key, url",
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crawl_killed_mid_way_resumes_without_fetching_a_committed_leaf_or_page_again() {
    let server = TestServer::start(Behaviour::default()).await;
    let dir = tempfile::tempdir().expect("dir");
    let db = dir.path().join("crawl.sqlite");
    let db_arg = db.to_str().expect("utf-8").to_owned();
    let seed = format!("http://{}/stall-pages/0", server.addr);
    let args = [
        "--url",
        &seed,
        "--next",
        "next",
        "--follow",
        "results[*].url",
        "-f",
        "name",
        "-m",
        "concurrent",
        "-c",
        "4",
        "-o",
        &db_arg,
    ];
    let mut child = spawn(&args);
    // Until the stalled leaf is asked for: the rows before it can then all be committed.
    let deadline = Instant::now() + Duration::from_secs(30);
    while !server.hits().contains_key(&STALL_ID) {
        assert!(Instant::now() < deadline, "leaf {STALL_ID} never asked for");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    wait_for_rows(&db, "SELECT count(*) FROM records", 3, &mut child).await;
    kill(child);
    let committed: Vec<String> = query(&db, "SELECT url FROM records")
        .iter()
        .map(|r| text(&r[0]))
        .collect();
    let pages_done: Vec<String> = query(&db, "SELECT url FROM frontier WHERE done = 1")
        .iter()
        .map(|r| text(&r[0]))
        .collect();
    let before = server.hits();

    let mut resume = args.to_vec();
    resume.push("--resume");
    let out = fetchbench(&resume).await;
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let after = server.hits();
    let leaves = PAGES * PAGE_ITEMS;
    for id in 1..=leaves {
        let url = format!("http://{}/stall-once/{id}", server.addr);
        let was = before.get(&id).copied().unwrap_or(0);
        // A committed leaf is not fetched again; any other one exactly once more.
        let expected = if committed.contains(&url) {
            was
        } else {
            was + 1
        };
        assert_eq!(after.get(&id).copied().unwrap_or(0), expected, "leaf {id}");
        assert!(expected <= 2, "leaf {id} fetched {expected} times");
    }
    assert!(
        committed.len() >= 3
            && !committed
                .iter()
                .any(|u| u.ends_with(&format!("/{STALL_ID}"))),
        "{committed:?}"
    );
    for page in 0..PAGES {
        // A committed page is not fetched again (the frontier goes on from it); one fetched
        // but not committed (in the last batch, or held behind the stalled leaf) once more.
        let key = STALL_PAGE_HITS + page;
        let url = format!("http://{}/stall-pages/{page}", server.addr);
        let was = before.get(&key).copied().unwrap_or(0);
        let now = after.get(&key).copied().unwrap_or(0);
        if pages_done.contains(&url) {
            assert_eq!(now, was, "page {page} was committed: {pages_done:?}");
        }
        assert!(now <= 2, "page {page} fetched {now} times");
    }
    assert!(
        pages_done.iter().any(|u| u.ends_with("/stall-pages/0")),
        "the first page was committed: {pages_done:?}"
    );

    let whole = dir.path().join("whole.sqlite");
    let whole_arg = whole.to_str().expect("utf-8").to_owned();
    let mut again = args.to_vec();
    *again.last_mut().expect("-o value") = &whole_arg;
    let out = fetchbench(&again).await;
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let resumed = crawl_rows(&db);
    assert_eq!(resumed.len() as u64, leaves);
    assert_eq!(resumed, crawl_rows(&whole));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_jobs_database_is_refused_and_left_as_it_was() {
    let server = TestServer::start(Behaviour::default()).await;
    let dir = tempfile::tempdir().expect("dir");
    let db = dir.path().join("job.sqlite");
    let db_arg = db.to_str().expect("utf-8");
    let template = server.template();
    let base = ["--url", &template, "-m", "concurrent", "-o", db_arg];
    let out = fetchbench(&[&base[..], &["-f", "name", "--range", "1..=5"]].concat()).await;
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let bytes = std::fs::read(&db).expect("read the database");
    let hits = server.total_hits();

    for other in [
        vec!["-f", "tags", "--resume", "--range", "1..=5"],
        vec!["-f", "name", "--resume", "--range", "1..=6"],
        vec!["-f", "name", "--resume", "--range", "1..=5", "-c", "1,4"],
    ] {
        let mut args = base.to_vec();
        args.extend(other);
        let out = fetchbench(&args).await;
        let text = stderr(&out);
        assert_eq!(out.status.code(), Some(2), "{text}");
        assert!(
            text.contains("job.sqlite: holds the results of another job, not resumed and not changed; it differs in:"),
            "{text}"
        );
        assert_eq!(std::fs::read(&db).expect("read again"), bytes, "{args:?}");
        assert_eq!(server.total_hits(), hits, "a request was made: {args:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_directory_a_file_of_another_kind_and_a_locked_database_are_refused_before_any_request() {
    let server = TestServer::start(Behaviour::default()).await;
    let dir = tempfile::tempdir().expect("dir");
    let template = server.template();
    let run = |path: &Path, extra: &[&str]| {
        let path = path.to_str().expect("utf-8").to_owned();
        let mut args: Vec<String> = ["--url", &template, "--range", "1..=3", "-o", &path]
            .iter()
            .map(|s| s.to_string())
            .collect();
        args.extend(extra.iter().map(|s| s.to_string()));
        args
    };
    let folder = dir.path().join("folder.sqlite");
    std::fs::create_dir(&folder).expect("mkdir");
    let notes = dir.path().join("notes.sqlite");
    std::fs::write(&notes, "my notes, not a database\n").expect("write");
    let foreign = dir.path().join("foreign.sqlite");
    Connection::open(&foreign)
        .and_then(|c| {
            c.execute_batch("CREATE TABLE accounts(id INTEGER); INSERT INTO accounts VALUES(1)")
        })
        .expect("another program's database");
    let locked = dir.path().join("locked.sqlite");
    let out = fetchbench(
        &run(&locked, &["-m", "concurrent"])
            .iter()
            .map(String::as_str)
            .collect::<Vec<_>>(),
    )
    .await;
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let hits = server.total_hits();
    let holder = Connection::open(&locked).expect("open");
    holder
        .execute_batch("BEGIN IMMEDIATE")
        .expect("hold the write lock");

    for (path, resume, message) in [
        (
            &folder,
            false,
            "folder.sqlite: is a directory, not a database file",
        ),
        (
            &notes,
            false,
            "notes.sqlite: not a SQLite database (not overwritten)",
        ),
        (
            &notes,
            true,
            "notes.sqlite: not a SQLite database (not overwritten)",
        ),
        (
            &foreign,
            false,
            "foreign.sqlite: a SQLite database fetchbench did not write",
        ),
        (&locked, false, "locked.sqlite: locked by another program"),
        (&locked, true, "locked.sqlite: locked by another program"),
    ] {
        let extra: &[&str] = if resume {
            &["-m", "concurrent", "--resume"]
        } else {
            &["-m", "concurrent"]
        };
        let args = run(path, extra);
        let out = fetchbench(&args.iter().map(String::as_str).collect::<Vec<_>>()).await;
        let text = stderr(&out);
        assert_eq!(out.status.code(), Some(2), "{text}");
        assert!(text.contains(message), "{message}: {text}");
        assert_eq!(text.lines().count(), 1, "{text}");
    }
    assert_eq!(server.total_hits(), hits, "a request was made");
    assert_eq!(
        std::fs::read_to_string(&notes).expect("notes"),
        "my notes, not a database\n"
    );
    drop(holder);
    let out = fetchbench(&["--format", "sqlite", "--range", "1..=3"]).await;
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("--format: sqlite writes a database file"),
        "{}",
        stderr(&out)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shard_databases_merge_into_the_single_runs_database_and_ndjson() {
    let server = TestServer::start(Behaviour {
        not_found: [4].into(),
        ..Behaviour::default()
    })
    .await;
    let dir = tempfile::tempdir().expect("dir");
    let template = server.template();
    let path = |name: &str| dir.path().join(name).to_str().expect("utf-8").to_owned();
    let job = [
        "--url",
        &template,
        "--range",
        "1..=15",
        "-m",
        "both",
        "-f",
        "name",
        "-f",
        "tags",
        "--retries",
        "0",
    ];
    for (shard, file) in [("0/2", "s0.sqlite"), ("1/2", "s1.sqlite")] {
        let out = fetchbench(&[&job[..], &["--shard", shard, "-o", &path(file)]].concat()).await;
        // Only the shard with id 4 (a 404) exits 1.
        assert!(matches!(out.status.code(), Some(0 | 1)), "{}", stderr(&out));
    }
    let out = fetchbench(&[&job[..], &["-o", &path("single.sqlite")]].concat()).await;
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let shards = [path("s0.sqlite"), path("s1.sqlite")];
    let out = fetchbench(&[
        "merge",
        "--results",
        &shards[0],
        &shards[1],
        "-o",
        &path("merged.sqlite"),
    ])
    .await;
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("merged 30 records from 2 databases"),
        "{}",
        stderr(&out)
    );

    let untimed = "SELECT run, id, key, url, status, bytes, error_kind, error, name, tags FROM records ORDER BY run, rowid";
    let merged = query(Path::new(&path("merged.sqlite")), untimed);
    assert_eq!(merged.len(), 30);
    assert_eq!(merged, query(Path::new(&path("single.sqlite")), untimed));

    // As NDJSON: the last run's records, as an NDJSON run of the job writes them.
    let out = fetchbench(&["merge", "--results", &shards[0], &shards[1]]).await;
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let single = fetchbench(&job).await;
    let strip = |records: Vec<Value>| -> Vec<Value> {
        records
            .into_iter()
            .map(|mut r| {
                let object = r.as_object_mut().expect("object");
                for key in [
                    "elapsed_ms",
                    "scheduled_s",
                    "started_s",
                    "finished_s",
                    "timing",
                    "waited_ms",
                ] {
                    object.remove(key);
                }
                r
            })
            .collect()
    };
    let merged = strip(records(&out));
    assert_eq!(merged.len(), 15);
    assert_eq!(merged, strip(records(&single)));
    assert_eq!(
        merged[3]["error"],
        json!("HTTP 404 Not Found"),
        "{}",
        merged[3]
    );

    // Databases of different jobs are not merged.
    let other = path("other.sqlite");
    let out = fetchbench(&[
        "--url", &template, "--range", "1..=15", "-m", "both", "-f", "name", "-o", &other,
    ])
    .await;
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let out = fetchbench(&[
        "merge",
        "--results",
        &shards[0],
        &other,
        "-o",
        &path("bad.sqlite"),
    ])
    .await;
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("other.sqlite: the results of another job"),
        "{}",
        stderr(&out)
    );
    assert!(!dir.path().join("bad.sqlite").exists());
}

/// Every row of `records` with its columns' names, keyed by run, id and key, read-only.
fn rows_by_record(path: &Path) -> (Vec<String>, Vec<(String, Vec<Sql>)>) {
    let conn = Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_ONLY)
        .expect("open the database");
    let mut stmt = conn
        .prepare("SELECT * FROM records ORDER BY run, rowid")
        .expect("prepare");
    let names: Vec<String> = stmt.column_names().into_iter().map(str::to_owned).collect();
    let rows = stmt
        .query_map([], |r| {
            (0..names.len()).map(|i| r.get::<_, Sql>(i)).collect()
        })
        .expect("query")
        .map(|row: rusqlite::Result<Vec<Sql>>| {
            let row = row.expect("a row");
            // run, id and key: a record's own in its run.
            (format!("{:?}", &row[..3]), row)
        })
        .collect();
    (names, rows)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_merged_row_is_the_shard_runs_row_column_by_column() {
    let server = TestServer::start(Behaviour::default().with_not_found([3])).await;
    let dir = tempfile::tempdir().expect("dir");
    let path = |name: &str| dir.path().join(name);
    let pages = format!("http://{}/pages/{{}}", server.addr);
    // Every kind of value a row holds: integers, reals, text, null; a field named like a fixed
    // column; a list, an object and a boolean; a failure; a crawl's key, depth and parent.
    let jobs = [
        Cmd::url(server.template())
            .words("-r 1..=12 -m both -f id -f name -f tags -f nested -f nested.even -f absent")
            .words("--retries 0 -q"),
        Cmd::url(&pages).words("-r 0..=3 --follow results[*].url -f name -m both -q"),
    ];
    for (j, job) in jobs.into_iter().enumerate() {
        let shards: Vec<_> = (0..2)
            .map(|i| path(&format!("job{j}-s{i}.sqlite")))
            .collect();
        for (i, shard) in shards.iter().enumerate() {
            let out = job
                .clone()
                .flag("--shard", format!("{i}/2"))
                .out(shard)
                .run()
                .await;
            assert!(matches!(out.status.code(), Some(0 | 1)), "{}", stderr(&out));
        }
        let merged = path(&format!("job{j}-merged.sqlite"));
        Cmd::new()
            .words("merge --results")
            .args(shards.iter().map(|s| s.to_str().expect("utf-8")))
            .out(&merged)
            .exits(0)
            .await;

        let (names, rows) = rows_by_record(&merged);
        let mut written = Vec::new();
        for shard in &shards {
            let (shard_names, shard_rows) = rows_by_record(shard);
            assert_eq!(shard_names, names, "the same columns");
            assert!(!shard_rows.is_empty(), "job {j}: each shard has its part");
            written.extend(shard_rows);
        }
        assert_eq!(rows.len(), written.len(), "job {j}: every row merged once");
        for (record, row) in &rows {
            let (_, theirs) = written
                .iter()
                .find(|(r, _)| r == record)
                .unwrap_or_else(|| panic!("job {j}: {record} is in no shard"));
            for ((name, merged), shard) in names.iter().zip(row).zip(theirs) {
                assert_eq!(merged, shard, "job {j}: {record}'s {name}");
            }
        }
        let kinds = |i: usize| -> Vec<&str> {
            rows.iter()
                .map(|(_, row)| match row[i] {
                    Sql::Null => "null",
                    Sql::Integer(_) => "integer",
                    Sql::Real(_) => "real",
                    Sql::Text(_) => "text",
                    Sql::Blob(_) => "blob",
                })
                .collect()
        };
        let column = |name: &str| names.iter().position(|n| n == name).expect(name);
        if j == 0 {
            assert!(
                kinds(column("error")).contains(&"text"),
                "a failure was merged"
            );
            assert!(kinds(column("fields.id")).contains(&"integer"));
            assert!(kinds(column("nested")).contains(&"text"));
            assert!(kinds(column("absent")).iter().all(|k| *k == "null"));
        } else {
            assert!(
                kinds(column("key")).iter().all(|k| *k == "text"),
                "a crawl's keys"
            );
            assert!(
                kinds(column("parent")).contains(&"text"),
                "a crawl's parents"
            );
        }
        assert!(kinds(column("elapsed_ms")).iter().all(|k| *k == "real"));
    }
}
