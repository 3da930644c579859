//! The rows both renderers show: label and the text of each run's cell, in order.
//!
//! The terminal table (`human`) and the HTML summary (`html::table`) lay out these rows and only
//! these, so the two cannot drift apart: a figure added here appears in both, with the same label,
//! at the same place, reading the same. What stays with each renderer is presentation: alignment
//! and colour on the terminal, escaping and classes in the page, and what only one of them draws
//! (bars, charts, sentences).

use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet};

use super::crawl::CrawlReport;
use super::stats::LatencySummary;
use super::units::{bytes, ms};
use super::{RunReport, WaitReport};
use crate::record::WaitCause;

/// One figure across the runs: its label and a cell per run, in the runs' order.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    /// Fixed for most figures; a crawl's levels are named by their depth ("crawl depth 1").
    pub label: Cow<'static, str>,
    pub cells: Vec<Cell>,
}

/// A run's cell: plain text (not escaped, not padded), and whether it is bad news, which the
/// renderers mark (red on the terminal, `class="bad"` in the page).
#[derive(Debug, Clone, PartialEq)]
pub struct Cell {
    pub text: String,
    pub alarming: bool,
}

/// The summary rows of `runs`: how they were run, the counts, the bytes, the outcome and
/// schedule figures when there are any, the latencies, then what answered and how.
pub fn rows(runs: &[RunReport]) -> Vec<Row> {
    let row = |label: &'static str, cell: &dyn Fn(&RunReport) -> String| Row {
        label: Cow::Borrowed(label),
        cells: runs
            .iter()
            .map(|r| Cell {
                text: cell(r),
                alarming: false,
            })
            .collect(),
    };
    let mut rows = vec![
        row("concurrency", &|r| r.concurrency.to_string()),
        row("rate", &|r| {
            r.rate
                .target
                .map_or_else(|| "unlimited".to_owned(), |x| format!("{x:.1}/s"))
        }),
        row("requests", &|r| r.requests.to_string()),
        row("ok", &|r| r.ok.to_string()),
        Row {
            label: Cow::Borrowed("errors"),
            cells: runs
                .iter()
                .map(|r| Cell {
                    text: r.errors.to_string(),
                    alarming: r.errors > 0,
                })
                .collect(),
        },
        row("retries", &|r| r.retries.to_string()),
        row("wall", &|r| format!("{:.3} s", r.wall_s)),
        row("requests/s", &|r| format!("{:.1}", r.rps)),
        row("bytes", &|r| bytes(r.bytes)),
        row("on the wire", &|r| bytes(r.wire_bytes)),
        row("compression", &|r| {
            r.compression_ratio
                .map_or_else(|| "-".to_owned(), |x| format!("{x:.1}x"))
        }),
        row("wire rate", &|r| format!("{:.1} MB/s", r.wire_mb_per_s)),
    ];
    // Fast failures pull a blended median down: when some answers were not 2xx, the 2xx figures
    // come before the blended latencies.
    let mixed = runs
        .iter()
        .any(|r| r.latency_ms_by_class.keys().any(|c| c != "2xx"));
    if mixed {
        let class = |r: &RunReport, pick: fn(&LatencySummary) -> f64| {
            r.latency_ms_by_class
                .get("2xx")
                .map_or_else(|| "-".to_owned(), |l| ms(pick(l)))
        };
        rows.push(row("2xx latency p50", &|r| class(r, |l| l.p50)));
        rows.push(row("2xx latency p99", &|r| class(r, |l| l.p99)));
        rows.push(row("not 2xx", &|r| {
            let two = r
                .status
                .iter()
                .filter(|(s, _)| s.starts_with('2'))
                .map(|(_, n)| n)
                .sum::<u64>();
            r.requests.saturating_sub(two).to_string()
        }));
    }
    if runs.iter().any(|r| r.proxied_requests > 0) {
        // Through a proxy the figures measure the proxy too: say which, and for how many.
        rows.push(row("through proxy", &|r| match r.proxies.as_slice() {
            [] => "none".to_owned(),
            proxies => format!(
                "{} of {}: {}",
                r.proxied_requests,
                r.requests,
                proxies.join(", ")
            ),
        }));
    }
    if runs.iter().any(|r| r.host_pauses > 0) {
        // Every request to a host that pushed back waited with it.
        rows.push(row("host pushed back", &|r| {
            let settled = r
                .settled_rate
                .map_or_else(String::new, |rate| format!(", settled at {rate:.1}/s"));
            format!(
                "{} times, longest {}{settled}",
                r.host_pauses,
                ms(r.longest_pause_ms)
            )
        }));
    }
    for cause in WaitCause::ALL {
        // Time held at a host before the send: a wait, apart from the latencies below.
        let key = cause.as_str();
        if !runs
            .iter()
            .any(|r| r.waits.as_ref().is_some_and(|w| w.contains_key(key)))
        {
            continue;
        }
        rows.push(row(wait_label(cause), &|r| {
            r.waits
                .as_ref()
                .and_then(|w| w.get(key))
                .map_or_else(|| "-".to_owned(), wait_cell)
        }));
    }
    if runs.iter().any(|r| r.cache.is_some()) {
        // Hits made no request: they are in the counts above, in no latency below.
        rows.push(row("cache", &|r| {
            r.cache
                .as_ref()
                .map_or_else(|| "-".to_owned(), |c| c.summary())
        }));
    }
    if runs.iter().any(|r| r.throttle_delay_ms.is_some()) {
        // What --auto-throttle converged to: the spacing and the concurrency it keeps.
        rows.push(row("auto-throttle", &|r| match r.throttle_delay_ms {
            Some(delay) => {
                let concurrency = r
                    .throttle_concurrency
                    .map_or_else(String::new, |c| format!(", {c:.1} in flight"));
                format!("delay {}{concurrency}", ms(delay))
            }
            None => "-".to_owned(),
        }));
    }
    rows.extend(crawl_rows(runs));
    if runs.iter().any(|r| r.latency_corrected_ms.is_some()) {
        let corrected = |r: &RunReport, pick: fn(&LatencySummary) -> f64| {
            r.latency_corrected_ms
                .as_ref()
                .map_or_else(|| "-".to_owned(), |l| ms(pick(l)))
        };
        rows.push(row("p50 from schedule", &|r| corrected(r, |l| l.p50)));
        rows.push(row("p99 from schedule", &|r| corrected(r, |l| l.p99)));
    }
    // No request went out (every record a cache hit): no latency, rather than zeros.
    let latency = |r: &RunReport, pick: fn(&LatencySummary) -> f64| match r.latency_ms.is_empty() {
        true => "-".to_owned(),
        false => ms(pick(&r.latency_ms)),
    };
    rows.extend([
        row("latency min", &|r| latency(r, |l| l.min)),
        row("latency mean", &|r| latency(r, |l| l.mean)),
        row("latency p50", &|r| latency(r, |l| l.p50)),
        row("latency p90", &|r| latency(r, |l| l.p90)),
        row("latency p99", &|r| latency(r, |l| l.p99)),
        row("latency p99.9", &|r| latency(r, |l| l.p999)),
        row("latency max", &|r| latency(r, |l| l.max)),
        row("status", &|r| counts(&r.status)),
        row("http version", &|r| counts(&r.http_versions)),
        row("error kinds", &|r| counts(&r.error_kinds)),
        row("in flight (mean)", &|r| format!("{:.1}", r.mean_in_flight)),
        row("connections", &|r| r.connections_opened.to_string()),
        row("client CPU", &|r| {
            r.client_cpu_s
                .map_or_else(|| "-".to_owned(), |s| format!("{s:.3} s"))
        }),
    ]);
    rows
}

