//! The few SVG pieces every chart is made of (a scale, round tick steps, lines, labels), written
//! as strings: the charts are small and fixed, so a drawing library would add more than it saves.
//!
//! Coordinates are printed with one decimal at most, which keeps a chart of hundreds of bars
//! small without visible loss.

use std::fmt::Write as _;

/// Outer size and margins of a chart, in CSS pixels; the plot is what the margins leave.
#[derive(Debug, Clone, Copy)]
pub struct Frame {
    pub width: f64,
    pub height: f64,
    pub left: f64,
    pub right: f64,
    pub top: f64,
    pub bottom: f64,
}

impl Frame {
    /// Left edge of the plot.
    pub fn x0(&self) -> f64 {
        self.left
    }

    /// Right edge of the plot.
    pub fn x1(&self) -> f64 {
        self.width - self.right
    }

    /// Top edge of the plot.
    pub fn y0(&self) -> f64 {
        self.top
    }

    /// Bottom edge of the plot (the x axis).
    pub fn y1(&self) -> f64 {
        self.height - self.bottom
    }
}

/// Maps data values to pixels, linearly or on a log scale.
#[derive(Debug, Clone, Copy)]
pub struct Scale {
    from: (f64, f64),
    to: (f64, f64),
    log: bool,
}

impl Scale {
    /// `from.0..from.1` onto `to.0..to.1`, linearly.
    pub fn linear(from: (f64, f64), to: (f64, f64)) -> Self {
        Self {
            from,
            to,
            log: false,
        }
    }

    /// The same on a log scale; both ends of `from` must be positive.
    pub fn log(from: (f64, f64), to: (f64, f64)) -> Self {
        Self {
            from: (
                from.0.max(f64::MIN_POSITIVE).ln(),
                from.1.max(f64::MIN_POSITIVE).ln(),
            ),
            to,
            log: true,
        }
    }

    /// The pixel of `value`; a scale with an empty domain puts everything at its start.
    pub fn at(&self, value: f64) -> f64 {
        let value = if self.log {
            value.max(f64::MIN_POSITIVE).ln()
        } else {
            value
        };
        let span = self.from.1 - self.from.0;
        if span == 0.0 || !span.is_finite() {
            return self.to.0;
        }
        self.to.0 + (value - self.from.0) / span * (self.to.1 - self.to.0)
    }
}

/// A round step (1, 2 or 5 times a power of ten) that cuts `span` into about `count` parts.
pub fn nice_step(span: f64, count: usize) -> f64 {
    if span <= 0.0 || !span.is_finite() {
        return 1.0;
    }
    let raw = span / count.max(1) as f64;
    let power = 10f64.powf(raw.log10().floor());
    [1.0, 2.0, 5.0, 10.0]
        .into_iter()
        .map(|m| m * power)
        .find(|&s| s >= raw)
        .unwrap_or(10.0 * power)
}

/// Ticks from 0 by a round step, the last at or past `max`: the axis ends on a round value.
pub fn ticks_to(max: f64, count: usize) -> (f64, Vec<f64>) {
    let step = nice_step(max, count);
    let last = (max / step).ceil().max(1.0) as usize;
    (step, (0..=last).map(|i| i as f64 * step).collect())
}

/// Ticks within `low..=high` by a round step, for an axis that does not start at zero.
pub fn ticks_within(low: f64, high: f64, count: usize) -> (f64, Vec<f64>) {
    let step = nice_step(high - low, count);
    let first = (low / step).ceil() as i64;
    let last = (high / step).floor() as i64;
    (step, (first..=last).map(|i| i as f64 * step).collect())
}

/// Ticks at 1, 2 and 5 times the powers of ten within `low..=high`, for a log axis.
pub fn log_ticks(low: f64, high: f64) -> Vec<f64> {
    if low <= 0.0 || high < low {
        return Vec::new();
    }
    let mut ticks = Vec::new();
    let mut power = 10f64.powf(low.log10().floor());
    while power <= high {
        for m in [1.0, 2.0, 5.0] {
            let tick = m * power;
            if tick >= low && tick <= high {
                ticks.push(tick);
            }
        }
        power *= 10.0;
    }
    ticks
}

/// A coordinate with one decimal at most: `12`, `12.5`.
pub fn px(value: f64) -> String {
    let rounded = (value * 10.0).round() / 10.0;
    if rounded.fract() == 0.0 {
        format!("{}", rounded as i64)
    } else {
        format!("{rounded:.1}")
    }
}

/// The frame of the small line charts (the sweep's, the rate search's), two side by side.
pub const CHART: Frame = Frame {
    width: 480.0,
    height: 240.0,
    left: 56.0,
    right: 20.0,
    top: 26.0,
    bottom: 40.0,
};

/// Space between a line chart's plot edges and its first and last points.
pub const INSET: f64 = 18.0;

