//! The `fetchbench` binary as users run it: exit codes 0/1/2, messages, formats and the report,
//! against a real loopback server started by the test (or the built-in fixture server).

use crate::common::cmd::Cmd;
use crate::common::run::{assert_said, fetchbench, fetchbench_with_stdin, records, stderr};
use crate::common::{scrambled_delay, Behaviour, TestServer};
use serde_json::Value;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn all_ok_exits_0_with_ndjson_in_id_order() {
    let server = TestServer::start(Behaviour::default().with_delay(scrambled_delay)).await;
    let out = Cmd::url(server.template())
        .words("-r 1..=40 -m concurrent -c 10 -f name -f tags[*] -f missing")
        .exits(0)
        .await;
    let records = records(&out);
    let ids: Vec<u64> = records.iter().map(|r| r["id"].as_u64().unwrap()).collect();
    assert_eq!(ids, (1..=40).collect::<Vec<_>>());
    let r7 = &records[6];
    assert_eq!(r7["status"], 200);
    assert_eq!(r7["error"], Value::Null);
    assert_eq!(r7["fields"]["name"], "item-7");
    assert_eq!(r7["fields"]["tags[*]"], serde_json::json!(["t7", "u7"]));
    assert_eq!(r7["fields"]["missing"], Value::Null);
    assert!(r7["elapsed_ms"].as_f64().unwrap() > 0.0);
    assert!(r7["bytes"].as_u64().unwrap() > 0);
    assert_eq!(r7["url"], format!("http://{}/item/7", server.addr));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_request_exits_1_and_is_recorded() {
    let server = TestServer::start(Behaviour::default().with_not_found([2])).await;
    let out = Cmd::url(server.template())
        .words("-r 1..4 -m concurrent -q")
        .exits(1)
        .await;
    let records = records(&out);
    assert_eq!(records.len(), 3);
    assert_eq!(records[1]["status"], 404);
    assert!(records[1]["error"].as_str().unwrap().contains("404"));
    assert_eq!(records[2]["error"], Value::Null);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_exits_2_naming_the_flag_and_fetches_nothing() {
    let server = TestServer::start(Behaviour::default()).await;
    let url = server.template();
    let dir = tempfile::tempdir().unwrap();
    let unwritable = dir.path().join("no/such/dir/out.ndjson");
    let unwritable = unwritable.to_str().unwrap();
    let cases: &[(&[&str], &str)] = &[
        (&["-r", "abc"], "--range"),
        (&["-r", "151..1"], "--range"),
        (&["--rate", "fast"], "--rate"),
        (&["-c", "0"], "--concurrency"),
        (&["-f", "a["], "--field"),
        (&["--timeout", "soon"], "--timeout"),
        (&["-H", "no colon"], "--header"),
        (&["--format", "xml"], "--format"),
        (&["-o", unwritable], "--output"),
        (&["--report", unwritable], "--report"),
        (&["--html", unwritable], "--html"),
        (&["--user-agent", "bad\nagent"], "--user-agent"),
        (&["-c", "4,x"], "--concurrency"),
    ];
    for (args, flag) in cases {
        let mut all = vec!["--url", url.as_str()];
        all.extend_from_slice(args);
        let out = fetchbench(&all).await;
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert!(
            err.contains(flag),
            "{args:?}: message does not name {flag}: {err}"
        );
        assert_eq!(
            err.trim().lines().count(),
            1,
            "{args:?}: not one line: {err}"
        );
        assert!(!err.contains("panicked"), "{err}");
    }
    let urls: &[(&str, &str)] = &[
        ("ftp://example.com/{}", "scheme"),
        ("http://[::1/{}", "not a valid URL"),
        ("http://127.0.0.1/item/1", "placeholder"),
    ];
    for (url, words) in urls {
        let out = Cmd::url(url).run().await;
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(2), "{url}: {err}");
        assert!(err.contains("--url") && err.contains(words), "{url}: {err}");
    }
    assert_eq!(server.total_hits(), 0, "a usage error must fetch nothing");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn both_modes_are_reported_side_by_side_with_a_json_report() {
    let server = TestServer::start(
        Behaviour::default().with_delay(|_| std::time::Duration::from_millis(10)),
    )
    .await;
    let dir = tempfile::tempdir().unwrap();
    let report_path = dir.path().join("report.json");
    let out = Cmd::url(server.template())
        .words("-r 1..=20 -c 10 -f name")
        .report(&report_path)
        .exits(0)
        .await;
    // Both runs hit every id; only the last run's records are written.
    assert!(server.hits().values().all(|&n| n == 2));
    assert_eq!(records(&out).len(), 20);
    let err = stderr(&out);
    assert!(
        err.contains("sequential") && err.contains("concurrent"),
        "{err}"
    );
    assert!(err.contains("concurrent (c=10) ran"), "{err}");

    let report: Value =
        serde_json::from_str(&std::fs::read_to_string(&report_path).unwrap()).unwrap();
    let runs = report["runs"].as_array().unwrap();
    assert_eq!(runs.len(), 2);
    assert_eq!(runs[0]["mode"], "sequential");
    assert_eq!(runs[0]["concurrency"], 1);
    assert_eq!(runs[1]["mode"], "concurrent");
    assert_eq!(runs[1]["concurrency"], 10);
    for run in runs {
        for key in [
            "rate", "requests", "ok", "errors", "wall_s", "rps", "bytes", "status",
        ] {
            assert!(run.get(key).is_some(), "run lacks {key}: {run}");
        }
        for key in ["min", "mean", "p50", "p90", "p99", "p999", "max"] {
            assert!(
                run["latency_ms"][key].as_f64().unwrap() >= 10.0,
                "{key}: {run}"
            );
        }
        assert_eq!(run["requests"], 20);
        assert_eq!(run["status"]["200"], 20);
    }
    let speedup = report["speedup"].as_f64().unwrap();
    let ratio = runs[0]["wall_s"].as_f64().unwrap() / runs[1]["wall_s"].as_f64().unwrap();
    assert!((speedup - ratio).abs() < 1e-9);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn csv_and_table_formats() {
    let server = TestServer::start(Behaviour::default()).await;
    let dir = tempfile::tempdir().unwrap();
    let csv_path = dir.path().join("out.csv");
    let out = Cmd::url(server.template())
        .words("-r 1..=3 -m concurrent -f name -f nested.even")
        .out(&csv_path)
        .words("-q")
        .exits(0)
        .await;
    assert!(out.stdout.is_empty());
    let csv = std::fs::read_to_string(&csv_path).unwrap();
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(
        lines[0],
        "id,status,elapsed_ms,name,nested.even,error,waited_ms,wait_cause"
    );
    assert_eq!(lines.len(), 4);
    assert!(
        lines[2].starts_with("2,200,") && lines[2].ends_with(",item-2,true,,,"),
        "{}",
        lines[2]
    );

    let out = Cmd::url(server.template())
        .words("-r 9..=10 -m sequential -f name --format table -q")
        .run()
        .await;
    let table = String::from_utf8_lossy(&out.stdout);
    let rows: Vec<&str> = table.lines().collect();
    assert_eq!(rows.len(), 3, "{table}");
    assert!(rows[0]
        .split_whitespace()
        .eq(["id", "status", "elapsed_ms", "name", "error"]));
    let first: Vec<&str> = rows[1].split_whitespace().collect();
    assert_eq!(
        (first[0], first[1], first[3]),
        ("9", "200", "item-9"),
        "{table}"
    );
    assert!(rows[2].ends_with("item-10"), "{table}");
}

/// `unix_s` and `text` are the same instant to the millisecond, `text` in `…T…:…:….mmmZ` form.
fn assert_same_instant(unix_s: &Value, text: &Value) {
    let (unix_s, text) = (unix_s.as_f64().unwrap(), text.as_str().unwrap());
    let shape = text.len() == 24
        && text.as_bytes()[10] == b'T'
        && text.as_bytes()[19] == b'.'
        && text.ends_with('Z');
    assert!(shape, "{text:?} is not RFC 3339 UTC to the millisecond");
    let parsed = humantime::parse_rfc3339(text).unwrap();
    let parsed_s = parsed
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64();
    assert!(
        (parsed_s - unix_s).abs() <= 0.0005 + 1e-6,
        "{text} is not {unix_s}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn report_times_come_as_unix_seconds_and_as_rfc3339() {
    let dir = tempfile::tempdir().unwrap();
    let report = dir.path().join("report.json");
    let merged = dir.path().join("merged.json");
    let path = |p: &std::path::Path| p.to_str().unwrap().to_owned();
    Cmd::new()
        .words("-r 1..=5 --latency 0 -o /dev/null -q")
        .flag("--report", path(&report))
        .exits(0)
        .await;
    // A report from before the RFC 3339 fields still merges, and the merge has them.
    let old = dir.path().join("old.json");
    let mut without: Value =
        serde_json::from_str(&std::fs::read_to_string(&report).unwrap()).unwrap();
    for run in without["runs"].as_array_mut().unwrap() {
        let run = run.as_object_mut().unwrap();
        assert!(
            run.remove("started_at_rfc3339").is_some() && run.remove("ended_at_rfc3339").is_some()
        );
    }
    std::fs::write(&old, without.to_string()).unwrap();
    Cmd::new()
        .words("merge")
        .arg(path(&old))
        .flag("-o", path(&merged))
        .exits(0)
        .await;
    for file in [&report, &merged] {
        let report: Value = serde_json::from_str(&std::fs::read_to_string(file).unwrap()).unwrap();
        let runs = report["runs"].as_array().unwrap();
        assert_eq!(runs.len(), 2, "{report}");
        for run in runs {
            assert_same_instant(&run["started_at"], &run["started_at_rfc3339"]);
            assert_same_instant(&run["ended_at"], &run["ended_at_rfc3339"]);
        }
    }
}

/// `ids` as a word list, one per line, with the comments, blank lines and padding a reader skips.
fn word_list(ids: &[u64]) -> String {
    let mut text = String::from("# ids to fetch\n\n");
    for (i, id) in ids.iter().enumerate() {
        match i % 3 {
            0 => text.push_str(&format!("{id}\n")),
            1 => text.push_str(&format!("  {id}\t\n\n")),
            _ => text.push_str(&format!("{id}\r\n# after {id}\n")),
        }
    }
    text
}

/// The report's runs: mode, requests, planned.
fn run_summaries(report: &Value) -> Vec<(String, u64, Option<u64>)> {
    report["runs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["mode"].as_str().unwrap().to_owned(),
                r["requests"].as_u64().unwrap(),
                r["planned"].as_u64(),
            )
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ids_on_stdin_feed_both_runs_every_id_once_per_run_in_order() {
    let server = TestServer::start(Behaviour::default().with_delay(scrambled_delay)).await;
    let dir = tempfile::tempdir().unwrap();
    let report = dir.path().join("report.json");
    // Not sorted, so "in order" means the list's order, not the ids'.
    let ids: Vec<u64> = (1..=60).map(|n| (n * 37) % 61).collect();
    let out = fetchbench_with_stdin(
        &[
            "--url",
            &server.template(),
            "--ids",
            "-",
            "-c",
            "8",
            "-f",
            "name",
            "-q",
            "--report",
            report.to_str().unwrap(),
        ],
        word_list(&ids),
    )
    .await;
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let records = records(&out);
    let written: Vec<u64> = records.iter().map(|r| r["id"].as_u64().unwrap()).collect();
    assert_eq!(written, ids, "the last run's records, in the list's order");
    assert_eq!(records[0]["fields"]["name"], format!("item-{}", ids[0]));
    let hits = server.hits();
    assert_eq!(hits.len(), ids.len());
    assert!(
        hits.values().all(|&n| n == 2),
        "each id once per run: {hits:?}"
    );
    let report: Value = serde_json::from_str(&std::fs::read_to_string(&report).unwrap()).unwrap();
    let n = ids.len() as u64;
    assert_eq!(
        run_summaries(&report),
        [
            ("sequential".to_owned(), n, Some(n)),
            ("concurrent".to_owned(), n, Some(n))
        ],
        "both runs read every id, counted from the spool"
    );

    // A sweep reads the ids once per level too (its second run used to find stdin at its end).
    let sweep = TestServer::start(Behaviour::default()).await;
    let out = fetchbench_with_stdin(
        &[
            "--url",
            &sweep.template(),
            "--ids",
            "-",
            "-m",
            "concurrent",
            "-c",
            "2,5",
            "-q",
        ],
        word_list(&ids[..20]),
    )
    .await;
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(sweep.hits().len(), 20);
    assert!(sweep.hits().values().all(|&n| n == 2), "{:?}", sweep.hits());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stdin_ids_shard_and_resume_alike_in_every_run() {
    let server = TestServer::start(Behaviour::default()).await;
    let dir = tempfile::tempdir().unwrap();
    let report = dir.path().join("report.json");
    let output = dir.path().join("out.ndjson");
    let ids: Vec<u64> = (1..=10).rev().collect();
    let (url, report_arg, output_arg) = (
        server.template(),
        report.to_str().unwrap().to_owned(),
        output.to_str().unwrap().to_owned(),
    );
    let args = |extra: &[&'static str]| {
        let mut args = vec!["--url", url.as_str(), "--ids", "-", "-c", "3", "-q"];
        args.extend(["--report", report_arg.as_str()]);
        args.extend(extra.iter().map(|arg| match *arg {
            "OUTPUT" => output_arg.as_str(),
            arg => arg,
        }));
        args
    };
    // Shard 1 of 2 takes positions 1, 3, 5, ... of the list, in both runs.
    let out = fetchbench_with_stdin(&args(&["--shard", "1/2"]), word_list(&ids)).await;
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let shard: Vec<u64> = ids.iter().copied().skip(1).step_by(2).collect();
    let written: Vec<u64> = records(&out)
        .iter()
        .map(|r| r["id"].as_u64().unwrap())
        .collect();
    assert_eq!(written, shard);
    let mut hit: Vec<u64> = server.hits().into_keys().collect();
    hit.sort_unstable();
    let mut expected = shard.clone();
    expected.sort_unstable();
    assert_eq!(hit, expected);
    assert!(server.hits().values().all(|&n| n == 2));
    let report_json: Value =
        serde_json::from_str(&std::fs::read_to_string(&report).unwrap()).unwrap();
    assert!(run_summaries(&report_json)
        .iter()
        .all(|(_, requests, planned)| *requests == 5 && *planned == Some(5)));

    // The first four ids fetched earlier; --resume fetches the other six, in each run.
    let first = fetchbench_with_stdin(
        &args(&["-m", "sequential", "-o", "OUTPUT"]),
        word_list(&ids[..4]),
    )
    .await;
    assert_eq!(first.status.code(), Some(0), "{}", stderr(&first));
    let before = server.hits();
    let out = fetchbench_with_stdin(&args(&["--resume", "-o", "OUTPUT"]), word_list(&ids)).await;
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let after = server.hits();
    for id in &ids {
        let again = after.get(id).copied().unwrap_or(0) - before.get(id).copied().unwrap_or(0);
        let want = if ids[..4].contains(id) { 0 } else { 2 };
        assert_eq!(again, want, "id {id}");
    }
    let report_json: Value =
        serde_json::from_str(&std::fs::read_to_string(&report).unwrap()).unwrap();
    assert!(run_summaries(&report_json)
        .iter()
        .all(|(_, requests, planned)| *requests == 6 && *planned == Some(6)));
    let all = crate::common::run::records_in(&std::fs::read(&output).unwrap());
    let written: Vec<u64> = all.iter().map(|r| r["id"].as_u64().unwrap()).collect();
    assert_eq!(written, ids, "the earlier four, then the rest in order");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_word_list_file_reports_how_many_ids_it_planned() {
    let dir = tempfile::tempdir().unwrap();
    let list = dir.path().join("ids.txt");
    let report = dir.path().join("report.json");
    std::fs::write(&list, word_list(&[25, 4, 151, 7, 1, 150, 3])).unwrap();
    for (shard, planned) in [(None, 7), (Some("0/3"), 3), (Some("2/3"), 2)] {
        let mut args = vec![
            "--ids",
            list.to_str().unwrap(),
            "--latency",
            "0",
            "-o",
            "/dev/null",
            "-q",
            "--report",
            report.to_str().unwrap(),
        ];
        if let Some(shard) = shard {
            args.extend(["--shard", shard]);
        }
        let out = fetchbench(&args).await;
        assert_eq!(out.status.code(), Some(0), "{shard:?}: {}", stderr(&out));
        let report: Value =
            serde_json::from_str(&std::fs::read_to_string(&report).unwrap()).unwrap();
        for run in report["runs"].as_array().unwrap() {
            assert_eq!(run["planned"], planned, "{shard:?}: {run}");
            assert_eq!(run["requests"], planned, "{shard:?}");
            assert_eq!(run["not_fetched"], 0, "{shard:?}");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_csv_row_says_why_in_its_error_column_as_ndjson_does() {
    let server = TestServer::start(Behaviour::default().with_not_found([2])).await;
    let dir = tempfile::tempdir().unwrap();
    let csv_path = dir.path().join("out.csv");
    let args = Cmd::url(server.template()).words("-r 1..=3 -m sequential -f name -q");
    let to_csv = args.clone().out(&csv_path);
    let out = fetchbench(&to_csv).await;
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let mut reader = csv::Reader::from_path(&csv_path).unwrap();
    assert_eq!(
        reader.headers().unwrap().iter().collect::<Vec<_>>(),
        [
            "id",
            "status",
            "elapsed_ms",
            "name",
            "error",
            "waited_ms",
            "wait_cause"
        ]
    );
    let rows: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
    let cells = |i: usize| (&rows[i][0], &rows[i][1], &rows[i][3], &rows[i][4]);
    assert_eq!(cells(0), ("1", "200", "item-1", ""));
    assert_eq!(cells(2), ("3", "200", "item-3", ""));
    let (id, status, name, error) = cells(1);
    assert_eq!((id, status, name), ("2", "404", ""));
    assert!(error.contains("404"), "{error:?}");

    let ndjson = records(&fetchbench(&args).await);
    assert_eq!(
        ndjson[1]["error"], error,
        "the same words as NDJSON's error"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_url_the_builtin_fixture_serves_real_pokeapi_documents() {
    let out = Cmd::new()
        .words("-r 1..=151 -m concurrent --latency 0 -f name --no-progress")
        .exits(0)
        .await;
    assert_said(&out, "built-in fixture server");
    let names: Vec<String> = records(&out)
        .iter()
        .map(|r| r["fields"]["name"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(names.len(), 151);
    assert_eq!(names[0], "bulbasaur");
    assert_eq!(names[24], "pikachu");
    assert_eq!(names[149], "mewtwo");
    assert_eq!(names[150], "mew");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn latency_flags_belong_to_the_fixture_only() {
    let out = Cmd::url("http://127.0.0.1:9/{}")
        .words("--latency 5ms")
        .exits(2)
        .await;
    assert_said(&out, "--latency");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn completions_and_man_page_come_from_the_cli_definition() {
    for shell in ["bash", "zsh", "fish"] {
        let out = Cmd::new().words("completions").arg(shell).run().await;
        assert_eq!(out.status.code(), Some(0), "{shell}");
        let script = String::from_utf8_lossy(&out.stdout);
        assert!(
            script.contains("fetchbench") && script.contains("--concurrency"),
            "{shell}"
        );
    }
    let out = Cmd::new().words("man").exits(0).await;
    let page = String::from_utf8_lossy(&out.stdout);
    assert!(page.contains(".TH fetchbench 1"), "{page}");
    assert!(
        page.contains("\\-\\-rate"),
        "flags are documented in the man page"
    );
}
