//! The work a run has still to do, in the order it is dispatched, and where each piece of a
//! crawl's work sits ([`Place`]: its position, depth, chain and page), which the crawl's rules
//! fill in and the fetch carries to the record.
//!
//! Two numbers per item, because a crawl pulls them apart: the dispatch sequence (the k-th
//! request sent, which the open-loop schedule k/R is keyed on) and the output position (where
//! its record goes in the results). For a flat run of seeds they are equal; once responses
//! create work, discovered items are dispatched before later seeds, smallest position first, so
//! the oldest unreleased record always gets the next slot (see `release`).

use std::collections::{BTreeMap, HashSet, VecDeque};
use std::iter::Peekable;

use reqwest::Url;

use crate::engine::release::Position;
use crate::plan::ids::Id;
use crate::record::WorkItem;

/// A crawl's work kept by an earlier, interrupted run of the same job (a results database's
/// `frontier`): what [`Run::resume`](crate::engine::Run::resume) goes on from, instead of
/// fetching every page again.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SavedWork {
    /// Work released and not done, with its seed's id: fetched again, each in its place.
    pub pending: Vec<(Id, WorkItem)>,
    /// Pages and other steps done (not among the results): not fetched again. A seed whose
    /// first page is among them is done: its seed is skipped.
    pub done: Vec<WorkItem>,
    /// The URLs of the results already written: a link to one is a duplicate, as it was in
    /// the run that wrote it.
    pub results: Vec<String>,
}

impl SavedWork {
    /// Whether nothing was saved (the run then starts from its seeds).
    pub fn is_empty(&self) -> bool {
        self.pending.is_empty() && self.done.is_empty()
    }

    /// The numbers of the seeds whose first page is done.
    pub(crate) fn done_seeds(&self) -> HashSet<u64> {
        self.done
            .iter()
            .filter(|w| w.path.len() == 2 && w.path[1] == 0)
            .map(|w| u64::from(w.path[0]))
            .collect()
    }
}

/// One request to make.
#[derive(Debug, Clone)]
pub(crate) struct Work {
    /// The how-manieth request of the run this is (0-based): its place on the schedule.
    pub(crate) seq: u64,
    /// Where its record goes in the output (0-based, in seed order).
    pub(crate) position: u64,
    /// The seed it came from (its id fills the templated headers and body).
    pub(crate) id: Id,
    /// Where it sits in a crawl; None in a flat run.
    pub(crate) place: Option<Box<Place>>,
}

impl Work {
    /// The index its record carries: its position in a flat run, its seed's in a crawl (the
    /// stop rules and the release order of seeds go by it).
    pub(crate) fn output_index(&self) -> u64 {
        self.place
            .as_ref()
            .map_or(self.position, |p| u64::from(p.chain))
    }
}

/// The seeds still to fetch (the range or word list, pulled as needed) and any handed back.
pub(crate) struct Frontier<I: Iterator<Item = Id>> {
    seeds: Peekable<I>,
    /// In a crawl: the work its responses created, by position, with its seed's id. Taken
    /// before the next seed, smallest position first, so the oldest unreleased record always
    /// gets the next free slot.
    found: BTreeMap<Position, (Place, Id)>,
    crawl: bool,
    /// Seeds taken out and handed back (the warm-up's), fetched first.
    returned: VecDeque<Id>,
    next_seq: u64,
    next_position: u64,
    /// No seed past this position (a stop rule fired), nor work found from one.
    last_seed: Option<u64>,
    /// No seed with a numeric id at or past this (a total bounded the range).
    seed_bound: Option<u64>,
    /// Only the first seed goes out until the total is known (see [`Frontier::hold_seeds`]).
    holding: bool,
    /// The first seed's numeric id, which a total counts from.
    first_id: Option<u64>,
    /// No seed at or past this position yet: an open range's probe (see `Run`'s slow start).
    seed_limit: Option<u64>,
    /// Seeds a resumed run has done already, by position: skipped, their positions kept.
    done_seeds: HashSet<u64>,
}

impl<I: Iterator<Item = Id>> Frontier<I> {
    /// A frontier of `seeds`; `crawl` when responses create work.
    pub(crate) fn new(seeds: I, crawl: bool) -> Self {
        Self {
            seeds: seeds.peekable(),
            found: BTreeMap::new(),
            crawl,
            returned: VecDeque::new(),
            next_seq: 0,
            next_position: 0,
            last_seed: None,
            seed_bound: None,
            holding: false,
            first_id: None,
            seed_limit: None,
            done_seeds: HashSet::new(),
        }
    }

