//! Push-back per host: a 429 or 503, or a rate limit header saying nothing is left, pauses every
//! request to that host until the server's time is up (capped by `--max-retry-wait`), since the
//! next requests would only draw more 429s. After a 429 or 503 pause the host's request starts
//! are paced by an AIMD limit (four fifths of what the server accepted, climbing back in ten
//! seconds), so the burst that drew the 429 is not repeated. The rule and its reasons are in
//! docs/reliability.md, "Push-back: the rule per host"; `--no-backoff` turns it off.

mod host;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use reqwest::header::{HeaderMap, HeaderName};

use self::host::{Admit, Host, WINDOW};

/// The pause when a 429 or 503 does not say how long (curl waits a second before a retry).
const DEFAULT_PAUSE: Duration = Duration::from_secs(1);

/// The run's side of the push-back: whether any host paused, the counts, and what every host
/// accepted. Each host's own state is its [`Paused`], in its entry of the host table.
#[derive(Debug)]
pub(crate) struct Pushback {
    /// Whether any host ever paused: until then a request pays one atomic load, no lock.
    any: AtomicBool,
    /// False with `--no-backoff`: no host is ever paused.
    enabled: bool,
    cap: Duration,
    pauses: AtomicU64,
    longest_us: AtomicU64,
    /// What the tallies' seconds and the run's accepted rate count from.
    epoch: Instant,
    /// Requests of every host accepted so far: a host's first push-back reads its rate from
    /// here (the run's hosts together, averaged over the run: see docs/reliability.md).
    accepted: AtomicU64,
}

/// One host's pause and limit; None until it pushes back.
#[derive(Debug, Default)]
pub(crate) struct Paused(Mutex<Option<Host>>);

/// What an answer asks of its host's push-back state.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub(crate) struct Noted {
    /// An accepted answer to count in the host's tally (some host has paused).
    pub(crate) tally: bool,
    /// A pause this long (capped), and whether it lowers the host's rate.
    pub(crate) pause: Option<(Duration, bool)>,
}

impl Noted {
    /// Whether the host's entry is needed at all: not for an accepted answer before any pause.
    pub(crate) fn touches_host(&self) -> bool {
        self.tally || self.pause.is_some()
    }
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

impl Pushback {
    /// `enabled` false (`--no-backoff`): no host is ever paused or limited.
    pub(crate) fn new(cap: Duration, enabled: bool) -> Self {
        Self {
            any: AtomicBool::new(false),
            enabled,
            cap,
            pauses: AtomicU64::new(0),
            longest_us: AtomicU64::new(0),
            epoch: Instant::now(),
            accepted: AtomicU64::new(0),
        }
    }

    /// Whether any host ever paused (one atomic load).
    pub(crate) fn any(&self) -> bool {
        self.any.load(Ordering::Relaxed)
    }

    /// Waits while `host` is paused, then for its limit's next start; whether it had to wait.
    pub(crate) async fn wait(&self, host: &Paused) -> bool {
        if !self.any() {
            return false;
        }
        let mut waited = false;
        loop {
            let admit = match host.0.lock() {
                Ok(mut state) => match state.as_mut() {
                    Some(state) => state.admit(Instant::now()),
                    None => return waited,
                },
                Err(_) => return waited,
            };
            // Asked again after the wait: a push-back or a slower limit may have come meanwhile,
            // and a limit that doubles must not hand out its slots at the rate it had.
            match admit {
                Admit::Go => return waited,
                Admit::Later(at) => {
                    waited = true;
                    tokio::time::sleep_until(at.into()).await
                }
            }
        }
    }

