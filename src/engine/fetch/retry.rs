//! When to try a request again and how long to wait first.
//!
//! Transient failures (connect errors, timeouts, a body cut short, 408/429/500/502/503/504) are
//! retried with exponential backoff and full jitter; a server's `Retry-After` (seconds or an HTTP
//! date) wins over the backoff, capped so one server cannot park a run for hours. Everything else
//! (other 4xx, a body over the cap, non-JSON) is final: retrying cannot change it. The policy
//! itself, how many and how patiently, is part of the job's options (`engine::options`).

use std::time::{Duration, SystemTime};

use reqwest::header::{HeaderMap, RETRY_AFTER};

pub use crate::engine::options::RetryPolicy;

/// Whether an attempt's failure is worth another try.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transience {
    /// Final: retrying cannot help.
    Permanent,
    /// May succeed later; the server may have said when.
    Transient { retry_after: Option<Duration> },
}

impl RetryPolicy {
    /// The wait before retry number `retry` (1-based), or None when the attempts are used up.
    pub fn wait_before(&self, retry: u32, transience: Transience) -> Option<Duration> {
        let Transience::Transient { retry_after } = transience else {
            return None;
        };
        if retry > self.retries {
            return None;
        }
        Some(match retry_after {
            Some(wait) => wait.min(self.max_retry_wait),
            None => self.full_jitter(retry),
        })
    }

    /// A uniform draw from `0..=min(cap, base * 2^(retry-1))` (AWS's "full jitter").
    fn full_jitter(&self, retry: u32) -> Duration {
        let ceiling = self.backoff_ceiling(retry);
        let nanos = u64::try_from(ceiling.as_nanos()).unwrap_or(u64::MAX);
        Duration::from_nanos(fastrand::u64(0..=nanos))
    }

    /// `min(cap, base * 2^(retry-1))`, without overflow.
    pub fn backoff_ceiling(&self, retry: u32) -> Duration {
        let factor = 2u32.saturating_pow(retry.saturating_sub(1));
        self.base.saturating_mul(factor).min(self.cap)
    }
}

/// Statuses that say "try again later": 408, 429, 500, 502, 503, 504.
pub fn is_transient_status(status: u16) -> bool {
    matches!(status, 408 | 429 | 500 | 502 | 503 | 504)
}

/// The `Retry-After` header as a wait from now: delay-seconds or an HTTP date; None if absent or
/// malformed (then the backoff applies).
pub fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let text = headers.get(RETRY_AFTER)?.to_str().ok()?.trim();
    if let Ok(seconds) = text.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let when = httpdate::parse_http_date(text).ok()?;
    Some(
        when.duration_since(SystemTime::now())
            .unwrap_or(Duration::ZERO),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::HeaderValue;

    #[test]
    fn backoff_doubles_up_to_the_cap_and_jitter_stays_below_it() {
        let p = RetryPolicy {
            retries: 20,
            ..RetryPolicy::default()
        };
        assert_eq!(p.backoff_ceiling(1), Duration::from_millis(100));
        assert_eq!(p.backoff_ceiling(2), Duration::from_millis(200));
        assert_eq!(p.backoff_ceiling(4), Duration::from_millis(800));
        assert_eq!(p.backoff_ceiling(20), Duration::from_secs(30));
        for retry in 1..=20 {
            let wait = p.wait_before(retry, Transience::Transient { retry_after: None });
            assert!(wait.unwrap() <= p.backoff_ceiling(retry));
        }
    }

    #[test]
    fn retries_run_out_and_permanent_failures_never_retry() {
        let p = RetryPolicy::default();
        let transient = Transience::Transient { retry_after: None };
        assert!(p.wait_before(2, transient).is_some());
        assert!(p.wait_before(3, transient).is_none());
        assert!(p.wait_before(1, Transience::Permanent).is_none());
    }

    #[test]
    fn retry_after_is_honoured_and_capped() {
        let p = RetryPolicy::default();
        let said = |d| Transience::Transient {
            retry_after: Some(Duration::from_secs(d)),
        };
        assert_eq!(p.wait_before(1, said(1)), Some(Duration::from_secs(1)));
        assert_eq!(p.wait_before(1, said(3600)), Some(Duration::from_secs(60)));
    }

    #[test]
    fn parses_retry_after_forms() {
        let mut h = HeaderMap::new();
        assert_eq!(retry_after(&h), None);
        h.insert(RETRY_AFTER, HeaderValue::from_static("7"));
        assert_eq!(retry_after(&h), Some(Duration::from_secs(7)));
        h.insert(
            RETRY_AFTER,
            HeaderValue::from_static("Wed, 21 Oct 2015 07:28:00 GMT"),
        );
        assert_eq!(retry_after(&h), Some(Duration::ZERO));
        let later = httpdate::fmt_http_date(SystemTime::now() + Duration::from_secs(120));
        h.insert(RETRY_AFTER, HeaderValue::from_str(&later).unwrap());
        let wait = retry_after(&h).unwrap();
        assert!(wait > Duration::from_secs(100) && wait <= Duration::from_secs(120));
        h.insert(RETRY_AFTER, HeaderValue::from_static("soon"));
        assert_eq!(retry_after(&h), None);
        assert!(is_transient_status(503) && is_transient_status(429));
        assert!(!is_transient_status(404) && !is_transient_status(501));
    }
}

#[cfg(test)]
mod properties;
