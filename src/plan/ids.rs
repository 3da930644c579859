//! Ids and where they come from: a range (`super::range`) or a word list, read as it goes
//! (`-` is stdin, spooled to a file when more than one run reads it), each line an id: a number
//! when it is one, else a word.

use std::fmt;
use std::io::{BufRead, BufReader, Read};
use std::path::PathBuf;
use std::sync::Arc;

use serde::Serialize;
use thiserror::Error;

pub use super::range::{IdRange, RangeError};
use super::spool::{Spool, SpoolError};

/// One id: a number from a range (or a numeric line of a word list), or a word.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Id {
    Num(u64),
    Text(Arc<str>),
}

impl Id {
    /// A word-list line as an id: a number when it is one, so records carry `"id": 25`.
    pub fn from_line(line: &str) -> Self {
        match line.parse::<u64>() {
            Ok(n) if n.to_string() == line => Id::Num(n),
            _ => Id::Text(Arc::from(line)),
        }
    }

    pub fn as_u64(&self) -> Option<u64> {
        match self {
            Id::Num(n) => Some(*n),
            Id::Text(_) => None,
        }
    }
}

impl PartialEq<u64> for Id {
    fn eq(&self, other: &u64) -> bool {
        self.as_u64() == Some(*other)
    }
}

impl From<u64> for Id {
    fn from(n: u64) -> Self {
        Id::Num(n)
    }
}

impl fmt::Display for Id {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Id::Num(n) => write!(f, "{n}"),
            Id::Text(t) => f.write_str(t),
        }
    }
}

impl Serialize for Id {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Id::Num(n) => serializer.serialize_u64(*n),
            Id::Text(t) => serializer.serialize_str(t),
        }
    }
}

/// Where the ids come from: a range, or a word list read line by line (never all at once).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IdSource {
    Range(IdRange),
    File(PathBuf),
    Stdin,
}

impl IdSource {
    /// The ids in order, streamed. A word list skips blank lines and `#` comments and trims each
    /// line; a read error ends the list (with a warning on stderr), never the process.
    pub fn open(&self) -> std::io::Result<Box<dyn Iterator<Item = Id> + Send>> {
        Ok(match self {
            IdSource::Range(range) => Box::new(range.clone().into_ids().map(Id::Num)),
            IdSource::File(path) => words(std::fs::File::open(path)?),
            IdSource::Stdin => words(std::io::stdin()),
        })
    }

    /// The ids made ready for `runs` runs, before the first: a word list counted (one streaming
    /// pass over the file); stdin spooled when more than one run reads it, and counted from the
    /// spool. Stdin read by a single run is left to stream, uncounted, so a run can start on ids
    /// still being produced.
    pub fn prepare(&self, runs: usize) -> Result<IdList, IdsError> {
        let (spool, count) = match self {
            IdSource::Range(range) => (None, (!range.is_open()).then(|| range.len())),
            IdSource::File(path) => {
                let file = std::fs::File::open(path).map_err(|source| IdsError::Read {
                    path: path.clone(),
                    source,
                })?;
                (None, Some(count_words(file)))
            }
            IdSource::Stdin if runs > 1 => {
                let spool = Spool::fill(std::io::stdin().lock())?;
                let count = count_words(spool.reader());
                (Some(spool), Some(count))
            }
            IdSource::Stdin => (None, None),
        };
        Ok(IdList {
            source: self.clone(),
            spool,
            count,
        })
    }
}

/// Why the ids could not be made ready for the runs.
#[derive(Debug, Error)]
pub enum IdsError {
    #[error("cannot read {}: {source}", path.display())]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(transparent)]
    Spool(#[from] SpoolError),
}

/// A job's ids, ready to be read once per run, each time from the first.
#[derive(Debug, Clone)]
pub struct IdList {
    source: IdSource,
    /// Stdin's bytes, when several runs read them.
    spool: Option<Spool>,
    count: Option<u64>,
}

impl IdList {
    /// How many ids the list yields (before sharding and resuming); None for stdin streamed to a
    /// single run.
    pub fn count(&self) -> Option<u64> {
        self.count
    }

