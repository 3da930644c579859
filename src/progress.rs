//! Progress display: an indicatif bar per run on stderr (done/total, rate, ETA, errors).
//!
//! The bar wraps the run's sink, so it ticks exactly when a record is released and costs nothing
//! on the request path; it is hidden when stderr is not a terminal or when asked.

use std::io::{self, IsTerminal};
use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

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
    /// `total` is None for a word list, whose length is not known before it is read.
    pub fn new(
        inner: &'a mut dyn RecordSink,
        total: Option<u64>,
        label: &str,
        visible: bool,
    ) -> Self {
        let bar = if visible && io::stderr().is_terminal() {
            let bar = ProgressBar::with_draw_target(total, ProgressDrawTarget::stderr_with_hz(10));
            bar.set_style(
                ProgressStyle::with_template(
                    "{prefix:>10} [{bar:30}] {pos}/{len} {per_sec:>12} eta {eta:<4} {msg}",
                )
                .unwrap_or_else(|_| ProgressStyle::default_bar())
                .progress_chars("=> "),
            );
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
