//! JSON field paths (`name`, `types[0].type.name`, `stats[*].base_stat`, `["a.b"]` for a key with
//! a dot) and their extraction.
//!
//! Paths are parsed once at start-up; extraction never fails on a missing path (it yields null,
//! as a user scraping 151 documents of slightly different shapes expects), only on a body that is
//! not JSON at all. Only the parts of a document the paths reach are built (see `prune`).

mod prune;
mod skim;

use std::fmt;
use std::str::FromStr;

use serde_json::Value;
use thiserror::Error;

/// Why a field path was refused.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum PathError {
    #[error("empty field path")]
    Empty,
    #[error("`{0}`: empty key (check for `..`, a leading or trailing `.`)")]
    EmptyKey(String),
    #[error("`{0}`: unclosed `[`")]
    Unclosed(String),
    #[error(
        "`{path}`: `[{inner}]` is not an index: use a number, `*`, or a key in double quotes \
         (`[\"a.b\"]` for a key with a dot)"
    )]
    BadIndex { path: String, inner: String },
    #[error("`{path}`: `[{inner}]` is not a key in double quotes (a JSON string)")]
    BadKey { path: String, inner: String },
    #[error("`{0}`: expected `.` or `[` after `]`")]
    AfterBracket(String),
    /// JSONPath's `$` or jq's leading `.`: the document itself is where every path starts.
    #[error("`{path}`: a path starts at the document, so its {root} is implied: {hint}")]
    Root {
        path: String,
        root: &'static str,
        hint: String,
    },
}

/// Why a body could not be searched for fields.
#[derive(Debug, Error)]
#[error("response is not JSON: {0}")]
pub struct ExtractError(#[from] serde_json::Error);

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Step {
    Key(String),
    Index(usize),
    /// Every element of an array; the result is a list.
    Each,
}

/// One parsed path into a JSON document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldPath {
    steps: Vec<Step>,
    source: String,
}

impl FieldPath {
    /// The path as the user wrote it (used as the column / key name).
    pub fn as_str(&self) -> &str {
        &self.source
    }

    /// This path under every element of the list at `list`: `name` under `results` is
    /// `results[*].name`, whose value is the list of every item's `name`. A `list` that already
    /// ends in `[*]` names the items themselves: `[*]` is a document that is a bare array (as
    /// GitHub's and json-server's list routes answer), `results[*]` the same as `results`.
    pub fn under_each(&self, list: &FieldPath) -> FieldPath {
        let mut steps = list.steps.clone();
        let (list_source, each) = match list.source.strip_suffix("[*]") {
            Some(stem) if steps.last() == Some(&Step::Each) => (stem, "[*]"),
            _ => {
                steps.push(Step::Each);
                (list.source.as_str(), "[*]")
            }
        };
        steps.extend(self.steps.iter().cloned());
        let joint = if self.source.starts_with('[') {
            ""
        } else {
            "."
        };
        FieldPath {
            steps,
            source: format!("{list_source}{each}{joint}{}", self.source),
        }
    }

    /// What this list path (`--items`: `results`, `results[*]`, `[*]`) finds in `doc`: a list,
    /// a null (an empty list to APIs that write an empty list as null), or else what stands
    /// there instead of a list (`nothing` when nothing does), for a message.
    pub fn list_in(&self, doc: &Value) -> Result<(), &'static str> {
        let steps = match self.steps.split_last() {
            Some((Step::Each, stem)) => stem,
            _ => self.steps.as_slice(),
        };
        let mut at = doc;
        for step in steps {
            let next = match (step, at) {
                (Step::Key(key), Value::Object(map)) => map.get(key),
                (Step::Index(i), Value::Array(items)) => items.get(*i),
                // A list of lists: its items are lists whatever each holds.
                (Step::Each, Value::Array(_)) => return Ok(()),
                _ => None,
            };
            at = next.ok_or("nothing")?;
        }
        match at {
            Value::Array(_) | Value::Null => Ok(()),
            Value::Object(_) => Err("an object"),
            Value::String(_) => Err("a string"),
            Value::Number(_) => Err("a number"),
            Value::Bool(_) => Err("a boolean"),
        }
    }

    /// Whether `body` (JSON) has anything at this path, a null included (with `[*]`: in any
    /// element), where [`FieldPath::get`] gives null for a null and for nothing alike. Only
    /// what the path reaches is built; a body that is not JSON holds nothing.
    pub fn is_in(&self, body: &[u8]) -> bool {
        use serde::de::DeserializeSeed;
        let trie = prune::Node::from_paths([self.steps.as_slice()]);
        let doc = skim::prune(&trie, body).or_else(|| {
            let mut deserializer = serde_json::Deserializer::from_slice(body);
            prune::Prune(&trie).deserialize(&mut deserializer).ok()
        });
        doc.is_some_and(|doc| holds(&self.steps, &doc))
    }

    /// The value at this path in `doc`, or null when any step is missing.
    pub fn get(&self, doc: &Value) -> Value {
        select(&self.steps, doc)
    }

    /// The same value as [`FieldPath::get`], moved out of `doc` instead of copied where the
    /// path names one place (no `[*]`).
    fn take(&self, doc: &mut Value) -> Value {
        if self.steps.contains(&Step::Each) {
            return self.get(doc);
        }
        let mut at = doc;
        for step in &self.steps {
            let next = match (step, at) {
                (Step::Key(key), Value::Object(map)) => map.get_mut(key),
                (Step::Index(i), Value::Array(items)) => items.get_mut(*i),
                _ => None,
            };
            let Some(next) = next else {
                return Value::Null;
            };
            at = next;
        }
        at.take()
    }
}

