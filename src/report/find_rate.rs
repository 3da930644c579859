//! The rate search's decisions and its report (`--find-rate`), apart from the I/O that drives
//! the steps (`cli::find_rate`): what a step's figures say (held, or broke and why), which rate
//! the next step tries, and the one line that answers "what rate does this API take?".
//!
//! The search: open-loop steps at a target rate, starting low; double while a step holds, then
//! bisect between the last step that held and the first that broke until they are within 10%
//! ([`CLOSE_ENOUGH`]); never above the cap (`--max-rate`, or the lowest rate the server
//! advertises). A step breaks on (in this order, the first named as its reason): a push-back
//! (a 429 or 503, or a quota said to be spent), an error share above the bound, a latency
//! percentile from the schedule at or above its bound, the rate achieved below 95% of the target
//! ([`ACHIEVED_SHARE`]) with requests started more than [`LAG_GRACE`] late, naming who could not
//! keep up, or requests still unfinished when the step had to end.

use std::fmt;

use serde::{Deserialize, Serialize};

use super::stats::LatencySummary;
use crate::plan::slo::{Percentile, Slo};

/// Bisection ends when the rate that broke is within this factor of the rate that held.
pub const CLOSE_ENOUGH: f64 = 1.10;

/// A step that achieved less than this share of its target did not hold it.
pub const ACHIEVED_SHARE: f64 = 0.95;

/// The error share a step may have when `--slo` bounds none.
pub const DEFAULT_ERROR_BOUND: f64 = 0.01;

/// Where the search stands: the highest rate that held, the lowest that broke, the cap.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Search {
    start: f64,
    held: Option<f64>,
    broke: Option<f64>,
    cap: Option<f64>,
}

/// Why the search made no further step.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Stopped {
    /// The rate that held and the one that broke are within 10%.
    Converged,
    /// The cap held: no higher step is allowed.
    Cap,
    /// Even the first step broke.
    FirstStepBroke,
    /// `--max-requests` would be spent by the next step.
    MaxRequests,
    /// A signal stopped the search.
    Interrupted,
}

impl Search {
    /// A search whose first step is at `start` requests per second (lowered to the cap).
    pub fn new(start: f64, cap: Option<f64>) -> Self {
        Self {
            start,
            cap,
            ..Self::default()
        }
    }

    /// Lowers the cap (a server advertised a limit); a higher one changes nothing.
    pub fn cap_at(&mut self, cap: f64) {
        if self.cap.is_none_or(|c| cap < c) {
            self.cap = Some(cap);
        }
    }

    pub fn cap(&self) -> Option<f64> {
        self.cap
    }

    /// The highest rate that held, and the lowest that broke.
    pub fn bounds(&self) -> (Option<f64>, Option<f64>) {
        (self.held, self.broke)
    }

    /// Books a step's outcome.
    pub fn record(&mut self, target: f64, held: bool) {
        if held {
            self.held = Some(self.held.map_or(target, |h| h.max(target)));
        } else {
            self.broke = Some(self.broke.map_or(target, |b| b.min(target)));
        }
    }

    /// The next step's rate, or why there is none.
    pub fn next(&self) -> Result<f64, Stopped> {
        let cap = self.cap.unwrap_or(f64::INFINITY);
        let wanted = match (self.held, self.broke) {
            (None, None) => return Ok(self.start.min(cap)),
            (None, Some(_)) => return Err(Stopped::FirstStepBroke),
            (Some(held), None) => held * 2.0,
            (Some(held), Some(broke)) if broke <= held * CLOSE_ENOUGH => {
                return Err(Stopped::Converged)
            }
            (Some(held), Some(broke)) => (held + broke) / 2.0,
        };
        let held = self.held.unwrap_or(0.0);
        // The cap held already (or is below what held): nothing above it to try.
        if cap <= held * 1.000_001 {
            return Err(Stopped::Cap);
        }
        Ok(wanted.min(cap))
    }
}

/// Who could not keep up with a step's target rate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Behind {
    /// Every slot was (nearly) always busy: `-c` is too low for the rate at this latency.
    Concurrency(usize),
    /// fetchbench used (nearly) all the cores.
    Client,
    /// The server answered too slowly for the requests to go out on time.
    Server,
}

