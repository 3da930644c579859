//! The record: what one id's request produced, success or failure. Every sink and the report read
//! this one type, and a failure is a record like any other, so no result is ever a gap.

use std::fmt;
use std::time::Duration;

use serde::ser::{SerializeMap, Serializer};
use serde::Serialize;
use serde_json::Value;

use crate::extract::FieldPath;
use crate::plan::ids::Id;

/// What went wrong with a request, coarse enough to count in a report.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorKind {
    /// Could not connect (refused, DNS, TLS handshake).
    Connect,
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
}

impl ErrorKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorKind::Connect => "connect",
            ErrorKind::Timeout => "timeout",
            ErrorKind::Status => "status",
            ErrorKind::Body => "body",
            ErrorKind::Json => "json",
            ErrorKind::Redirect => "redirect",
            ErrorKind::Request => "request",
        }
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A failed request: its kind for counting and a message for people.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    pub kind: ErrorKind,
    pub message: String,
}

/// Where one request's time went, in milliseconds; null where a phase did not happen.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct Timing {
    /// Looking the host name up; null when no lookup happened for this request (a reused
    /// connection, an IP address, a pinned or already resolved name: names are resolved once).
    pub dns_ms: Option<f64>,
    /// Opening a new connection after the lookup (TCP and, for https, TLS); null on a reused one.
    pub connect_ms: Option<f64>,
    /// From sending to the response headers (including any redirects and the connect).
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
    /// From the moment the request was allowed to start (after the rate limiter) to the end of the body.
    pub elapsed: Duration,
    /// When the request was due, from the start of the run: on the rate's schedule (k/R, as GCRA
    /// admits it) with `--rate`, else when the scheduler took the id.
    pub scheduled: Duration,
    /// When the request started, from the start of the run.
    pub started: Duration,
    /// Body bytes of the last attempt, decoded (what the JSON was parsed from).
    pub bytes: u64,
    /// Body bytes of the last attempt as they came over the wire (compressed, if it was).
    pub wire_bytes: u64,
    /// Attempts made: 1, plus one per retry.
    pub attempts: u32,
    pub failure: Option<Failure>,
    /// One value per requested path, in the order the paths were given.
    pub fields: Vec<Value>,
}

impl Record {
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
    (d.as_micros() as f64) / 1000.0
}

/// `{"id":25,"url":"...","status":200,"elapsed_ms":41.3,"bytes":37163,"wire_bytes":9461,"attempts":1,"error":null,"fields":{..}}`
pub struct RecordJson<'a> {
    record: &'a Record,
    paths: &'a [FieldPath],
}

impl Serialize for RecordJson<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let r = self.record;
        let mut map = serializer.serialize_map(Some(14))?;
        map.serialize_entry("id", &r.id)?;
        map.serialize_entry("url", &r.url)?;
        map.serialize_entry("status", &r.status)?;
        map.serialize_entry("http_version", &r.http_version)?;
        map.serialize_entry("elapsed_ms", &r.elapsed_ms())?;
        map.serialize_entry("bytes", &r.bytes)?;
        map.serialize_entry("wire_bytes", &r.wire_bytes)?;
        map.serialize_entry("attempts", &r.attempts)?;
        map.serialize_entry("scheduled_s", &r.scheduled.as_secs_f64())?;
        map.serialize_entry("started_s", &r.started.as_secs_f64())?;
        map.serialize_entry("finished_s", &r.finished().as_secs_f64())?;
        map.serialize_entry("timing", &r.timing)?;
        map.serialize_entry("error", &r.failure.as_ref().map(|f| &f.message))?;
        map.serialize_entry(
            "fields",
            &Fields {
                paths: self.paths,
                values: &r.fields,
            },
        )?;
        map.end()
    }
}

struct Fields<'a> {
    paths: &'a [FieldPath],
    values: &'a [Value],
}

impl Serialize for Fields<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(self.paths.len()))?;
        for (i, path) in self.paths.iter().enumerate() {
            map.serialize_entry(path.as_str(), self.values.get(i).unwrap_or(&Value::Null))?;
        }
        map.end()
    }
}