    /// Reads a response: a 429 or 503 pauses its host for its `Retry-After` (or a second) and
    /// lowers its rate, a rate limit at zero (`quota_spent`, see [`is_remaining`]) pauses it for
    /// its reset; any other answer counts as accepted, what the next push-back's rate is set
    /// from. What the host's own state takes is left to [`Pushback::apply`], so an answer that
    /// asks nothing of it never looks its host up.
    pub(crate) fn note(
        &self,
        status: u16,
        retry_after: Option<Duration>,
        headers: &HeaderMap,
        quota_spent: bool,
    ) -> Noted {
        let mut noted = Noted::default();
        if !self.enabled {
            return noted;
        }
        let (pause, decrease) = match status {
            429 | 503 => (Some(retry_after.unwrap_or(DEFAULT_PAUSE)), true),
            _ => {
                self.accepted.fetch_add(1, Ordering::Relaxed);
                noted.tally = self.any();
                if !quota_spent {
                    return noted;
                }
                (exhausted_until_reset(headers), false)
            }
        };
        noted.pause = pause
            .filter(|p| !p.is_zero())
            .map(|pause| (pause.min(self.cap), decrease));
        noted
    }

    /// Applies what [`Pushback::note`] read to `host`, for a request started at `sent`.
    pub(crate) fn apply(&self, host: &Paused, noted: Noted, sent: Instant) {
        if noted.tally {
            self.accepted(host, sent);
        }
        if let Some((pause, decrease)) = noted.pause {
            self.pause(host, pause, decrease);
        }
    }

    /// An accepted answer from `host` to a request started at `sent`, once a host paused.
    fn accepted(&self, host: &Paused, sent: Instant) {
        let second = sent.saturating_duration_since(self.epoch).as_secs();
        if let Ok(mut state) = host.0.lock() {
            if let Some(state) = state.as_mut() {
                state.accepted(sent, second);
            }
        }
    }

    /// Pauses `host` for `pause` (already capped), lowering its rate when `decrease`.
    fn pause(&self, host: &Paused, pause: Duration, decrease: bool) {
        let Ok(mut guard) = host.0.lock() else {
            return;
        };
        let now = Instant::now();
        let end = now + pause;
        let at = now.saturating_duration_since(self.epoch);
        let state = guard.get_or_insert_with(|| Host::new(now));
        // One pause per push-back, however many in-flight requests bring the news.
        let new = state.until <= now;
        if end > state.until {
            state.until = end;
        }
        if new {
            state.pauses += 1;
            if decrease {
                // Its own count once it covers a second; before, the run's rate so far, over
                // a second at least (a limit that refused a burst is spent for its window,
                // seldom shorter than a second).
                let accepted = match now.saturating_duration_since(state.since) >= WINDOW {
                    true => state.tally.last_second(at),
                    false => {
                        let all = self.accepted.load(Ordering::Relaxed) as f64;
                        all / at.as_secs_f64().max(WINDOW.as_secs_f64())
                    }
                };
                state.decrease(now, end, accepted);
            }
        } else if decrease && state.pending.is_none() && state.limit.is_some_and(|l| l.since < end)
        {
            // A longer pause for the same push-back: the climb starts at its end (a pending
            // decrease starts at the pause's end anyway).
            if let Some(limit) = &mut state.limit {
                limit.since = end;
            }
            state.next = end;
        }
        drop(guard);
        self.any.store(true, Ordering::Relaxed);
        if new {
            self.pauses.fetch_add(1, Ordering::Relaxed);
        }
        let us = u64::try_from(pause.as_micros()).unwrap_or(u64::MAX);
        self.longest_us.fetch_max(us, Ordering::Relaxed);
    }