    /// Goes on from an earlier run's work: its pending work is dispatched in its places, its
    /// done seeds are skipped (their positions counted, so every place stays where it was).
    pub(crate) fn resume(&mut self, saved: &SavedWork) {
        self.done_seeds = saved.done_seeds();
        for (id, item) in &saved.pending {
            if let Some(place) = Place::from_work(item.clone()) {
                self.add(place, id.clone());
            }
        }
    }

    /// Passes the seeds a resumed run has done, keeping their positions.
    fn skip_done_seeds(&mut self) {
        while !self.done_seeds.is_empty() && self.done_seeds.remove(&self.next_position) {
            if self
                .returned
                .pop_front()
                .or_else(|| self.seeds.next())
                .is_none()
            {
                break;
            }
            self.next_position += 1;
        }
    }

    /// Sends only the first seed until [`Frontier::bound_seeds`] or [`Frontier::end_seeds_after`]
    /// says how far the range goes.
    pub(crate) fn hold_seeds(&mut self) {
        self.holding = true;
    }

    /// The range holds `total` items: its ids go up to (not including) the first id plus
    /// `total` (offsets), or for page numbers (a step of 1) with `per_page` items on the first
    /// page, as many pages as hold `total` items.
    pub(crate) fn bound_items(&mut self, total: u64, per_page: Option<u64>) {
        match per_page.filter(|n| *n > 0 && self.step() == 1) {
            Some(per_page) => self.bound_pages(total.div_ceil(per_page)),
            None => self.bound_ids(total),
        }
    }

    /// The range holds `pages` pages, the first included.
    pub(crate) fn bound_pages(&mut self, pages: u64) {
        let step = self.step();
        self.bound_ids(pages.saturating_mul(step));
    }

    /// Seeds may go out up to (not including) position `limit`.
    pub(crate) fn limit_seeds(&mut self, limit: u64) {
        self.seed_limit = Some(limit);
    }

    /// The ids go up to (not including) the first seed's id plus `span`.
    fn bound_ids(&mut self, span: u64) {
        self.holding = false;
        // Every page is known now: no need to probe ahead.
        self.seed_limit = None;
        let first = self.first_id.unwrap_or(0);
        self.seed_bound = Some(first.saturating_add(span));
    }

    /// The range's step: from the first seed's id to the next one's (1 when unknown).
    fn step(&mut self) -> u64 {
        let next = self.returned.front().or_else(|| self.seeds.peek());
        match (self.first_id, next) {
            (Some(first), Some(Id::Num(next))) if *next > first => next - first,
            _ => 1,
        }
    }

    /// No seed after position `last`, nor any work found from one.
    pub(crate) fn end_seeds_after(&mut self, last: u64) {
        self.holding = false;
        self.last_seed = Some(self.last_seed.map_or(last, |l| l.min(last)));
        self.found
            .retain(|_, (place, _)| u64::from(place.chain) <= last);
    }

    /// Whether the seeds may go on: not held back, not past a stop or a bound.
    fn seeds_open(&mut self) -> bool {
        if self.holding && self.next_position > 0 {
            return false;
        }
        if self.last_seed.is_some_and(|last| self.next_position > last)
            || self
                .seed_limit
                .is_some_and(|limit| self.next_position >= limit)
        {
            return false;
        }
        match (
            self.seed_bound,
            self.returned.front().or_else(|| self.seeds.peek()),
        ) {
            (Some(bound), Some(Id::Num(id))) => *id < bound,
            (_, next) => next.is_some(),
        }
    }

    /// The next work to dispatch, numbered; None when every seed has gone out.
    pub(crate) fn pop(&mut self) -> Option<Work> {
        let seq = self.next_seq;
        self.skip_done_seeds();
        // Found work before the next seed, unless the seed's place comes first: only a resumed
        // run's seed that failed can (found work is otherwise of seeds gone out already).
        let seed_before = |at: &Position| {
            u32::try_from(self.next_position).is_ok_and(|k| Position::seed(k) < *at)
        };
        let seed_first = match self.found.first_key_value() {
            None => true,
            Some((at, _)) => seed_before(at) && self.seeds_open(),
        };
        if let Some((_, (place, id))) = (!seed_first).then(|| self.found.pop_first()).flatten() {
            self.next_seq += 1;
            return Some(Work {
                seq,
                position: self.next_position,
                id,
                place: Some(Box::new(place)),
            });
        }
        if !self.seeds_open() {
            return None;
        }
        let id = self.returned.pop_front().or_else(|| self.seeds.next())?;
        let position = self.next_position;
        if position == 0 {
            self.first_id = match id {
                Id::Num(n) => Some(n),
                Id::Text(_) => None,
            };
        }
        let place = self.crawl.then(|| {
            let k = u32::try_from(position).unwrap_or(u32::MAX);
            Box::new(Place::seed(k))
        });
        self.next_seq += 1;
        self.next_position += 1;
        Some(Work {
            seq,
            position,
            id,
            place,
        })
    }

