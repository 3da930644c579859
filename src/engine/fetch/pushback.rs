//! A host that pushes back pauses every request to it, not only the one it answered: a 429 or a
//! 503, or a rate-limit header saying nothing is left (`RateLimit-Remaining: 0` with its
//! `RateLimit-Reset`, and the `X-RateLimit-*` forms), holds the run's requests to that host
//! until the server's time is up (capped by `--max-retry-wait`), instead of spending more 429s.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use reqwest::header::{HeaderMap, HeaderName};

/// The pause when a 429 or 503 does not say how long (curl waits a second before a retry).
const DEFAULT_PAUSE: Duration = Duration::from_secs(1);

/// Pauses per host, shared by a run's requests.
#[derive(Debug)]
pub(crate) struct Pushback {
    /// Whether any host ever paused: until then a request pays one atomic load, no lock.
    any: AtomicBool,
    until: Mutex<HashMap<String, Instant>>,
    cap: Duration,
    pauses: AtomicU64,
    longest_us: AtomicU64,
}

/// How often hosts pushed back, and the longest pause.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PushbackCounts {
    pub pauses: u64,
    pub longest: Duration,
}

impl Pushback {
    pub(crate) fn new(cap: Duration) -> Self {
        Self {
            any: AtomicBool::new(false),
            until: Mutex::new(HashMap::new()),
            cap,
            pauses: AtomicU64::new(0),
            longest_us: AtomicU64::new(0),
        }
    }

    /// Waits while `host` is paused.
    pub(crate) async fn wait(&self, host: &str) {
        if !self.any.load(Ordering::Relaxed) {
            return;
        }
        let until = self
            .until
            .lock()
            .ok()
            .and_then(|until| until.get(host).copied());
        if let Some(until) = until.filter(|u| *u > Instant::now()) {
            tokio::time::sleep_until(until.into()).await;
        }
    }

    /// Reads a response from `host`: a 429 or 503 pauses the host for its `Retry-After` (or a
    /// second), a rate limit at zero (`quota_spent`, see [`is_remaining`]) for its reset.
    pub(crate) fn note(
        &self,
        host: &str,
        status: u16,
        retry_after: Option<Duration>,
        headers: &HeaderMap,
        quota_spent: bool,
    ) {
        let pause = match status {
            429 | 503 => Some(retry_after.unwrap_or(DEFAULT_PAUSE)),
            _ if quota_spent => exhausted_until_reset(headers),
            _ => None,
        };
        if let Some(pause) = pause.filter(|p| !p.is_zero()) {
            self.pause(host, pause.min(self.cap));
        }
    }

    fn pause(&self, host: &str, pause: Duration) {
        let Ok(mut until) = self.until.lock() else {
            return;
        };
        let end = Instant::now() + pause;
        let entry = until.entry(host.to_owned()).or_insert(end);
        // One pause per push-back, however many in-flight requests bring the news.
        let new = *entry <= Instant::now() || *entry == end;
        if end > *entry {
            *entry = end;
        }
        drop(until);
        self.any.store(true, Ordering::Relaxed);
        if new {
            self.pauses.fetch_add(1, Ordering::Relaxed);
        }
        let us = u64::try_from(pause.as_micros()).unwrap_or(u64::MAX);
        self.longest_us.fetch_max(us, Ordering::Relaxed);
    }

    pub(crate) fn counts(&self) -> PushbackCounts {
        PushbackCounts {
            pauses: self.pauses.load(Ordering::Relaxed),
            longest: Duration::from_micros(self.longest_us.load(Ordering::Relaxed)),
        }
    }
}

// Names made once: looking a header up by text parses the name first, on every response.
const REMAINING: [HeaderName; 2] = [
    HeaderName::from_static("ratelimit-remaining"),
    HeaderName::from_static("x-ratelimit-remaining"),
];
const RESET: [HeaderName; 2] = [
    HeaderName::from_static("ratelimit-reset"),
    HeaderName::from_static("x-ratelimit-reset"),
];

/// Whether `name` counts the requests left in a rate limit's window.
pub(crate) fn is_remaining(name: &HeaderName) -> bool {
    REMAINING.contains(name)
}

/// With no request left in the window (`RateLimit-Remaining: 0`), how long until the reset.
fn exhausted_until_reset(headers: &HeaderMap) -> Option<Duration> {
    let number = |names: &[HeaderName; 2]| {
        names
            .iter()
            .find_map(|n| headers.get(n))
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
    };
    let remaining = number(&REMAINING)?;
    if remaining > 0 {
        return None;
    }
    let reset = number(&RESET)?;
    // The draft standard gives seconds from now; GitHub's X- form a Unix time.
    const UNIX_TIME: u64 = 1_000_000_000;
    if reset >= UNIX_TIME {
        let now = SystemTime::now().duration_since(UNIX_EPOCH).ok()?.as_secs();
        return Some(Duration::from_secs(reset.saturating_sub(now)));
    }
    Some(Duration::from_secs(reset))
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::HeaderValue;

    #[test]
    fn a_rate_limit_at_zero_waits_for_its_reset() {
        let mut headers = HeaderMap::new();
        assert_eq!(exhausted_until_reset(&headers), None);
        headers.insert("ratelimit-remaining", HeaderValue::from_static("0"));
        headers.insert("ratelimit-reset", HeaderValue::from_static("7"));
        assert_eq!(
            exhausted_until_reset(&headers),
            Some(Duration::from_secs(7))
        );
        headers.insert("ratelimit-remaining", HeaderValue::from_static("3"));
        assert_eq!(exhausted_until_reset(&headers), None);
        let mut github = HeaderMap::new();
        github.insert("x-ratelimit-remaining", HeaderValue::from_static("0"));
        let soon = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs())
            + 30;
        github.insert("x-ratelimit-reset", HeaderValue::from(soon));
        let wait = exhausted_until_reset(&github).expect("a wait");
        assert!(wait <= Duration::from_secs(30) && wait >= Duration::from_secs(28));
        github.insert("x-ratelimit-reset", HeaderValue::from_static("soon"));
        assert_eq!(exhausted_until_reset(&github), None);
    }

    #[test]
    fn many_answers_of_one_push_back_are_one_pause_capped() {
        let pushback = Pushback::new(Duration::from_secs(5));
        let none = HeaderMap::new();
        pushback.note("h", 200, None, &none, false);
        assert_eq!(pushback.counts().pauses, 0);
        pushback.note("h", 429, Some(Duration::from_secs(3600)), &none, false);
        assert_eq!(pushback.counts().longest, Duration::from_secs(5));
        assert_eq!(pushback.counts().pauses, 1);
    }
}
