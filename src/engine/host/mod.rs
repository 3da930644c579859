//! One place knows a host: its push-back (`pushback`), `--auto-throttle`'s spacing
//! (`throttle`), `--host-concurrency` and `--host-rate` (`limits`), each of its origins'
//! robots.txt rules (`robots`) and the addresses its name resolved to, all in one entry of one
//! table ([`HostTable`]) that a request looks up once. The gate (`gate`) waits here for
//! everything that holds a request back, and books each wait under its cause.
//!
//! This room stands below `http` and `fetch` and imports neither: `http`'s resolver keeps its
//! answers in the entries, `fetch` asks the gate before each send and tells the table what came
//! back. A run that nothing holds (no politeness flag on, no host that ever pushed back) never
//! looks the table up on its way: its gate is one atomic load.

pub(crate) mod gate;
pub(crate) mod limits;
pub(crate) mod pushback;
pub(crate) mod robots;
pub(crate) mod throttle;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::num::NonZeroU32;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use tokio::sync::OnceCell;

use self::limits::Limits;
use self::pushback::{Paused, Pushback, PushbackCounts};
use self::robots::Rules;
use self::throttle::{Spacing, Throttle, ThrottleCounts};
use crate::plan::rate::Rate;

/// What a run asks of its hosts' politeness.
#[derive(Debug, Clone, Default)]
pub(crate) struct Politeness {
    /// False with `--no-backoff`: no host is paused for pushing back.
    pub(crate) backoff: bool,
    /// The longest pause a push-back may ask for (`--max-retry-wait`).
    pub(crate) max_pause: Duration,
    /// `--auto-throttle`'s target concurrency per host.
    pub(crate) auto_throttle: Option<f64>,
    /// `--host-concurrency`.
    pub(crate) concurrency: Option<usize>,
    /// `--host-rate`.
    pub(crate) rate: Option<Rate>,
    /// `--robots`.
    pub(crate) robots: bool,
}

/// Every host a run has met, each known in one place.
#[derive(Debug)]
pub(crate) struct HostTable {
    /// Whether a request must visit its host's entry before any push-back: a throttle, a
    /// per-host limit or robots.txt is on.
    watched: bool,
    pushback: Pushback,
    throttle: Option<Throttle>,
    concurrency: Option<usize>,
    rate: Option<governor::Quota>,
    robots: bool,
    /// The first host met, read without a lock: most runs have one host.
    first: OnceLock<(Box<str>, Arc<HostEntry>)>,
    /// Every other host.
    others: Mutex<HashMap<Box<str>, Arc<HostEntry>>>,
}

/// One host: everything the run keeps about it.
#[derive(Debug)]
pub(crate) struct HostEntry {
    paused: Paused,
    spacing: Spacing,
    limits: Limits,
    /// Each origin's robots.txt rules (two ports or schemes of a host are two origins, each with
    /// its own robots.txt), filled by the first request to the origin while the others wait.
    robots: Mutex<Vec<(Box<str>, RulesCell)>>,
    /// The name's addresses (port 0), once looked up.
    addresses: OnceLock<Arc<[SocketAddr]>>,
}

/// An origin's robots.txt rules, once fetched.
pub(crate) type RulesCell = Arc<OnceCell<Arc<Rules>>>;

/// One request at its host: the host's entry once the request needed it (looked up once, kept
/// for its retries), and its origin's robots.txt rules.
#[derive(Debug, Default)]
pub(crate) struct Visit {
    entry: Option<Arc<HostEntry>>,
    rules: Option<Arc<Rules>>,
}

impl Visit {
    /// A visit to a host whose entry is known already (robots.txt's own request).
    pub(crate) fn at(entry: Arc<HostEntry>) -> Self {
        Self {
            entry: Some(entry),
            rules: None,
        }
    }

    /// Keeps the rules of the request's origin for its gate (`Crawl-delay`).
    pub(crate) fn keep_rules(&mut self, rules: Option<Arc<Rules>>) {
        self.rules = rules;
    }
}

