//! Property tests of UrlRenderer: the prepared-base URL and the verbatim text are what parsing the
//! whole rendered text gives.

use proptest::prelude::*;

use super::*;
use crate::plan::ids::properties::any_id;
use crate::test_support::{config, soup, url_template};

/// Templates whose id lands in the authority, where it can make a URL invalid.
const AUTHORITY_TEMPLATES: &[&str] = &[
    "http://{}/x",
    "https://{}",
    "http://h{}",
    "http://h{}.example/",
    "http://h:{}/",
    "http://h:8{}/x",
    "http://127.0.0.{}/",
    "http://[::{}]/",
    "http://u{}@h/",
    "http://ｈ{}/",
];

const TOKENS: &[&str] = &[
    "http://", "https://", "h", "ｈ", "\u{ad}", "é", ":", "80", "@", "[", "]", "/", "?", "#", ".",
    "..", "{}", "{id}", "{:03}", " ", "\\",
];

/// What `renderer` gives for `id` is what parsing the whole rendered text gives, but for an id
/// of `.` or `..` in a path segment, which the renderer refuses where parsing would resolve it
/// to another path (`http://h/{}` with `.` is `http://h/`).
fn agrees_with_parsing(renderer: &UrlRenderer, id: &Id) -> Result<(), TestCaseError> {
    if renderer.template.is_dot_segment(id) {
        prop_assert!(
            renderer.url(id).is_err(),
            "{:?} with {:?}",
            renderer.render(id),
            id
        );
        return Ok(());
    }
    let text = renderer.render(id);
    let parsed = reqwest::Url::parse(&text).ok();
    prop_assert_eq!(
        renderer.url(id).ok(),
        parsed.clone(),
        "{:?} with {:?}",
        text,
        id
    );
    if let Some(verbatim) = renderer.verbatim(id) {
        prop_assert_eq!(
            Some(verbatim.as_str()),
            parsed.as_ref().map(reqwest::Url::as_str)
        );
    }
    Ok(())
}

proptest! {
    #![proptest_config(config(256))]

    #[test]
    fn the_renderer_gives_what_parsing_gives_for_any_template_and_id(
        text in prop_oneof![url_template(), soup(TOKENS, 10)],
        raw in any::<bool>(),
        ids in prop::collection::vec(any_id(), 1..4),
    ) {
        let Ok(template) = Template::parse_url_with(&text, raw) else {
            return Ok(());
        };
        let renderer = UrlRenderer::new(template);
        for id in &ids {
            agrees_with_parsing(&renderer, id)?;
        }
    }

    #[test]
    fn an_id_in_the_authority_is_parsed_whole(
        text in prop::sample::select(AUTHORITY_TEMPLATES),
        ids in prop::collection::vec(any_id(), 1..4),
    ) {
        let renderer = UrlRenderer::new(Template::parse(text).unwrap());
        prop_assert!(renderer.base().is_none(), "{}", text);
        for id in &ids {
            agrees_with_parsing(&renderer, id)?;
        }
    }
}
