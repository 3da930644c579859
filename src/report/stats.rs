//! Per-run statistics, accumulated record by record in constant memory.
//!
//! Latencies go into an HDR histogram (microseconds, 3 significant digits) rather than a list of
//! samples, so a run of a million ids costs the same few kilobytes as a run of ten.

use std::collections::BTreeMap;
use std::time::Duration;

use base64::Engine as _;
use hdrhistogram::serialization::{Deserializer, Serializer, V2Serializer};
use hdrhistogram::Histogram;

use serde::{Deserialize, Serialize};

pub use crate::engine::{Ending, RunEnd, RunMode};

use super::crawl::LevelCounts;
use super::CacheReport;
use crate::engine::{CrawlCounts, PushbackCounts, ThrottleCounts};

use super::timeline::Timeline;
use super::waterfall::Waterfall;
use crate::plan::ids::Id;
use crate::plan::rate::Rate;
use crate::record::{ErrorKind, Record, WaitCause};

/// Highest latency the histogram tracks exactly: one hour, in microseconds; longer ones saturate.
const MAX_TRACKED_MICROS: u64 = 3_600_000_000;

/// Counts and latency distribution of one run.
#[derive(Debug, Clone)]
pub struct RunStats {
    pub mode: RunMode,
    pub concurrency: usize,
    pub rate: Option<Rate>,
    pub requests: u64,
    pub ok: u64,
    /// Attempts beyond the first, over all requests.
    pub retries: u64,
    pub bytes: u64,
    pub wire_bytes: u64,
    latencies: Histogram<u64>,
    /// Latencies per outcome class (`2xx`, `3xx`, `4xx`, `5xx`, `error`), so fast failures do not
    /// pull the successful requests' figures down.
    by_class: BTreeMap<&'static str, Histogram<u64>>,
    /// Latencies from each request's scheduled start (open-loop, with a rate): what queueing costs.
    corrected: Option<Histogram<u64>>,
    /// Sum of request latencies and waits at a host (a waiting request holds its slot): over
    /// the wall time, the mean number of requests in flight.
    busy: Duration,
    /// The waits before a send, per cause: never in the latencies.
    pub waits: BTreeMap<WaitCause, Waits>,
    /// The slowest successful requests, slowest first.
    slowest: Vec<Slow>,
    /// User plus system CPU time of the process during the run.
    pub client_cpu: Option<Duration>,
    /// Connections the client opened.
    pub connections_opened: u64,
    /// A crawl's pages and skipped links (None for a flat run), and its records per level.
    pub crawl: Option<CrawlCounts>,
    pub levels: BTreeMap<u32, LevelCounts>,
    /// How often hosts pushed back, and the longest pause.
    pub pushback: PushbackCounts,
    /// Records per use of the HTTP cache; None without `--cache`.
    pub cache: Option<CacheReport>,
    /// With `--auto-throttle`: the busiest host's delay and concurrency at the end.
    pub throttle: Option<ThrottleCounts>,
    /// Requests that went through a proxy, and the proxies (passwords redacted).
    pub proxied_requests: u64,
    pub proxies: Vec<String>,
    /// Histograms of each request phase.
    pub phases: Phases,
    /// Per-second buckets.
    pub timeline: Timeline,
    /// Each request's start and end, for the HTML report's waterfall (bounded memory).
    pub waterfall: Waterfall,
    pub status: BTreeMap<u16, u64>,
    /// Responses per HTTP version that answered.
    pub versions: BTreeMap<&'static str, u64>,
    pub error_kinds: BTreeMap<ErrorKind, u64>,
    first_start: Option<Duration>,
    last_finish: Duration,
    /// Wall-clock time of the run's start, in seconds since the Unix epoch (for merging shards).
    epoch_unix: f64,
    /// How the run ended.
    pub ending: Ending,
    /// Per `-f` path, whether it gave a value other than null in any successful record.
    fields_matched: Vec<bool>,
    /// With `--items`: whether any page's list was found (its fields are lists, even of nulls).
    items_found: bool,
}

