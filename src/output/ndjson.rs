//! NDJSON: one record per line, each line complete before it is written, so a reader (or a crash)
//! never sees half a record.

use std::io::{self, BufWriter, Write};

use super::RecordSink;
use crate::extract::FieldPath;
use crate::record::Record;

pub struct NdjsonSink {
    out: BufWriter<Box<dyn Write + Send>>,
    paths: Vec<FieldPath>,
    line: Vec<u8>,
}

impl NdjsonSink {
    pub fn new(out: Box<dyn Write + Send>, paths: Vec<FieldPath>) -> Self {
        Self {
            out: BufWriter::with_capacity(64 * 1024, out),
            paths,
            line: Vec::with_capacity(512),
        }
    }
}

impl RecordSink for NdjsonSink {
    fn write(&mut self, record: &Record) -> io::Result<()> {
        self.line.clear();
        record.json(&self.paths).write_to(&mut self.line)?;
        self.line.push(b'\n');
        self.out.write_all(&self.line)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }

    fn finish(&mut self) -> io::Result<()> {
        self.out.flush()
    }
}

#[cfg(test)]
mod properties;
