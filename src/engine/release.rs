//! The release order: completions arrive in any order, records leave in output order.
//!
//! Early arrivals are parked until every record before them is in; the engine bounds how far
//! dispatch may run ahead of the oldest unreleased record, so the parked set never outgrows that
//! window however long the range is. Two forms: [`Reorder`], a dense ring for flat runs, where
//! positions are 0, 1, 2, ...; and [`Tree`], for runs whose responses create work, where a
//! position is a path (seed k, then the rank of each link followed) and records leave in
//! depth-first pre-order: seed k, what it led to in document order, then seed k+1.

use crate::plan::ids::Id;
use std::collections::{BTreeMap, VecDeque};

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

/// Where a record of a crawl goes: its seed's number, its page in the seed's chain of pages,
/// then the rank, in its parent's document, of each link followed to reach it. Ordered as
/// paths are (a parent before its children, the children in document order, all of them before
/// the parent's next sibling): a depth-first pre-order, decided by the documents and never by
/// timing. A chain's next page is a sibling rather than a child, so a path is never longer
/// than the levels followed plus two, however long the chain.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) struct Position(Vec<u32>);

impl Position {
    /// The first page of seed `k`.
    pub(crate) fn seed(k: u32) -> Self {
        Self(vec![k, 0])
    }

    /// The path as numbers: seed, page, the rank of each link (what a resumed run is given).
    pub(crate) fn path(&self) -> &[u32] {
        &self.0
    }

    /// The position whose path is `path` (a seed's number and a page at least); None otherwise.
    pub(crate) fn from_path(path: Vec<u32>) -> Option<Self> {
        (path.len() >= 2).then_some(Self(path))
    }

    /// The next page of the chain this page (`seed, page`) belongs to.
    pub(crate) fn next_page(&self) -> Self {
        let mut path = self.0.clone();
        if let Some(page) = path.last_mut() {
            *page = page.saturating_add(1);
        }
        Self(path)
    }

    /// The record's key: the seed's id, then the page in its chain and the rank of each link
    /// followed (`1.3.17`), unique in a run and the same in every run of the same documents.
    /// The seed's number is left out: the id names the seed in any shard or resumed run.
    pub(crate) fn key(&self, seed: &Id) -> String {
        use std::fmt::Write;
        let mut key = seed.to_string();
        for step in self.0.iter().skip(1) {
            let _ = write!(key, ".{step}");
        }
        key
    }

    /// The position of the `rank`-th link found in this one's document.
    pub(crate) fn child(&self, rank: u32) -> Self {
        let mut path = Vec::with_capacity(self.0.len() + 1);
        path.extend_from_slice(&self.0);
        path.push(rank);
        Self(path)
    }
}

/// The release of a crawl: an entry is registered (empty) when its work is dispatched or
/// discovered, filled when its record arrives, and released while the first entry is filled.
///
/// A parent's children are registered as its record is filled ([`Tree::fill`] takes their
/// count), so the parent cannot leave before the places of what it led to exist. With dispatch
/// taking the smallest position first, the first unreleased entry is always in flight or next
/// to go, so a bounded window cannot deadlock however many children one entry has.
#[derive(Debug)]
pub(crate) struct Tree<T> {
    entries: BTreeMap<Position, Option<T>>,
}

impl<T> Default for Tree<T> {
    fn default() -> Self {
        Self {
            entries: BTreeMap::new(),
        }
    }
}

impl<T> Tree<T> {
    /// Holds a place for work now dispatched.
    pub(crate) fn register(&mut self, at: Position) {
        self.entries.entry(at).or_insert(None);
    }

    /// The record for `at` has arrived, and its document led to `children` (its links, its next
    /// page): their places are held before `at` can be released.
    pub(crate) fn fill(
        &mut self,
        at: Position,
        item: T,
        children: impl IntoIterator<Item = Position>,
    ) {
        for child in children {
            self.register(child);
        }
        self.entries.insert(at, Some(item));
    }

    /// Every record still held, in order, the places never filled skipped (for the end of a
    /// run stopped early).
    pub(crate) fn drain(&mut self) -> impl Iterator<Item = T> {
        std::mem::take(&mut self.entries).into_values().flatten()
    }