/// True for a field value other than null: a list of nulls (`stats[*].nope`) holds nothing.
fn holds_something(value: &serde_json::Value) -> bool {
    match value {
        serde_json::Value::Null => false,
        serde_json::Value::Array(items) => items.iter().any(holds_something),
        _ => true,
    }
}

impl RunStats {
    /// Adds what the engine knows of the run once it is over: how it ended and what it cost.
    pub fn conclude(&mut self, end: RunEnd) {
        self.ending = end.ending;
        if let Some(Ok(since)) = end.epoch.map(|e| e.duration_since(std::time::UNIX_EPOCH)) {
            self.epoch_unix = since.as_secs_f64();
        }
        self.connections_opened = end.connections_opened;
        self.client_cpu = end.client_cpu;
        self.proxied_requests = end.proxy.requests;
        self.proxies = end.proxy.proxies.into_iter().collect();
        self.crawl = end.crawl;
        self.pushback = end.pushback;
        self.throttle = end.throttle;
    }

    pub fn new(mode: RunMode, concurrency: usize, rate: Option<Rate>) -> Self {
        Self {
            mode,
            concurrency,
            rate,
            requests: 0,
            ok: 0,
            retries: 0,
            bytes: 0,
            wire_bytes: 0,
            latencies: empty_histogram(),
            by_class: BTreeMap::new(),
            corrected: rate.map(|_| empty_histogram()),
            busy: Duration::ZERO,
            waits: BTreeMap::new(),
            slowest: Vec::with_capacity(SLOWEST + 1),
            client_cpu: None,
            connections_opened: 0,
            crawl: None,
            levels: BTreeMap::new(),
            pushback: PushbackCounts::default(),
            cache: None,
            throttle: None,
            proxied_requests: 0,
            proxies: Vec::new(),
            phases: Phases::default(),
            timeline: Timeline::default(),
            waterfall: Waterfall::default(),
            status: BTreeMap::new(),
            versions: BTreeMap::new(),
            error_kinds: BTreeMap::new(),
            first_start: None,
            last_finish: Duration::ZERO,
            epoch_unix: unix_now(),
            ending: Ending::Completed,
            fields_matched: Vec::new(),
            items_found: false,
        }
    }

    /// Which `-f` paths gave a value (not null) in at least one successful record, by position.
    pub fn fields_matched(&self) -> &[bool] {
        &self.fields_matched
    }

    /// Whether any page of items (`--items`) had a list at the items path.
    pub fn items_found(&self) -> bool {
        self.items_found
    }

