//! One pass over a response's head: a header field over the size limit, a rate limit said to
//! be spent, and the HTTP version that answered.

use reqwest::header::HeaderMap;

use crate::engine::host::pushback;
use crate::engine::options::head_limits;

/// What one pass over a response's head finds.
pub(super) struct HeadScan<'a> {
    /// The first header field over `head_limits::FIELD_BYTES`, and its size: hyper limits only
    /// the whole head; curl also limits each field, which a head of a few huge fields would pass.
    pub(super) oversized: Option<(&'a str, usize)>,
    /// A rate limit said nothing is left (the push-back reads its reset only then).
    pub(super) quota_spent: bool,
}

pub(super) fn scan_head(headers: &HeaderMap) -> HeadScan<'_> {
    let mut scan = HeadScan {
        oversized: None,
        quota_spent: false,
    };
    for (name, value) in headers {
        let bytes = name.as_str().len() + value.len();
        if bytes > head_limits::FIELD_BYTES && scan.oversized.is_none() {
            scan.oversized = Some((name.as_str(), bytes));
        }
        if value.as_bytes() == b"0" && pushback::is_remaining(name) {
            scan.quota_spent = true;
        }
    }
    scan
}

pub(super) fn http_version(version: reqwest::Version) -> &'static str {
    match version {
        reqwest::Version::HTTP_09 => "HTTP/0.9",
        reqwest::Version::HTTP_10 => "HTTP/1.0",
        reqwest::Version::HTTP_2 => "HTTP/2.0",
        reqwest::Version::HTTP_3 => "HTTP/3.0",
        _ => "HTTP/1.1",
    }
}
