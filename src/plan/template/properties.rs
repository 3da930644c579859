//! Property tests of URL and body templates: any text parses or is refused and renders any id; a
//! valid http(s) template renders to a URL on its host.

use std::sync::Arc;

use percent_encoding::percent_decode_str;
use proptest::prelude::*;

use super::*;
use crate::plan::ids::properties::any_id;
use crate::test_support::{config, soup, url_template, wild_string};

const TOKENS: &[&str] = &[
    "{", "}", "{}", "{id}", "{:0", "{id:0", "{:03}", "{id:99}", "{:099}", ":0", "id", "http://",
    "https://", "ftp://", "/", "?", "&", "=", "#", "[", "]", ":", "@", "%", "h", ".", "\"",
];

fn text_id(text: &str) -> Id {
    Id::Text(Arc::from(text))
}

proptest! {
    #![proptest_config(config(256))]

    #[test]
    fn any_text_parses_or_is_refused_and_renders_any_id(
        text in prop_oneof![soup(TOKENS, 12), wild_string(24)],
        id in any_id(),
        raw in any::<bool>(),
        json in any::<bool>(),
    ) {
        if let Ok(template) = Template::parse(&text) {
            prop_assert_eq!(template.as_str(), text.as_str());
            template.render(&id);
        }
        if let Ok(template) = Template::parse_url_with(&text, raw) {
            let sample = url::Url::parse(&template.render(&Id::Num(1)));
            let scheme = sample.as_ref().map(url::Url::scheme).ok();
            prop_assert!(matches!(scheme, Some("http" | "https")), "{text}");
            template.render(&id);
        }
        let body = Template::parse_body(&text, json);
        prop_assert_eq!(body.as_str(), text.as_str());
        body.render(&id);
    }

    #[test]
    fn a_number_is_zero_padded_to_the_width_asked(n in any::<u64>(), width in 0usize..150) {
        // A body template: it may end up with no placeholder at all.
        let template = Template::parse_body(&format!("a{{:0{width}}}b{{id:0{width}}}"), false);
        let rendered = template.render(&Id::Num(n));
        if width < 100 {
            // Two digits of width at most: anything longer is not a placeholder.
            let padded = format!("{n:0width$}");
            prop_assert_eq!(&rendered, &format!("a{padded}b{padded}"));
            prop_assert_eq!(padded.parse::<u64>(), Ok(n));
        } else {
            prop_assert_eq!(rendered, format!("a{{:0{width}}}b{{id:0{width}}}"));
        }
    }

    #[test]
    fn a_valid_url_template_renders_any_id_to_a_url_on_its_host(
        text in url_template(),
        raw in any::<bool>(),
        id in any_id(),
    ) {
        let Ok(template) = Template::parse_url_with(&text, raw) else {
            return Ok(());
        };
        let sample = url::Url::parse(&template.render(&Id::Num(1))).unwrap();
        let rendered = template.render(&id);
        let url = url::Url::parse(&rendered)
            .map_err(|e| TestCaseError::fail(format!("{text} with {id:?}: {rendered}: {e}")))?;
        prop_assert_eq!(url.scheme(), sample.scheme());
        prop_assert_eq!(url.host(), sample.host());
        prop_assert_eq!(url.port(), sample.port());
    }

    #[test]
    fn a_text_id_comes_back_out_of_its_path_segment_and_query_value(word in wild_string(16)) {
        // `.` and `..` cannot be one path segment of a URL: the parser reads them (and their
        // escapes, `%2e`) as "this" and "parent" segments.
        prop_assume!(word != "." && word != "..");
        let template = Template::parse_url("http://h/a/{}/b?q={}&r=1#{}").unwrap();
        let url = url::Url::parse(&template.render(&text_id(&word))).unwrap();
        let segments: Vec<&str> = url.path_segments().unwrap().collect();
        prop_assert_eq!(segments.len(), 3, "{}", url);
        let segment = percent_decode_str(segments[1]).decode_utf8().unwrap();
        prop_assert_eq!(&segment, &word);
        let query: Vec<(String, String)> = url.query_pairs().into_owned().collect();
        prop_assert_eq!(query, vec![("q".to_owned(), word), ("r".to_owned(), "1".to_owned())]);
    }

    #[test]
    fn a_text_id_in_a_json_body_is_the_string_it_was(word in wild_string(24), n in any::<u64>()) {
        let body = Template::parse_body(r#"{"name":"{}","tag":"<{id}>","n":"{:03}"}"#, true);
        let value: serde_json::Value = serde_json::from_str(&body.render(&text_id(&word))).unwrap();
        prop_assert_eq!(&value["name"], &serde_json::json!(word));
        prop_assert_eq!(&value["tag"], &serde_json::json!(format!("<{word}>")));
        let numeric: serde_json::Value = serde_json::from_str(&body.render(&Id::Num(n))).unwrap();
        prop_assert_eq!(&numeric["name"], &serde_json::json!(n.to_string()));
        prop_assert_eq!(&numeric["n"], &serde_json::json!(format!("{n:03}")));
    }
}
