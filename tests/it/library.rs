//! The library against real HTTP on loopback: a `Job` consumed as callbacks, a stream and a
//! gather; ordering, exactly-once, the concurrency bound, the rate limit (counted at the server),
//! the real pokeapi documents, and every way a job ends early.

use std::collections::HashSet;
use std::time::Duration;

use crate::common::{scrambled_delay, Behaviour, TestServer};
use fetchbench::fixture::{FixtureOptions, FixtureServer};
use fetchbench::{Ending, ErrorKind, Job, JobBuilder, JobError, Record, RunMode};
use futures_util::StreamExt;
use serde_json::{json, Value};

fn job(template: &str) -> JobBuilder {
    Job::builder(template)
}

fn ids(records: &[Record]) -> Vec<u64> {
    records.iter().map(|r| r.id.as_u64().unwrap()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_id_once_and_in_order_when_answers_come_out_of_order() {
    let server = TestServer::start(Behaviour::default().with_delay(scrambled_delay)).await;
    let job = job(&server.template())
        .ids("1..=200")
        .concurrency(16)
        .field("name")
        .build()
        .unwrap();
    let (records, summary) = job.gather().await.unwrap();
    assert_eq!(ids(&records), (1..=200).collect::<Vec<_>>());
    let hits = server.hits();
    assert_eq!(hits.len(), 200);
    assert!(hits.values().all(|&n| n == 1), "some id was fetched twice");
    assert_eq!(records[41].fields, vec![json!("item-42")]);
    assert_eq!((summary.requests, summary.ok), (200, 200));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn callbacks_see_every_id_once_in_order_then_done_once() {
    let server = TestServer::start(Behaviour::default().with_delay(scrambled_delay)).await;
    let job = job(&server.template())
        .ids("1..=60")
        .concurrency(8)
        .build()
        .unwrap();
    let mut seen = Vec::new();
    let mut done_calls = Vec::new();
    let summary = job
        .run_with(
            |record| seen.push(record.id.as_u64().unwrap()),
            |summary| done_calls.push(summary.requests),
        )
        .await
        .unwrap();
    assert_eq!(seen, (1..=60).collect::<Vec<_>>());
    assert_eq!(done_calls, [60], "job-done once, after all 60 records");
    assert_eq!(summary.ended, Ending::Completed);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn completion_order_delivers_each_id_once_as_they_finish() {
    let server = TestServer::start(
        Behaviour::default().with_delay(|id| Duration::from_millis(if id == 1 { 300 } else { 1 })),
    )
    .await;
    let job = job(&server.template())
        .ids("1..=5")
        .concurrency(5)
        .completion_order()
        .build()
        .unwrap();
    let (records, _) = job.gather().await.unwrap();
    let got = ids(&records);
    assert_eq!(
        got.iter().copied().collect::<HashSet<_>>(),
        (1..=5).collect()
    );
    assert_eq!(got.last(), Some(&1), "the slow id 1 comes last: {got:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrency_bound_is_reached_and_never_exceeded() {
    let server = TestServer::start(
        Behaviour::default()
            .with_gate(8)
            .with_delay(|_| Duration::from_millis(5)),
    )
    .await;
    let job = job(&server.template())
        .ids("1..=64")
        .concurrency(8)
        .build()
        .unwrap();
    let (records, _) = job.gather().await.unwrap();
    assert_eq!(records.len(), 64);
    assert!(records.iter().all(Record::is_ok));
    assert_eq!(server.peak_in_flight(), 8);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sequential_has_one_request_in_flight() {
    let server = TestServer::start(Behaviour::default().with_delay(scrambled_delay)).await;
    let job = job(&server.template())
        .ids("1..=12")
        .sequential()
        .build()
        .unwrap();
    let (records, summary) = job.gather().await.unwrap();
    assert_eq!(records.len(), 12);
    assert_eq!(server.peak_in_flight(), 1);
    assert_eq!(summary.mode, RunMode::Sequential);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rate_limit_spaces_requests_at_the_server() {
    let server = TestServer::start(Behaviour::default()).await;
    let job = job(&server.template())
        .ids("1..=15")
        .rate("20/s")
        .build()
        .unwrap();
    let (records, _) = job.gather().await.unwrap();
    assert_eq!(records.len(), 15);
    // At 20/s with burst 1, 15 requests need at least 14 intervals of 50 ms; allow one interval of
    // slack for arrival jitter. Unlimited, they would all arrive within a few milliseconds.
    let arrivals = server.arrivals();
    assert_eq!(arrivals.len(), 15);
    let span = *arrivals.last().unwrap() - arrivals[0];
    assert!(
        span >= Duration::from_millis(13 * 50),
        "15 requests arrived within {span:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn not_found_is_a_recorded_error_and_the_run_goes_on() {
    let server = TestServer::start(Behaviour::default().with_not_found([3, 5])).await;
    let job = job(&server.template())
        .ids("1..=6")
        .concurrency(4)
        .field("name")
        .build()
        .unwrap();
    let (records, summary) = job.gather().await.unwrap();
    assert_eq!(records.len(), 6);
    let r3 = &records[2];
    assert_eq!(r3.status, Some(404));
    let failure = r3.failure.as_ref().expect("404 is a failure");
    assert_eq!(failure.kind, ErrorKind::Status);
    assert!(failure.message.contains("404"), "{}", failure.message);
    assert_eq!(r3.fields, vec![Value::Null]);
    assert_eq!((summary.ok, summary.errors), (4, 2));
    assert_eq!(summary.status.get("404"), Some(&2));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connection_refused_is_a_recorded_error() {
    let addr = crate::common::server::dead_addr();
    let job = job(&format!("http://{addr}/{{}}"))
        .ids("1..=3")
        .retries(0)
        .build()
        .unwrap();
    let (records, summary) = job.gather().await.unwrap();
    assert_eq!(records.len(), 3);
    assert!(records
        .iter()
        .all(|r| r.failure.as_ref().map(|f| f.kind) == Some(ErrorKind::Connect)));
    assert_eq!(summary.errors, 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fields_from_the_real_pokeapi_documents() {
    let options = FixtureOptions {
        latency: Duration::ZERO,
        jitter: Duration::ZERO,
        ..FixtureOptions::default()
    };
    let fixture = FixtureServer::start("127.0.0.1:0".parse().unwrap(), options)
        .await
        .unwrap();
    let job = job(&fixture.url_template())
        .ids("24..=26,151,152")
        .concurrency(8)
        .field("name")
        .field("types[0].type.name")
        .field("stats[*].base_stat")
        .field("no.such.field")
        .build()
        .unwrap();
    let (records, summary) = job.gather().await.unwrap();
    let pikachu = &records[1];
    assert_eq!(pikachu.id, 25);
    assert_eq!(pikachu.fields[0], json!("pikachu"));
    assert_eq!(pikachu.fields[1], json!("electric"));
    assert_eq!(pikachu.fields[2], json!([35, 55, 40, 50, 50, 90]));
    assert_eq!(pikachu.fields[3], Value::Null);
    assert_eq!(records[3].fields[0], json!("mew"));
    // 152 is past the fixture data: pokeapi's 404.
    assert_eq!(records[4].status, Some(404));
    assert_eq!(summary.errors, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropping_the_stream_after_ten_stops_the_requests() {
    let server =
        TestServer::start(Behaviour::default().with_delay(|_| Duration::from_millis(10))).await;
    let concurrency = 4;
    let job = job(&server.template())
        .ids("1..=1000")
        .concurrency(concurrency)
        .build()
        .unwrap();
    let taken: Vec<u64> = job
        .stream()
        .unwrap()
        .take(10)
        .map(|r| r.id.as_u64().unwrap())
        .collect()
        .await;
    assert_eq!(taken, (1..=10).collect::<Vec<_>>());
    let hits = server.total_hits() as usize;
    assert!(
        hits <= 10 + concurrency,
        "{hits} requests for 10 records at c={concurrency}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cancel_handle_ends_the_job_with_the_finished_records() {
    let server =
        TestServer::start(Behaviour::default().with_delay(|_| Duration::from_millis(20))).await;
    let job = job(&server.template())
        .ids("1..=1000")
        .concurrency(4)
        .build()
        .unwrap();
    let cancel = job.cancel_handle();
    let mut seen = Vec::new();
    let summary = job
        .run_with(
            |record| {
                seen.push(record.id.as_u64().unwrap());
                if seen.len() == 10 {
                    cancel.cancel();
                }
            },
            |_| {},
        )
        .await
        .unwrap();
    // In-flight requests finish within the grace period and are kept, in order.
    assert_eq!(seen, (1..=seen.len() as u64).collect::<Vec<_>>());
    assert!((10..=10 + 16).contains(&seen.len()), "{}", seen.len());
    assert_eq!(server.total_hits() as usize, seen.len());
    assert_eq!(summary.ended, Ending::Cancelled);
    assert_eq!(summary.not_fetched, Some(1000 - seen.len() as u64));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deadline_cuts_the_job_and_keeps_what_finished() {
    let server =
        TestServer::start(Behaviour::default().with_delay(|_| Duration::from_millis(20))).await;
    let job = job(&server.template())
        .ids("1..=1000")
        .concurrency(4)
        .deadline(Duration::from_millis(300))
        .build()
        .unwrap();
    let (records, summary) = job.gather().await.unwrap();
    assert_eq!(summary.ended, Ending::Deadline);
    assert!(records.len() < 1000);
    assert_eq!(summary.requests + summary.not_fetched.unwrap(), 1000);
    let got = ids(&records);
    assert!(got.windows(2).all(|w| w[0] < w[1]), "in order: {got:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn max_errors_one_cancels_on_the_first_failure() {
    let server = TestServer::start(
        Behaviour::default()
            .with_delay(|_| Duration::from_millis(5))
            .with_not_found(1..=1000),
    )
    .await;
    let job = job(&server.template())
        .ids("1..=1000")
        .concurrency(4)
        .max_errors(1)
        .build()
        .unwrap();
    let (records, summary) = job.gather().await.unwrap();
    assert_eq!(summary.ended, Ending::MaxErrors);
    assert!(
        !records.is_empty() && records.len() <= 4,
        "{}",
        records.len()
    );
    assert!(
        server.total_hits() <= 1 + 4 + 4,
        "{} requests",
        server.total_hits()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_values_are_refused_when_the_job_is_built() {
    for builder in [
        job("ftp://x/{}"),
        job("http://x/{}").ids("9..1"),
        job("http://x/{}").rate("fast"),
        job("http://x/{}").field("a["),
        job("http://x/{}").concurrency(0),
    ] {
        assert!(builder.build().is_err());
    }
}

#[tokio::test]
async fn a_crawl_sends_the_header_and_user_agent_it_was_given() {
    let server = TestServer::start(Behaviour::default()).await;
    let job = Job::builder(&format!("http://{}/agent/1", server.addr))
        .next_page("next")
        .header("X-Api-Key", "library-secret")
        .user_agent("library-test/1")
        .field("page")
        .field("agent")
        .field("key")
        .build()
        .expect("valid job");
    let (records, summary) = job.gather().await.expect("run");
    assert_eq!(summary.ok, 3);
    for (page, record) in records.iter().enumerate() {
        assert_eq!(record.fields[0], page as u64 + 1);
        assert_eq!(record.fields[1], "library-test/1");
        assert_eq!(record.fields[2], "library-secret");
    }
    let refused = Job::builder(&format!("http://{}/agent/1", server.addr))
        .header("Bad Name", "x")
        .build();
    assert!(
        matches!(
            &refused,
            Err(JobError::Setting {
                setting: "header",
                ..
            })
        ),
        "{refused:?}"
    );
}

#[tokio::test]
async fn a_post_per_id_from_the_library() {
    let server = TestServer::start(Behaviour::default()).await;
    let job = Job::builder(&format!("http://{}/echo/search", server.addr))
        .ids("1..=2")
        .json(r#"{"id":{}}"#)
        .field("method")
        .field("body")
        .field("headers.content-type")
        .build()
        .expect("a placeholder in the body is enough");
    let (records, _) = job.gather().await.expect("run");
    assert_eq!(records[0].fields[0], "POST");
    assert_eq!(records[1].fields[1], r#"{"id":2}"#);
    assert_eq!(records[0].fields[2], "application/json");
}
