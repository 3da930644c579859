//! A host that pushed back, as the back-off keeps it: its pause, its AIMD limit (the rule is in
//! the parent module's doc), the start rate it was seen at and the requests it accepted by the
//! second they started in.

use std::time::{Duration, Instant};

/// Starts per second after a push-back when the host accepted nothing that could be counted.
pub(super) const FIRST_RATE: f64 = 1.0;
/// The slowest a limit goes: one start every ten seconds.
pub(super) const FLOOR: f64 = 0.1;
/// A limit above this holds nothing back on any server: lifted.
pub(super) const CEILING: f64 = 10_000.0;
/// A push-back sets the rate to this share of what the host accepted.
pub(super) const DECREASE: f64 = 0.8;
/// Seconds the additive increase takes to climb from a decrease back to the rate it came from.
pub(super) const REGAIN_SECS: f64 = 10.0;
/// The additive increase per second, as a share of the rate set by the last decrease.
pub(super) const CLIMB: f64 = (1.0 / DECREASE - 1.0) / REGAIN_SECS;
/// Over how long the start rate and the accepted rate are measured.
pub(super) const WINDOW: Duration = Duration::from_secs(1);

/// A host's accepted requests (answered other than 429/503), by the second they started in:
/// two one-second slots of (second, count).
#[derive(Debug, Default)]
pub(super) struct Tally {
    pub(super) slots: [(u64, u64); 2],
}

impl Tally {
    /// Counts a request started `second` seconds into the run.
    pub(super) fn count(&mut self, second: u64) {
        let slot = &mut self.slots[(second & 1) as usize];
        if slot.0 == second {
            slot.1 += 1;
        } else if slot.0 < second {
            *slot = (second, 1);
        }
        // Else the slot already counts a later second: this answer is too old to matter.
    }

    pub(super) fn in_second(&self, second: u64) -> f64 {
        match self.slots[(second & 1) as usize] {
            (s, count) if s == second => count as f64,
            _ => 0.0,
        }
    }

    /// Accepted requests among those started in the second before `at` (time into the run):
    /// the current second's count and the share of the previous one still in that span.
    pub(super) fn last_second(&self, at: Duration) -> f64 {
        let second = at.as_secs();
        let current = self.in_second(second);
        match second.checked_sub(1) {
            Some(previous) => {
                let share = 1.0 - f64::from(at.subsec_nanos()) / 1e9;
                current + self.in_second(previous) * share
            }
            None => current,
        }
    }
}

/// One host that pushed back.
#[derive(Debug)]
pub(super) struct Host {
    /// The end of its pause.
    pub(super) until: Instant,
    pub(super) pauses: u64,
    /// None: unlimited (never decreased, or lifted).
    pub(super) limit: Option<Limit>,
    /// A decrease waiting for the pause's end, when the answers that were in flight are in.
    pub(super) pending: Option<Pending>,
    /// The earliest next start under the limit.
    pub(super) next: Instant,
    pub(super) window: Window,
    /// Its own accepted requests, counted from its first push-back on.
    pub(super) tally: Tally,
    /// Its first push-back: from a second after it, its own tally covers the last second.
    pub(super) since: Instant,
}

/// What a push-back knows of the rate that drew it, until its pause ends.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) struct Pending {
    /// The second before the push-back.
    pub(super) from: Instant,
    pub(super) to: Instant,
    /// Requests started in `from..to` that the host accepted, those still in flight included
    /// once their answers arrive.
    pub(super) accepted: f64,
    /// The limit in force at the push-back.
    pub(super) limited: Option<f64>,
}

impl Pending {
    /// The rate that drew the push-back: the lower of the limit in force and what the host
    /// accepted; None when neither is known.
    pub(super) fn reference(&self) -> Option<f64> {
        let accepted = (self.accepted > 0.0).then_some(self.accepted);
        match (self.limited, accepted) {
            (Some(limited), Some(accepted)) => Some(limited.min(accepted)),
            (limited, accepted) => limited.or(accepted),
        }
    }
}

/// An AIMD rate: `base` starts per second at `since`, growing from there.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) struct Limit {
    pub(super) base: f64,
    pub(super) since: Instant,
    pub(super) growth: Growth,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) enum Growth {
    /// Slow start: doubles every second.
    Doubling,
    /// Starts per second added every second.
    Adding(f64),
}

