//! Property tests of the command line's value parsers: any argument is taken or refused without a
//! panic; numbers, sizes, durations, headers, methods and --resolve parse to what was written.

use proptest::prelude::*;

use super::*;
use crate::test_support::{config, soup, wild_char, wild_string};

const TOKENS: &[&str] = &[
    ":",
    " ",
    "\t",
    "@",
    "x-api-key",
    "Authorization",
    "v",
    "KiB",
    "MiB",
    "B",
    "k",
    "EiB",
    ".",
    "ms",
    "s",
    "0",
    "GET",
    "get",
    "[",
    "]",
    "::1",
    "127.0.0.1",
    "\r\n",
    "\0",
    "{}",
    "http://h/",
];

/// The characters of an HTTP token (a header name, a method).
const TCHARS: &str =
    "!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ";

fn token() -> impl Strategy<Value = String> {
    let chars: Vec<char> = TCHARS.chars().collect();
    prop::collection::vec(prop::sample::select(chars), 1..12).prop_map(String::from_iter)
}

/// A header value as typed: no control characters but tab, no whitespace at either end.
fn header_value() -> impl Strategy<Value = String> {
    let c = wild_char().prop_filter("header text", |c| {
        *c == '\t' || (*c >= ' ' && *c != '\u{7f}')
    });
    prop::collection::vec(c, 0..16)
        .prop_map(String::from_iter)
        .prop_filter("typed without surrounding spaces", |v| v.trim() == v)
}

/// Sizes as written with each unit bytesize knows, and its factor.
const UNITS: &[(&str, u64)] = &[
    ("", 1),
    ("B", 1),
    ("k", 1000),
    ("KB", 1000),
    ("MB", 1000 * 1000),
    ("GB", 1000 * 1000 * 1000),
    ("KiB", 1 << 10),
    ("MiB", 1 << 20),
    ("GiB", 1 << 30),
    ("TiB", 1 << 40),
    ("EiB", 1 << 60),
];

proptest! {
    #![proptest_config(config(256))]

    #[test]
    fn any_argument_is_taken_or_refused(text in prop_oneof![soup(TOKENS, 8), wild_string(24)]) {
        if let Ok(n) = parse_at_least_one(&text) {
            prop_assert!(n >= 1);
        }
        if let Ok(n) = parse_concurrency(&text) {
            prop_assert!(n >= 1);
        }
        let _ = parse_size(&text);
        if let Ok(d) = parse_positive_duration(&text) {
            prop_assert!(!d.is_zero());
        }
        let _ = parse_header_arg(&text);
        if let Ok(agent) = parse_user_agent(&text) {
            prop_assert_eq!(agent, text.clone());
        }
        if let Ok(template) = parse_url_template(&text) {
            prop_assert_eq!(template, text.clone());
        }
        let _ = parse_resolve(&text);
        let _ = parse_method(&text);
        if let Ok((name, value)) = parse_header(&text) {
            prop_assert_eq!(value.is_sensitive(), is_credential(&name));
        }
    }

    #[test]
    fn a_whole_number_is_itself(n in 1u64..) {
        prop_assert_eq!(parse_at_least_one(&n.to_string()), Ok(n));
        prop_assert_eq!(parse_concurrency(&n.to_string()).ok(), usize::try_from(n).ok());
    }

    #[test]
    fn a_size_is_its_bytes(n in prop_oneof![0u64..10_000, any::<u64>()], (unit, factor) in prop::sample::select(UNITS), space in any::<bool>()) {
        let space = if space && !unit.is_empty() { " " } else { "" };
        let text = format!("{n}{space}{unit}");
        prop_assert_eq!(parse_size(&text), Ok(n.saturating_mul(factor)), "{}", text);
    }

    #[test]
    fn a_printed_positive_duration_parses_back(secs in 0u64..100_000_000_000, nanos in 0u32..1_000_000_000) {
        let d = Duration::new(secs, nanos);
        prop_assume!(!d.is_zero());
        let text = humantime::format_duration(d).to_string();
        prop_assert_eq!(parse_positive_duration(&text), Ok(d));
    }

    #[test]
    fn a_header_written_parses_to_its_name_and_value(
        name in token(),
        value in header_value(),
        before in prop::sample::select(&["", " ", "  ", "\t"][..]),
        after in prop::sample::select(&["", " ", "\t "][..]),
    ) {
        let text = format!("{name}:{before}{value}{after}");
        let (parsed_name, parsed_value) = parse_header(&text).map_err(TestCaseError::fail)?;
        prop_assert_eq!(parsed_name.as_str(), name.to_ascii_lowercase());
        prop_assert_eq!(parsed_value.as_bytes(), value.as_bytes());
        prop_assert_eq!(parsed_value.is_sensitive(), is_credential(&parsed_name));
        let arg = parse_header_arg(&text).map_err(TestCaseError::fail)?;
        prop_assert!(matches!(arg, HeaderArg::One(n, v) if n == parsed_name && v == parsed_value));
    }

    #[test]
    fn an_at_sign_names_a_header_file(path in wild_string(16)) {
        let arg = parse_header_arg(&format!("@{path}")).map_err(TestCaseError::fail)?;
        prop_assert!(matches!(arg, HeaderArg::File(p) if p == std::path::Path::new(&path)));
    }

    #[test]
    fn a_method_token_is_that_method(method in token()) {
        let parsed = parse_method(&method).map_err(TestCaseError::fail)?;
        prop_assert_eq!(parsed.as_str(), method.to_ascii_uppercase());
    }

    #[test]
    fn a_resolve_written_parses_to_its_host_and_address(
        host in prop::collection::vec(wild_char().prop_filter("no colon", |c| *c != ':'), 1..12).prop_map(String::from_iter),
        port in any::<u16>(),
        ip in prop_oneof![
            any::<[u8; 4]>().prop_map(std::net::IpAddr::from),
            any::<[u16; 8]>().prop_map(std::net::IpAddr::from),
        ],
    ) {
        let written = match ip {
            std::net::IpAddr::V6(v6) => format!("{host}:{port}:[{v6}]"),
            std::net::IpAddr::V4(v4) => format!("{host}:{port}:{v4}"),
        };
        let parsed = parse_resolve(&written).map_err(TestCaseError::fail)?;
        prop_assert_eq!(parsed, (host, std::net::SocketAddr::new(ip, port)));
    }
}
