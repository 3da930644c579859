//! The books of a crawl's run: one request per canonical URL (a 64-bit hash each, not the
//! URL's text), each chain's pages to tell a loop from a duplicate, the request budget, and the
//! counts of what was skipped and why.

use std::collections::hash_map::DefaultHasher;
use std::collections::{BTreeMap, HashSet};
use std::hash::{Hash, Hasher};

use reqwest::Url;

use super::{CrawlRules, Found, NextPage, Origins};
use crate::engine::frontier::Place;
use crate::engine::frontier::SavedWork;

/// What a crawl skipped and found: the report shows these fields as they are (`report::crawl`
/// adds the levels), so their doc comments are the report schema's too.
#[derive(
    Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize, schemars::JsonSchema,
)]
pub struct CrawlCounts {
    /// Pages fetched as a chain's next page (the seeds' own pages not counted).
    pub pages: u64,
    /// Links to a URL this run had already requested: not fetched again.
    pub duplicates: u64,
    /// Links to an origin the crawl may not go to (see --allow-origin): not fetched.
    pub out_of_scope: u64,
    /// Links that are not http(s) URLs.
    pub invalid: u64,
    /// Work not fetched because --max-requests or --max-pages was reached.
    pub over_budget: u64,
    /// Chains ended because a page named a page of the chain again.
    pub loops: u64,
    /// Links to results an earlier run already wrote (`--resume`): not fetched again.
    #[serde(default)]
    pub already_done: u64,
    /// Where and why a stop rule ended the range, or null.
    #[serde(default)]
    pub stopped: Option<String>,
    /// Records that came in past the stop point (requested before it was known): not written.
    #[serde(default)]
    pub past_stop: u64,
    /// Links found by `--follow`, by the depth of the document they were found in (whether
    /// requested or not): a level that found none has a path that matches nothing. Read for the
    /// report's notes, not a figure of its own.
    #[serde(skip)]
    pub links_found: Vec<u64>,
    /// Seeds dropped because an earlier seed of the run had the same canonical URL (an id
    /// given twice): a crawl requests each URL once and a key is unique in a run.
    #[serde(default)]
    pub duplicate_seeds: u64,
    /// First-level pages that held something at the `--next` path, a null included: none, with
    /// pages fetched, is a path that matches nothing. Read for the report's notes.
    #[serde(skip)]
    pub next_held: u64,
    /// Chains cut short because their next page was on an origin the crawl may not go to (see
    /// --allow-origin), counted by that origin: the rest of each chain was not fetched.
    #[serde(default)]
    pub next_out_of_scope: BTreeMap<String, u64>,
}

impl CrawlCounts {
    /// Adds `other`'s counts (a shard's) to these; the first stop rule's reason stands.
    pub fn add(&mut self, other: &CrawlCounts) {
        self.pages += other.pages;
        self.duplicates += other.duplicates;
        self.out_of_scope += other.out_of_scope;
        self.invalid += other.invalid;
        self.over_budget += other.over_budget;
        self.loops += other.loops;
        self.already_done += other.already_done;
        self.past_stop += other.past_stop;
        self.duplicate_seeds += other.duplicate_seeds;
        for (origin, chains) in &other.next_out_of_scope {
            *self.next_out_of_scope.entry(origin.clone()).or_default() += chains;
        }
        if self.stopped.is_none() {
            self.stopped.clone_from(&other.stopped);
        }
    }

    /// Whether a link was followed or skipped, or a chain went past its first page.
    pub fn any(&self) -> bool {
        self.pages
            + self.duplicates
            + self.out_of_scope
            + self.invalid
            + self.over_budget
            + self.loops
            + self.already_done
            + self.duplicate_seeds
            > 0
    }
}

/// The books of one run's crawl.
#[derive(Debug)]
pub(crate) struct Crawl {
    pub(crate) rules: CrawlRules,
    /// Canonical URLs requested (their hashes: 8 bytes a URL, not the URL's text).
    seen: HashSet<u64>,
    /// The seeds' canonical URLs (hashes), to drop a seed given again: apart from `seen` so
    /// that a seed another chain reached first is still a seed, whatever the timing.
    seeds: HashSet<u64>,
    /// Results an earlier run wrote, by the same hash.
    done: HashSet<u64>,
    /// Each chain's pages (chain number, canonical URL hash), to tell a loop from a duplicate.
    chain_pages: HashSet<(u32, u64)>,
    /// Requests the run has made or is about to make.
    requests: u64,
    pub(crate) counts: CrawlCounts,
}

