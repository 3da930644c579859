//! The reorder window: completions arrive in any order, records leave in range order.
//!
//! Early arrivals are parked until every record before them is in; the engine bounds how far
//! dispatch may run ahead of the oldest unreleased record, so the parked set never outgrows that
//! window however long the range is.

use std::collections::BTreeMap;

/// Holds out-of-order items until the contiguous prefix can be released.
#[derive(Debug)]
pub struct Reorder<T> {
    next: u64,
    parked: BTreeMap<u64, T>,
}

impl<T> Default for Reorder<T> {
    fn default() -> Self {
        Self {
            next: 0,
            parked: BTreeMap::new(),
        }
    }
}

impl<T> Reorder<T> {
    /// The index of the next item to release; everything before it has been released.
    pub fn next_index(&self) -> u64 {
        self.next
    }

    /// Parks the item completed for `index`.
    pub fn insert(&mut self, index: u64, item: T) {
        self.parked.insert(index, item);
    }

    /// Every parked item in index order, gaps skipped (for the end of an aborted run).
    pub fn drain(&mut self) -> impl Iterator<Item = T> {
        std::mem::take(&mut self.parked).into_values()
    }

    /// The next item in order, if it has arrived.
    pub fn pop_ready(&mut self) -> Option<T> {
        let item = self.parked.remove(&self.next)?;
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
}
