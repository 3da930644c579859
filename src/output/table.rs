//! The terminal table: the CSV columns (`error` and, with `--cache`, `cache` included), aligned.
//! Column widths come from the first rows, which are held back until there are enough of them;
//! later rows stream with those widths (a longer value just pushes its line wider), so a long
//! range never sits in memory.

use std::io::{self, BufWriter, Write};

use super::{cells, columns, RecordSink};
use crate::extract::FieldPath;
use crate::record::Record;

/// Rows held back to size the columns.
const SIZING_ROWS: usize = 100;

pub struct TableSink {
    out: BufWriter<Box<dyn Write + Send>>,
    paths: Vec<FieldPath>,
    pending: Vec<Vec<String>>,
    widths: Option<Vec<usize>>,
    /// Whether rows have a `cache` column: decided by the first record, as in CSV.
    cache_column: Option<bool>,
}

impl TableSink {
    pub fn new(out: Box<dyn Write + Send>, paths: Vec<FieldPath>) -> Self {
        Self {
            out: BufWriter::new(out),
            paths,
            pending: Vec::new(),
            widths: None,
            cache_column: None,
        }
    }

    /// The CSV's columns: the shared ones, `error`, then `cache` when the records have one.
    fn header(&self) -> Vec<String> {
        let mut header = columns(&self.paths);
        header.push("error".to_owned());
        if self.cache_column == Some(true) {
            header.push("cache".to_owned());
        }
        header
    }

    /// `record`'s cells in the order of [`TableSink::header`].
    fn row(&mut self, record: &Record) -> Vec<String> {
        let cache_column = *self.cache_column.get_or_insert(record.cache.is_some());
        let mut row = cells(record, &self.paths);
        row.push(
            record
                .failure
                .as_ref()
                // One record, one line: a line break in a message would break the table.
                .map_or_else(String::new, |f| f.message.replace(['\n', '\r'], " ")),
        );
        if cache_column {
            row.push(record.cache.map_or("", |c| c.as_str()).to_owned());
        }
        row
    }

    /// Fixes the widths from the held rows, then writes the header and those rows.
    fn settle(&mut self) -> io::Result<()> {
        if self.widths.is_some() {
            return Ok(());
        }
        let header = self.header();
        let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
        for row in &self.pending {
            for (w, cell) in widths.iter_mut().zip(row) {
                *w = (*w).max(cell.chars().count());
            }
        }
        write_row(&mut self.out, &header, &widths)?;
        for row in std::mem::take(&mut self.pending) {
            write_row(&mut self.out, &row, &widths)?;
        }
        self.widths = Some(widths);
        Ok(())
    }
}

/// Numbers right-aligned in the first three columns, fields left-aligned; no trailing spaces.
fn write_row(out: &mut impl Write, row: &[String], widths: &[usize]) -> io::Result<()> {
    let mut line = String::new();
    for (i, (cell, width)) in row.iter().zip(widths).enumerate() {
        if i > 0 {
            line.push_str("  ");
        }
        if i < 3 {
            line.push_str(&format!("{cell:>width$}"));
        } else {
            line.push_str(&format!("{cell:width$}"));
        }
    }
    writeln!(out, "{}", line.trim_end())
}

impl RecordSink for TableSink {
    fn write(&mut self, record: &Record) -> io::Result<()> {
        let row = self.row(record);
        match &self.widths {
            Some(widths) => write_row(&mut self.out, &row, widths),
            None => {
                self.pending.push(row);
                if self.pending.len() >= SIZING_ROWS {
                    self.settle()?;
                }
                Ok(())
            }
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }

    fn finish(&mut self) -> io::Result<()> {
        self.settle()?;
        self.out.flush()
    }
}

#[cfg(test)]
mod tests {

    use super::*;
    use crate::output::test_util::{self, Shared};
    use crate::record::{CacheUse, ErrorKind, Failure};

    fn record(id: u64, failure: Option<&str>) -> Record {
        let status = Some(if failure.is_some() { 502 } else { 200 });
        let failure = failure.map(|message| Failure {
            kind: ErrorKind::Status,
            message: message.to_owned(),
        });
        test_util::record(
            id,
            status,
            vec![serde_json::json!(format!("item-{id}"))],
            failure,
        )
    }

    fn table(records: &[Record]) -> String {
        let out = Shared::default();
        let paths = vec!["name".parse().expect("path")];
        let mut sink = TableSink::new(Box::new(out.clone()), paths);
        for record in records {
            sink.write(record).unwrap();
        }
        sink.finish().unwrap();
        let bytes = out.0.lock().unwrap().clone();
        String::from_utf8(bytes).unwrap()
    }

    #[test]
    fn a_failure_has_its_message_in_the_error_column_on_one_line() {
        let text = table(&[
            record(1, None),
            record(2, Some("HTTP 502 Bad Gateway\nthen hung up")),
        ]);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 3, "{text}");
        assert!(lines[0].ends_with("name    error"), "{text}");
        assert!(
            lines[1].ends_with("item-1"),
            "no error on a success: {text}"
        );
        assert!(
            lines[2].ends_with("item-2  HTTP 502 Bad Gateway then hung up"),
            "{text}"
        );
    }

    #[test]
    fn with_the_cache_on_a_cache_column_follows_the_error() {
        let hit = Record {
            cache: Some(CacheUse::Hit),
            ..record(1, None)
        };
        let text = table(&[hit]);
        let lines: Vec<&str> = text.lines().collect();
        assert!(lines[0].ends_with("name    error  cache"), "{text}");
        assert!(lines[1].ends_with("item-1         hit"), "{text}");
    }
}
