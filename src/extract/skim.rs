//! The selective parse's fast path: the document scanned byte by byte here, serde_json called
//! only for the values the paths keep.
//!
//! Skipping a value through serde_json (`IgnoredAny`) walks a long string eight bytes at a time
//! and every token through the deserializer's machinery, which costs more than the request on
//! small documents (figures in docs/performance.md, "Why the code is shaped so"). This scanner
//! finds a string's end with memchr's vector search instead (see `find_special`).
//!
//! It is never more lenient than serde_json: it accepts a subset of what [`super::prune::Prune`]
//! accepts (RFC 8259 JSON, with serde_json's leniency in skipped strings: bytes that are not
//! UTF-8 and any `\u` escape), and gives the same pruned document for it. Anything else (a
//! syntax error, deep nesting) returns None and the caller parses with serde_json, which then
//! gives the result or the error message it always gave.

use std::borrow::Cow;

use serde_json::{Map, Value};

use super::prune::Node;

/// Deeper documents go to serde_json, whose limit (128) then decides; below this depth a value
/// kept whole parses within the limit on its own too.
const MAX_DEPTH: u32 = 64;

/// The pruned document `Prune(node)` builds from `body`, or None when serde_json must decide.
pub(super) fn prune(node: &Node, body: &[u8]) -> Option<Value> {
    let mut skim = Skim {
        text: body,
        at: 0,
        depth: 0,
    };
    skim.space();
    let doc = skim.value(node)?;
    skim.space();
    (skim.at == body.len()).then_some(doc)
}

/// For a trie of top-level keys only (`-f name -f id`): the value of each of `node`'s keys in a
/// document that is an object, null where it has none (the last of a repeated key, as a pruned
/// parse keeps it), without building the pruned document; None when serde_json must decide, or
/// when the document is not an object.
pub(super) fn top_level(node: &Node, body: &[u8]) -> Option<Vec<Value>> {
    let mut skim = Skim {
        text: body,
        at: 0,
        depth: 0,
    };
    skim.space();
    if skim.peek()? != b'{' || node.whole {
        return None;
    }
    let mut found = vec![Value::Null; node.keys.len()];
    skim.members(node, |member, value| {
        // `member` is one of `node.keys`: its place there is its value's.
        if let Some(at) = node.keys.iter().position(|k| std::ptr::eq(k, member)) {
            found[at] = value;
        }
    })?;
    skim.space();
    (skim.at == body.len()).then_some(found)
}

struct Skim<'a> {
    text: &'a [u8],
    at: usize,
    depth: u32,
}

impl<'a> Skim<'a> {
    fn peek(&self) -> Option<u8> {
        self.text.get(self.at).copied()
    }

    fn next(&mut self) -> Option<u8> {
        let b = self.peek()?;
        self.at += 1;
        Some(b)
    }

    /// JSON's whitespace, as serde_json skips it.
    fn space(&mut self) {
        while let Some(b' ' | b'\n' | b'\t' | b'\r') = self.peek() {
            self.at += 1;
        }
    }

    /// Enters an object or array, unless that is too deep for this scanner; true when it is
    /// empty (`close` follows), and then already left.
    fn open(&mut self, close: u8) -> Option<bool> {
        self.depth += 1;
        self.at += 1;
        if self.depth > MAX_DEPTH {
            return None;
        }
        self.space();
        let empty = self.peek()? == close;
        if empty {
            self.at += 1;
            self.depth -= 1;
        }
        Some(empty)
    }

    /// After a member or element: true at a comma (another follows), false at `close` (the
    /// object or array is left); None at anything else.
    fn more(&mut self, close: u8) -> Option<bool> {
        self.space();
        match self.next()? {
            b',' => {
                self.space();
                Some(true)
            }
            b if b == close => {
                self.depth -= 1;
                Some(false)
            }
            _ => None,
        }
    }

