//! The rate limiter wiring: one governor GCRA limiter shared by every request of a run.
//!
//! The dispatcher waits here before it starts a request, so a rate is a promise about requests
//! per second across the whole run, not per worker (the hey `-q` confusion).

use std::num::NonZeroU32;

use governor::{DefaultDirectRateLimiter, RateLimiter};

use crate::plan::rate::Rate;

/// Paces request starts; unlimited when no rate was given.
#[derive(Debug)]
pub struct Pacer {
    limiter: Option<DefaultDirectRateLimiter>,
}

impl Pacer {
    pub fn new(rate: Option<Rate>, burst: NonZeroU32) -> Self {
        Self {
            limiter: rate.map(|r| RateLimiter::direct(r.quota(burst))),
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
}
