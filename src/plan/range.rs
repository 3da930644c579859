//! Id range specs: `1..151`, `1..=150`, `7`, `1..100:5`, and comma lists of those.
//!
//! A spec is a handful of arithmetic segments, iterated lazily: a range of a billion ids costs no
//! more memory than a range of ten. Segments must ascend without overlapping, which is what lets
//! the engine promise "each id exactly once, in ascending order" without remembering seen ids.

use std::fmt;
use std::str::FromStr;

use thiserror::Error;

/// Why a range spec was refused.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum RangeError {
    #[error("empty range spec")]
    Empty,
    #[error("`{0}` is not a number: ids are whole numbers from 0")]
    NotANumber(String),
    #[error("`{0}` is empty or reversed: the end must be past the start (ranges are half-open, `1..151` is 1 to 150)")]
    EmptySegment(String),
    #[error("step in `{0}` must be at least 1")]
    ZeroStep(String),
    #[error("`{0}` goes past the largest id, 18446744073709551614 (the half-open `A..18446744073709551615` ends there)")]
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
