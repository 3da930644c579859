//! The sweep, the terminal report's colours and histogram, and the report's JSON Schema: what a
//! user of the field's CLIs expects beyond the main job.

use std::process::Command;

use serde_json::{json, Value};

use crate::common::cmd::Cmd;
use crate::common::run::{assert_said, fetchbench, read_json, stderr, BIN};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_concurrency_list_sweeps_one_run_per_level_and_names_the_knee() {
    let dir = tempfile::tempdir().expect("temp dir");
    let report = dir.path().join("sweep.json");
    let report_arg = report.to_str().expect("utf-8 path");
    let out = Cmd::new()
        .words("-r 1..49 -m concurrent -c 1,4,16 --latency 20ms -o /dev/null")
        .flag("--report", report_arg)
        .run()
        .await;
    let text = stderr(&out);
    assert!(out.status.success(), "{text}");
    let json = read_json(&report);
    let runs = json["runs"].as_array().expect("runs");
    let levels: Vec<u64> = runs
        .iter()
        .map(|r| r["concurrency"].as_u64().expect("c"))
        .collect();
    assert_eq!(levels, [1, 4, 16]);
    assert!(runs.iter().all(|r| r["requests"] == 48 && r["errors"] == 0));
    // 48 requests of 20 ms: c=1 needs about 1 s, c=4 a quarter of that, c=16 a sixteenth.
    let rates: Vec<f64> = runs
        .iter()
        .map(|r| r["rps"].as_f64().expect("rps"))
        .collect();
    assert!(
        rates[0] < rates[1] && rates[1] < rates[2],
        "rates {rates:?}"
    );
    assert!(json["knee"]["concurrency"].is_u64(), "{json}");
    for needle in ["requests/s", "speedup", "c=1", "c=4", "c=16", "1.00x"] {
        assert!(text.contains(needle), "no {needle:?} in\n{text}");
    }
    assert!(
        text.contains("beyond c=") || text.contains("no knee yet"),
        "{text}"
    );
}