    /// Counts one record.
    pub fn add(&mut self, record: &Record) {
        self.requests += 1;
        LevelCounts::add(&mut self.levels, record);
        self.bytes += record.bytes;
        self.wire_bytes += record.wire_bytes;
        self.retries += u64::from(record.attempts.saturating_sub(1));
        if record.is_ok() {
            self.ok += 1;
            if self.fields_matched.len() < record.fields.len() {
                self.fields_matched.resize(record.fields.len(), false);
            }
            if record.crawl.as_ref().is_some_and(|c| c.items) {
                self.items_found |= record.fields.iter().any(serde_json::Value::is_array);
            }
            for (matched, value) in self.fields_matched.iter_mut().zip(&record.fields) {
                *matched |= holds_something(value);
            }
        }
        if let Some(status) = record.status {
            *self.status.entry(status).or_default() += 1;
        }
        if let Some(version) = record.http_version {
            *self.versions.entry(version).or_default() += 1;
        }
        if let Some(failure) = &record.failure {
            *self.error_kinds.entry(failure.kind).or_default() += 1;
        }
        if let Some(used) = record.cache {
            self.cache.get_or_insert_default().add(used);
        }
        self.first_start = Some(match self.first_start {
            Some(first) => first.min(record.started),
            None => record.started,
        });
        self.last_finish = self.last_finish.max(record.finished());
        if let Some(wait) = record.wait {
            self.busy += wait.time;
            let waits = self.waits.entry(wait.cause).or_insert_with(|| Waits {
                times: empty_histogram(),
                total: Duration::ZERO,
            });
            waits.times.saturating_record(as_micros(wait.time));
            waits.total += wait.time;
        }
        if !record.went_out() || record.attempts == 0 {
            // A cache hit (or an only-cached miss, or a robots.txt refusal) made no request: its
            // microseconds of disk would pull every latency figure toward zero and say nothing
            // of the server. It counts as a record above; the latencies, phases, seconds and
            // waterfall are the network's.
            return;
        }
        let micros = as_micros(record.elapsed);
        self.latencies.saturating_record(micros);
        self.by_class
            .entry(outcome_class(record))
            .or_insert_with(empty_histogram)
            .saturating_record(micros);
        if let Some(corrected) = &mut self.corrected {
            corrected.saturating_record(as_micros(
                record.finished().saturating_sub(record.scheduled),
            ));
        }
        self.busy += record.elapsed;
        // A failure's time is the failure's (a refusal, a timeout), not what an id costs.
        if record.is_ok() {
            self.note_if_slow(record);
        }
        self.timeline.add(record);
        self.waterfall.add(record);
        let timing = &record.timing;
        for (histogram, ms) in [
            (&mut self.phases.dns, timing.dns_ms),
            (&mut self.phases.connect, timing.connect_ms),
            (&mut self.phases.tls, timing.tls_ms),
            (&mut self.phases.ttfb, timing.ttfb_ms),
            (&mut self.phases.body, timing.body_ms),
        ] {
            if let Some(ms) = ms {
                let micros = (ms * 1000.0).round() as u64;
                histogram
                    .get_or_insert_with(empty_histogram)
                    .saturating_record(micros.clamp(1, MAX_TRACKED_MICROS));
            }
        }
    }

    fn note_if_slow(&mut self, record: &Record) {
        if self.slowest.len() == SLOWEST
            && self
                .slowest
                .last()
                .is_some_and(|s| s.elapsed >= record.elapsed)
        {
            return;
        }
        let at = self
            .slowest
            .partition_point(|s| s.elapsed >= record.elapsed);
        self.slowest.insert(
            at,
            Slow {
                id: record.id.clone(),
                key: record.crawl.as_ref().map(|lineage| lineage.key.clone()),
                elapsed: record.elapsed,
                bytes: record.bytes,
            },
        );
        self.slowest.truncate(SLOWEST);
    }

    /// The slowest successful requests, slowest first (at most five).
    pub fn slowest(&self) -> &[Slow] {
        &self.slowest
    }

    /// Histograms per outcome class seen.
    pub fn by_class(&self) -> &BTreeMap<&'static str, Histogram<u64>> {
        &self.by_class
    }

    /// Latencies from the scheduled start, when the run had a rate.
    pub fn corrected(&self) -> Option<&Histogram<u64>> {
        self.corrected.as_ref()
    }

    /// Mean number of requests in flight over the run.
    pub fn mean_in_flight(&self) -> f64 {
        let wall = self.wall().as_secs_f64();
        if wall > 0.0 {
            self.busy.as_secs_f64() / wall
        } else {
            0.0
        }
    }

    pub fn errors(&self) -> u64 {
        self.requests - self.ok
    }

    /// From the first request's start to the last one's end.
    pub fn wall(&self) -> Duration {
        self.first_start.map_or(Duration::ZERO, |first| {
            self.last_finish.saturating_sub(first)
        })
    }

    /// Completed requests per second of wall time.
    pub fn rps(&self) -> f64 {
        let wall = self.wall().as_secs_f64();
        if wall > 0.0 {
            self.requests as f64 / wall
        } else {
            0.0
        }
    }

    /// Wall-clock start and end of the run (first start, last end), Unix seconds.
    pub fn span_unix(&self) -> (f64, f64) {
        let start = self.first_start.unwrap_or_default().as_secs_f64();
        (
            self.epoch_unix + start,
            self.epoch_unix + self.last_finish.as_secs_f64().max(start),
        )
    }

    /// The latency histogram (microseconds).
    pub fn histogram(&self) -> &Histogram<u64> {
        &self.latencies
    }

    /// Latency summary in milliseconds; all zero when nothing completed.
    pub fn latency(&self) -> LatencySummary {
        LatencySummary::of(&self.latencies)
    }
}

