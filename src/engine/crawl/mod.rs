//! Responses that create work: the rules a crawl follows (which links, which next page, which
//! origins, how much), and the books a run keeps to follow them (one request per canonical URL,
//! a page chain's pages, what was skipped and why).
//!
//! Where discovered work goes in the output is decided here, from the documents alone: the
//! `rank`-th link of a document is its `rank`-th child, the next page of a chain its sibling
//! (see `release::Position`), so a crawl's records come out in the same order however the
//! responses arrive.

mod books;
mod found;

use reqwest::Url;

use crate::engine::release::Position;
use crate::extract::{FieldPath, PathError};

pub(crate) use self::books::Crawl;
pub use self::books::CrawlCounts;
pub(crate) use self::found::{next_link, Found};

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

/// Rules that follow `follow` and page by `next`, the rest as by default: for the tests of
/// this room's files.
#[cfg(test)]
fn rules_for(follow: &[&str], next: Option<NextPage>) -> CrawlRules {
    CrawlRules {
        follow: follow.iter().map(|p| p.parse().expect("a path")).collect(),
        next,
        ..CrawlRules::default()
    }
}
