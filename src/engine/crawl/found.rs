//! What a document names for the crawl: its level's links, its next page (in the body or the
//! `Link` header), and what the stop rules read (an empty list, a total).

use reqwest::header::{HeaderMap, LINK};
use serde_json::Value;

use super::{CrawlRules, NextPage};

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
