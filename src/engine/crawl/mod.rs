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

use reqwest::header::HeaderName;
use reqwest::Url;

use crate::extract::{FieldPath, PathError};

pub(crate) use self::books::Crawl;
pub use self::books::CrawlCounts;
pub(crate) use self::found::{Found, Paging, PagingHeaders};

/// Where a chain's next page is named.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NextPage {
    /// A URL at this path in the page's body (`next` in pokeapi and DRF-style APIs).
    Path(FieldPath),
    /// The `Link` header's `rel="next"` target (RFC 8288: GitHub, json-server).
    LinkHeader,
    /// A token at `path` in the body (Slack's `response_metadata.next_cursor`, Twitter's
    /// `meta.next_token`): the next page is this page's URL with query parameter `param` set
    /// to it.
    Cursor { path: FieldPath, param: String },
}

impl NextPage {
    /// The flag's value as a user writes it: the path, or `link`.
    pub fn flag_value(&self) -> String {
        match self.path() {
            Some(path) => path.to_string(),
            None => "link".to_owned(),
        }
    }

    /// The path in the body that names the next page, if the body names it.
    pub fn path(&self) -> Option<&FieldPath> {
        match self {
            Self::Path(path) | Self::Cursor { path, .. } => Some(path),
            Self::LinkHeader => None,
        }
    }
}

/// A crawl or stop rule that cannot be followed: which setting (named as the builder's setter,
/// `next_param`, `total`) and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct RuleError {
    pub field: &'static str,
    pub message: String,
}

impl RuleError {
    pub(crate) fn new(field: &'static str, message: impl Into<String>) -> Self {
        Self {
            field,
            message: message.into(),
        }
    }
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

/// Where a page says how many there are: a number in its body or in one of its headers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CountAt {
    /// A number at this path in the body (`count` in pokeapi and DRF-style APIs).
    Path(FieldPath),
    /// A number in this header (`X-Total-Count`, `X-WP-TotalPages`).
    Header(HeaderName),
}

impl CountAt {
    /// `header:NAME` names a header, anything else a field path of the body.
    pub fn parse(text: &str) -> Result<Self, String> {
        match text.strip_prefix("header:") {
            Some(name) => HeaderName::from_bytes(name.trim().as_bytes())
                .map(Self::Header)
                .map_err(|_| format!("`{name}` is not a header name")),
            None => text
                .parse()
                .map(Self::Path)
                .map_err(|e: PathError| e.to_string()),
        }
    }

    fn path(&self) -> Option<&FieldPath> {
        match self {
            Self::Path(path) => Some(path),
            Self::Header(_) => None,
        }
    }

    pub(crate) fn header(&self) -> Option<&HeaderName> {
        match self {
            Self::Header(name) => Some(name),
            Self::Path(_) => None,
        }
    }
}

impl std::fmt::Display for CountAt {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Path(path) => write!(f, "at `{path}`"),
            Self::Header(name) => write!(f, "in header {name}"),
        }
    }
}

/// Where a range with no known end stops, decided in id order so it does not depend on timing.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StopRules {
    /// After this many consecutive ids answered 404 or 410 (a hit resets the count).
    pub after_missing: Option<u64>,
    /// At the first page whose list at this path is empty (or absent).
    pub until_empty: Option<FieldPath>,
    /// The first page's count of items bounds the range: ids below first id + total for
    /// offsets; for page numbers (a step of 1) with a list per page, that many items' pages.
    pub total: Option<CountAt>,
    /// The first page's count of pages bounds the range: that many pages from the first.
    pub total_pages: Option<CountAt>,
}

impl StopRules {
    /// Whether any rule is set: an open range needs one.
    pub fn any(&self) -> bool {
        self.after_missing.is_some() || self.until_empty.is_some() || self.counted()
    }

