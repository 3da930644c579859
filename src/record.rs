//! The record, one concern: what one id's request produced, success or failure, and its one JSON
//! form ([`RecordJson`]). Every sink and the report read this one type, and a failure is a record
//! like any other, so no result is ever a gap.

use std::fmt;
use std::io::{self, Write};
use std::time::Duration;

use serde::Serialize;
use serde_json::Value;

use crate::extract::FieldPath;
use crate::plan::ids::Id;

/// What went wrong with a request, coarse enough to count in a report.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorKind {
    /// Could not connect (refused, DNS, reset during the handshake).
    Connect,
    /// TLS failed: a certificate not trusted or not for this host, a client certificate refused
    /// or missing, no protocol in common. Not retried, unless it may be a one-off (a garbled
    /// record, an internal error on the server's side).
    Tls,
    /// The request or a phase of it ran out of time.
    Timeout,
    /// The server answered with a non-2xx status.
    Status,
    /// The body could not be read completely (reset, truncated, over the size cap).
    Body,
    /// Fields were asked for but the body is not JSON.
    Json,
    /// Too many redirects, or a redirect loop.
    Redirect,
    /// Anything else the client reported.
    Request,
    /// A crawl's chain of pages named one of its pages again; the chain ends there.
    Pagination,
    /// robots.txt disallows the URL (`--robots`): no request was made.
    Robots,
    /// `--cache-mode only-cached` and no usable entry: no request was made.
    Cache,
}

impl ErrorKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorKind::Connect => "connect",
            ErrorKind::Tls => "tls",
            ErrorKind::Timeout => "timeout",
            ErrorKind::Status => "status",
            ErrorKind::Body => "body",
            ErrorKind::Json => "json",
            ErrorKind::Redirect => "redirect",
            ErrorKind::Request => "request",
            ErrorKind::Pagination => "pagination",
            ErrorKind::Robots => "robots",
            ErrorKind::Cache => "cache",
        }
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What the HTTP cache (`--cache`) did for a record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CacheUse {
    /// Answered from a stored entry, no request made.
    Hit,
    /// A stored entry the server confirmed (304): answered with its body.
    Revalidated,
    /// Not answered from the cache, nor stored (a failure, a response HTTP forbids storing).
    Miss,
    /// Fetched and stored.
    Stored,
}

impl CacheUse {
    pub fn as_str(self) -> &'static str {
        match self {
            CacheUse::Hit => "hit",
            CacheUse::Revalidated => "revalidated",
            CacheUse::Miss => "miss",
            CacheUse::Stored => "stored",
        }
    }
}

/// What held a request at its host before it was sent: a wait, not latency.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum WaitCause {
    /// A host that pushed back (a 429, a 503, a spent rate limit): its pause, then its AIMD limit.
    Pushback,
    /// robots.txt's `Crawl-delay` between two starts to an origin.
    CrawlDelay,
    /// `--auto-throttle`'s delay between two starts to a host.
    Throttle,
    /// `--host-concurrency`: every place at the host was taken.
    HostConcurrency,
    /// `--host-rate`: the host's rate limit.
    HostRate,
    /// The origin's robots.txt being fetched (`--robots`), before its first request.
    Robots,
}

impl WaitCause {
    /// Every cause, in the order reports list them.
    pub const ALL: [WaitCause; 6] = [
        WaitCause::Pushback,
        WaitCause::CrawlDelay,
        WaitCause::Throttle,
        WaitCause::HostConcurrency,
        WaitCause::HostRate,
        WaitCause::Robots,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            WaitCause::Pushback => "pushback",
            WaitCause::CrawlDelay => "crawl-delay",
            WaitCause::Throttle => "throttle",
            WaitCause::HostConcurrency => "host-concurrency",
            WaitCause::HostRate => "host-rate",
            WaitCause::Robots => "robots",
        }
    }
}

/// A request's wait before its send: how long, and the cause that held it longest.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Wait {
    pub time: Duration,
    pub cause: WaitCause,
}

/// A failed request: its kind for counting and a message for people.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    pub kind: ErrorKind,
    pub message: String,
}

