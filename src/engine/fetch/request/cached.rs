//! The cache's side of a request (`--cache`): the record of work the cache answered or
//! refused, and the answer handed back to it (a 304 becomes the stored response, a success is
//! stored). Out of `mod.rs`, so the path of a request that is sent reads as it did.

use super::{failed_attempt, Attempt, Fetcher, Located};

use crate::engine::cache::{After, Cache, Pending, Served, Unsent};
use crate::engine::fetch::retry::Transience;
use crate::engine::fetch::settle::{Fetched, WireBody};
use crate::engine::frontier::Work;
use crate::record::{CacheUse, Timing};
use std::time::{Duration, Instant};

impl Fetcher {
    /// The record of work the cache answered (a hit) or refused (only-cached): no request
    /// made. Out of line, so the path of a request that is sent stays as it was.
    #[inline(never)]
    pub(super) fn unsent_by_cache(
        &self,
        unsent: Unsent,
        work: &Work,
        located: Located<'_>,
        epoch: Instant,
        scheduled: Duration,
    ) -> Fetched {
        let depth = work.place.as_deref().map_or(0, |p| p.depth);
        let (attempt, used) = match unsent {
            Unsent::Serve(served) => (self.cached_attempt(served, depth), CacheUse::Hit),
            Unsent::Refuse(failure) => (
                failed_attempt(None, 0, (failure, Transience::Permanent)),
                CacheUse::Miss,
            ),
        };
        let mut fetched = self.finish(work, located, attempt, 0, None, epoch, scheduled);
        fetched.record.cache = Some(used);
        // Nothing came over the wire for it.
        fetched.record.wire_bytes = 0;
        fetched
    }

    /// Hands the last attempt's answer to the cache: a 304 for a revalidated entry becomes
    /// the stored response, a success is stored.
    pub(super) async fn after_cache(
        &self,
        cache: &Cache,
        pending: Pending,
        attempt: &mut Attempt,
        depth: u32,
    ) -> CacheUse {
        let head = attempt.head.take();
        let ok = attempt.failure.is_none();
        let (status, version) = (attempt.status, attempt.version);
        let after = cache.after(
            pending,
            status,
            version,
            head.map(|head| *head),
            ok,
            &attempt.body.chunks,
        );
        match after.await {
            After::Use(used) => used,
            After::Revalidated(served) => {
                let (timing, sent, took) = (attempt.timing, attempt.sent, attempt.took);
                *attempt = Attempt {
                    timing,
                    sent,
                    took,
                    version,
                    ..self.cached_attempt(served, depth)
                };
                CacheUse::Revalidated
            }
        }
    }

    /// An attempt made of a cached response, as if it had just been received.
    pub(super) fn cached_attempt(&self, served: Served, depth: u32) -> Attempt {
        let paging = (depth == 0)
            .then(|| self.paging.as_ref()?.read(&served.headers))
            .flatten();
        Attempt {
            sent: None,
            took: Duration::ZERO,
            status: Some(served.status),
            timing: Timing::default(),
            version: served.version,
            body: WireBody {
                encoding: served.encoding,
                bytes: served.body.len() as u64,
                chunks: if served.body.is_empty() {
                    Vec::new()
                } else {
                    vec![served.body]
                },
                depth,
            },
            failure: None,
            transience: Transience::Permanent,
            paging,
            head: None,
        }
    }
}