impl fmt::Display for FieldPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.source)
    }
}

/// Whether `value` has anything at `steps`, a null included.
fn holds(steps: &[Step], value: &Value) -> bool {
    let Some((step, rest)) = steps.split_first() else {
        return true;
    };
    match (step, value) {
        (Step::Key(key), Value::Object(map)) => map.get(key).is_some_and(|v| holds(rest, v)),
        (Step::Index(i), Value::Array(items)) => items.get(*i).is_some_and(|v| holds(rest, v)),
        (Step::Each, Value::Array(items)) => items.iter().any(|v| holds(rest, v)),
        _ => false,
    }
}

fn select(steps: &[Step], value: &Value) -> Value {
    let Some((step, rest)) = steps.split_first() else {
        return value.clone();
    };
    match (step, value) {
        (Step::Key(key), Value::Object(map)) => map
            .get(key)
            .map_or(Value::Null, |inner| select(rest, inner)),
        (Step::Index(i), Value::Array(items)) => items
            .get(*i)
            .map_or(Value::Null, |inner| select(rest, inner)),
        (Step::Each, Value::Array(items)) => {
            Value::Array(items.iter().map(|inner| select(rest, inner)).collect())
        }
        _ => Value::Null,
    }
}

impl FromStr for FieldPath {
    type Err = PathError;

    fn from_str(path: &str) -> Result<Self, Self::Err> {
        if path.is_empty() {
            return Err(PathError::Empty);
        }
        // `$.a` would read a key named `$` (and match nothing); `.a` an empty first key. A key
        // that starts with `$` (`$oid`) stays a key, and `["$"]` reaches one named `$`.
        let root = match path.as_bytes() {
            [b'$', b'.' | b'[', ..] | [b'$'] => Some(("JSONPath `$`", &path[1..])),
            [b'.'] | [b'.', b'a'..=b'z' | b'A'..=b'Z' | b'_' | b'[', ..] => {
                Some(("jq-style leading `.`", &path[1..]))
            }
            _ => None,
        };
        if let Some((root, rest)) = root {
            let rest = rest.strip_prefix('.').unwrap_or(rest);
            let hint = match rest {
                "" => "write `[*]` for a list of items, or name a key".to_owned(),
                rest => format!("write `{rest}`"),
            };
            return Err(PathError::Root {
                path: path.to_owned(),
                root,
                hint,
            });
        }
        Ok(Self {
            steps: parse_steps(path)?,
            source: path.to_owned(),
        })
    }
}

/// Parses `key.key[0][*]["a.b"]`: keys between dots, and in brackets an index, `*` or a key in
/// double quotes (a JSON string, as jq writes `.["a.b"]`), which may hold dots and brackets.
fn parse_steps(path: &str) -> Result<Vec<Step>, PathError> {
    let empty_key = || PathError::EmptyKey(path.to_owned());
    let mut steps = Vec::new();
    let mut rest = path;
    // A key is due at the start and after each `.`; a bracket may stand in for the first.
    let mut key_due = true;
    while !rest.is_empty() || key_due {
        if key_due && !rest.starts_with('[') {
            let end = rest.find(['.', '[']).unwrap_or(rest.len());
            let key = &rest[..end];
            if key.is_empty() || key.contains(']') {
                return Err(empty_key());
            }
            steps.push(Step::Key(key.to_owned()));
            rest = &rest[end..];
        } else if let Some(inner) = rest.strip_prefix('[') {
            let (step, tail) = bracket(path, inner)?;
            steps.push(step);
            rest = tail;
        } else if let Some(tail) = rest.strip_prefix('.') {
            rest = tail;
            key_due = true;
            continue;
        } else {
            return Err(PathError::AfterBracket(path.to_owned()));
        }
        key_due = false;
    }
    Ok(steps)
}

