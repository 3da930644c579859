//! Templates: a URL, body or header with `{}` / `{id}` placeholders, optionally zero-padded
//! (`{:03}`).
//!
//! The template is parsed once into literal and placeholder pieces so rendering per id is a
//! single pass with no re-parsing. Any brace that is not one of the four placeholder forms stays
//! literal, so a JSON body needs no escaping. A text id (from a word list) is encoded for where
//! its placeholder sits: percent-encoded as a path segment or a query value in a URL, JSON-escaped
//! in a `--json` body, as it is elsewhere (or everywhere, with `--raw`).

use percent_encoding::{utf8_percent_encode, AsciiSet, CONTROLS};
use thiserror::Error;

use super::ids::Id;

/// Characters a text id may not carry as they are inside one path segment.
const PATH_SEGMENT: &AsciiSet = &CONTROLS
    .add(b' ')
    .add(b'"')
    .add(b'#')
    .add(b'<')
    .add(b'>')
    .add(b'?')
    .add(b'`')
    .add(b'{')
    .add(b'}')
    .add(b'/')
    .add(b'%')
    .add(b'\\')
    .add(b'^')
    .add(b'|');

/// Characters a text id may not carry as they are inside one query value.
const QUERY_VALUE: &AsciiSet = &PATH_SEGMENT
    .add(b'&')
    .add(b'=')
    .add(b'+')
    .add(b'\'')
    .add(b';');

/// How a text id is written where a placeholder sits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Place {
    /// As it is.
    Raw,
    /// Percent-encoded as one URL path segment.
    PathSegment,
    /// Percent-encoded as a URL query value.
    QueryValue,
    /// Escaped as the inside of a JSON string (the quotes around it are the user's).
    JsonString,
}

/// Why a URL template was refused.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum TemplateError {
    #[error("template has no placeholder: put `{{}}` (or `{{id}}`) where the id goes")]
    NoPlaceholder,
    #[error("not a valid URL once an id is filled in ({url}): {reason}")]
    InvalidUrl { url: String, reason: String },
    #[error("scheme `{0}` is not supported: use http:// or https://")]
    UnsupportedScheme(String),
    #[error("`{0}` has no scheme: add http:// or https:// (e.g. `http://{0}`)")]
    NoScheme(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Piece {
    Literal(String),
    /// The id: a number left-padded with zeros to at least `width` digits, a text encoded for `place`.
    Id {
        width: usize,
        place: Place,
    },
}

/// A parsed template; render it with [`Template::render_into`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Template {
    pieces: Vec<Piece>,
    source: String,
}

impl Template {
    /// Parses any text with placeholders; it need not be a URL (see [`Template::parse_url`]).
    /// Text ids are substituted as they are.
    pub fn parse(text: &str) -> Result<Self, TemplateError> {
        Self::parse_placed(text, |_| Place::Raw)
    }

    /// A request body: placeholders filled in (text ids JSON-escaped when `json`), and unlike a
    /// URL a body may have none, then it is the same for every id.
    pub fn parse_body(text: &str, json: bool) -> Self {
        let place = if json { Place::JsonString } else { Place::Raw };
        Self {
            pieces: split_pieces(text, |_| place),
            source: text.to_owned(),
        }
    }

    /// `place_at` says how a text id is written, given the literal text before its placeholder.
    fn parse_placed(text: &str, place_at: impl Fn(&str) -> Place) -> Result<Self, TemplateError> {
        let template = Self::from_pieces(text, place_at);
        if !template.has_placeholder() {
            return Err(TemplateError::NoPlaceholder);
        }
        Ok(template)
    }

    fn from_pieces(text: &str, place_at: impl Fn(&str) -> Place) -> Self {
        Self {
            pieces: split_pieces(text, place_at),
            source: text.to_owned(),
        }
    }

    /// Whether an id goes anywhere in it.
    pub fn has_placeholder(&self) -> bool {
        self.pieces.iter().any(|p| matches!(p, Piece::Id { .. }))
    }