/// What a crawl followed and skipped: a row per level, then the pages and each kind of skipped
/// link, one short figure a row so the table fits a terminal; none when nothing was crawled (a
/// stop rule's account is a sentence of its own, see [`CrawlReport::stop_account`]).
fn crawl_rows(runs: &[RunReport]) -> Vec<Row> {
    let crawls: Vec<Option<&CrawlReport>> = runs
        .iter()
        .map(|r| r.crawl.as_ref().filter(|c| c.crawled()))
        .collect();
    if crawls.iter().all(Option::is_none) {
        return Vec::new();
    }
    let row = |label: Cow<'static, str>, cell: &dyn Fn(&CrawlReport) -> (String, bool)| Row {
        label,
        cells: crawls
            .iter()
            .map(|c| match c {
                Some(c) => {
                    let (text, alarming) = cell(c);
                    Cell { text, alarming }
                }
                None => Cell {
                    text: "-".to_owned(),
                    alarming: false,
                },
            })
            .collect(),
    };
    let count = |label: &'static str, pick: fn(&CrawlReport) -> u64| {
        row(Cow::Borrowed(label), &|c| (pick(c).to_string(), false))
    };
    let depths: BTreeSet<u32> = crawls
        .iter()
        .flatten()
        .flat_map(|c| c.levels.iter().map(|l| l.depth))
        .collect();
    let mut rows: Vec<Row> = depths
        .into_iter()
        .map(|depth| {
            row(Cow::Owned(format!("crawl depth {depth}")), &|c| match c
                .levels
                .iter()
                .find(|l| l.depth == depth)
            {
                Some(l) => (
                    format!("{} ({} failed)", l.requests, l.errors),
                    l.errors > 0,
                ),
                None => ("-".to_owned(), false),
            })
        })
        .collect();
    rows.push(count("next pages", |c| c.counts.pages));
    rows.push(count("duplicate links", |c| c.counts.duplicates));
    rows.push(count("out of scope", |c| c.counts.out_of_scope));
    // Rare kinds get a row only when they happened, so a common crawl stays short.
    let any = |pick: fn(&CrawlReport) -> u64| crawls.iter().flatten().any(|c| pick(c) > 0);
    if any(|c| c.counts.invalid) {
        rows.push(count("invalid links", |c| c.counts.invalid));
    }
    rows.push(count("over budget", |c| c.counts.over_budget));
    rows.push(count("chain loops", |c| c.counts.loops));
    if any(|c| c.counts.already_done) {
        rows.push(count("already done", |c| c.counts.already_done));
    }
    rows
}

