//! Property tests of request headers and redaction: templated values render for any id; a shown URL
//! holds no password or secret query value.

use proptest::prelude::*;

use super::*;
use crate::plan::ids::properties::any_id;
use crate::test_support::{config, soup, wild_string};

const NAMES: &[&str] = &[
    "accept",
    "x-api-key",
    "authorization",
    "x-request-id",
    "cookie",
];

const TOKENS: &[&str] = &[
    "{}", "{id}", "{:03}", "{", "}", "Bearer ", " ", "\t", "é", "\u{80}",
];

proptest! {
    #![proptest_config(config(256))]

    #[test]
    fn any_header_value_renders_for_any_id(
        name in prop::sample::select(NAMES),
        bytes in prop_oneof![
            soup(TOKENS, 6).prop_map(String::into_bytes),
            prop::collection::vec(any::<u8>(), 0..24),
        ],
        id in any_id(),
    ) {
        // Whatever a header can hold: every byte but controls other than tab.
        let Ok(value) = HeaderValue::from_bytes(&bytes) else {
            return Ok(());
        };
        let name = HeaderName::from_static(name);
        let template = HeaderTemplate::new(&value);
        let shape = RequestShape {
            headers: vec![(name.clone(), template.clone())],
            ..RequestShape::default()
        };
        let headers = shape.headers_for(&id);
        match template {
            HeaderTemplate::Fixed(_) => {
                prop_assert_eq!(headers.get(&name), Some(&value));
                prop_assert!(shape.fixed_headers().is_some());
            }
            HeaderTemplate::Templated(template) => {
                // A value the id makes invalid (a newline in a text id) is left out.
                let rendered = HeaderValue::from_str(&template.render(&id)).ok();
                prop_assert_eq!(headers.get(&name), rendered.as_ref());
                if let Some(sent) = headers.get(&name) {
                    prop_assert_eq!(sent.is_sensitive(), is_credential(&name));
                }
                prop_assert!(shape.fixed_headers().is_none());
            }
        }
    }

    #[test]
    fn a_printed_url_shows_no_password_and_no_secret_parameter(
        password in wild_string(8),
        pairs in prop::collection::vec(
            (prop::sample::select(&["page", "api_key", "Token", "q", "x-signature"][..]), wild_string(8)),
            0..4,
        ),
    ) {
        let mut url = Url::parse("https://user@h.example/p/1").unwrap();
        if !password.is_empty() {
            url.set_password(Some(&password)).unwrap();
        }
        url.query_pairs_mut().extend_pairs(&pairs);
        let shown = Url::parse(&redact(&url)).unwrap();
        let expected_password = (!password.is_empty()).then_some("%3Credacted%3E");
        prop_assert_eq!(shown.password(), expected_password);
        let shown_pairs: Vec<(String, String)> = shown.query_pairs().into_owned().collect();
        prop_assert_eq!(shown_pairs.len(), pairs.len());
        for ((key, value), (shown_key, shown_value)) in pairs.iter().zip(&shown_pairs) {
            prop_assert_eq!(key, shown_key);
            if is_secret_param(key) {
                prop_assert_eq!(shown_value, "<redacted>");
            } else if !value.contains("REDACTED") {
                prop_assert_eq!(shown_value, value);
            }
        }
    }
}