/// Where one request's time went, in milliseconds; null where a phase did not happen.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Timing {
    /// Looking the host name up; null when no lookup happened for this request (a reused
    /// connection, an IP address, a pinned or already resolved name: names are resolved once).
    pub dns_ms: Option<f64>,
    /// Opening a new connection after the lookup (TCP; through a proxy, TLS too); null on a
    /// reused one.
    pub connect_ms: Option<f64>,
    /// The TLS handshake of a new https connection, after `connect_ms`; null on a reused one,
    /// on plain HTTP, and through a proxy (inside `connect_ms` there).
    pub tls_ms: Option<f64>,
    /// From the connection being ready (after the lookup and the connect) to the response
    /// headers; with redirects, the earlier hops' round trips too (their lookups and connects
    /// are in `dns_ms` and `connect_ms`).
    pub ttfb_ms: Option<f64>,
    /// Reading the body.
    pub body_ms: Option<f64>,
}

/// The outcome of one id.
#[derive(Debug, Clone, PartialEq)]
pub struct Record {
    /// Position of the id in the range (0-based); records are released in this order.
    pub index: u64,
    pub id: Id,
    pub url: String,
    /// HTTP status, when a response arrived.
    pub status: Option<u16>,
    /// The HTTP version that answered (`HTTP/1.1`, `HTTP/2.0`), when a response arrived.
    pub http_version: Option<&'static str>,
    /// Where the last attempt's time went.
    pub timing: Timing,
    /// From the first send to the end of the last body: the phases of the last attempt, plus,
    /// when it was retried, the earlier attempts and the waits before each retry. Zero when no
    /// request was sent (a cache hit, a robots.txt refusal).
    pub elapsed: Duration,
    /// When the request was due, from the start of the run: on the rate's schedule (k/R, as GCRA
    /// admits it) with `--rate`, else when the scheduler took the id.
    pub scheduled: Duration,
    /// When the request was sent (its first attempt), from the start of the run; when none was,
    /// when that was decided.
    pub started: Duration,
    /// The time it was held at its host before that send, and why; None when nothing held it.
    pub wait: Option<Wait>,
    /// Body bytes of the last attempt, decoded (what the JSON was parsed from).
    pub bytes: u64,
    /// Body bytes of the last attempt as they came over the wire (compressed, if it was).
    pub wire_bytes: u64,
    /// Attempts made: 1, plus one per retry.
    pub attempts: u32,
    pub failure: Option<Failure>,
    /// One value per requested path, in the order the paths were given.
    pub fields: Vec<Value>,
    /// Where a crawl found it; None outside a crawl.
    pub crawl: Option<Box<Lineage>>,
    /// What the HTTP cache did for it; None without `--cache`.
    pub cache: Option<CacheUse>,
}

/// Where a crawl's record came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lineage {
    /// Unique in a run and stable across runs of the same documents: the seed's id, its page in
    /// the chain, the rank of each link followed, then an item's index (`1.3.17`).
    pub key: String,
    /// Links followed from the seed's page to reach it (0 for a seed and its next pages).
    pub depth: u32,
    /// The URL of the document that named it; None for a seed.
    pub parent: Option<String>,
    /// Whether it is one of the results (a document of the last level, or a failure at any
    /// level, or any record when every level is asked for), rather than a step on the way.
    pub result: bool,
    /// Its fields hold one list each, one element per item of the page's list (`--items`):
    /// [`Record::into_results`] makes a record of each item.
    pub items: bool,
    /// Where it sat and what its document released, for a sink that keeps the crawl's pending
    /// work (a database's `frontier`); None where a resumed run could not go on from it (a
    /// range with stop rules) and on the records [`Record::into_results`] makes.
    pub work: Option<Box<CrawlWork>>,
}

/// A crawl's record's place and the work its document released: what lets a resumed run go on
/// from the work pending instead of fetching every page again.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CrawlWork {
    /// Its own place and URL.
    pub at: WorkItem,
    /// What its document released, in document order: its links, its next page or pages.
    /// Empty for a failure (none is followed).
    pub released: Vec<WorkItem>,
}

