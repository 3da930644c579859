//! JSON: one array of records, streamed element by element so memory does not grow with the range.

use std::io::{self, BufWriter, Write};

use super::RecordSink;
use crate::extract::FieldPath;
use crate::record::Record;

pub struct JsonSink {
    out: BufWriter<Box<dyn Write + Send>>,
    paths: Vec<FieldPath>,
    written: u64,
}

impl JsonSink {
    pub fn new(out: Box<dyn Write + Send>, paths: Vec<FieldPath>) -> Self {
        Self {
            out: BufWriter::with_capacity(64 * 1024, out),
            paths,
            written: 0,
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
        record.json(&self.paths).write_to(&mut self.out)?;
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