/// `--slo` on a sweep: the knee also names the highest level that keeps the bounds.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sweep_with_an_slo_names_the_highest_level_that_keeps_it() {
    let dir = tempfile::tempdir().expect("temp dir");
    let report = dir.path().join("sweep.json");
    let report_arg = report.to_str().expect("utf-8 path");
    // Every answer takes 20 ms: all levels keep p99 < 10 s, none keeps p99 < 1 ms.
    for (slo, kept, sentence) in [
        (
            "p99<10s",
            json!(16),
            "keeping p99<10s: c=16 is the highest level that does",
        ),
        (
            "p99<1ms",
            Value::Null,
            "keeping p99<1ms: no level does; c=1 broke it: p99 ",
        ),
    ] {
        let out = Cmd::new()
            .words("-r 1..33 -m concurrent -c 1,4,16 --latency 20ms")
            .flag("--slo", slo)
            .words("-o /dev/null")
            .flag("--report", report_arg)
            .run()
            .await;
        let text = stderr(&out).replace("\n  ", " ");
        assert!(out.status.success(), "{text}");
        assert!(text.contains(sentence), "{text}");
        assert_eq!(read_json(&report)["knee"]["slo"]["concurrency"], kept);
    }
    let out = Cmd::new()
        .words("-r 1..3 -m sequential --slo p99<1s")
        .exits(2)
        .await;
    assert!(
        stderr(&out).contains("--slo: judges the steps of --find-rate or the levels of a sweep")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_zero_level_in_the_list_is_a_usage_error() {
    let out = Cmd::new()
        .words("-r 1..3 -c 1,0 -o /dev/null")
        .exits(2)
        .await;
    assert_said(&out, "concurrency");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_terminal_report_has_a_latency_histogram() {
    let out = Cmd::new()
        .words("-r 1..21 -m both --latency 5ms -o /dev/null")
        .run()
        .await;
    let text = stderr(&out);
    assert!(out.status.success(), "{text}");
    assert!(text.contains("latency histogram, sequential:"), "{text}");
    assert!(
        text.contains("latency histogram, concurrent c=50:"),
        "{text}"
    );
    let bars: u64 = text
        .lines()
        .filter_map(|l| l.split_once('[').and_then(|(_, rest)| rest.split_once(']')))
        .filter_map(|(count, _)| count.trim().parse::<u64>().ok())
        .sum();
    assert_eq!(
        bars, 40,
        "the bars count every request of both runs:\n{text}"
    );
}

/// Runs the binary on a pseudo-terminal (util-linux `script`), as a user at a terminal would.
fn on_a_terminal(no_color: Option<&str>, extra: &str) -> String {
    let command = format!("{BIN} -r 1..4 -m concurrent --latency 1ms -o /dev/null {extra}");
    let mut script = Command::new("script");
    script
        .args(["-qec", &command, "/dev/null"])
        .env_remove("NO_COLOR");
    if let Some(value) = no_color {
        script.env("NO_COLOR", value);
    }
    let out = script.output().expect("run script(1) from util-linux");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn colours_on_a_terminal_off_with_no_color_or_when_piped() {
    const ESC: char = '\u{1b}';
    let painted = on_a_terminal(None, "--no-progress");
    assert!(
        painted.contains(&format!("{ESC}[1m")),
        "no bold on a terminal:\n{painted}"
    );
    let plain = on_a_terminal(Some("1"), "--no-progress");
    assert!(plain.contains("requests/s"), "{plain}");
    assert!(!plain.contains(ESC), "colours despite NO_COLOR:\n{plain:?}");
    let forced = on_a_terminal(Some("1"), "--no-progress --color always");
    assert!(
        forced.contains(ESC),
        "--color always must win over NO_COLOR"
    );
    let piped = Command::new(BIN)
        .args([
            "-r",
            "1..4",
            "-m",
            "concurrent",
            "--latency",
            "1ms",
            "-o",
            "/dev/null",
        ])
        .env_remove("NO_COLOR")
        .output()
        .expect("run fetchbench");
    let text = String::from_utf8_lossy(&piped.stderr);
    assert!(
        text.contains("requests/s") && !text.contains(ESC),
        "{text:?}"
    );
}

const SCHEMA_FILE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/schema/report.schema.json");

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_schema_file_is_what_the_code_generates() {
    let out = Cmd::new().words("schema").run().await;
    assert!(out.status.success(), "{}", stderr(&out));
    let committed = std::fs::read_to_string(SCHEMA_FILE).expect("schema file");
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        committed,
        "schema/report.schema.json is stale: run `cargo run -- schema > schema/report.schema.json`"
    );
}

/// Every error of `instance` against the committed schema.
fn schema_errors(instance: &serde_json::Value) -> Vec<String> {
    let schema = read_json(std::path::Path::new(SCHEMA_FILE));
    let validator = jsonschema::validator_for(&schema).expect("a valid JSON Schema");
    validator
        .iter_errors(instance)
        .map(|e| format!("{}: {e}", e.instance_path()))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reports_validate_against_the_schema() {
    let dir = tempfile::tempdir().expect("temp dir");
    let both = dir.path().join("both.json");
    let other_half = dir.path().join("both-1.json");
    let sweep = dir.path().join("sweep.json");
    let merged = dir.path().join("merged.json");
    let path = |p: &std::path::Path| p.to_str().expect("utf-8 path").to_owned();
    for (args, report) in [
        // Two shards of one job: only those merge.
        (
            vec![
                "-r", "1..11", "-m", "both", "--rate", "200/s", "--shard", "0/2",
            ],
            &both,
        ),
        (
            vec![
                "-r", "1..11", "-m", "both", "--rate", "200/s", "--shard", "1/2",
            ],
            &other_half,
        ),
        (vec!["-r", "1..11", "-m", "concurrent", "-c", "1,4"], &sweep),
    ] {
        let report_arg = path(report);
        let mut args = args;
        args.extend([
            "--latency",
            "2ms",
            "-q",
            "-o",
            "/dev/null",
            "--report",
            &report_arg,
        ]);
        let out = fetchbench(&args).await;
        assert!(out.status.success(), "{}", stderr(&out));
    }
    let out = Cmd::new()
        .words("merge")
        .arg(path(&both))
        .arg(path(&other_half))
        .flag("-o", path(&merged))
        .run()
        .await;
    assert!(out.status.success(), "{}", stderr(&out));
    for report in [&both, &sweep, &merged] {
        let json = read_json(report);
        assert_eq!(
            schema_errors(&json),
            Vec::<String>::new(),
            "{}",
            report.display()
        );
    }
    assert!(read_json(&sweep)["knee"].is_object());

    let mut broken = read_json(&both);
    broken["runs"][0]["requests"] = serde_json::json!("many");
    broken["runs"][1]["mode"] = serde_json::json!("parallel");
    let errors = schema_errors(&broken);
    assert_eq!(errors.len(), 2, "{errors:?}");
}
