//! The latency histogram of each run, from its lossless hdrhistogram: about thirty buckets from
//! the fastest to the slowest request, log-spaced when the slowest is four times the fastest (a
//! slow tail then keeps its own bars instead of squashing the bulk into one), with the median and
//! the p99 marked.

use super::svg::{self, Anchor, Frame, Scale};
use super::text::{count, escape, ms, tick_number};
use crate::report::buckets::{buckets, Bucket};
use crate::report::stats::decode_histogram;
use crate::report::RunReport;

/// Buckets per histogram.
pub const BUCKETS: usize = 30;
/// Spread (slowest over fastest) from which buckets are log-spaced.
const LOG_FROM: f64 = 4.0;

const FRAME: Frame = Frame {
    width: 480.0,
    height: 220.0,
    left: 52.0,
    right: 16.0,
    top: 18.0,
    bottom: 40.0,
};

/// One histogram per run, side by side.
pub fn section(runs: &[RunReport]) -> String {
    let mut html = String::from(
        "<section id=\"latency\"><h2>Latency histograms</h2>\n<div class=\"charts\">\n",
    );
    for (index, run) in runs.iter().enumerate() {
        html.push_str(&figure(index, run));
    }
    html.push_str("</div></section>\n");
    html
}

fn figure(index: usize, run: &RunReport) -> String {
    let caption = format!(
        "<b>{}</b> · p50 {} · p99 {}",
        escape(&run.name()),
        ms(run.latency_ms.p50),
        ms(run.latency_ms.p99)
    );
    let body = match decode_histogram(&run.histogram).filter(|h| !h.is_empty()) {
        Some(histogram) => {
            let (buckets, log) = buckets(&histogram, BUCKETS, Some(LOG_FROM));
            chart(index, &buckets, log, run)
        }
        None => "<p class=\"hint\">no latencies recorded</p>".to_owned(),
    };
    format!("<figure class=\"chart\"><figcaption>{caption}</figcaption>\n{body}</figure>\n")
}

/// The SVG of one run's buckets, with axes and the p50 and p99 marks.
fn chart(index: usize, buckets: &[Bucket], log: bool, run: &RunReport) -> String {
    let (low, high) = match (buckets.first(), buckets.last()) {
        (Some(first), Some(last)) => (first.from_ms, last.to_ms),
        _ => return String::new(),
    };
    let x = if log {
        Scale::log((low, high), (FRAME.x0(), FRAME.x1()))
    } else {
        Scale::linear((low, high), (FRAME.x0(), FRAME.x1()))
    };
    let most = buckets.iter().map(|b| b.count).max().unwrap_or(0).max(1);
    let (count_step, count_ticks) = svg::ticks_to(most as f64, 4);
    let top = count_ticks.last().copied().unwrap_or(most as f64);
    let y = Scale::linear((0.0, top), (FRAME.y1(), FRAME.y0()));
    let data = [("run", index.to_string())];
    let mut out = svg::open("histogram", &data, &FRAME, "latency histogram");
    out.push_str(&count_axis(&y, &count_ticks, count_step));
    for bucket in buckets.iter().filter(|b| b.count > 0) {
        out.push_str(&bar(bucket, &x, &y));
    }
    out.push_str(&latency_axis(&x, low, high, log));
    let clamp = |at: f64| x.at(at.clamp(low, high));
    let (p50, p99) = (clamp(run.latency_ms.p50), clamp(run.latency_ms.p99));
    out.push_str(&mark("p50", p50, p99 - p50 < 28.0));
    out.push_str(&mark("p99", p99, p99 > FRAME.x1() - 28.0));
    out.push_str("</svg>\n");
    out
}

/// One bucket's bar, with a tooltip: `12.0 – 14.5 ms: 23 requests`.
fn bar(bucket: &Bucket, x: &Scale, y: &Scale) -> String {
    let left = x.at(bucket.from_ms);
    let width = (x.at(bucket.to_ms) - left - 1.0).max(1.0);
    let top = y.at(bucket.count as f64);
    format!(
        "<rect class=\"hbar\" x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\"><title>{:.2} – {:.2} ms: \
         {} requests</title></rect>",
        svg::px(left),
        svg::px(top),
        svg::px(width),
        svg::px(FRAME.y1() - top),
        bucket.from_ms,
        bucket.to_ms,
        count(bucket.count)
    )
}

