//! What stands between a work item and its request: robots.txt's verdict (fetched once per
//! origin), a host that pushed back, `Crawl-delay`, `--auto-throttle`'s spacing and the per-host
//! limits, all waited for in one place so every request's future keeps one wait's state. The
//! time a request spends here is its wait, booked by cause ([`Held`]), never its latency.

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use reqwest::header::HeaderMap;
use reqwest::Method;

use super::{failed_attempt, Fetcher, Located};
use crate::engine::fetch::cache::{After, Before, Served, Unsent};
use crate::engine::fetch::decode::{self, Encoding};
use crate::engine::fetch::failure::permanent;
use crate::engine::fetch::host_limits::HostSlot;
use crate::engine::fetch::redirect;
use crate::engine::fetch::robots::{self, Rules};
use crate::engine::fetch::settle::Fetched;
use crate::engine::frontier::Work;
use crate::engine::http::transport::Target;
use crate::engine::options::ClientOptions;
use crate::engine::shape::{Outgoing, RequestShape};
use crate::record::{ErrorKind, Wait, WaitCause};

/// The waits before a request's first send. A clock is read only when a gate actually held
/// the request, so a request that nothing holds pays nothing for the books.
#[derive(Debug, Clone, Copy)]
pub(super) struct Held {
    /// When the waits began to count.
    from: Instant,
    /// The end of the last wait booked (`from` before any).
    mark: Instant,
    /// The longest wait so far, and its cause.
    longest: Option<(Duration, WaitCause)>,
}

impl Held {
    pub(super) fn from(at: Instant) -> Self {
        Self {
            from: at,
            mark: at,
            longest: None,
        }
    }

    /// Books a wait for `cause` that has just ended.
    pub(super) fn waited(&mut self, cause: WaitCause) {
        let now = Instant::now();
        let took = now.saturating_duration_since(self.mark);
        self.mark = now;
        if self.longest.is_none_or(|(longest, _)| took > longest) {
            self.longest = Some((took, cause));
        }
    }

    /// The wait from the start of the books to `sent`, under the cause that held it longest;
    /// None when nothing held it.
    pub(super) fn until(&self, sent: Instant) -> Option<Wait> {
        let (_, cause) = self.longest?;
        Some(Wait {
            time: sent.saturating_duration_since(self.from),
            cause,
        })
    }
}

impl Fetcher {
    /// Waits for whatever holds a request to `target` back: a host that pushed back (and its
    /// rate climbing back), robots.txt's `Crawl-delay`, `--auto-throttle`'s delay, the per-host
    /// limits; the place at the host it holds, if any. One wait point for all of them keeps
    /// every request's future small. Each wait is booked in `held` under its cause.
    pub(super) async fn gate(
        &self,
        target: Target<'_>,
        rules: Option<&Rules>,
        held: &mut Held,
    ) -> Option<HostSlot> {
        let host = target.host();
        if self.pushback.wait(host).await {
            held.waited(WaitCause::Pushback);
        }
        if let Some(rules) = rules {
            if rules.space().await {
                held.waited(WaitCause::CrawlDelay);
            }
        }
        if let Some(throttle) = &self.throttle {
            if throttle.wait(host).await {
                held.waited(WaitCause::Throttle);
            }
        }
        if !self.hosts.any() {
            return None;
        }
        if self.hosts.pace(host).await {
            held.waited(WaitCause::HostRate);
        }
        let (slot, waited) = self.hosts.slot(host).await;
        if waited {
            held.waited(WaitCause::HostConcurrency);
        }
        Some(slot)
    }

    /// The record of work robots.txt disallows: no request made. Kept out of line, away from
    /// the path every request takes.
    #[cold]
    #[inline(never)]
    pub(super) fn refused(
        &self,
        work: &Work,
        located: Located<'_>,
        message: String,
        wait: Option<Wait>,
        epoch: Instant,
        scheduled: Duration,
    ) -> Fetched {
        let attempt = failed_attempt(None, 0, permanent(ErrorKind::Robots, message));
        let mut fetched = self.finish(work, located, attempt, 0, None, epoch, scheduled);
        fetched.record.wait = wait;
        fetched
    }