    /// The value at the cursor as `Prune(node)` gives it.
    fn value(&mut self, node: &Node) -> Option<Value> {
        match self.peek()? {
            b'{' if !node.whole => self.object(node),
            b'[' if !node.whole => self.array(node),
            b'"' => {
                // Most kept values are strings without escapes: they need no decoding.
                let start = self.at + 1;
                let end = start + find_special(&self.text[start..])?;
                if self.text[end] == b'"' {
                    let text = std::str::from_utf8(&self.text[start..end]).ok()?;
                    self.at = end + 1;
                    return Some(Value::String(text.to_owned()));
                }
                self.value_by_serde()
            }
            _ => self.value_by_serde(),
        }
    }

    /// A value kept whole, or a scalar (which a pruned parse builds as a full one does): checked
    /// here, then built by serde_json from its own bytes.
    fn value_by_serde(&mut self) -> Option<Value> {
        let start = self.at;
        self.skip()?;
        serde_json::from_slice(&self.text[start..self.at]).ok()
    }

    fn object(&mut self, node: &Node) -> Option<Value> {
        let mut kept = Map::new();
        self.members(node, |(key, _), value| {
            kept.insert(key.clone(), value);
        })?;
        Some(Value::Object(kept))
    }

    /// Walks an object, handing each member `node` names to `keep` with its value (a repeated
    /// key as often as it comes) and skipping the rest.
    fn members<'n>(
        &mut self,
        node: &'n Node,
        mut keep: impl FnMut(&'n (String, Node), Value),
    ) -> Option<()> {
        if self.open(b'}')? {
            return Some(());
        }
        loop {
            let key = self.key()?;
            self.space();
            if self.next()? != b':' {
                return None;
            }
            self.space();
            match node.keys.iter().find(|(k, _)| k.as_bytes() == &*key) {
                Some(member) => {
                    let value = self.value(&member.1)?;
                    keep(member, value);
                }
                None => self.skip()?,
            }
            if !self.more(b'}')? {
                return Some(());
            }
        }
    }

    /// As `PruneVisitor::visit_seq`: the elements a path names, nulls before a later named one.
    fn array(&mut self, node: &Node) -> Option<Value> {
        let mut kept = Vec::new();
        if self.open(b']')? {
            return Some(Value::Array(kept));
        }
        let last = node.last_needed_index();
        let mut i = 0usize;
        loop {
            match node.element(i) {
                Some(child) => kept.push(self.value(child)?),
                None => {
                    self.skip()?;
                    if last.is_some_and(|last| i < last) {
                        kept.push(Value::Null);
                    }
                }
            }
            i += 1;
            if !self.more(b']')? {
                return Some(Value::Array(kept));
            }
        }
    }

