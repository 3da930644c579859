//! Property tests of the NDJSON writer: whatever bytes the fields hold, every record is one line
//! that parses, keys and fields in order.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use proptest::prelude::*;
use serde::de::{Deserialize, Deserializer, MapAccess, Visitor};
use serde_json::Value;

use super::*;
use crate::output::test_util::{self, Shared};
use crate::plan::ids::properties::any_id;
use crate::plan::ids::Id;
use crate::record::{ErrorKind, Failure, Timing};
use crate::test_support::{config, json_value, soup, wild_char, wild_string};

/// A record line's entries in the order they were written (a `Value` sorts its keys), the
/// object under `fields` kept the same way: a line read in one pass.
struct Line(Vec<(String, Entry)>);

/// An object's entries in the order they were written.
struct Ordered(Vec<(String, Value)>);

enum Entry {
    Value(Value),
    Fields(Vec<(String, Value)>),
}

impl Entry {
    fn value(&self) -> Option<&Value> {
        match self {
            Entry::Value(value) => Some(value),
            Entry::Fields(_) => None,
        }
    }
}

impl<'de> Deserialize<'de> for Line {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Entries;
        impl<'de> Visitor<'de> for Entries {
            type Value = Line;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a record")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Line, A::Error> {
                let mut entries = Vec::new();
                while let Some(key) = map.next_key::<String>()? {
                    let entry = if key == "fields" {
                        Entry::Fields(map.next_value::<Ordered>()?.0)
                    } else {
                        Entry::Value(map.next_value()?)
                    };
                    entries.push((key, entry));
                }
                Ok(Line(entries))
            }
        }
        deserializer.deserialize_map(Entries)
    }
}

impl<'de> Deserialize<'de> for Ordered {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Entries;
        impl<'de> Visitor<'de> for Entries {
            type Value = Ordered;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Ordered, A::Error> {
                let mut entries = Vec::new();
                while let Some(entry) = map.next_entry()? {
                    entries.push(entry);
                }
                Ok(Ordered(entries))
            }
        }
        deserializer.deserialize_map(Entries)
    }
}

const KEYS: &[&str] = &[
    "id",
    "url",
    "status",
    "http_version",
    "elapsed_ms",
    "bytes",
    "wire_bytes",
    "attempts",
    "scheduled_s",
    "waited_ms",
    "wait_cause",
    "started_s",
    "finished_s",
    "timing",
    "error",
    "fields",
];

/// Paths whose names hold what a key may (quotes, backslashes, controls, any unicode), or
/// one of the record's own keys; the same path may come twice, and is written twice.
fn paths() -> impl Strategy<Value = Vec<FieldPath>> {
    let wild = prop::collection::vec(
        wild_char().prop_filter("path syntax", |c| !matches!(c, '.' | '[' | ']')),
        1..6,
    )
    .prop_map(String::from_iter);
    let key = prop_oneof![
        4 => wild,
        1 => prop::sample::select(&["fields", "id", "error", "a"][..]).prop_map(str::to_owned),
    ];
    let path = (
        prop::collection::vec(key, 1..3),
        prop::option::of(0usize..3),
    )
        // A first key `$` would be JSONPath's root, which paths refuse.
        .prop_filter("not `$` first", |(keys, _)| keys[0] != "$")
        .prop_map(|(keys, index)| {
            let mut text = keys.join(".");
            if let Some(i) = index {
                text.push_str(&format!("[{i}]"));
            }
            text.parse::<FieldPath>().unwrap()
        });
    prop::collection::vec(path, 0..4)
}

/// A time within a run: up to about 30 years, so `started + elapsed` holds.
fn run_time() -> impl Strategy<Value = Duration> {
    (0u64..1_000_000_000, 0u32..1_000_000_000).prop_map(|(s, n)| Duration::new(s, n))
}

fn failure() -> impl Strategy<Value = Failure> {
    let kind = prop::sample::select(&[ErrorKind::Connect, ErrorKind::Status, ErrorKind::Json][..]);
    (kind, wild_string(24)).prop_map(|(kind, message)| Failure { kind, message })
}

