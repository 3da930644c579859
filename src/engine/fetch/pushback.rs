//! A host that pushes back pauses every request to it, not only the one it answered: a 429 or a
//! 503, or a rate-limit header saying nothing is left (`RateLimit-Remaining: 0` with its
//! `RateLimit-Reset`, and the `X-RateLimit-*` forms), holds the run's requests to that host
//! until the server's time is up (capped by `--max-retry-wait`), instead of spending more 429s.
//!
//! Once a 429 or 503 pause ends, the host does not get the whole run back at once (that burst is
//! what drew the 429): its request starts are paced by an AIMD limit, as TCP paces a connection
//! after a loss (the notes' Crawlee doubles a fixed delay; spider-rs drops to one token per
//! `Retry-After`; both only ever slow down, so a run that was pushed back once crawls slowly to
//! its end). The rule, per host:
//! - **Multiplicative decrease.** Each 429/503 push-back halves the host's rate: the lower of
//!   the limit in force and the start rate seen over the last second. At the host's first
//!   push-back nothing was measured (counting before would cost every request), so the limit
//!   starts at 1 request/s and doubles every second (TCP's slow start) until the next push-back.
//! - **Additive increase.** After a halving, the rate climbs linearly from the pause's end, by
//!   10 % of the halved rate per second (at least 1 request/s per second): back to the rate that
//!   drew the 429 in about ten seconds, whatever the scale, where a fixed +1/s would take minutes
//!   on a host that takes thousands.
//! - **Back to unlimited** when the limit no longer holds anything back: it is twice the start
//!   rate seen over the last second (`-c`, `--rate` or the latency bind first), or above
//!   10 000 requests/s.
//!
//! A spent quota (`RateLimit-Remaining: 0`) pauses until its reset but lowers no rate: the
//! server said exactly when its window opens again. Until a host pushes back, a request pays
//! one atomic load here; after, a lock per request start.
//! `--no-backoff` turns all of this off: a 429 then delays only that request's own retry.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use reqwest::header::{HeaderMap, HeaderName};

/// The pause when a 429 or 503 does not say how long (curl waits a second before a retry).
const DEFAULT_PAUSE: Duration = Duration::from_secs(1);

/// Starts per second after a host's first push-back, before anything is known of what it takes.
const FIRST_RATE: f64 = 1.0;
/// The slowest a limit goes: one start every ten seconds.
const FLOOR: f64 = 0.1;
/// A limit above this holds nothing back on any server: lifted.
const CEILING: f64 = 10_000.0;
/// The additive increase per second, as a share of the rate set by the last decrease.
const CLIMB: f64 = 0.1;
/// Over how long the start rate is measured.
const WINDOW: Duration = Duration::from_secs(1);

/// Pauses and limits per host, shared by a run's requests.
#[derive(Debug)]
pub(crate) struct Pushback {
    /// Whether any host ever paused: until then a request pays one atomic load, no lock.
    any: AtomicBool,
    /// False with `--no-backoff`: no host is ever paused.
    enabled: bool,
    hosts: Mutex<HashMap<String, Host>>,
    cap: Duration,
    pauses: AtomicU64,
    longest_us: AtomicU64,
}

/// How often hosts pushed back, the longest pause, and the rate the busiest one settled on.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct PushbackCounts {
    pub pauses: u64,
    pub longest: Duration,
    /// Requests per second to the host that pushed back most often, as the run ended: its AIMD
    /// limit, or once that was lifted the start rate it ran at; None when no host pushed back.
    pub settled_rate: Option<f64>,
}

/// One host that pushed back.
#[derive(Debug)]
struct Host {
    /// The end of its pause.
    until: Instant,
    pauses: u64,
    /// None: unlimited (never decreased, or lifted).
    limit: Option<Limit>,
    /// The earliest next start under the limit.
    next: Instant,
    window: Window,
}

/// An AIMD rate: `base` starts per second at `since`, growing from there.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Limit {
    base: f64,
    since: Instant,
    growth: Growth,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Growth {
    /// Slow start: doubles every second.
    Doubling,
    /// Starts per second added every second.
    Adding(f64),
}

