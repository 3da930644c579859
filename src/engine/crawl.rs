//! Responses that create work: the rules a crawl follows (which links, which next page, which
//! origins, how much), and the books a run keeps to follow them (one request per canonical URL,
//! a page chain's pages, what was skipped and why).
//!
//! Where discovered work goes in the output is decided here, from the documents alone: the
//! `rank`-th link of a document is its `rank`-th child, the next page of a chain its sibling
//! (see `release::Position`), so a crawl's records come out in the same order however the
//! responses arrive.

use std::collections::hash_map::DefaultHasher;
use std::collections::HashSet;
use std::hash::{Hash, Hasher};

use reqwest::header::{HeaderMap, LINK};
use reqwest::Url;
use serde_json::Value;

use crate::engine::release::Position;
use crate::extract::{FieldPath, PathError};

/// Where a chain's next page is named.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NextPage {
    /// A URL at this path in the page's body (`next` in pokeapi and DRF-style APIs).
    Path(FieldPath),
    /// The `Link` header's `rel="next"` target (RFC 8288: GitHub, json-server).
    LinkHeader,
}

/// Which origins links may lead to.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Origins {
    /// The seeds' own origin only.
    #[default]
    Seeds,
    /// The seeds' and these (`scheme://host[:port]`).
    Also(Vec<String>),
    /// Any origin.
    Any,
}

/// Where a range with no known end stops, decided in id order so it does not depend on timing.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StopRules {
    /// After this many consecutive ids answered 404 or 410 (a hit resets the count).
    pub after_missing: Option<u64>,
    /// At the first page whose list at this path is empty (or absent).
    pub until_empty: Option<FieldPath>,
    /// The first page's number at this path bounds the range: ids below first id + total.
    pub total: Option<FieldPath>,
}

impl StopRules {
    /// Whether any rule is set: an open range needs one.
    pub fn any(&self) -> bool {
        self.after_missing.is_some() || self.until_empty.is_some() || self.total.is_some()
    }
}

/// What a crawl follows, as the user asked.
#[derive(Debug, Clone, Default)]
pub struct CrawlRules {
    /// Level by level: the documents at depth `d` lead to the URLs found at `follow[d]`.
    pub follow: Vec<FieldPath>,
    /// A page of depth 0 names the next page of its chain here.
    pub next: Option<NextPage>,
    pub origins: Origins,
    /// Most pages per chain (the seed's page included).
    pub max_pages: Option<u64>,
    /// Most requests in the whole run.
    pub max_requests: Option<u64>,
    /// Write every level's records, not only the last level's (and the failures).
    pub every_level: bool,
    /// Where a range with no known end stops.
    pub stop: StopRules,
    /// URLs an earlier, interrupted run already wrote (`--resume`): not requested again, the
    /// documents that lead to them are.
    pub done: Vec<String>,
    /// The last level's documents are lists: each item at this path is a record of its own,
    /// its fields read from the item, with no request per item.
    pub items: Option<FieldPath>,
}

impl CrawlRules {
    /// The rules from their text, as the command line and the library's builder take them:
    /// field paths to follow, level by level, and the next page as `link` (the `Link` header)
    /// or a field path.
    pub fn parse(follow: &[String], next: Option<&str>) -> Result<Self, PathError> {
        let follow = follow
            .iter()
            .map(|p| p.parse::<FieldPath>())
            .collect::<Result<Vec<_>, _>>()?;
        let next = match next {
            None => None,
            Some("link") => Some(NextPage::LinkHeader),
            Some(path) => Some(NextPage::Path(path.parse()?)),
        };
        Ok(Self {
            follow,
            next,
            ..Self::default()
        })
    }

    /// Whether responses create work at all.
    pub fn is_crawl(&self) -> bool {
        !self.follow.is_empty() || self.next.is_some()
    }

    /// The depth whose documents are the results: the last level followed.
    pub fn last_depth(&self) -> u32 {
        u32::try_from(self.follow.len()).unwrap_or(u32::MAX)
    }

    /// Whether documents are searched for anything besides the fields, or for the fields
    /// under their items.
    pub(crate) fn reads_documents(&self) -> bool {
        self.is_crawl()
            || self.stop.until_empty.is_some()
            || self.stop.total.is_some()
            || self.items.is_some()
    }

