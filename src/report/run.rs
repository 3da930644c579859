//! One run's figures as the JSON report has them (`RunReport`), and the one constructor a
//! measured run and a merge of shards share (`RunReport::from_parts`).

use std::collections::BTreeMap;

use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};

use super::cache::CacheReport;
use super::stats::{encode_histogram, Ending, LatencySummary, RunMode, RunStats};
use super::units;

/// One run's figures, as they appear in the JSON report.
#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
pub struct RunReport {
    pub mode: RunMode,
    /// `completed`, `deadline`, `max_errors` or `cancelled`.
    pub ended: Ending,
    /// Ids the run was asked to fetch, after `--shard` and `--resume` (null for stdin streamed to a
    /// single run, not counted before it is read).
    pub planned: Option<u64>,
    /// Ids not fetched because the run ended early (`planned - requests`; null when unknown).
    pub not_fetched: Option<u64>,
    pub concurrency: usize,
    /// The rate asked for, the rate achieved, and what limited it.
    pub rate: RateReport,
    /// Mean number of requests in flight (sum of latencies and waits at a host over wall time:
    /// a waiting request holds its slot).
    pub mean_in_flight: f64,
    /// User plus system CPU seconds of the client during the run (null where not measurable).
    pub client_cpu_s: Option<f64>,
    /// Connections the client opened (1 for a sequential run with reuse; one per request with
    /// `--no-keepalive`).
    pub connections_opened: u64,
    /// Requests that went through a proxy (`NO_PROXY` hosts bypass it).
    #[serde(default)]
    pub proxied_requests: u64,
    /// The proxies that carried them, passwords redacted (empty when none did).
    #[serde(default)]
    pub proxies: Vec<String>,
    /// True without `--rate`: each request is sent when a slot frees, so latency is timed from
    /// the send and queueing before it is not seen (coordinated omission applies).
    pub closed_loop: bool,
    pub requests: u64,
    pub ok: u64,
    pub errors: u64,
    /// Attempts beyond the first (a request retried twice counts once in requests, twice here).
    pub retries: u64,
    pub wall_s: f64,
    pub rps: f64,
    /// Body bytes, decoded.
    pub bytes: u64,
    /// Body bytes as received (compressed, where the server compressed).
    pub wire_bytes: u64,
    /// `bytes / wire_bytes`: how much compression saved (1.0 when nothing was compressed).
    pub compression_ratio: Option<f64>,
    /// Wire megabytes (10^6) per second of wall time: compare with the link to see if the run
    /// was bandwidth-bound.
    pub wire_mb_per_s: f64,
    /// Null when no request went out (every record a cache hit, say), not zeros.
    #[serde(with = "empty_as_null")]
    #[schemars(with = "Option<LatencySummary>")]
    pub latency_ms: LatencySummary,
    /// The same per outcome class (`2xx`, `3xx`, `4xx`, `5xx`, `error`; only the classes seen).
    pub latency_ms_by_class: BTreeMap<String, LatencySummary>,
    /// With `--rate`: latency from each request's scheduled start (k/R), which does not hide
    /// queueing behind a full pool or a slow server; null in a closed-loop run.
    pub latency_corrected_ms: Option<LatencySummary>,
    /// The five slowest successful requests: id, latency and decoded size.
    pub slowest: Vec<SlowReport>,
    /// The time requests were held at their host before they were sent, per cause
    /// (`pushback`, `crawl-delay`, `throttle`, `host-concurrency`, `host-rate`, `robots`; only
    /// the causes seen): never part of the latency, which is timed from the send. Null when
    /// nothing waited. A merge adds them up (percentiles from `histogram_waits`).
    #[serde(default)]
    pub waits: Option<BTreeMap<String, WaitReport>>,
    /// Percentiles of each phase: opening a connection (null when every request reused one),
    /// time to the response headers, reading the body. Total latency stays the headline.
    pub phases_ms: PhasesReport,
    /// One entry per second of the run (by when requests finished).
    pub per_second: Vec<super::timeline::SecondReport>,
    /// Responses per HTTP status code.
    pub status: BTreeMap<String, u64>,
    /// Failed requests per kind of error.
    pub error_kinds: BTreeMap<String, u64>,
    /// Responses per HTTP version that answered (`HTTP/1.1`, `HTTP/2.0`).
    #[serde(default)]
    pub http_versions: BTreeMap<String, u64>,
    /// A crawl's levels, pages and skipped links; null for a flat run.
    #[serde(default)]
    pub crawl: Option<super::crawl::CrawlReport>,
    /// How often a host pushed back (a 429, a 503, a rate limit at zero), pausing every request
    /// to it, and the longest such pause in milliseconds.
    #[serde(default)]
    pub host_pauses: u64,
    #[serde(default)]
    pub longest_pause_ms: f64,
    /// What the HTTP cache (`--cache`) did for the records; null without it. Hits made no
    /// request: they count in `requests` (records) but in no latency, phase or per-second figure.
    #[serde(default)]
    pub cache: Option<CacheReport>,
    /// Requests per second to the host that pushed back most, as the run ended: the rate its
    /// back-off climbed to, or once it climbed past any limit, the rate it ran at; null when no
    /// host pushed back.
    #[serde(default)]
    pub settled_rate: Option<f64>,
    /// With `--auto-throttle`: the delay between request starts the busiest host converged to,
    /// in milliseconds, and the concurrency that gives it (its latency over the delay; null
    /// while the delay is zero). Null without `--auto-throttle`.
    #[serde(default)]
    pub throttle_delay_ms: Option<f64>,
    #[serde(default)]
    pub throttle_concurrency: Option<f64>,
    /// First request start and last request end, Unix seconds (wall clock), for merging shards.
    pub started_at: f64,
    pub ended_at: f64,
    /// `started_at` and `ended_at` as RFC 3339, UTC, to the millisecond
    /// (`2025-03-01T12:00:00.123Z`).
    // Defaulted so reports written before these fields still load (`merge` and `compare`), but
    // every report written has them, so the schema gets no `"default": ""`, not a date-time.
    #[serde(default)]
    #[schemars(extend("format" = "date-time"), transform = without_default)]
    pub started_at_rfc3339: String,
    #[serde(default)]
    #[schemars(extend("format" = "date-time"), transform = without_default)]
    pub ended_at_rfc3339: String,
    /// The latency histogram (microseconds), lossless: hdrhistogram's V2 serialization, base64.
    /// `merge` adds these, so merged percentiles are exact.
    pub histogram: String,
    /// The same per outcome class, and from the schedule (for exact merges of those too).
    pub histogram_by_class: BTreeMap<String, String>,
    pub histogram_corrected: Option<String>,
    /// The waits' histograms (microseconds) per cause, as `histogram`, for exact merges of
    /// `waits`.
    #[serde(default)]
    pub histogram_waits: BTreeMap<String, String>,
}