    /// The ids in order, from the first, as [`IdSource::open`] gives them.
    pub fn open(&self) -> std::io::Result<Box<dyn Iterator<Item = Id> + Send>> {
        match &self.spool {
            Some(spool) => Ok(words(spool.reader())),
            None => self.source.open(),
        }
    }
}

/// A word-list line's id, or None for a blank line or a `#` comment: the one rule both
/// [`words`] and [`count_words`] follow, so the count is what the reader yields.
fn word(line: &str) -> Option<&str> {
    let word = line.trim();
    (!word.is_empty() && !word.starts_with('#')).then_some(word)
}

fn words(source: impl Read + Send + 'static) -> Box<dyn Iterator<Item = Id> + Send> {
    Box::new(
        BufReader::new(source)
            .lines()
            .map_while(|line| match line {
                Ok(line) => Some(line),
                Err(e) => {
                    eprintln!("fetchbench: warning: --ids: stopped reading: {e}");
                    None
                }
            })
            .filter_map(|line| word(&line).map(Id::from_line)),
    )
}

/// How many ids [`words`] would yield from `source`, in one pass through a single line buffer.
/// It stops where the reader stops, at the first read error (which the reader will report).
fn count_words(source: impl Read) -> u64 {
    let mut reader = BufReader::with_capacity(64 * 1024, source);
    let mut line = String::new();
    let mut n = 0;
    loop {
        line.clear();
        match reader.read_line(&mut line) {
            Ok(0) | Err(_) => return n,
            Ok(_) => n += u64::from(word(&line).is_some()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A reader that gives `data`, then fails.
    struct Failing(&'static [u8]);

    impl Read for Failing {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            if self.0.is_empty() {
                return Err(std::io::Error::other("gone"));
            }
            let n = self.0.len().min(buf.len());
            buf[..n].copy_from_slice(&self.0[..n]);
            self.0 = &self.0[n..];
            Ok(n)
        }
    }

    #[test]
    fn the_count_is_what_the_reader_yields() {
        let lists: [&'static [u8]; 6] = [
            b"",
            b"a\n\n  # comment\n b \r\n\t\n25\nlast without newline",
            b"# only comments\n#\n",
            b"one\ntwo\n\xff\xfe invalid utf-8\nafter it\n",
            b"\n\n\n x",
            b" #not a comment? it is: trimmed first\nword # with a hash\n",
        ];
        for list in lists {
            let yielded = words(list).count() as u64;
            assert_eq!(
                count_words(list),
                yielded,
                "{:?}",
                String::from_utf8_lossy(list)
            );
        }
        assert_eq!(count_words(&b"a\n\n  # comment\n b \r\n"[..]), 2);
        assert_eq!(
            count_words(Failing(b"1\n2\n3")),
            words(Failing(b"1\n2\n3")).count() as u64
        );
    }

    #[test]
    fn a_file_is_counted_and_read_again_each_run() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ids.txt");
        std::fs::write(&path, "# ids\n3\n\n1\n  two \n").unwrap();
        let list = IdSource::File(path).prepare(2).unwrap();
        assert_eq!(list.count(), Some(3));
        let expected = [Id::Num(3), Id::Num(1), Id::Text(Arc::from("two"))];
        for _ in 0..2 {
            assert_eq!(list.open().unwrap().collect::<Vec<_>>(), expected);
        }
        let missing = IdSource::File(dir.path().join("nope")).prepare(1);
        assert!(matches!(missing, Err(IdsError::Read { .. })));
        let range = IdSource::Range("1..=4".parse().unwrap())
            .prepare(2)
            .unwrap();
        assert_eq!(range.count(), Some(4));
    }
}

#[cfg(test)]
mod properties;
