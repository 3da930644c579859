//! Limits per host, beside the run's global `-c` and `--rate`: at most `--host-concurrency`
//! requests in flight to one host, and request starts to one host paced at `--host-rate`.
//! They matter once a crawl follows links to other hosts: the global limits would let one host
//! take everything.

use std::collections::HashMap;
use std::num::NonZeroU32;
use std::sync::{Arc, Mutex};

use governor::{DefaultKeyedRateLimiter, RateLimiter};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::plan::rate::Rate;

/// The per-host limits of a run; free when none is set.
#[derive(Debug)]
pub(crate) struct HostLimits {
    concurrency: Option<usize>,
    slots: Mutex<HashMap<String, Arc<Semaphore>>>,
    rate: Option<DefaultKeyedRateLimiter<String>>,
}

/// A request's place at its host, held until its body has been read.
pub(crate) struct HostSlot {
    _permit: Option<OwnedSemaphorePermit>,
}

impl HostLimits {
    pub(crate) fn new(concurrency: Option<usize>, rate: Option<Rate>) -> Self {
        Self {
            concurrency: concurrency.filter(|n| *n > 0),
            slots: Mutex::new(HashMap::new()),
            rate: rate.map(|r| RateLimiter::keyed(r.quota(NonZeroU32::MIN))),
        }
    }

    /// Waits for `host`'s rate; whether it had to wait.
    pub(crate) async fn pace(&self, host: &str) -> bool {
        let Some(rate) = &self.rate else {
            return false;
        };
        let host = host.to_owned();
        if rate.check_key(&host).is_ok() {
            return false;
        }
        rate.until_key_ready(&host).await;
        true
    }

    /// Waits for a free slot at `host`; the slot, and whether it had to wait.
    pub(crate) async fn slot(&self, host: &str) -> (HostSlot, bool) {
        let Some(limit) = self.concurrency else {
            return (HostSlot { _permit: None }, false);
        };
        let semaphore = match self.slots.lock() {
            Ok(mut slots) => Arc::clone(
                slots
                    .entry(host.to_owned())
                    .or_insert_with(|| Arc::new(Semaphore::new(limit))),
            ),
            Err(_) => return (HostSlot { _permit: None }, false),
        };
        if let Ok(permit) = Arc::clone(&semaphore).try_acquire_owned() {
            return (
                HostSlot {
                    _permit: Some(permit),
                },
                false,
            );
        }
        let slot = HostSlot {
            _permit: semaphore.acquire_owned().await.ok(),
        };
        (slot, true)
    }

    /// Whether any per-host limit is set.
    pub(crate) fn any(&self) -> bool {
        self.concurrency.is_some() || self.rate.is_some()
    }
}
