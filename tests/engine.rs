//! The engine against real HTTP on loopback: ordering, exactly-once, the concurrency bound, the
//! rate limit (counted at the server) and field extraction on the real pokeapi documents.

mod common;

use std::collections::HashSet;
use std::io;
use std::net::SocketAddr;
use std::num::NonZeroU32;
use std::time::Duration;

use common::{scrambled_delay, Behaviour, TestServer};
use fetchbench::engine::{self, ClientOptions, JobSpec, RunSpec};
use fetchbench::extract::{FieldPath, FieldSet};
use fetchbench::fixture::{FixtureOptions, FixtureServer};
use fetchbench::output::RecordSink;
use fetchbench::plan::ids::IdRange;
use fetchbench::plan::template::Template;
use fetchbench::record::{ErrorKind, Record};
use fetchbench::report::stats::{RunMode, RunStats};
use serde_json::{json, Value};
use tokio_util::sync::CancellationToken;

#[derive(Default)]
struct Collect(Vec<Record>);

impl RecordSink for Collect {
    fn write(&mut self, record: &Record) -> io::Result<()> {
        self.0.push(record.clone());
        Ok(())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
    fn finish(&mut self) -> io::Result<()> {
        Ok(())
    }
}

fn job(template: &str, fields: &[&str]) -> JobSpec {
    JobSpec {
        template: Template::parse_url(template).unwrap(),
        fields: FieldSet::new(
            fields
                .iter()
                .map(|f| f.parse::<FieldPath>().unwrap())
                .collect(),
        ),
        client: ClientOptions::default(),
        rate: None,
        burst: NonZeroU32::MIN,
        grace: Duration::from_secs(5),
    }
}

fn concurrent(c: usize) -> RunSpec {
    RunSpec {
        mode: RunMode::Concurrent,
        concurrency: c,
    }
}

async fn run(job: &JobSpec, spec: RunSpec, range: &str) -> (Vec<Record>, RunStats) {
    let ids: IdRange = range.parse().unwrap();
    let mut sink = Collect::default();
    let stats = engine::run(job, spec, ids.iter(), &mut sink, &CancellationToken::new())
        .await
        .unwrap();
    (sink.0, stats)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_id_once_and_in_order_when_answers_come_out_of_order() {
    let server = TestServer::start(Behaviour {
        delay: Some(scrambled_delay),
        ..Behaviour::default()
    })
    .await;
    let (records, stats) = run(
        &job(&server.template(), &["name"]),
        concurrent(16),
        "1..=200",
    )
    .await;

    let ids: Vec<u64> = records.iter().map(|r| r.id).collect();
    assert_eq!(ids, (1..=200).collect::<Vec<_>>());
    let hits = server.hits();
    assert_eq!(hits.len(), 200);
    assert!(hits.values().all(|&n| n == 1), "some id was fetched twice");
    assert_eq!(records[41].fields, vec![json!("item-42")]);
    assert_eq!((stats.requests, stats.ok), (200, 200));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrency_bound_is_reached_and_never_exceeded() {
    let server = TestServer::start(Behaviour {
        gate: Some(8),
        delay: Some(|_| Duration::from_millis(5)),
        ..Behaviour::default()
    })
    .await;
    let (records, _) = run(&job(&server.template(), &[]), concurrent(8), "1..=64").await;
    assert_eq!(records.len(), 64);
    assert!(records.iter().all(Record::is_ok));
    assert_eq!(server.peak_in_flight(), 8);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sequential_has_one_request_in_flight() {
    let server = TestServer::start(Behaviour {
        delay: Some(scrambled_delay),
        ..Behaviour::default()
    })
    .await;
    let spec = RunSpec {
        mode: RunMode::Sequential,
        concurrency: 1,
    };
    let (records, stats) = run(&job(&server.template(), &["name"]), spec, "1..=12").await;
    assert_eq!(records.len(), 12);
    assert_eq!(server.peak_in_flight(), 1);
    assert_eq!(stats.mode, RunMode::Sequential);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rate_limit_spaces_requests_at_the_server() {
    let server = TestServer::start(Behaviour::default()).await;
    let mut job = job(&server.template(), &[]);
    job.rate = Some("20/s".parse().unwrap());
    let (records, _) = run(&job, concurrent(50), "1..=15").await;
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
    let server = TestServer::start(Behaviour {
        not_found: HashSet::from([3, 5]),
        ..Behaviour::default()
    })
    .await;
    let (records, stats) = run(&job(&server.template(), &["name"]), concurrent(4), "1..=6").await;
    assert_eq!(records.len(), 6);
    let r3 = &records[2];
    assert_eq!(r3.status, Some(404));
    let failure = r3.failure.as_ref().expect("404 is a failure");
    assert_eq!(failure.kind, ErrorKind::Status);
    assert!(failure.message.contains("404"), "{}", failure.message);
    assert_eq!(r3.fields, vec![Value::Null]);
    assert_eq!((stats.ok, stats.errors()), (4, 2));
    assert_eq!(stats.status.get(&404), Some(&2));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connection_refused_is_a_recorded_error() {
    // Bind then drop a listener: the port is closed, so connecting is refused.
    let addr: SocketAddr = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap()
    };
    let (records, stats) = run(
        &job(&format!("http://{addr}/{{}}"), &[]),
        concurrent(2),
        "1..=3",
    )
    .await;
    assert_eq!(records.len(), 3);
    assert!(records
        .iter()
        .all(|r| r.failure.as_ref().map(|f| f.kind) == Some(ErrorKind::Connect)));
    assert_eq!(stats.errors(), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fields_from_the_real_pokeapi_documents() {
    let options = FixtureOptions {
        latency: Duration::ZERO,
        jitter: Duration::ZERO,
    };
    let fixture = FixtureServer::start("127.0.0.1:0".parse().unwrap(), options)
        .await
        .unwrap();
    let job = job(
        &fixture.url_template(),
        &[
            "name",
            "types[0].type.name",
            "stats[*].base_stat",
            "no.such.field",
        ],
    );
    let (records, stats) = run(&job, concurrent(8), "24..=26,151,152").await;
    let pikachu = &records[1];
    assert_eq!(pikachu.id, 25);
    assert_eq!(pikachu.fields[0], json!("pikachu"));
    assert_eq!(pikachu.fields[1], json!("electric"));
    assert_eq!(pikachu.fields[2], json!([35, 55, 40, 50, 50, 90]));
    assert_eq!(pikachu.fields[3], Value::Null);
    assert_eq!(records[3].fields[0], json!("mew"));
    // 152 is past the fixture data: pokeapi's 404.
    assert_eq!(records[4].status, Some(404));
    assert_eq!(stats.errors(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancelling_stops_new_requests_and_keeps_finished_records() {
    let server = TestServer::start(Behaviour {
        delay: Some(|_| Duration::from_millis(20)),
        ..Behaviour::default()
    })
    .await;
    let job = job(&server.template(), &[]);
    let cancel = CancellationToken::new();
    let ids: IdRange = "1..=1000".parse().unwrap();

    struct CancelAfter(Collect, CancellationToken, usize);
    impl RecordSink for CancelAfter {
        fn write(&mut self, record: &Record) -> io::Result<()> {
            if self.0 .0.len() + 1 == self.2 {
                self.1.cancel();
            }
            self.0.write(record)
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
        fn finish(&mut self) -> io::Result<()> {
            Ok(())
        }
    }
    let mut sink = CancelAfter(Collect::default(), cancel.clone(), 10);
    let stats = engine::run(&job, concurrent(4), ids.iter(), &mut sink, &cancel)
        .await
        .unwrap();
    let records = sink.0 .0;
    let ids: Vec<u64> = records.iter().map(|r| r.id).collect();
    assert_eq!(ids, (1..=ids.len() as u64).collect::<Vec<_>>());
    // Dispatch stops at the cancel; what was already dispatched (at most the reorder window of
    // 16 past the last released record) still finishes and is kept.
    assert!(
        records.len() >= 10 && records.len() <= 10 + 16,
        "{}",
        records.len()
    );
    assert_eq!(server.total_hits() as usize, records.len());
    assert_eq!(stats.requests as usize, records.len());
}