    /// Parses a URL template and checks, before any I/O, that it renders to an http(s) URL.
    /// Text ids are percent-encoded for their place (path segment or query value) unless `raw`.
    pub fn parse_url_with(text: &str, raw: bool) -> Result<Self, TemplateError> {
        let template = Self::parse_url_or_fixed(text, raw)?;
        if !template.has_placeholder() {
            return Err(TemplateError::NoPlaceholder);
        }
        Ok(template)
    }

    /// As [`Template::parse_url_with`], but a URL without a placeholder is a template too: the
    /// one URL a crawl starts from.
    pub fn parse_url_or_fixed(text: &str, raw: bool) -> Result<Self, TemplateError> {
        let template = Self::from_pieces(text, |before| {
            if raw {
                Place::Raw
            } else if before.contains('?') {
                Place::QueryValue
            } else if before
                .split_once("://")
                .is_some_and(|(_, rest)| rest.contains('/'))
            {
                Place::PathSegment
            } else {
                Place::Raw
            }
        });
        // `example.com/{}` would be "a relative URL", and `localhost:8000/{}` a URL of scheme
        // `localhost`: both are a missing scheme to the user.
        if !text.contains("://") {
            return Err(TemplateError::NoScheme(text.to_owned()));
        }
        let sample = template.render(&Id::Num(1));
        let url = reqwest::Url::parse(&sample).map_err(|e| TemplateError::InvalidUrl {
            url: sample.clone(),
            reason: e.to_string(),
        })?;
        match url.scheme() {
            "http" | "https" => Ok(template),
            other => Err(TemplateError::UnsupportedScheme(other.to_owned())),
        }
    }

    /// The text before the first placeholder, if the template starts with one.
    pub(crate) fn leading_literal(&self) -> Option<&str> {
        match self.pieces.first() {
            Some(Piece::Literal(text)) => Some(text),
            _ => None,
        }
    }

    /// The text the template was parsed from.
    pub fn as_str(&self) -> &str {
        &self.source
    }

    /// Parses a URL template (see [`Template::parse_url_with`]), text ids percent-encoded.
    pub fn parse_url(text: &str) -> Result<Self, TemplateError> {
        Self::parse_url_with(text, false)
    }

    /// Appends the template with `id` filled in to `out` (reusing the caller's buffer).
    pub fn render_into(&self, id: &Id, out: &mut String) {
        for piece in &self.pieces {
            match piece {
                Piece::Literal(text) => out.push_str(text),
                Piece::Id { width, place } => write_id(out, id, *width, *place),
            }
        }
    }

    /// Whether `id` is a dot segment (`.` or `..`) where the template puts a path segment: the
    /// URL parser resolves it away (and `%2E` alike, as the URL standard says), so the request
    /// would go to another path than the one the id names.
    pub fn is_dot_segment(&self, id: &Id) -> bool {
        matches!(id, Id::Text(text) if matches!(&**text, "." | ".."))
            && self.pieces.iter().any(|p| {
                matches!(
                    p,
                    Piece::Id {
                        place: Place::PathSegment,
                        ..
                    }
                )
            })
    }

    /// The template with `id` filled in.
    pub fn render(&self, id: &Id) -> String {
        let mut out = String::with_capacity(self.source.len() + 8);
        self.render_into(id, &mut out);
        out
    }
}

impl std::str::FromStr for Template {
    type Err = TemplateError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse_url(s)
    }
}

fn write_id(out: &mut String, id: &Id, width: usize, place: Place) {
    match id {
        // Writing to a String cannot fail.
        Id::Num(n) => {
            // itoa, not `write!`: the formatter's padding machinery costs more than the request's
            // URL is worth on the raw path.
            let mut digits = itoa::Buffer::new();
            let digits = digits.format(*n);
            out.extend(std::iter::repeat_n('0', width.saturating_sub(digits.len())));
            out.push_str(digits);
        }
        Id::Text(text) => match place {
            Place::Raw => out.push_str(text),
            Place::PathSegment => out.extend(utf8_percent_encode(text, PATH_SEGMENT)),
            Place::QueryValue => out.extend(utf8_percent_encode(text, QUERY_VALUE)),
            Place::JsonString => {
                let quoted = serde_json::Value::from(&**text).to_string();
                out.push_str(&quoted[1..quoted.len() - 1]);
            }
        },
    }
}