/// One request of a crawl, as a resumed run needs it to make it again in the same place.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkItem {
    /// Its place: its seed's number in the range, its page in the seed's chain, then the rank
    /// of each link followed (the record's key is the seed's id and all but the first).
    pub path: Vec<u32>,
    /// The URL to fetch (a cursor's token in its query).
    pub url: String,
    /// The URL of the document that named it; None for a seed.
    pub parent: Option<String>,
    /// A page sent out with the rest of its chain at once (from a `last` link): it does not
    /// follow its own next page.
    pub fanned: bool,
}

impl WorkItem {
    /// Links followed from the seed's page to reach it.
    pub fn depth(&self) -> u32 {
        u32::try_from(self.path.len().saturating_sub(2)).unwrap_or(u32::MAX)
    }

    /// Its record's key, for the seed whose id is `seed` (see [`Lineage::key`]).
    pub fn key(&self, seed: &Id) -> String {
        use std::fmt::Write;
        let mut key = seed.to_string();
        for step in self.path.iter().skip(1) {
            let _ = write!(key, ".{step}");
        }
        key
    }
}

impl Record {
    /// Whether the record belongs in the results: always outside a crawl (see [`Lineage`]).
    pub fn is_result(&self) -> bool {
        self.crawl.as_ref().is_none_or(|c| c.result)
    }

    /// Hands `each` the records this one gives the results: none for a step of a crawl, one
    /// record per item for a page of items (`--items`: the request counted once, its items
    /// written apart), itself otherwise.
    pub fn into_results(self, mut each: impl FnMut(Record)) {
        if !self.is_result() {
            return;
        }
        let Some(lineage) = self
            .crawl
            .as_ref()
            .filter(|c| c.items && self.failure.is_none())
        else {
            return each(self);
        };
        let count = self
            .fields
            .iter()
            .map(|f| f.as_array().map_or(0, Vec::len))
            .max()
            .unwrap_or(0);
        let mut lineage = (**lineage).clone();
        lineage.items = false;
        // The page's work is the page's, not its items'.
        lineage.work = None;
        let page = std::mem::take(&mut lineage.key);
        for i in 0..count {
            lineage.key = format!("{page}.{i}");
            each(Record {
                fields: self
                    .fields
                    .iter()
                    .map(|f| f.get(i).cloned().unwrap_or(Value::Null))
                    .collect(),
                crawl: Some(Box::new(lineage.clone())),
                ..self.clone()
            });
        }
    }

    /// Whether a request went to the network for it: not for a cache hit, nor for a failure of
    /// `--cache-mode only-cached` (none was made).
    pub fn went_out(&self) -> bool {
        self.cache != Some(CacheUse::Hit)
            && self
                .failure
                .as_ref()
                .is_none_or(|f| f.kind != ErrorKind::Cache)
    }

    pub fn is_ok(&self) -> bool {
        self.failure.is_none()
    }

    /// When the request finished, from the start of the run.
    pub fn finished(&self) -> Duration {
        self.started + self.elapsed
    }

    /// Milliseconds with microsecond precision, the unit of every latency the tool prints.
    pub fn elapsed_ms(&self) -> f64 {
        duration_ms(self.elapsed)
    }

    /// A serializable view with the field paths as keys, for the JSON-based formats.
    pub fn json<'a>(&'a self, paths: &'a [FieldPath]) -> RecordJson<'a> {
        RecordJson {
            record: self,
            paths,
        }
    }
}

/// Milliseconds rounded to the microsecond.
pub fn duration_ms(d: Duration) -> f64 {
    // Counted in u64 (584,000 years of microseconds): converting `as_micros`'s u128 to f64 is a
    // library call, made for every time of every record.
    let micros = d
        .as_secs()
        .saturating_mul(1_000_000)
        .saturating_add(u64::from(d.subsec_micros()));
    micros as f64 / 1000.0
}

/// `{"id":25,"url":"...","status":200,"elapsed_ms":41.3,"bytes":37163,"wire_bytes":9461,"attempts":1,"error":null,"fields":{..}}`
pub struct RecordJson<'a> {
    record: &'a Record,
    paths: &'a [FieldPath],
}

