//! The side-by-side summary: one column per run, one row per figure, the rows the terminal
//! report leads with ([`figures::rows`]), then the comparison in words, the slowest ids and where
//! a stop rule ended the range.

use std::fmt::Write as _;

use super::text::{escape, ms};
use crate::report::{figures, human, Report, RunReport};

/// The summary section.
pub fn section(report: &Report) -> String {
    let mut html = String::from("<section id=\"summary\"><h2>Summary</h2>\n");
    html.push_str(&table(&report.runs));
    if let Some(sentence) = human::comparison(report) {
        let _ = writeln!(html, "<p class=\"verdict\">{}</p>", escape(&sentence));
    }
    html.push_str(&slowest(&report.runs));
    for run in &report.runs {
        if let Some(account) = run.crawl.as_ref().and_then(|c| c.stop_account()) {
            let _ = writeln!(
                html,
                "<p class=\"hint\">{}: {}</p>",
                escape(&run.name()),
                escape(&account)
            );
        }
    }
    html.push_str("</section>\n");
    html
}

fn table(runs: &[RunReport]) -> String {
    let mut html = String::from("<table class=\"summary\">\n<thead><tr><th></th>");
    for run in runs {
        let _ = write!(html, "<th>{}</th>", escape(&run.name()));
    }
    html.push_str("</tr></thead>\n<tbody>\n");
    for row in figures::rows(runs) {
        let _ = write!(html, "<tr><th>{}</th>", escape(&row.label));
        for cell in row.cells {
            let class = if cell.alarming { " class=\"bad\"" } else { "" };
            let _ = write!(html, "<td{class}>{}</td>", escape(&cell.text));
        }
        html.push_str("</tr>\n");
    }
    html.push_str("</tbody></table>\n");
    html
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
    fn the_rows_of_the_terminal_report_in_its_order_escaped() {
        let sequential = fixture::run(150, 1, |_| false);
        let concurrent = fixture::run(150, 50, |n| n == 3);
        let mut report = fixture::report(&[&sequential, &concurrent]);
        report.runs[1].proxied_requests = 150;
        report.runs[1].proxies = vec!["http://<proxy>:3128".to_owned()];
        let html = section(&report);
        let rows = figures::rows(&report.runs);
        let mut from = 0;
        for row in &rows {
            let th = format!("<tr><th>{}</th>", row.label);
            let at = html[from..].find(&th).expect(&row.label);
            from += at + th.len();
        }
        let body = html.split_once("<tbody>").expect("a table body").1;
        assert_eq!(body.matches("<tr>").count(), rows.len());
        assert!(html.contains(
            "<tr><th>through proxy</th><td>none</td><td>150 of 150: http://&lt;proxy&gt;:3128</td>"
        ));
        assert!(html.contains("<tr><th>rate</th><td>unlimited</td><td>unlimited</td></tr>"));
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

    #[test]
    fn where_a_stop_rule_ended_the_range_is_said_and_is_no_row() {
        let stats = fixture::run(12, 50, |_| false);
        let mut report = fixture::report(&[&stats]);
        report.runs[0].crawl = Some(crate::report::crawl::CrawlReport {
            counts: crate::engine::CrawlCounts {
                stopped: Some(
                    "after 3 consecutive missing ids from 152 (--stop-after-missing 3)".into(),
                ),
                past_stop: 15,
                ..Default::default()
            },
            ..Default::default()
        });
        let html = section(&report);
        assert!(html.contains(
            "<p class=\"hint\">concurrent c=50: stopped after 3 consecutive missing ids from 152 \
             (--stop-after-missing 3); 15 answers past the stop not written</p>"
        ));
        assert!(!html.contains("<th>crawl"), "{html}");
    }
}
