//! The concurrency sweep (`-c 1,4,16,64,256`): one row per level, and the knee, the level past
//! which more concurrency stops paying.
//!
//! The knee is the lowest level whose rate is within 10% of the best: a user who wants the most
//! throughput for the least load on the server picks it.

use serde::{Deserialize, Serialize};

use super::stats::RunMode;
use super::RunReport;
use crate::plan::slo::{Percentile, Slo};

/// A level within this fraction of the best rate counts as having reached it.
const KNEE_SHARE: f64 = 0.9;

/// The sweep's verdict, as the JSON report gives it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct KneeReport {
    /// The lowest concurrency within 10% of the best requests/s.
    pub concurrency: usize,
    /// Its requests/s.
    pub rps: f64,
    /// The concurrency that gave the most requests/s.
    pub best_concurrency: usize,
    pub best_rps: f64,
    /// False when the best rate came from the highest level tried and no lower level came
    /// within 10% of it: more concurrency may still help.
    pub reached: bool,
    /// With `--slo`: the highest level that kept its bounds, the knee a user with a latency
    /// budget picks; null without an SLO.
    #[serde(default)]
    pub slo: Option<SloKnee>,
}

/// The knee by an SLO (`-c 1,4,16,64 --slo 'p99<100ms'`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct SloKnee {
    /// The bounds, as judged (latency from each request's send; from its schedule with
    /// `--rate`; errors 1% when not bounded).
    pub slo: String,
    /// The highest concurrency that kept every bound, and its requests/s; null when none did.
    pub concurrency: Option<usize>,
    pub rps: Option<f64>,
    /// The lowest level that broke a bound, and the first bound it broke.
    pub broke: Option<usize>,
    pub why: Option<String>,
}

/// The error share that breaks an SLO that bounds none.
const DEFAULT_ERRORS: f64 = 0.01;

/// The first bound `run` breaks, in words; None when it keeps them all.
fn breach(run: &RunReport, slo: &Slo) -> Option<String> {
    let latency = run.latency_corrected_ms.as_ref().unwrap_or(&run.latency_ms);
    for (percentile, bound) in &slo.latency {
        let value = match percentile {
            Percentile::P50 => latency.p50,
            Percentile::P90 => latency.p90,
            Percentile::P99 => latency.p99,
            Percentile::P999 => latency.p999,
        };
        let bound_ms = bound.as_secs_f64() * 1000.0;
        if value >= bound_ms {
            return Some(format!(
                "{} {value:.1} ms >= {bound_ms} ms",
                percentile.name()
            ));
        }
    }
    let share = run.errors as f64 / run.requests.max(1) as f64;
    let most = slo.error_bound(DEFAULT_ERRORS);
    (share > most).then(|| format!("errors {:.1}% > {}%", share * 100.0, most * 100.0))
}

/// The highest level of a sweep that keeps `slo`, and the lowest that breaks it.
pub fn slo_knee(runs: &[RunReport], slo: &Slo) -> SloKnee {
    let levels = levels(runs);
    let kept = levels.iter().rev().find(|r| breach(r, slo).is_none());
    let broke = levels
        .iter()
        .find_map(|r| breach(r, slo).map(|why| (r.concurrency, why)));
    SloKnee {
        slo: slo.to_string(),
        concurrency: kept.map(|r| r.concurrency),
        rps: kept.map(|r| r.rps),
        broke: broke.as_ref().map(|(c, _)| *c),
        why: broke.map(|(_, why)| why),
    }
}

/// The SLO knee in words: "keeping p99<100ms: c=16 is the highest level that does (1800.0/s);
/// c=64 broke it: p99 130.0 ms >= 100 ms".
fn slo_sentence(knee: &SloKnee) -> String {
    let kept = match (knee.concurrency, knee.rps) {
        (Some(c), Some(rps)) => format!("c={c} is the highest level that does ({rps:.1}/s)"),
        _ => "no level does".to_owned(),
    };
    let broke = match (knee.broke, &knee.why) {
        (Some(c), Some(why)) => format!("; c={c} broke it: {why}"),
        _ => "; no level broke it".to_owned(),
    };
    format!("keeping {}: {kept}{broke}", knee.slo)
}

/// The concurrent runs that fetched anything, by concurrency: the levels a sweep compares.
pub fn levels(runs: &[RunReport]) -> Vec<&RunReport> {
    let mut levels: Vec<&RunReport> = runs
        .iter()
        .filter(|r| r.mode == RunMode::Concurrent && r.requests > 0)
        .collect();
    levels.sort_by_key(|r| r.concurrency);
    levels
}