    /// An object key, decoded: as it stands when it has no escapes, else by serde_json (which
    /// refuses what a key cannot be); None when it is not a string a key can be.
    fn key(&mut self) -> Option<Cow<'a, [u8]>> {
        if self.peek()? != b'"' {
            return None;
        }
        let start = self.at;
        let plain = start + 1 + find_special(&self.text[start + 1..])?;
        if self.text[plain] == b'"' {
            self.at = plain + 1;
            let key = &self.text[start + 1..plain];
            // UTF-8, as serde_json requires of a key; a key of plain ASCII (the usual one) is
            // checked without `from_utf8`'s set-up, which costs more than a short key's bytes.
            return (key.is_ascii() || std::str::from_utf8(key).is_ok())
                .then_some(Cow::Borrowed(key));
        }
        self.skip_string()?;
        let key: String = serde_json::from_slice(&self.text[start..self.at]).ok()?;
        Some(Cow::Owned(key.into_bytes()))
    }

    /// Checks and passes over one value, as serde_json's `IgnoredAny` does.
    fn skip(&mut self) -> Option<()> {
        match self.peek()? {
            b'"' => self.skip_string(),
            b'{' => {
                if self.open(b'}')? {
                    return Some(());
                }
                loop {
                    if self.peek()? != b'"' {
                        return None;
                    }
                    self.skip_string()?;
                    self.space();
                    if self.next()? != b':' {
                        return None;
                    }
                    self.space();
                    self.skip()?;
                    if !self.more(b'}')? {
                        return Some(());
                    }
                }
            }
            b'[' => {
                if self.open(b']')? {
                    return Some(());
                }
                loop {
                    self.skip()?;
                    if !self.more(b']')? {
                        return Some(());
                    }
                }
            }
            b't' => self.literal(b"true"),
            b'f' => self.literal(b"false"),
            b'n' => self.literal(b"null"),
            b'-' | b'0'..=b'9' => self.skip_number(),
            _ => None,
        }
    }

    fn literal(&mut self, word: &[u8]) -> Option<()> {
        let end = self.at + word.len();
        (self.text.get(self.at..end)? == word).then(|| self.at = end)
    }

    /// `-? (0 | [1-9][0-9]*) (. [0-9]+)? ([eE] [+-]? [0-9]+)?`, as serde_json checks a number
    /// it skips (its size unchecked, as there).
    fn skip_number(&mut self) -> Option<()> {
        if self.peek() == Some(b'-') {
            self.at += 1;
        }
        match self.next()? {
            b'0' => {
                if self.peek().is_some_and(|b| b.is_ascii_digit()) {
                    return None;
                }
            }
            b'1'..=b'9' => self.digits(),
            _ => return None,
        }
        if self.peek() == Some(b'.') {
            self.at += 1;
            self.at_least_one_digit()?;
        }
        if let Some(b'e' | b'E') = self.peek() {
            self.at += 1;
            if let Some(b'+' | b'-') = self.peek() {
                self.at += 1;
            }
            self.at_least_one_digit()?;
        }
        Some(())
    }

    fn digits(&mut self) {
        while self.peek().is_some_and(|b| b.is_ascii_digit()) {
            self.at += 1;
        }
    }

    fn at_least_one_digit(&mut self) -> Option<()> {
        if !self.peek()?.is_ascii_digit() {
            return None;
        }
        self.digits();
        Some(())
    }

    /// A string: no control characters, only JSON's escapes (`\u` with any four hex digits, as
    /// serde_json skips it), any other bytes.
    fn skip_string(&mut self) -> Option<()> {
        self.at += 1;
        loop {
            self.at += find_special(&self.text[self.at..])?;
            match self.next()? {
                b'"' => return Some(()),
                b'\\' => match self.next()? {
                    b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't' => {}
                    b'u' => {
                        let hex = self.text.get(self.at..self.at + 4)?;
                        if !hex.iter().all(u8::is_ascii_hexdigit) {
                            return None;
                        }
                        self.at += 4;
                    }
                    _ => return None,
                },
                _ => return None,
            }
        }
    }
}

/// Where the first `"`, `\` or control character is in `text`, if anywhere: memchr finds the
/// first quote or backslash (with the widest vector instructions the CPU has, chosen at run
/// time), then one pass takes the smallest byte before it, a reduction the compiler
/// vectorizes; only a control character found that way needs a byte-by-byte look.
fn find_special(text: &[u8]) -> Option<usize> {
    let end = memchr::memchr2(b'"', b'\\', text);
    let before = &text[..end.unwrap_or(text.len())];
    if before.iter().fold(u8::MAX, |least, &b| least.min(b)) < 0x20 {
        return before.iter().position(|&b| b < 0x20);
    }
    end
}

#[cfg(test)]
mod tests {
    use serde::de::DeserializeSeed;

    use super::*;
    use crate::extract::FieldSet;

    /// What serde_json's pruned parse gives: the reference.
    fn reference(set: &FieldSet, body: &[u8]) -> Option<Value> {
        let mut de = serde_json::Deserializer::from_slice(body);
        let doc = super::super::prune::Prune(set.trie())
            .deserialize(&mut de)
            .ok()?;
        de.end().ok()?;
        Some(doc)
    }