/// Children of a finished document, and a loop to record if its next page came round again.
pub(crate) struct Discovered {
    pub(crate) places: Vec<Place>,
    pub(crate) looped: Option<(Place, String)>,
}

impl Crawl {
    pub(crate) fn new(rules: CrawlRules) -> Self {
        let done = rules
            .done
            .iter()
            .filter_map(|u| Url::parse(u).ok())
            .map(|u| key(&u))
            .collect();
        Self {
            rules,
            done,
            seen: HashSet::new(),
            seeds: HashSet::new(),
            chain_pages: HashSet::new(),
            requests: 0,
            counts: CrawlCounts::default(),
        }
    }

    /// Books what an earlier run of the same job requested or released (`--resume` from a
    /// database's frontier): a link to any of it is a duplicate and a next page back to one
    /// of its chain's pages a loop, as in one uninterrupted run, and the request budget counts
    /// it.
    pub(crate) fn remember(&mut self, saved: &SavedWork) {
        let items = saved.pending.iter().map(|(_, w)| w).chain(&saved.done);
        for item in items {
            let Ok(url) = Url::parse(&item.url) else {
                continue;
            };
            let key = key(&url);
            self.seen.insert(key);
            if let [chain, _page] = item.path[..] {
                self.chain_pages.insert((chain, key));
            }
        }
        for url in saved.results.iter().filter_map(|u| Url::parse(u).ok()) {
            self.seen.insert(key(&url));
        }
        self.requests = self.seen.len() as u64;
    }

    /// Books a seed as it is dispatched; false when an earlier seed had its URL (it would
    /// repeat that seed's requests and keys) or the request budget is spent.
    pub(crate) fn admit_seed(&mut self, place: &Place, url: Option<&Url>) -> bool {
        if url.is_some_and(|url| !self.seeds.insert(key(url))) {
            self.counts.duplicate_seeds += 1;
            return false;
        }
        if self.over_budget() {
            self.counts.over_budget += 1;
            return false;
        }
        self.requests += 1;
        if let Some(url) = url {
            let key = key(url);
            self.seen.insert(key);
            self.chain_pages.insert((place.chain, key));
        }
        true
    }

    fn over_budget(&self) -> bool {
        self.rules
            .max_requests
            .is_some_and(|max| self.requests >= max)
    }

    /// What `parent`'s document (fetched from `base`, whose seed origin is `seed_origin`)
    /// leads to: its links, deduplicated, in scope and within budget, ranked in document
    /// order, then its next page.
    pub(crate) fn discover(&mut self, parent: &Place, base: &Url, found: Found) -> Discovered {
        let mut places = Vec::new();
        let mut rank = 0u32;
        let depth = parent.depth as usize;
        if self.counts.links_found.len() <= depth {
            self.counts.links_found.resize(depth + 1, 0);
        }
        self.counts.links_found[depth] += found.links.len() as u64;
        self.counts.next_held += u64::from(found.next_held);
        for link in found.links {
            let done_before = self.counts.already_done;
            let Some(url) = self.admit(base, &link) else {
                // A link a resumed run already has keeps its rank, so the keys after it stay
                // those of an uninterrupted run.
                rank += u32::from(self.counts.already_done > done_before);
                continue;
            };
            places.push(Place {
                at: parent.at.child(rank),
                depth: parent.depth + 1,
                url: Some(url),
                parent: Some(base.to_string()),
                chain: parent.chain,
                page: parent.page,
                fanned: false,
            });
            rank += 1;
        }
        let mut looped = None;
        let next = found.next.filter(|_| parent.depth == 0 && !parent.fanned);
        if let Some(next) = next.map(|n| self.next_url_text(base, n)) {
            // The first page's `last` link: every page up to it goes out now.
            let fanned = found
                .last
                .filter(|_| parent.page == 0)
                .and_then(|last| self.fan_out(parent, base, &next, &last));
            match fanned {
                Some(pages) => places.extend(pages),
                None => match self.next_page(parent, base, &next) {
                    NextStep::Go(place) => places.push(place),
                    NextStep::Loop(place) => looped = Some((place, next)),
                    NextStep::Stop => {}
                },
            }
        }
        Discovered { places, looped }
    }

