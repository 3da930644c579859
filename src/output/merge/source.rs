//! The shards being merged, read a record at a time: an NDJSON file line by line, or a
//! database's rows of one run a page at a time; what tells one record from another (its id or
//! key), and where each was first merged, so nothing is merged twice.

use std::collections::hash_map::Entry;
use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};

use serde::de::IgnoredAny;
use serde::Deserialize;

use super::{is_database, MergeResultsError, Place};
use crate::output::sqlite::{Row, ShardReader};

/// One file being merged: NDJSON read line by line, or a database's rows of one run, read a page
/// at a time.
pub(super) struct Source {
    pub(super) path: PathBuf,
    pub(super) reader: Reader,
    /// Lines read so far (of a database: the last row id read).
    pub(super) line: u64,
}

pub(super) enum Reader {
    Lines(BufReader<File>),
    Rows {
        db: Box<ShardReader>,
        run: u32,
        page: VecDeque<Row>,
        /// No rows after the page.
        exhausted: bool,
    },
}

/// Rows read from a database at a time.
pub(super) const PAGE_ROWS: usize = 1024;

/// An id as a record carries it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(super) enum RecordId {
    Num(u64),
    Text(Box<str>),
}

impl RecordId {
    pub(super) fn as_num(&self) -> Option<u64> {
        match self {
            RecordId::Num(n) => Some(*n),
            RecordId::Text(_) => None,
        }
    }
}

impl fmt::Display for RecordId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RecordId::Num(n) => write!(f, "{n}"),
            RecordId::Text(t) => f.write_str(t),
        }
    }
}

/// What tells a record apart from every other one of the job, if anything does.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(super) enum Identity {
    Id(RecordId),
    /// A record's own `key` (its JSON text), for records that carry one.
    Key(Box<str>),
}

impl fmt::Display for Identity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Identity::Id(RecordId::Num(n)) => write!(f, "id {n}"),
            Identity::Id(RecordId::Text(t)) => write!(f, "id {t:?}"),
            Identity::Key(k) => write!(f, "key {k}"),
        }
    }
}

/// A whole record of a results file: its line as read (without the newline) and what it is.
pub(super) struct Record {
    pub(super) payload: Payload,
    pub(super) line_no: u64,
    pub(super) file: usize,
    pub(super) id: RecordId,
    /// A crawl's record (it shares its seed's id with the seed's other records).
    pub(super) crawl: bool,
    /// None for a crawl's record without a key.
    pub(super) identity: Option<Identity>,
}

/// A record as read: its NDJSON line (without the newline), or its database row.
pub(super) enum Payload {
    Line(Vec<u8>),
    Row(Row),
}

/// The fields merge reads of a record; the line is written as it was read.
#[derive(Deserialize)]
pub(super) struct RecordHead {
    pub(super) id: serde_json::Value,
    #[serde(default)]
    pub(super) key: Option<serde_json::Value>,
    /// Present on a crawl's records.
    #[serde(default)]
    pub(super) depth: Option<IgnoredAny>,
}

impl Source {
    pub(super) fn open(path: &Path) -> Result<Self, MergeResultsError> {
        if is_database(path) {
            let db = ShardReader::open(path)?;
            return Ok(Self {
                path: path.to_owned(),
                reader: Reader::Rows {
                    db: Box::new(db),
                    run: 0,
                    page: VecDeque::new(),
                    exhausted: true,
                },
                line: 0,
            });
        }
        let file = File::open(path).map_err(|source| MergeResultsError::Read {
            path: path.to_owned(),
            source,
        })?;
        Ok(Self {
            path: path.to_owned(),
            reader: Reader::Lines(BufReader::new(file)),
            line: 0,
        })
    }

    pub(super) fn database(&self) -> Option<&ShardReader> {
        match &self.reader {
            Reader::Rows { db, .. } => Some(db),
            Reader::Lines(_) => None,
        }
    }

    /// The database's last run, if it is one and has any.
    pub(super) fn last_run(&self) -> Option<u32> {
        self.database()?.runs().ok()?.last().copied()
    }

    /// Reads the database's rows of `run` from the first.
    pub(super) fn set_run(&mut self, number: u32) {
        if let Reader::Rows {
            run,
            page,
            exhausted,
            ..
        } = &mut self.reader
        {
            *run = number;
            page.clear();
            *exhausted = false;
            self.line = 0;
        }
    }

    pub(super) fn place(&self, line: u64) -> Place {
        Place {
            path: self.path.clone(),
            line,
            run: match &self.reader {
                Reader::Rows { run, .. } => Some(*run),
                Reader::Lines(_) => None,
            },
        }
    }