    fn set(paths: &[&str]) -> FieldSet {
        FieldSet::new(paths.iter().map(|p| p.parse().expect("a path")).collect())
    }

    #[test]
    fn gives_what_serde_gives_or_leaves_it_to_serde() {
        let set = set(&["name", "a[1].b", "c[*]", "d"]);
        let accepted: &[&[u8]] = &[
            br#"{"id":42,"name":"item-42","padding":"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"}"#,
            br#" { "name" : "x" , "a" : [ 1 , { "b" : [1, 2.5e-3, -0, true, null] } ] } "#,
            br#"{"c":[1,"two",{"x":[]}],"d":{"deep":[[[]]]},"z":"\u00e9\ud800\n\"\\\/"}"#,
            b"{\"skipped\":\"caf\xe9\",\"name\":\"\\u00e9\"}",
            br#"{"name":"a","name":"b"}"#,
            br#"[1,2,3]"#,
            br#""just a string""#,
            br#"-12.5E+7"#,
            br#"{"a":[],"c":{}}"#,
            br#"{"n":18446744073709551616,"name":1e400}"#,
            br#"{"na\u006de":"escaped key","\ud800":1}"#,
        ];
        for body in accepted {
            let skimmed = prune(set.trie(), body);
            let text = String::from_utf8_lossy(body);
            match reference(&set, body) {
                Some(doc) => assert_eq!(skimmed, Some(doc), "{text}"),
                None => assert_eq!(skimmed, None, "{text}"),
            }
        }
        assert!(prune(set.trie(), accepted[0]).is_some());
        assert!(prune(set.trie(), accepted[1]).is_some());
    }

    #[test]
    fn top_level_keys_come_without_a_pruned_document() {
        let set = set(&["name", "id"]);
        let body = br#"{"id":42,"name":"a","padding":"xx","name":"b"}"#;
        let found = top_level(set.trie(), body).expect("an object");
        assert_eq!(found, vec![Value::from("b"), Value::from(42)]);
        assert_eq!(
            top_level(set.trie(), br#"{"other":1}"#),
            Some(vec![Value::Null; 2])
        );
        assert_eq!(top_level(set.trie(), br#"[{"name":"a"}]"#), None);
        assert_eq!(top_level(set.trie(), br#"{"name":"a"} x"#), None);
    }

    #[test]
    fn refuses_whatever_serde_refuses() {
        let set = set(&["name", "a[1].b"]);
        let refused: &[&[u8]] = &[
            b"",
            b"  ",
            br#"{"name":"x",}"#,
            br#"{"name":"x"} x"#,
            br#"{"a":[1,]}"#,
            br#"{"a":01}"#,
            br#"{"a":1.}"#,
            br#"{"a":1e}"#,
            br#"{"a":-}"#,
            br#"{"a":tru}"#,
            br#"{"a":"\x"}"#,
            br#"{"a":"\u12g4"}"#,
            b"{\"a\":\"tab\tin\"}",
            br#"{"a" 1}"#,
            br#"{a:1}"#,
            br#"{"a":[1 2]}"#,
            br#"{"name":"\ud800"}"#,
            b"{\"name\":\"caf\xe9\"}",
            b"{\"caf\xe9\":1}",
            br#"{"a":"unterminated}"#,
            br#"[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]"#,
        ];
        for body in refused {
            assert_eq!(
                prune(set.trie(), body),
                None,
                "{}",
                String::from_utf8_lossy(body)
            );
        }
    }

    #[test]
    fn finds_specials_in_and_after_whole_blocks() {
        for n in 0..40 {
            let mut text = vec![b'x'; 40];
            assert_eq!(find_special(&text), None);
            text[n] = b'"';
            assert_eq!(find_special(&text), Some(n));
            text[n] = 0x1f;
            assert_eq!(find_special(&text), Some(n));
            text[n] = b'\\';
            assert_eq!(find_special(&text), Some(n));
        }
    }
}
