//! The run as bars in time: when each request started and ended, for the HTML report's waterfall.
//!
//! Kept in bounded memory whatever the run's length: up to [`MAX_ROWS`] rows of one request each;
//! past that, neighbouring rows are merged in pairs (a row then spans 2, 4, 8... consecutive
//! requests, from the first start to the last end among them). A chart has fewer pixels than that
//! anyway, and a run of a million ids costs the same 100 KB as a run of two thousand.

use std::time::Duration;

use crate::record::Record;

/// Most rows a waterfall keeps; beyond that, rows are merged in pairs.
pub const MAX_ROWS: usize = 2048;

/// One bar: one request, or consecutive requests merged.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Span {
    /// Requests in this bar (1 until the run outgrows [`MAX_ROWS`]).
    pub requests: u32,
    /// Failed requests among them.
    pub errors: u32,
    /// The earliest start among them, from the run's start.
    pub start: Duration,
    /// The latest end among them, from the run's start.
    pub end: Duration,
}

impl Span {
    fn of(record: &Record) -> Self {
        Self {
            requests: 1,
            errors: u32::from(!record.is_ok()),
            start: record.started,
            end: record.finished(),
        }
    }

    /// Grows this span to cover `other` too: both counts, the first start, the last end.
    pub fn absorb(&mut self, other: Span) {
        self.requests += other.requests;
        self.errors += other.errors;
        self.start = self.start.min(other.start);
        self.end = self.end.max(other.end);
    }
}

/// The bars of one run, in the order its records were released.
#[derive(Debug, Clone)]
pub struct Waterfall {
    rows: Vec<Span>,
    /// Requests per finished row: a power of two.
    per_row: u32,
    /// The row being filled.
    filling: Option<Span>,
}

impl Default for Waterfall {
    fn default() -> Self {
        Self {
            rows: Vec::new(),
            per_row: 1,
            filling: None,
        }
    }
}

impl Waterfall {
    /// Adds the next record's bar.
    pub fn add(&mut self, record: &Record) {
        let span = Span::of(record);
        let row = match self.filling.take() {
            Some(mut row) => {
                row.absorb(span);
                row
            }
            None => span,
        };
        if row.requests < self.per_row {
            self.filling = Some(row);
            return;
        }
        self.rows.push(row);
        if self.rows.len() == MAX_ROWS {
            self.halve();
        }
    }

    /// Merges rows in pairs, doubling the requests each row stands for.
    fn halve(&mut self) {
        let merged = self
            .rows
            .chunks(2)
            .map(|pair| {
                let mut row = pair[0];
                if let Some(second) = pair.get(1) {
                    row.absorb(*second);
                }
                row
            })
            .collect();
        self.rows = merged;
        self.per_row *= 2;
    }

    /// The bars, the partly filled last one included.
    pub fn rows(&self) -> impl Iterator<Item = Span> + '_ {
        self.rows.iter().copied().chain(self.filling)
    }

    /// How many requests each bar stands for (the last one may stand for fewer).
    pub fn requests_per_row(&self) -> u32 {
        self.per_row
    }

    /// The latest end of any bar: the run's length on the chart.
    pub fn end(&self) -> Duration {
        self.rows().map(|s| s.end).max().unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::ids::Id;
    use crate::record::{ErrorKind, Failure, Timing};

    fn record(n: u64, ok: bool) -> Record {
        Record {
            index: n,
            id: Id::Num(n),
            url: String::new(),
            status: Some(200),
            http_version: None,
            timing: Timing::default(),
            elapsed: Duration::from_millis(10),
            scheduled: Duration::from_millis(n),
            started: Duration::from_millis(n),
            wait: None,
            bytes: 0,
            wire_bytes: 0,
            attempts: 1,
            failure: (!ok).then(|| Failure {
                kind: ErrorKind::Status,
                message: "HTTP 500".to_owned(),
            }),
            fields: Vec::new(),
            crawl: None,
            cache: None,
        }
    }

    #[test]
    fn one_bar_per_request_while_it_fits() {
        let mut waterfall = Waterfall::default();
        for n in 0..150 {
            waterfall.add(&record(n, n != 7));
        }
        let rows: Vec<Span> = waterfall.rows().collect();
        assert_eq!(rows.len(), 150);
        assert_eq!(rows[7].errors, 1);
        assert_eq!(rows[3].start, Duration::from_millis(3));
        assert_eq!(rows[3].end, Duration::from_millis(13));
        assert_eq!(waterfall.end(), Duration::from_millis(159));
    }

    #[test]
    fn long_runs_merge_bars_and_keep_every_request() {
        let mut waterfall = Waterfall::default();
        let total = 100_000u64;
        for n in 0..total {
            waterfall.add(&record(n, n % 1000 != 0));
        }
        let rows: Vec<Span> = waterfall.rows().collect();
        assert!(rows.len() <= MAX_ROWS, "{} rows", rows.len());
        assert!(rows.len() > MAX_ROWS / 4, "{} rows", rows.len());
        let requests: u64 = rows.iter().map(|r| u64::from(r.requests)).sum();
        let errors: u64 = rows.iter().map(|r| u64::from(r.errors)).sum();
        assert_eq!(requests, total);
        assert_eq!(errors, 100);
        assert_eq!(rows[0].start, Duration::ZERO);
        assert_eq!(
            rows[0].end,
            Duration::from_millis(u64::from(waterfall.requests_per_row()) - 1 + 10)
        );
        assert_eq!(waterfall.end(), Duration::from_millis(total - 1 + 10));
    }
}
