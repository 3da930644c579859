//! The waterfall: one bar per request from its start to its end, one chart per run, every chart
//! on the same time axis (same pixels per millisecond, spanning the longest run), so a concurrent
//! run's overlapping bars sit visibly short next to a sequential run's staircase.
//!
//! A chart draws at most [`MAX_BARS`] bars, at least a pixel high each: past that, neighbouring
//! rows of the run's [`Waterfall`] are merged (from the first start to the last end among them)
//! and the caption says how many requests each bar stands for. A bar with any failed request
//! among it is drawn in the error colour, so a rare failure stays visible in a long run.

use std::fmt::Write as _;
use std::time::Duration;

use super::svg::{self, Anchor, Frame, Scale};
use super::text::{count, escape, tick_time};
use crate::report::waterfall::{Span, Waterfall};
use crate::report::RunReport;

/// Most bars in one chart: about one per pixel of its height.
pub const MAX_BARS: usize = 480;
/// Row pitch for short runs, in pixels: the bars of 150 requests stay distinct.
const MAX_PITCH: f64 = 4.0;
/// Narrowest bar, so a sub-millisecond request on a long axis still shows.
const MIN_BAR_WIDTH: f64 = 1.5;

const FRAME: Frame = Frame {
    width: 1000.0,
    height: 0.0,
    left: 64.0,
    right: 24.0,
    top: 22.0,
    bottom: 34.0,
};

/// The time axis every waterfall shares: from 0 to a round value past the longest run.
#[derive(Debug, Clone)]
pub struct TimeAxis {
    end_ms: f64,
    step_ms: f64,
    ticks: Vec<f64>,
}

impl TimeAxis {
    /// The axis spanning the longest of `waterfalls`.
    pub fn spanning(waterfalls: &[&Waterfall]) -> Self {
        let longest = waterfalls.iter().map(|w| w.end()).max().unwrap_or_default();
        let longest_ms = ms(longest).max(0.001);
        let (step_ms, ticks) = svg::ticks_to(longest_ms, 8);
        let end_ms = ticks.last().copied().unwrap_or(longest_ms);
        Self {
            end_ms,
            step_ms,
            ticks,
        }
    }

    fn scale(&self) -> Scale {
        Scale::linear((0.0, self.end_ms), (FRAME.x0(), FRAME.x1()))
    }
}

/// The chart of `runs[i]` for each waterfall, on one time axis.
pub fn section(runs: &[RunReport], waterfalls: &[&Waterfall]) -> String {
    let axis = TimeAxis::spanning(waterfalls);
    let mut html = String::from("<section id=\"waterfall\"><h2>Waterfall</h2>\n");
    html.push_str(
        "<p class=\"hint\">One bar per request, from its start to its end, in id order; every \
         run on the same time axis. <span class=\"swatch ok\"></span> ok \
         <span class=\"swatch error\"></span> failed. Hover a bar for its times.</p>\n",
    );
    for (index, (run, waterfall)) in runs.iter().zip(waterfalls).enumerate() {
        html.push_str(&figure(index, run, waterfall, &axis));
    }
    html.push_str("</section>\n");
    html
}

/// One run's chart and its caption.
fn figure(index: usize, run: &RunReport, waterfall: &Waterfall, axis: &TimeAxis) -> String {
    let (bars, per_bar) = bars(waterfall);
    let requests: u64 = bars.iter().map(|b| u64::from(b.requests)).sum();
    let errors: u64 = bars.iter().map(|b| u64::from(b.errors)).sum();
    let end = ms(waterfall.end());
    let mut caption = format!(
        "<b>{}</b> · {} requests · last ended at {}",
        escape(&run.name()),
        count(requests),
        tick_time(end, axis.step_ms / 10.0, axis.end_ms)
    );
    if errors > 0 {
        let _ = write!(
            caption,
            " · <span class=\"bad\">{} failed</span>",
            count(errors)
        );
    }
    if per_bar > 1 {
        let _ = write!(caption, " · each bar = {} requests", count(per_bar));
    }
    format!(
        "<figure class=\"chart\"><figcaption>{caption}</figcaption>\n{}</figure>\n",
        chart(index, requests, &bars, per_bar, end, axis)
    )
}