impl Limit {
    /// Starts per second allowed at `now`.
    fn at(&self, now: Instant) -> f64 {
        let t = now.saturating_duration_since(self.since).as_secs_f64();
        let rate = match self.growth {
            Growth::Doubling => self.base * 2f64.powf(t.min(64.0)),
            Growth::Adding(step) => self.base + step * t,
        };
        rate.min(CEILING * 2.0)
    }

    /// The limit after a push-back at `end` of its pause, from `reference` (the rate that drew
    /// it; None when nothing was measured).
    fn decreased(reference: Option<f64>, end: Instant) -> Self {
        match reference {
            None => Limit {
                base: FIRST_RATE,
                since: end,
                growth: Growth::Doubling,
            },
            Some(rate) => {
                let base = (rate / 2.0).max(FLOOR);
                Limit {
                    base,
                    since: end,
                    growth: Growth::Adding((base * CLIMB).max(1.0)),
                }
            }
        }
    }
}

/// Request starts counted over about a second.
#[derive(Debug, Clone, Copy)]
struct Window {
    start: Instant,
    count: u32,
    /// Starts per second over the last full window.
    last: Option<f64>,
}

impl Window {
    fn new(start: Instant) -> Self {
        Self {
            start,
            count: 0,
            last: None,
        }
    }

    fn count(&mut self, now: Instant) {
        self.close(now);
        self.count = self.count.saturating_add(1);
    }

    /// Ends the window in progress if it is a full one.
    fn close(&mut self, now: Instant) {
        let span = now.saturating_duration_since(self.start);
        if span >= WINDOW {
            self.last = Some(f64::from(self.count) / span.as_secs_f64());
            self.start = now;
            self.count = 0;
        }
    }
}

/// What a request start may do now.
enum Admit {
    Go,
    /// Ask again at this time (the pause's end, or the limit's next start).
    Later(Instant),
}

impl Host {
    fn new(until: Instant) -> Self {
        Self {
            until,
            pauses: 0,
            limit: None,
            next: until,
            window: Window::new(until),
        }
    }

    fn admit(&mut self, now: Instant) -> Admit {
        if self.until > now {
            return Admit::Later(self.until);
        }
        if let Some(limit) = self.limit {
            let rate = limit.at(now);
            self.window.close(now);
            let idle = match (limit.growth, self.window.last) {
                (Growth::Adding(_), Some(seen)) => rate >= 2.0 * seen,
                // While doubling, the rate outgrows any window's count: only the ceiling lifts.
                _ => false,
            };
            if rate >= CEILING || idle {
                self.limit = None;
            } else if self.next > now {
                return Admit::Later(self.next);
            } else {
                self.next = now + Duration::from_secs_f64(1.0 / rate);
            }
        }
        self.window.count(now);
        Admit::Go
    }

    /// A 429 or 503 paused the host until `end`: halve its rate from there.
    fn decrease(&mut self, now: Instant, end: Instant) {
        self.window.close(now);
        let limited = self.limit.map(|l| l.at(now));
        let seen = self.window.last;
        let reference = match (limited, seen) {
            (Some(limited), Some(seen)) => Some(limited.min(seen)),
            (limited, seen) => limited.or(seen),
        };
        self.limit = Some(Limit::decreased(reference, end));
        self.next = end;
        self.window = Window::new(end);
    }

    /// The rate it runs at: its limit, or once lifted what it was seen doing.
    fn rate(&self, now: Instant) -> Option<f64> {
        match self.limit {
            Some(limit) => Some(limit.at(now)),
            None => self.window.last,
        }
    }
}

impl Pushback {
    /// `enabled` false (`--no-backoff`): no host is ever paused or limited.
    pub(crate) fn new(cap: Duration, enabled: bool) -> Self {
        Self {
            any: AtomicBool::new(false),
            enabled,
            hosts: Mutex::new(HashMap::new()),
            cap,
            pauses: AtomicU64::new(0),
            longest_us: AtomicU64::new(0),
        }
    }

