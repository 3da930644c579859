//! Ids and where they come from: a range (`super::range`) or a word list, read as it goes
//! (`-` is stdin, spooled to a file when more than one run reads it), each line an id: a number
//! when it is one, else a word.

use std::fmt;
use std::io::{BufRead, BufReader, Read};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

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
    /// line; it ends at the first line that is not UTF-8 text or at a read error, never with a
    /// panic (`IdList::open` says why it ended early).
    pub fn open(&self) -> std::io::Result<Box<dyn Iterator<Item = Id> + Send>> {
        self.open_reporting(&Trouble::default())
    }

    fn open_reporting(
        &self,
        trouble: &Trouble,
    ) -> std::io::Result<Box<dyn Iterator<Item = Id> + Send>> {
        Ok(match self {
            IdSource::Range(range) => Box::new(range.clone().into_ids().map(Id::Num)),
            IdSource::File(path) => words(std::fs::File::open(path)?, trouble.clone()),
            IdSource::Stdin => words(std::io::stdin(), trouble.clone()),
        })
    }

    /// How error messages name the list: its path, or `stdin`.
    fn name(&self) -> String {
        match self {
            IdSource::File(path) => path.display().to_string(),
            IdSource::Stdin => "stdin".to_owned(),
            IdSource::Range(range) => range.to_string(),
        }
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
                let count = self.counted(count_words(file))?;
                // A file with no ids is a mistake (the wrong file, a list not yet written): the
                // run would send nothing and exit 0. Stdin may be empty on purpose.
                if count == 0 {
                    return Err(IdsError::Empty { path: path.clone() });
                }
                (None, Some(count))
            }
            IdSource::Stdin if runs > 1 => {
                let spool = Spool::fill(std::io::stdin().lock())?;
                let count = self.counted(count_words(spool.reader()))?;
                (Some(spool), Some(count))
            }
            IdSource::Stdin => (None, None),
        };
        Ok(IdList {
            source: self.clone(),
            spool,
            count,
            trouble: Trouble::default(),
        })
    }

    /// A count, or the list refused before any request, naming the line that stopped it.
    fn counted(&self, count: Result<u64, ListError>) -> Result<u64, IdsError> {
        count.map_err(|error| IdsError::List {
            list: self.name(),
            error,
        })
    }
}

/// Why a word list ended before its end.
#[derive(Debug, Clone, Error, PartialEq, Eq)]
pub enum ListError {
    #[error(
        "line {line} is not UTF-8 text ({shown}): save the list as UTF-8 (e.g. `iconv -t UTF-8`)"
    )]
    NotText { line: u64, shown: String },
    #[error("reading stopped after line {line}: {message}")]
    Read { line: u64, message: String },
}

/// Where a streamed word list puts the reason it ended early, for the run to report.
type Trouble = Arc<Mutex<Option<ListError>>>;

/// Why the ids could not be made ready for the runs.
#[derive(Debug, Error)]
pub enum IdsError {
    #[error("cannot read {}: {source}", path.display())]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{list}: {error}")]
    List { list: String, error: ListError },
    #[error("{}: no ids in the file (blank lines and `#` comments are skipped)", path.display())]
    Empty { path: PathBuf },
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
    /// Why a list read as it goes (stdin to a single run) ended early, if it did.
    trouble: Trouble,
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
            Some(spool) => Ok(words(spool.reader(), self.trouble.clone())),
            None => self.source.open_reporting(&self.trouble),
        }
    }

    /// The ids from the first, again and again (`-n`, `-z`, a rate search's steps); none at all
    /// for an empty list.
    pub fn passes(&self) -> std::io::Result<Box<dyn Iterator<Item = Id> + Send>> {
        if self.count() == Some(0) {
            return Ok(Box::new(std::iter::empty()));
        }
        let first = self.open()?;
        let list = self.clone();
        let again = std::iter::repeat_with(move || list.open().ok())
            .map_while(|pass| pass)
            .flatten();
        Ok(Box::new(first.chain(again)))
    }

    /// Why a list read as it goes ended before its end (a line not UTF-8 text, a read error):
    /// the ids after it were not fetched. A counted list is checked whole before any request.
    pub fn ended_early(&self) -> Option<IdsError> {
        let error = self.trouble.lock().ok()?.clone()?;
        Some(IdsError::List {
            list: self.source.name(),
            error,
        })
    }
}

/// A word-list line's id, or None for a blank line or a `#` comment: the one rule both
/// [`words`] and [`count_words`] follow, so the count is what the reader yields.
fn word(line: &str) -> Option<&str> {
    let word = line.trim();
    (!word.is_empty() && !word.starts_with('#')).then_some(word)
}