/// The step in a bracket whose `[` is just before `inner`, and what follows its `]`.
fn bracket<'a>(path: &str, inner: &'a str) -> Result<(Step, &'a str), PathError> {
    let unclosed = || PathError::Unclosed(path.to_owned());
    if let Some(quoted) = inner.strip_prefix('"') {
        // The closing quote is the first one no backslash escapes.
        let mut escaped = false;
        let close = quoted
            .char_indices()
            .find_map(|(i, c)| {
                let end = c == '"' && !escaped;
                escaped = c == '\\' && !escaped;
                end.then_some(i + 1)
            })
            .ok_or_else(unclosed)?;
        let key: String =
            serde_json::from_str(&inner[..=close]).map_err(|_| PathError::BadKey {
                path: path.to_owned(),
                inner: inner[..=close].to_owned(),
            })?;
        let tail = inner[close + 1..].strip_prefix(']').ok_or_else(unclosed)?;
        return Ok((Step::Key(key), tail));
    }
    let close = inner.find(']').ok_or_else(unclosed)?;
    let text = &inner[..close];
    let step = match text {
        "*" => Step::Each,
        _ => Step::Index(text.parse().map_err(|_| PathError::BadIndex {
            path: path.to_owned(),
            inner: text.to_owned(),
        })?),
    };
    Ok((step, &inner[close + 1..]))
}

/// The set of paths a run extracts from every response.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FieldSet {
    paths: Vec<FieldPath>,
    /// The paths merged into one trie, so a document is walked once for all of them.
    trie: prune::Node,
    /// When every path is one top-level key: for each path, its key's place in the trie and
    /// whether it is the last path of that key (which moves the value; the others copy it).
    top_level: Option<Vec<(usize, bool)>>,
}

