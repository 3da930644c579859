//! Beyond one machine: shards as separate processes against one local server, their exact merge,
//! the merged results, `compare` as a CI gate, Kubernetes' JOB_COMPLETION_INDEX, the manifest.

use std::process::{Command, Output};
use std::time::Duration;

use crate::common::cmd::Cmd;
use crate::common::run::{ids_in_file, read_json, BIN};
use crate::common::{Behaviour, TestServer};
use serde_json::Value;

async fn fetchbench(args: Cmd, env: Vec<(&'static str, String)>) -> Output {
    tokio::task::spawn_blocking(move || Command::new(BIN).args(args).envs(env).output().unwrap())
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn four_shards_fetch_each_id_once_and_merge_exactly() {
    let server = TestServer::start(
        Behaviour::default().with_delay(|id| Duration::from_micros(id % 7 * 300)),
    )
    .await;
    let dir = tempfile::tempdir().unwrap();
    let path = |name: String| dir.path().join(name).to_str().unwrap().to_owned();
    let shards = (0..4).map(|i| {
        fetchbench(
            Cmd::url(server.template())
                .words("-r 1..10001 -m concurrent -c 16")
                .flag("--shard", format!("{i}/4"))
                .flag("-o", path(format!("results-{i}.ndjson")))
                .flag("--report", path(format!("report-{i}.json")))
                .words("-q"),
            vec![],
        )
    });
    for out in futures_util::future::join_all(shards).await {
        assert_eq!(
            out.status.code(),
            Some(0),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let hits = server.hits();
    assert_eq!(hits.len(), 10_000);
    assert!(
        hits.values().all(|&n| n == 1),
        "every id fetched exactly once across the shards"
    );

    let reports: Vec<String> = (0..4).map(|i| path(format!("report-{i}.json"))).collect();
    let mut merge = Cmd::new()
        .words("merge")
        .flag("-o", path("merged.json".into()));
    merge.extend(reports.clone());
    let out = fetchbench(merge, vec![]).await;
    assert_eq!(out.status.code(), Some(0), "{}", stderr_of(&out));
    let merged = read_json(&dir.path().join("merged.json"));
    let run = &merged["runs"][0];
    assert_eq!(run["requests"], 10_000);
    assert_eq!(run["status"]["200"], 10_000);
    assert_eq!(merged["shard"]["count"], 4);

    // The percentiles of all samples, from the records themselves (elapsed is kept to the µs).
    let mut all = hdrhistogram::Histogram::<u64>::new_with_bounds(1, 3_600_000_000, 3).unwrap();
    let mut lines = Vec::new();
    for i in 0..4 {
        for line in std::fs::read_to_string(dir.path().join(format!("results-{i}.ndjson")))
            .unwrap()
            .lines()
        {
            let record: Value = serde_json::from_str(line).unwrap();
            let micros = (record["elapsed_ms"].as_f64().unwrap() * 1000.0).round() as u64;
            all.record(micros.max(1)).unwrap();
            lines.push(record["id"].as_u64().unwrap());
        }
    }
    for (key, q) in [("p50", 0.5), ("p90", 0.9), ("p99", 0.99), ("p999", 0.999)] {
        let expected = all.value_at_quantile(q) as f64 / 1000.0;
        assert_eq!(run["latency_ms"][key].as_f64().unwrap(), expected, "{key}");
    }
    assert_eq!(
        run["latency_ms"]["max"].as_f64().unwrap(),
        all.max() as f64 / 1000.0
    );

    let mut merge_results = Cmd::new()
        .words("merge --results")
        .flag("-o", path("all.ndjson".into()));
    merge_results.extend((0..4).map(|i| path(format!("results-{i}.ndjson"))));
    let out = fetchbench(merge_results, vec![]).await;
    assert_eq!(out.status.code(), Some(0));
    let ids = ids_in_file(&dir.path().join("all.ndjson"));
    assert_eq!(ids, (1..10001).collect::<Vec<_>>());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn compare_fails_on_a_slowed_down_server_and_passes_on_an_unchanged_one() {
    let fast = TestServer::start(Behaviour::default()).await;
    let slow = TestServer::start(
        Behaviour::default()
            .with_delay(|_| Duration::from_millis(30))
            .with_not_found([3, 5]),
    )
    .await;
    let dir = tempfile::tempdir().unwrap();
    let path = |name: &str| dir.path().join(name).to_str().unwrap().to_owned();
    for (server, name, code) in [(&fast, "base.json", 0), (&slow, "slow.json", 1)] {
        let out = fetchbench(
            Cmd::url(server.template())
                .words("-r 1..=40 -m concurrent -c 4")
                .flag("--report", path(name))
                .words("-q"),
            vec![],
        )
        .await;
        assert_eq!(out.status.code(), Some(code));
    }
    let out = fetchbench(
        Cmd::new()
            .words("compare")
            .arg(path("base.json"))
            .arg(path("slow.json"))
            .words("--fail-if-slower 10%"),
        vec![],
    )
    .await;
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("regression"));
    // Counts are whole numbers, not `2.000`.
    let errors = stdout
        .lines()
        .find(|l| l.trim_start().starts_with("errors"))
        .expect("an errors row");
    assert_eq!(
        errors.split_whitespace().collect::<Vec<_>>(),
        ["errors", "0", "2", "-"],
        "{stdout}"
    );
    // Another server is another job: said on stderr, naming what differs.
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("warning: the reports are of different jobs (they differ in url ("),
        "{err}"
    );
    let out = fetchbench(
        Cmd::new()
            .words("compare")
            .arg(path("base.json"))
            .arg(path("base.json")),
        vec![],
    )
    .await;
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(String::from_utf8_lossy(&out.stderr), "");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn job_completion_index_picks_the_shard() {
    let server = TestServer::start(Behaviour::default()).await;
    let dir = tempfile::tempdir().unwrap();
    let report = dir.path().join("report.json");
    let out = fetchbench(
        Cmd::url(server.template())
            .words("-r 0..20 -m concurrent")
            .report(&report)
            .words("-q"),
        vec![
            ("JOB_COMPLETION_INDEX", "2".into()),
            ("FETCHBENCH_SHARDS", "4".into()),
        ],
    )
    .await;
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let ids: Vec<u64> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| {
            serde_json::from_str::<Value>(l).unwrap()["id"]
                .as_u64()
                .unwrap()
        })
        .collect();
    assert_eq!(ids, [2, 6, 10, 14, 18]);
    let report = read_json(&report);
    assert_eq!(report["shard"]["index"], 2);
    assert_eq!(report["shard"]["count"], 4);
    assert_eq!(report["runs"][0]["planned"], 5);
}

#[test]
fn the_kubernetes_manifest_is_an_indexed_job_with_what_it_needs() {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/deploy/k8s-indexed-job.yaml"
    ))
    .unwrap();
    let docs = yaml_rust2::YamlLoader::load_from_str(&text).expect("valid YAML");
    let job = &docs[0];
    assert_eq!(job["apiVersion"].as_str(), Some("batch/v1"));
    assert_eq!(job["kind"].as_str(), Some("Job"));
    let spec = &job["spec"];
    assert_eq!(spec["completionMode"].as_str(), Some("Indexed"));
    let completions = spec["completions"].as_i64().expect("completions");
    assert!(spec["parallelism"].as_i64().is_some());
    let pod = &spec["template"]["spec"];
    assert_eq!(pod["restartPolicy"].as_str(), Some("Never"));
    let container = &pod["containers"][0];
    assert!(container["image"].as_str().is_some());
    let shards = container["env"]
        .as_vec()
        .unwrap()
        .iter()
        .find(|e| e["name"].as_str() == Some("FETCHBENCH_SHARDS"))
        .expect("FETCHBENCH_SHARDS");
    assert_eq!(
        shards["value"].as_str(),
        Some(completions.to_string().as_str()),
        "shard count = completions"
    );
    let args = container["args"][0].as_str().unwrap();
    for needle in [
        "--report /results/",
        "--output /results/",
        "JOB_COMPLETION_INDEX",
    ] {
        assert!(args.contains(needle), "{needle}");
    }
    let mount = &container["volumeMounts"][0];
    assert_eq!(mount["mountPath"].as_str(), Some("/results"));
    assert_eq!(pod["volumes"][0]["name"].as_str(), mount["name"].as_str());
}

#[test]
fn merged_results_into_a_closed_pipe_end_quietly() {
    use std::io::{BufRead, BufReader, Write};
    let dir = tempfile::tempdir().unwrap();
    let mut files = Vec::new();
    for shard in 0..2u64 {
        let path = dir.path().join(format!("r{shard}.ndjson"));
        let mut file = std::fs::File::create(&path).unwrap();
        for id in (shard..20_000).step_by(2) {
            writeln!(
                file,
                r#"{{"id":{id},"status":200,"fields":{{"name":"{}"}}}}"#,
                "x".repeat(40)
            )
            .unwrap();
        }
        files.push(path);
    }
    let mut child = Command::new(BIN)
        .arg("merge")
        .arg("--results")
        .args(&files)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Like `| head -1`: read one line, then close the pipe while a megabyte is still to come.
    let mut first = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut first)
        .unwrap();
    assert!(first.starts_with(r#"{"id":0,"#), "{first}");
    let out = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{err}");
    assert!(!err.contains("error") && !err.contains("panicked"), "{err}");
}

/// Runs `fetchbench` over `template` with `extra` arguments, quietly; panics unless it exits 0.
async fn fetch_ok(template: &str, extra: &[&str]) {
    let mut args = Cmd::url(template).words("-m concurrent -q");
    args.extend(extra);
    let out = fetchbench(args, vec![]).await;
    assert_eq!(out.status.code(), Some(0), "{}", stderr_of(&out));
}

fn stderr_of(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn merge_refuses_reports_that_are_not_shards_of_one_job() {
    let server = TestServer::start(Behaviour::default()).await;
    let dir = tempfile::tempdir().unwrap();
    let path = |name: &str| dir.path().join(name).to_str().unwrap().to_owned();
    let template = server.template();
    for (name, extra) in [
        ("whole-a.json", vec!["-r", "1..=20"]),
        ("whole-b.json", vec!["-r", "1..=20"]),
        ("s0.json", vec!["-r", "1..=20", "--shard", "0/2"]),
        ("s1.json", vec!["-r", "1..=20", "--shard", "1/2"]),
        ("other-s1.json", vec!["-r", "1..=40", "--shard", "1/2"]),
        ("s1-of-3.json", vec!["-r", "1..=20", "--shard", "1/3"]),
    ] {
        let report = path(name);
        let mut extra = extra;
        extra.extend(["--report", report.as_str(), "-o", "/dev/null"]);
        fetch_ok(&template, &extra).await;
    }
    // An older merge at the output path must survive a refused merge untouched.
    std::fs::write(dir.path().join("merged.json"), "older\n").unwrap();
    for (files, says) in [
        (
            ["whole-a.json", "whole-b.json"],
            "whole-a.json is not a shard",
        ),
        (
            ["s0.json", "other-s1.json"],
            r#"are not shards of one job: they differ in ids ("range 1..=20" vs "range 1..=40")"#,
        ),
        (["s1.json", "s1.json"], "are both shard 1/2"),
        (["s0.json", "s1-of-3.json"], "is a shard of 3"),
    ] {
        let mut args = Cmd::new().words("merge").flag("-o", path("merged.json"));
        args.extend(files.iter().map(|f| path(f)));
        let out = fetchbench(args, vec![]).await;
        let err = stderr_of(&out);
        assert_eq!(out.status.code(), Some(2), "{files:?}: {err}");
        assert!(err.contains(says), "{files:?}: {err}");
        assert_eq!(err.lines().count(), 1, "one line: {err}");
        assert_eq!(
            std::fs::read_to_string(dir.path().join("merged.json")).unwrap(),
            "older\n"
        );
    }
    let mut args = Cmd::new().words("merge").flag("-o", path("merged.json"));
    args.extend([path("s0.json"), path("s1.json")]);
    let out = fetchbench(args, vec![]).await;
    assert_eq!(out.status.code(), Some(0), "{}", stderr_of(&out));
    let merged = read_json(&dir.path().join("merged.json"));
    assert_eq!(merged["runs"][0]["requests"], 20);
    assert_eq!(merged["job"], read_json(&dir.path().join("s0.json"))["job"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shards_that_ran_one_after_another_are_merged_with_a_note() {
    // Every request held until two are in flight: the two shards, one request at a time each,
    // are certainly running at one moment, and then for their 100 ms requests' time: far more
    // than the wall clock's imprecision in a report.
    let server = TestServer::start(
        Behaviour::default()
            .with_gate(2)
            .with_delay(|_| Duration::from_millis(100)),
    )
    .await;
    let dir = tempfile::tempdir().unwrap();
    let path = |name: &str| dir.path().join(name).to_str().unwrap().to_owned();
    let template = server.template();
    let shard = |i: usize, report: String| {
        let template = template.clone();
        async move {
            let shard = format!("{i}/2");
            fetch_ok(
                &template,
                &[
                    "-r",
                    "1..=10",
                    "-c",
                    "1",
                    "--shard",
                    &shard,
                    "-o",
                    "/dev/null",
                    "--report",
                    &report,
                ],
            )
            .await
        }
    };
    futures_util::future::join(shard(0, path("side-0.json")), shard(1, path("side-1.json"))).await;
    assert!(server.peak_in_flight() >= 2, "the shards ran side by side");
    // The gate stays open from now on: these run one after the other.
    shard(0, path("after-0.json")).await;
    shard(1, path("after-1.json")).await;

    let merge = |a: &str, b: &str, out: &str| {
        fetchbench(
            Cmd::new()
                .words("merge")
                .arg(path(a))
                .arg(path(b))
                .flag("-o", path(out)),
            vec![],
        )
    };
    let span = |name: &str| {
        let run = &read_json(&dir.path().join(name))["runs"][0];
        (run["started_at"].as_f64(), run["ended_at"].as_f64())
    };
    let out = merge("side-0.json", "side-1.json", "side.json").await;
    assert_eq!(out.status.code(), Some(0), "{}", stderr_of(&out));
    assert!(
        !stderr_of(&out).contains("did not all run at the same time"),
        "{:?} {:?}",
        span("side-0.json"),
        span("side-1.json")
    );
    assert_eq!(
        read_json(&dir.path().join("side.json"))["shards_overlapped"],
        true
    );

    let out = merge("after-0.json", "after-1.json", "after.json").await;
    let err = stderr_of(&out);
    assert_eq!(out.status.code(), Some(0), "{err}");
    assert!(
        err.contains(
            "note: the shards did not all run at the same time: the wall time spans them one \
             after another"
        ),
        "{err}"
    );
    let merged = read_json(&dir.path().join("after.json"));
    assert_eq!(merged["shards_overlapped"], false);
    let (first, second) = (
        read_json(&dir.path().join("after-0.json")),
        read_json(&dir.path().join("after-1.json")),
    );
    assert!(
        first["runs"][0]["ended_at"].as_f64() <= second["runs"][0]["started_at"].as_f64(),
        "the second shard started after the first ended"
    );
    assert_eq!(merged["runs"][0]["requests"], 10);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn merge_results_refuses_what_it_cannot_merge_exactly() {
    let server = TestServer::start(Behaviour::default()).await;
    let dir = tempfile::tempdir().unwrap();
    let path = |name: &str| dir.path().join(name).to_str().unwrap().to_owned();
    for i in 0..2 {
        let (shard, results) = (format!("{i}/2"), path(&format!("r{i}.ndjson")));
        fetch_ok(
            &server.template(),
            &["-r", "1..=30", "--shard", &shard, "-o", &results],
        )
        .await;
    }
    std::fs::write(dir.path().join("names.txt"), "bulbasaur\nivysaur\n").unwrap();
    let merge = |files: &[&str]| {
        let mut args = Cmd::new()
            .words("merge --results")
            .flag("-o", path("all.ndjson"));
        args.extend(files.iter().map(|f| path(f)));
        fetchbench(args, vec![])
    };
    for (files, says) in [
        (
            vec!["names.txt"],
            format!(
                "{}:1: not a results record (expected value at column 1)",
                path("names.txt")
            ),
        ),
        (
            vec!["r0.ndjson", "r1.ndjson", "r0.ndjson"],
            format!(
                "{}:1: id 1 again (first at {}:1)",
                path("r0.ndjson"),
                path("r0.ndjson")
            ),
        ),
    ] {
        let out = merge(&files).await;
        let err = stderr_of(&out);
        assert_eq!(out.status.code(), Some(2), "{files:?}: {err}");
        assert!(err.contains(&says), "{files:?}: {err}");
        assert!(!err.contains("records from"), "{err}");
        assert!(
            !dir.path().join("all.ndjson").exists(),
            "no half-merged file"
        );
    }

    // Streamed to stdout, what was written before the refusal is said to be incomplete.
    let out = fetchbench(
        Cmd::new()
            .words("merge")
            .flag("--results", path("r0.ndjson"))
            .arg(path("r1.ndjson"))
            .arg(path("r0.ndjson")),
        vec![],
    )
    .await;
    let err = stderr_of(&out);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("id 1 again")
            && err.contains("; the record written before it is not the whole merge"),
        "{err}"
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout).lines().count(), 1);

    // An interrupted write: the last line of r1 cut short, no newline after it.
    let text = std::fs::read_to_string(dir.path().join("r1.ndjson")).unwrap();
    let lines = text.lines().count();
    std::fs::write(dir.path().join("r1.ndjson"), &text[..text.len() - 20]).unwrap();
    let out = merge(&["r0.ndjson", "r1.ndjson"]).await;
    let err = stderr_of(&out);
    assert_eq!(out.status.code(), Some(0), "{err}");
    assert!(
        err.contains(&format!(
            "warning: {}:{lines}: dropped a torn last line",
            path("r1.ndjson")
        )),
        "{err}"
    );
    assert!(err.contains("merged 29 records from 2 files"), "{err}");
    let ids = ids_in_file(&dir.path().join("all.ndjson"));
    assert_eq!(ids, (1..30).collect::<Vec<_>>(), "all but the torn id 30");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_merge_adds_up_the_waits_of_shards_held_by_a_host_rate() {
    let server = TestServer::start(Behaviour::default()).await;
    let dir = tempfile::tempdir().unwrap();
    let path = |name: &str| dir.path().join(name).to_str().unwrap().to_owned();
    let template = server.template();
    for i in 0..2 {
        let (shard, report) = (format!("{i}/2"), path(&format!("wait-{i}.json")));
        // 20/s for the job, 10/s for each shard: four slots wait for the host's rate.
        fetch_ok(
            &template,
            &[
                "-r",
                "1..=12",
                "-c",
                "4",
                "--host-rate",
                "20/s",
                "--shard",
                &shard,
                "-o",
                "/dev/null",
                "--report",
                &report,
            ],
        )
        .await;
    }
    let merge = Cmd::new()
        .arg("merge")
        .args([path("wait-0.json"), path("wait-1.json")])
        .flag("-o", path("merged.json"));
    let out = fetchbench(merge, vec![]).await;
    assert_eq!(out.status.code(), Some(0), "{}", stderr_of(&out));
    let waits =
        |name: &str| read_json(&dir.path().join(name))["runs"][0]["waits"]["host-rate"].clone();
    let (a, b, merged) = (
        waits("wait-0.json"),
        waits("wait-1.json"),
        waits("merged.json"),
    );
    let count = |w: &Value| w["count"].as_u64().expect("a count");
    let total = |w: &Value| w["total_ms"].as_f64().expect("a total");
    assert!(count(&a) > 0 && count(&b) > 0, "{a} {b}");
    assert_eq!(count(&merged), count(&a) + count(&b), "{merged}");
    assert!(
        (total(&merged) - total(&a) - total(&b)).abs() < 1e-6,
        "{merged}"
    );
    let p99 = merged["p99_ms"].as_f64().expect("a p99");
    let most = [&a, &b].map(|w| w["p99_ms"].as_f64().expect("a p99"));
    assert!(
        p99 >= most[0].min(most[1]) && p99 <= most[0].max(most[1]) * 1.01,
        "{merged}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_glob_of_twelve_word_list_shards_merges_in_the_lists_order() {
    let server = TestServer::start(Behaviour::default()).await;
    let dir = tempfile::tempdir().unwrap();
    let path = |name: &str| dir.path().join(name).to_string_lossy().into_owned();
    let words: Vec<String> = (0..30).map(|i| format!("w{:02}x", (i * 7) % 30)).collect();
    std::fs::write(dir.path().join("words.txt"), words.join("\n") + "\n").unwrap();
    let template = server.route("echo");
    for i in 0..12 {
        let (shard, out) = (format!("{i}/12"), path(&format!("r-{i}.ndjson")));
        fetch_ok(
            &template,
            &["--ids", &path("words.txt"), "--shard", &shard, "-o", &out],
        )
        .await;
    }
    // As a shell's glob gives them: r-0, r-1, r-10, r-11, r-2, ...
    let mut files: Vec<String> = (0..12).map(|i| path(&format!("r-{i}.ndjson"))).collect();
    files.sort();
    let merge = Cmd::new()
        .words("merge --results")
        .flag("-o", path("all.ndjson"))
        .args(files);
    let out = fetchbench(merge, vec![]).await;
    assert_eq!(out.status.code(), Some(0), "{}", stderr_of(&out));
    assert!(
        stderr_of(&out).contains("took the files in the order of the numbers in their names"),
        "{}",
        stderr_of(&out)
    );
    let merged: Vec<String> = std::fs::read_to_string(dir.path().join("all.ndjson"))
        .unwrap()
        .lines()
        .map(|l| {
            serde_json::from_str::<Value>(l).unwrap()["id"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    assert_eq!(merged, words);
}