    /// Waits while `host` is paused, then for its limit's next start.
    pub(crate) async fn wait(&self, host: &str) {
        if !self.any.load(Ordering::Relaxed) {
            return;
        }
        loop {
            let admit = match self.hosts.lock() {
                Ok(mut hosts) => match hosts.get_mut(host) {
                    Some(state) => state.admit(Instant::now()),
                    None => return,
                },
                Err(_) => return,
            };
            // Asked again after the wait: a push-back or a slower limit may have come meanwhile,
            // and a limit that doubles must not hand out its slots at the rate it had.
            match admit {
                Admit::Go => return,
                Admit::Later(at) => tokio::time::sleep_until(at.into()).await,
            }
        }
    }

    /// Reads a response from `host`: a 429 or 503 pauses the host for its `Retry-After` (or a
    /// second) and lowers its rate, a rate limit at zero (`quota_spent`, see [`is_remaining`])
    /// pauses it for its reset.
    pub(crate) fn note(
        &self,
        host: &str,
        status: u16,
        retry_after: Option<Duration>,
        headers: &HeaderMap,
        quota_spent: bool,
    ) {
        let (pause, decrease) = match status {
            429 | 503 => (Some(retry_after.unwrap_or(DEFAULT_PAUSE)), true),
            _ if quota_spent => (exhausted_until_reset(headers), false),
            _ => return,
        };
        if !self.enabled {
            return;
        }
        if let Some(pause) = pause.filter(|p| !p.is_zero()) {
            self.pause(host, pause.min(self.cap), decrease);
        }
    }

    fn pause(&self, host: &str, pause: Duration, decrease: bool) {
        let Ok(mut hosts) = self.hosts.lock() else {
            return;
        };
        let now = Instant::now();
        let end = now + pause;
        let state = hosts
            .entry(host.to_owned())
            .or_insert_with(|| Host::new(now));
        // One pause per push-back, however many in-flight requests bring the news.
        let new = state.until <= now;
        if end > state.until {
            state.until = end;
        }
        if new {
            state.pauses += 1;
            if decrease {
                state.decrease(now, end);
            }
        } else if decrease && state.limit.is_some_and(|l| l.since < end) {
            // A longer Retry-After for the same push-back: the climb starts at its end.
            if let Some(limit) = &mut state.limit {
                limit.since = end;
            }
            state.next = end;
        }
        drop(hosts);
        self.any.store(true, Ordering::Relaxed);
        if new {
            self.pauses.fetch_add(1, Ordering::Relaxed);
        }
        let us = u64::try_from(pause.as_micros()).unwrap_or(u64::MAX);
        self.longest_us.fetch_max(us, Ordering::Relaxed);
    }

