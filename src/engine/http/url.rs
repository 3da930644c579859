//! The URL of each id: a template rendered and parsed, with the parse of what every URL shares
//! (scheme, host, port) done once per run instead of once per id.

use crate::plan::ids::Id;
use crate::plan::template::Template;

/// Renders a URL template straight to a parsed [`reqwest::Url`] per id.
///
/// Parsing a URL costs most in its host (IDNA mapping, IP address forms), so when every
/// placeholder comes after the host, the scheme and host are parsed once and each id only sets
/// the path and query on a copy (the cost is in docs/performance.md, "Why the code is shaped so").
#[derive(Debug, Clone)]
pub struct UrlRenderer {
    template: Template,
    /// The parsed URL up to its path, and the length of that prefix in every rendered URL.
    base: Option<(reqwest::Url, usize)>,
    /// Whether a numeric id's rendered text is its URL exactly as the parser would write it
    /// (see [`UrlRenderer::verbatim`]).
    verbatim: bool,
}

impl UrlRenderer {
    pub fn new(template: Template) -> Self {
        let base = Self::fixed_prefix(&template);
        let verbatim = base.is_some() && Self::renders_verbatim(&template);
        Self {
            template,
            base,
            verbatim,
        }
    }

    /// True when numeric ids give URLs the parser leaves as they are, with no credentials, query
    /// or fragment. Digits never change how a URL parses, so two samples of different lengths
    /// stand for every number.
    fn renders_verbatim(template: &Template) -> bool {
        [Id::Num(1), Id::Num(12_345_678_901)].iter().all(|id| {
            let text = template.render(id);
            reqwest::Url::parse(&text).is_ok_and(|url| {
                url.as_str() == text
                    && url.username().is_empty()
                    && url.password().is_none()
                    && url.query().is_none()
                    && url.fragment().is_none()
            })
        })
    }

    /// The URL for `id` as text, when it is a number and the template renders verbatim: what
    /// parsing would give, for a fraction of the cost (no copy of the base, no path re-encoding).
    /// None means: use [`UrlRenderer::url`].
    pub fn verbatim(&self, id: &Id) -> Option<String> {
        (self.verbatim && matches!(id, Id::Num(_))).then(|| self.template.render(id))
    }

    /// Scheme, host and port every URL of the template shares, when the id comes after them.
    pub fn base(&self) -> Option<&reqwest::Url> {
        self.base.as_ref().map(|(url, _)| url)
    }

    /// The parsed base, if the text before the first placeholder covers scheme, host and port.
    fn fixed_prefix(template: &Template) -> Option<(reqwest::Url, usize)> {
        let prefix = template.leading_literal()?;
        let sample = reqwest::Url::parse(&template.render(&Id::Num(1))).ok()?;
        let before_path = &sample[..url::Position::BeforePath];
        // The raw text must spell scheme and host exactly as the parsed URL does (no default port,
        // no upper case, nothing the parser normalises), and the path must start right after.
        // Compared before any slicing: IDNA respells some hosts shorter (`ｈ` is three bytes, its
        // `h` one), so the parsed length can fall inside a character of the raw text.
        let after = prefix.strip_prefix(before_path)?;
        let path_starts = matches!(after.chars().next(), None | Some('/' | '?' | '#'));
        if !path_starts || sample.cannot_be_a_base() {
            return None;
        }
        let prefix_len = before_path.len();
        Some((sample, prefix_len))
    }

    /// The URL for `id`, or why it does not parse.
    pub fn url(&self, id: &Id) -> Result<reqwest::Url, url::ParseError> {
        if self.template.is_dot_segment(id) {
            // Refused rather than sent to the path the parser would resolve it to.
            return Err(url::ParseError::RelativeUrlWithoutBase);
        }
        let text = self.template.render(id);
        let Some((base, prefix_len)) = &self.base else {
            return reqwest::Url::parse(&text);
        };
        // Parsing drops C0 controls and spaces at the end of a URL (the WHATWG URL standard trims
        // them); the setters below would keep them, escaped.
        let text = text.trim_end_matches(|c: char| c <= ' ');
        let rest = text.get(*prefix_len..).unwrap_or("");
        let (rest, fragment) = match rest.split_once('#') {
            Some((rest, fragment)) => (rest, Some(fragment)),
            None => (rest, None),
        };
        let (path, query) = match rest.split_once('?') {
            Some((path, query)) => (path, Some(query)),
            None => (rest, None),
        };
        let mut url = base.clone();
        url.set_path(path);
        url.set_query(query);
        url.set_fragment(fragment);
        Ok(url)
    }