/// The knee of the concurrent runs, when there are at least two levels to compare.
pub fn knee(runs: &[RunReport]) -> Option<KneeReport> {
    let levels = levels(runs);
    if levels.len() < 2 {
        return None;
    }
    let best = levels
        .iter()
        .max_by(|a, b| a.rps.total_cmp(&b.rps))
        .copied()?;
    let knee = levels
        .iter()
        .find(|r| r.rps >= KNEE_SHARE * best.rps)
        .copied()?;
    let highest = levels.last().map_or(0, |r| r.concurrency);
    Some(KneeReport {
        concurrency: knee.concurrency,
        rps: knee.rps,
        best_concurrency: best.concurrency,
        best_rps: best.rps,
        reached: knee.concurrency < highest,
        slo: None,
    })
}

/// The knee in words: "beyond c=64 more concurrency buys < 10% (1,953/s at c=64, best 2,101/s at c=256)".
///
/// A level at or above the number of requests it made sent them all at once (one wave): no higher
/// level can do better, so "try higher levels" would not help; the sentence says the range was
/// too short instead.
pub fn knee_sentence(knee: &KneeReport, runs: &[RunReport]) -> String {
    let rate = rate_sentence(knee, runs);
    match &knee.slo {
        Some(slo) => format!("{rate}. {}", slo_sentence(slo)),
        None => rate,
    }
}

/// The knee by rate in words (see [`knee_sentence`]).
fn rate_sentence(knee: &KneeReport, runs: &[RunReport]) -> String {
    let levels = levels(runs);
    let one_wave = |c: usize| {
        levels
            .iter()
            .find(|r| r.concurrency == c)
            .filter(|r| r.concurrency as u64 >= r.requests)
            .map(|r| r.requests)
    };
    if !knee.reached {
        if let Some(requests) = one_wave(knee.best_concurrency) {
            return format!(
                "no knee to find: c={} gave the best rate ({:.1}/s) with all {requests} requests \
                 in flight at once, so no higher level can do better; sweep a range with more ids \
                 than the highest level to see where more concurrency stops paying",
                knee.best_concurrency, knee.best_rps
            );
        }
        return format!(
            "no knee yet: the highest level, c={}, gave the best rate ({:.1}/s) by more than 10%; \
             try higher levels",
            knee.best_concurrency, knee.best_rps
        );
    }
    let best = if knee.best_concurrency == knee.concurrency {
        format!(
            "c={} gave the best rate, {:.1}/s",
            knee.concurrency, knee.rps
        )
    } else {
        format!(
            "{:.1}/s at c={}; best {:.1}/s at c={}",
            knee.rps, knee.concurrency, knee.best_rps, knee.best_concurrency
        )
    };
    let short = one_wave(knee.concurrency).map_or_else(String::new, |requests| {
        format!(
            "; at c={} all {requests} requests were in flight at once, so a longer range would \
             show whether the knee holds",
            knee.concurrency
        )
    });
    format!(
        "beyond c={} more concurrency buys < 10% ({best}){short}",
        knee.concurrency
    )
}

/// One row of the sweep table.
#[derive(Debug, Clone, PartialEq)]
pub struct SweepRow {
    /// `sequential` or `c=N`.
    pub label: String,
    pub wall_s: f64,
    pub rps: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub errors: u64,
    /// Requests/s over the first row's.
    pub speedup: Option<f64>,
}