impl HostTable {
    pub(crate) fn new(politeness: Politeness) -> Self {
        let Politeness {
            backoff,
            max_pause,
            auto_throttle,
            concurrency,
            rate,
            robots,
        } = politeness;
        let concurrency = concurrency.filter(|n| *n > 0);
        Self {
            watched: auto_throttle.is_some() || concurrency.is_some() || rate.is_some() || robots,
            pushback: Pushback::new(max_pause, backoff),
            throttle: auto_throttle.map(Throttle::new),
            concurrency,
            rate: rate.map(|r| r.quota(NonZeroU32::MIN)),
            robots,
            first: OnceLock::new(),
            others: Mutex::new(HashMap::new()),
        }
    }

    /// Whether requests read robots.txt (`--robots`).
    pub(crate) fn reads_robots(&self) -> bool {
        self.robots
    }

    /// `host`'s entry, made on its first mention.
    pub(crate) fn entry(&self, host: &str) -> Arc<HostEntry> {
        let (first, entry) = self
            .first
            .get_or_init(|| (Box::from(host), Arc::new(self.new_entry())));
        if **first == *host {
            return Arc::clone(entry);
        }
        match self.others.lock() {
            Ok(mut others) => match others.get(host) {
                Some(entry) => Arc::clone(entry),
                None => Arc::clone(
                    others
                        .entry(Box::from(host))
                        .or_insert_with(|| Arc::new(self.new_entry())),
                ),
            },
            // A poisoned table still answers, with an entry of no history.
            Err(_) => Arc::new(self.new_entry()),
        }
    }

    /// `host`'s entry for `visit`, looked up on the visit's first need only.
    pub(crate) fn entry_for<'v>(&self, host: &str, visit: &'v mut Visit) -> &'v Arc<HostEntry> {
        visit.entry.get_or_insert_with(|| self.entry(host))
    }

    fn new_entry(&self) -> HostEntry {
        HostEntry {
            paused: Paused::default(),
            spacing: Spacing::default(),
            limits: Limits::new(self.concurrency, self.rate),
            robots: Mutex::new(Vec::new()),
            addresses: OnceLock::new(),
        }
    }

    /// Every entry, for the counts at the end of a run.
    fn entries(&self) -> Vec<Arc<HostEntry>> {
        let mut entries: Vec<_> = self
            .first
            .get()
            .map(|(_, e)| Arc::clone(e))
            .into_iter()
            .collect();
        if let Ok(others) = self.others.lock() {
            entries.extend(others.values().cloned());
        }
        entries
    }

    /// How often hosts pushed back, and the longest pause.
    pub(crate) fn pushback_counts(&self) -> PushbackCounts {
        let entries = self.entries();
        self.pushback.counts(entries.iter().map(|e| &e.paused))
    }

    /// With `--auto-throttle`: the busiest host's delay and concurrency.
    pub(crate) fn throttle_counts(&self) -> Option<ThrottleCounts> {
        let throttle = self.throttle.as_ref()?;
        let entries = self.entries();
        throttle.counts(entries.iter().map(|e| &e.spacing))
    }
}

impl HostEntry {
    /// The cell of `origin`'s robots.txt rules: the first request to it fills the cell, the
    /// others wait.
    pub(crate) fn robots(&self, origin: &str) -> RulesCell {
        let Ok(mut origins) = self.robots.lock() else {
            return Arc::new(OnceCell::new());
        };
        if let Some((_, cell)) = origins.iter().find(|(o, _)| **o == *origin) {
            return Arc::clone(cell);
        }
        let cell = Arc::new(OnceCell::new());
        origins.push((Box::from(origin), Arc::clone(&cell)));
        cell
    }

    /// The name's addresses, if looked up already.
    pub(crate) fn addresses(&self) -> Option<Arc<[SocketAddr]>> {
        self.addresses.get().cloned()
    }

    /// Keeps the name's addresses for the rest of the run; the first answer stands when two
    /// lookups raced.
    pub(crate) fn keep_addresses(&self, found: Arc<[SocketAddr]>) -> Arc<[SocketAddr]> {
        Arc::clone(self.addresses.get_or_init(|| found))
    }
}