    /// Whether the first page bounds the range with a total.
    pub(crate) fn counted(&self) -> bool {
        self.total.is_some() || self.total_pages.is_some()
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

/// A crawl's and a range's rules as given, in text, named as the command line's flags and the
/// builder's setters: [`CrawlRules::new`] checks them, once, for both.
#[derive(Debug, Clone, Default)]
pub struct CrawlSettings {
    pub follow: Vec<String>,
    pub next: Option<String>,
    pub next_param: Option<String>,
    /// Origins links may also lead to (`https://host[:port]`), or `*` for any.
    pub allow_origin: Vec<String>,
    pub max_pages: Option<u64>,
    pub max_requests: Option<u64>,
    pub all_levels: bool,
    pub items: Option<String>,
    pub stop_after_missing: Option<u64>,
    pub until_empty: Option<String>,
    pub total: Option<String>,
    pub total_pages: Option<String>,
}

impl CrawlRules {
    /// The rules from `settings`, checked: every path parses, a cursor has a body path, items
    /// have fields to read (`fields` is how many), a range with no end (`open`) has a stop
    /// rule, and the settings that only a crawl uses come with one. The error names the field.
    pub fn new(settings: &CrawlSettings, fields: usize, open: bool) -> Result<Self, RuleError> {
        let path = |field: &'static str, text: &Option<String>| {
            text.as_deref()
                .map(|t| {
                    t.parse::<FieldPath>()
                        .map_err(|e| RuleError::new(field, e.to_string()))
                })
                .transpose()
        };
        let count = |field: &'static str, text: &Option<String>| {
            text.as_deref()
                .map(|t| CountAt::parse(t).map_err(|e| RuleError::new(field, e)))
                .transpose()
        };
        if settings.total.is_some() && settings.total_pages.is_some() {
            let message = "give a total of items or of pages, not both";
            return Err(RuleError::new("total_pages", message));
        }
        let follow = settings
            .follow
            .iter()
            .map(|p| p.parse::<FieldPath>())
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| RuleError::new("follow", e.to_string()))?;
        let next = match settings.next.as_deref() {
            None => None,
            Some("link") => Some(NextPage::LinkHeader),
            // `--total header:NAME` reads a header; a next page named so would be read as a
            // body key `header:NAME` that no page has, and the chain would end at its first page.
            Some(text) if text.starts_with("header:") => {
                return Err(RuleError::new(
                    "next",
                    format!(
                        "`{text}`: a next page is read from the body (a path such as `next`) or \
                         the `Link` header (`link`), not from another header"
                    ),
                ))
            }
            Some(_) => path("next", &settings.next)?.map(NextPage::Path),
        };
        let mut rules = Self {
            follow,
            next,
            ..Self::default()
        };
        if let Some(param) = &settings.next_param {
            rules = rules.next_param(param)?;
        }
        rules.origins = origins(&settings.allow_origin)?;
        rules.stop = StopRules {
            after_missing: settings.stop_after_missing,
            until_empty: path("until_empty", &settings.until_empty)?,
            total: count("total", &settings.total)?,
            total_pages: count("total_pages", &settings.total_pages)?,
        };
        if open && !rules.stop.any() {
            let message = "has no end: add a stop rule (stop after missing ids, until an empty \
                           page, a total of items or of pages), or give the range an end";
            return Err(RuleError::new("range", message));
        }
        rules.items = path("items", &settings.items)?;
        if rules.items.is_some() && fields == 0 {
            let message = "reads each item's fields: name at least one field (-f)";
            return Err(RuleError::new("items", message));
        }
        rules.max_pages = settings.max_pages;
        rules.max_requests = settings.max_requests;
        rules.every_level = settings.all_levels;
        let crawl_only = [
            ("allow_origin", !settings.allow_origin.is_empty()),
            ("max_pages", settings.max_pages.is_some()),
            ("max_requests", settings.max_requests.is_some()),
            ("all_levels", settings.all_levels),
        ];
        if let Some((field, _)) = crawl_only.iter().find(|(_, set)| *set) {
            if !rules.is_crawl() {
                return Err(RuleError::new(
                    field,
                    "applies to a crawl only: add links to follow or a next page (--follow or --next)",
                ));
            }
        }
        Ok(rules)
    }

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

    /// Makes the next page's path a cursor: the token there goes in query parameter `param`
    /// of the page's own URL.
    pub fn next_param(mut self, param: &str) -> Result<Self, RuleError> {
        let field = "next_param";
        if param.trim().is_empty() {
            return Err(RuleError::new(field, "the query parameter's name is empty"));
        }
        self.next =
            match self.next {
                Some(NextPage::Path(path)) => Some(NextPage::Cursor {
                    path,
                    param: param.to_owned(),
                }),
                Some(NextPage::LinkHeader) => {
                    return Err(RuleError::new(
                        field,
                        "a `Link` header names whole URLs, not tokens: give the next page as the \
                     token's path in the body",
                    ))
                }
                _ => return Err(RuleError::new(
                    field,
                    "names where a token goes: give the next page as the token's path in the body",
                )),
            };
        Ok(self)
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
            || self.stop.counted()
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

    /// Where among `link_paths(depth)` the next page's path is, and the path: at depth 0 with
    /// `--next PATH`, after the level's links.
    pub(crate) fn next_at(&self, depth: u32) -> Option<(usize, &FieldPath)> {
        let path = self.next.as_ref().and_then(NextPage::path)?;
        (depth == 0).then(|| (usize::from(!self.follow.is_empty()), path))
    }

    /// The paths a document at `depth` is searched for besides the fields: its level's links,
    /// then (at depth 0) the next page's, the list whose emptiness ends the range, the totals
    /// read from the body.
    pub(crate) fn link_paths(&self, depth: u32) -> Vec<FieldPath> {
        let mut paths = Vec::new();
        if let Some(path) = usize::try_from(depth).ok().and_then(|d| self.follow.get(d)) {
            paths.push(path.clone());
        }
        if depth == 0 {
            paths.extend(self.next.as_ref().and_then(NextPage::path).cloned());
            paths.extend(self.stop.until_empty.iter().cloned());
            paths.extend(self.stop.total.as_ref().and_then(CountAt::path).cloned());
            paths.extend(
                self.stop
                    .total_pages
                    .as_ref()
                    .and_then(CountAt::path)
                    .cloned(),
            );
        }
        paths
    }
}

