//! Adaptive throttling (`--auto-throttle [TARGET]`): Scrapy's AutoThrottle rule, per host. A
//! server that slows down under load answers later; spacing request starts by its latency over
//! a target concurrency keeps about TARGET requests in flight at it, fewer as it slows, without
//! a rate the user has to guess.
//!
//! The rule, for each answer from a host (latency = request sent to response head, the record's
//! ttfb): `target = latency / TARGET`; `delay = max(target, (delay + target) / 2)`, so the delay
//! rises at once to a slower answer and falls by halves; an answer that is not 2xx (or 304) never
//! lowers it, since a fast error says nothing of what a real answer costs; clamped to
//! `[0, 60 s]`. The delay is a minimum spacing of request starts to the host, on top of `-c` and
//! `--rate`, which stay caps.
//!
//! The default TARGET is Scrapy's 1.0, not spider-rs' 2.0: the flag is asked for to be polite,
//! and one request in flight at a host on average is what Scrapy's users know; a higher target
//! is one number away. The delay starts at zero, as spider-rs', not at Scrapy's 5 s: the first
//! answers set it (the rule takes a zero delay straight to `latency / TARGET`), so a short run
//! is not spent waiting for a guess; the cost is that the first `-c` requests go out together.

use std::sync::Mutex;
use std::time::{Duration, Instant};

/// The largest delay (Scrapy's `AUTOTHROTTLE_MAX_DELAY`).
pub(crate) const MAX_DELAY: Duration = Duration::from_secs(60);
/// Weight of the newest latency in the mean the report shows (spider-rs' EMA).
const ALPHA: f64 = 0.15;

/// The run's throttle: the concurrency it aims at. Each host's spacing is its [`Spacing`], in
/// its entry of the host table.
#[derive(Debug)]
pub(crate) struct Throttle {
    target: f64,
}

/// One host's spacing.
#[derive(Debug, Default)]
pub(crate) struct Spacing(Mutex<Slot>);

/// One host's spacing, under its lock.
#[derive(Debug, Default)]
struct Slot {
    delay: Duration,
    /// The earliest next start.
    next: Option<Instant>,
    /// Mean latency of the answers that could lower the delay, for the report.
    latency: Option<f64>,
    answers: u64,
    /// Whether the throttle ever saw this host (a start or an answer).
    seen: bool,
}

/// Where the throttle of the busiest host ended: its delay, and the concurrency that gives
/// (latency / delay; None while the delay is zero).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct ThrottleCounts {
    pub delay: Duration,
    pub concurrency: Option<f64>,
}

/// The next delay after an answer with `latency`: Scrapy's rule.
pub(crate) fn next_delay(old: Duration, latency: Duration, target: f64, ok: bool) -> Duration {
    let aim = latency.as_secs_f64() / target;
    let mut new = aim.max((old.as_secs_f64() + aim) / 2.0);
    if !ok {
        new = new.max(old.as_secs_f64());
    }
    Duration::try_from_secs_f64(new)
        .unwrap_or(MAX_DELAY)
        .min(MAX_DELAY)
}

impl Throttle {
    /// `target`: requests in flight per host to aim at (positive; the command line checks).
    pub(crate) fn new(target: f64) -> Self {
        Self { target }
    }

    /// Waits until a request to `host` may start, and takes that start; whether it had to wait.
    pub(crate) async fn wait(&self, host: &Spacing) -> bool {
        let mut waited = false;
        loop {
            let now = Instant::now();
            let later = match host.0.lock() {
                Ok(mut slot) => {
                    slot.seen = true;
                    match slot.next {
                        Some(next) if next > now => Some(next),
                        _ => {
                            slot.next = Some(now + slot.delay);
                            None
                        }
                    }
                }
                Err(_) => None,
            };
            // Asked again after the wait: the delay may have changed meanwhile.
            match later {
                None => return waited,
                Some(at) => {
                    waited = true;
                    tokio::time::sleep_until(at.into()).await
                }
            }
        }
    }

