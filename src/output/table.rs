//! The terminal table: the CSV columns but `error`, aligned. Column widths come from the first rows, which are
//! held back until there are enough of them; later rows stream with those widths (a longer value
//! just pushes its line wider), so a long range never sits in memory.

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
}

impl TableSink {
    pub fn new(out: Box<dyn Write + Send>, paths: Vec<FieldPath>) -> Self {
        Self {
            out: BufWriter::new(out),
            paths,
            pending: Vec::new(),
            widths: None,
        }
    }

    /// Fixes the widths from the held rows, then writes the header and those rows.
    fn settle(&mut self) -> io::Result<()> {
        if self.widths.is_some() {
            return Ok(());
        }
        let header = columns(&self.paths);
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
        let row = cells(record, &self.paths);
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
