//! The rate limiter wiring: one governor GCRA limiter shared by every request of a run.
//!
//! The dispatcher waits here before it starts a request, so a rate is a promise about requests
//! per second across the whole run, not per worker (the hey `-q` confusion). With `--cache`
//! the request waits here itself, once the cache has said it must be sent: a hit makes no
//! request, so it takes no place in the rate ([`Pacer::admit`]).

use std::num::NonZeroU32;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use governor::{DefaultDirectRateLimiter, RateLimiter};

use crate::plan::rate::Rate;

/// Paces request starts; unlimited when no rate was given.
#[derive(Debug)]
pub struct Pacer {
    limiter: Option<DefaultDirectRateLimiter>,
    /// The rate's interval and burst, for the open-loop schedule.
    schedule: Option<(Duration, u64)>,
    /// Starts admitted by [`Pacer::admit`] so far: the next one's place on the schedule.
    admitted: AtomicU64,
}

impl Pacer {
    pub fn new(rate: Option<Rate>, burst: NonZeroU32) -> Self {
        Self {
            limiter: rate.map(|r| RateLimiter::direct(r.quota(burst))),
            schedule: rate.map(|r| (r.interval(), u64::from(burst.get()))),
            admitted: AtomicU64::new(0),
        }
    }

    /// True when no rate was given: every start may go at once.
    pub fn is_unlimited(&self) -> bool {
        self.limiter.is_none()
    }

    /// Resolves when the next request may start. Cancel-safe: dropping the future takes no permit.
    pub async fn ready(&self) {
        if let Some(limiter) = &self.limiter {
            limiter.until_ready().await;
        }
    }

    /// When start number `k` (from 0) was due, from the start of the run: the k-th at k/R,
    /// the first `burst` at once, as GCRA admits them; None without a rate.
    pub fn due(&self, k: u64) -> Option<Duration> {
        let (interval, burst) = self.schedule?;
        let k = u32::try_from(k.saturating_sub(burst - 1)).unwrap_or(u32::MAX);
        Some(interval.saturating_mul(k))
    }

    /// Waits for the next start, as [`Pacer::ready`], and counts it: when it was due on the
    /// schedule, for a request that waits here itself rather than at the dispatcher.
    pub async fn admit(&self) -> Option<Duration> {
        self.ready().await;
        self.due(self.admitted.fetch_add(1, Ordering::Relaxed))
    }

    /// Starts the schedule of [`Pacer::admit`] again (after a warm-up, which is counted nowhere).
    pub fn restart_schedule(&self) {
        self.admitted.store(0, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn admitted_starts_take_their_places_on_the_schedule_in_turn() {
        let rate: Rate = "20/s".parse().expect("rate");
        let pacer = Pacer::new(Some(rate), NonZeroU32::new(2).expect("burst"));
        // The burst goes at once; then one every 50 ms.
        assert_eq!(pacer.due(0), Some(Duration::ZERO));
        assert_eq!(pacer.due(1), Some(Duration::ZERO));
        assert_eq!(pacer.due(3), Some(Duration::from_millis(100)));
        assert_eq!(pacer.admit().await, Some(Duration::ZERO));
        assert_eq!(pacer.admit().await, Some(Duration::ZERO));
        assert_eq!(pacer.admit().await, Some(Duration::from_millis(50)));
        pacer.restart_schedule();
        assert_eq!(pacer.admit().await, Some(Duration::ZERO));
        let unlimited = Pacer::new(None, NonZeroU32::MIN);
        assert_eq!(unlimited.admit().await, None);
    }
}