    /// The next page as named: a URL, or with a cursor the page's own URL with the token set.
    fn next_url_text(&self, base: &Url, named: String) -> String {
        match &self.rules.next {
            Some(NextPage::Cursor { param, .. }) => {
                with_query_param(base, param, &named).to_string()
            }
            _ => named,
        }
    }

    /// The pages from `next` to `last` at once, when the two URLs differ only in one query
    /// parameter holding a page number (`page=2` .. `page=8`); None when they do not, and the
    /// chain is walked page by page. Each page but the last is marked fanned, so it does not
    /// follow its own next; the last does, in case the list grew past its `last`.
    fn fan_out(&mut self, first: &Place, base: &Url, next: &str, last: &str) -> Option<Vec<Place>> {
        /// Pages sent out at once at most; the last of them walks on from there.
        const MOST_AT_ONCE: u64 = 10_000;
        let (next, last) = (base.join(next).ok()?, base.join(last).ok()?);
        if !self.in_scope(base, &next) {
            return None;
        }
        let (param, from, to) = page_parameter(&next, &last)?;
        let to = to.min(from.saturating_add(MOST_AT_ONCE - 1));
        let mut places = Vec::new();
        let mut at = first.at.next_page();
        let mut cut = false;
        for (page, number) in (first.page + 1..).zip(from..=to) {
            let mut url = with_query_param(&next, &param, &number.to_string());
            url.set_fragment(None);
            let key = key(&url);
            let pages_so_far = u64::from(page);
            let over =
                self.rules.max_pages.is_some_and(|max| pages_so_far >= max) || self.over_budget();
            if over {
                self.counts.over_budget += to - number + 1;
                cut = true;
                break;
            }
            if !self.seen.insert(key) || !self.chain_pages.insert((first.chain, key)) {
                self.counts.duplicates += 1;
                continue;
            }
            self.requests += 1;
            self.counts.pages += 1;
            places.push(Place {
                at: at.clone(),
                depth: 0,
                url: Some(url),
                parent: Some(base.to_string()),
                chain: first.chain,
                page,
                fanned: true,
            });
            at = at.next_page();
        }
        if let Some(end) = places.last_mut() {
            // Walks on from the end, unless a budget cut the pages short.
            end.fanned = cut;
        }
        Some(places)
    }

    /// A link's URL if it is to be requested: resolved, in scope, new, within budget.
    fn admit(&mut self, base: &Url, link: &str) -> Option<Url> {
        let Ok(mut url) = base.join(link) else {
            self.counts.invalid += 1;
            return None;
        };
        url.set_fragment(None);
        if !matches!(url.scheme(), "http" | "https") {
            self.counts.invalid += 1;
            return None;
        }
        if !self.in_scope(base, &url) {
            self.counts.out_of_scope += 1;
            return None;
        }
        let key = key(&url);
        if !self.seen.insert(key) {
            self.counts.duplicates += 1;
            return None;
        }
        if self.done.contains(&key) {
            self.counts.already_done += 1;
            return None;
        }
        if self.over_budget() {
            self.counts.over_budget += 1;
            return None;
        }
        self.requests += 1;
        Some(url)
    }

    fn in_scope(&self, base: &Url, url: &Url) -> bool {
        if url.origin() == base.origin() {
            return true;
        }
        match &self.rules.origins {
            Origins::Seeds => false,
            Origins::Any => true,
            Origins::Also(allowed) => {
                let origin = url.origin().ascii_serialization();
                allowed.iter().any(|a| a.trim_end_matches('/') == origin)
            }
        }
    }

    fn next_page(&mut self, page: &Place, base: &Url, next: &str) -> NextStep {
        let Ok(mut url) = base.join(next) else {
            self.counts.invalid += 1;
            return NextStep::Stop;
        };
        url.set_fragment(None);
        // A next page obeys the same scheme and scope rules as a link: the chain's headers
        // (credentials among them) go to no origin the user did not allow.
        if !matches!(url.scheme(), "http" | "https") {
            self.counts.invalid += 1;
            return NextStep::Stop;
        }
        if !self.in_scope(base, &url) {
            self.counts.out_of_scope += 1;
            // Unlike a link skipped, a next page skipped loses the rest of its chain: say where.
            let origin = url.origin().ascii_serialization();
            *self.counts.next_out_of_scope.entry(origin).or_default() += 1;
            return NextStep::Stop;
        }
        let place = Place {
            at: page.at.next_page(),
            depth: 0,
            url: Some(url.clone()),
            parent: Some(base.to_string()),
            chain: page.chain,
            page: page.page + 1,
            fanned: false,
        };
        let key = key(&url);
        if !self.chain_pages.insert((page.chain, key)) {
            self.counts.loops += 1;
            return NextStep::Loop(place);
        }
        let pages_so_far = u64::from(page.page) + 1;
        if self.rules.max_pages.is_some_and(|max| pages_so_far >= max) {
            self.counts.over_budget += 1;
            return NextStep::Stop;
        }
        if !self.seen.insert(key) {
            self.counts.duplicates += 1;
            return NextStep::Stop;
        }
        if self.over_budget() {
            self.counts.over_budget += 1;
            return NextStep::Stop;
        }
        self.requests += 1;
        self.counts.pages += 1;
        NextStep::Go(place)
    }
}