    /// The next record in pre-order, if it has arrived.
    pub(crate) fn pop_ready(&mut self) -> Option<(Position, T)> {
        let first = self.entries.first_entry()?;
        if first.get().is_none() {
            return None;
        }
        let (at, item) = first.remove_entry();
        item.map(|item| (at, item))
    }

    /// Entries held and not yet released (in flight, discovered or parked).
    #[cfg(test)]
    pub(crate) fn held(&self) -> usize {
        self.entries.len()
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

    /// A toy crawl: what each position's document links to.
    fn children_of(at: &Position) -> u32 {
        match at.0.as_slice() {
            [0, 0] => 3,
            [0, 0, 1] => 2,
            [2, 0] => 1,
            [2, 0, 0] => 2,
            _ => 0,
        }
    }

    #[test]
    fn a_tree_releases_in_pre_order_whatever_the_completion_order() {
        // Everything dispatched at once, completing in a scrambled order, children found as
        // their parents complete.
        for seed in 0..20u64 {
            let mut tree = Tree::default();
            let mut in_flight: Vec<Position> = (0..3).map(Position::seed).collect();
            for at in &in_flight {
                tree.register(at.clone());
            }
            let mut released = Vec::new();
            let mut turn = seed;
            while !in_flight.is_empty() {
                turn = turn
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                let at = in_flight.swap_remove((turn >> 33) as usize % in_flight.len());
                let children: Vec<_> = (0..children_of(&at)).map(|r| at.child(r)).collect();
                in_flight.extend(children.iter().cloned());
                tree.fill(at.clone(), at, children);
                while let Some((_, item)) = tree.pop_ready() {
                    released.push(item.0);
                }
            }
            let expected: Vec<Vec<u32>> = vec![
                vec![0, 0],
                vec![0, 0, 0],
                vec![0, 0, 1],
                vec![0, 0, 1, 0],
                vec![0, 0, 1, 1],
                vec![0, 0, 2],
                vec![1, 0],
                vec![2, 0],
                vec![2, 0, 0],
                vec![2, 0, 0, 0],
                vec![2, 0, 0, 1],
            ];
            assert_eq!(released, expected, "completion order {seed}");
            assert_eq!(tree.held(), 0);
        }
    }

    #[test]
    fn a_chain_of_pages_is_a_row_of_siblings_with_their_items_between() {
        let page1 = Position::seed(4);
        let page2 = page1.next_page();
        let mut order = vec![
            page2.child(0),
            page2.clone(),
            page1.child(1),
            page1.clone(),
            page1.child(0),
        ];
        order.sort();
        assert_eq!(
            order,
            [
                page1.clone(),
                page1.child(0),
                page1.child(1),
                page2.clone(),
                page2.child(0)
            ]
        );
        assert!(page2 < Position::seed(5));
        assert_eq!(page2.next_page().0.len(), 2);
    }

    #[test]
    fn a_bounded_window_does_not_deadlock_when_one_seed_yields_fifty_children() {
        // window = concurrency = 2; dispatch takes the smallest position first; the most
        // recently dispatched request always completes first (the worst order for the window).
        const WINDOW: usize = 2;
        let mut tree = Tree::default();
        let mut to_dispatch: std::collections::BTreeSet<Position> =
            (0..3).map(Position::seed).collect();
        let mut in_flight: Vec<Position> = Vec::new();
        let mut released = Vec::new();
        let mut unreleased = 0usize;
        for _step in 0..10_000 {
            while unreleased < WINDOW && in_flight.len() < WINDOW {
                let Some(at) = to_dispatch.pop_first() else {
                    break;
                };
                tree.register(at.clone());
                in_flight.push(at);
                unreleased += 1;
            }
            let Some(at) = in_flight.pop() else { break };
            let children = if at == Position::seed(0) { 50 } else { 0 };
            let children: Vec<_> = (0..children).map(|r| at.child(r)).collect();
            to_dispatch.extend(children.iter().cloned());
            tree.fill(at.clone(), at, children);
            while let Some((at, _)) = tree.pop_ready() {
                released.push(at);
                unreleased -= 1;
            }
        }
        assert_eq!(released.len(), 53, "the run stalled");
        assert!(released.windows(2).all(|w| w[0] < w[1]), "not in pre-order");
        assert_eq!(released[1], Position::seed(0).child(0));
        assert_eq!(released[52], Position::seed(2));
    }
}