/// The run's rows merged until they fit [`MAX_BARS`], and how many requests each bar holds.
pub fn bars(waterfall: &Waterfall) -> (Vec<Span>, u64) {
    let rows: Vec<Span> = waterfall.rows().collect();
    let group = rows.len().div_ceil(MAX_BARS).max(1);
    let per_bar = u64::from(waterfall.requests_per_row()) * group as u64;
    let bars = rows.chunks(group).map(merge).collect();
    (bars, per_bar)
}

/// One span covering `spans`: their requests and errors, first start to last end.
fn merge(spans: &[Span]) -> Span {
    let mut merged = spans[0];
    for span in &spans[1..] {
        merged.absorb(*span);
    }
    merged
}

/// The SVG of one run's bars.
fn chart(
    index: usize,
    requests: u64,
    bars: &[Span],
    per_bar: u64,
    end_ms: f64,
    axis: &TimeAxis,
) -> String {
    let pitch = (MAX_BARS as f64 / bars.len().max(1) as f64).min(MAX_PITCH);
    let frame = Frame {
        height: FRAME.top + FRAME.bottom + pitch * bars.len().max(20) as f64,
        ..FRAME
    };
    let scale = axis.scale();
    let data = [
        ("run", index.to_string()),
        ("requests", requests.to_string()),
        ("per-bar", per_bar.to_string()),
    ];
    let mut svg = svg::open("waterfall", &data, &frame, "request waterfall");
    svg.push_str(&time_axis(&frame, axis, &scale));
    svg.push_str(&request_axis(&frame, requests, per_bar, pitch));
    let height = if pitch >= 2.0 { pitch * 0.75 } else { pitch };
    let mut first = 1;
    for (row, span) in bars.iter().enumerate() {
        let y = frame.y0() + row as f64 * pitch;
        svg.push_str(&bar(span, first, &scale, y, height));
        first += u64::from(span.requests);
    }
    svg.push_str(&end_marker(&frame, &scale, end_ms, axis));
    svg.push_str("</svg>\n");
    svg
}

/// One bar, with a tooltip: `request 12: 66.0 – 72.3 ms (6.3 ms)`.
fn bar(span: &Span, first: u64, scale: &Scale, y: f64, height: f64) -> String {
    let (start, end) = (ms(span.start), ms(span.end));
    let x = scale.at(start);
    let width = (scale.at(end) - x).max(MIN_BAR_WIDTH);
    let class = if span.errors > 0 { "bar error" } else { "bar" };
    let who = if span.requests == 1 {
        format!("request {first}")
    } else {
        format!("requests {first}–{}", first + u64::from(span.requests) - 1)
    };
    let failed = match span.errors {
        0 => String::new(),
        n => format!(", {n} failed"),
    };
    format!(
        "<rect class=\"{class}\" x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\"><title>{who}: \
         {start:.1} – {end:.1} ms ({:.1} ms){failed}</title></rect>",
        svg::px(x),
        svg::px(y),
        svg::px(width),
        svg::px(height),
        end - start
    )
}

/// Grid lines and labels of the shared time axis.
fn time_axis(frame: &Frame, axis: &TimeAxis, scale: &Scale) -> String {
    let mut out = String::new();
    for &tick in &axis.ticks {
        let x = scale.at(tick);
        out.push_str(&svg::line("grid", (x, frame.y0()), (x, frame.y1())));
        let label = tick_time(tick, axis.step_ms, axis.end_ms);
        out.push_str(&svg::text(
            "tick",
            (x, frame.y1() + 14.0),
            Anchor::Middle,
            &label,
        ));
    }
    out.push_str(&svg::line(
        "axis",
        (frame.x0(), frame.y1()),
        (frame.x1(), frame.y1()),
    ));
    out.push_str(&svg::text(
        "axis-title",
        (frame.x1(), frame.y1() + 29.0),
        Anchor::End,
        "time since the run started",
    ));
    out
}

/// Request numbers down the left side: 1, then round steps.
fn request_axis(frame: &Frame, requests: u64, per_bar: u64, pitch: f64) -> String {
    let mut out = svg::line("axis", (frame.x0(), frame.y0()), (frame.x0(), frame.y1()));
    let step = svg::nice_step(requests as f64, 5).max(1.0) as u64;
    let marks = std::iter::once(1).chain((1..).map(|k| k * step).take_while(|&n| n <= requests));
    for n in marks.filter(|&n| n <= requests) {
        let row = (n - 1) / per_bar.max(1);
        let y = frame.y0() + (row as f64 + 0.5) * pitch + 3.5;
        out.push_str(&svg::text(
            "tick",
            (frame.x0() - 6.0, y),
            Anchor::End,
            &count(n),
        ));
    }
    out.push_str(&svg::vertical_text(
        "axis-title",
        (14.0, (frame.y0() + frame.y1()) / 2.0),
        "request",
    ));
    out
}