    /// The template text with `id` filled in, unparsed (for messages).
    pub fn render(&self, id: &Id) -> String {
        self.template.render(id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_renderer_gives_what_parsing_the_whole_url_gives() {
        let templates = [
            "http://127.0.0.1:8080/api/v2/pokemon/{}/",
            "https://pokeapi.co/api/v2/pokemon/{:03}?lang=en&x={id}#top",
            "http://h/a b/{}/%41?q=a b",
            "http://h/{}",
            "http://h:80/x?{}",
            "http://h{}.example/x",
            "http://user:pw@h/x/{}",
            "HTTP://H/x/{}",
            "http://h/./a/../{}",
        ];
        for text in templates {
            let renderer = UrlRenderer::new(Template::parse(text).unwrap());
            for id in [0, 7, 25, 151, 123456].map(Id::Num) {
                let expected =
                    reqwest::Url::parse(&Template::parse(text).unwrap().render(&id)).unwrap();
                assert_eq!(renderer.url(&id).unwrap(), expected, "{text} with {id}");
            }
        }
        assert!(
            UrlRenderer::new(Template::parse("http://h{}.example/x").unwrap())
                .base
                .is_none()
        );
    }

    #[test]
    fn a_dot_segment_id_in_the_path_is_refused_not_resolved_away() {
        // Found by the property test: parsing `http://h/.` gives `http://h/`, another resource.
        let renderer = UrlRenderer::new(Template::parse_url("http://h/{}").unwrap());
        for id in [".", ".."] {
            assert!(renderer.url(&Id::from_line(id)).is_err(), "{id}");
        }
        assert!(renderer.url(&Id::from_line(".a")).is_ok());
    }

    #[test]
    fn a_host_the_parser_respells_shorter_is_parsed_whole() {
        // Found by a property: slicing the raw text at the parsed prefix's length panicked
        // inside the multi-byte `ｈ` (IDNA maps it to `h`) and a soft hyphen (IDNA drops it).
        for text in ["http://ｈｈ/{}", "http://ｈ{}/", "http://a\u{ad}b/x/{}"] {
            let renderer = UrlRenderer::new(Template::parse_url(text).unwrap());
            assert!(renderer.base().is_none(), "{text}");
            let id = Id::Num(7);
            let expected = reqwest::Url::parse(&renderer.render(&id)).unwrap();
            assert_eq!(renderer.url(&id).unwrap(), expected, "{text}");
        }
    }

    #[test]
    fn what_parsing_trims_off_the_end_the_renderer_trims_too() {
        // Found by a property: a trailing space or control character, from the template or a
        // `--raw` text id, was escaped into the path (`/x/1%20`) where parsing drops it (`/x/1`).
        let cases = [
            ("http://h/x/{} ", Id::Num(1)),
            ("http://h/x/{}?q=1\t", Id::Num(1)),
            ("http://h/x/{}", Id::from_line("a\u{1}")),
            ("http://h/x#{}", Id::from_line("a\0")),
        ];
        for (text, id) in cases {
            let renderer = UrlRenderer::new(Template::parse_url_with(text, true).unwrap());
            assert!(renderer.base().is_some(), "{text}");
            let expected = reqwest::Url::parse(&renderer.render(&id)).unwrap();
            assert_eq!(renderer.url(&id).unwrap(), expected, "{text} with {id:?}");
        }
    }

    #[test]
    fn verbatim_text_is_the_parsed_url_or_nothing() {
        let plain = [
            "http://127.0.0.1:8080/api/v2/pokemon/{}/",
            "http://h/{:05}.json",
            "https://pokeapi.co/api/v2/pokemon/{id}",
        ];
        for text in plain {
            let renderer = UrlRenderer::new(Template::parse(text).unwrap());
            for id in [0, 7, 151, 123_456_789].map(Id::Num) {
                let parsed = renderer.url(&id).unwrap();
                assert_eq!(renderer.verbatim(&id).as_deref(), Some(parsed.as_str()));
            }
            assert_eq!(renderer.verbatim(&Id::from_line("pikachu")), None);
        }
        // Anything parsing would rewrite, redact or split goes the parsed way.
        let parsed_only = [
            "http://h/a b/{}",
            "http://h:80/x/{}",
            "HTTP://H/x/{}",
            "http://h/./a/../{}",
            "http://user:pw@h/x/{}",
            "http://h/x/{}?lang=en",
            "http://h/x/{}#top",
            "http://h{}.example/x",
        ];
        for text in parsed_only {
            let renderer = UrlRenderer::new(Template::parse(text).unwrap());
            assert_eq!(renderer.verbatim(&Id::Num(7)), None, "{text}");
        }
    }
}

#[cfg(test)]
mod properties;
