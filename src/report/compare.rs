//! `fetchbench compare BASELINE CURRENT`: two reports side by side with ratios, and a verdict for
//! CI gates: the current run regressed when its wall time or its p99 latency grew past the
//! threshold, or when it failed more requests.

use std::io::{self, Write};

use super::{Report, RunReport};

/// One figure of both runs.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    pub label: &'static str,
    pub baseline: f64,
    pub current: f64,
    /// A count, printed as a whole number.
    pub count: bool,
}

impl Row {
    fn new(label: &'static str, baseline: f64, current: f64) -> Self {
        Self {
            label,
            baseline,
            current,
            count: false,
        }
    }

    fn count(label: &'static str, baseline: u64, current: u64) -> Self {
        Self {
            label,
            baseline: baseline as f64,
            current: current as f64,
            count: true,
        }
    }
}

/// How two runs of the same mode compare.
#[derive(Debug, Clone, PartialEq)]
pub struct Comparison {
    pub mode: String,
    pub rows: Vec<Row>,
    /// The figures that got worse past the threshold.
    pub regressions: Vec<String>,
}

/// A warning when the two reports are not of one job (or one cannot say), else None: their
/// figures may differ for reasons other than a regression.
pub fn job_warning(baseline: &Report, current: &Report) -> Option<String> {
    match (&baseline.job, &current.job) {
        (Some(b), Some(c)) if b.fingerprint != c.fingerprint => Some(format!(
            "the reports are of different jobs (they differ in {}): the comparison may say \
             more about the jobs than about a regression",
            b.differences(c).join(", ")
        )),
        (Some(_), Some(_)) => None,
        (b, c) => {
            let without: Vec<&str> = [
                ("the baseline", b.is_none()),
                ("the current report", c.is_none()),
            ]
            .into_iter()
            .filter_map(|(name, none)| none.then_some(name))
            .collect();
            Some(format!(
                "{} carr{} no job identity (written by an older fetchbench): not checked to be \
                 of the same job",
                without.join(" and "),
                if without.len() == 1 { "ies" } else { "y" }
            ))
        }
    }
}

/// Compares runs of the same mode; `threshold` is a fraction (0.10 for 10%).
pub fn compare(baseline: &Report, current: &Report, threshold: f64) -> Vec<Comparison> {
    baseline
        .runs
        .iter()
        .filter_map(|base| {
            let now = current.runs.iter().find(|r| r.mode == base.mode)?;
            Some(compare_runs(base, now, threshold))
        })
        .collect()
}

fn compare_runs(base: &RunReport, now: &RunReport, threshold: f64) -> Comparison {
    let rows = vec![
        Row::new("wall (s)", base.wall_s, now.wall_s),
        Row::new("requests/s", base.rps, now.rps),
        Row::new("p50 (ms)", base.latency_ms.p50, now.latency_ms.p50),
        Row::new("p99 (ms)", base.latency_ms.p99, now.latency_ms.p99),
        Row::count("errors", base.errors, now.errors),
    ];
    let mut regressions = Vec::new();
    let grew = |b: f64, n: f64| b > 0.0 && n > b * (1.0 + threshold);
    if grew(base.wall_s, now.wall_s) {
        regressions.push(format!(
            "wall time {:.3} s -> {:.3} s",
            base.wall_s, now.wall_s
        ));
    }
    if grew(base.latency_ms.p99, now.latency_ms.p99) {
        regressions.push(format!(
            "p99 {:.1} ms -> {:.1} ms",
            base.latency_ms.p99, now.latency_ms.p99
        ));
    }
    if now.errors > base.errors {
        regressions.push(format!("errors {} -> {}", base.errors, now.errors));
    }
    Comparison {
        mode: base.mode.to_string(),
        rows,
        regressions,
    }
}

/// The side-by-side table with ratios, and the verdict.
pub fn write(comparisons: &[Comparison], threshold: f64, out: &mut dyn Write) -> io::Result<()> {
    for c in comparisons {
        writeln!(out, "{} run", c.mode)?;
        writeln!(
            out,
            "  {:<12} {:>12} {:>12} {:>8}",
            "", "baseline", "current", "ratio"
        )?;
        for row in &c.rows {
            let (label, base, now) = (row.label, row.baseline, row.current);
            let ratio = if base > 0.0 {
                format!("{:.2}x", now / base)
            } else {
                "-".into()
            };
            if row.count {
                writeln!(out, "  {label:<12} {base:>12} {now:>12} {ratio:>8}")?;
            } else {
                writeln!(out, "  {label:<12} {base:>12.3} {now:>12.3} {ratio:>8}")?;
            }
        }
        for r in &c.regressions {
            writeln!(out, "  regression (> {:.0}%): {r}", threshold * 100.0)?;
        }
    }
    Ok(())
}
