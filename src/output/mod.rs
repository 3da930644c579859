//! Result formats: one small file per format behind the [`RecordSink`] trait.
//!
//! Sinks receive records already in id order, one at a time, and write each as soon as it
//! arrives; only the table holds back its first rows, to size its columns. The SQLite database
//! (`sqlite.rs`) is the one sink that keeps every run's records, each under its run.

mod csv;
mod flush;
mod json;
pub mod merge;
mod ndjson;
pub mod sqlite;
mod table;

use std::fmt;
use std::io::{self, Write};

use serde_json::Value;

use crate::extract::FieldPath;
use crate::record::Record;

pub use self::csv::CsvSink;
pub use self::flush::write_run;
pub use self::json::JsonSink;
pub use self::ndjson::NdjsonSink;
pub use self::sqlite::{RunInfo, SqliteSink};
pub use self::table::TableSink;

/// Where ordered records go.
pub trait RecordSink: Send {
    /// Writes one record; an error stops the run (e.g. the reader closed the pipe).
    fn write(&mut self, record: &Record) -> io::Result<()>;
    /// Comes before the results of each record of a crawl, the steps that are not results too:
    /// where it was and what its document released ([`crate::record::Lineage::work`]), for a
    /// sink that keeps a crawl's pending work. Its results follow in the same batch.
    fn crawl_step(&mut self, _record: &Record) -> io::Result<()> {
        Ok(())
    }
    /// Pushes what was written so far to its destination.
    fn flush(&mut self) -> io::Result<()>;
    /// Writes any trailer and flushes; called once after the last record.
    fn finish(&mut self) -> io::Result<()>;
    /// Whether it keeps the records of every run (with `--mode both` or a sweep), not only the
    /// last run's.
    fn every_run(&self) -> bool {
        false
    }
    /// Says which run the records that follow belong to (only called when [`Self::every_run`]).
    fn start_run(&mut self, _run: &RunInfo) -> io::Result<()> {
        Ok(())
    }
    /// Keeps each run's report (as JSON, in run order), after [`Self::finish`].
    fn end_runs(&mut self, _reports: &[Value]) -> io::Result<()> {
        Ok(())
    }
}

/// A sink that keeps nothing: for runs whose records are only timed, not written.
#[derive(Debug, Default)]
pub struct Discard;

impl RecordSink for Discard {
    fn write(&mut self, _: &Record) -> io::Result<()> {
        Ok(())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
    fn finish(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// The results formats users can pick; clap lists them, with these lines, in `--help`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// Aligned columns for a terminal.
    Table,
    /// One JSON record a line.
    #[value(alias = "jsonl")]
    Ndjson,
    /// One JSON array of the records.
    Json,
    /// Comma-separated values with a header row.
    Csv,
    /// A SQLite database file (needs `-o FILE`): tables `runs`, `records` and `frontier`.
    Sqlite,
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Format::Table => "table",
            Format::Ndjson => "ndjson",
            Format::Json => "json",
            Format::Csv => "csv",
            Format::Sqlite => "sqlite",
        })
    }
}

/// A sink in `format` writing to `out`, with one field column or key per path; SQLite writes a
/// database file, not a stream: [`SqliteSink::open`] opens it.
pub fn sink(
    format: Format,
    out: Box<dyn Write + Send>,
    paths: Vec<FieldPath>,
) -> io::Result<Box<dyn RecordSink + Send>> {
    Ok(match format {
        Format::Table => Box::new(TableSink::new(out, paths)),
        Format::Ndjson => Box::new(NdjsonSink::new(out, paths)),
        Format::Json => Box::new(JsonSink::new(out, paths)),
        Format::Csv => Box::new(CsvSink::new(out, paths)),
        Format::Sqlite => {
            return Err(io::Error::other(
                "sqlite writes a database file, not a stream: give --output FILE.sqlite",
            ))
        }
    })
}

/// The column headers shared by the tabular formats: `id,status,elapsed_ms,<paths>` (CSV adds
/// `error`).
fn columns(paths: &[FieldPath]) -> Vec<String> {
    ["id", "status", "elapsed_ms"]
        .into_iter()
        .map(str::to_owned)
        .chain(paths.iter().map(|p| p.as_str().to_owned()))
        .collect()
}

/// One row of cells in the order of [`columns`]: strings bare, null empty, the rest as JSON.
fn cells(record: &Record, paths: &[FieldPath]) -> Vec<String> {
    let mut row = Vec::with_capacity(3 + paths.len());
    row.push(record.id.to_string());
    row.push(record.status.map_or_else(String::new, |s| s.to_string()));
    row.push(format!("{:.3}", record.elapsed_ms()));
    for i in 0..paths.len() {
        row.push(match record.fields.get(i) {
            None | Some(Value::Null) => String::new(),
            Some(Value::String(s)) => s.clone(),
            Some(other) => other.to_string(),
        });
    }
    row
}

/// What the sinks' unit tests share: a writer they read back and a plain record.
#[cfg(test)]
pub(crate) mod test_util {
    use std::io::{self, Write};
    use std::sync::{Arc, Mutex};
    use std::time::Duration;

    use crate::plan::ids::Id;
    use crate::record::{Failure, Record, Timing};

    /// A writer whose bytes the test reads after the sink is done with it.
    #[derive(Clone, Default)]
    pub(crate) struct Shared(pub(crate) Arc<Mutex<Vec<u8>>>);

    impl Write for Shared {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    /// Record `id` at `http://h/{id}`, 1.5 ms, with `fields` and `failure`.
    pub(crate) fn record(
        id: u64,
        status: Option<u16>,
        fields: Vec<serde_json::Value>,
        failure: Option<Failure>,
    ) -> Record {
        Record {
            index: id,
            id: Id::Num(id),
            url: format!("http://h/{id}"),
            status,
            http_version: None,
            timing: Timing::default(),
            elapsed: Duration::from_micros(1_500),
            scheduled: Duration::ZERO,
            started: Duration::ZERO,
            wait: None,
            bytes: 0,
            wire_bytes: 0,
            attempts: 1,
            fields,
            crawl: None,
            cache: None,
            failure,
        }
    }
}
