//! Property tests of header files: any file is read or refused as a usage error; headers, comments
//! and blank lines (LF or CRLF) give their headers in order.

use std::io::Write as _;

use proptest::prelude::*;

use super::*;
use crate::test_support::{config, wild_char, wild_string};

/// A header file with `contents`, and `collect_headers` on it.
fn collect_from(contents: &[u8]) -> Result<Vec<(HeaderName, HeaderValue)>, AppError> {
    let mut file = tempfile::NamedTempFile::new().unwrap();
    file.write_all(contents).unwrap();
    collect_headers(vec![HeaderArg::File(file.path().to_owned())])
}

/// A line of a header file: a header (name, value) or a line that holds none.
#[derive(Debug, Clone)]
enum Line {
    Header(String, String),
    Comment(String),
    Blank(String),
}

fn line() -> impl Strategy<Value = Line> {
    let tchars: Vec<char> =
        "!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
            .chars()
            .collect();
    // A name that starts with `#` would be a comment.
    let name = prop::collection::vec(prop::sample::select(tchars), 1..10)
        .prop_map(String::from_iter)
        .prop_filter("not a comment", |n| !n.starts_with('#'));
    let value_char = wild_char().prop_filter("header text", |c| {
        *c == '\t' || (*c >= ' ' && *c != '\u{7f}')
    });
    let value = prop::collection::vec(value_char, 0..12)
        .prop_map(String::from_iter)
        .prop_filter("no surrounding spaces", |v| v.trim() == v);
    let no_newline = |s: String| s.replace(['\n', '\r'], "");
    prop_oneof![
        4 => (name, value).prop_map(|(n, v)| Line::Header(n, v)),
        1 => wild_string(10).prop_map(move |c| Line::Comment(no_newline(c))),
        1 => prop::sample::select(&["", " ", "\t", " \t "][..]).prop_map(|b| Line::Blank(b.to_owned())),
    ]
}

proptest! {
    #![proptest_config(config(64))]

    #[test]
    fn any_header_file_is_read_or_refused(contents in prop_oneof![
        prop::collection::vec(any::<u8>(), 0..64),
        wild_string(64).prop_map(String::into_bytes),
    ]) {
        if let Err(e) = collect_from(&contents) {
            prop_assert!(matches!(e, AppError::Usage { flag: "--header", .. }), "{e:?}");
        }
    }

    #[test]
    fn a_header_file_gives_its_headers_in_order(lines in prop::collection::vec(line(), 0..12), crlf in any::<bool>()) {
        let text: Vec<String> = lines
            .iter()
            .map(|line| match line {
                Line::Header(n, v) => format!(" {n}: {v} "),
                Line::Comment(c) => format!("  #{c}"),
                Line::Blank(b) => b.clone(),
            })
            .collect();
        let text = text.join(if crlf { "\r\n" } else { "\n" });
        let headers = collect_from(text.as_bytes()).map_err(|e| TestCaseError::fail(format!("{e:?}")))?;
        let expected: Vec<(String, Vec<u8>)> = lines
            .iter()
            .filter_map(|line| match line {
                Line::Header(n, v) => Some((n.to_ascii_lowercase(), v.clone().into_bytes())),
                _ => None,
            })
            .collect();
        let got: Vec<(String, Vec<u8>)> = headers
            .iter()
            .map(|(n, v)| (n.as_str().to_owned(), v.as_bytes().to_vec()))
            .collect();
        // FETCHBENCH_AUTH, if the environment has it, comes last.
        prop_assert_eq!(&got[..expected.len().min(got.len())], &expected[..]);
        prop_assert!(got.len() <= expected.len() + 1);
    }
}
