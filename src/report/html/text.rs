//! Text that goes into the page: HTML escaping for anything that came from data (ids, urls,
//! messages, the proxy, the summary's cells), and the few number formats the charts share, so a
//! figure reads the same in an axis label, a tooltip and a table cell (milliseconds are
//! `units::ms`, as in the summary rows of `report::figures` and on the terminal).

/// `text` with the five characters that mean something in HTML (in content and in quoted
/// attributes) replaced by entities.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            _ => out.push(c),
        }
    }
    out
}

pub use crate::report::units::ms;

/// A time-axis label: `0`, `250 ms`, `1.5 s`; one unit per axis (seconds once the axis spans
/// `axis_ms` of a second or more), and `step_ms` decides the precision.
pub fn tick_time(at_ms: f64, step_ms: f64, axis_ms: f64) -> String {
    if at_ms == 0.0 {
        return "0".to_owned();
    }
    if axis_ms >= 1000.0 {
        return format!("{} s", trim(at_ms / 1000.0, step_ms / 1000.0));
    }
    format!("{} ms", trim(at_ms, step_ms))
}

/// A plain axis number (`0.25`, `40`, `15,000`), with as many decimals as `step` needs.
pub fn tick_number(value: f64, step: f64) -> String {
    if step >= 1.0 && value >= 0.0 {
        return count(value.round() as u64);
    }
    trim(value, step)
}

/// `value` with the decimals `step` needs: none for whole steps, else up to three.
fn trim(value: f64, step: f64) -> String {
    let decimals = if step >= 1.0 || step <= 0.0 {
        0
    } else {
        ((-step.log10()).ceil() as usize).min(3)
    };
    format!("{value:.decimals$}")
}

/// A count with thousands separators: `100,000`.
pub fn count(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_markup_and_quotes() {
        assert_eq!(
            escape(r#"<script>alert("x")</script> & 'y'"#),
            "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; &#39;y&#39;"
        );
        assert_eq!(escape("plain ünïcode"), "plain ünïcode");
    }

    #[test]
    fn time_ticks_switch_to_seconds() {
        assert_eq!(tick_time(0.0, 50.0, 300.0), "0");
        assert_eq!(tick_time(250.0, 50.0, 300.0), "250 ms");
        assert_eq!(tick_time(2.5, 0.5, 5.0), "2.5 ms");
        assert_eq!(tick_time(500.0, 500.0, 2000.0), "0.5 s");
        assert_eq!(tick_time(1500.0, 500.0, 2000.0), "1.5 s");
        assert_eq!(tick_time(2000.0, 1000.0, 5000.0), "2 s");
    }

    #[test]
    fn numbers_read_well() {
        assert_eq!(count(100_000), "100,000");
        assert_eq!(count(999), "999");
        assert_eq!(tick_number(0.25, 0.05), "0.25");
        assert_eq!(tick_number(1200.0, 200.0), "1,200");
    }
}