/// A latency summary of nothing written as null, and read back from null, so that an all-hit
/// run's latency reads as absent rather than as zeros (the field keeps its type for readers).
mod empty_as_null {
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    use super::LatencySummary;

    pub(super) fn serialize<S: Serializer>(
        summary: &LatencySummary,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        Some(summary)
            .filter(|s| !s.is_empty())
            .serialize(serializer)
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<LatencySummary, D::Error> {
        Ok(Option::<LatencySummary>::deserialize(deserializer)?.unwrap_or_default())
    }
}

/// Drops the `default` schemars derives from `#[serde(default)]` (for fields only old reports lack).
fn without_default(schema: &mut schemars::Schema) {
    schema.remove("default");
}

/// Target, achieved and limiting factor of a run's request rate.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct RateReport {
    /// Requests per second asked for with `--rate`, or null for unlimited.
    pub target: Option<f64>,
    /// Requests per second achieved (requests over wall time).
    pub achieved: f64,
    /// `failures` (most requests failed), `rate`, `pushback`, `concurrency`, `server` or
    /// `client_cpu`; null when nothing ran.
    pub limited_by: Option<String>,
}

/// Phase percentiles of a run, in milliseconds.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct PhasesReport {
    pub dns: Option<LatencySummary>,
    pub connect: Option<LatencySummary>,
    /// TLS handshakes timed apart from the connect (new https connections off a proxy).
    #[serde(default)]
    pub tls: Option<LatencySummary>,
    pub ttfb: Option<LatencySummary>,
    pub body: Option<LatencySummary>,
}