/// The waits of one cause: their lengths (microseconds) and their sum.
#[derive(Debug, Clone)]
pub struct Waits {
    pub times: Histogram<u64>,
    pub total: Duration,
}

/// Histograms of request phases (None until a request had the phase).
#[derive(Debug, Clone, Default)]
pub struct Phases {
    pub dns: Option<Histogram<u64>>,
    pub connect: Option<Histogram<u64>>,
    pub tls: Option<Histogram<u64>>,
    pub ttfb: Option<Histogram<u64>>,
    pub body: Option<Histogram<u64>>,
}

/// How many of the slowest requests the report names.
const SLOWEST: usize = 5;

/// One of the slowest requests.
#[derive(Debug, Clone, PartialEq)]
pub struct Slow {
    pub id: Id,
    /// A crawl's record: its key (a seed's pages and links share the seed's id).
    pub key: Option<String>,
    pub elapsed: Duration,
    pub bytes: u64,
}

fn as_micros(d: Duration) -> u64 {
    u64::try_from(d.as_micros())
        .unwrap_or(u64::MAX)
        .clamp(1, MAX_TRACKED_MICROS)
}

/// `2xx`, `3xx`, `4xx`, `5xx` by status; `error` when no response came.
pub fn outcome_class(record: &Record) -> &'static str {
    match record.status {
        Some(200..=299) => "2xx",
        Some(300..=399) => "3xx",
        Some(400..=499) => "4xx",
        Some(500..=599) => "5xx",
        Some(_) | None => "error",
    }
}

fn unix_now() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

/// A histogram as text: hdrhistogram's V2 serialization (lossless), base64-encoded.
pub fn encode_histogram(histogram: &Histogram<u64>) -> String {
    let mut bytes = Vec::new();
    // Serializing into a Vec cannot fail for a histogram within its own bounds.
    let _ = V2Serializer::new().serialize(histogram, &mut bytes);
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// The histogram [`encode_histogram`] wrote, or None if the text is not one.
pub fn decode_histogram(text: &str) -> Option<Histogram<u64>> {
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(text)
        .ok()?;
    Deserializer::new().deserialize(&mut bytes.as_slice()).ok()
}

/// An empty histogram with the bounds every run uses, so any two can be added exactly.
pub fn empty_histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, MAX_TRACKED_MICROS, 3)
        .expect("constant histogram bounds are valid")
}

impl LatencySummary {
    /// The summary of a latency histogram in microseconds.
    pub fn of(h: &Histogram<u64>) -> Self {
        if h.is_empty() {
            return LatencySummary::default();
        }
        let ms = |micros: u64| micros as f64 / 1000.0;
        LatencySummary {
            min: ms(h.min()),
            mean: h.mean() / 1000.0,
            p50: ms(h.value_at_quantile(0.50)),
            p90: ms(h.value_at_quantile(0.90)),
            p99: ms(h.value_at_quantile(0.99)),
            p999: ms(h.value_at_quantile(0.999)),
            max: ms(h.max()),
        }
    }
}

impl LatencySummary {
    /// Whether it summarises nothing (no request went out): a real latency is never 0, the
    /// histogram counting from a microsecond.
    pub fn is_empty(&self) -> bool {
        self.max == 0.0
    }
}

/// Latency percentiles of a run, in milliseconds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct LatencySummary {
    pub min: f64,
    pub mean: f64,
    pub p50: f64,
    pub p90: f64,
    pub p99: f64,
    pub p999: f64,
    pub max: f64,
}
