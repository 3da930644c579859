//! The visual report: one self-contained HTML file (inline SVG and CSS, no network, no script),
//! for a browser or a printer: the summary table, the sweep's charts, a waterfall per run on a
//! shared time axis, and a latency histogram per run.
//!
//! Each part renders itself from the [`Report`] (and the runs' [`Waterfall`]s) in its own module;
//! this one only assembles the page. Every string that came from data goes through
//! `text::escape`.

mod find_rate;
#[cfg(test)]
pub(super) mod fixture;
mod histogram;
mod svg;
mod sweep;
mod table;
mod text;
mod waterfall;

use std::fmt::Write as _;
use std::io;
use std::path::Path;

use self::text::escape;
use super::waterfall::Waterfall;
use super::{Report, RunReport};

/// The page's stylesheet, inlined.
const STYLE: &str = include_str!("style.css");

/// Renders the report; `waterfalls[i]` holds the bars of `report.runs[i]`.
pub fn render(report: &Report, waterfalls: &[&Waterfall]) -> String {
    let mut html = String::with_capacity(64 * 1024);
    html.push_str("<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n");
    html.push_str("<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n");
    html.push_str("<title>fetchbench report</title>\n");
    let _ = writeln!(html, "<style>\n{STYLE}</style>\n</head><body>");
    html.push_str(&header(report));
    html.push_str(&table::section(report));
    if let Some(sweep) = sweep::section(report) {
        html.push_str(&sweep);
    }
    if let Some(search) = find_rate::section(report) {
        html.push_str(&search);
    }
    html.push_str(&waterfall::section(&report.runs, waterfalls));
    html.push_str(&histogram::section(&report.runs));
    let _ = writeln!(
        html,
        "<footer>written by {}</footer>\n</body></html>",
        escape(&report.version)
    );
    html
}

/// Writes the rendered report to `path` atomically (a reader never sees half a file).
pub fn write(path: &Path, report: &Report, waterfalls: &[&Waterfall]) -> io::Result<()> {
    crate::replace::write(path, render(report, waterfalls).as_bytes())
}

/// The title, what the runs were, and anything that qualifies the figures.
fn header(report: &Report) -> String {
    let names: Vec<String> = report.runs.iter().map(RunReport::name).collect();
    let mut html = String::from("<header><h1>fetchbench report</h1>\n");
    let _ = write!(
        html,
        "<p class=\"meta\">{} · {} run{}: {}",
        escape(&report.version),
        report.runs.len(),
        if report.runs.len() == 1 { "" } else { "s" },
        escape(&names.join(", "))
    );
    if !report.keepalive {
        html.push_str(" · a new connection per request (--no-keepalive)");
    }
    if let Some(shard) = &report.shard {
        let _ = write!(html, " · shard {}", escape(&shard.to_string()));
    }
    if let Some(proxy) = &report.proxy {
        let _ = write!(html, " · through proxy {}", escape(proxy));
    }
    if report.insecure {
        html.push_str(" · TLS certificates not verified (--insecure)");
    }
    html.push_str("</p>\n");
    if let Some(signal) = &report.interrupted {
        let _ = writeln!(
            html,
            "<p class=\"warning\">interrupted by {}: figures cover the requests that completed</p>",
            escape(signal)
        );
    }
    html.push_str("</header>\n");
    html
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_whole_page_with_every_part() {
        let sequential = fixture::run(150, 1, |n| n == 42);
        let concurrent = fixture::run(150, 50, |_| false);
        let report = fixture::report(&[&sequential, &concurrent]);
        let html = render(&report, &[&sequential.waterfall, &concurrent.waterfall]);
        assert!(html.starts_with("<!doctype html>"));
        assert!(html.trim_end().ends_with("</html>"));
        assert_eq!(html.matches("<svg class=\"waterfall\"").count(), 2);
        assert_eq!(html.matches("<svg class=\"histogram\"").count(), 2);
        assert_eq!(html.matches("<rect class=\"bar").count(), 300);
        assert!(html.contains("<table class=\"summary\">"));
        assert!(!html.contains("class=\"sweep\""));
        for external in ["http://", "https://", "<script", "<link", "@import", "url("] {
            let outside = html.replace("http://www.w3.org/2000/svg", "");
            assert!(!outside.contains(external), "{external}");
        }
    }

    #[test]
    fn strings_from_data_are_escaped() {
        let stats = fixture::run(5, 1, |_| false);
        let mut report = fixture::report(&[&stats]);
        report.proxy = Some("http://u:***@proxy\"><script>alert(1)</script>".to_owned());
        report.interrupted = Some("<SIGINT>".to_owned());
        report.version = "fetchbench <b>0</b>".to_owned();
        let html = render(&report, &[&stats.waterfall]);
        assert!(!html.contains("<script"));
        assert!(!html.contains("<b>0</b>"));
        assert!(!html.contains("<SIGINT>"));
        assert!(html.contains("proxy&quot;&gt;&lt;script&gt;alert(1)&lt;/script&gt;"));
        assert!(html.contains("interrupted by &lt;SIGINT&gt;"));
    }

    #[test]
    fn a_hundred_thousand_requests_stay_small() {
        let stats = fixture::run(100_000, 64, |n| n % 5_000 == 0);
        let report = fixture::report(&[&stats]);
        let html = render(&report, &[&stats.waterfall]);
        let bars = html.matches("<rect class=\"bar").count();
        assert!(bars <= 2048, "{bars} bars");
        assert!(html.contains("each bar = "));
        assert!(html.len() < 1_000_000, "{} bytes", html.len());
    }

    #[test]
    fn an_empty_run_still_renders() {
        let empty = fixture::run(0, 1, |_| false);
        let html = render(&fixture::report(&[&empty]), &[&empty.waterfall]);
        assert!(html.contains("data-requests=\"0\""));
        assert_eq!(html.matches("<rect class=\"bar").count(), 0);
        assert!(html.contains("no latencies recorded"));
    }

    #[test]
    fn writes_the_file() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("report.html");
        let stats = fixture::run(10, 1, |_| false);
        write(&path, &fixture::report(&[&stats]), &[&stats.waterfall]).expect("write");
        let written = std::fs::read_to_string(&path).expect("read back");
        assert!(written.contains("<svg class=\"waterfall\" data-run=\"0\" data-requests=\"10\""));
    }
}