/// The waits of one cause in a run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct WaitReport {
    /// Requests held for this cause (each counts under the cause that held it longest).
    pub count: u64,
    /// Their waits added up, in milliseconds.
    pub total_ms: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
}

impl WaitReport {
    fn of(waits: &super::stats::Waits) -> Self {
        Self::from_histogram(&waits.times, waits.total.as_secs_f64() * 1000.0)
    }

    /// The figures of the waits in `times` (microseconds), `total_ms` long in all.
    pub(super) fn from_histogram(times: &Histogram<u64>, total_ms: f64) -> Self {
        let ms = |micros: u64| micros as f64 / 1000.0;
        Self {
            count: times.len(),
            total_ms,
            p50_ms: ms(times.value_at_quantile(0.50)),
            p99_ms: ms(times.value_at_quantile(0.99)),
        }
    }
}

/// One of the slowest requests.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct SlowReport {
    pub id: serde_json::Value,
    /// In a crawl, the record's key (`1.3.17`): the seed's id names all its pages and links.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    pub ms: f64,
    pub bytes: u64,
}

/// What held the rate down: failures when most requests failed (their rate is not the
/// server's); the rate limit when it was (nearly) reached; the server's push-back
/// when a host paused the run (its requests then wait in their slots, which would otherwise read
/// as full slots); the concurrency when the slots were (nearly) always full; the client's CPU
/// when the process used nearly all cores; else the server, which answered slower than the
/// client could ask.
fn limited_by(
    target: Option<f64>,
    achieved: f64,
    mean_in_flight: f64,
    concurrency: usize,
    cpu_share: Option<f64>,
    pushed_back: bool,
    failed_most: bool,
) -> Option<&'static str> {
    if achieved <= 0.0 {
        return None;
    }
    let cores = std::thread::available_parallelism().map_or(1, usize::from) as f64;
    Some(if failed_most {
        "failures"
    } else if target.is_some_and(|t| achieved >= 0.9 * t) {
        "rate"
    } else if pushed_back {
        "pushback"
    } else if mean_in_flight >= 0.8 * concurrency as f64 {
        "concurrency"
    } else if cpu_share.is_some_and(|share| share >= 0.9 * cores) {
        "client_cpu"
    } else {
        "server"
    })
}

impl RunReport {
    /// `sequential`, or `concurrent c=50`: how both reports head a run's column.
    pub fn name(&self) -> String {
        match self.mode {
            RunMode::Concurrent => format!("concurrent c={}", self.concurrency),
            RunMode::Sequential => "sequential".to_owned(),
        }
    }

