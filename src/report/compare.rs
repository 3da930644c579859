//! `fetchbench compare BASELINE CURRENT`: two reports side by side with ratios, and a verdict for
//! CI gates: the current run regressed when its wall time or its p99 latency grew past the
//! threshold, or when it failed more requests.

use std::io::{self, Write};

use super::{Report, RunReport};

/// How two runs of the same mode compare.
#[derive(Debug, Clone, PartialEq)]
pub struct Comparison {
    pub mode: String,
    pub rows: Vec<(&'static str, f64, f64)>,
    /// The figures that got worse past the threshold.
    pub regressions: Vec<String>,
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
        ("wall (s)", base.wall_s, now.wall_s),
        ("requests/s", base.rps, now.rps),
        ("p50 (ms)", base.latency_ms.p50, now.latency_ms.p50),
        ("p99 (ms)", base.latency_ms.p99, now.latency_ms.p99),
        ("errors", base.errors as f64, now.errors as f64),
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
        for (label, base, now) in &c.rows {
            let ratio = if *base > 0.0 {
                format!("{:.2}x", now / base)
            } else {
                "-".into()
            };
            writeln!(out, "  {label:<12} {base:>12.3} {now:>12.3} {ratio:>8}")?;
        }
        for r in &c.regressions {
            writeln!(out, "  regression (> {:.0}%): {r}", threshold * 100.0)?;
        }
    }
    Ok(())
}