/// The word list's ids, line by line; at a line that is not UTF-8 text or a read error it
/// stops and leaves the reason in `trouble`.
fn words(
    source: impl Read + Send + 'static,
    trouble: Trouble,
) -> Box<dyn Iterator<Item = Id> + Send> {
    let mut lines = Lines::new(source);
    Box::new(std::iter::from_fn(move || loop {
        match lines.next_line() {
            Ok(Some(line)) => {
                if let Some(word) = word(line) {
                    return Some(Id::from_line(word));
                }
            }
            Ok(None) => return None,
            Err(error) => {
                if let Ok(mut slot) = trouble.lock() {
                    slot.get_or_insert(error);
                }
                return None;
            }
        }
    }))
}

/// How many ids [`words`] yields from `source`, in one pass through a single line buffer, or
/// the line where it would stop.
fn count_words(source: impl Read) -> Result<u64, ListError> {
    let mut lines = Lines::new(source);
    let mut n = 0;
    while let Some(line) = lines.next_line()? {
        n += u64::from(word(line).is_some());
    }
    Ok(n)
}

/// A reader's lines as text, numbered, through one reused buffer.
struct Lines<R> {
    reader: BufReader<R>,
    buffer: Vec<u8>,
    number: u64,
}

impl<R: Read> Lines<R> {
    fn new(source: R) -> Self {
        Self {
            reader: BufReader::with_capacity(64 * 1024, source),
            buffer: Vec::new(),
            number: 0,
        }
    }

    /// The next line without its line ending, None at the end.
    fn next_line(&mut self) -> Result<Option<&str>, ListError> {
        self.buffer.clear();
        match self.reader.read_until(b'\n', &mut self.buffer) {
            Ok(0) => return Ok(None),
            Ok(_) => self.number += 1,
            Err(e) => {
                return Err(ListError::Read {
                    line: self.number,
                    message: e.to_string(),
                })
            }
        }
        match std::str::from_utf8(&self.buffer) {
            // A byte-order mark (Windows editors save UTF-8 so) is no part of the first id.
            Ok(text) if self.number == 1 => Ok(Some(text.strip_prefix('\u{feff}').unwrap_or(text))),
            Ok(text) => Ok(Some(text)),
            Err(_) => Err(ListError::NotText {
                line: self.number,
                shown: self.buffer.trim_ascii().escape_ascii().to_string(),
            }),
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

    /// The ids `words` yields from `list`, and why it stopped early if it did.
    fn read(list: impl Read + Send + 'static) -> (Vec<Id>, Option<ListError>) {
        let trouble = Trouble::default();
        let ids = words(list, trouble.clone()).collect();
        let error = trouble.lock().unwrap().clone();
        (ids, error)
    }

    #[test]
    fn the_count_is_what_the_reader_yields() {
        let lists: [&'static [u8]; 5] = [
            b"",
            b"a\n\n  # comment\n b \r\n\t\n25\nlast without newline",
            b"# only comments\n#\n",
            b"\n\n\n x",
            b" #not a comment? it is: trimmed first\nword # with a hash\n",
        ];
        for list in lists {
            let (ids, error) = read(list);
            assert_eq!(error, None);
            assert_eq!(
                count_words(list),
                Ok(ids.len() as u64),
                "{:?}",
                String::from_utf8_lossy(list)
            );
        }
        assert_eq!(count_words(&b"a\n\n  # comment\n b \r\n"[..]), Ok(2));
    }

    /// A line that is not text, or a read error, stops the list where it is and says so: the
    /// count refuses the list, the streamed reader leaves the reason for the run.
    #[test]
    fn a_line_that_is_not_text_or_a_read_error_is_named() {
        let not_text = ListError::NotText {
            line: 3,
            shown: "\\xff\\xfe invalid".to_owned(),
        };
        let list: &'static [u8] = b"one\ntwo\n\xff\xfe invalid\nafter it\n";
        assert_eq!(count_words(list), Err(not_text.clone()));
        let (ids, error) = read(list);
        assert_eq!(
            ids,
            [Id::Text(Arc::from("one")), Id::Text(Arc::from("two"))]
        );
        assert_eq!(error, Some(not_text));

        let gone = ListError::Read {
            line: 2,
            message: "gone".to_owned(),
        };
        assert_eq!(count_words(Failing(b"1\n2\n3")), Err(gone.clone()));
        let (ids, error) = read(Failing(b"1\n2\n3"));
        assert_eq!(ids, [Id::Num(1), Id::Num(2)]);
        assert_eq!(error, Some(gone));
    }

    #[test]
    fn a_file_is_counted_and_read_again_each_run() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ids.txt");
        std::fs::write(&path, "# ids\n3\n\n1\n  two \n").unwrap();
        let list = IdSource::File(path.clone()).prepare(2).unwrap();
        assert_eq!(list.count(), Some(3));
        let expected = [Id::Num(3), Id::Num(1), Id::Text(Arc::from("two"))];
        for _ in 0..2 {
            assert_eq!(list.open().unwrap().collect::<Vec<_>>(), expected);
        }
        for text in ["", "\n# a comment\r\n  \n"] {
            std::fs::write(&path, text).unwrap();
            let empty = IdSource::File(path.clone()).prepare(1);
            assert!(matches!(empty, Err(IdsError::Empty { .. })), "{text:?}");
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
pub(crate) mod properties;
