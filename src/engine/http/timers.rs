//! The attempts' `--timeout` timers, kept and reused across requests.
//!
//! A new tokio timer costs an allocation, a registration in the timer wheel under the driver's
//! lock on its first wait, and a deregistration under the same lock when dropped, for every
//! attempt. A timer that is still registered and is moved to a later deadline is one
//! compare-and-swap: tokio notices the later deadline only when the earlier one comes round.
//! Every attempt's deadline is later than those before it (the same timeout from a later
//! start), so a reused timer almost always takes that path.

use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::time::{Instant, Sleep};

/// Timers not in use, at most one per attempt that ran at the same time.
#[derive(Debug, Default)]
pub(crate) struct Timers {
    free: Mutex<Vec<Pin<Box<Sleep>>>>,
}

/// A running attempt's timer, back to its pool when dropped.
#[derive(Debug)]
pub(crate) struct Deadline {
    /// Always Some until dropped.
    sleep: Option<Pin<Box<Sleep>>>,
    home: Arc<Timers>,
}

impl Timers {
    /// A timer that fires `timeout` from now.
    pub(crate) fn start(self: &Arc<Self>, timeout: Duration) -> Deadline {
        let reused = self.free.lock().ok().and_then(|mut free| free.pop());
        let sleep = match reused {
            Some(mut sleep) => {
                sleep.as_mut().reset(Instant::now() + timeout);
                sleep
            }
            None => Box::pin(tokio::time::sleep(timeout)),
        };
        Deadline {
            sleep: Some(sleep),
            home: Arc::clone(self),
        }
    }
}

impl Deadline {
    /// The timer, to wait on.
    pub(crate) fn sleep(&mut self) -> Pin<&mut Sleep> {
        match self.sleep.as_mut() {
            Some(sleep) => sleep.as_mut(),
            None => unreachable!("a deadline's timer is only taken when it is dropped"),
        }
    }
}

impl Drop for Deadline {
    fn drop(&mut self) {
        let Some(sleep) = self.sleep.take() else {
            return;
        };
        if let Ok(mut free) = self.home.free.lock() {
            free.push(sleep);
        }
    }
}

#[cfg(test)]
mod tests {
    use futures_util::FutureExt;

    use super::*;

    #[tokio::test(start_paused = true)]
    async fn a_reused_timer_fires_at_its_new_deadline() {
        let timers = Arc::new(Timers::default());
        let mut first = timers.start(Duration::from_secs(10));
        // Registered, then handed back before it fired.
        assert!(first.sleep().now_or_never().is_none());
        drop(first);
        tokio::time::advance(Duration::from_secs(5)).await;
        let mut second = timers.start(Duration::from_secs(10));
        assert_eq!(timers.free.lock().map(|f| f.len()).ok(), Some(0));
        let started = Instant::now();
        second.sleep().await;
        assert_eq!(started.elapsed(), Duration::from_secs(10));
    }

    #[tokio::test(start_paused = true)]
    async fn a_timer_that_fired_in_the_pool_is_set_again() {
        let timers = Arc::new(Timers::default());
        let mut first = timers.start(Duration::from_secs(1));
        assert!(first.sleep().now_or_never().is_none());
        drop(first);
        tokio::time::advance(Duration::from_secs(3)).await;
        let mut second = timers.start(Duration::from_secs(2));
        assert!(second.sleep().now_or_never().is_none());
        tokio::time::advance(Duration::from_millis(1999)).await;
        assert!(second.sleep().now_or_never().is_none());
        tokio::time::advance(Duration::from_millis(1)).await;
        assert!(second.sleep().now_or_never().is_some());
    }
}