    /// The report of a finished run that was asked to fetch `planned` ids.
    pub fn from_stats(stats: &RunStats, planned: Option<u64>) -> Self {
        let (started_at, ended_at) = stats.span_unix();
        let wall_s = stats.wall().as_secs_f64();
        let client_cpu_s = stats.client_cpu.map(|c| c.as_secs_f64());
        let by_class = stats
            .by_class()
            .iter()
            .map(|(class, h)| ((*class).to_owned(), h))
            .collect();
        let mut report = Self::from_parts(RunParts {
            mode: stats.mode,
            ended: stats.ending,
            planned,
            not_fetched: planned.map(|p| p.saturating_sub(stats.requests)),
            concurrency: stats.concurrency,
            target: stats.rate.map(|r| r.per_second()),
            closed_loop: stats.rate.is_none(),
            // Every request the server handled: the answers past a stop rule's end too (their
            // records are not written; the crawl figures show them apart as `past_stop`).
            requests: stats.requests + stats.crawl.as_ref().map_or(0, |c| c.past_stop),
            ok: stats.ok,
            errors: stats.errors(),
            retries: stats.retries,
            bytes: stats.bytes,
            wire_bytes: stats.wire_bytes,
            connections_opened: stats.connections_opened,
            proxied_requests: stats.proxied_requests,
            proxies: stats.proxies.clone(),
            status: keyed_by_text(&stats.status),
            error_kinds: keyed_by_text(&stats.error_kinds),
            http_versions: keyed_by_text(&stats.versions),
            crawl: stats
                .crawl
                .as_ref()
                .map(|counts| super::crawl::CrawlReport::new(counts, &stats.levels)),
            host_pauses: stats.pushback.pauses,
            longest_pause_ms: stats.pushback.longest.as_secs_f64() * 1000.0,
            cache: stats.cache,
            settled_rate: stats.pushback.settled_rate,
            throttle_delay_ms: stats.throttle.map(|t| t.delay.as_secs_f64() * 1000.0),
            throttle_concurrency: stats.throttle.and_then(|t| t.concurrency),
            started_at,
            ended_at,
            wall_s,
            mean_in_flight: stats.mean_in_flight(),
            client_cpu_s,
            cpu_share: client_cpu_s.filter(|_| wall_s > 0.0).map(|c| c / wall_s),
            histogram: stats.histogram(),
            by_class,
            corrected: stats.corrected(),
            slowest: stats
                .slowest()
                .iter()
                .map(|s| SlowReport {
                    id: serde_json::to_value(&s.id).unwrap_or_default(),
                    key: s.key.clone(),
                    ms: s.elapsed.as_micros() as f64 / 1000.0,
                    bytes: s.bytes,
                })
                .collect(),
            phases_ms: PhasesReport {
                dns: stats.phases.dns.as_ref().map(LatencySummary::of),
                connect: stats.phases.connect.as_ref().map(LatencySummary::of),
                tls: stats.phases.tls.as_ref().map(LatencySummary::of),
                ttfb: stats.phases.ttfb.as_ref().map(LatencySummary::of),
                body: stats.phases.body.as_ref().map(LatencySummary::of),
            },
            per_second: stats.timeline.report(),
        });
        report.waits = (!stats.waits.is_empty()).then(|| {
            stats
                .waits
                .iter()
                .map(|(cause, waits)| (cause.as_str().to_owned(), WaitReport::of(waits)))
                .collect()
        });
        report.histogram_waits = stats
            .waits
            .iter()
            .map(|(cause, waits)| (cause.as_str().to_owned(), encode_histogram(&waits.times)))
            .collect();
        report
    }

    /// The one place a [`RunReport`] is put together, for a run ([`RunReport::from_stats`]) and
    /// for a merge of shards (`merge`): everything not in `parts` (the rate, rps, compression,
    /// wire rate, latency summaries, encoded histograms, RFC 3339 times) is derived here, the
    /// same way for both.
    pub(super) fn from_parts(p: RunParts<'_>) -> Self {
        let rps = per_second(p.requests as f64, p.wall_s);
        Self {
            mode: p.mode,
            ended: p.ended,
            planned: p.planned,
            not_fetched: p.not_fetched,
            concurrency: p.concurrency,
            rate: RateReport {
                target: p.target,
                achieved: rps,
                limited_by: limited_by(
                    p.target,
                    rps,
                    p.mean_in_flight,
                    p.concurrency,
                    p.cpu_share,
                    p.host_pauses > 0,
                    p.errors.saturating_mul(2) > p.requests,
                )
                .map(str::to_owned),
            },
            mean_in_flight: p.mean_in_flight,
            client_cpu_s: p.client_cpu_s,
            connections_opened: p.connections_opened,
            proxied_requests: p.proxied_requests,
            proxies: p.proxies,
            closed_loop: p.closed_loop,
            requests: p.requests,
            ok: p.ok,
            errors: p.errors,
            retries: p.retries,
            wall_s: p.wall_s,
            rps,
            bytes: p.bytes,
            wire_bytes: p.wire_bytes,
            compression_ratio: compression_ratio(p.bytes, p.wire_bytes),
            wire_mb_per_s: per_second(p.wire_bytes as f64 / 1e6, p.wall_s),
            latency_ms: LatencySummary::of(p.histogram),
            latency_ms_by_class: p
                .by_class
                .iter()
                .map(|(class, h)| (class.clone(), LatencySummary::of(h)))
                .collect(),
            // Null, not zeros, when no request went out.
            latency_corrected_ms: p
                .corrected
                .filter(|h| !h.is_empty())
                .map(LatencySummary::of),
            slowest: p.slowest,
            // A run's are set by `from_stats`, a merge's by `merge`.
            waits: None,
            phases_ms: p.phases_ms,
            per_second: p.per_second,
            status: p.status,
            error_kinds: p.error_kinds,
            http_versions: p.http_versions,
            crawl: p.crawl,
            host_pauses: p.host_pauses,
            longest_pause_ms: p.longest_pause_ms,
            cache: p.cache,
            settled_rate: p.settled_rate,
            throttle_delay_ms: p.throttle_delay_ms,
            throttle_concurrency: p.throttle_concurrency,
            started_at: p.started_at,
            ended_at: p.ended_at,
            started_at_rfc3339: units::rfc3339(p.started_at),
            ended_at_rfc3339: units::rfc3339(p.ended_at),
            histogram: encode_histogram(p.histogram),
            histogram_by_class: p
                .by_class
                .iter()
                .map(|(class, h)| (class.clone(), encode_histogram(h)))
                .collect(),
            histogram_corrected: p.corrected.map(encode_histogram),
            histogram_waits: BTreeMap::new(),
        }
    }
}