    /// Reads an answer from `host`: its latency and status.
    pub(crate) fn note(&self, host: &Spacing, latency: Duration, status: u16) {
        let ok = matches!(status, 200..=299 | 304);
        let Ok(mut slot) = host.0.lock() else {
            return;
        };
        slot.seen = true;
        let old = slot.delay;
        slot.delay = next_delay(old, latency, self.target, ok);
        // A longer delay holds the next start back now; a shorter one waits for the next start.
        let delay = slot.delay;
        if let Some(next) = slot.next.as_mut() {
            if delay > old {
                *next += delay - old;
            }
        }
        slot.answers += 1;
        if ok {
            let sample = latency.as_secs_f64();
            slot.latency = Some(match slot.latency {
                Some(mean) => mean + ALPHA * (sample - mean),
                None => sample,
            });
        }
    }

    /// The busiest of `hosts`' delay and the concurrency it converged to; None when the
    /// throttle saw none.
    pub(crate) fn counts<'a>(
        &self,
        hosts: impl Iterator<Item = &'a Spacing>,
    ) -> Option<ThrottleCounts> {
        let mut busiest: Option<(u64, ThrottleCounts)> = None;
        for host in hosts {
            let Ok(slot) = host.0.lock() else { continue };
            if !slot.seen || busiest.is_some_and(|(answers, _)| slot.answers < answers) {
                continue;
            }
            let seconds = slot.delay.as_secs_f64();
            let counts = ThrottleCounts {
                delay: slot.delay,
                concurrency: slot
                    .latency
                    .filter(|_| seconds > 0.0)
                    .map(|latency| latency / seconds),
            };
            busiest = Some((slot.answers, counts));
        }
        busiest.map(|(_, counts)| counts)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn the_delay_rises_at_once_and_falls_by_halves() {
        // From zero, the first answer sets latency / target.
        assert_eq!(next_delay(ms(0), ms(200), 2.0, true), ms(100));
        // A slower answer: straight up.
        assert_eq!(next_delay(ms(100), ms(800), 2.0, true), ms(400));
        // A faster one: half way down.
        assert_eq!(next_delay(ms(400), ms(200), 2.0, true), ms(250));
        assert_eq!(next_delay(ms(250), ms(200), 2.0, true), ms(175));
        // Repeated, it converges on latency / target.
        let mut delay = ms(5000);
        for _ in 0..30 {
            delay = next_delay(delay, ms(200), 2.0, true);
        }
        assert!(delay.abs_diff(ms(100)) < ms(1), "{delay:?}");
    }

    #[test]
    fn an_error_never_lowers_the_delay_and_the_delay_is_clamped() {
        assert_eq!(next_delay(ms(400), ms(1), 1.0, false), ms(400));
        // But it may raise it.
        assert_eq!(next_delay(ms(100), ms(900), 1.0, false), ms(900));
        assert_eq!(
            next_delay(ms(0), Duration::from_secs(3600), 1.0, true),
            MAX_DELAY
        );
        assert_eq!(next_delay(ms(0), ms(0), 1.0, true), ms(0));
    }

    #[test]
    fn the_report_names_the_busiest_host_and_its_concurrency() {
        let throttle = Throttle::new(2.0);
        let (a, b) = (Spacing::default(), Spacing::default());
        assert_eq!(throttle.counts([&a, &b].into_iter()), None);
        for _ in 0..40 {
            throttle.note(&a, ms(200), 200);
        }
        throttle.note(&b, ms(10), 200);
        throttle.note(&a, ms(1), 500);
        let counts = throttle.counts([&a, &b].into_iter()).expect("counts");
        assert!(counts.delay.abs_diff(ms(100)) < ms(1), "{counts:?}");
        let concurrency = counts.concurrency.expect("a concurrency");
        assert!((concurrency - 2.0).abs() < 0.05, "{concurrency}");
    }

    #[tokio::test]
    async fn starts_are_spaced_by_the_delay() {
        let throttle = Throttle::new(1.0);
        let (h, other) = (Spacing::default(), Spacing::default());
        throttle.note(&h, ms(30), 200);
        let t0 = Instant::now();
        for _ in 0..4 {
            throttle.wait(&h).await;
        }
        // The first start is free, each next one at least 30 ms later (a sleep is never short).
        let spent = t0.elapsed();
        assert!(spent >= ms(90) && spent < ms(2000), "{spent:?}");
        // Another host is not held.
        let t1 = Instant::now();
        throttle.wait(&other).await;
        assert!(t1.elapsed() < ms(30));
    }
}
