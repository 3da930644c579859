//! What a document names for the crawl: its level's links, its next and last pages (in the
//! body or the `Link` header), and what the stop rules read (an empty list, a total of items or
//! of pages, in the body or a header).

use reqwest::header::{HeaderMap, HeaderName, LINK};
use serde_json::Value;

use super::{CountAt, CrawlRules, NextPage};

/// What a document named: the URLs of its level's links, in document order, its next page
/// (and last, from a `Link` header), and for the stop rules whether its list was empty and the
/// totals it gave.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Found {
    pub(crate) links: Vec<String>,
    pub(crate) next: Option<String>,
    pub(crate) last: Option<String>,
    pub(crate) empty: bool,
    /// Items in the whole list (`--total`).
    pub(crate) total: Option<u64>,
    /// Pages in the whole list (`--total-pages`).
    pub(crate) total_pages: Option<u64>,
    /// Whether the page held something at the next page's path (`--next PATH`): a next page,
    /// or a null or empty value saying there is none. Set by whoever has the body.
    pub(crate) next_held: bool,
}

/// What a page's headers say about paging: the `Link` header's next and last pages, and the
/// totals a header holds.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Paging {
    next: Option<String>,
    last: Option<String>,
    /// Whether the page had a `Link` header at all (`--next link`), whatever its relations: a
    /// last page has one without `rel="next"`.
    link_held: bool,
    total: Option<u64>,
    total_pages: Option<u64>,
}

/// The headers a run's first-level pages are read for.
#[derive(Debug, Clone)]
pub(crate) struct PagingHeaders {
    link: bool,
    total: Option<HeaderName>,
    total_pages: Option<HeaderName>,
}

impl PagingHeaders {
    /// What `rules` read from headers; None when nothing (a page's headers are then not read).
    pub(crate) fn of(rules: &CrawlRules) -> Option<Self> {
        let header = |c: &Option<CountAt>| c.as_ref().and_then(CountAt::header).cloned();
        let wanted = Self {
            link: rules.next == Some(NextPage::LinkHeader),
            total: header(&rules.stop.total),
            total_pages: header(&rules.stop.total_pages),
        };
        (wanted.link || wanted.total.is_some() || wanted.total_pages.is_some()).then_some(wanted)
    }

    /// What a first-level page's `headers` say.
    pub(crate) fn read(&self, headers: &HeaderMap) -> Option<Box<Paging>> {
        let number = |name: &Option<HeaderName>| {
            let value = headers.get(name.as_ref()?)?.to_str().ok()?;
            value.trim().parse::<u64>().ok()
        };
        let paging = Paging {
            next: self.link.then(|| link_rel(headers, "next")).flatten(),
            last: self.link.then(|| link_rel(headers, "last")).flatten(),
            link_held: self.link && headers.contains_key(http::header::LINK),
            total: number(&self.total),
            total_pages: number(&self.total_pages),
        };
        (paging != Paging::default()).then(|| Box::new(paging))
    }
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
        match rules.next {
            Some(NextPage::Path(_)) => {
                found.next = values.next().and_then(|v| match v {
                    Value::String(s) if !s.is_empty() => Some(s),
                    _ => None,
                });
            }
            Some(NextPage::Cursor { .. }) => {
                // A token may be a number; null, empty or absent ends the chain.
                found.next = values.next().and_then(|v| match v {
                    Value::String(s) if !s.is_empty() => Some(s),
                    Value::Number(n) => Some(n.to_string()),
                    _ => None,
                });
            }
            _ => {}
        }
        if rules.stop.until_empty.is_some() {
            found.empty = match values.next() {
                Some(Value::Array(items)) => items.is_empty(),
                Some(Value::Object(map)) => map.is_empty(),
                Some(Value::Null) | None => true,
                Some(_) => false,
            };
        }
        let mut number = |count: &Option<CountAt>| match count {
            Some(CountAt::Path(_)) => values.next().and_then(|v| as_count(&v)),
            _ => None,
        };
        found.total = number(&rules.stop.total);
        found.total_pages = number(&rules.stop.total_pages);
        found
    }

    /// Adds what the page's headers said; the body's next page, if any, stands.
    pub(crate) fn add_paging(&mut self, paging: Paging) {
        self.next_held |= paging.link_held;
        if self.next.is_none() {
            self.next = paging.next;
        }
        self.last = paging.last;
        self.total = self.total.or(paging.total);
        self.total_pages = self.total_pages.or(paging.total_pages);
    }
}

/// A count: a whole number, or a string holding one (some APIs quote their numbers).
fn as_count(value: &Value) -> Option<u64> {
    match value {
        Value::String(s) => s.trim().parse().ok(),
        other => other.as_u64(),
    }
}

fn strings_in(value: Value, out: &mut Vec<String>) {
    match value {
        Value::String(s) => out.push(s),
        Value::Array(items) => items.into_iter().for_each(|v| strings_in(v, out)),
        _ => {}
    }
}

/// The target of a `Link` header's link of relation `rel` (RFC 8288: `next`, `last`), if any.
fn link_rel(headers: &HeaderMap, rel: &str) -> Option<String> {
    headers
        .get_all(LINK)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(split_links)
        .find_map(|(target, params)| has_rel(params, rel).then(|| target.to_owned()))
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

fn has_rel(params: &str, wanted: &str) -> bool {
    params.split(';').any(|param| {
        let Some((name, value)) = param.split_once('=') else {
            return false;
        };
        name.trim().eq_ignore_ascii_case("rel")
            && value
                .trim()
                .trim_matches('"')
                .split_ascii_whitespace()
                .any(|rel| rel.eq_ignore_ascii_case(wanted))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::HeaderValue;

    use crate::engine::crawl::rules_for as rules;

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
            link_rel(&headers, "next").as_deref(),
            Some("https://api.test/items?page=3,x")
        );
        assert_eq!(
            link_rel(&headers, "last").as_deref(),
            Some("https://api.test/items?page=3,x")
        );
        headers.insert(
            LINK,
            HeaderValue::from_static("<https://a.test/1>; rel=prev"),
        );
        assert_eq!(link_rel(&headers, "next"), None);
    }

    #[test]
    fn totals_are_read_from_the_headers_named() {
        let mut r = rules(&[], Some(NextPage::LinkHeader));
        r.stop.total = Some(CountAt::parse("header:X-Total-Count").expect("a header"));
        r.stop.total_pages = Some(CountAt::parse("header:x-wp-totalpages").expect("a header"));
        let reader = PagingHeaders::of(&r).expect("headers to read");
        let mut headers = HeaderMap::new();
        headers.insert("x-total-count", HeaderValue::from_static(" 47 "));
        headers.insert("x-wp-totalpages", HeaderValue::from_static("five"));
        headers.insert(
            LINK,
            HeaderValue::from_static(r#"<?p=2>; rel="next", <?p=5>; rel=last"#),
        );
        let mut found = Found::default();
        found.add_paging(*reader.read(&headers).expect("something said"));
        assert_eq!(found.total, Some(47));
        assert_eq!(found.total_pages, None, "not a number");
        assert_eq!(found.next.as_deref(), Some("?p=2"));
        assert_eq!(found.last.as_deref(), Some("?p=5"));
        assert!(PagingHeaders::of(&rules(&[], None)).is_none());
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
