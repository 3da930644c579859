//! Progress display: an indicatif bar per run on stderr (done/total, rate, ETA, errors).
//!
//! The bar wraps the run's sink, so it ticks exactly when a record is released and costs nothing
//! on the request path; it is hidden when stderr is not a terminal or when asked.

use std::fmt;
use std::io::{self, IsTerminal};
use std::time::Duration;

use indicatif::{HumanFloatCount, ProgressBar, ProgressDrawTarget, ProgressState, ProgressStyle};

use crate::output::RecordSink;
use crate::record::Record;

/// A sink that advances a progress bar, then forwards to the real sink.
pub struct ProgressSink<'a> {
    inner: &'a mut dyn RecordSink,
    /// None when hidden: then a record costs nothing here (a hidden indicatif bar still locks).
    bar: Option<ProgressBar>,
    errors: u64,
}

impl<'a> ProgressSink<'a> {
    /// A bar for `total` requests labelled `label`; hidden unless `visible` and stderr is a terminal.
    /// `total` is None for stdin streamed to a single run, whose length is not known before it is
    /// read.
    pub fn new(
        inner: &'a mut dyn RecordSink,
        total: Option<u64>,
        label: &str,
        visible: bool,
    ) -> Self {
        let bar = if visible && io::stderr().is_terminal() {
            let bar = ProgressBar::with_draw_target(total, ProgressDrawTarget::stderr_with_hz(10));
            bar.set_style(style());
            bar.set_prefix(label.to_owned());
            bar.enable_steady_tick(Duration::from_millis(200));
            Some(bar)
        } else {
            None
        };
        Self {
            inner,
            bar,
            errors: 0,
        }
    }
}

/// The bar's look. The rate is a key of our own, `{rate}`: indicatif's `{per_sec:>12}` takes the
/// width for the number of decimals too, printing `11.940712523497/s`; one decimal is enough.
fn style() -> ProgressStyle {
    ProgressStyle::with_template(
        "{prefix:>10} [{bar:30}] {pos}/{len} {rate:>12} eta {eta:<4} {msg}",
    )
    .map(|style| {
        style.with_key("rate", |state: &ProgressState, out: &mut dyn fmt::Write| {
            let _ = write!(out, "{:.1}/s", HumanFloatCount(state.per_sec()));
        })
    })
    .unwrap_or_else(|_| ProgressStyle::default_bar())
    .progress_chars("=> ")
}

impl RecordSink for ProgressSink<'_> {
    fn write(&mut self, record: &Record) -> io::Result<()> {
        if let Some(bar) = &self.bar {
            bar.inc(1);
            if !record.is_ok() {
                self.errors += 1;
                bar.set_message(format!("{} errors", self.errors));
            }
        }
        self.inner.write(record)
    }

    fn crawl_step(&mut self, record: &Record) -> io::Result<()> {
        self.inner.crawl_step(record)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }

    fn finish(&mut self) -> io::Result<()> {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
        self.inner.finish()
    }
}

impl Drop for ProgressSink<'_> {
    fn drop(&mut self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use indicatif::TermLike;

    use super::*;

    /// A terminal that keeps what the bar drew.
    #[derive(Debug, Clone, Default)]
    struct Screen(Arc<Mutex<String>>);

    impl TermLike for Screen {
        fn width(&self) -> u16 {
            120
        }
        fn move_cursor_up(&self, _: usize) -> io::Result<()> {
            Ok(())
        }
        fn move_cursor_down(&self, _: usize) -> io::Result<()> {
            Ok(())
        }
        fn move_cursor_right(&self, _: usize) -> io::Result<()> {
            Ok(())
        }
        fn move_cursor_left(&self, _: usize) -> io::Result<()> {
            Ok(())
        }
        fn write_line(&self, s: &str) -> io::Result<()> {
            self.write_str(s)?;
            self.write_str("\n")
        }
        fn write_str(&self, s: &str) -> io::Result<()> {
            self.0.lock().unwrap().push_str(s);
            Ok(())
        }
        fn clear_line(&self) -> io::Result<()> {
            Ok(())
        }
        fn flush(&self) -> io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn the_rate_has_one_decimal_at_most() {
        let screen = Screen::default();
        let bar = ProgressBar::with_draw_target(
            Some(10),
            ProgressDrawTarget::term_like(Box::new(screen.clone())),
        );
        bar.set_style(style());
        bar.inc(7);
        // A finished bar's rate is position over elapsed time: some fraction with many digits.
        bar.finish();
        let drawn = screen.0.lock().unwrap().clone();
        let line = drawn.lines().last().expect("the bar drew a line");
        let rate = line
            .split_whitespace()
            .find(|word| word.ends_with("/s"))
            .unwrap_or_else(|| panic!("no rate in {line:?}"));
        let number = rate.trim_end_matches("/s").replace(',', "");
        assert!(number.parse::<f64>().is_ok_and(|n| n > 0.0), "{line:?}");
        let decimals = number.split_once('.').map_or(0, |(_, d)| d.len());
        assert!(decimals <= 1, "{rate} in {line:?}");
        assert!(line.contains("7/10"), "{line:?}");
    }
}
