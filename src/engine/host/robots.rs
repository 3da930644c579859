//! robots.txt (`--robots`, opt-in): fetched once per origin before its first request, through
//! the run's own client (by `fetch`, which sends requests; the rules are kept here, in the
//! host's entry, one per origin), then every URL is checked against it and `Crawl-delay` spaces
//! the starts of requests to that origin. RFC 9309's rules for a robots.txt that cannot be read: a
//! 4xx means no rules (all allowed); a 5xx or no answer means assume everything disallowed.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use texting_robots::Robot;

/// At most this much of a robots.txt is read (RFC 9309 asks parsers to take at least 500 KiB).
pub(crate) const MAX_BYTES: u64 = 500 * 1024;

/// What an origin's robots.txt says.
#[derive(Debug)]
pub(crate) struct Rules {
    robot: Option<Robot>,
    /// The robots.txt could not be read (5xx, no answer): nothing may be fetched.
    disallow_all: bool,
    /// `Crawl-delay`: the least time between two request starts to the origin.
    delay: Option<Duration>,
    next_start: Mutex<Option<Instant>>,
    /// Why it says what it says, for the records it refuses.
    source: String,
}

impl Rules {
    /// Rules from a robots.txt answer: its status and body, or None when none came.
    pub(crate) fn from_answer(agent: &str, answer: Option<(u16, Vec<u8>)>, url: &str) -> Self {
        let (robot, disallow_all, source) = match answer {
            Some((status, body)) if (200..300).contains(&status) => (
                Robot::new(agent, &body).ok(),
                false,
                format!("{url} disallows it"),
            ),
            Some((status, _)) if (400..500).contains(&status) => {
                (None, false, format!("{url} answered {status}"))
            }
            Some((status, _)) => (
                None,
                true,
                format!("{url} answered {status}: everything is disallowed until it can be read"),
            ),
            None => (
                None,
                true,
                format!("{url} could not be read: everything is disallowed"),
            ),
        };
        let delay = robot
            .as_ref()
            .and_then(|r| r.delay)
            .filter(|d| d.is_finite() && *d > 0.0)
            .map(|d| Duration::from_secs_f32(d.min(3600.0)));
        Self {
            robot,
            disallow_all,
            delay,
            next_start: Mutex::new(None),
            source,
        }
    }

    /// Why `url` may not be fetched, if it may not.
    pub(crate) fn refusal(&self, url: &str) -> Option<String> {
        if self.disallow_all {
            return Some(format!("robots.txt: {}", self.source));
        }
        let robot = self.robot.as_ref()?;
        (!robot.allowed(url)).then(|| format!("robots.txt: {}", self.source))
    }

    /// Waits for the origin's `Crawl-delay` since the last start, and books this start;
    /// whether it had to wait.
    pub(crate) async fn space(&self) -> bool {
        let Some(delay) = self.delay else {
            return false;
        };
        let (start, now) = {
            let Ok(mut next) = self.next_start.lock() else {
                return false;
            };
            let now = Instant::now();
            let start = next.map_or(now, |n| n.max(now));
            *next = Some(start + delay);
            (start, now)
        };
        if start <= now {
            return false;
        }
        tokio::time::sleep_until(start.into()).await;
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc_9309_rules_for_answers_that_are_not_a_robots_txt() {
        let url = "http://h/robots.txt";
        let found = Rules::from_answer(
            "fetchbench",
            Some((200, b"User-agent: *\nDisallow: /x".to_vec())),
            url,
        );
        assert!(found.refusal("http://h/x/1").is_some());
        assert!(found.refusal("http://h/y").is_none());
        let missing = Rules::from_answer("fetchbench", Some((404, Vec::new())), url);
        assert!(missing.refusal("http://h/x/1").is_none());
        let broken = Rules::from_answer("fetchbench", Some((503, Vec::new())), url);
        assert!(broken.refusal("http://h/y").is_some());
        let unreachable = Rules::from_answer("fetchbench", None, url);
        assert!(unreachable.refusal("http://h/y").is_some());
    }

    #[test]
    fn crawl_delay_is_read_for_our_agent() {
        let txt = b"User-agent: *\nCrawl-delay: 0.5\nDisallow: /api/13";
        let rules = Rules::from_answer("fetchbench", Some((200, txt.to_vec())), "u");
        assert_eq!(rules.delay, Some(Duration::from_millis(500)));
    }
}