/// A wait row's label.
fn wait_label(cause: WaitCause) -> &'static str {
    match cause {
        WaitCause::Pushback => "waited: pushback",
        WaitCause::CrawlDelay => "waited: crawl-delay",
        WaitCause::Throttle => "waited: throttle",
        WaitCause::HostConcurrency => "waited: host-concurrency",
        WaitCause::HostRate => "waited: host-rate",
        WaitCause::Robots => "waited: robots",
    }
}

/// `12× 3.210 s, p50 210.0 ms, p99 1100.0 ms`
fn wait_cell(waits: &WaitReport) -> String {
    format!(
        "{}× {:.3} s, p50 {}, p99 {}",
        waits.count,
        waits.total_ms / 1000.0,
        ms(waits.p50_ms),
        ms(waits.p99_ms)
    )
}

/// `200×148 404×2`, or `-` when empty.
fn counts(map: &BTreeMap<String, u64>) -> String {
    if map.is_empty() {
        return "-".to_owned();
    }
    map.iter()
        .map(|(key, n)| format!("{key}×{n}"))
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::html::fixture;

    fn labels(rows: &[Row]) -> Vec<&str> {
        rows.iter().map(|r| r.label.as_ref()).collect()
    }

    #[test]
    fn the_common_rows_in_order() {
        let sequential = fixture::run(150, 1, |_| false);
        let rows = rows(&fixture::report(&[&sequential]).runs);
        assert_eq!(
            labels(&rows),
            [
                "concurrency",
                "rate",
                "requests",
                "ok",
                "errors",
                "retries",
                "wall",
                "requests/s",
                "bytes",
                "on the wire",
                "compression",
                "wire rate",
                "latency min",
                "latency mean",
                "latency p50",
                "latency p90",
                "latency p99",
                "latency p99.9",
                "latency max",
                "status",
                "http version",
                "error kinds",
                "in flight (mean)",
                "connections",
                "client CPU",
            ]
        );
        let cell = |label| &rows.iter().find(|r| r.label == label).unwrap().cells[0];
        assert_eq!(cell("requests").text, "150");
        assert_eq!(cell("rate").text, "unlimited");
        assert_eq!(cell("on the wire").text, "150.0 kB");
        assert_eq!(cell("status").text, "200×150");
        assert_eq!(cell("error kinds").text, "-");
        assert!(rows.iter().all(|r| r.cells.iter().all(|c| !c.alarming)));
    }

    #[test]
    fn a_row_per_cause_of_waiting_seen_in_any_run() {
        let sequential = fixture::run(150, 1, |_| false);
        let concurrent = fixture::run(150, 50, |_| false);
        let mut report = fixture::report(&[&sequential, &concurrent]);
        let waits = WaitReport {
            count: 12,
            total_ms: 3210.0,
            p50_ms: 210.0,
            p99_ms: 1100.0,
        };
        report.runs[1].waits = Some(BTreeMap::from([("pushback".to_owned(), waits)]));
        let rows = rows(&report.runs);
        let waited: Vec<&Row> = rows
            .iter()
            .filter(|r| r.label.starts_with("waited"))
            .collect();
        assert_eq!(waited.len(), 1);
        assert_eq!(waited[0].label, "waited: pushback");
        let cells: Vec<&str> = waited[0].cells.iter().map(|c| c.text.as_str()).collect();
        assert_eq!(cells, ["-", "12× 3.210 s, p50 210.0 ms, p99 1100.0 ms"]);
    }

    #[test]
    fn outcome_proxy_and_schedule_rows_come_before_the_blended_latencies() {
        let sequential = fixture::run(150, 1, |_| false);
        let concurrent = fixture::run(150, 50, |n| n == 3);
        let mut report = fixture::report(&[&sequential, &concurrent]);
        report.runs[1].proxied_requests = 150;
        report.runs[1].proxies = vec!["http://proxy:3128".to_owned()];
        report.runs[1].latency_corrected_ms = Some(report.runs[1].latency_ms);
        let rows = rows(&report.runs);
        let at = |label| rows.iter().position(|r| r.label == label).unwrap();
        let wire = at("wire rate");
        let extra = [
            "2xx latency p50",
            "2xx latency p99",
            "not 2xx",
            "through proxy",
            "p50 from schedule",
            "p99 from schedule",
        ];
        for (k, label) in extra.iter().enumerate() {
            assert_eq!(at(label), wire + 1 + k, "{label}");
        }
        assert_eq!(at("latency min"), wire + 1 + extra.len());
        let cells = |label| -> Vec<String> {
            rows[at(label)]
                .cells
                .iter()
                .map(|c| c.text.clone())
                .collect()
        };
        assert_eq!(cells("not 2xx"), ["0", "1"]);
        assert_eq!(
            cells("through proxy"),
            ["none", "150 of 150: http://proxy:3128"]
        );
        assert_eq!(cells("p50 from schedule")[0], "-");
        let errors = &rows[at("errors")].cells;
        assert_eq!((errors[0].alarming, errors[1].alarming), (false, true));
    }

    #[test]
    fn a_crawl_gets_short_rows_of_its_own_and_a_stop_rule_alone_gets_none() {
        use crate::report::crawl::LevelReport;
        let level = |depth, requests, errors| LevelReport {
            depth,
            requests,
            ok: requests - errors,
            errors,
            mean_ms: 40.0,
        };
        let stats = fixture::run(159, 50, |_| false);
        let mut report = fixture::report(&[&stats, &stats]);
        report.runs[0].crawl = Some(CrawlReport {
            counts: crate::engine::CrawlCounts {
                pages: 7,
                duplicates: 3,
                invalid: 1,
                ..Default::default()
            },
            levels: vec![level(0, 8, 0), level(1, 151, 2)],
        });
        let rows = rows(&report.runs);
        let at = |label| rows.iter().position(|r| r.label == label).expect(label);
        let crawl = [
            "crawl depth 0",
            "crawl depth 1",
            "next pages",
            "duplicate links",
            "out of scope",
            "invalid links",
            "over budget",
            "chain loops",
        ];
        for (k, label) in crawl.iter().enumerate() {
            assert_eq!(at(label), at("crawl depth 0") + k, "{label}");
        }
        assert!(!labels(&rows).contains(&"already done"));
        let depth = &rows[at("crawl depth 1")].cells;
        assert_eq!(depth[0].text, "151 (2 failed)");
        assert!(depth[0].alarming);
        // The run that crawled nothing shows a dash, not zeros it did not count.
        assert_eq!(depth[1].text, "-");
        assert_eq!(rows[at("duplicate links")].cells[0].text, "3");
        assert!(rows
            .iter()
            .flat_map(|r| &r.cells)
            .all(|c| c.text.chars().count() <= 20));

        let mut stopped = fixture::report(&[&stats]);
        stopped.runs[0].crawl = Some(CrawlReport {
            counts: crate::engine::CrawlCounts {
                stopped: Some("after 3 consecutive missing ids from 152".into()),
                past_stop: 15,
                ..Default::default()
            },
            ..CrawlReport::default()
        });
        let rows = super::rows(&stopped.runs);
        assert!(
            rows.iter()
                .all(|r| !r.label.contains("crawl")
                    && r.cells.iter().all(|c| !c.text.contains("pages"))),
            "{:?}",
            labels(&rows)
        );
    }
}
