//! The terminal table: the CSV's columns, aligned. `id`, `status`, `elapsed_ms`, the fields and
//! `error` always; `waited_ms` and `wait_cause` when a held-back row waited at its host; `cache`
//! with `--cache` and `key` in a crawl (both decided by the first record, as in CSV).
//! Column widths come from the first rows, which are held back until there are enough of them;
//! later rows stream with those widths (a longer value just pushes its line wider), so a long
//! range never sits in memory.

use std::io::{self, BufWriter, Write};

use super::{cells, columns, RecordSink};
use crate::extract::FieldPath;
use crate::record::{duration_ms, Record, Wait};

/// Rows held back to size the columns.
const SIZING_ROWS: usize = 100;

/// A row before the widths are fixed: its cells without the wait, and its wait apart, since
/// whether the table has wait columns is known only then.
struct Held {
    cells: Vec<String>,
    wait: Option<Wait>,
}

pub struct TableSink {
    out: BufWriter<Box<dyn Write + Send>>,
    paths: Vec<FieldPath>,
    pending: Vec<Held>,
    /// The columns' widths and right alignment, fixed by [`TableSink::settle`].
    layout: Option<Layout>,
    /// Whether rows have a `cache` column: decided by the first record, as in CSV.
    cache_column: Option<bool>,
    /// Whether rows have a `key` column: decided by the first record (a crawl's records all
    /// have a lineage), as in CSV.
    key_column: Option<bool>,
}

/// What [`TableSink::settle`] fixed: each column's width and alignment, and whether the wait
/// columns are there.
struct Layout {
    widths: Vec<usize>,
    right: Vec<bool>,
    wait_columns: bool,
}

impl TableSink {
    pub fn new(out: Box<dyn Write + Send>, paths: Vec<FieldPath>) -> Self {
        Self {
            out: BufWriter::new(out),
            paths,
            pending: Vec::new(),
            layout: None,
            cache_column: None,
            key_column: None,
        }
    }

    /// The CSV's columns: the shared ones, `error`, the wait's two, `cache` and `key`, each of
    /// the last three only when the records have it.
    fn header(&self, wait_columns: bool) -> Vec<String> {
        let mut header = columns(&self.paths);
        header.push("error".to_owned());
        if wait_columns {
            header.extend(["waited_ms", "wait_cause"].map(str::to_owned));
        }
        if self.cache_column == Some(true) {
            header.push("cache".to_owned());
        }
        if self.key_column == Some(true) {
            header.push("key".to_owned());
        }
        header
    }

    /// `record`'s cells in the order of [`TableSink::header`], without the wait's.
    fn row(&mut self, record: &Record) -> Held {
        let cache_column = *self.cache_column.get_or_insert(record.cache.is_some());
        let key_column = *self.key_column.get_or_insert(record.crawl.is_some());
        let mut cells = cells(record, &self.paths);
        cells.push(
            record
                .failure
                .as_ref()
                // One record, one line: a line break in a message would break the table.
                .map_or_else(String::new, |f| f.message.replace(['\n', '\r'], " ")),
        );
        if cache_column {
            cells.push(record.cache.map_or("", |c| c.as_str()).to_owned());
        }
        if key_column {
            cells.push(
                record
                    .crawl
                    .as_ref()
                    .map_or(String::new(), |c| c.key.clone()),
            );
        }
        Held {
            cells,
            wait: record.wait,
        }
    }

    /// The line's cells: the wait's two after `error` when the table has them; a wait in a table
    /// without them goes at the end, spelled out, so that a row that came after the widths were
    /// fixed does not drop it.
    fn line(&self, held: Held, wait_columns: bool) -> Vec<String> {
        let Held { mut cells, wait } = held;
        let ms = |w: Wait| format!("{:.3}", duration_ms(w.time));
        if wait_columns {
            let after_error = self.paths.len() + 4;
            let (waited, cause) =
                wait.map_or_else(Default::default, |w| (ms(w), w.cause.as_str().to_owned()));
            cells.splice(after_error..after_error, [waited, cause]);
        } else if let Some(w) = wait {
            cells.push(format!("waited {} ms ({})", ms(w), w.cause.as_str()));
        }
        cells
    }