impl Behind {
    /// Who held the rate down, from the step's mean requests in flight against its slots and the
    /// client's CPU seconds per second against the cores.
    pub fn of(mean_in_flight: f64, concurrency: usize, cpu_share: Option<f64>, cores: f64) -> Self {
        if mean_in_flight >= 0.8 * concurrency as f64 {
            Behind::Concurrency(concurrency)
        } else if cpu_share.is_some_and(|share| share >= 0.9 * cores) {
            Behind::Client
        } else {
            Behind::Server
        }
    }
}

/// What one step measured, as the verdict reads it.
#[derive(Debug, Clone, PartialEq)]
pub struct StepFigures {
    pub target: f64,
    /// Requests started per second over the step's schedule.
    pub achieved: f64,
    pub requests: u64,
    pub errors: u64,
    /// 429 and 503 answers.
    pub too_many: u64,
    pub unavailable: u64,
    /// A response said no request was left in its quota (`RateLimit-Remaining: 0`).
    pub quota_spent: bool,
    /// Latency from each request's scheduled start.
    pub schedule: LatencySummary,
    /// Requests were still in flight when the step had to end.
    pub unfinished: bool,
    pub behind: Behind,
    /// The latest any request started after its scheduled start.
    pub lag: std::time::Duration,
}

/// A start this late is the machine's scheduling noise, not a rate the client could not keep:
/// short of it, a step's achieved rate is not held against it.
pub const LAG_GRACE: std::time::Duration = std::time::Duration::from_millis(100);

/// One way a step broke.
#[derive(Debug, Clone, PartialEq)]
pub enum Breach {
    /// 429s, 503s, or a spent quota.
    PushBack {
        too_many: u64,
        unavailable: u64,
        quota_spent: bool,
    },
    Errors {
        share: f64,
        bound: f64,
    },
    Latency {
        percentile: Percentile,
        ms: f64,
        bound_ms: f64,
    },
    Achieved {
        achieved: f64,
        target: f64,
        behind: Behind,
    },
    Unfinished,
}

impl Breach {
    /// The few words of the summary line: `17.5/s broke the p99 bound`.
    pub fn short(&self) -> String {
        match self {
            Breach::PushBack {
                too_many,
                unavailable,
                ..
            } => match (too_many, unavailable) {
                (0, 0) => "spent the server's quota".to_owned(),
                (_, 0) => "drew a 429".to_owned(),
                _ => "drew a 503".to_owned(),
            },
            Breach::Errors { .. } => "broke the error bound".to_owned(),
            Breach::Latency { percentile, .. } => format!("broke the {} bound", percentile.name()),
            Breach::Achieved { behind, .. } => match behind {
                Behind::Concurrency(c) => format!("was not reached with -c {c}"),
                Behind::Client => "was not reached: the client's CPU was the limit".to_owned(),
                Behind::Server => "was not reached: the server fell behind".to_owned(),
            },
            Breach::Unfinished => "left requests unfinished".to_owned(),
        }
    }

    /// Whether a stall of the client's machine could have caused it: a latency or rate breach,
    /// not a push-back nor errors, which only the server gives.
    pub fn may_be_noise(&self) -> bool {
        matches!(
            self,
            Breach::Latency { .. } | Breach::Achieved { .. } | Breach::Unfinished
        )
    }

    /// The verdict column's word for it.
    pub fn word(&self) -> &'static str {
        match self {
            Breach::PushBack {
                too_many,
                unavailable,
                ..
            } => match (too_many, unavailable) {
                (0, 0) => "quota",
                (_, 0) => "429",
                _ => "503",
            },
            Breach::Errors { .. } => "errors",
            Breach::Latency { percentile, .. } => percentile.name(),
            Breach::Achieved { .. } => "rate",
            Breach::Unfinished => "unfinished",
        }
    }
}