/// Grid lines and values up the left side of a [`CHART`], and the metric's name.
pub fn value_axis(y: &Scale, ticks: &[f64], step: f64, title: &str) -> String {
    let mut out = String::new();
    for &tick in ticks {
        let at = y.at(tick);
        out.push_str(&line("grid", (CHART.x0(), at), (CHART.x1(), at)));
        out.push_str(&text(
            "tick",
            (CHART.x0() - 6.0, at + 3.5),
            Anchor::End,
            &super::text::tick_number(tick, step),
        ));
    }
    out.push_str(&vertical_text(
        "axis-title",
        (12.0, (CHART.y0() + CHART.y1()) / 2.0),
        &super::text::escape(title),
    ));
    out
}

/// The opening tag of a chart: `class`, `data-*` attributes (values are escaped), its size, and
/// an accessible label (escaped).
pub fn open(class: &str, data: &[(&str, String)], frame: &Frame, label: &str) -> String {
    let mut tag = format!("<svg class=\"{class}\"");
    for (name, value) in data {
        let _ = write!(tag, " data-{name}=\"{}\"", super::text::escape(value));
    }
    let (w, h) = (px(frame.width), px(frame.height));
    let _ = write!(
        tag,
        " xmlns=\"http://www.w3.org/2000/svg\" width=\"{w}\" height=\"{h}\" viewBox=\"0 0 {w} {h}\" \
         role=\"img\" aria-label=\"{}\">",
        super::text::escape(label)
    );
    tag
}

/// A line with a CSS class.
pub fn line(class: &str, (x1, y1): (f64, f64), (x2, y2): (f64, f64)) -> String {
    format!(
        "<line class=\"{class}\" x1=\"{}\" y1=\"{}\" x2=\"{}\" y2=\"{}\"/>",
        px(x1),
        px(y1),
        px(x2),
        px(y2)
    )
}

/// Where a label sits against its point.
#[derive(Debug, Clone, Copy)]
pub enum Anchor {
    Start,
    Middle,
    End,
}

/// A label at `(x, y)`; `body` must already be escaped.
pub fn text(class: &str, (x, y): (f64, f64), anchor: Anchor, body: &str) -> String {
    let anchor = match anchor {
        Anchor::Start => "start",
        Anchor::Middle => "middle",
        Anchor::End => "end",
    };
    format!(
        "<text class=\"{class}\" x=\"{}\" y=\"{}\" text-anchor=\"{anchor}\">{body}</text>",
        px(x),
        px(y)
    )
}

/// A label turned a quarter left, centred on `(x, y)`: a y axis title.
pub fn vertical_text(class: &str, (x, y): (f64, f64), body: &str) -> String {
    format!(
        "<text class=\"{class}\" transform=\"translate({},{}) rotate(-90)\" text-anchor=\"middle\">{body}</text>",
        px(x),
        px(y)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn steps_are_round() {
        assert_eq!(nice_step(900.0, 8), 200.0);
        assert_eq!(nice_step(28.0, 8), 5.0);
        assert_eq!(nice_step(0.9, 8), 0.2);
        assert_eq!(nice_step(0.0, 8), 1.0);
        let (step, ticks) = ticks_to(903.0, 8);
        assert_eq!(step, 200.0);
        assert_eq!(ticks.last(), Some(&1000.0));
        assert_eq!(ticks_within(3.2, 9.9, 4).1, vec![4.0, 6.0, 8.0]);
    }

    #[test]
    fn log_ticks_cover_the_range() {
        assert_eq!(log_ticks(3.0, 60.0), vec![5.0, 10.0, 20.0, 50.0]);
        assert!(log_ticks(0.0, 10.0).is_empty());
    }

    #[test]
    fn scales_map_ends_to_ends() {
        let linear = Scale::linear((0.0, 100.0), (10.0, 210.0));
        assert_eq!(linear.at(50.0), 110.0);
        let log = Scale::log((1.0, 100.0), (0.0, 200.0));
        assert!((log.at(10.0) - 100.0).abs() < 1e-9);
        assert_eq!(Scale::linear((5.0, 5.0), (1.0, 2.0)).at(5.0), 1.0);
    }

    #[test]
    fn coordinates_are_short() {
        assert_eq!(px(12.0), "12");
        assert_eq!(px(12.345), "12.3");
        assert_eq!(px(-0.04), "0");
    }

    #[test]
    fn open_tag_escapes_data() {
        let frame = Frame {
            width: 100.0,
            height: 50.0,
            left: 0.0,
            right: 0.0,
            top: 0.0,
            bottom: 0.0,
        };
        let tag = open("chart", &[("name", "a\"b".to_owned())], &frame, "<x>");
        assert!(tag.starts_with("<svg class=\"chart\" data-name=\"a&quot;b\""));
        assert!(tag.contains("aria-label=\"&lt;x&gt;\""));
        assert!(tag.contains("viewBox=\"0 0 100 50\""));
    }
}