    /// The next row of the database's current run as a record.
    pub(super) fn next_row(&mut self, file: usize) -> Result<Option<Record>, MergeResultsError> {
        let Reader::Rows {
            db,
            run,
            page,
            exhausted,
        } = &mut self.reader
        else {
            return Ok(None);
        };
        if page.is_empty() && !*exhausted {
            let rows = db.rows(*run, self.line as i64, PAGE_ROWS)?;
            *exhausted = rows.len() < PAGE_ROWS;
            page.extend(rows);
        }
        let Some(row) = page.pop_front() else {
            return Ok(None);
        };
        self.line = row.rowid as u64;
        let id = match row.id() {
            Some(crate::plan::ids::Id::Num(n)) => RecordId::Num(n),
            Some(crate::plan::ids::Id::Text(t)) => RecordId::Text(t.as_ref().into()),
            None => {
                return Err(MergeResultsError::NotRecord {
                    place: self.place(self.line),
                    reason: "its id is neither a whole number nor a string".to_owned(),
                })
            }
        };
        let crawl = row.is_crawl();
        let identity = match row.key() {
            Some(key) => Some(Identity::Key(
                serde_json::Value::from(key).to_string().into(),
            )),
            None if crawl => None,
            None => Some(Identity::Id(id.clone())),
        };
        Ok(Some(Record {
            line_no: self.line,
            file,
            id,
            crawl,
            identity,
            payload: Payload::Row(row),
        }))
    }

    /// The next record (blank lines skipped); a torn last line is dropped into `torn`, any
    /// other line that is not a record refused.
    pub(super) fn next_record(
        &mut self,
        file: usize,
        torn: &mut Vec<Place>,
    ) -> Result<Option<Record>, MergeResultsError> {
        let reader = match &mut self.reader {
            Reader::Lines(reader) => reader,
            Reader::Rows { .. } => return self.next_row(file),
        };
        loop {
            let mut line = Vec::new();
            let read =
                reader
                    .read_until(b'\n', &mut line)
                    .map_err(|source| MergeResultsError::Read {
                        path: self.path.clone(),
                        source,
                    })?;
            if read == 0 {
                return Ok(None);
            }
            self.line += 1;
            let whole = line.last() == Some(&b'\n');
            if whole {
                line.pop();
                if line.last() == Some(&b'\r') {
                    line.pop();
                }
            }
            if line.iter().all(u8::is_ascii_whitespace) {
                continue;
            }
            let head = match serde_json::from_slice::<RecordHead>(&line) {
                Ok(head) => head,
                // The writer stopped mid-line: what is lost is that one record, said aloud.
                Err(_) if !whole => {
                    torn.push(self.place(self.line));
                    return Ok(None);
                }
                Err(e) => {
                    // serde_json's message ends with the line, which is always 1 here.
                    let text = e.to_string();
                    let what = text
                        .rsplit_once(" at line ")
                        .map_or(text.as_str(), |(m, _)| m);
                    return Err(MergeResultsError::NotRecord {
                        place: self.place(self.line),
                        reason: format!("{what} at column {}", e.column()),
                    });
                }
            };
            let id = match (head.id.as_u64(), head.id) {
                (Some(n), _) => RecordId::Num(n),
                (None, serde_json::Value::String(s)) => RecordId::Text(s.into()),
                (None, other) => {
                    return Err(MergeResultsError::NotRecord {
                        place: self.place(self.line),
                        reason: format!("its id {other} is neither a whole number nor a string"),
                    })
                }
            };
            let crawl = head.depth.is_some();
            let identity = match head.key {
                Some(key) if !key.is_null() => Some(Identity::Key(key.to_string().into())),
                _ if crawl => None,
                _ => Some(Identity::Id(id.clone())),
            };
            return Ok(Some(Record {
                payload: Payload::Line(line),
                line_no: self.line,
                file,
                id,
                crawl,
                identity,
            }));
        }
    }
}

/// Where each identity was first merged: file index and line.
#[derive(Default)]
pub(super) struct Seen(HashMap<Identity, (u32, u64)>);

impl Seen {
    pub(super) fn check(
        &mut self,
        record: &Record,
        sources: &[Source],
    ) -> Result<(), MergeResultsError> {
        let Some(identity) = &record.identity else {
            return Ok(());
        };
        let here = (record.file as u32, record.line_no);
        match self.0.entry(identity.clone()) {
            Entry::Vacant(slot) => {
                slot.insert(here);
                Ok(())
            }
            Entry::Occupied(first) => {
                let (file, line) = *first.get();
                Err(MergeResultsError::Duplicate {
                    place: sources[record.file].place(record.line_no),
                    record: identity.to_string(),
                    first: sources[file as usize].place(line),
                })
            }
        }
    }
}