/// The query parameter in which `next` and `last` differ, and its page numbers in each, when
/// that is the only difference between them and the numbers go up.
fn page_parameter(next: &Url, last: &Url) -> Option<(String, u64, u64)> {
    if next.origin() != last.origin() || next.path() != last.path() {
        return None;
    }
    let pairs = |u: &Url| {
        u.query_pairs()
            .into_owned()
            .collect::<Vec<(String, String)>>()
    };
    let (a, b) = (pairs(next), pairs(last));
    if a.len() != b.len() {
        return None;
    }
    let mut differing = a.iter().zip(&b).filter(|(x, y)| x != y);
    let ((name, from), (other, to)) = differing.next()?;
    if differing.next().is_some() || name != other {
        return None;
    }
    let (from, to) = (from.parse::<u64>().ok()?, to.parse::<u64>().ok()?);
    (from < to).then(|| (name.clone(), from, to))
}

/// `url` with query parameter `name` set to `value` (added if absent), the others kept in order.
pub(crate) fn with_query_param(url: &Url, name: &str, value: &str) -> Url {
    let pairs: Vec<(String, String)> = url.query_pairs().into_owned().collect();
    let mut out = url.clone();
    {
        let mut query = out.query_pairs_mut();
        query.clear();
        let mut set = false;
        for (k, v) in &pairs {
            if k == name {
                if !set {
                    query.append_pair(k, value);
                    set = true;
                }
            } else {
                query.append_pair(k, v);
            }
        }
        if !set {
            query.append_pair(name, value);
        }
    }
    out
}

enum NextStep {
    Go(Place),
    Loop(Place),
    Stop,
}

