//! Strategies the property tests share: text built to reach the corners of a parser.
//!
//! proptest's own `any::<String>()` draws no control characters, and a uniformly random string
//! almost never spells a parser's syntax, so these mix the two: a parser's own tokens, numbers at
//! and past the edge of `u64`, control characters, and characters that normalise to ASCII.

use proptest::prelude::*;
use proptest::test_runner::Config;

/// `cases` cases, and no regression files: a case a property finds is kept as a plain unit test
/// next to it instead, where it reads as what it is.
pub(crate) fn config(cases: u32) -> Config {
    Config {
        failure_persistence: None,
        ..Config::with_cases(cases)
    }
}

/// Any char, weighted toward the ones parsers trip on.
pub(crate) fn wild_char() -> impl Strategy<Value = char> {
    prop_oneof![
        3 => any::<char>(),
        2 => proptest::char::range('\0', '\u{1f}'),
        1 => proptest::char::range('\u{7f}', '\u{9f}'),
        3 => proptest::char::range(' ', '~'),
        1 => prop::sample::select(ODD_CHARS),
    ]
}

/// A soft hyphen and a zero-width space (IDNA drops them), full-width letters and a full-width
/// dot (IDNA maps them to ASCII), a BOM, a line separator, letters whose case changes length.
const ODD_CHARS: &[char] = &[
    '\u{ad}', '\u{200b}', 'ｈ', 'Ｈ', '．', '\u{feff}', '\u{2028}', 'é', 'İ', 'ß', 'Ⱥ',
];

/// Numbers past `u64`, and forms a lenient parser might take (signs, leading zeros, exponents,
/// hex, fractions, nothing).
const ODD_NUMBERS: &[&str] = &[
    "18446744073709551616",
    "99999999999999999999999999999999",
    "-1",
    "+7",
    "007",
    "1e3",
    "0x10",
    "1.5",
    "",
];

/// Up to `max` wild chars.
pub(crate) fn wild_string(max: usize) -> impl Strategy<Value = String> {
    prop::collection::vec(wild_char(), 0..=max).prop_map(String::from_iter)
}

/// Numbers as text: small ones, any `u64`, the last few up to `u64::MAX`, and [`ODD_NUMBERS`].
pub(crate) fn number_text() -> impl Strategy<Value = String> {
    prop_oneof![
        (0u64..1000).prop_map(|n| n.to_string()),
        any::<u64>().prop_map(|n| n.to_string()),
        (0u64..3).prop_map(|k| (u64::MAX - k).to_string()),
        prop::sample::select(ODD_NUMBERS).prop_map(str::to_owned),
    ]
}

/// Up to `max` pieces, each one of `tokens`, a number or a wild char, concatenated.
pub(crate) fn soup(tokens: &'static [&'static str], max: usize) -> impl Strategy<Value = String> {
    let piece = prop_oneof![
        4 => prop::sample::select(tokens).prop_map(str::to_owned),
        2 => number_text(),
        2 => wild_char().prop_map(String::from),
    ];
    prop::collection::vec(piece, 0..=max).prop_map(|pieces| pieces.concat())
}

/// Scheme and authority spellings, normalised or not by the URL parser: case, default ports,
/// an empty port, IP forms, credentials, and hosts IDNA rewrites to a different length.
const URL_STARTS: &[&str] = &[
    "http://h",
    "https://pokeapi.co",
    "HTTP://H.example",
    "hTTps://h",
    "http://127.0.0.1:8080",
    "http://0x7f.1",
    "http://h:80",
    "https://h:443",
    "http://h:",
    "http://[::1]",
    "http://[::1]:9",
    "http://user:pw@h",
    "http://u@h:1",
    "http://ｈｈ",
    "http://a\u{ad}b",
    "http://é.example",
    "http://h.",
    "http://%68",
];

/// Pieces of a URL after its authority: separators, dot segments, escapes good and bad.
const URL_TAIL_TOKENS: &[&str] = &[
    "/", "/", "?", "#", "&", "=", ".", "..", "/./", "/../", "%", "%2e", "%41", "\\", " ", "\t",
    "a", "q=", "{", "}",
];

/// What ends the authority.
const SEPARATORS: &[&str] = &["/", "?", "#"];

/// The placeholder forms.
const PLACEHOLDERS: &[&str] = &["{}", "{id}", "{:03}", "{id:012}"];

/// A URL template whose placeholders all come after the authority: a start from [`URL_STARTS`],
/// then `/`, `?` or `#`, then literal pieces and placeholders, at least one of them.
pub(crate) fn url_template() -> impl Strategy<Value = String> {
    let piece = prop_oneof![
        3 => prop::sample::select(URL_TAIL_TOKENS).prop_map(str::to_owned),
        2 => prop::sample::select(PLACEHOLDERS).prop_map(str::to_owned),
        2 => wild_char().prop_map(String::from),
    ];
    (
        prop::sample::select(URL_STARTS),
        prop::sample::select(SEPARATORS),
        prop::collection::vec(piece, 0..8),
        prop::sample::select(PLACEHOLDERS),
        0..9usize,
    )
        .prop_map(|(start, separator, mut pieces, placeholder, at)| {
            let at = at.min(pieces.len());
            pieces.insert(at, placeholder.to_owned());
            format!("{start}{separator}{}", pieces.concat())
        })
}

/// Object keys: a few short ones that paths name, so paths find something, and wild ones.
pub(crate) fn json_key() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => prop::sample::select(JSON_KEYS).prop_map(str::to_owned),
        1 => wild_string(8),
    ]
}

/// The keys [`json_key`] favours; the ones with `.` or `[` no path can name.
pub(crate) const JSON_KEYS: &[&str] = &["a", "b", "name", "", "a.b", "x[0]", "\"q\""];

/// Any JSON document of a few levels: numbers of every kind (floats that print and parse back
/// exactly, so documents compare equal after a round trip), wild strings, arrays, objects.
pub(crate) fn json_value() -> impl Strategy<Value = serde_json::Value> {
    use serde_json::Value;
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<i32>().prop_map(|n| Value::from(f64::from(n) / 1024.0)),
        wild_string(12).prop_map(Value::String),
    ];
    leaf.prop_recursive(4, 48, 5, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..5).prop_map(Value::Array),
            prop::collection::vec((json_key(), inner), 0..5)
                .prop_map(|entries| Value::Object(entries.into_iter().collect())),
        ]
    })
}