/// The full sentence: `p99 212.0 ms >= 100 ms`.
impl fmt::Display for Breach {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Breach::PushBack {
                too_many,
                unavailable,
                quota_spent,
            } => {
                let mut said = Vec::new();
                if *too_many > 0 {
                    said.push(format!("{too_many} × 429"));
                }
                if *unavailable > 0 {
                    said.push(format!("{unavailable} × 503"));
                }
                if *quota_spent {
                    said.push("RateLimit-Remaining reached 0".to_owned());
                }
                write!(f, "pushed back: {}", said.join(", "))
            }
            Breach::Errors { share, bound } => write!(
                f,
                "errors {:.1}% >= {}%",
                share * 100.0,
                trim(bound * 100.0)
            ),
            Breach::Latency {
                percentile,
                ms,
                bound_ms,
            } => write!(
                f,
                "{} {ms:.1} ms >= {} ms (from the schedule)",
                percentile.name(),
                trim(*bound_ms)
            ),
            Breach::Achieved {
                achieved,
                target,
                behind,
            } => {
                let who = match behind {
                    Behind::Concurrency(c) => {
                        format!("every one of -c {c} slots was busy; raise -c")
                    }
                    Behind::Client => "the client used the cores".to_owned(),
                    Behind::Server => "the server answered too slowly".to_owned(),
                };
                write!(
                    f,
                    "achieved {achieved:.1}/s < {}% of {target:.1}/s: {who}",
                    trim(ACHIEVED_SHARE * 100.0)
                )
            }
            Breach::Unfinished => f.write_str(
                "requests still in flight when the step had to end: the server fell behind",
            ),
        }
    }
}

/// A number without trailing zeros: `1`, `0.5`, `300`.
fn trim(x: f64) -> String {
    let text = format!("{x:.3}");
    text.trim_end_matches('0').trim_end_matches('.').to_owned()
}

/// The latency figure `percentile` names in `summary`, in milliseconds.
pub fn percentile_ms(summary: &LatencySummary, percentile: Percentile) -> f64 {
    match percentile {
        Percentile::P50 => summary.p50,
        Percentile::P90 => summary.p90,
        Percentile::P99 => summary.p99,
        Percentile::P999 => summary.p999,
    }
}

/// Every way the step broke `slo`, the first being its reason; empty when it held.
pub fn judge(step: &StepFigures, slo: &Slo) -> Vec<Breach> {
    let mut breaches = Vec::new();
    if step.too_many > 0 || step.unavailable > 0 || step.quota_spent {
        breaches.push(Breach::PushBack {
            too_many: step.too_many,
            unavailable: step.unavailable,
            quota_spent: step.quota_spent,
        });
    }
    let bound = slo.error_bound(DEFAULT_ERROR_BOUND);
    let share = if step.requests > 0 {
        step.errors as f64 / step.requests as f64
    } else {
        0.0
    };
    if share > bound {
        breaches.push(Breach::Errors { share, bound });
    }
    for (percentile, limit) in &slo.latency {
        let ms = percentile_ms(&step.schedule, *percentile);
        let bound_ms = limit.as_secs_f64() * 1000.0;
        if ms >= bound_ms {
            breaches.push(Breach::Latency {
                percentile: *percentile,
                ms,
                bound_ms,
            });
        }
    }
    if step.unfinished {
        breaches.push(Breach::Unfinished);
    } else if step.achieved < ACHIEVED_SHARE * step.target && step.lag > LAG_GRACE {
        breaches.push(Breach::Achieved {
            achieved: step.achieved,
            target: step.target,
            behind: step.behind,
        });
    }
    breaches
}

/// One step as the report has it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct StepReport {
    /// Requests per second the step was scheduled at.
    pub target: f64,
    /// Requests started per second over the step (below 95% of the target: not held).
    pub achieved: f64,
    pub requests: u64,
    pub errors: u64,
    /// 429 answers (the step stopped at the first push-back).
    pub too_many: u64,
    /// Latency percentiles from each request's scheduled start, in milliseconds.
    pub p50_ms: f64,
    pub p99_ms: f64,
    /// The latest any request started after its scheduled start, in milliseconds (more than
    /// 100 ms, with the target not achieved: the client, `-c` or the server fell behind).
    pub lag_ms: f64,
    /// True when the step kept every bound.
    pub held: bool,
    /// Every way it broke, the first its reason; empty when it held.
    pub why: Vec<String>,
    /// The word of the verdict column: `held`, or the first breach's (`429`, `p99`, `errors`,
    /// `rate`, `quota`, `503`, `unfinished`).
    pub verdict: String,
}

impl StepReport {
    pub fn new(step: &StepFigures, breaches: &[Breach]) -> Self {
        Self {
            target: step.target,
            achieved: step.achieved,
            requests: step.requests,
            errors: step.errors,
            too_many: step.too_many,
            p50_ms: step.schedule.p50,
            p99_ms: step.schedule.p99,
            lag_ms: step.lag.as_secs_f64() * 1000.0,
            held: breaches.is_empty(),
            why: breaches.iter().map(ToString::to_string).collect(),
            verdict: breaches
                .first()
                .map_or("held".to_owned(), |b| b.word().to_owned()),
        }
    }
}