    /// The robots.txt rules of `target`'s origin, fetched on its first request (a wait, booked
    /// in `held`, for every request that finds them still coming).
    pub(super) async fn robots_rules(
        &self,
        target: Target<'_>,
        held: &mut Held,
    ) -> Option<Arc<Rules>> {
        let robots = self.robots.as_ref()?;
        let url = target.to_url().ok()?;
        let origin = url.origin().ascii_serialization();
        let slot = robots.slot(&origin);
        if let Some(rules) = slot.get() {
            return Some(Arc::clone(rules));
        }
        let rules = slot
            .get_or_init(|| async {
                let robots_url = format!("{origin}/robots.txt");
                let answer = self.fetch_robots(&robots_url).await;
                Arc::new(Rules::from_answer(&self.robots_agent, answer, &robots_url))
            })
            .await;
        held.waited(WaitCause::Robots);
        Some(Arc::clone(rules))
    }

    /// A robots.txt: its status and body (decoded, at most `robots::MAX_BYTES`), or None when
    /// nothing answered. It goes through what every request goes through: the host's pause,
    /// `--auto-throttle` and the per-host limits, and with `--cache` the cache (a fresh
    /// robots.txt is not asked for again, and a stale one is revalidated).
    pub(super) async fn fetch_robots(&self, url: &str) -> Option<(u16, Vec<u8>)> {
        let url = reqwest::Url::parse(url).ok()?;
        let target = Target::Url(&url);
        let mut request = Outgoing {
            headers: HeaderMap::new(),
            body: None,
        };
        let pending = match &self.cache {
            Some(cache) => {
                let looked_up =
                    cache.before(url.to_string(), url.as_str(), &Method::GET, &mut request);
                match looked_up.await {
                    Before::Send(pending) => Some(pending),
                    Before::Unsent(Unsent::Serve(served)) => return robots_body(served),
                    // Only-cached makes no request: the lookup above never gets here for it.
                    Before::Unsent(Unsent::Refuse(_)) => return None,
                }
            }
            None => None,
        };
        // robots.txt's own waits are the waits of the request that asked for it.
        let _slot = self
            .gate(target, None, &mut Held::from(Instant::now()))
            .await;
        // A GET whatever the run's method, following redirects (RFC 9309 asks for five at
        // least) with the run's credential rules, and none of the run's own headers or body.
        let get = ClientOptions {
            shape: RequestShape::default(),
            ..self.options.clone()
        };
        let mut reply = redirect::send(&self.transport, &get, target, &request)
            .await
            .ok()?;
        let status = reply.status().as_u16();
        let head = reply.headers().clone();
        let encoding = Encoding::of(&head).unwrap_or(Encoding::Identity);
        let mut chunks = Vec::new();
        let mut wire = 0u64;
        while let Ok(Some(chunk)) = reply.chunk().await {
            wire += chunk.len() as u64;
            chunks.push(chunk);
            // Compressed, the cap's worth of text may take less; more wire than that is enough.
            if wire > robots::MAX_BYTES {
                break;
            }
        }
        if let (Some(cache), Some(pending)) = (&self.cache, pending) {
            let ok = (200..300).contains(&status) && wire <= robots::MAX_BYTES;
            let after = cache.after(pending, Some(status), None, Some(head), ok, &chunks);
            if let After::Revalidated(served) = after.await {
                return robots_body(served);
            }
        }
        Some((status, decoded(encoding, &chunks)?))
    }
}

/// A robots.txt the cache answered with.
fn robots_body(served: Served) -> Option<(u16, Vec<u8>)> {
    let body = decoded(served.encoding, std::slice::from_ref(&served.body))?;
    Some((served.status, body))
}

/// A robots.txt's body decoded (servers compress it when asked, as they do other text) and cut
/// at `robots::MAX_BYTES`, as Google reads only that much. None when it does not decode, or
/// decodes to more than sixteen times that (a bomb): read as no answer, which disallows
/// everything, the cautious reading RFC 9309 gives an unreachable robots.txt.
fn decoded(encoding: Encoding, wire: &[Bytes]) -> Option<Vec<u8>> {
    let mut body = match decode::decode(encoding, wire, 16 * robots::MAX_BYTES, true) {
        Ok(Some(decoded)) => decoded.kept,
        Ok(None) => wire.concat(),
        Err(_) => return None,
    };
    body.truncate(usize::try_from(robots::MAX_BYTES).unwrap_or(usize::MAX));
    Some(body)
}

/// The product token of a User-Agent (`fetchbench/0.1.0 (...)` reads as `fetchbench`), which
/// robots.txt groups are matched against.
pub(super) fn product_token(agent: &str) -> String {
    agent
        .split(['/', ' '])
        .next()
        .filter(|t| !t.is_empty())
        .unwrap_or("fetchbench")
        .to_owned()
}
