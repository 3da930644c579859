//! What stands between a work item and its request: robots.txt's verdict (fetched once per
//! origin), a host that pushed back, `Crawl-delay`, `--auto-throttle`'s spacing and the per-host
//! limits, all waited for in one place so every request's future keeps one wait's state.

use std::sync::Arc;
use std::time::{Duration, Instant};

use reqwest::header::HeaderMap;

use super::{failed_attempt, Fetcher, Located};
use crate::engine::fetch::failure::permanent;
use crate::engine::fetch::host_limits::HostSlot;
use crate::engine::fetch::robots::{self, Rules};
use crate::engine::fetch::settle::Fetched;
use crate::engine::frontier::Work;
use crate::engine::http::transport::Target;
use crate::record::ErrorKind;

impl Fetcher {
    /// Waits for whatever holds a request to `target` back: a host that pushed back (and its
    /// rate climbing back), robots.txt's `Crawl-delay`, `--auto-throttle`'s delay, the per-host
    /// limits; the place at the host it holds, if any. One wait point for all of them keeps
    /// every request's future small.
    pub(super) async fn gate(&self, target: Target<'_>, rules: Option<&Rules>) -> Option<HostSlot> {
        self.pushback.wait(target.host()).await;
        if let Some(rules) = rules {
            rules.space().await;
        }
        if let Some(throttle) = &self.throttle {
            throttle.wait(target.host()).await;
        }
        match self.hosts.any() {
            true => Some(self.hosts.admit(target.host()).await),
            false => None,
        }
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
        start: Instant,
        epoch: Instant,
        scheduled: Duration,
    ) -> Fetched {
        let attempt = failed_attempt(None, 0, permanent(ErrorKind::Robots, message));
        self.finish(work, located, attempt, 0, start, epoch, scheduled)
    }

    /// The robots.txt rules of `target`'s origin, fetched on its first request.
    pub(super) async fn robots_rules(&self, target: Target<'_>) -> Option<Arc<Rules>> {
        let robots = self.robots.as_ref()?;
        let url = target.to_url().ok()?;
        let origin = url.origin().ascii_serialization();
        let slot = robots.slot(&origin);
        let rules = slot
            .get_or_init(|| async {
                let robots_url = format!("{origin}/robots.txt");
                let answer = self.fetch_robots(&robots_url).await;
                Arc::new(Rules::from_answer(&self.robots_agent, answer, &robots_url))
            })
            .await;
        Some(Arc::clone(rules))
    }

    /// A robots.txt: its status and body (at most `robots::MAX_BYTES`), or None when nothing
    /// answered.
    pub(super) async fn fetch_robots(&self, url: &str) -> Option<(u16, Vec<u8>)> {
        let url = reqwest::Url::parse(url).ok()?;
        let headers = HeaderMap::new();
        let mut reply = self
            .transport
            .send(reqwest::Method::GET, Target::Url(&url), &headers, None)
            .await
            .ok()?;
        let status = reply.status().as_u16();
        let mut body = Vec::new();
        while let Ok(Some(chunk)) = reply.chunk().await {
            body.extend_from_slice(&chunk);
            if body.len() as u64 > robots::MAX_BYTES {
                body.truncate(usize::try_from(robots::MAX_BYTES).unwrap_or(usize::MAX));
                break;
            }
        }
        Some((status, body))
    }
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
