//! The side-by-side summary: one column per run, one row per figure, the same figures the
//! terminal report leads with, then the comparison in words and the slowest ids.

use std::fmt::Write as _;

use super::text::{bytes, count, counts, escape, ms};
use crate::report::{human, Report, RunReport};

/// A row: its label, and a cell per run (already escaped) with whether it is alarming.
type Row = (&'static str, Vec<(String, bool)>);

/// The summary section.
pub fn section(report: &Report) -> String {
    let mut html = String::from("<section id=\"summary\"><h2>Summary</h2>\n");
    html.push_str(&table(&report.runs));
    if let Some(sentence) = human::comparison(report) {
        let _ = writeln!(html, "<p class=\"verdict\">{}</p>", escape(&sentence));
    }
    html.push_str(&slowest(&report.runs));
    html.push_str("</section>\n");
    html
}

fn table(runs: &[RunReport]) -> String {
    let mut html = String::from("<table class=\"summary\">\n<thead><tr><th></th>");
    for run in runs {
        let _ = write!(html, "<th>{}</th>", escape(&run.name()));
    }
    html.push_str("</tr></thead>\n<tbody>\n");
    for (label, cells) in rows(runs) {
        let _ = write!(html, "<tr><th>{label}</th>");
        for (cell, alarming) in cells {
            let class = if alarming { " class=\"bad\"" } else { "" };
            let _ = write!(html, "<td{class}>{cell}</td>");
        }
        html.push_str("</tr>\n");
    }
    html.push_str("</tbody></table>\n");
    html
}

fn rows(runs: &[RunReport]) -> Vec<Row> {
    let row = |label, cell: &dyn Fn(&RunReport) -> String| -> Row {
        (label, runs.iter().map(|r| (cell(r), false)).collect())
    };
    let mut rows = vec![
        row("concurrency", &|r| r.concurrency.to_string()),
        row("requests", &|r| count(r.requests)),
        row("ok", &|r| count(r.ok)),
        (
            "errors",
            runs.iter()
                .map(|r| (count(r.errors), r.errors > 0))
                .collect(),
        ),
        row("wall", &|r| format!("{:.3} s", r.wall_s)),
        row("requests/s", &|r| format!("{:.1}", r.rps)),
        row("latency min", &|r| ms(r.latency_ms.min)),
        row("latency mean", &|r| ms(r.latency_ms.mean)),
        row("latency p50", &|r| ms(r.latency_ms.p50)),
        row("latency p90", &|r| ms(r.latency_ms.p90)),
        row("latency p99", &|r| ms(r.latency_ms.p99)),
        row("latency max", &|r| ms(r.latency_ms.max)),
        row("bytes", &|r| bytes(r.bytes)),
        row("on the wire", &|r| bytes(r.wire_bytes)),
        row("status", &|r| counts(&r.status)),
    ];
    if runs.iter().any(|r| !r.error_kinds.is_empty()) {
        rows.push(row("error kinds", &|r| counts(&r.error_kinds)));
    }
    rows
}

/// "sequential: slowest ids 151 (73.1 ms), ..." per run, ids escaped.
fn slowest(runs: &[RunReport]) -> String {
    let mut html = String::new();
    for run in runs.iter().filter(|r| !r.slowest.is_empty()) {
        let list: Vec<String> = run
            .slowest
            .iter()
            .map(|s| {
                let id = match &s.id {
                    serde_json::Value::String(text) => text.clone(),
                    other => other.to_string(),
                };
                format!("{} ({})", escape(&id), ms(s.ms))
            })
            .collect();
        let _ = writeln!(
            html,
            "<p class=\"hint\">{}: slowest ids {}</p>",
            escape(&run.name()),
            list.join(", ")
        );
    }
    html
}

#[cfg(test)]
mod tests {
    use super::super::fixture;
    use super::*;

    #[test]
    fn one_column_per_run_and_the_speedup() {
        let sequential = fixture::run(150, 1, |_| false);
        let concurrent = fixture::run(150, 50, |n| n == 3);
        let html = section(&fixture::report(&[&sequential, &concurrent]));
        assert!(html.contains("<th>sequential</th><th>concurrent c=50</th>"));
        for label in [
            "requests",
            "wall",
            "requests/s",
            "latency p99",
            "on the wire",
        ] {
            assert!(html.contains(&format!("<th>{label}</th>")), "{label}");
        }
        assert!(html.contains("<tr><th>errors</th><td>0</td><td class=\"bad\">1</td></tr>"));
        assert!(html.contains("ran ") && html.contains("faster than sequential"));
        assert!(html.contains("error kinds"));
    }

    #[test]
    fn text_ids_are_escaped() {
        let stats = fixture::run(3, 1, |_| false);
        let mut report = fixture::report(&[&stats]);
        report.runs[0].slowest[0].id = serde_json::json!("<img src=x onerror=alert(1)>");
        let html = section(&report);
        assert!(!html.contains("<img"));
        assert!(html.contains("&lt;img src=x onerror=alert(1)&gt;"));
    }
}