/// Any record: text ids, URLs and messages of wild chars, timings that may be NaN or
/// infinite, fields of any JSON, more or fewer of them than there are paths.
fn record() -> impl Strategy<Value = Record> {
    let timing = prop::collection::vec(prop::option::of(any::<f64>()), 5).prop_map(|t| Timing {
        dns_ms: t[0],
        connect_ms: t[1],
        tls_ms: t[4],
        ttfb_ms: t[2],
        body_ms: t[3],
    });
    let version = prop::option::of(prop::sample::select(&["HTTP/1.1", "HTTP/2.0"][..]));
    (
        (
            any::<u64>(),
            any_id(),
            wild_string(24),
            prop::option::of(any::<u16>()),
            version,
        ),
        (timing, run_time(), run_time(), run_time()),
        (
            any::<u64>(),
            any::<u64>(),
            any::<u32>(),
            prop::option::of(failure()),
        ),
        prop::collection::vec(json_value(), 0..5),
    )
        .prop_map(
            |(
                (index, id, url, status, http_version),
                (timing, elapsed, scheduled, started),
                (bytes, wire_bytes, attempts, failure),
                fields,
            )| Record {
                index,
                id,
                url,
                status,
                http_version,
                timing,
                elapsed,
                scheduled,
                started,
                wait: None,
                bytes,
                wire_bytes,
                attempts,
                failure,
                fields,
                crawl: None,
                cache: None,
            },
        )
}

/// The records through an NDJSON sink, as written.
fn written(records: &[Record], paths: &[FieldPath]) -> Vec<u8> {
    let out = Shared::default();
    let mut sink = NdjsonSink::new(Box::new(out.clone()), paths.to_vec());
    for record in records {
        sink.write(record).unwrap();
    }
    sink.finish().unwrap();
    let bytes = out.0.lock().unwrap().clone();
    bytes
}