    /// Fixes the layout from the held rows, then writes the header and those rows.
    fn settle(&mut self) -> io::Result<()> {
        if self.layout.is_some() {
            return Ok(());
        }
        // Wait columns only when a held row waited: most runs hold nothing at their hosts, and
        // two columns empty on every row would push a terminal's table past its width for nothing.
        let wait_columns = self.pending.iter().any(|h| h.wait.is_some());
        let header = self.header(wait_columns);
        let right: Vec<bool> = header
            .iter()
            .enumerate()
            .map(|(i, name)| i < 3 || (wait_columns && name == "waited_ms"))
            .collect();
        let rows: Vec<Vec<String>> = std::mem::take(&mut self.pending)
            .into_iter()
            .map(|held| self.line(held, wait_columns))
            .collect();
        let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
        for row in &rows {
            for (w, cell) in widths.iter_mut().zip(row) {
                *w = (*w).max(cell.chars().count());
            }
        }
        let layout = Layout {
            widths,
            right,
            wait_columns,
        };
        write_row(&mut self.out, &header, &layout)?;
        for row in rows {
            write_row(&mut self.out, &row, &layout)?;
        }
        self.layout = Some(layout);
        Ok(())
    }
}

/// Numbers right-aligned (`id`, `status`, `elapsed_ms`, `waited_ms`), the rest left-aligned; a
/// cell past the columns as it is; no trailing spaces.
fn write_row(out: &mut impl Write, row: &[String], layout: &Layout) -> io::Result<()> {
    let mut line = String::new();
    for (i, cell) in row.iter().enumerate() {
        if i > 0 {
            line.push_str("  ");
        }
        let width = layout.widths.get(i).copied().unwrap_or(0);
        if layout.right.get(i).copied().unwrap_or(false) {
            line.push_str(&format!("{cell:>width$}"));
        } else {
            line.push_str(&format!("{cell:width$}"));
        }
    }
    writeln!(out, "{}", line.trim_end())
}

impl RecordSink for TableSink {
    fn write(&mut self, record: &Record) -> io::Result<()> {
        let held = self.row(record);
        match &self.layout {
            Some(layout) => {
                let row = self.line(held, layout.wait_columns);
                write_row(&mut self.out, &row, layout)
            }
            None => {
                self.pending.push(held);
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

    fn waited(id: u64, micros: u64) -> Record {
        Record {
            wait: Some(Wait {
                time: std::time::Duration::from_micros(micros),
                cause: crate::record::WaitCause::HostRate,
            }),
            ..record(id, None)
        }
    }

    #[test]
    fn a_held_row_that_waited_brings_the_wait_columns_after_the_error() {
        let text = table(&[record(1, None), waited(2, 1_500_250)]);
        let lines: Vec<&str> = text.lines().collect();
        assert!(
            lines[0].ends_with("name    error  waited_ms  wait_cause"),
            "{text}"
        );
        assert!(lines[1].ends_with("item-1"), "nothing held it: {text}");
        assert!(
            lines[2].ends_with("item-2          1500.250  host-rate"),
            "{text}"
        );
    }

    #[test]
    fn a_wait_after_the_columns_are_fixed_without_wait_columns_is_spelled_out_at_the_end() {
        let mut records: Vec<Record> = (1..=SIZING_ROWS as u64)
            .map(|id| record(id, None))
            .collect();
        records.push(waited(101, 2_000));
        let text = table(&records);
        let lines: Vec<&str> = text.lines().collect();
        assert!(lines[0].ends_with("name      error"), "{text}");
        assert!(
            lines[101].ends_with("item-101         waited 2.000 ms (host-rate)"),
            "{text}"
        );
    }
}