/// A dashed line where the run's last request ended, labelled above the plot.
fn end_marker(frame: &Frame, scale: &Scale, end_ms: f64, axis: &TimeAxis) -> String {
    let x = scale.at(end_ms);
    let anchor = if x > frame.x1() - 120.0 {
        Anchor::End
    } else {
        Anchor::Start
    };
    let label = format!(
        "ended {}",
        tick_time(end_ms, axis.step_ms / 10.0, axis.end_ms)
    );
    let mut out = svg::line("end", (x, frame.y0() - 6.0), (x, frame.y1()));
    out.push_str(&svg::text(
        "end-label",
        (x + 4.0, frame.y0() - 8.0),
        anchor,
        &label,
    ));
    out
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

#[cfg(test)]
mod tests {
    use super::super::fixture;
    use super::*;

    #[test]
    fn one_bar_per_request_with_errors_marked() {
        let stats = fixture::run(150, 1, |n| n == 7);
        let html = section(&fixture::report(&[&stats]).runs, &[&stats.waterfall]);
        assert_eq!(html.matches("<svg class=\"waterfall\"").count(), 1);
        assert!(html.contains("data-run=\"0\" data-requests=\"150\" data-per-bar=\"1\""));
        assert_eq!(html.matches("<rect class=\"bar").count(), 150);
        assert_eq!(html.matches("<rect class=\"bar error\"").count(), 1);
        assert!(!html.contains("each bar ="));
        assert!(html.contains("1 failed"));
    }

    #[test]
    fn runs_share_the_time_axis() {
        let sequential = fixture::run(150, 1, |_| false);
        let concurrent = fixture::run(150, 50, |_| false);
        let waterfalls = [&sequential.waterfall, &concurrent.waterfall];
        let html = section(
            &fixture::report(&[&sequential, &concurrent]).runs,
            &waterfalls,
        );
        assert_eq!(html.matches("<svg class=\"waterfall\"").count(), 2);
        assert_eq!(html.matches("<rect class=\"bar\"").count(), 300);
        let axis = TimeAxis::spanning(&waterfalls);
        assert!(axis.end_ms >= ms(sequential.waterfall.end()));
        // The same tick labels under both charts.
        let ticks = |chart: &str| chart.matches("class=\"tick\"").count();
        let charts: Vec<&str> = html.split("<svg class=\"waterfall\"").skip(1).collect();
        assert_eq!(ticks(charts[0]), ticks(charts[1]));
    }

    #[test]
    fn long_runs_are_aggregated_and_stay_small() {
        let stats = fixture::run(100_000, 64, |n| n % 10_000 == 0);
        let (bars, per_bar) = bars(&stats.waterfall);
        assert!(bars.len() <= MAX_BARS);
        assert!(per_bar > 1);
        let total: u64 = bars.iter().map(|b| u64::from(b.requests)).sum();
        assert_eq!(total, 100_000);
        let html = section(&fixture::report(&[&stats]).runs, &[&stats.waterfall]);
        let drawn = html.matches("<rect class=\"bar").count();
        assert!(drawn <= 2048, "{drawn} bars");
        assert_eq!(drawn, bars.len());
        assert!(html.contains(&format!("each bar = {} requests", count(per_bar))));
        assert!(html.contains("data-requests=\"100000\""));
        assert!(html.len() < 1_000_000, "{} bytes", html.len());
    }

    #[test]
    fn merging_keeps_first_start_and_last_end() {
        let spans = [
            Span {
                requests: 2,
                errors: 0,
                start: Duration::from_millis(5),
                end: Duration::from_millis(9),
            },
            Span {
                requests: 1,
                errors: 1,
                start: Duration::from_millis(3),
                end: Duration::from_millis(7),
            },
        ];
        let merged = merge(&spans);
        assert_eq!((merged.requests, merged.errors), (3, 1));
        assert_eq!(merged.start, Duration::from_millis(3));
        assert_eq!(merged.end, Duration::from_millis(9));
    }
}
