//! CSV: a header `id,status,elapsed_ms,<field paths>,error` then one row per id; quoting by the
//! csv crate.
//!
//! `error` is the NDJSON record's `"error"`: why the request failed, empty when it succeeded. It
//! comes after the fields so the columns before it keep the positions they had before it existed;
//! `waited_ms` and `wait_cause` follow it: the NDJSON record's wait at its host before the send
//! and its cause, both empty when nothing held the request. With `--cache` a `cache` column
//! (`hit`, `revalidated`, `miss`, `stored`) follows them, and in a crawl a `key` column (the
//! record's key, `1.3.17`, which tells a seed's records apart): the columns every run has come
//! first.

use std::io::{self, Write};

use super::{cells, columns, RecordSink};
use crate::extract::FieldPath;
use crate::record::{duration_ms, Record};

pub struct CsvSink {
    out: csv::Writer<Box<dyn Write + Send>>,
    paths: Vec<FieldPath>,
    header_written: bool,
    /// Whether rows have a `cache` column: decided by the first record (every record of a run
    /// with `--cache` has a cache use, none without).
    cache_column: bool,
    /// Whether rows have a `key` column: decided by the first record (a crawl's records all
    /// have a lineage).
    key_column: bool,
}

impl CsvSink {
    pub fn new(out: Box<dyn Write + Send>, paths: Vec<FieldPath>) -> Self {
        Self {
            out: csv::Writer::from_writer(out),
            paths,
            header_written: false,
            cache_column: false,
            key_column: false,
        }
    }

    fn ensure_header(&mut self, first: Option<&Record>) -> io::Result<()> {
        if !self.header_written {
            self.cache_column = first.is_some_and(|r| r.cache.is_some());
            self.key_column = first.is_some_and(|r| r.crawl.is_some());
            let mut header = columns(&self.paths);
            header.extend(["error", "waited_ms", "wait_cause"].map(str::to_owned));
            if self.cache_column {
                header.push("cache".to_owned());
            }
            if self.key_column {
                header.push("key".to_owned());
            }
            self.out.write_record(header)?;
            self.header_written = true;
        }
        Ok(())
    }
}

impl RecordSink for CsvSink {
    fn write(&mut self, record: &Record) -> io::Result<()> {
        self.ensure_header(Some(record))?;
        let mut row = cells(record, &self.paths);
        row.push(
            record
                .failure
                .as_ref()
                .map_or_else(String::new, |f| f.message.clone()),
        );
        match record.wait {
            Some(wait) => {
                row.push(format!("{:.3}", duration_ms(wait.time)));
                row.push(wait.cause.as_str().to_owned());
            }
            None => row.extend([String::new(), String::new()]),
        }
        if self.cache_column {
            row.push(record.cache.map_or("", |c| c.as_str()).to_owned());
        }
        if self.key_column {
            row.push(
                record
                    .crawl
                    .as_ref()
                    .map_or(String::new(), |c| c.key.clone()),
            );
        }
        self.out.write_record(row)?;
        Ok(())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }

    fn finish(&mut self) -> io::Result<()> {
        self.ensure_header(None)?;
        self.out.flush()
    }
}

#[cfg(test)]
mod tests {

    use super::*;
    use crate::output::test_util::{self, Shared};
    use crate::record::{CacheUse, ErrorKind, Failure};

    fn record(id: u64, status: Option<u16>, failure: Option<Failure>) -> Record {
        let fields = vec![serde_json::Value::Null; usize::from(failure.is_none())];
        test_util::record(id, status, fields, failure)
    }

    #[test]
    fn a_failure_has_its_message_in_the_error_column_quoted_as_csv_needs() {
        let out = Shared::default();
        let paths = vec!["name".parse().expect("path")];
        let mut sink = CsvSink::new(Box::new(out.clone()), paths);
        let message = "HTTP 502 Bad Gateway, said \"upstream\"\nthen hung up";
        sink.write(&record(1, Some(200), None)).unwrap();
        let failure = Failure {
            kind: ErrorKind::Status,
            message: message.to_owned(),
        };
        sink.write(&record(2, Some(502), Some(failure))).unwrap();
        sink.finish().unwrap();

        let bytes = out.0.lock().unwrap().clone();
        let mut reader = csv::Reader::from_reader(bytes.as_slice());
        let header: Vec<String> = reader
            .headers()
            .unwrap()
            .iter()
            .map(str::to_owned)
            .collect();
        assert_eq!(
            header,
            [
                "id",
                "status",
                "elapsed_ms",
                "name",
                "error",
                "waited_ms",
                "wait_cause"
            ]
        );
        let rows: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
        assert_eq!(rows.len(), 2);
        assert_eq!(&rows[0][4], "", "no error on a success");
        assert_eq!((&rows[0][5], &rows[0][6]), ("", ""), "nothing held it");
        assert_eq!((&rows[1][0], &rows[1][1]), ("2", "502"));
        assert_eq!(&rows[1][4], message, "comma, quotes and newline survive");
    }

    #[test]
    fn with_the_cache_on_a_cache_column_follows_the_error() {
        let out = Shared::default();
        let mut sink = CsvSink::new(Box::new(out.clone()), Vec::new());
        for (id, used) in [(1, CacheUse::Hit), (2, CacheUse::Stored)] {
            sink.write(&Record {
                cache: Some(used),
                ..record(id, Some(200), None)
            })
            .unwrap();
        }
        sink.finish().unwrap();
        let text = String::from_utf8(out.0.lock().unwrap().clone()).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(
            lines[0],
            "id,status,elapsed_ms,error,waited_ms,wait_cause,cache"
        );
        assert!(
            lines[1].ends_with(",,,,hit") && lines[2].ends_with(",,,,stored"),
            "{text}"
        );
    }

    #[test]
    fn a_held_request_has_its_wait_and_its_cause_and_others_empty_cells() {
        let out = Shared::default();
        let mut sink = CsvSink::new(Box::new(out.clone()), Vec::new());
        let wait = crate::record::Wait {
            time: std::time::Duration::from_micros(1_500_250),
            cause: crate::record::WaitCause::HostRate,
        };
        sink.write(&Record {
            wait: Some(wait),
            ..record(1, Some(200), None)
        })
        .unwrap();
        sink.write(&record(2, Some(200), None)).unwrap();
        sink.finish().unwrap();
        let text = String::from_utf8(out.0.lock().unwrap().clone()).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], "id,status,elapsed_ms,error,waited_ms,wait_cause");
        assert!(lines[1].ends_with(",,1500.250,host-rate"), "{text}");
        assert!(lines[2].ends_with(",,,"), "{text}");
    }
}
