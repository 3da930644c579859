//! The rate search (`--find-rate`): the p99 from the schedule and the rate achieved against each
//! step's target, two charts side by side, the SLO's p99 bound and the target itself drawn as
//! lines, the broken steps marked and the rate that held circled.

use std::fmt::Write as _;

use super::svg::{self, Anchor, Scale, CHART as FRAME, INSET};
use super::text::escape;
use crate::plan::slo::{Percentile, Slo};
use crate::report::find_rate::{FindRateReport, StepReport};
use crate::report::Report;

/// The search's two charts and its answer; None without `--find-rate`.
pub fn section(report: &Report) -> Option<String> {
    let search = report.find_rate.as_ref()?;
    if search.steps.is_empty() {
        return None;
    }
    let mut steps: Vec<&StepReport> = search.steps.iter().collect();
    steps.sort_by(|a, b| a.target.total_cmp(&b.target));
    let bound = search.slo.parse::<Slo>().ok().and_then(|slo| {
        slo.latency
            .iter()
            .find(|(p, _)| *p == Percentile::P99)
            .map(|(_, d)| d.as_secs_f64() * 1000.0)
    });
    let p99: Vec<(f64, f64, bool)> = steps.iter().map(|s| (s.target, s.p99_ms, s.held)).collect();
    let achieved: Vec<(f64, f64, bool)> = steps
        .iter()
        .map(|s| (s.target, s.achieved, s.held))
        .collect();
    let mut html = String::from("<section id=\"find-rate\"><h2>The rate it sustains</h2>\n");
    html.push_str("<div class=\"charts\">\n");
    let p99_line = bound.map(|b| (b, format!("p99 &lt; {b} ms")));
    html.push_str(&figure(
        "p99",
        "p99 from the schedule (ms)",
        &p99,
        search,
        Line::Flat(p99_line),
    ));
    html.push_str(&figure(
        "achieved",
        "achieved (/s)",
        &achieved,
        search,
        Line::Target,
    ));
    html.push_str("</div>\n");
    let _ = writeln!(html, "<p class=\"verdict\">{}</p>", escape(&search.summary));
    html.push_str("</section>\n");
    Some(html)
}

/// The line a chart draws besides its points.
enum Line {
    /// A bound across the chart, with its label (escaped).
    Flat(Option<(f64, String)>),
    /// The target itself: y = x, where a step that kept up lies.
    Target,
}

fn figure(
    metric: &str,
    title: &str,
    points: &[(f64, f64, bool)],
    search: &FindRateReport,
    line: Line,
) -> String {
    format!(
        "<figure class=\"chart\"><figcaption><b>{title}</b> against the target rate</figcaption>\n\
         {}</figure>\n",
        chart(metric, title, points, search, line)
    )
}

/// One figure of the steps against their targets.
fn chart(
    metric: &str,
    title: &str,
    points: &[(f64, f64, bool)],
    search: &FindRateReport,
    line: Line,
) -> String {
    let lowest = points.first().map_or(0.0, |p| p.0);
    let highest = points.last().map_or(1.0, |p| p.0).max(lowest + 1e-9);
    let x = Scale::linear((lowest, highest), (FRAME.x0() + INSET, FRAME.x1() - INSET));
    let flat = match &line {
        Line::Flat(Some((bound, _))) => *bound,
        Line::Flat(None) => 0.0,
        Line::Target => highest,
    };
    let most = points.iter().map(|p| p.1).fold(flat, f64::max);
    let (step, ticks) = svg::ticks_to(most, 4);
    let top = ticks.last().copied().unwrap_or(most);
    let y = Scale::linear((0.0, top), (FRAME.y1(), FRAME.y0()));
    let mut out = svg::open(
        "find-rate",
        &[("metric", metric.to_owned())],
        &FRAME,
        &format!("{title} against the target rate"),
    );
    out.push_str(&svg::value_axis(&y, &ticks, step, title));
    out.push_str(&svg::line(
        "axis",
        (FRAME.x0(), FRAME.y1()),
        (FRAME.x1(), FRAME.y1()),
    ));
    for &(target, _, _) in points {
        let at = x.at(target);
        out.push_str(&svg::line("axis", (at, FRAME.y1()), (at, FRAME.y1() + 4.0)));
        out.push_str(&svg::text(
            "tick",
            (at, FRAME.y1() + 16.0),
            Anchor::Middle,
            &format!("{target:.1}"),
        ));
    }
    out.push_str(&svg::text(
        "axis-title",
        (FRAME.x1(), FRAME.y1() + 33.0),
        Anchor::End,
        "target (/s)",
    ));
    match line {
        Line::Flat(Some((bound, label))) => {
            let at = y.at(bound);
            out.push_str(&svg::line("bound", (FRAME.x0(), at), (FRAME.x1(), at)));
            out.push_str(&svg::text(
                "bound-label",
                (FRAME.x1(), at - 4.0),
                Anchor::End,
                &label,
            ));
        }
        Line::Flat(None) => {}
        Line::Target => {
            out.push_str(&svg::line(
                "bound",
                (x.at(lowest), y.at(lowest)),
                (x.at(highest), y.at(highest)),
            ));
        }
    }
    for &(target, value, held) in points {
        let (cx, cy) = (x.at(target), y.at(value));
        let class = if held { "point" } else { "point broke" };
        let verdict = if held { "held" } else { "broke" };
        let _ = write!(
            out,
            "<circle class=\"{class}\" cx=\"{}\" cy=\"{}\" r=\"4\"><title>{target:.1}/s: {value:.1} \
             ({verdict})</title></circle>",
            svg::px(cx),
            svg::px(cy),
        );
        if search.sustained == Some(target) {
            let _ = write!(
                out,
                "<circle class=\"knee\" cx=\"{}\" cy=\"{}\" r=\"9\"/>",
                svg::px(cx),
                svg::px(cy)
            );
        }
    }
    out.push_str("</svg>\n");
    out
}