    /// Whether a document at `depth` is a list of items (see `items`).
    pub(crate) fn lists_items(&self, depth: u32) -> bool {
        self.items.is_some() && depth == self.last_depth()
    }

    /// The field paths a document at `depth` is searched for: under every item when it is a
    /// list of items (`results[*].name`), so one parse gives every item's fields.
    pub(crate) fn field_paths(&self, depth: u32, fields: &[FieldPath]) -> Vec<FieldPath> {
        match &self.items {
            Some(items) if self.lists_items(depth) => {
                fields.iter().map(|f| f.under_each(items)).collect()
            }
            _ => fields.to_vec(),
        }
    }

    /// The paths a document at `depth` is searched for besides the fields: its level's links,
    /// then (at depth 0) the next page's, the list whose emptiness ends the range, the total.
    pub(crate) fn link_paths(&self, depth: u32) -> Vec<FieldPath> {
        let mut paths = Vec::new();
        if let Some(path) = usize::try_from(depth).ok().and_then(|d| self.follow.get(d)) {
            paths.push(path.clone());
        }
        if depth == 0 {
            if let Some(NextPage::Path(path)) = &self.next {
                paths.push(path.clone());
            }
            paths.extend(self.stop.until_empty.iter().cloned());
            paths.extend(self.stop.total.iter().cloned());
        }
        paths
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
}

impl Place {
    pub(crate) fn seed(k: u32) -> Self {
        Self {
            at: Position::seed(k),
            depth: 0,
            url: None,
            parent: None,
            chain: k,
            page: 0,
        }
    }
}

/// What a document named: the URLs of its level's links, in document order, its next page,
/// and for the stop rules whether its list was empty and the total it gave.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Found {
    pub(crate) links: Vec<String>,
    pub(crate) next: Option<String>,
    pub(crate) empty: bool,
    pub(crate) total: Option<u64>,
}

impl Found {
    /// Reads the values extracted at `CrawlRules::link_paths(depth)`: strings, or lists of them
    /// (a `[*]` path); anything else names no URL.
    pub(crate) fn from_values(rules: &CrawlRules, depth: u32, values: Vec<Value>) -> Self {
        let mut values = values.into_iter();
        let follows = usize::try_from(depth).is_ok_and(|d| d < rules.follow.len());
        let mut found = Found::default();
        if follows {
            if let Some(value) = values.next() {
                strings_in(value, &mut found.links);
            }
        }
        if depth != 0 {
            return found;
        }
        if matches!(rules.next, Some(NextPage::Path(_))) {
            found.next = values.next().and_then(|v| match v {
                Value::String(s) if !s.is_empty() => Some(s),
                _ => None,
            });
        }
        if rules.stop.until_empty.is_some() {
            found.empty = match values.next() {
                Some(Value::Array(items)) => items.is_empty(),
                Some(Value::Object(map)) => map.is_empty(),
                Some(Value::Null) | None => true,
                Some(_) => false,
            };
        }
        if rules.stop.total.is_some() {
            found.total = values.next().and_then(|v| v.as_u64());
        }
        found
    }
}

fn strings_in(value: Value, out: &mut Vec<String>) {
    match value {
        Value::String(s) => out.push(s),
        Value::Array(items) => items.into_iter().for_each(|v| strings_in(v, out)),
        _ => {}
    }
}

/// The `rel="next"` target of a `Link` header (RFC 8288), if any.
pub(crate) fn next_link(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(LINK)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(split_links)
        .find_map(|(target, params)| is_rel_next(params).then(|| target.to_owned()))
}

/// `<target>; params, <target>; params` into its links (a comma inside `<...>` is not a
/// separator).
fn split_links(header: &str) -> impl Iterator<Item = (&str, &str)> {
    let mut rest = header;
    std::iter::from_fn(move || {
        let open = rest.find('<')?;
        let close = open + rest[open..].find('>')?;
        let target = &rest[open + 1..close];
        let after = &rest[close + 1..];
        let end = after.find(',').unwrap_or(after.len());
        let params = &after[..end];
        rest = &after[end..];
        Some((target.trim(), params))
    })
}

