//! Property tests of field paths and the selective parse: paths round-trip; the selective parse
//! gives what the full parse gives.

use proptest::prelude::*;

use super::*;
use crate::test_support::{config, json_key, json_value, soup, wild_char, wild_string};

const TOKENS: &[&str] = &[
    ".", "[", "]", "*", "[*]", "[0]", "[01]", "[+1]", "[-1]", "a", "name", "..", "][",
];

/// A path as the steps it should parse to, written the one way the parser documents.
fn write(steps: &[Step]) -> String {
    let mut text = String::new();
    for (i, step) in steps.iter().enumerate() {
        match step {
            // `$` alone at the start is JSONPath's root, refused: that key is reached in brackets.
            Step::Key(key) if i == 0 && key == "$" => text.push_str(r#"["$"]"#),
            Step::Key(key) if i == 0 => text.push_str(key),
            Step::Key(key) => {
                text.push('.');
                text.push_str(key);
            }
            Step::Index(n) => text.push_str(&format!("[{n}]")),
            Step::Each => text.push_str("[*]"),
        }
    }
    text
}

/// A key a path can spell: not empty, no `.`, `[` or `]`.
fn path_key() -> impl Strategy<Value = String> {
    let c = wild_char().prop_filter("path syntax", |c| !matches!(c, '.' | '[' | ']'));
    prop::collection::vec(c, 1..8).prop_map(String::from_iter)
}

fn steps(
    key: impl Strategy<Value = String>,
    index: impl Strategy<Value = usize>,
) -> impl Strategy<Value = Vec<Step>> {
    let step = prop_oneof![
        3 => key.prop_map(Step::Key),
        1 => index.prop_map(Step::Index),
        1 => Just(Step::Each),
    ];
    prop::collection::vec(step, 1..5)
}

/// Paths over the keys documents favour (see [`json_key`]), so they reach into them.
fn reaching_paths() -> impl Strategy<Value = Vec<FieldPath>> {
    let key = prop::sample::select(&["a", "b", "name", "\"q\""][..]).prop_map(str::to_owned);
    let path = steps(key, 0usize..4).prop_map(|steps| write(&steps).parse::<FieldPath>().unwrap());
    prop::collection::vec(path, 1..5)
}

/// An object written by hand, so a key may come twice (the last one counts, as in a full
/// parse).
fn object_with_repeated_keys() -> impl Strategy<Value = String> {
    prop::collection::vec((json_key(), json_value()), 0..4).prop_map(|entries| {
        let entries: Vec<String> = entries
            .iter()
            .map(|(k, v)| format!("{}:{v}", Value::from(k.as_str())))
            .collect();
        format!("{{{}}}", entries.join(","))
    })
}

proptest! {
    #![proptest_config(config(256))]

    #[test]
    fn any_text_parses_or_is_refused(text in prop_oneof![soup(TOKENS, 10), wild_string(16)], doc in json_value()) {
        if let Ok(path) = text.parse::<FieldPath>() {
            prop_assert!(!path.steps.is_empty());
            prop_assert_eq!(path.to_string(), text.clone());
            prop_assert_eq!(path.to_string().parse::<FieldPath>(), Ok(path.clone()));
            path.get(&doc);
        }
    }

    #[test]
    fn a_written_path_parses_to_its_steps_and_round_trips(steps in steps(path_key(), any::<usize>())) {
        let text = write(&steps);
        let path: FieldPath = text.parse().map_err(|e| TestCaseError::fail(format!("{text}: {e}")))?;
        prop_assert_eq!(&path.steps, &steps);
        prop_assert_eq!(path.to_string(), text);
        prop_assert_eq!(path.to_string().parse::<FieldPath>(), Ok(path));
    }

    #[test]
    fn the_selective_parse_gives_what_the_full_parse_gives(doc in json_value(), paths in reaching_paths()) {
        let body = doc.to_string();
        let set = FieldSet::new(paths);
        let selective = set.extract(body.as_bytes()).unwrap();
        prop_assert_eq!(&selective, &set.extract_via_value(body.as_bytes()).unwrap());
        let direct: Vec<Value> = set.paths().iter().map(|p| p.get(&doc)).collect();
        prop_assert_eq!(selective, direct);
    }

    #[test]
    fn a_repeated_key_counts_once_the_same_in_both_parses(body in object_with_repeated_keys(), paths in reaching_paths()) {
        let set = FieldSet::new(paths);
        let full = set.extract_via_value(body.as_bytes()).unwrap();
        prop_assert_eq!(set.extract(body.as_bytes()).unwrap(), full);
    }

    #[test]
    fn any_body_is_searched_or_refused_and_what_parses_whole_parses_selectively(
        body in prop_oneof![
            prop::collection::vec(any::<u8>(), 0..64),
            soup(&["{", "}", "[", "]", "\"", ":", ",", "\\u", "\\ud800", "\\udc00", "d83d", "null", "\"a\""], 16)
                .prop_map(String::into_bytes),
        ],
        paths in reaching_paths(),
    ) {
        let set = FieldSet::new(paths);
        let selective = set.extract(&body);
        // The selective parse accepts more: see `what_only_the_selective_parse_accepts`.
        if let Ok(full) = set.extract_via_value(&body) {
            prop_assert_eq!(selective.ok(), Some(full));
        }
    }
}

/// serde_json's pruned parse of `body`, with nothing of the fast path.
fn pruned_by_serde(set: &FieldSet, body: &[u8]) -> Option<Value> {
    use serde::de::DeserializeSeed;
    let mut de = serde_json::Deserializer::from_slice(body);
    let doc = prune::Prune(&set.trie).deserialize(&mut de).ok()?;
    de.end().ok()?;
    Some(doc)
}

proptest! {
    #![proptest_config(config(512))]

    #[test]
    fn the_scanner_accepts_only_what_serde_accepts_and_builds_the_same(
        body in prop_oneof![
            json_value().prop_map(|doc| doc.to_string().into_bytes()),
            object_with_repeated_keys().prop_map(String::into_bytes),
            prop::collection::vec(any::<u8>(), 0..64),
            soup(&["{", "}", "[", "]", "\"", ":", ",", " ", "\\", "\\u", "\\ud800", "d83d", "0", "-", "1", ".", "e", "+", "null", "tru", "\"a\"", "\"name\"", "\t", "\u{1}", "\u{e9}"], 24)
                .prop_map(String::into_bytes),
        ],
        paths in reaching_paths(),
    ) {
        let set = FieldSet::new(paths);
        if let Some(doc) = skim::prune(&set.trie, &body) {
            prop_assert_eq!(Some(doc), pruned_by_serde(&set, &body));
        }
    }

    #[test]
    fn the_scanner_takes_the_documents_serde_writes(doc in json_value(), paths in reaching_paths()) {
        let body = doc.to_string();
        let set = FieldSet::new(paths);
        let skimmed = skim::prune(&set.trie, body.as_bytes());
        prop_assert_eq!(&skimmed, &pruned_by_serde(&set, body.as_bytes()));
    }
}