    /// Work a response created, for the seed `id`.
    pub(crate) fn add(&mut self, place: Place, id: Id) {
        self.found.insert(place.at.clone(), (place, id));
    }

    /// Whether anything is left to dispatch.
    pub(crate) fn has_more(&mut self) -> bool {
        self.skip_done_seeds();
        !self.found.is_empty() || self.seeds_open()
    }

    /// Takes seeds out without numbering them, up to the `n`-th still to do, each with whether
    /// it is: the warm-up fetches those off the books (a resumed run's done seeds among them
    /// are not fetched), then hands every one back with [`Frontier::hand_back`], so each keeps
    /// its place.
    pub(crate) fn take_seeds(&mut self, n: u64) -> Vec<(Id, bool)> {
        self.skip_done_seeds();
        let mut taken = Vec::new();
        let mut to_do = 0;
        while to_do < n {
            let Some(id) = self.returned.pop_front().or_else(|| self.seeds.next()) else {
                break;
            };
            let position = self.next_position + taken.len() as u64;
            let done = self.done_seeds.contains(&position);
            to_do += u64::from(!done);
            taken.push((id, !done));
        }
        taken
    }

    /// Puts the seeds [`Frontier::take_seeds`] took back at the front, in order.
    pub(crate) fn hand_back(&mut self, taken: Vec<(Id, bool)>) {
        for (id, _) in taken.into_iter().rev() {
            self.returned.push_front(id);
        }
    }
}

/// Where a piece of discovered work sits in the crawl.
#[derive(Debug, Clone)]
pub(crate) struct Place {
    pub(crate) at: Position,
    pub(crate) depth: u32,
    /// The URL to fetch; None for a seed (its URL comes from the template).
    pub(crate) url: Option<Url>,
    /// The URL of the document that named this one.
    pub(crate) parent: Option<String>,
    /// Which chain of pages it belongs to (its seed's number), and its page number in it.
    pub(crate) chain: u32,
    pub(crate) page: u32,
    /// A page sent out with the others of its chain at once (from a `last` link): its next
    /// page is on its way already, so it is not followed.
    pub(crate) fanned: bool,
}

impl Place {
    /// The place a resumed run gives saved work; None for a path too short to be a place or a
    /// URL that does not parse (neither is saved).
    pub(crate) fn from_work(item: WorkItem) -> Option<Self> {
        let depth = item.depth();
        let (chain, page) = (*item.path.first()?, *item.path.get(1)?);
        Some(Self {
            at: Position::from_path(item.path)?,
            depth,
            url: Some(Url::parse(&item.url).ok()?),
            parent: item.parent,
            chain,
            page,
            fanned: item.fanned,
        })
    }

    /// The work this place is, to save; None before its URL is known.
    pub(crate) fn work(&self) -> Option<WorkItem> {
        Some(WorkItem {
            path: self.at.path().to_vec(),
            url: self.url.as_ref()?.to_string(),
            parent: self.parent.clone(),
            fanned: self.fanned,
        })
    }