fn is_rel_next(params: &str) -> bool {
    params.split(';').any(|param| {
        let Some((name, value)) = param.split_once('=') else {
            return false;
        };
        name.trim().eq_ignore_ascii_case("rel")
            && value
                .trim()
                .trim_matches('"')
                .split_ascii_whitespace()
                .any(|rel| rel.eq_ignore_ascii_case("next"))
    })
}

/// What a crawl skipped and found, for the report.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CrawlCounts {
    /// Pages fetched as a chain's next page.
    pub pages: u64,
    /// Links to a URL already requested in this run.
    pub duplicates: u64,
    /// Links to an origin the crawl may not leave for.
    pub out_of_scope: u64,
    /// Links that are not URLs.
    pub invalid: u64,
    /// Work not requested because `--max-requests` or `--max-pages` was reached.
    pub over_budget: u64,
    /// Chains ended because a page named a page of the chain again.
    pub loops: u64,
    /// Links to results an earlier run already wrote (`--resume`).
    pub already_done: u64,
    /// Where and why a stop rule ended the range, if one did.
    pub stopped: Option<String>,
    /// Records that came in past the stop point: requested before it was known, not written.
    pub past_stop: u64,
}

/// The books of one run's crawl.
#[derive(Debug)]
pub(crate) struct Crawl {
    pub(crate) rules: CrawlRules,
    /// Canonical URLs requested (their hashes: 8 bytes a URL, not the URL's text).
    seen: HashSet<u64>,
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
            chain_pages: HashSet::new(),
            requests: 0,
            counts: CrawlCounts::default(),
        }
    }

    /// Books a seed as it is dispatched; false when the request budget is spent.
    pub(crate) fn admit_seed(&mut self, place: &Place, url: Option<&Url>) -> bool {
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
        for link in found.links {
            let Some(url) = self.admit(base, &link) else {
                continue;
            };
            places.push(Place {
                at: parent.at.child(rank),
                depth: parent.depth + 1,
                url: Some(url),
                parent: Some(base.to_string()),
                chain: parent.chain,
                page: parent.page,
            });
            rank += 1;
        }
        let mut looped = None;
        if let Some(next) = found.next.filter(|_| parent.depth == 0) {
            match self.next_page(parent, base, &next) {
                NextStep::Go(place) => places.push(place),
                NextStep::Loop(place) => looped = Some((place, next)),
                NextStep::Stop => {}
            }
        }
        Discovered { places, looped }
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
        let place = Place {
            at: page.at.next_page(),
            depth: 0,
            url: Some(url.clone()),
            parent: Some(base.to_string()),
            chain: page.chain,
            page: page.page + 1,
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
    use reqwest::header::HeaderValue;

    fn rules(follow: &[&str], next: Option<NextPage>) -> CrawlRules {
        CrawlRules {
            follow: follow.iter().map(|p| p.parse().expect("a path")).collect(),
            next,
            ..CrawlRules::default()
        }
    }

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

    #[test]
    fn the_link_header_names_the_next_page() {
        let mut headers = HeaderMap::new();
        headers.insert(
            LINK,
            HeaderValue::from_static(
                r#"<https://api.test/items?page=1>; rel="prev", <https://api.test/items?page=3,x>; rel="next last""#,
            ),
        );
        assert_eq!(
            next_link(&headers).as_deref(),
            Some("https://api.test/items?page=3,x")
        );
        headers.insert(
            LINK,
            HeaderValue::from_static("<https://a.test/1>; rel=prev"),
        );
        assert_eq!(next_link(&headers), None);
    }

    #[test]
    fn found_values_are_read_by_level() {
        let r = rules(
            &["results[*].url", "species.url"],
            Some(NextPage::Path("next".parse().expect("a path"))),
        );
        let values = vec![
            serde_json::json!(["/a", "/b", 3]),
            serde_json::json!("http://h.test/?page=2"),
        ];
        let found = Found::from_values(&r, 0, values);
        assert_eq!(found.links, ["/a", "/b"]);
        assert_eq!(found.next.as_deref(), Some("http://h.test/?page=2"));
        let found = Found::from_values(&r, 2, vec![]);
        assert_eq!(found, Found::default());
        assert_eq!(r.link_paths(1).len(), 1);
        assert_eq!(r.link_paths(2).len(), 0);
    }
}
