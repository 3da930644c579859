//! The reorder window: completions arrive in any order, records leave in range order.
//!
//! Early arrivals are parked until every record before them is in; the engine bounds how far
//! dispatch may run ahead of the oldest unreleased record, so the parked set never outgrows that
//! window however long the range is.

use std::collections::VecDeque;

/// Holds out-of-order items until the contiguous prefix can be released.
///
/// A ring of slots, one per index from the next to release on: an item goes straight to its
/// place and leaves from the front, nothing is ever shifted or searched. (A `BTreeMap` did the
/// same job by shifting parked records within its nodes on every insert and removal: memory copies
/// of several kilobytes per record at tens of thousands of records a second.)
#[derive(Debug)]
pub struct Reorder<T> {
    next: u64,
    slots: VecDeque<Option<T>>,
}

impl<T> Default for Reorder<T> {
    fn default() -> Self {
        Self {
            next: 0,
            slots: VecDeque::new(),
        }
    }
}

impl<T> Reorder<T> {
    #[cfg(test)]
    /// The index of the next item to release; everything before it has been released.
    pub fn next_index(&self) -> u64 {
        self.next
    }

    /// Parks the item completed for `index` (one already released is dropped: it cannot come
    /// twice).
    pub fn insert(&mut self, index: u64, item: T) {
        let Some(at) = index
            .checked_sub(self.next)
            .and_then(|at| usize::try_from(at).ok())
        else {
            return;
        };
        if at >= self.slots.len() {
            self.slots.resize_with(at + 1, || None);
        }
        self.slots[at] = Some(item);
    }

    /// Every parked item in index order, gaps skipped (for the end of an aborted run).
    pub fn drain(&mut self) -> impl Iterator<Item = T> {
        self.next += self.slots.len() as u64;
        std::mem::take(&mut self.slots).into_iter().flatten()
    }

    /// The next item in order, if it has arrived.
    pub fn pop_ready(&mut self) -> Option<T> {
        let item = self.slots.front_mut()?.take()?;
        self.slots.pop_front();
        self.next += 1;
        Some(item)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn releases_in_order_whatever_the_arrival_order() {
        let mut r = Reorder::default();
        let mut out = Vec::new();
        for i in [3u64, 1, 0, 2, 5, 4] {
            r.insert(i, i);
            while let Some(x) = r.pop_ready() {
                out.push(x);
            }
        }
        assert_eq!(out, [0, 1, 2, 3, 4, 5]);
        assert_eq!(r.next_index(), 6);
    }

    #[test]
    fn holds_back_until_the_gap_fills() {
        let mut r = Reorder::default();
        r.insert(1, "b");
        assert_eq!(r.pop_ready(), None);
        r.insert(0, "a");
        assert_eq!(r.pop_ready(), Some("a"));
        assert_eq!(r.pop_ready(), Some("b"));
        assert_eq!(r.pop_ready(), None);
    }

    #[test]
    fn drain_skips_gaps_and_keeps_order() {
        let mut r = Reorder::default();
        r.insert(0, 'a');
        assert_eq!(r.pop_ready(), Some('a'));
        r.insert(4, 'e');
        r.insert(2, 'c');
        assert_eq!(r.drain().collect::<String>(), "ce");
        assert_eq!(r.next_index(), 5);
        assert_eq!(r.pop_ready(), None);
    }
}