    pub(crate) fn counts(&self) -> PushbackCounts {
        let now = Instant::now();
        let settled_rate = self.hosts.lock().ok().and_then(|hosts| {
            hosts
                .values()
                .max_by_key(|h| h.pauses)
                .and_then(|h| h.rate(now))
        });
        PushbackCounts {
            pauses: self.pauses.load(Ordering::Relaxed),
            longest: Duration::from_micros(self.longest_us.load(Ordering::Relaxed)),
            settled_rate,
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
        let pushback = Pushback::new(Duration::from_secs(5), true);
        let none = HeaderMap::new();
        pushback.note("h", 200, None, &none, false);
        assert_eq!(pushback.counts().pauses, 0);
        pushback.note("h", 429, Some(Duration::from_secs(3600)), &none, false);
        assert_eq!(pushback.counts().longest, Duration::from_secs(5));
        assert_eq!(pushback.counts().pauses, 1);
    }

    #[test]
    fn no_backoff_never_pauses() {
        let pushback = Pushback::new(Duration::from_secs(5), false);
        pushback.note(
            "h",
            429,
            Some(Duration::from_secs(1)),
            &HeaderMap::new(),
            false,
        );
        assert_eq!(pushback.counts().pauses, 0);
        assert!(!pushback.any.load(Ordering::Relaxed));
    }

    fn secs(s: f64) -> Duration {
        Duration::from_secs_f64(s)
    }

    /// Starts `host` makes at `rate` per second from `from` for `span`, as many as it admits.
    fn drive(host: &mut Host, from: Instant, span: f64, rate: f64) -> u32 {
        let mut admitted = 0;
        let mut t = 0.0;
        while t < span {
            if let Admit::Go = host.admit(from + secs(t)) {
                admitted += 1;
            }
            t += 1.0 / rate;
        }
        admitted
    }

    #[test]
    fn the_first_push_back_starts_slow_and_doubles() {
        let t0 = Instant::now();
        let mut host = Host::new(t0);
        let end = t0 + secs(1.0);
        host.decrease(t0, end);
        host.until = end;
        assert!(matches!(host.admit(t0), Admit::Later(at) if at == end));
        let limit = host.limit.expect("a limit");
        assert_eq!(limit.growth, Growth::Doubling);
        assert!((limit.at(end) - FIRST_RATE).abs() < 1e-9);
        assert!((limit.at(end + secs(3.0)) - 8.0 * FIRST_RATE).abs() < 1e-9);
        // Demand of 1000/s gets far fewer in the first seconds after the pause.
        let started = drive(&mut host, end, 3.0, 1000.0);
        assert!((3..=12).contains(&started), "{started}");
    }

    #[test]
    fn a_later_push_back_halves_what_was_seen_and_climbs_linearly() {
        let t0 = Instant::now();
        let mut host = Host::new(t0);
        // Lifted, running at 40/s for two seconds.
        host.limit = None;
        drive(&mut host, t0, 2.0, 40.0);
        let now = t0 + secs(2.0);
        let end = now + secs(1.0);
        host.decrease(now, end);
        host.until = end;
        let limit = host.limit.expect("a limit");
        assert!((limit.at(end) - 20.0).abs() < 1.0, "{limit:?}");
        assert!(matches!(limit.growth, Growth::Adding(step) if (step - 2.0).abs() < 0.1));
        assert!((limit.at(end + secs(5.0)) - 30.0).abs() < 1.0);
        // Demand at 100/s: the host is held to the limit, about 20..25 a second.
        let started = drive(&mut host, end, 2.0, 100.0);
        assert!((38..=52).contains(&started), "{started}");
    }

    #[test]
    fn a_limit_that_holds_nothing_back_is_lifted() {
        let t0 = Instant::now();
        let mut host = Host::new(t0);
        host.limit = Some(Limit {
            base: 50.0,
            since: t0,
            growth: Growth::Adding(5.0),
        });
        // Demand of 10/s under a limit of 50/s and more: lifted after a full window.
        drive(&mut host, t0, 2.5, 10.0);
        assert_eq!(host.limit, None);
        assert!(host
            .rate(t0 + secs(2.5))
            .is_some_and(|r| (8.0..=12.0).contains(&r)));
        // Slow start is lifted by the ceiling only.
        host.limit = Some(Limit::decreased(None, t0));
        drive(&mut host, t0, 2.5, 10.0);
        assert!(host.limit.is_some());
        assert!(Limit::decreased(None, t0).at(t0 + secs(20.0)) >= CEILING);
    }

    #[test]
    fn one_push_back_brought_by_many_answers_decreases_once() {
        let pushback = Pushback::new(Duration::from_secs(5), true);
        let none = HeaderMap::new();
        for _ in 0..10 {
            pushback.note("h", 429, Some(Duration::from_secs(1)), &none, false);
        }
        let counts = pushback.counts();
        assert_eq!(counts.pauses, 1);
        assert!(counts
            .settled_rate
            .is_some_and(|r| (r - FIRST_RATE).abs() < 1e-9));
        // A spent quota pauses without a limit.
        let quota = Pushback::new(Duration::from_secs(5), true);
        let mut headers = HeaderMap::new();
        headers.insert("ratelimit-remaining", HeaderValue::from_static("0"));
        headers.insert("ratelimit-reset", HeaderValue::from_static("1"));
        quota.note("h", 200, None, &headers, true);
        assert_eq!(quota.counts().pauses, 1);
        let hosts = quota.hosts.lock().expect("not poisoned");
        assert!(hosts.get("h").is_some_and(|h| h.limit.is_none()));
    }
}
