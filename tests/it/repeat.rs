//! A URL hammered as oha and hey do it (`-n`, `-z`), and the job's limits shared by its shards,
//! counted at a loopback server.

use std::time::Duration;

use crate::common::cmd::Cmd;
use crate::common::run::{fetchbench, read_json, records, stderr};
use crate::common::{Behaviour, TestServer};

#[tokio::test]
async fn n_requests_to_one_url_reach_the_server_n_times() {
    let server = TestServer::start(Behaviour::default()).await;
    let url = format!("http://{}/item/7", server.addr);
    let dir = tempfile::tempdir().expect("dir");
    let report = dir.path().join("report.json");
    Cmd::url(&url)
        .words("-n 1000 -c 10 -m concurrent -o /dev/null -q")
        .report(&report)
        .exits(0)
        .await;
    assert_eq!(server.hits().get(&7), Some(&1000));
    assert_eq!(server.total_hits(), 1000);
    let report = read_json(&report);
    assert_eq!(report["runs"][0]["requests"], 1000);
    assert_eq!(
        report["passes"],
        serde_json::Value::Null,
        "one URL has no passes"
    );
}

#[tokio::test]
async fn n_over_a_template_repeats_the_ids_in_order_and_counts_the_passes() {
    let server = TestServer::start(Behaviour::default()).await;
    let dir = tempfile::tempdir().expect("dir");
    let report = dir.path().join("report.json");
    let out = Cmd::url(server.template())
        .words("-r 1..=4 -n 10 -m concurrent -q")
        .report(&report)
        .exits(0)
        .await;
    let ids: Vec<u64> = records(&out)
        .iter()
        .map(|r| r["id"].as_u64().expect("id"))
        .collect();
    assert_eq!(ids, [1, 2, 3, 4, 1, 2, 3, 4, 1, 2]);
    assert_eq!(read_json(&report)["passes"], 2.5);

    // Shards split the job's -n: together they send it once.
    let mut total = 0;
    for shard in ["0/2", "1/2"] {
        let out = Cmd::url(server.template())
            .words("-r 1..=4 -n 11")
            .flag("--shard", shard)
            .words("-m concurrent -q")
            .exits(0)
            .await;
        total += records(&out).len();
    }
    assert_eq!(total, 11);
}

#[tokio::test]
async fn z_sends_for_its_duration_at_the_rate_and_ends_as_completed() {
    let server = TestServer::start(Behaviour::default()).await;
    let dir = tempfile::tempdir().expect("dir");
    let report = dir.path().join("report.json");
    Cmd::url(server.template())
        .words("-r 1..=30 -z 2s --rate 50/s -m concurrent -o /dev/null -q")
        .report(&report)
        .exits(0)
        .await;
    let hits = server.total_hits();
    // 2 s at 50/s is at most 100 starts after the first. A starved client misses some of its
    // slots (the limiter does not make them up), so the floor only says the run went on past
    // one pass of the 30 ids, for about the whole duration.
    assert!((45..=101).contains(&hits), "{hits} requests");
    let report = read_json(&report);
    assert_eq!(report["runs"][0]["ended"], "completed");
    assert!(report["passes"].as_f64().expect("passes") > 1.5);
    let wall = report["runs"][0]["wall_s"].as_f64().expect("wall");
    assert!((1.5..2.5).contains(&wall), "{wall} s");
}

#[tokio::test]
async fn shards_running_at_once_share_the_jobs_rate() {
    let server = TestServer::start(Behaviour::default()).await;
    let template = server.template();
    let run = |shard: &str| {
        Cmd::url(&template)
            .words("-r 1..=40 --rate 20/s")
            .flag("--shard", shard)
            .words("-m concurrent -o /dev/null")
            .run()
    };
    let (a, b) = tokio::join!(run("0/2"), run("1/2"));
    for out in [&a, &b] {
        assert_eq!(out.status.code(), Some(0), "{}", stderr(out));
        assert!(
            stderr(out).contains("takes its share of the job's limits: --rate 10/s"),
            "{}",
            stderr(out)
        );
    }
    let arrivals = server.arrivals();
    assert_eq!(arrivals.len(), 40);
    let span = *arrivals.last().expect("last") - arrivals[0];
    // 40 requests at 20/s in all: about 1.95 s (at 40/s, the full rate each, it would be 0.95 s).
    assert!(span >= Duration::from_millis(1500), "{span:?}");
}

#[tokio::test]
async fn n_and_z_refuse_what_they_cannot_mean() {
    let cases: [(&[&str], &str); 3] = [
        (
            &["--url", "http://127.0.0.1:9/x", "--follow", "a", "-n", "5"],
            "a crawl requests each page once",
        ),
        (
            &["--url", "http://127.0.0.1:9/{}", "-r", "1..", "-z", "1s"],
            "no end",
        ),
        (&["-z", "1s", "--deadline", "2s"], "cannot be used with"),
    ];
    for (args, expected) in cases {
        let out = fetchbench(args).await;
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        assert!(
            stderr(&out).contains(expected),
            "{args:?}: {}",
            stderr(&out)
        );
    }
}