/// A count per status code, error kind or version, keyed by its text as the JSON has it.
fn keyed_by_text<K: ToString>(map: &BTreeMap<K, u64>) -> BTreeMap<String, u64> {
    map.iter().map(|(key, n)| (key.to_string(), *n)).collect()
}

/// What a run's report is made of: the figures a run measures and a merge adds up (each in its
/// own way), from which [`RunReport::from_parts`] derives the rest. A field here is a fact both
/// must supply; a field derived from these is written once, in `from_parts`.
pub(super) struct RunParts<'a> {
    pub(super) mode: RunMode,
    pub(super) ended: Ending,
    pub(super) planned: Option<u64>,
    pub(super) not_fetched: Option<u64>,
    pub(super) concurrency: usize,
    /// Requests per second asked for with `--rate`.
    pub(super) target: Option<f64>,
    pub(super) closed_loop: bool,
    pub(super) requests: u64,
    pub(super) ok: u64,
    pub(super) errors: u64,
    pub(super) retries: u64,
    pub(super) bytes: u64,
    pub(super) wire_bytes: u64,
    pub(super) connections_opened: u64,
    pub(super) proxied_requests: u64,
    pub(super) proxies: Vec<String>,
    pub(super) status: BTreeMap<String, u64>,
    pub(super) error_kinds: BTreeMap<String, u64>,
    pub(super) http_versions: BTreeMap<String, u64>,
    /// The span: first start and last end (Unix seconds), and the wall time between them.
    pub(super) started_at: f64,
    pub(super) ended_at: f64,
    pub(super) wall_s: f64,
    pub(super) mean_in_flight: f64,
    pub(super) client_cpu_s: Option<f64>,
    /// The client's CPU seconds per wall second, when they say something of the rate's limit
    /// (not for a merge: each shard ran on its own machine).
    pub(super) cpu_share: Option<f64>,
    /// The latency histograms, all requests and per outcome class, and from the schedule.
    pub(super) histogram: &'a Histogram<u64>,
    pub(super) by_class: BTreeMap<String, &'a Histogram<u64>>,
    pub(super) corrected: Option<&'a Histogram<u64>>,
    pub(super) slowest: Vec<SlowReport>,
    pub(super) phases_ms: PhasesReport,
    pub(super) per_second: Vec<super::timeline::SecondReport>,
    pub(super) crawl: Option<super::crawl::CrawlReport>,
    pub(super) host_pauses: u64,
    pub(super) longest_pause_ms: f64,
    pub(super) cache: Option<CacheReport>,
    pub(super) settled_rate: Option<f64>,
    pub(super) throttle_delay_ms: Option<f64>,
    pub(super) throttle_concurrency: Option<f64>,
}

/// Decoded over wire bytes, when anything came over the wire.
fn compression_ratio(bytes: u64, wire_bytes: u64) -> Option<f64> {
    (wire_bytes > 0).then(|| bytes as f64 / wire_bytes as f64)
}

fn per_second(amount: f64, seconds: f64) -> f64 {
    if seconds > 0.0 {
        amount / seconds
    } else {
        0.0
    }
}