fn split_pieces(text: &str, place_at: impl Fn(&str) -> Place) -> Vec<Piece> {
    let mut pieces = Vec::new();
    let mut literal = String::new();
    let mut before = String::new();
    let mut rest = text;
    while let Some(open) = rest.find('{') {
        let after = &rest[open + 1..];
        let placeholder = after
            .find('}')
            .and_then(|close| placeholder_width(&after[..close]).map(|w| (close, w)));
        match placeholder {
            Some((close, width)) => {
                literal.push_str(&rest[..open]);
                before.push_str(&literal);
                if !literal.is_empty() {
                    pieces.push(Piece::Literal(std::mem::take(&mut literal)));
                }
                let place = place_at(&before);
                pieces.push(Piece::Id { width, place });
                rest = &after[close + 1..];
            }
            None => {
                literal.push_str(&rest[..=open]);
                rest = after;
            }
        }
    }
    literal.push_str(rest);
    if !literal.is_empty() {
        pieces.push(Piece::Literal(literal));
    }
    pieces
}

/// The zero-pad width if `inner` (the text between braces) is a placeholder: ``, `id`, `:0N`, `id:0N`.
fn placeholder_width(inner: &str) -> Option<usize> {
    let spec = inner.strip_prefix("id").unwrap_or(inner);
    if spec.is_empty() {
        return Some(0);
    }
    let digits = spec.strip_prefix(":0")?;
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) || digits.len() > 2 {
        return None;
    }
    digits.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_every_placeholder_form() {
        let t = Template::parse("http://h/{}/{id}/{:03}/{id:05}").unwrap();
        assert_eq!(t.render(&Id::Num(7)), "http://h/7/7/007/00007");
        assert_eq!(t.render(&Id::Num(1234)), "http://h/1234/1234/1234/01234");
    }

    #[test]
    fn other_braces_stay_literal() {
        let t = Template::parse(r#"{"id":{},"tag":"{x}","n":{id:02}}"#).unwrap();
        assert_eq!(t.render(&Id::Num(5)), r#"{"id":5,"tag":"{x}","n":05}"#);
        let t = Template::parse("a{b{}c}").unwrap();
        assert_eq!(t.render(&Id::Num(1)), "a{b1c}");
    }

    #[test]
    fn text_ids_are_encoded_for_their_place() {
        let word = Id::from_line("mr mime/&#é");
        let t = Template::parse_url("http://h/p/{}?q={}&r=1").unwrap();
        assert_eq!(
            t.render(&word),
            "http://h/p/mr%20mime%2F&%23%C3%A9?q=mr%20mime%2F%26%23%C3%A9&r=1"
        );
        let raw = Template::parse_url_with("http://h/{}", true).unwrap();
        assert_eq!(raw.render(&Id::from_line("a/b")), "http://h/a/b");
        let json = Template::parse_body(r#"{"name":"{}","n":{id:03}}"#, true);
        assert_eq!(
            json.render(&Id::from_line(r#"say "hi""#)),
            r#"{"name":"say \"hi\"","n":{id:03}}"#.replace("{id:03}", r#"say \"hi\""#)
        );
        assert_eq!(json.render(&Id::Num(7)), r#"{"name":"7","n":007}"#);
    }

    #[test]
    fn refuses_template_without_placeholder() {
        assert_eq!(
            Template::parse_url("http://h/pokemon/1"),
            Err(TemplateError::NoPlaceholder)
        );
    }

    #[test]
    fn refuses_other_schemes_and_bad_urls() {
        assert_eq!(
            Template::parse_url("ftp://h/{}"),
            Err(TemplateError::UnsupportedScheme("ftp".into()))
        );
        assert!(matches!(
            Template::parse_url("http://[::1/{}"),
            Err(TemplateError::InvalidUrl { .. })
        ));
        assert_eq!(
            Template::parse_url("no-scheme/{}"),
            Err(TemplateError::NoScheme("no-scheme/{}".into()))
        );
        assert_eq!(
            Template::parse_url("localhost:8000/{}"),
            Err(TemplateError::NoScheme("localhost:8000/{}".into()))
        );
        assert!(Template::parse_url("https://pokeapi.co/api/v2/pokemon/{}/").is_ok());
    }
}

#[cfg(test)]
mod properties;