impl FieldSet {
    pub fn new(paths: Vec<FieldPath>) -> Self {
        let trie = prune::Node::from_paths(paths.iter().map(|p| p.steps.as_slice()));
        let key_of = |path: &FieldPath| match path.steps.as_slice() {
            [Step::Key(key)] => trie.keys.iter().position(|(k, _)| k == key),
            _ => None,
        };
        let top_level = paths
            .iter()
            .enumerate()
            .map(|(i, path)| {
                let key = key_of(path)?;
                let last = paths[i + 1..].iter().all(|p| key_of(p) != Some(key));
                Some((key, last))
            })
            .collect();
        Self {
            paths,
            trie,
            top_level,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.paths.is_empty()
    }

    pub fn paths(&self) -> &[FieldPath] {
        &self.paths
    }

    #[cfg(test)]
    fn trie(&self) -> &prune::Node {
        &self.trie
    }

    /// Parses `body` and returns one value per path, in path order. Builds only what the paths
    /// reach; the rest of the document is validated and skipped.
    pub fn extract(&self, body: &[u8]) -> Result<Vec<Value>, ExtractError> {
        use serde::de::DeserializeSeed;
        if let Some(keys) = &self.top_level {
            if let Some(mut found) = skim::top_level(&self.trie, body) {
                let value = |(key, last): &(usize, bool)| match last {
                    true => found[*key].take(),
                    false => found[*key].clone(),
                };
                return Ok(keys.iter().map(value).collect());
            }
        }
        let mut doc = match skim::prune(&self.trie, body) {
            Some(doc) => doc,
            None => {
                let mut deserializer = serde_json::Deserializer::from_slice(body);
                let doc = prune::Prune(&self.trie).deserialize(&mut deserializer)?;
                deserializer.end()?;
                doc
            }
        };
        // Paths may overlap, so all but the last copy their value; the last one moves its own.
        let mut fields = Vec::with_capacity(self.paths.len());
        if let Some((last, others)) = self.paths.split_last() {
            fields.extend(others.iter().map(|p| p.get(&doc)));
            fields.push(last.take(&mut doc));
        }
        Ok(fields)
    }

    /// The same values as [`FieldSet::extract`], from a fully built `serde_json::Value`: the
    /// straightforward way, kept as the reference the selective parse is checked and benchmarked
    /// against.
    pub fn extract_via_value(&self, body: &[u8]) -> Result<Vec<Value>, ExtractError> {
        let doc: Value = serde_json::from_slice(body)?;
        Ok(self.paths.iter().map(|p| p.get(&doc)).collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn path(p: &str) -> FieldPath {
        p.parse().unwrap()
    }

    /// `--items`: a named list, the same with `[*]`, and a document that is a bare array.
    #[test]
    fn fields_under_each_item_of_a_named_list_or_a_bare_array() {
        let page = json!({"results": [{"name": "a"}, {"name": "b"}]});
        let bare = json!([{"name": "a"}, {"name": "b"}]);
        for (list, doc) in [("results", &page), ("results[*]", &page), ("[*]", &bare)] {
            let under = path("name").under_each(&path(list));
            assert_eq!(under.get(doc), json!(["a", "b"]), "{list}");
        }
        assert_eq!(
            path("name").under_each(&path("results")).as_str(),
            "results[*].name"
        );
        assert_eq!(path("name").under_each(&path("[*]")).as_str(), "[*].name");
        assert_eq!(path("[0]").under_each(&path("[*]")).as_str(), "[*][0]");
    }

    #[test]
    fn extracts_paths() {
        let doc = json!({
            "name": "pikachu",
            "types": [{"slot": 1, "type": {"name": "electric"}}],
            "stats": [{"base_stat": 35}, {"base_stat": 55}],
            "sprites": {"front_default": null}
        });
        assert_eq!(path("name").get(&doc), json!("pikachu"));
        assert_eq!(path("types[0].type.name").get(&doc), json!("electric"));
        assert_eq!(path("stats[*].base_stat").get(&doc), json!([35, 55]));
        assert_eq!(path("sprites.front_default").get(&doc), Value::Null);
        assert_eq!(path("types[3].type.name").get(&doc), Value::Null);
        assert_eq!(path("nope.deeper").get(&doc), Value::Null);
        assert_eq!(path("name[0]").get(&doc), Value::Null);
        assert_eq!(path("[0]").get(&json!([1, 2])), json!(1));
    }

    /// A null is something at a path; nothing is not, though both read as null.
    #[test]
    fn a_null_is_in_a_document_and_a_missing_key_is_not() {
        let body = br#"{"next": null, "meta": {"cursor": ""}, "data": [{}, {"n": null}]}"#;
        for (p, held) in [
            ("next", true),
            ("nxt", false),
            ("meta.cursor", true),
            ("meta.cursr", false),
            ("data[*].n", true),
            ("data[0].n", false),
            ("data[5]", false),
            ("next.deeper", false),
        ] {
            assert_eq!(path(p).is_in(body), held, "{p}");
        }
        assert!(!path("next").is_in(b"not json"));
    }

    #[test]
    fn refuses_bad_paths() {
        let err = |p: &str| p.parse::<FieldPath>().unwrap_err();
        assert_eq!(err(""), PathError::Empty);
        assert_eq!(err("a["), PathError::Unclosed("a[".into()));
        assert_eq!(err("a..b"), PathError::EmptyKey("a..b".into()));
        assert_eq!(err("a."), PathError::EmptyKey("a.".into()));
        assert_eq!(err("a]"), PathError::EmptyKey("a]".into()));
        assert!(matches!(err("a[x]"), PathError::BadIndex { .. }));
        assert!(matches!(err("a[0]b"), PathError::AfterBracket(_)));
        // JSONPath's `$` and jq's leading `.` are named, with the path to write instead.
        for (p, write) in [
            ("$.a.b", "write `a.b`"),
            ("$[*].n", "write `[*].n`"),
            (".a", "write `a`"),
            (".[0]", "write `[0]`"),
        ] {
            let message = err(p).to_string();
            assert!(message.contains(write), "{p}: {message}");
        }
        for root in ["$", "."] {
            assert!(
                err(root).to_string().contains("`[*]` for a list of items"),
                "{root}"
            );
        }
        assert!(
            "$oid".parse::<FieldPath>().is_ok(),
            "a key may start with `$`"
        );
        assert!(r#"["$"]"#.parse::<FieldPath>().is_ok());
        assert_eq!(err(r#"["k.d"#), PathError::Unclosed(r#"["k.d"#.into()));
        assert_eq!(err(r#"["k.d""#), PathError::Unclosed(r#"["k.d""#.into()));
        assert!(matches!(err(r#"["\x"]"#), PathError::BadKey { .. }));
        assert!(matches!(err(r#"a["b"]c"#), PathError::AfterBracket(_)));
        // A key in single quotes is not one: the message says how to write it.
        let message = err("['k.d']").to_string();
        assert!(
            message.contains(r#"`["a.b"]` for a key with a dot"#),
            "{message}"
        );
    }

    /// A key in double quotes in brackets may hold dots, brackets and escaped quotes (jq's
    /// `.["a.b"]`); the same key without quotes is nesting.
    #[test]
    fn quoted_keys_in_brackets() {
        let doc = json!({
            "k.d": 1,
            "k": {"d": 2, "e]": 5},
            "a": {"b.c": [3, 4], "say \"hi\"": 6, "[x]": 7}
        });
        for (p, want) in [
            (r#"["k.d"]"#, json!(1)),
            ("k.d", json!(2)),
            (r#"k["d"]"#, json!(2)),
            (r#"k.["e]"]"#, json!(5)),
            (r#"a["b.c"][1]"#, json!(4)),
            (r#"a["b.c"][*]"#, json!([3, 4])),
            (r#"a["say \"hi\""]"#, json!(6)),
            (r#"a["[x]"]"#, json!(7)),
            (r#"["k"]["d"]"#, json!(2)),
        ] {
            assert_eq!(path(p).get(&doc), want, "{p}");
            let set = FieldSet::new(vec![path(p)]);
            let body = doc.to_string();
            assert_eq!(set.extract(body.as_bytes()).unwrap(), vec![want], "{p}");
        }
        assert_eq!(
            path("n").under_each(&path(r#"["a.b"]"#)).as_str(),
            r#"["a.b"][*].n"#
        );
    }

    #[test]
    fn selective_parse_gives_what_the_full_parse_gives() {
        let doc = json!({
            "name": "pikachu",
            "types": [{"slot": 1, "type": {"name": "electric"}}, {"slot": 2, "type": {"name": "x"}}],
            "stats": [{"base_stat": 35, "stat": {"name": "hp"}}, {"base_stat": 55}],
            "moves": [[1, 2], [3, [4, 5]]],
            "sprites": {"front_default": null, "other": {"a": [1.5, true, "s"]}}
        })
        .to_string();
        let sets: &[&[&str]] = &[
            &["name"],
            &["types[1].type.name", "types[*].slot", "types[0]"],
            &[
                "stats[*].base_stat",
                "stats[0].stat.name",
                "stats[5]",
                "stats",
            ],
            &[
                "moves[1][1][0]",
                "moves[*][0]",
                "sprites.other.a[*]",
                "sprites",
            ],
            &[
                "name.deeper",
                "[0]",
                "types.name",
                "nope",
                "sprites.front_default",
            ],
        ];
        for paths in sets {
            let set = FieldSet::new(paths.iter().map(|p| path(p)).collect());
            assert_eq!(
                set.extract(doc.as_bytes()).unwrap(),
                set.extract_via_value(doc.as_bytes()).unwrap(),
                "{paths:?}"
            );
        }
        let top_array = FieldSet::new(vec![path("[1]"), path("[*]")]);
        assert_eq!(
            top_array.extract(b"[7, 8]").unwrap(),
            vec![json!(8), json!([7, 8])]
        );
    }

    #[test]
    fn selective_parse_still_rejects_broken_json() {
        let set = FieldSet::new(vec![path("name")]);
        assert!(set.extract(br#"{"name":"x","rest":[1,2"#).is_err());
        assert!(set.extract(br#"{"name":"x"} trailing"#).is_err());
        assert!(set.extract(br#"{"other":tru}"#).is_err());
    }

    #[test]
    fn what_only_the_selective_parse_accepts() {
        let set = FieldSet::new(vec![path("name")]);
        // A lone surrogate cannot be a Rust string: a full parse refuses it wherever it is, the
        // selective one only where it builds the string.
        let lone = br#"{"name":"\ud800"}"#;
        assert!(set.extract(lone).is_err());
        assert!(set.extract_via_value(lone).is_err());
        let skipped = br#"{"name":"x","other":"\ud800 \udc00"}"#;
        assert_eq!(set.extract(skipped).unwrap(), vec![json!("x")]);
        assert!(set.extract_via_value(skipped).is_err());
        // The same for bytes that are not UTF-8: the strings it skips are scanned, not decoded.
        let latin1 = b"{\"name\":\"x\",\"other\":\"caf\xe9\"}";
        assert_eq!(set.extract(latin1).unwrap(), vec![json!("x")]);
        assert!(set.extract_via_value(latin1).is_err());
        assert!(set.extract(b"{\"name\":\"caf\xe9\"}").is_err());
        // A pair is one character.
        let pair = br#"{"name":"\ud83d\ude00"}"#;
        assert_eq!(set.extract(pair).unwrap(), vec![json!("\u{1f600}")]);
    }

    #[test]
    fn non_json_is_an_error() {
        let set = FieldSet::new(vec![path("name")]);
        assert!(set.extract(b"<html>").is_err());
        assert_eq!(set.extract(br#"{"name":"x"}"#).unwrap(), vec![json!("x")]);
    }
}

#[cfg(test)]
mod properties;
