//! JSON field paths (`name`, `types[0].type.name`, `stats[*].base_stat`, `["a.b"]` for a key with
//! a dot) and their extraction.
//!
//! Paths are parsed once at start-up; extraction never fails on a missing path (it yields null,
//! as a user scraping 151 documents of slightly different shapes expects), only on a body that is
//! not JSON at all. Only the parts of a document the paths reach are built (see `prune`); how a
//! path is written and read is `syntax`.

mod prune;
mod skim;
mod syntax;

pub(crate) use self::syntax::Step;
pub use self::syntax::{FieldPath, PathError};

use std::fmt;

use serde_json::Value;
use thiserror::Error;

/// Why a body could not be searched for fields.
#[derive(Debug, Error)]
#[error("response is not JSON: {0}")]
pub struct ExtractError(#[from] serde_json::Error);

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