    pub(crate) fn seed(k: u32) -> Self {
        Self {
            at: Position::seed(k),
            depth: 0,
            url: None,
            parent: None,
            chain: k,
            page: 0,
            fanned: false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids(range: std::ops::Range<u64>) -> impl Iterator<Item = Id> {
        range.map(Id::Num)
    }

    #[test]
    fn seeds_come_out_numbered_in_order() {
        let mut frontier = Frontier::new(ids(1..4), false);
        let popped: Vec<_> = std::iter::from_fn(|| frontier.pop())
            .map(|w| (w.seq, w.position, w.id))
            .collect();
        assert_eq!(
            popped,
            [(0, 0, Id::Num(1)), (1, 1, Id::Num(2)), (2, 2, Id::Num(3))]
        );
        assert!(!frontier.has_more());
    }

    #[test]
    fn found_work_goes_out_before_the_next_seed_smallest_position_first() {
        let mut frontier = Frontier::new(ids(1..3), true);
        let first = frontier.pop().expect("seed 1");
        let seed = first.place.expect("a crawl place");
        let child = |rank| Place {
            at: seed.at.child(rank),
            depth: 1,
            ..Place::seed(0)
        };
        frontier.add(child(1), Id::Num(1));
        frontier.add(child(0), Id::Num(1));
        let order: Vec<_> = std::iter::from_fn(|| frontier.pop())
            .map(|w| (w.seq, w.place.map(|p| p.at)))
            .collect();
        assert_eq!(
            order,
            [
                (1, Some(seed.at.child(0))),
                (2, Some(seed.at.child(1))),
                (3, Some(Position::seed(1)))
            ]
        );
    }

    #[test]
    fn a_total_of_items_bounds_page_numbers_by_the_first_page_s_items_and_offsets_by_itself() {
        fn drain(mut frontier: Frontier<impl Iterator<Item = Id>>) -> Vec<Id> {
            std::iter::from_fn(move || frontier.pop())
                .map(|w| w.id)
                .collect()
        }
        let mut pages = Frontier::new(ids(1..1000), false);
        pages.hold_seeds();
        assert_eq!(pages.pop().map(|w| w.id), Some(Id::Num(1)));
        assert!(pages.pop().is_none(), "held until the total is known");
        pages.bound_items(47, Some(10));
        assert_eq!(drain(pages), (2..=5).map(Id::Num).collect::<Vec<_>>());
        let mut offsets = Frontier::new((0..).step_by(20).map(Id::Num), false);
        offsets.hold_seeds();
        offsets.pop();
        offsets.bound_items(47, Some(20));
        assert_eq!(drain(offsets), [Id::Num(20), Id::Num(40)]);
    }

    /// A crawl's work item at `path` (seed index first), as a saved frontier holds it.
    fn item(path: Vec<u32>) -> WorkItem {
        WorkItem {
            url: format!("http://h.test/{path:?}"),
            path,
            parent: None,
            fanned: false,
        }
    }

    #[test]
    fn a_resumed_run_skips_its_done_seeds_in_place_and_sends_a_failed_one_before_later_work() {
        // Seeds 0 and 2 done, seed 1 failed (no row): seed 2's link and next page pending.
        let saved = SavedWork {
            pending: vec![
                (Id::Num(12), item(vec![2, 0, 4])),
                (Id::Num(12), item(vec![2, 1])),
            ],
            done: vec![item(vec![0, 0]), item(vec![2, 0]), item(vec![0, 1])],
            results: vec![],
        };
        let mut frontier = Frontier::new(ids(10..14), true);
        frontier.resume(&saved);
        let order: Vec<_> = std::iter::from_fn(|| frontier.pop())
            .map(|w| (w.id, w.place.map(|p| p.at.path().to_vec())))
            .collect();
        assert_eq!(
            order,
            [
                (Id::Num(11), Some(vec![1, 0])),
                (Id::Num(12), Some(vec![2, 0, 4])),
                (Id::Num(12), Some(vec![2, 1])),
                (Id::Num(13), Some(vec![3, 0])),
            ]
        );
    }

    #[test]
    fn the_seeds_taken_for_a_warm_up_tell_a_resumed_run_s_done_ones_and_keep_their_places() {
        // Seeds 0 and 2 done: two still to do are seeds 1 and 3, with seed 2 between them.
        let saved = SavedWork {
            done: vec![item(vec![0, 0]), item(vec![2, 0])],
            ..SavedWork::default()
        };
        let mut frontier = Frontier::new(ids(10..15), true);
        frontier.resume(&saved);
        let taken = frontier.take_seeds(2);
        assert_eq!(
            taken,
            [
                (Id::Num(11), true),
                (Id::Num(12), false),
                (Id::Num(13), true)
            ]
        );
        frontier.hand_back(taken);
        let order: Vec<_> = std::iter::from_fn(|| frontier.pop())
            .map(|w| (w.id, w.position))
            .collect();
        assert_eq!(
            order,
            [(Id::Num(11), 1), (Id::Num(13), 3), (Id::Num(14), 4)]
        );
    }

    #[test]
    fn seeds_handed_back_go_out_first_and_are_numbered_then() {
        let mut frontier = Frontier::new(ids(1..5), false);
        let taken = frontier.take_seeds(2);
        assert_eq!(taken, [(Id::Num(1), true), (Id::Num(2), true)]);
        frontier.hand_back(taken);
        assert!(frontier.has_more());
        let order: Vec<_> = std::iter::from_fn(|| frontier.pop())
            .map(|w| (w.seq, w.id))
            .collect();
        assert_eq!(
            order,
            [
                (0, Id::Num(1)),
                (1, Id::Num(2)),
                (2, Id::Num(3)),
                (3, Id::Num(4))
            ]
        );
    }
}