/// The hash of a URL's canonical form: scheme and host lower-cased and the scheme's default
/// port dropped (as parsing does), the fragment dropped (by the caller).
fn key(url: &Url) -> u64 {
    let mut hasher = DefaultHasher::new();
    url.as_str().hash(&mut hasher);
    hasher.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::engine::crawl::rules_for as rules;

    fn url(text: &str) -> Url {
        Url::parse(text).expect("a URL")
    }

    #[test]
    fn links_come_in_document_order_resolved_and_deduplicated() {
        let mut crawl = Crawl::new(rules(&["results[*].url"], None));
        let base = url("http://h.test/api/list?page=1");
        let found = Found {
            links: vec![
                "/api/1/".into(),
                "http://H.TEST:80/api/2/#top".into(),
                "http://h.test/api/1/".into(),
                "http://other.test/x".into(),
                "3/".into(),
            ],
            next: None,
            ..Found::default()
        };
        let seed = Place::seed(0);
        let discovered = crawl.discover(&seed, &base, found);
        let urls: Vec<_> = discovered
            .places
            .iter()
            .map(|p| p.url.as_ref().map(Url::to_string).unwrap_or_default())
            .collect();
        assert_eq!(
            urls,
            [
                "http://h.test/api/1/",
                "http://h.test/api/2/",
                "http://h.test/api/3/"
            ]
        );
        let ranks: Vec<_> = discovered.places.iter().map(|p| p.at.clone()).collect();
        assert_eq!(ranks, (0..3).map(|r| seed.at.child(r)).collect::<Vec<_>>());
        assert_eq!(crawl.counts.duplicates, 1);
        assert_eq!(crawl.counts.out_of_scope, 1);
    }

    #[test]
    fn a_seed_given_again_is_dropped_once_for_each_time() {
        let mut crawl = Crawl::new(rules(&[], Some(NextPage::LinkHeader)));
        let a = url("http://h.test/l/a");
        let b = url("http://H.test:80/l/b");
        let admitted: Vec<bool> = [&a, &b, &a, &url("http://h.test/l/b")]
            .into_iter()
            .enumerate()
            .map(|(i, u)| crawl.admit_seed(&Place::seed(i as u32), Some(u)))
            .collect();
        assert_eq!(admitted, [true, true, false, false]);
        assert_eq!(crawl.counts.duplicate_seeds, 2);
        assert_eq!(crawl.requests, 2);
    }

    #[test]
    fn next_pages_out_of_scope_are_counted_by_origin_and_links_are_not() {
        let mut crawl = Crawl::new(rules(&["more"], Some(NextPage::LinkHeader)));
        let found = |next: &str| Found {
            links: vec!["http://elsewhere.test/x".into()],
            next: Some(next.to_owned()),
            ..Found::default()
        };
        for (k, next) in ["http://b.test/2", "http://c.test:81/2", "https://b.test/9"]
            .into_iter()
            .chain(["http://b.test/3"])
            .enumerate()
        {
            let base = url(&format!("http://a.test/{k}"));
            let seed = Place::seed(k as u32);
            assert!(crawl.admit_seed(&seed, Some(&base)));
            assert!(crawl.discover(&seed, &base, found(next)).places.is_empty());
        }
        assert_eq!(
            crawl.counts.next_out_of_scope,
            BTreeMap::from([
                ("http://b.test".to_owned(), 2),
                ("http://c.test:81".to_owned(), 1),
                ("https://b.test".to_owned(), 1)
            ])
        );
        assert_eq!(crawl.counts.out_of_scope, 8);
    }

    #[test]
    fn a_next_page_that_comes_round_again_is_a_loop() {
        let mut crawl = Crawl::new(rules(&[], Some(NextPage::LinkHeader)));
        let p1 = url("http://h.test/l?page=1");
        let first = Place::seed(0);
        assert!(crawl.admit_seed(&first, Some(&p1)));
        let next = |n: &str| Found {
            links: vec![],
            next: Some(n.to_owned()),
            ..Found::default()
        };
        let d = crawl.discover(&first, &p1, next("?page=2"));
        let page2 = d.places.into_iter().next().expect("page 2");
        assert_eq!(page2.page, 1);
        let p2 = page2.url.clone().expect("a URL");
        let d = crawl.discover(&page2, &p2, next("?page=1"));
        assert!(d.places.is_empty());
        assert!(d.looped.is_some());
        assert_eq!(crawl.counts.loops, 1);
    }

    #[test]
    fn a_first_page_s_last_link_sends_every_page_up_to_it_and_only_the_last_walks_on() {
        let mut crawl = Crawl::new(CrawlRules {
            max_pages: Some(4),
            ..rules(&[], Some(NextPage::LinkHeader))
        });
        let p1 = url("http://h.test/l?per_page=10");
        let first = Place::seed(0);
        assert!(crawl.admit_seed(&first, Some(&p1)));
        let found = Found {
            next: Some("?per_page=10&page=2".into()),
            last: Some("?per_page=10&page=8".into()),
            ..Found::default()
        };
        let pages = crawl.discover(&first, &p1, found).places;
        let urls: Vec<_> = pages.iter().filter_map(|p| p.url.clone()).collect();
        assert_eq!(urls, [2, 3, 4].map(|n| url(&format!("{p1}&page={n}"))));
        assert!(pages.iter().all(|p| p.fanned), "cut short by --max-pages");
        assert_eq!(crawl.counts.over_budget, 4);
        let other = url("http://h.test/l?page=2&sort=a");
        assert_eq!(
            page_parameter(&other, &url("http://h.test/l?page=9&sort=b")),
            None
        );
        assert_eq!(
            page_parameter(&other, &url("http://h.test/l?page=9&sort=a")),
            Some(("page".to_owned(), 2, 9))
        );
    }

    #[test]
    fn budgets_stop_discovery() {
        let mut crawl = Crawl::new(CrawlRules {
            max_requests: Some(3),
            ..rules(&["items[*]"], None)
        });
        let base = url("http://h.test/");
        assert!(crawl.admit_seed(&Place::seed(0), Some(&base)));
        let found = Found {
            links: (0..5).map(|i| format!("/{i}")).collect(),
            next: None,
            ..Found::default()
        };
        let d = crawl.discover(&Place::seed(0), &base, found);
        assert_eq!(d.places.len(), 2);
        assert_eq!(crawl.counts.over_budget, 3);
    }
}
