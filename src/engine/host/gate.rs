//! What stands between a request and its send at its host: a host that pushed back,
//! robots.txt's `Crawl-delay`, `--auto-throttle`'s spacing and the per-host limits, all waited
//! for in one place so every request's future keeps one wait's state. The time a request spends
//! here is its wait, booked by cause ([`Held`]), never its latency; what the host answers is
//! read back into its entry ([`HostTable::note`]).

use std::time::{Duration, Instant};

use reqwest::header::HeaderMap;

use super::limits::HostSlot;
use super::{HostEntry, HostTable, Visit};
use crate::record::{Wait, WaitCause};

/// The waits before a request's first send. A clock is read only when a gate actually held
/// the request, so a request that nothing holds pays nothing for the books.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Held {
    /// When the waits began to count.
    from: Instant,
    /// The end of the last wait booked (`from` before any).
    mark: Instant,
    /// The longest wait so far, and its cause.
    longest: Option<(Duration, WaitCause)>,
}

impl Held {
    pub(crate) fn from(at: Instant) -> Self {
        Self {
            from: at,
            mark: at,
            longest: None,
        }
    }

    /// Books a wait for `cause` that has just ended.
    pub(crate) fn waited(&mut self, cause: WaitCause) {
        let now = Instant::now();
        let took = now.saturating_duration_since(self.mark);
        self.mark = now;
        if self.longest.is_none_or(|(longest, _)| took > longest) {
            self.longest = Some((took, cause));
        }
    }

    /// The wait from the start of the books to `sent`, under the cause that held it longest;
    /// None when nothing held it.
    pub(crate) fn until(&self, sent: Instant) -> Option<Wait> {
        let (_, cause) = self.longest?;
        Some(Wait {
            time: sent.saturating_duration_since(self.from),
            cause,
        })
    }
}

/// What a host answered a request with, as its entry reads it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Answer<'a> {
    pub(crate) status: u16,
    /// When the request was sent.
    pub(crate) sent: Instant,
    /// From the send to the response head.
    pub(crate) to_head: Duration,
    /// The `Retry-After` of a transient status.
    pub(crate) retry_after: Option<Duration>,
    pub(crate) headers: &'a HeaderMap,
    /// A rate-limit header said nothing is left.
    pub(crate) quota_spent: bool,
}

impl HostTable {
    /// Waits for whatever holds a request to `host` back: a host that pushed back (and its
    /// rate climbing back), robots.txt's `Crawl-delay` (the visit's rules), `--auto-throttle`'s
    /// delay, the per-host limits; the place at the host it holds. Each wait is booked in
    /// `held` under its cause.
    pub(crate) async fn gate(&self, host: &str, visit: &mut Visit, held: &mut Held) -> HostSlot {
        if !self.watched && !self.pushback.any() {
            return HostSlot::FREE;
        }
        let entry: &HostEntry = visit.entry.get_or_insert_with(|| self.entry(host));
        if self.pushback.wait(&entry.paused).await {
            held.waited(WaitCause::Pushback);
        }
        if let Some(rules) = &visit.rules {
            if rules.space().await {
                held.waited(WaitCause::CrawlDelay);
            }
        }
        if let Some(throttle) = &self.throttle {
            if throttle.wait(&entry.spacing).await {
                held.waited(WaitCause::Throttle);
            }
        }
        if entry.limits.pace().await {
            held.waited(WaitCause::HostRate);
        }
        let (slot, waited) = entry.limits.slot().await;
        if waited {
            held.waited(WaitCause::HostConcurrency);
        }
        slot
    }

    /// Reads what `host` answered a visit's request with: a push-back pauses the host, an
    /// accepted answer counts towards its rate, and `--auto-throttle` learns its latency.
    pub(crate) fn note(&self, host: &str, visit: &mut Visit, answer: Answer<'_>) {
        let noted = self.pushback.note(
            answer.status,
            answer.retry_after,
            answer.headers,
            answer.quota_spent,
        );
        if self.throttle.is_none() && !noted.touches_host() {
            return;
        }
        let entry = self.entry_for(host, visit);
        if noted.touches_host() {
            self.pushback.apply(&entry.paused, noted, answer.sent);
        }
        if let Some(throttle) = &self.throttle {
            throttle.note(&entry.spacing, answer.to_head, answer.status);
        }
    }
}
