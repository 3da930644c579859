//! Limits per host, beside the run's global `-c` and `--rate`: at most `--host-concurrency`
//! requests in flight to one host, and request starts to one host paced at `--host-rate`.
//! They matter once a crawl follows links to other hosts: the global limits would let one host
//! take everything.

use std::sync::Arc;

use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// One host's limits, made with its entry; free when none is set.
#[derive(Debug)]
pub(crate) struct Limits {
    slots: Option<Arc<Semaphore>>,
    rate: Option<DefaultDirectRateLimiter>,
}

/// A request's place at its host, held until its body has been read.
#[derive(Debug)]
pub(crate) struct HostSlot {
    _permit: Option<OwnedSemaphorePermit>,
}

impl HostSlot {
    /// No place held: no limit asked for one.
    pub(crate) const FREE: HostSlot = HostSlot { _permit: None };
}

impl Limits {
    /// At most `concurrency` in flight (None or 0: no limit), starts paced by `rate`.
    pub(crate) fn new(concurrency: Option<usize>, rate: Option<Quota>) -> Self {
        Self {
            slots: concurrency
                .filter(|n| *n > 0)
                .map(|n| Arc::new(Semaphore::new(n))),
            rate: rate.map(RateLimiter::direct),
        }
    }

    /// Waits for the host's rate; whether it had to wait.
    pub(crate) async fn pace(&self) -> bool {
        let Some(rate) = &self.rate else {
            return false;
        };
        if rate.check().is_ok() {
            return false;
        }
        rate.until_ready().await;
        true
    }

    /// Waits for a free slot at the host; the slot, and whether it had to wait.
    pub(crate) async fn slot(&self) -> (HostSlot, bool) {
        let Some(semaphore) = &self.slots else {
            return (HostSlot::FREE, false);
        };
        if let Ok(permit) = Arc::clone(semaphore).try_acquire_owned() {
            return (
                HostSlot {
                    _permit: Some(permit),
                },
                false,
            );
        }
        let slot = HostSlot {
            _permit: Arc::clone(semaphore).acquire_owned().await.ok(),
        };
        (slot, true)
    }
}
