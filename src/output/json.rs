//! JSON: one array of records, streamed element by element so memory does not grow with the range.

use std::io::{self, BufWriter, Write};

use super::RecordSink;
use crate::extract::FieldPath;
use crate::record::Record;

pub struct JsonSink {
    out: BufWriter<Box<dyn Write + Send>>,
    paths: Vec<FieldPath>,
    written: u64,
    element: Vec<u8>,
}

impl JsonSink {
    pub fn new(out: Box<dyn Write + Send>, paths: Vec<FieldPath>) -> Self {
        Self {
            out: BufWriter::with_capacity(64 * 1024, out),
            paths,
            written: 0,
            element: Vec::with_capacity(512),
        }
    }
}

impl RecordSink for JsonSink {
    fn write(&mut self, record: &Record) -> io::Result<()> {
        self.out.write_all(if self.written == 0 {
            b"[\n  "
        } else {
            b",\n  "
        })?;
        self.element.clear();
        record.json(&self.paths).write_to(&mut self.element)?;
        self.out.write_all(&self.element)?;
        self.written += 1;
        Ok(())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }

    fn finish(&mut self) -> io::Result<()> {
        self.out
            .write_all(if self.written == 0 { b"[]\n" } else { b"\n]\n" })?;
        self.out.flush()
    }
}
