//! The concurrency sweep (`-c 1,4,16,64,256`): one row per level, and the knee, the level past
//! which more concurrency stops paying.
//!
//! The knee is the lowest level whose rate is within 10% of the best: a user who wants the most
//! throughput for the least load on the server picks it.

use serde::{Deserialize, Serialize};

use super::stats::RunMode;
use super::RunReport;

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
    })
}

/// The knee in words: "beyond c=64 more concurrency buys < 10% (1,953/s at c=64, best 2,101/s at c=256)".
///
/// A level at or above the number of requests it made sent them all at once (one wave): no higher
/// level can do better, so "try higher levels" would not help; the sentence says the range was
/// too short instead.
pub fn knee_sentence(knee: &KneeReport, runs: &[RunReport]) -> String {
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
