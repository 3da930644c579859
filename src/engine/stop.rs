//! Where a range with no known end stops: after N consecutive missing ids, or at the first page
//! whose list is empty. Decided on the records as they are released, in id order, so the stop
//! point does not depend on which response came first; what was requested past it (never more
//! than the window) is dropped, not written.

use std::collections::{BTreeSet, VecDeque};

use crate::record::Record;

/// The stop rules' state in a run.
#[derive(Debug, Default)]
pub(crate) struct Stop {
    after_missing: Option<u64>,
    /// A streak of missing ids, held until a hit lets them through or the rule ends the range.
    // Boxed as they arrive from the release and leave for the hand-out: moved, never copied.
    #[allow(clippy::vec_box)]
    held: Vec<Box<Record>>,
    /// Records let through, in order, to be handed out.
    passed: VecDeque<Box<Record>>,
    /// The seed index of the last record that may be written, once a rule has fired.
    at: Option<u64>,
    /// Seeds whose page's list was empty (known out of order, acted on in order).
    empty: BTreeSet<u64>,
    pub(crate) reason: Option<String>,
    /// Answers not written past the last one written: a missing streak that fired, and what
    /// came past the stop point.
    pub(crate) past: u64,
}

impl Stop {
    pub(crate) fn new(after_missing: Option<u64>) -> Self {
        Self {
            after_missing,
            ..Self::default()
        }
    }

    /// Seed `index`'s page had an empty list.
    pub(crate) fn note_empty(&mut self, index: u64) {
        self.empty.insert(index);
    }

    /// Ends the range after seed `index` for `reason` (a rule decided elsewhere, like a total
    /// that did not come).
    pub(crate) fn end_after(&mut self, index: u64, reason: String) {
        if self.at.is_none() {
            self.at = Some(index);
            self.reason = Some(reason);
        }
    }

    /// Takes the next record in release order; the stop point, when this record fixed it.
    pub(crate) fn release(&mut self, record: Box<Record>) -> Option<u64> {
        if let Some(at) = self.at {
            if record.index > at {
                self.past += 1;
            } else {
                self.passed.push_back(record);
            }
            return None;
        }
        let page = record.crawl.as_ref().is_none_or(|c| c.depth == 0);
        if page && self.empty.contains(&record.index) {
            let at = record.index;
            self.at = Some(at);
            self.reason = Some(format!(
                "at the first empty page: seed {} (--until-empty)",
                record.id
            ));
            self.passed.extend(self.held.drain(..));
            self.passed.push_back(record);
            return Some(at);
        }
        if let (Some(n), true) = (self.after_missing, page) {
            if matches!(record.status, Some(404 | 410)) {
                self.held.push(record);
                if self.held.len() as u64 >= n {
                    return Some(self.missing_streak(n));
                }
                return None;
            }
            self.passed.extend(self.held.drain(..));
        }
        self.passed.push_back(record);
        None
    }

    /// The streak of `n` misses ends the range before its first: they are not written.
    fn missing_streak(&mut self, n: u64) -> u64 {
        let first = self
            .held
            .first()
            .map(|r| r.id.to_string())
            .unwrap_or_default();
        let at = self.held.last().map_or(0, |r| r.index);
        self.reason = Some(format!(
            "after {n} consecutive missing ids from {first} (--stop-after-missing {n})"
        ));
        // Answered but not written, like the answers after them: counted with them.
        self.past += self.held.len() as u64;
        self.held.clear();
        self.at = Some(at);
        at
    }

    /// The next record to hand out.
    pub(crate) fn next_passed(&mut self) -> Option<Box<Record>> {
        self.passed.pop_front()
    }

    /// At the end of the run, a streak too short to stop it is let through: those were real
    /// answers (404s) before the run ended another way.
    pub(crate) fn finish(&mut self) {
        self.passed.extend(self.held.drain(..));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::ids::Id;

    fn record(index: u64, status: u16) -> Box<Record> {
        Box::new(Record {
            index,
            id: Id::Num(index + 1),
            url: String::new(),
            status: Some(status),
            http_version: None,
            timing: Default::default(),
            elapsed: Default::default(),
            scheduled: Default::default(),
            started: Default::default(),
            wait: None,
            bytes: 0,
            wire_bytes: 0,
            attempts: 1,
            failure: None,
            fields: Vec::new(),
            crawl: None,
            cache: None,
        })
    }

    fn passed(stop: &mut Stop) -> Vec<u64> {
        std::iter::from_fn(|| stop.next_passed())
            .map(|r| r.index)
            .collect()
    }

    #[test]
    fn a_streak_of_misses_ends_the_range_and_is_not_written() {
        let mut stop = Stop::new(Some(3));
        for (i, status) in [200, 404, 404, 200, 404, 404, 404, 200]
            .into_iter()
            .enumerate()
        {
            stop.release(record(i as u64, status));
        }
        assert_eq!(passed(&mut stop), [0, 1, 2, 3]);
        assert_eq!(stop.past, 4, "the streak and the answer after it");
        assert!(stop.reason.as_deref().is_some_and(|r| r.contains("from 5")));
    }

    #[test]
    fn the_first_empty_page_in_order_ends_the_range() {
        let mut stop = Stop::new(None);
        // Known out of order: page 4 was empty before page 2 was.
        stop.note_empty(4);
        stop.note_empty(2);
        for i in 0..6 {
            stop.release(record(i, 200));
        }
        assert_eq!(passed(&mut stop), [0, 1, 2]);
        assert_eq!(stop.past, 3);
    }

    #[test]
    fn a_short_streak_at_the_end_is_written() {
        let mut stop = Stop::new(Some(5));
        stop.release(record(0, 200));
        stop.release(record(1, 404));
        stop.finish();
        assert_eq!(passed(&mut stop), [0, 1]);
    }
}
