//! Selective parsing: build only the parts of a document that the field paths reach.
//!
//! A 560 KB pokeapi document parsed into a `serde_json::Value` allocates every string, map and
//! array in it, to read one `name`. Here the paths are merged into a trie and the document is
//! deserialized against it: keys no path names are skipped with `IgnoredAny` (still validated, so
//! a broken document is still an error, except that a skipped string is not decoded: bytes that
//! are not UTF-8 and lone surrogate escapes pass there), and the result is a pruned `Value` with
//! the same shape along the requested paths, which `FieldPath::get` then reads as it would the
//! full document.

use std::collections::BTreeMap;
use std::fmt;

use serde::de::{DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value};

use super::Step;

/// What a set of paths needs from one level of a document.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Node {
    /// A path ends here: keep the whole value.
    pub(super) whole: bool,
    /// The keys paths name at this level, searched in order: there are as many as paths at
    /// most (usually one to a few), where comparing a short key beats hashing it, once per key
    /// of every document.
    pub(super) keys: Vec<(String, Node)>,
    indexes: BTreeMap<usize, Node>,
    each: Option<Box<Node>>,
}

impl Node {
    /// The trie of `paths`; each index child also carries what `[*]` asks for at that level.
    pub(crate) fn from_paths<'a>(paths: impl IntoIterator<Item = &'a [Step]>) -> Self {
        let mut root = Node::default();
        for steps in paths {
            root.insert(steps);
        }
        root.fold_each_into_indexes();
        root
    }

    fn insert(&mut self, steps: &[Step]) {
        let Some((step, rest)) = steps.split_first() else {
            self.whole = true;
            return;
        };
        let child = match step {
            Step::Key(key) => self.key_mut(key),
            Step::Index(i) => self.indexes.entry(*i).or_default(),
            Step::Each => self.each.get_or_insert_with(Box::default),
        };
        child.insert(rest);
    }

    fn merge(&mut self, other: &Node) {
        self.whole |= other.whole;
        for (key, node) in &other.keys {
            self.key_mut(key).merge(node);
        }
        for (i, node) in &other.indexes {
            self.indexes.entry(*i).or_default().merge(node);
        }
        if let Some(each) = &other.each {
            self.each.get_or_insert_with(Box::default).merge(each);
        }
    }

    fn fold_each_into_indexes(&mut self) {
        if let Some(each) = &self.each {
            for node in self.indexes.values_mut() {
                node.merge(each);
            }
        }
        for (_, node) in &mut self.keys {
            node.fold_each_into_indexes();
        }
        for node in self.indexes.values_mut() {
            node.fold_each_into_indexes();
        }
        if let Some(each) = &mut self.each {
            each.fold_each_into_indexes();
        }
    }

    /// The child for `key`, added if it is not there yet.
    fn key_mut(&mut self, key: &str) -> &mut Node {
        let at = match self.keys.iter().position(|(k, _)| k == key) {
            Some(at) => at,
            None => {
                self.keys.push((key.to_owned(), Node::default()));
                self.keys.len() - 1
            }
        };
        &mut self.keys[at].1
    }

    /// What element `i` of an array needs, if anything.
    pub(super) fn element(&self, i: usize) -> Option<&Node> {
        self.indexes.get(&i).or(self.each.as_deref())
    }

    /// Elements past this index are skipped without a placeholder.
    pub(super) fn last_needed_index(&self) -> Option<usize> {
        if self.each.is_some() {
            return Some(usize::MAX);
        }
        self.indexes.keys().next_back().copied()
    }
}

/// Deserializes the part of a document that `node` asks for.
pub(crate) struct Prune<'a>(pub(crate) &'a Node);

impl<'de> DeserializeSeed<'de> for Prune<'_> {
    type Value = Value;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Value, D::Error> {
        if self.0.whole {
            return serde::Deserialize::deserialize(deserializer);
        }
        deserializer.deserialize_any(PruneVisitor(self.0))
    }
}

struct PruneVisitor<'a>(&'a Node);

/// Looks a map key up in the trie without allocating it.
struct KeySeed<'a>(&'a Node);

impl<'de, 'a> DeserializeSeed<'de> for KeySeed<'a> {
    type Value = Option<(&'a String, &'a Node)>;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_str(self)
    }
}

impl<'de, 'a> Visitor<'de> for KeySeed<'a> {
    type Value = Option<(&'a String, &'a Node)>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an object key")
    }

    fn visit_str<E: serde::de::Error>(self, key: &str) -> Result<Self::Value, E> {
        Ok(self
            .0
            .keys
            .iter()
            .find(|(k, _)| k == key)
            .map(|(k, node)| (k, node)))
    }
}

impl<'de> Visitor<'de> for PruneVisitor<'_> {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut kept = Map::new();
        while let Some(found) = map.next_key_seed(KeySeed(self.0))? {
            match found {
                Some((key, child)) => {
                    let value = map.next_value_seed(Prune(child))?;
                    kept.insert(key.clone(), value);
                }
                None => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(Value::Object(kept))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut kept = Vec::new();
        let last = self.0.last_needed_index();
        let mut i = 0usize;
        loop {
            let more = match self.0.element(i) {
                Some(child) => match seq.next_element_seed(Prune(child))? {
                    Some(value) => {
                        kept.push(value);
                        true
                    }
                    None => false,
                },
                None => {
                    let skipped = seq.next_element::<IgnoredAny>()?.is_some();
                    // Keep positions right for a later requested index.
                    if skipped && last.is_some_and(|last| i < last) {
                        kept.push(Value::Null);
                    }
                    skipped
                }
            };
            if !more {
                break;
            }
            i += 1;
        }
        Ok(Value::Array(kept))
    }

    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }

    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::from(v))
    }

    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::from(v))
    }

    fn visit_f64<E>(self, v: f64) -> Result<Value, E> {
        Ok(Value::from(v))
    }

    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_owned()))
    }

    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
}
