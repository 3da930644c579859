//! What servers say of their rate limits, read from every response head for the rate search
//! (`--find-rate`): the lowest rate any of them advertises and whether a quota was said to be
//! spent. Off unless a job asks for it ([`ClientOptions::watch_limits`]): a run without it pays
//! one branch a response. The client keeps one watch for all the runs started on it
//! ([`Client::limits`]).
//!
//! Three generations of headers are deployed at once, and all are read:
//! - `X-RateLimit-Limit: 10` (GitHub's, Twitter's) and `RateLimit-Limit: 10` (IETF drafts 00-06)
//!   name a quota without its window: read as per second, the highest rate it could mean (a
//!   longer window shows as `RateLimit-Remaining: 0` or a 429, which stop a step anyway);
//! - `RateLimit-Limit: 10, 10;w=1, 1000;w=3600` (drafts 00-04) and `RateLimit-Policy: 10;w=1`
//!   (drafts 05-06) add policies, quota over window `w` seconds;
//! - `RateLimit-Policy: "burst";q=100;w=60, "day";q=1000;w=86400` (drafts 07 and later,
//!   Structured Fields): quota `q` over window `w`.
//!
//! The advertised rate is the lowest of them all: a client never above it keeps every quota.
//!
//! [`ClientOptions::watch_limits`]: crate::engine::ClientOptions::watch_limits
//! [`Client::limits`]: crate::engine::Client::limits

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;

use reqwest::header::{HeaderMap, HeaderName};

const LIMIT: HeaderName = HeaderName::from_static("ratelimit-limit");
const X_LIMIT: HeaderName = HeaderName::from_static("x-ratelimit-limit");
const POLICY: HeaderName = HeaderName::from_static("ratelimit-policy");
const REMAINING: [HeaderName; 2] = [
    HeaderName::from_static("ratelimit-remaining"),
    HeaderName::from_static("x-ratelimit-remaining"),
];

/// A rate a server advertised, and where it said so.
#[derive(Debug, Clone, PartialEq)]
pub struct Advertised {
    /// Requests per second.
    pub per_second: f64,
    /// The header as received, e.g. `X-RateLimit-Limit: 10`.
    pub said: String,
}

/// What the responses of the runs on one client said of rate limits.
#[derive(Debug, Default)]
pub struct LimitWatch {
    lowest: Mutex<Option<Advertised>>,
    spent: AtomicBool,
}

impl LimitWatch {
    /// Reads one response head.
    pub(crate) fn note(&self, headers: &HeaderMap) {
        for name in &REMAINING {
            if headers.get(name).is_some_and(|v| v.as_bytes() == b"0") {
                self.spent.store(true, Ordering::Relaxed);
            }
        }
        for (name, read) in [
            (&LIMIT, limit_rate as fn(&str) -> Option<f64>),
            (&X_LIMIT, limit_rate),
            (&POLICY, policy_rate),
        ] {
            for value in headers.get_all(name) {
                let Ok(text) = value.to_str() else { continue };
                let Some(per_second) = read(text).filter(|r| *r > 0.0) else {
                    continue;
                };
                self.offer(Advertised {
                    per_second,
                    said: format!("{}: {}", display_name(name), text.trim()),
                });
            }
        }
    }

    fn offer(&self, advertised: Advertised) {
        if let Ok(mut lowest) = self.lowest.lock() {
            if lowest
                .as_ref()
                .is_none_or(|l| advertised.per_second < l.per_second)
            {
                *lowest = Some(advertised);
            }
        }
    }

    /// The lowest rate advertised so far, if any.
    pub fn advertised(&self) -> Option<Advertised> {
        self.lowest.lock().ok().and_then(|l| l.clone())
    }

    /// Whether a response said no request was left in its quota since the last call.
    pub fn take_spent(&self) -> bool {
        self.spent.swap(false, Ordering::Relaxed)
    }
}

/// The header's name as the drafts write it.
fn display_name(name: &HeaderName) -> &'static str {
    if *name == X_LIMIT {
        "X-RateLimit-Limit"
    } else if *name == POLICY {
        "RateLimit-Policy"
    } else {
        "RateLimit-Limit"
    }
}

/// `RateLimit-Limit`/`X-RateLimit-Limit`: a quota (per second when no policy says otherwise),
/// then any policies (`10, 10;w=1, 1000;w=3600`); the lowest rate of them.
pub(crate) fn limit_rate(text: &str) -> Option<f64> {
    let mut items = text.split(',').map(str::trim);
    let quota: f64 = items.next()?.parse().ok()?;
    let policies: Vec<f64> = items.filter_map(policy_item).collect();
    if policies.is_empty() {
        return Some(quota);
    }
    policies.into_iter().reduce(f64::min)
}

/// `RateLimit-Policy`: comma-separated policies, `10;w=1` or `"name";q=10;w=1`; the lowest rate.
pub(crate) fn policy_rate(text: &str) -> Option<f64> {
    text.split(',').filter_map(policy_item).reduce(f64::min)
}

/// One policy's rate: its quota (a bare number first, or `q=`) over its window (`w=`, seconds;
/// one when absent).
fn policy_item(item: &str) -> Option<f64> {
    let mut parts = item.split(';').map(str::trim);
    let mut quota: Option<f64> = parts.next().and_then(|first| first.parse().ok());
    let mut window: f64 = 1.0;
    for param in parts {
        match param.split_once('=') {
            Some(("q", value)) => quota = value.trim().parse().ok(),
            Some(("w", value)) => window = value.trim().parse().ok()?,
            _ => {}
        }
    }
    let quota = quota.filter(|q| q.is_finite() && *q > 0.0)?;
    (window > 0.0 && window.is_finite()).then(|| quota / window)
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::HeaderValue;

    #[test]
    fn each_generation_of_headers_gives_its_rate() {
        assert_eq!(limit_rate("10"), Some(10.0));
        assert_eq!(
            limit_rate("100, 100;w=10, 1000;w=3600"),
            Some(1000.0 / 3600.0)
        );
        assert_eq!(limit_rate("soon"), None);
        assert_eq!(policy_rate("10;w=1"), Some(10.0));
        assert_eq!(
            policy_rate(r#""burst";q=100;w=60, "day";q=1000;w=86400"#),
            Some(1000.0 / 86400.0)
        );
        assert_eq!(policy_rate(r#""default";q=50"#), Some(50.0));
        assert_eq!(policy_rate(r#""nothing""#), None);
        assert_eq!(policy_rate("10;w=0"), None);
    }

    #[test]
    fn the_watch_keeps_the_lowest_rate_and_a_spent_quota() {
        let watch = LimitWatch::default();
        let mut headers = HeaderMap::new();
        headers.insert("x-ratelimit-limit", HeaderValue::from_static("10"));
        headers.insert("ratelimit-policy", HeaderValue::from_static("40;w=2"));
        watch.note(&headers);
        let lowest = watch.advertised().expect("a limit");
        assert_eq!(lowest.per_second, 10.0);
        assert_eq!(lowest.said, "X-RateLimit-Limit: 10");
        assert!(!watch.take_spent());
        let mut spent = HeaderMap::new();
        spent.insert("ratelimit-remaining", HeaderValue::from_static("0"));
        spent.insert("ratelimit-policy", HeaderValue::from_static("5;w=1"));
        watch.note(&spent);
        assert_eq!(watch.advertised().map(|a| a.per_second), Some(5.0));
        assert!(watch.take_spent());
        assert!(!watch.take_spent());
    }
}