/// Grid lines and counts up the left side.
fn count_axis(y: &Scale, ticks: &[f64], step: f64) -> String {
    let mut out = String::new();
    for &tick in ticks {
        let at = y.at(tick);
        out.push_str(&svg::line("grid", (FRAME.x0(), at), (FRAME.x1(), at)));
        let label = tick_number(tick, step);
        out.push_str(&svg::text(
            "tick",
            (FRAME.x0() - 6.0, at + 3.5),
            Anchor::End,
            &label,
        ));
    }
    out.push_str(&svg::vertical_text(
        "axis-title",
        (12.0, (FRAME.y0() + FRAME.y1()) / 2.0),
        "requests",
    ));
    out
}

/// The latency axis: round values, or 1-2-5 steps on a log scale.
fn latency_axis(x: &Scale, low: f64, high: f64, log: bool) -> String {
    let (step, ticks) = if log {
        let ticks = svg::log_ticks(low, high);
        (ticks.first().copied().unwrap_or(1.0), ticks)
    } else {
        svg::ticks_within(low, high, 5)
    };
    let mut out = svg::line("axis", (FRAME.x0(), FRAME.y1()), (FRAME.x1(), FRAME.y1()));
    for tick in ticks {
        let at = x.at(tick);
        out.push_str(&svg::line("axis", (at, FRAME.y1()), (at, FRAME.y1() + 4.0)));
        out.push_str(&svg::text(
            "tick",
            (at, FRAME.y1() + 16.0),
            Anchor::Middle,
            &tick_number(tick, step),
        ));
    }
    let mut title = String::from("latency (ms)");
    if log {
        title.push_str(", log scale");
    }
    out.push_str(&svg::text(
        "axis-title",
        (FRAME.x1(), FRAME.y1() + 33.0),
        Anchor::End,
        &title,
    ));
    out
}

/// A percentile's dashed line, labelled at the top, to its right unless `left`.
fn mark(name: &str, at: f64, left: bool) -> String {
    let (shift, anchor) = if left {
        (-3.0, Anchor::End)
    } else {
        (3.0, Anchor::Start)
    };
    let mut out = svg::line("pct", (at, FRAME.y0() - 4.0), (at, FRAME.y1()));
    out.push_str(&svg::text(
        "pct-label",
        (at + shift, FRAME.y0() - 6.0),
        anchor,
        name,
    ));
    out
}

#[cfg(test)]
mod tests {
    use super::super::fixture;
    use super::*;
    use crate::report::stats::empty_histogram;

    #[test]
    fn buckets_hold_every_latency() {
        let mut histogram = empty_histogram();
        for micros in 5_000..9_000 {
            histogram.record(micros).expect("in range");
        }
        let (buckets, log) = buckets(&histogram, BUCKETS, Some(LOG_FROM));
        assert!(!log);
        assert_eq!(buckets.len(), BUCKETS);
        assert_eq!(buckets.iter().map(|b| b.count).sum::<u64>(), 4_000);
        assert!(buckets.iter().all(|b| b.count > 0));
    }

    #[test]
    fn a_long_tail_gets_log_buckets() {
        let mut histogram = empty_histogram();
        histogram.record_n(1_000, 500).expect("in range");
        histogram.record(900_000).expect("in range");
        let (buckets, log) = buckets(&histogram, BUCKETS, Some(LOG_FROM));
        assert!(log);
        assert_eq!(buckets.first().map(|b| b.count), Some(500));
        assert_eq!(buckets.last().map(|b| b.count), Some(1));
    }

    #[test]
    fn one_chart_per_run() {
        let sequential = fixture::run(150, 1, |_| false);
        let concurrent = fixture::run(150, 50, |_| false);
        let html = section(&fixture::report(&[&sequential, &concurrent]).runs);
        assert_eq!(html.matches("<svg class=\"histogram\"").count(), 2);
        assert!(html.contains("latency (ms)"));
        assert!(html.contains(">p99</text>"));
        assert!(html.matches("<rect class=\"hbar\"").count() > 10);
    }

    #[test]
    fn an_empty_run_says_so() {
        let empty = fixture::run(0, 1, |_| false);
        let html = section(&fixture::report(&[&empty]).runs);
        assert!(html.contains("no latencies recorded"));
    }
}