    /// The counts, the settled rate read from the host that paused most often among `hosts`.
    pub(crate) fn counts<'a>(&self, hosts: impl Iterator<Item = &'a Paused>) -> PushbackCounts {
        let now = Instant::now();
        let mut busiest: Option<(u64, Option<f64>)> = None;
        for host in hosts {
            let Ok(state) = host.0.lock() else { continue };
            if let Some(state) = state.as_ref() {
                if busiest.is_none_or(|(pauses, _)| state.pauses > pauses) {
                    busiest = Some((state.pauses, state.rate(now)));
                }
            }
        }
        PushbackCounts {
            pauses: self.pauses.load(Ordering::Relaxed),
            longest: Duration::from_micros(self.longest_us.load(Ordering::Relaxed)),
            settled_rate: busiest.and_then(|(_, rate)| rate),
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
    use super::host::*;
    use super::*;
    use reqwest::header::HeaderValue;

    /// A run's push-back and its one host, driven as the host table drives them.
    struct One {
        pushback: Pushback,
        h: Paused,
    }

    impl One {
        fn new(cap: Duration, enabled: bool) -> Self {
            Self {
                pushback: Pushback::new(cap, enabled),
                h: Paused::default(),
            }
        }

        fn note(
            &self,
            _host: &str,
            status: u16,
            sent: Instant,
            retry_after: Option<Duration>,
            headers: &HeaderMap,
            quota_spent: bool,
        ) {
            let noted = self
                .pushback
                .note(status, retry_after, headers, quota_spent);
            if noted.touches_host() {
                self.pushback.apply(&self.h, noted, sent);
            }
        }

        fn counts(&self) -> PushbackCounts {
            self.pushback.counts(std::iter::once(&self.h))
        }
    }

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
        let pushback = One::new(Duration::from_secs(5), true);
        let none = HeaderMap::new();
        let sent = Instant::now();
        pushback.note("h", 200, sent, None, &none, false);
        assert_eq!(pushback.counts().pauses, 0);
        pushback.note(
            "h",
            429,
            sent,
            Some(Duration::from_secs(3600)),
            &none,
            false,
        );
        assert_eq!(pushback.counts().longest, Duration::from_secs(5));
        assert_eq!(pushback.counts().pauses, 1);
    }

    #[test]
    fn no_backoff_never_pauses_nor_counts() {
        let pushback = One::new(Duration::from_secs(5), false);
        let none = HeaderMap::new();
        let sent = Instant::now();
        pushback.note("h", 200, sent, None, &none, false);
        pushback.note("h", 429, sent, Some(Duration::from_secs(1)), &none, false);
        assert_eq!(pushback.counts().pauses, 0);
        assert!(!pushback.pushback.any.load(Ordering::Relaxed));
        assert_eq!(pushback.pushback.accepted.load(Ordering::Relaxed), 0);
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

    /// A push-back at `now` pausing `host` until `end`, the host having accepted `accepted`.
    fn push_back(host: &mut Host, now: Instant, end: Instant, accepted: f64) {
        host.until = end;
        host.decrease(now, end, accepted);
    }

    #[test]
    fn the_tally_counts_by_second_and_reads_the_last_one() {
        let mut tally = Tally::default();
        for _ in 0..20 {
            tally.count(0);
        }
        // Within the first second, what it has.
        assert_eq!(tally.last_second(secs(0.5)), 20.0);
        for _ in 0..10 {
            tally.count(1);
        }
        // A quarter into second 1: its 10 and three quarters of second 0's 20.
        assert!((tally.last_second(secs(1.25)) - 25.0).abs() < 1e-6);
        // Second 2 takes second 0's slot; a late answer to a start in second 0 is dropped.
        tally.count(2);
        tally.count(0);
        assert_eq!(tally.in_second(2), 1.0);
        assert_eq!(tally.in_second(0), 0.0);
        assert!((tally.last_second(secs(2.5)) - 6.0).abs() < 1e-6);
        // Nothing counted for a while: nothing in the last second.
        assert_eq!(tally.last_second(secs(9.0)), 0.0);
    }

    #[test]
    fn with_nothing_accepted_the_first_push_back_starts_slow_and_doubles() {
        let t0 = Instant::now();
        let mut host = Host::new(t0);
        let end = t0 + secs(1.0);
        push_back(&mut host, t0, end, 0.0);
        assert!(matches!(host.admit(t0), Admit::Later(at) if at == end));
        let limit = host.settled().expect("a limit");
        assert_eq!(limit.growth, Growth::Doubling);
        assert!((limit.at(end) - FIRST_RATE).abs() < 1e-9);
        assert!((limit.at(end + secs(3.0)) - 8.0 * FIRST_RATE).abs() < 1e-9);
        // Demand of 1000/s gets far fewer in the first seconds after the pause.
        let started = drive(&mut host, end, 3.0, 1000.0);
        assert!((3..=12).contains(&started), "{started}");
    }

    #[test]
    fn a_push_back_sets_four_fifths_of_what_was_accepted_and_climbs_back_in_ten_seconds() {
        let t0 = Instant::now();
        let mut host = Host::new(t0);
        // A limit of 40/s in force, of which the server took 25 over the last second.
        host.limit = Some(Limit {
            base: 40.0,
            since: t0,
            growth: Growth::Adding(1.0),
        });
        let end = t0 + secs(1.0);
        push_back(&mut host, t0, end, 25.0);
        let limit = host.settled().expect("a limit");
        assert!((limit.at(end) - 20.0).abs() < 1e-9, "{limit:?}");
        assert!(
            (limit.at(end + secs(10.0)) - 25.0).abs() < 1e-9,
            "{limit:?}"
        );
        // Demand at 100/s: the host is held to the limit, about 20 a second.
        let started = drive(&mut host, end, 2.0, 100.0);
        assert!((38..=46).contains(&started), "{started}");
        // Accepted more than the limit allowed (a measure that overcounts): the limit rules.
        let mut other = Host::new(t0);
        other.limit = Some(Limit {
            base: 10.0,
            since: t0,
            growth: Growth::Adding(0.0),
        });
        push_back(&mut other, t0, end, 500.0);
        let limit = other.settled().expect("a limit");
        assert!((limit.at(end) - 8.0).abs() < 1e-9, "{limit:?}");
    }

    #[test]
    fn a_first_push_back_counts_what_the_run_accepted_and_what_was_in_flight() {
        let pushback = One::new(Duration::from_secs(5), true);
        let none = HeaderMap::new();
        let before = Instant::now();
        for _ in 0..12 {
            pushback.note("h", 200, before, None, &none, false);
        }
        pushback.note("h", 429, before, Some(Duration::from_secs(1)), &none, false);
        // Answers to requests that were out at the push-back count; those started after do not.
        for _ in 0..8 {
            pushback.note("h", 200, before, None, &none, false);
        }
        let after = Instant::now() + secs(0.5);
        for _ in 0..30 {
            pushback.note("h", 200, after, None, &none, false);
        }
        let rate = pushback.counts().settled_rate.expect("a rate");
        // Four fifths of 20, and climbing by 2.5 % of that a second from the pause's end.
        assert!((rate - 16.0).abs() < 0.1, "{rate}");
        let hosts = pushback.h.0.lock().expect("not poisoned");
        let pending = hosts.as_ref().and_then(|h| h.pending).expect("pending");
        assert_eq!(pending.accepted, 20.0);
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
        let pushback = One::new(Duration::from_secs(5), true);
        let none = HeaderMap::new();
        let sent = Instant::now();
        for _ in 0..10 {
            pushback.note("h", 429, sent, Some(Duration::from_secs(1)), &none, false);
        }
        let counts = pushback.counts();
        assert_eq!(counts.pauses, 1);
        assert!(counts
            .settled_rate
            .is_some_and(|r| (r - FIRST_RATE).abs() < 1e-9));
        // A spent quota pauses without a limit.
        let quota = One::new(Duration::from_secs(5), true);
        let mut headers = HeaderMap::new();
        headers.insert("ratelimit-remaining", HeaderValue::from_static("0"));
        headers.insert("ratelimit-reset", HeaderValue::from_static("1"));
        quota.note("h", 200, Instant::now(), None, &headers, true);
        assert_eq!(quota.counts().pauses, 1);
        let hosts = quota.h.0.lock().expect("not poisoned");
        assert!(hosts.as_ref().is_some_and(|h| h.limit.is_none()));
    }
}