/// Which origins links may lead to, from `https://host[:port]` texts or `*`.
fn origins(texts: &[String]) -> Result<Origins, RuleError> {
    if texts.iter().any(|o| o == "*") {
        return Ok(Origins::Any);
    }
    if texts.is_empty() {
        return Ok(Origins::Seeds);
    }
    texts
        .iter()
        .map(|o| match Url::parse(o) {
            Ok(url) if url.has_host() => Ok(url.origin().ascii_serialization()),
            _ => Err(RuleError::new(
                "allow_origin",
                format!("`{o}` is not an origin like https://host[:port], nor `*`"),
            )),
        })
        .collect::<Result<Vec<_>, _>>()
        .map(Origins::Also)
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_rules_are_checked_once_and_an_error_names_its_field() {
        let field = |settings: CrawlSettings, fields: usize, open: bool| {
            CrawlRules::new(&settings, fields, open).map_err(|e| e.field)
        };
        let next = |n: &str| CrawlSettings {
            next: Some(n.to_owned()),
            ..CrawlSettings::default()
        };
        assert_eq!(
            field(CrawlSettings::default(), 0, true).err(),
            Some("range")
        );
        let cursor = CrawlSettings {
            next_param: Some("cursor".into()),
            ..next("link")
        };
        assert_eq!(field(cursor, 0, false).err(), Some("next_param"));
        let items = CrawlSettings {
            items: Some("[*]".into()),
            ..next("link")
        };
        assert_eq!(field(items.clone(), 0, false).err(), Some("items"));
        assert!(field(items, 1, false).is_ok());
        let total = CrawlSettings {
            total: Some("header:".into()),
            ..CrawlSettings::default()
        };
        assert_eq!(field(total, 0, true).err(), Some("total"));
        let budget = CrawlSettings {
            max_pages: Some(3),
            ..CrawlSettings::default()
        };
        assert_eq!(field(budget, 0, false).err(), Some("max_pages"));
        assert_eq!(field(next("results["), 0, false).err(), Some("next"));
    }
}