/// Every record is one line, ending in `\n`, that parses as the record: its keys in order,
/// its fields under the paths asked for, in their order.
fn check_lines(records: &[Record], paths: &[FieldPath], out: &[u8]) -> Result<(), TestCaseError> {
    prop_assert!(out.is_empty() || out.ends_with(b"\n"));
    let lines: Vec<&[u8]> = out.split_inclusive(|b| *b == b'\n').collect();
    prop_assert_eq!(lines.len(), records.len());
    for (record, line) in records.iter().zip(lines) {
        let line = std::str::from_utf8(line).map_err(|e| TestCaseError::fail(e.to_string()))?;
        let line = line.strip_suffix('\n').unwrap();
        let top: Line =
            serde_json::from_str(line).map_err(|e| TestCaseError::fail(format!("{e}: {line}")))?;
        let keys: Vec<&str> = top.0.iter().map(|(k, _)| k.as_str()).collect();
        prop_assert_eq!(keys, KEYS);
        let get = |key: &str| {
            top.0
                .iter()
                .find(|(k, _)| k == key)
                .and_then(|(_, e)| e.value())
        };
        let id = match &record.id {
            Id::Num(n) => Value::from(*n),
            Id::Text(t) => Value::from(&**t),
        };
        prop_assert_eq!(get("id"), Some(&id));
        prop_assert_eq!(get("url"), Some(&Value::from(record.url.as_str())));
        let error = record
            .failure
            .as_ref()
            .map(|f| Value::from(f.message.as_str()));
        prop_assert_eq!(get("error"), Some(&error.unwrap_or(Value::Null)));
        let Some((_, Entry::Fields(fields))) = top.0.last() else {
            return Err(TestCaseError::fail(format!("no fields last: {line}")));
        };
        prop_assert_eq!(fields.len(), paths.len());
        for (i, ((name, got), path)) in fields.iter().zip(paths).enumerate() {
            prop_assert_eq!(name, path.as_str());
            prop_assert_eq!(got, record.fields.get(i).unwrap_or(&Value::Null));
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(config(128))]

    #[test]
    fn every_record_is_one_json_line_with_its_fields_in_order(
        records in prop::collection::vec(record(), 0..3),
        paths in paths(),
    ) {
        let out = written(&records, &paths);
        check_lines(&records, &paths, &out)?;
    }

    #[test]
    fn a_record_of_any_body_is_one_json_line(
        body in soup(&["{\"name\":\"", "\"}", "\\ud800", "\\udc00", "\\ud83d", "\\ude00", "\\u0000", "\\\"", "\\\\", "\"", "\\x", "\u{0}"], 6),
        raw in prop::collection::vec(any::<u8>(), 0..8),
    ) {
        // What extraction makes of a body with escapes good and bad, or bytes not UTF-8.
        let paths = vec!["name".parse::<FieldPath>().unwrap()];
        let set = crate::extract::FieldSet::new(paths.clone());
        let mut records = Vec::new();
        for body in [body.clone().into_bytes(), [b"{\"name\":\"".as_slice(), &raw, b"\"}"].concat()] {
            let mut record = Record {
                index: 0,
                id: Id::Num(1),
                url: String::from_utf8_lossy(&body).into_owned(),
                status: Some(200),
                http_version: None,
                timing: Timing::default(),
                elapsed: Duration::ZERO,
                scheduled: Duration::ZERO,
                started: Duration::ZERO,
                wait: None,
                bytes: body.len() as u64,
                wire_bytes: 0,
                attempts: 1,
                failure: None,
                fields: Vec::new(),
                crawl: None,
                cache: None,
            };
            match set.extract(&body) {
                Ok(fields) => record.fields = fields,
                Err(e) => {
                    record.failure = Some(Failure { kind: ErrorKind::Json, message: e.to_string() });
                }
            }
            records.push(record);
        }
        let out = written(&records, &paths);
        check_lines(&records, &paths, &out)?;
    }
}

#[test]
fn a_lone_surrogate_in_a_body_is_a_json_failure_on_one_line() {
    // serde_json refuses a surrogate alone when it builds a string (a Rust string cannot
    // hold it), so the record is a `json` failure whose message, not the body, is written.
    let paths = vec!["name".parse::<FieldPath>().unwrap()];
    let set = crate::extract::FieldSet::new(paths.clone());
    let trailing = set
        .extract(br#"{"name":"\udc00"}"#)
        .unwrap_err()
        .to_string();
    assert!(trailing.contains("lone leading surrogate"), "{trailing}");
    let error = set
        .extract(br#"{"name":"\ud800"}"#)
        .unwrap_err()
        .to_string();
    assert!(error.contains("unexpected end of hex escape"), "{error}");
    let record = Record {
        index: 0,
        id: Id::Num(1),
        url: "http://h/1".to_owned(),
        status: Some(200),
        http_version: Some("HTTP/1.1"),
        timing: Timing::default(),
        elapsed: Duration::ZERO,
        scheduled: Duration::ZERO,
        started: Duration::ZERO,
        wait: None,
        bytes: 17,
        wire_bytes: 17,
        attempts: 1,
        failure: Some(Failure {
            kind: ErrorKind::Json,
            message: error.clone(),
        }),
        fields: Vec::new(),
        crawl: None,
        cache: None,
    };
    let out = written(std::slice::from_ref(&record), &paths);
    let line: Value = serde_json::from_slice(out.strip_suffix(b"\n").unwrap()).unwrap();
    assert_eq!(line["error"], Value::from(error));
    assert_eq!(line["fields"], serde_json::json!({"name": null}));
}

proptest! {
    // Each case writes and reads back a few megabytes.
    #![proptest_config(config(3))]

    #[test]
    fn a_megabyte_string_is_still_one_line(pattern in wild_string(16).prop_filter("not empty", |p| !p.is_empty()), at in 0usize..4) {
        let big = pattern.repeat((1 << 20) / pattern.len() + 1);
        let paths = vec!["a".parse::<FieldPath>().unwrap(), "b".parse().unwrap()];
        let small = test_util::record(7, Some(200), vec![Value::from("small"), Value::Null], None);
        let mut record = small.clone();
        match at {
            0 => record.fields[1] = Value::from(big),
            1 => record.url = big,
            2 => record.id = Id::Text(Arc::from(big)),
            _ => record.failure = Some(Failure { kind: ErrorKind::Body, message: big }),
        }
        // A small record after the big one: the big one's line ends where it should.
        let records = [record, small];
        let out = written(&records, &paths);
        check_lines(&records, &paths, &out)?;
    }
}
