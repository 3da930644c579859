//! robots.txt as the request path reads it: the rules of a request's origin, fetched through
//! the run's own client (and cache) on the origin's first request and kept in its host's entry,
//! and the record of a request they refuse.

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use reqwest::header::HeaderMap;
use reqwest::Method;

use super::{failed_attempt, Fetcher, Located};
use crate::engine::cache::{After, Before, Served, Unsent};
use crate::engine::decode::{self, Encoding};
use crate::engine::fetch::failure::permanent;
use crate::engine::fetch::redirect;
use crate::engine::fetch::settle::Fetched;
use crate::engine::frontier::Work;
use crate::engine::host::gate::Held;
use crate::engine::host::robots::{self, Rules};
use crate::engine::host::{HostEntry, Visit};
use crate::engine::http::transport::Target;
use crate::engine::options::ClientOptions;
use crate::engine::shape::{Outgoing, RequestShape};
use crate::record::{ErrorKind, Wait, WaitCause};

impl Fetcher {
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
    /// in `held`, for every request that finds them still coming); kept in its host's entry,
    /// which `visit` looks up.
    pub(super) async fn robots_rules(
        &self,
        target: Target<'_>,
        visit: &mut Visit,
        held: &mut Held,
    ) -> Option<Arc<Rules>> {
        let url = target.to_url().ok()?;
        let origin = url.origin().ascii_serialization();
        let entry = self.hosts.entry_for(target.host(), visit);
        let slot = entry.robots(&origin);
        if let Some(rules) = slot.get() {
            return Some(Arc::clone(rules));
        }
        let entry = Arc::clone(entry);
        let rules = slot
            .get_or_init(|| async {
                let robots_url = format!("{origin}/robots.txt");
                let answer = self.fetch_robots(&robots_url, entry).await;
                Arc::new(Rules::from_answer(&self.robots_agent, answer, &robots_url))
            })
            .await;
        held.waited(WaitCause::Robots);
        Some(Arc::clone(rules))
    }

    /// A robots.txt: its status and body (decoded, at most `robots::MAX_BYTES`), or None when
    /// nothing answered. It goes through what every request goes through: the host's pause,
    /// `--auto-throttle` and the per-host limits, and with `--cache` the cache (a fresh
    /// robots.txt is not asked for again, and a stale one is revalidated). `host` is the entry
    /// of its host, whose gate it passes.
    pub(super) async fn fetch_robots(
        &self,
        url: &str,
        host: Arc<HostEntry>,
    ) -> Option<(u16, Vec<u8>)> {
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
            .hosts
            .gate(
                target.host(),
                &mut Visit::at(host),
                &mut Held::from(Instant::now()),
            )
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
