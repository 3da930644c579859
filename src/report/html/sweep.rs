//! The concurrency sweep (`-c 1,4,16,64`): requests/s and p99 against concurrency, on a log
//! scale of concurrency, two small charts side by side rather than one with two y axes, with
//! the knee (the lowest level within 10% of the best rate) circled.

use std::fmt::Write as _;

use super::svg::{self, Anchor, Scale, CHART as FRAME, INSET};
use super::text::escape;
use crate::report::{sweep, Report};

/// The sweep's two charts and its knee in words; None unless two concurrent runs or more ran.
pub fn section(report: &Report) -> Option<String> {
    let knee = report.knee.as_ref()?;
    let levels = sweep::levels(&report.runs);
    let rps: Vec<(usize, f64)> = levels.iter().map(|l| (l.concurrency, l.rps)).collect();
    let p99: Vec<(usize, f64)> = levels
        .iter()
        .map(|l| (l.concurrency, l.latency_ms.p99))
        .collect();
    let mut html = String::from("<section id=\"sweep\"><h2>Concurrency sweep</h2>\n");
    html.push_str("<div class=\"charts\">\n");
    html.push_str(&figure("rps", "requests/s", &rps, Some(knee.concurrency)));
    html.push_str(&figure("p99", "p99 latency (ms)", &p99, None));
    html.push_str("</div>\n");
    let _ = writeln!(
        html,
        "<p class=\"verdict\">{}</p>",
        escape(&sweep::knee_sentence(knee, &report.runs))
    );
    html.push_str("</section>\n");
    Some(html)
}

fn figure(metric: &str, title: &str, points: &[(usize, f64)], knee: Option<usize>) -> String {
    format!(
        "<figure class=\"chart\"><figcaption><b>{title}</b> against concurrency</figcaption>\n{}\
         </figure>\n",
        chart(metric, title, points, knee)
    )
}

/// One metric against concurrency: a line through the levels, each labelled with its value.
fn chart(metric: &str, title: &str, points: &[(usize, f64)], knee: Option<usize>) -> String {
    let lowest = points.first().map_or(1, |p| p.0).max(1) as f64;
    let highest = points.last().map_or(1, |p| p.0).max(1) as f64;
    let x = Scale::log((lowest, highest), (FRAME.x0() + INSET, FRAME.x1() - INSET));
    let most = points.iter().map(|p| p.1).fold(0.0, f64::max);
    let (step, ticks) = svg::ticks_to(most, 4);
    let top = ticks.last().copied().unwrap_or(most);
    let y = Scale::linear((0.0, top), (FRAME.y1(), FRAME.y0()));
    let data = [("metric", metric.to_owned())];
    let mut out = svg::open(
        "sweep",
        &data,
        &FRAME,
        &format!("{title} against concurrency"),
    );
    out.push_str(&svg::value_axis(&y, &ticks, step, title));
    out.push_str(&level_axis(&x, points));
    let at = |&(c, v): &(usize, f64)| (x.at(c as f64), y.at(v));
    let path: Vec<String> = points
        .iter()
        .map(at)
        .map(|(px, py)| format!("{},{}", svg::px(px), svg::px(py)))
        .collect();
    let _ = write!(
        out,
        "<polyline class=\"series\" points=\"{}\"/>",
        path.join(" ")
    );
    for point in points {
        out.push_str(&dot(at(point), point, title, knee == Some(point.0)));
    }
    out.push_str("</svg>\n");
    out
}

/// A level's dot, its value above it, and a ring around the knee.
fn dot((cx, cy): (f64, f64), &(c, value): &(usize, f64), title: &str, knee: bool) -> String {
    let mut out = format!(
        "<circle class=\"point\" cx=\"{}\" cy=\"{}\" r=\"4\"><title>c={c}: {value:.1} {}</title></circle>",
        svg::px(cx),
        svg::px(cy),
        escape(title)
    );
    if knee {
        let _ = write!(
            out,
            "<circle class=\"knee\" cx=\"{}\" cy=\"{}\" r=\"9\"/>",
            svg::px(cx),
            svg::px(cy)
        );
        out.push_str(&svg::text(
            "knee-label",
            (cx, cy + 22.0),
            Anchor::Middle,
            "knee",
        ));
    }
    let above = if knee { 13.0 } else { 9.0 };
    out.push_str(&svg::text(
        "value",
        (cx, cy - above),
        Anchor::Middle,
        &format!("{value:.1}"),
    ));
    out
}

/// The levels tried along the bottom.
fn level_axis(x: &Scale, points: &[(usize, f64)]) -> String {
    let mut out = svg::line("axis", (FRAME.x0(), FRAME.y1()), (FRAME.x1(), FRAME.y1()));
    for &(c, _) in points {
        let at = x.at(c as f64);
        out.push_str(&svg::line("axis", (at, FRAME.y1()), (at, FRAME.y1() + 4.0)));
        out.push_str(&svg::text(
            "tick",
            (at, FRAME.y1() + 16.0),
            Anchor::Middle,
            &c.to_string(),
        ));
    }
    out.push_str(&svg::text(
        "axis-title",
        (FRAME.x1(), FRAME.y1() + 33.0),
        Anchor::End,
        "concurrency (log scale)",
    ));
    out
}

#[cfg(test)]
mod tests {
    use super::super::fixture;
    use super::*;
    use crate::report::stats::RunMode;

    #[test]
    fn a_sweep_gets_both_charts_and_its_knee() {
        let runs: Vec<_> = [1, 4, 16]
            .into_iter()
            .map(|c| fixture::run_as(RunMode::Concurrent, 60, c, |_| false))
            .collect();
        let refs: Vec<_> = runs.iter().collect();
        let html = section(&fixture::report(&refs)).expect("a sweep");
        assert_eq!(html.matches("<svg class=\"sweep\"").count(), 2);
        assert!(html.contains("data-metric=\"rps\""));
        assert!(html.contains("data-metric=\"p99\""));
        assert_eq!(html.matches("<circle class=\"point\"").count(), 6);
        assert_eq!(html.matches("<circle class=\"knee\"").count(), 1);
        assert!(html.contains("concurrency (log scale)"));
    }

    #[test]
    fn one_concurrent_run_is_no_sweep() {
        let sequential = fixture::run(30, 1, |_| false);
        let concurrent = fixture::run(30, 8, |_| false);
        assert_eq!(section(&fixture::report(&[&sequential, &concurrent])), None);
    }

    #[test]
    fn levels_are_sorted_by_concurrency() {
        let runs: Vec<_> = [16, 1]
            .into_iter()
            .map(|c| fixture::run_as(RunMode::Concurrent, 20, c, |_| false))
            .collect();
        let refs: Vec<_> = runs.iter().collect();
        let report = fixture::report(&refs);
        let levels = sweep::levels(&report.runs);
        assert_eq!(levels[0].concurrency, 1);
        assert_eq!(levels[1].concurrency, 16);
    }
}