/// The rows of a sweep, in run order, when the runs are one.
pub fn rows(runs: &[RunReport]) -> Option<Vec<SweepRow>> {
    knee(runs)?;
    let first = runs.first().map(|r| r.rps).filter(|&rps| rps > 0.0);
    Some(
        runs.iter()
            .map(|r| SweepRow {
                label: match r.mode {
                    RunMode::Sequential => "sequential".to_owned(),
                    RunMode::Concurrent => format!("c={}", r.concurrency),
                },
                wall_s: r.wall_s,
                rps: r.rps,
                p50_ms: r.latency_ms.p50,
                p99_ms: r.latency_ms.p99,
                errors: r.errors,
                speedup: first.map(|first| r.rps / first),
            })
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::stats::RunStats;

    fn run(concurrency: usize, rps: f64) -> RunReport {
        let mut report =
            RunReport::from_stats(&RunStats::new(RunMode::Concurrent, concurrency, None), None);
        report.requests = 100;
        report.rps = rps;
        report
    }

    #[test]
    fn with_an_slo_the_knee_is_the_highest_level_that_keeps_it() {
        let mut runs = [run(1, 25.0), run(4, 99.0), run(16, 380.0), run(64, 400.0)];
        for (r, p99) in runs.iter_mut().zip([20.0, 30.0, 80.0, 130.0]) {
            r.latency_ms.p99 = p99;
        }
        runs[1].errors = 1;
        let slo: Slo = "p99<100ms".parse().expect("slo");
        let found = slo_knee(&runs, &slo);
        assert_eq!(found.concurrency, Some(16));
        assert_eq!(found.rps, Some(380.0));
        assert_eq!(found.broke, Some(64));
        assert_eq!(found.why.as_deref(), Some("p99 130.0 ms >= 100 ms"));
        let mut knee = knee(&runs).expect("a sweep");
        knee.slo = Some(found);
        let sentence = knee_sentence(&knee, &runs);
        assert!(
            sentence.ends_with(
                "keeping p99<100ms: c=16 is the highest level that does (380.0/s); c=64 broke \
                 it: p99 130.0 ms >= 100 ms"
            ),
            "{sentence}"
        );
        // 1 error in 100 is not over 1%; 2 in 100 is.
        runs[3].latency_ms.p99 = 50.0;
        runs[3].errors = 2;
        let found = slo_knee(&runs, &slo);
        assert_eq!(found.concurrency, Some(16));
        assert_eq!(found.why.as_deref(), Some("errors 2.0% > 1%"));
    }

    #[test]
    fn knee_is_the_lowest_level_within_ten_percent_of_the_best() {
        let runs = [
            run(1, 25.0),
            run(4, 99.0),
            run(16, 380.0),
            run(64, 1000.0),
            run(256, 1050.0),
        ];
        let knee = knee(&runs).expect("a sweep");
        assert_eq!(knee.concurrency, 64);
        assert_eq!(knee.best_concurrency, 256);
        assert!(knee.reached);
        let sentence = knee_sentence(&knee, &runs);
        assert!(sentence.starts_with("beyond c=64 more concurrency buys < 10%"));
        assert!(!sentence.contains("in flight at once"), "{sentence}");
    }

    #[test]
    fn still_rising_at_the_top_is_no_knee() {
        let runs = [run(1, 25.0), run(4, 99.0)];
        let knee = knee(&runs).expect("a sweep");
        assert_eq!(knee.concurrency, 4);
        assert!(!knee.reached);
        let sentence = knee_sentence(&knee, &runs);
        assert!(sentence.starts_with("no knee yet"), "{sentence}");
        assert!(sentence.ends_with("try higher levels"), "{sentence}");
    }

    #[test]
    fn a_top_level_that_sent_every_request_at_once_gets_no_advice_to_go_higher() {
        let mut runs = [run(1, 25.0), run(8, 190.0)];
        for r in &mut runs {
            r.requests = 8;
        }
        let knee = knee(&runs).expect("a sweep");
        assert!(!knee.reached);
        let sentence = knee_sentence(&knee, &runs);
        assert!(sentence.starts_with("no knee to find: c=8"), "{sentence}");
        assert!(
            sentence.contains("all 8 requests in flight at once"),
            "{sentence}"
        );
        assert!(!sentence.contains("try higher levels"), "{sentence}");
    }

    #[test]
    fn a_knee_at_a_level_that_sent_every_request_at_once_is_qualified() {
        let mut runs = [run(4, 90.0), run(16, 300.0), run(64, 310.0)];
        for r in &mut runs {
            r.requests = 16;
        }
        let knee = knee(&runs).expect("a sweep");
        assert_eq!((knee.concurrency, knee.reached), (16, true));
        let sentence = knee_sentence(&knee, &runs);
        assert!(
            sentence.starts_with("beyond c=16 more concurrency buys < 10%"),
            "{sentence}"
        );
        assert!(
            sentence.ends_with("at c=16 all 16 requests were in flight at once, so a longer range would show whether the knee holds"),
            "{sentence}"
        );
    }

    #[test]
    fn one_level_is_no_sweep() {
        assert_eq!(knee(&[run(50, 100.0)]), None);
        assert_eq!(rows(&[run(50, 100.0)]), None);
    }

    #[test]
    fn rows_compare_with_the_first_level() {
        let rows = rows(&[run(1, 25.0), run(4, 100.0)]).expect("a sweep");
        assert_eq!(rows[0].label, "c=1");
        assert_eq!(rows[1].speedup, Some(4.0));
    }
}
