//! What each request looks like beyond its URL: method, templated body and headers, and how a
//! redirect is followed without handing credentials to a host the user did not name.
//!
//! Redirects are followed here rather than by the HTTP client because the client's policy only
//! strips a fixed handful of headers on a cross-origin hop, so an `X-Api-Key` would travel to the
//! other host (the class of bug curl fixed in CVE-2018-1000007). Here every credential-like header
//! is dropped when the scheme, host or port changes, unless the user said `--location-trusted`.

use reqwest::header::{HeaderMap, HeaderName, HeaderValue, AUTHORIZATION, CONTENT_TYPE};
use reqwest::{Method, StatusCode, Url};

use crate::plan::ids::Id;
use crate::plan::template::Template;

/// A header whose value may carry the placeholder.
#[derive(Debug, Clone)]
pub enum HeaderTemplate {
    Fixed(HeaderValue),
    Templated(Template),
}

impl HeaderTemplate {
    /// A fixed value, or a template when the value holds a placeholder.
    pub fn new(value: &HeaderValue) -> Self {
        match value.to_str().ok().map(Template::parse) {
            Some(Ok(template)) => HeaderTemplate::Templated(template),
            // No placeholder (or not text): the same value for every request.
            _ => HeaderTemplate::Fixed(value.clone()),
        }
    }
}

/// Method, body and headers of every request of a job.
#[derive(Debug, Clone)]
pub struct RequestShape {
    pub method: Method,
    /// Sent with every request, placeholders filled in.
    pub body: Option<Template>,
    pub headers: Vec<(HeaderName, HeaderTemplate)>,
    /// Keep credentials on redirects to another origin (curl's `--location-trusted`; unsafe).
    pub location_trusted: bool,
}

/// A request body as given: sent as written, or JSON (which also asks for and says JSON).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Body {
    Raw(String),
    Json(String),
}

impl RequestShape {
    /// The shape of every request, the one rule for the CLI and the library: `method`, else GET,
    /// or POST with a body; a body's placeholder filled in (a text id JSON-escaped in a JSON
    /// body, which also sets Content-Type and Accept unless `headers` has them); a header value
    /// holding the placeholder filled in per id.
    pub fn new(
        method: Option<Method>,
        body: Option<Body>,
        mut headers: Vec<(HeaderName, HeaderValue)>,
        location_trusted: bool,
    ) -> Self {
        let body = body.map(|body| match body {
            Body::Raw(text) => Template::parse_body(&text, false),
            Body::Json(text) => {
                for name in [CONTENT_TYPE, reqwest::header::ACCEPT] {
                    if !headers.iter().any(|(n, _)| *n == name) {
                        headers.push((name, HeaderValue::from_static("application/json")));
                    }
                }
                Template::parse_body(&text, true)
            }
        });
        let method = method.unwrap_or(if body.is_some() {
            Method::POST
        } else {
            Method::GET
        });
        Self {
            method,
            body,
            headers: headers
                .iter()
                .map(|(n, v)| (n.clone(), HeaderTemplate::new(v)))
                .collect(),
            location_trusted,
        }
    }

    /// Whether the body or a header holds the placeholder: the request then varies by id even
    /// when its URL does not.
    pub fn varies(&self) -> bool {
        self.body.as_ref().is_some_and(Template::has_placeholder)
            || self
                .headers
                .iter()
                .any(|(_, value)| matches!(value, HeaderTemplate::Templated(_)))
    }
}

impl Default for RequestShape {
    fn default() -> Self {
        Self {
            method: Method::GET,
            body: None,
            headers: Vec::new(),
            location_trusted: false,
        }
    }
}

impl RequestShape {
    /// The headers for `id`; a value that becomes invalid once the id is in is left out.
    pub fn headers_for(&self, id: &Id) -> HeaderMap {
        let mut headers = HeaderMap::with_capacity(self.headers.len());
        for (name, value) in &self.headers {
            let value = match value {
                HeaderTemplate::Fixed(value) => value.clone(),
                HeaderTemplate::Templated(template) => {
                    match HeaderValue::from_str(&template.render(id)) {
                        Ok(mut value) => {
                            value.set_sensitive(is_credential(name));
                            value
                        }
                        Err(_) => continue,
                    }
                }
            };
            headers.append(name.clone(), value);
        }
        headers
    }

    /// The headers every request carries, when none depends on the id.
    pub fn fixed_headers(&self) -> Option<HeaderMap> {
        let fixed = self
            .headers
            .iter()
            .all(|(_, value)| matches!(value, HeaderTemplate::Fixed(_)));
        fixed.then(|| self.headers_for(&Id::Num(0)))
    }

    /// The body for `id`, if requests carry one.
    pub fn body_for(&self, id: &Id) -> Option<String> {
        self.body.as_ref().map(|t| t.render(id))
    }
}

/// Header names that carry secrets: dropped on a cross-origin redirect, never printed.
pub fn is_credential(name: &HeaderName) -> bool {
    const WORDS: [&str; 7] = [
        "auth", "token", "key", "secret", "session", "password", "cookie",
    ];
    let name = name.as_str();
    WORDS.iter().any(|w| name.contains(w))
}