/// The search's answer, in the JSON report as `find_rate`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct FindRateReport {
    /// The bounds each step was judged by (`--slo`, with the default `errors<1%` when it bounds
    /// no error share).
    pub slo: String,
    /// The highest target rate that held (requests per second), or null when none did.
    pub sustained: Option<f64>,
    /// The lowest target rate that broke, or null when none did.
    pub broke: Option<f64>,
    /// Why that step broke.
    pub broke_why: Option<String>,
    /// The rate no step went above (requests per second), and what set it: `--max-rate` or the
    /// header a server advertised its limit in; null when nothing capped the search.
    pub cap: Option<f64>,
    pub cap_by: Option<String>,
    /// Why the search stopped: `converged`, `cap`, `first_step_broke`, `max_requests`,
    /// `interrupted`.
    pub stopped: Stopped,
    /// Every step, in the order made (each one is also a run in `runs`).
    pub steps: Vec<StepReport>,
    /// Requests the search sent in all, its one probe request included.
    pub requests: u64,
    /// The answer in one line, as the summary prints it.
    pub summary: String,
}

/// The one line: `sustains 15.2/s (p99 84 ms < 100 ms); 17.5/s broke the p99 bound`.
pub fn summary(
    slo: &Slo,
    steps: &[(StepFigures, Vec<Breach>)],
    stopped: Stopped,
    cap_by: Option<&str>,
) -> String {
    let held = steps
        .iter()
        .filter(|(_, b)| b.is_empty())
        .max_by(|a, b| a.0.target.total_cmp(&b.0.target));
    let broke = steps
        .iter()
        .filter(|(step, b)| !b.is_empty() && held.is_none_or(|h| step.target > h.0.target))
        .min_by(|a, b| a.0.target.total_cmp(&b.0.target));
    let Some((best, _)) = held else {
        return match steps.first() {
            Some((first, breaches)) => format!(
                "even the first step, {:.1}/s, broke: {}; start lower with --rate",
                first.target,
                breaches
                    .first()
                    .map(ToString::to_string)
                    .unwrap_or_default()
            ),
            None => "no step was made".to_owned(),
        };
    };
    let figure = match slo.latency.first() {
        Some((percentile, bound)) => format!(
            "{} {:.0} ms < {} ms",
            percentile.name(),
            percentile_ms(&best.schedule, *percentile),
            trim(bound.as_secs_f64() * 1000.0)
        ),
        None => format!("p99 {:.0} ms from the schedule", best.schedule.p99),
    };
    let mut line = format!("sustains {:.1}/s ({figure})", best.target);
    match (stopped, broke) {
        (Stopped::Cap, _) => {
            let by = cap_by.unwrap_or("the cap");
            line.push_str(&format!(", the most {by} allows"));
        }
        (_, Some((step, breaches))) => {
            let why = breaches.first().map(Breach::short).unwrap_or_default();
            line.push_str(&format!("; {:.1}/s {why}", step.target));
        }
        _ => {}
    }
    match stopped {
        Stopped::MaxRequests => line.push_str(" (stopped by --max-requests before converging)"),
        Stopped::Interrupted => line.push_str(" (interrupted before converging)"),
        _ => {}
    }
    line
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn figures(target: f64, p99: f64) -> StepFigures {
        StepFigures {
            target,
            achieved: target,
            requests: 100,
            errors: 0,
            too_many: 0,
            unavailable: 0,
            quota_spent: false,
            schedule: LatencySummary {
                p50: p99 / 2.0,
                p99,
                ..LatencySummary::default()
            },
            unfinished: false,
            behind: Behind::Server,
            lag: Duration::from_secs(1),
        }
    }

    /// Runs the search against a server whose p99 is `latency(rate)`, judged by `slo`.
    fn search(start: f64, cap: Option<f64>, slo: &Slo, latency: impl Fn(f64) -> f64) -> Vec<f64> {
        let mut search = Search::new(start, cap);
        let mut targets = Vec::new();
        while let Ok(target) = search.next() {
            targets.push(target);
            let held = judge(&figures(target, latency(target)), slo).is_empty();
            search.record(target, held);
            assert!(targets.len() < 30, "{targets:?}");
        }
        targets
    }

    #[test]
    fn doubles_while_steps_hold_then_bisects_to_within_ten_percent() {
        let slo: Slo = "p99<100ms".parse().expect("an SLO");
        // The fixture's queue at 20/s with a 10 ms service time.
        let queue = |rate: f64| 10.0 / (1.0 - (rate / 20.0).min(0.95));
        let targets = search(1.0, None, &slo, queue);
        assert_eq!(&targets[..6], &[1.0, 2.0, 4.0, 8.0, 16.0, 32.0]);
        let mut s = Search::new(1.0, None);
        for &t in &targets {
            s.record(t, queue(t) < 100.0);
        }
        let (held, broke) = s.bounds();
        let (held, broke) = (held.expect("held"), broke.expect("broke"));
        assert!(broke <= held * CLOSE_ENOUGH, "{targets:?}");
        assert!((16.0..18.0).contains(&held), "{targets:?}");
        assert!(targets.len() <= 10, "{targets:?}");
    }

    #[test]
    fn never_goes_above_the_cap_and_stops_when_it_holds() {
        let slo = Slo::default();
        let targets = search(4.0, Some(10.0), &slo, |_| 1.0);
        assert_eq!(targets, vec![4.0, 8.0, 10.0]);
        let mut s = Search::new(4.0, Some(10.0));
        s.record(10.0, true);
        assert_eq!(s.next(), Err(Stopped::Cap));
        // A cap learned later lowers the next target.
        let mut s = Search::new(4.0, None);
        s.record(4.0, true);
        s.cap_at(6.0);
        s.cap_at(50.0);
        assert_eq!(s.next(), Ok(6.0));
        let mut first = Search::new(4.0, None);
        first.record(4.0, false);
        assert_eq!(first.next(), Err(Stopped::FirstStepBroke));
    }

    #[test]
    fn a_step_breaks_on_push_back_errors_latency_and_a_rate_not_reached() {
        let slo: Slo = "p99<100ms,errors<1%".parse().expect("an SLO");
        assert!(judge(&figures(10.0, 50.0), &slo).is_empty());
        let mut step = figures(10.0, 150.0);
        step.too_many = 1;
        step.errors = 2;
        step.achieved = 9.0;
        step.behind = Behind::Concurrency(4);
        let breaches = judge(&step, &slo);
        let words: Vec<&str> = breaches.iter().map(Breach::word).collect();
        assert_eq!(words, ["429", "errors", "p99", "rate"]);
        assert_eq!(
            breaches[2].to_string(),
            "p99 150.0 ms >= 100 ms (from the schedule)"
        );
        assert_eq!(breaches[1].to_string(), "errors 2.0% >= 1%");
        assert!(breaches[3].to_string().contains("-c 4"), "{}", breaches[3]);
        // Exactly at the bound is a breach: the SLO says below.
        assert_eq!(judge(&figures(10.0, 100.0), &slo).len(), 1);
        assert_eq!(Behind::of(3.9, 4, Some(0.1), 2.0), Behind::Concurrency(4));
        assert_eq!(Behind::of(1.0, 4, Some(1.9), 2.0), Behind::Client);
        assert_eq!(Behind::of(1.0, 4, None, 2.0), Behind::Server);
    }

    #[test]
    fn the_summary_names_the_rate_that_held_and_why_the_next_broke() {
        let slo: Slo = "p99<100ms".parse().expect("an SLO");
        let held = figures(15.2, 84.0);
        let broke = figures(17.5, 120.0);
        let steps = vec![
            (held.clone(), judge(&held, &slo)),
            (broke.clone(), judge(&broke, &slo)),
        ];
        assert_eq!(
            summary(&slo, &steps, Stopped::Converged, None),
            "sustains 15.2/s (p99 84 ms < 100 ms); 17.5/s broke the p99 bound"
        );
        let capped = summary(
            &slo,
            &steps[..1],
            Stopped::Cap,
            Some("X-RateLimit-Limit: 10"),
        );
        assert!(
            capped.ends_with("the most X-RateLimit-Limit: 10 allows"),
            "{capped}"
        );
        let first = summary(&slo, &steps[1..], Stopped::FirstStepBroke, None);
        assert!(
            first.starts_with("even the first step, 17.5/s, broke: p99"),
            "{first}"
        );
        assert_eq!(Duration::from_millis(100).as_millis(), 100);
    }
}
