//! Id range specs: `1..151`, `1..=150`, `7`, `1..100:5`, and comma lists of those.
//!
//! A spec is a handful of arithmetic segments, iterated lazily: a range of a billion ids costs no
//! more memory than a range of ten. Segments must ascend without overlapping, which is what lets
//! the engine promise "each id exactly once, in ascending order" without remembering seen ids.

use std::fmt;
use std::io::{BufRead, BufReader, Read};
use std::path::PathBuf;
use std::str::FromStr;
use std::sync::Arc;

use serde::Serialize;
use thiserror::Error;

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

/// Why a range spec was refused.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum RangeError {
    #[error("empty range spec")]
    Empty,
    #[error("`{0}` is not a number")]
    NotANumber(String),
    #[error("`{0}` is empty or reversed: the end must be past the start (ranges are half-open, `1..151` is 1 to 150)")]
    EmptySegment(String),
    #[error("step in `{0}` must be at least 1")]
    ZeroStep(String),
    #[error("`{0}` overflows 64-bit ids")]
    Overflow(String),
    #[error("segments must ascend without overlapping: `{later}` does not come after `{earlier}`")]
    NotAscending { earlier: String, later: String },
    #[error("`{0}` has no end: only the last segment may be open (`1..`, `0..:20`)")]
    OpenNotLast(String),
}

/// One arithmetic segment: `start`, `start + step`, ... while `< end`; an open one (`1..`) ends
/// at the last id a `u64` holds, in practice where a stop rule ends the run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Segment {
    start: u64,
    end: u64,
    step: u64,
    open: bool,
}

impl Segment {
    fn len(&self) -> u64 {
        (self.end - self.start).div_ceil(self.step)
    }

    fn last(&self) -> u64 {
        self.start + (self.len() - 1) * self.step
    }
}

/// A validated, non-empty, strictly ascending set of ids.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdRange {
    segments: Vec<Segment>,
    source: String,
}

impl IdRange {
    /// Whether the range has no end (`1..`): a run over it needs a stop rule.
    pub fn is_open(&self) -> bool {
        self.segments.last().is_some_and(|s| s.open)
    }

    /// The first id.
    pub fn first(&self) -> u64 {
        self.segments.first().map_or(0, |s| s.start)
    }

    /// Number of ids in the range (saturating at `u64::MAX`).
    pub fn len(&self) -> u64 {
        self.segments
            .iter()
            .fold(0u64, |n, s| n.saturating_add(s.len()))
    }

    /// Always false: an empty range is refused at parse time.
    pub fn is_empty(&self) -> bool {
        false
    }

    /// The ids in ascending order, generated lazily, owning the range (for runs that outlive it).
    pub fn into_ids(self) -> impl Iterator<Item = u64> + Send + 'static {
        self.segments
            .into_iter()
            .flat_map(|s| (0..s.len()).map(move |k| s.start + k * s.step))
    }

    /// The ids in ascending order, generated lazily.
    pub fn iter(&self) -> impl Iterator<Item = u64> + Send + '_ {
        self.segments
            .iter()
            .flat_map(|s| (0..s.len()).map(move |k| s.start + k * s.step))
    }
}

impl fmt::Display for IdRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.source)
    }
}

impl FromStr for IdRange {
    type Err = RangeError;

    fn from_str(spec: &str) -> Result<Self, Self::Err> {
        let spec = spec.trim();
        if spec.is_empty() {
            return Err(RangeError::Empty);
        }
        let mut segments: Vec<Segment> = Vec::new();
        let mut previous_text = "";
        for text in spec.split(',').map(str::trim) {
            let segment = parse_segment(text)?;
            if segments.last().is_some_and(|p| p.open) {
                return Err(RangeError::OpenNotLast(previous_text.to_owned()));
            }
            if let Some(prev) = segments.last() {
                if segment.start <= prev.last() {
                    return Err(RangeError::NotAscending {
                        earlier: previous_text.to_owned(),
                        later: text.to_owned(),
                    });
                }
            }
            segments.push(segment);
            previous_text = text;
        }
        Ok(Self {
            segments,
            source: spec.to_owned(),
        })
    }
}