/// `,"key":value`: the key (which needs no escaping) and its punctuation written as one piece.
macro_rules! entry {
    ($out:expr, $key:literal, $value:expr) => {{
        $out.write_all(concat!(",\"", $key, "\":").as_bytes())?;
        serde_json::to_writer(&mut *$out, $value)?;
    }};
}

impl RecordJson<'_> {
    /// Appends the record as one JSON object (no newline).
    ///
    /// Written by hand rather than through a `Serialize` impl: the keys are fixed and need no
    /// escaping, and serde's map machinery (every key escaped, every entry through the
    /// serializer's state) cost more than the HTTP request that produced the record
    /// (docs/performance.md). Values still go through serde_json, so strings are escaped and
    /// numbers formatted exactly as serde_json does.
    pub fn write_to(&self, out: &mut impl Write) -> io::Result<()> {
        let r = self.record;
        let t = &r.timing;
        out.write_all(b"{\"id\":")?;
        serde_json::to_writer(&mut *out, &r.id)?;
        entry!(out, "url", &r.url);
        if let Some(lineage) = &r.crawl {
            entry!(out, "key", &lineage.key);
            entry!(out, "depth", &lineage.depth);
            entry!(out, "parent", &lineage.parent);
        }
        entry!(out, "status", &r.status);
        entry!(out, "http_version", &r.http_version);
        entry!(out, "elapsed_ms", &r.elapsed_ms());
        entry!(out, "bytes", &r.bytes);
        entry!(out, "wire_bytes", &r.wire_bytes);
        entry!(out, "attempts", &r.attempts);
        if let Some(cache) = r.cache {
            entry!(out, "cache", cache.as_str());
        }
        entry!(out, "scheduled_s", &r.scheduled.as_secs_f64());
        let (waited, cause) = r
            .wait
            .map_or((0.0, None), |w| (duration_ms(w.time), Some(w.cause)));
        entry!(out, "waited_ms", &waited);
        entry!(out, "wait_cause", &cause.map(WaitCause::as_str));
        entry!(out, "started_s", &r.started.as_secs_f64());
        entry!(out, "finished_s", &r.finished().as_secs_f64());
        out.write_all(b",\"timing\":{\"dns_ms\":")?;
        serde_json::to_writer(&mut *out, &t.dns_ms)?;
        entry!(out, "connect_ms", &t.connect_ms);
        entry!(out, "tls_ms", &t.tls_ms);
        entry!(out, "ttfb_ms", &t.ttfb_ms);
        entry!(out, "body_ms", &t.body_ms);
        out.write_all(b"}")?;
        entry!(out, "error", &r.failure.as_ref().map(|f| &f.message));
        out.write_all(b",\"fields\":{")?;
        for (i, path) in self.paths.iter().enumerate() {
            if i > 0 {
                out.write_all(b",")?;
            }
            serde_json::to_writer(&mut *out, path.as_str())?;
            out.write_all(b":")?;
            serde_json::to_writer(&mut *out, r.fields.get(i).unwrap_or(&Value::Null))?;
        }
        out.write_all(b"}}")
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use serde_json::json;

    use super::*;

    proptest::proptest! {
        #[test]
        fn milliseconds_are_the_microseconds_of_the_duration(secs in 0u64..=u64::MAX / 2_000_000, nanos in 0u32..1_000_000_000) {
            let d = Duration::new(secs, nanos);
            proptest::prop_assert_eq!(duration_ms(d), d.as_micros() as f64 / 1000.0);
        }
    }

    fn record(id: Id, failure: Option<Failure>, fields: Vec<Value>) -> Record {
        Record {
            index: 0,
            id,
            url: "http://h/p?q=\"é\"".to_owned(),
            status: Some(200),
            http_version: Some("HTTP/1.1"),
            timing: Timing {
                dns_ms: None,
                connect_ms: Some(0.25),
                tls_ms: None,
                ttfb_ms: Some(41.5),
                body_ms: Some(0.001),
            },
            elapsed: Duration::from_micros(41_501),
            scheduled: Duration::from_millis(2),
            started: Duration::from_millis(3),
            wait: None,
            bytes: 229_401,
            wire_bytes: 6_441,
            attempts: 2,
            failure,
            fields,
            crawl: None,
            cache: None,
        }
    }

    fn line(record: &Record, paths: &[&str]) -> String {
        let paths: Vec<FieldPath> = paths.iter().map(|p| p.parse().expect("path")).collect();
        let mut out = Vec::new();
        record.json(&paths).write_to(&mut out).expect("write");
        String::from_utf8(out).expect("utf-8")
    }

    #[test]
    fn a_record_is_one_json_object_with_every_key_in_order() {
        let r = record(Id::Num(25), None, vec![json!("pikachu"), json!([35, 55])]);
        let text = line(&r, &["name", "stats[*].base_stat"]);
        let parsed: Value = serde_json::from_str(&text).expect("valid JSON");
        assert_eq!(
            parsed,
            json!({
                "id": 25, "url": "http://h/p?q=\"é\"", "status": 200, "http_version": "HTTP/1.1",
                "elapsed_ms": 41.501, "bytes": 229_401, "wire_bytes": 6_441, "attempts": 2,
                "scheduled_s": 0.002, "waited_ms": 0.0, "wait_cause": null, "started_s": 0.003, "finished_s": 0.044501,
                "timing": {"dns_ms": null, "connect_ms": 0.25, "tls_ms": null, "ttfb_ms": 41.5, "body_ms": 0.001},
                "error": null,
                "fields": {"name": "pikachu", "stats[*].base_stat": [35, 55]}
            })
        );
        let keys = [
            "\"id\"",
            "\"url\"",
            "\"status\"",
            "\"http_version\"",
            "\"elapsed_ms\"",
            "\"bytes\"",
            "\"wire_bytes\"",
            "\"attempts\"",
            "\"scheduled_s\"",
            "\"waited_ms\"",
            "\"wait_cause\"",
            "\"started_s\"",
            "\"finished_s\"",
            "\"timing\"",
            "\"error\"",
            "\"fields\"",
        ];
        let positions: Vec<usize> = keys.iter().map(|k| text.find(k).expect(k)).collect();
        assert!(positions.windows(2).all(|w| w[0] < w[1]), "{text}");
    }

    #[test]
    fn the_cache_use_follows_the_attempts_only_with_the_cache_on() {
        let off = record(Id::Num(1), None, Vec::new());
        assert!(!line(&off, &[]).contains("cache"));
        let hit = Record {
            cache: Some(CacheUse::Hit),
            attempts: 0,
            ..off
        };
        assert!(line(&hit, &[]).contains(r#""attempts":0,"cache":"hit","scheduled_s""#));
    }

    #[test]
    fn a_wait_is_written_with_its_cause_between_the_schedule_and_the_send() {
        let held = Record {
            wait: Some(Wait {
                time: Duration::from_micros(1_500_250),
                cause: WaitCause::CrawlDelay,
            }),
            ..record(Id::Num(1), None, Vec::new())
        };
        let text = line(&held, &[]);
        assert!(
            text.contains(r#""scheduled_s":0.002,"waited_ms":1500.25,"wait_cause":"crawl-delay","started_s":0.003"#),
            "{text}"
        );
    }

    #[test]
    fn text_ids_failures_and_missing_fields_are_escaped_and_null() {
        let failure = Failure {
            kind: ErrorKind::Status,
            message: "HTTP 404 \"Not Found\"\n".to_owned(),
        };
        let r = record(
            Id::Text(Arc::from("mr. \"mime\"")),
            Some(failure),
            Vec::new(),
        );
        let parsed: Value = serde_json::from_str(&line(&r, &["name", "a\"b"])).expect("valid JSON");
        assert_eq!(parsed["id"], json!("mr. \"mime\""));
        assert_eq!(parsed["error"], json!("HTTP 404 \"Not Found\"\n"));
        assert_eq!(parsed["fields"], json!({"name": null, "a\"b": null}));
    }
}