/// Statuses that redirect, and whether the redirected request becomes a body-less GET (303
/// always; 301 and 302 after a POST, as browsers and curl do).
pub fn redirect_kind(status: StatusCode, method: &Method) -> Option<bool> {
    match status.as_u16() {
        303 => Some(true),
        301 | 302 => Some(method == Method::POST),
        307 | 308 => Some(false),
        _ => None,
    }
}

/// True when `a` and `b` differ in scheme, host or port.
pub fn cross_origin(a: &Url, b: &Url) -> bool {
    a.origin() != b.origin()
}

/// Prepares the next hop's headers: credentials dropped when the hop leaves the origin (unless
/// trusted), the body's type dropped when the body is.
pub fn headers_for_hop(
    headers: &mut HeaderMap,
    leaves_origin: bool,
    trusted: bool,
    drops_body: bool,
) {
    if leaves_origin && !trusted {
        let secret: Vec<HeaderName> = headers
            .keys()
            .filter(|n| is_credential(n))
            .cloned()
            .collect();
        for name in secret {
            headers.remove(&name);
        }
    }
    if drops_body {
        headers.remove(CONTENT_TYPE);
    }
}

/// The URL as it may be printed: a password in it and the values of secret-looking query
/// parameters (`api_key`, `token`, `key`, `secret`, ...) replaced by `<redacted>`. The request
/// itself is unchanged.
pub fn redact(url: &Url) -> String {
    let secret_query = url.query_pairs().any(|(k, _)| is_secret_param(&k));
    if url.password().is_none() && !secret_query {
        return url.as_str().to_owned();
    }
    let mut shown = url.clone();
    if shown.password().is_some() {
        let _ = shown.set_password(Some("REDACTED"));
    }
    if secret_query {
        let pairs: Vec<(String, String)> = url
            .query_pairs()
            .map(|(k, v)| {
                let v = if is_secret_param(&k) {
                    "REDACTED".into()
                } else {
                    v.into_owned()
                };
                (k.into_owned(), v)
            })
            .collect();
        shown.query_pairs_mut().clear().extend_pairs(pairs);
    }
    shown.as_str().replace("REDACTED", "<redacted>")
}

fn is_secret_param(name: &str) -> bool {
    let name = name.to_ascii_lowercase();
    [
        "key",
        "token",
        "secret",
        "password",
        "auth",
        "session",
        "signature",
    ]
    .iter()
    .any(|w| name.contains(w))
}

/// `Authorization` from the environment (`FETCHBENCH_AUTH`), so a token stays out of argv.
pub fn auth_from_env() -> Option<(HeaderName, HeaderValue)> {
    let value = std::env::var("FETCHBENCH_AUTH").ok()?;
    let mut value = HeaderValue::from_str(value.trim()).ok()?;
    value.set_sensitive(true);
    Some((AUTHORIZATION, value))
}

/// The rendered parts of one id's request, the same for every attempt.
pub(crate) struct Outgoing {
    pub(crate) headers: HeaderMap,
    pub(crate) body: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credential_like_names() {
        for name in [
            "authorization",
            "x-api-key",
            "private-token",
            "cookie",
            "x-session-id",
            "x-client-secret",
        ] {
            assert!(is_credential(&HeaderName::from_static(name)), "{name}");
        }
        for name in ["accept", "content-type", "x-request-id", "user-agent"] {
            assert!(!is_credential(&HeaderName::from_static(name)), "{name}");
        }
    }

    #[test]
    fn redacts_passwords_and_secret_parameters() {
        let url =
            Url::parse("https://user:hunter2@h.example/p/1?api_key=abc&page=2&token=t").unwrap();
        let shown = redact(&url);
        assert_eq!(
            shown,
            "https://user:<redacted>@h.example/p/1?api_key=<redacted>&page=2&token=<redacted>"
        );
        let plain = Url::parse("http://h/p?page=1").unwrap();
        assert_eq!(redact(&plain), "http://h/p?page=1");
    }

    #[test]
    fn cross_origin_hops_drop_credentials_only() {
        let mut headers = HeaderMap::new();
        headers.insert("x-api-key", HeaderValue::from_static("k"));
        headers.insert(AUTHORIZATION, HeaderValue::from_static("Bearer t"));
        headers.insert("accept", HeaderValue::from_static("application/json"));
        let mut same = headers.clone();
        headers_for_hop(&mut same, false, false, false);
        assert_eq!(same.len(), 3);
        let mut trusted = headers.clone();
        headers_for_hop(&mut trusted, true, true, false);
        assert_eq!(trusted.len(), 3);
        headers_for_hop(&mut headers, true, false, false);
        assert_eq!(
            headers.keys().map(|k| k.as_str()).collect::<Vec<_>>(),
            ["accept"]
        );
        let a = Url::parse("http://h:1/x").unwrap();
        assert!(cross_origin(&a, &Url::parse("http://h:2/x").unwrap()));
        assert!(cross_origin(&a, &Url::parse("https://h:1/x").unwrap()));
        assert!(!cross_origin(&a, &Url::parse("http://h:1/y").unwrap()));
    }
}

#[cfg(test)]
mod properties;
