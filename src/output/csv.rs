//! CSV: a header `id,status,elapsed_ms,<field paths>` then one row per id; quoting by the csv crate.

use std::io::{self, Write};

use super::{cells, columns, RecordSink};
use crate::extract::FieldPath;
use crate::record::Record;

pub struct CsvSink {
    out: csv::Writer<Box<dyn Write + Send>>,
    paths: Vec<FieldPath>,
    header_written: bool,
}

impl CsvSink {
    pub fn new(out: Box<dyn Write + Send>, paths: Vec<FieldPath>) -> Self {
        Self {
            out: csv::Writer::from_writer(out),
            paths,
            header_written: false,
        }
    }

    fn ensure_header(&mut self) -> io::Result<()> {
        if !self.header_written {
            self.out.write_record(columns(&self.paths))?;
            self.header_written = true;
        }
        Ok(())
    }
}

impl RecordSink for CsvSink {
    fn write(&mut self, record: &Record) -> io::Result<()> {
        self.ensure_header()?;
        self.out.write_record(cells(record, &self.paths))?;
        Ok(())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }

    fn finish(&mut self) -> io::Result<()> {
        self.ensure_header()?;
        self.out.flush()
    }
}