fn parse_segment(text: &str) -> Result<Segment, RangeError> {
    if text.is_empty() {
        return Err(RangeError::Empty);
    }
    let (bounds, step) = match text.split_once(':') {
        Some((bounds, step)) => (bounds, parse_number(step)?),
        None => (text, 1),
    };
    if step == 0 {
        return Err(RangeError::ZeroStep(text.to_owned()));
    }
    let (start, end) = if let Some((a, b)) = bounds.split_once("..=") {
        let end = parse_number(b)?
            .checked_add(1)
            .ok_or_else(|| RangeError::Overflow(text.to_owned()))?;
        (parse_number(a)?, end)
    } else if let Some((a, b)) = bounds.split_once("..") {
        if b.trim().is_empty() {
            let start = parse_number(a)?;
            // An open segment ends before `u64::MAX`: from there on it would hold no id.
            if start == u64::MAX {
                return Err(RangeError::Overflow(text.to_owned()));
            }
            return Ok(Segment {
                start,
                end: u64::MAX,
                step,
                open: true,
            });
        }
        (parse_number(a)?, parse_number(b)?)
    } else {
        let id = parse_number(bounds)?;
        let end = id
            .checked_add(1)
            .ok_or_else(|| RangeError::Overflow(text.to_owned()))?;
        (id, end)
    };
    if end <= start {
        return Err(RangeError::EmptySegment(text.to_owned()));
    }
    Ok(Segment {
        start,
        end,
        step,
        open: false,
    })
}

fn parse_number(text: &str) -> Result<u64, RangeError> {
    let text = text.trim();
    text.parse::<u64>().map_err(|e| match e.kind() {
        std::num::IntErrorKind::PosOverflow => RangeError::Overflow(text.to_owned()),
        _ => RangeError::NotANumber(text.to_owned()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids(spec: &str) -> Vec<u64> {
        spec.parse::<IdRange>().unwrap().iter().collect()
    }

    #[test]
    fn every_form() {
        assert_eq!(ids("1..4"), [1, 2, 3]);
        assert_eq!(ids("1..=4"), [1, 2, 3, 4]);
        assert_eq!(ids("7"), [7]);
        assert_eq!(ids("1..12:5"), [1, 6, 11]);
        assert_eq!(ids("1..=11:5"), [1, 6, 11]);
        assert_eq!(ids("1..3,20, 30..=32"), [1, 2, 20, 30, 31, 32]);
        let r: IdRange = "1..151".parse().unwrap();
        assert_eq!(r.len(), 150);
        assert_eq!(r.iter().last(), Some(150));
        assert_eq!("1..100:5".parse::<IdRange>().unwrap().len(), 20);
    }

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

    #[test]
    fn huge_ranges_stay_lazy() {
        let r: IdRange = "0..18446744073709551615".parse().unwrap();
        assert_eq!(r.len(), u64::MAX);
        assert_eq!(r.iter().nth(3), Some(3));
    }

    #[test]
    fn bad_specs() {
        let err = |s: &str| s.parse::<IdRange>().unwrap_err();
        assert_eq!(err(""), RangeError::Empty);
        assert_eq!(err("abc"), RangeError::NotANumber("abc".into()));
        assert_eq!(err("1..x"), RangeError::NotANumber("x".into()));
        assert_eq!(err("-1..5"), RangeError::NotANumber("-1".into()));
        assert_eq!(err("151..1"), RangeError::EmptySegment("151..1".into()));
        assert_eq!(err("5..5"), RangeError::EmptySegment("5..5".into()));
        assert_eq!(err("1..10:0"), RangeError::ZeroStep("1..10:0".into()));
        assert_eq!(err("1,,2"), RangeError::Empty);
        assert_eq!(
            err("99999999999999999999"),
            RangeError::Overflow("99999999999999999999".into())
        );
        // Open from the last id a u64 holds: no id past it (found by the property test).
        assert_eq!(
            err("18446744073709551615.."),
            RangeError::Overflow("18446744073709551615..".into())
        );
        assert!(matches!(err("1..10,5"), RangeError::NotAscending { .. }));
        assert!(matches!(
            err("1..=10:3,10"),
            RangeError::NotAscending { .. }
        ));
        assert_eq!(ids("1..=10:3,11"), [1, 4, 7, 10, 11]);
    }
}

#[cfg(test)]
mod properties;