impl Limit {
    /// Starts per second allowed at `now`.
    pub(super) fn at(&self, now: Instant) -> f64 {
        let t = now.saturating_duration_since(self.since).as_secs_f64();
        let rate = match self.growth {
            Growth::Doubling => self.base * 2f64.powf(t.min(64.0)),
            Growth::Adding(step) => self.base + step * t,
        };
        rate.min(CEILING * 2.0)
    }

    /// The limit after a push-back whose pause ends at `end`, from `reference` (the rate that
    /// drew it; None when nothing was measured).
    pub(super) fn decreased(reference: Option<f64>, end: Instant) -> Self {
        match reference {
            None => Limit {
                base: FIRST_RATE,
                since: end,
                growth: Growth::Doubling,
            },
            Some(rate) => {
                let base = (rate * DECREASE).max(FLOOR);
                Limit {
                    base,
                    since: end,
                    growth: Growth::Adding(base * CLIMB),
                }
            }
        }
    }
}

/// Request starts counted over about a second.
#[derive(Debug, Clone, Copy)]
pub(super) struct Window {
    pub(super) start: Instant,
    pub(super) count: u32,
    /// Starts per second over the last full window.
    pub(super) last: Option<f64>,
}

impl Window {
    pub(super) fn new(start: Instant) -> Self {
        Self {
            start,
            count: 0,
            last: None,
        }
    }

    pub(super) fn count(&mut self, now: Instant) {
        self.close(now);
        self.count = self.count.saturating_add(1);
    }

    /// Ends the window in progress if it is a full one.
    pub(super) fn close(&mut self, now: Instant) {
        let span = now.saturating_duration_since(self.start);
        if span >= WINDOW {
            self.last = Some(f64::from(self.count) / span.as_secs_f64());
            self.start = now;
            self.count = 0;
        }
    }
}

/// What a request start may do now.
pub(super) enum Admit {
    Go,
    /// Ask again at this time (the pause's end, or the limit's next start).
    Later(Instant),
}

impl Host {
    pub(super) fn new(until: Instant) -> Self {
        Self {
            until,
            pauses: 0,
            limit: None,
            pending: None,
            next: until,
            window: Window::new(until),
            tally: Tally::default(),
            since: until,
        }
    }

    pub(super) fn admit(&mut self, now: Instant) -> Admit {
        if self.until > now {
            return Admit::Later(self.until);
        }
        self.settle();
        if let Some(limit) = self.limit {
            let rate = limit.at(now);
            self.window.close(now);
            let idle = match (limit.growth, self.window.last) {
                (Growth::Adding(_), Some(seen)) => rate >= 2.0 * seen,
                // While doubling, the rate outgrows any window's count: only the ceiling lifts.
                _ => false,
            };
            if rate >= CEILING || idle {
                self.limit = None;
            } else if self.next > now {
                return Admit::Later(self.next);
            } else {
                self.next = now + Duration::from_secs_f64(1.0 / rate);
            }
        }
        self.window.count(now);
        Admit::Go
    }

    /// An accepted answer to a request started at `sent`, `second` seconds into the run.
    pub(super) fn accepted(&mut self, sent: Instant, second: u64) {
        self.tally.count(second);
        if let Some(pending) = &mut self.pending {
            if sent >= pending.from && sent < pending.to {
                pending.accepted += 1.0;
            }
        }
    }

    /// A 429 or 503 at `now` paused the host until `end`; `accepted` is what it took over the
    /// second before. The new limit is set when the pause ends (see [`Host::settle`]).
    pub(super) fn decrease(&mut self, now: Instant, end: Instant, accepted: f64) {
        self.settle();
        self.window.close(now);
        self.pending = Some(Pending {
            from: now.checked_sub(WINDOW).unwrap_or(now),
            to: now,
            accepted,
            limited: self.limit.map(|l| l.at(now)),
        });
        self.next = end;
        self.window = Window::new(end);
    }

    /// The limit a pending decrease sets, from the pause's end.
    pub(super) fn settled(&self) -> Option<Limit> {
        match self.pending {
            Some(pending) => Some(Limit::decreased(pending.reference(), self.until)),
            None => self.limit,
        }
    }

    pub(super) fn settle(&mut self) {
        if self.pending.is_some() {
            self.limit = self.settled();
            self.pending = None;
        }
    }

    /// The rate it runs at: its limit, or once lifted what it was seen doing.
    pub(super) fn rate(&self, now: Instant) -> Option<f64> {
        match self.settled() {
            Some(limit) => Some(limit.at(now)),
            None => self.window.last,
        }
    }
}
