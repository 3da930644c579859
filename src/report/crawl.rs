//! A crawl's figures: requests, successes, failures and mean latency per level (depth), pages
//! of the chains, and what was skipped and why (duplicates, other origins, budgets, loops).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::engine::CrawlCounts;
use crate::record::Record;

/// One level's counts, gathered record by record.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct LevelCounts {
    pub requests: u64,
    pub ok: u64,
    /// Sum of latencies, milliseconds.
    pub total_ms: f64,
}

impl LevelCounts {
    /// Counts `record` into its level of `levels`, if it is a crawl's.
    pub fn add(levels: &mut BTreeMap<u32, LevelCounts>, record: &Record) {
        let Some(lineage) = &record.crawl else { return };
        let level = levels.entry(lineage.depth).or_default();
        level.requests += 1;
        level.ok += u64::from(record.is_ok());
        level.total_ms += record.elapsed_ms();
    }
}

/// One level of a crawl, as the report shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct LevelReport {
    /// Links followed from a seed's page: 0 for the pages, 1 for what they list, ...
    pub depth: u32,
    pub requests: u64,
    pub ok: u64,
    pub errors: u64,
    /// Mean latency of the level's requests, milliseconds.
    pub mean_ms: f64,
}

/// A crawl's figures in the report: the engine's counts as they are, and the levels.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct CrawlReport {
    #[serde(flatten)]
    pub counts: CrawlCounts,
    pub levels: Vec<LevelReport>,
}

impl CrawlReport {
    pub fn new(counts: &CrawlCounts, levels: &BTreeMap<u32, LevelCounts>) -> Self {
        Self {
            counts: counts.clone(),
            levels: levels
                .iter()
                .map(|(&depth, level)| LevelReport {
                    depth,
                    requests: level.requests,
                    ok: level.ok,
                    errors: level.requests - level.ok,
                    mean_ms: level.total_ms / level.requests.max(1) as f64,
                })
                .collect(),
        }
    }

    /// The crawls of several shards as one: counts added, level by level.
    pub fn merge<'a>(reports: impl IntoIterator<Item = &'a CrawlReport>) -> Option<Self> {
        let mut merged: Option<CrawlReport> = None;
        for report in reports {
            let into = merged.get_or_insert_with(CrawlReport::default);
            into.counts.add(&report.counts);
            for level in &report.levels {
                match into.levels.iter_mut().find(|l| l.depth == level.depth) {
                    Some(l) => {
                        let total =
                            l.mean_ms * l.requests as f64 + level.mean_ms * level.requests as f64;
                        l.requests += level.requests;
                        l.ok += level.ok;
                        l.errors += level.errors;
                        l.mean_ms = total / l.requests.max(1) as f64;
                    }
                    None => into.levels.push(level.clone()),
                }
            }
            into.levels.sort_by_key(|l| l.depth);
        }
        merged
    }

    /// Whether anything was crawled: a record came from a crawl, or a link was followed or
    /// skipped. A plain range with only a stop rule has a crawl report but crawled nothing.
    pub fn crawled(&self) -> bool {
        !self.levels.is_empty() || self.counts.any()
    }

    /// Where a stop rule ended the range, in words, and what it left unwritten: "stopped after 3
    /// consecutive missing ids from 152 (--stop-after-missing 3); 15 answers past the stop not
    /// written".
    pub fn stop_account(&self) -> Option<String> {
        let why = self.counts.stopped.as_ref()?;
        let past = match self.counts.past_stop {
            0 => String::new(),
            1 => "; 1 answer past the stop not written".to_owned(),
            n => format!("; {n} answers past the stop not written"),
        };
        Some(format!("stopped {why}{past}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn level(depth: u32, requests: u64, errors: u64) -> LevelReport {
        LevelReport {
            depth,
            requests,
            ok: requests - errors,
            errors,
            mean_ms: 40.0,
        }
    }

    #[test]
    fn a_stop_rule_alone_crawled_nothing_but_is_accounted_for() {
        let stop = CrawlReport {
            counts: CrawlCounts {
                stopped: Some(
                    "after 3 consecutive missing ids from 152 (--stop-after-missing 3)".into(),
                ),
                past_stop: 15,
                ..CrawlCounts::default()
            },
            ..CrawlReport::default()
        };
        assert!(!stop.crawled());
        assert_eq!(
            stop.stop_account().as_deref(),
            Some(
                "stopped after 3 consecutive missing ids from 152 (--stop-after-missing 3); \
                 15 answers past the stop not written"
            )
        );
        assert_eq!(CrawlReport::default().stop_account(), None);
    }

    #[test]
    fn levels_or_any_skipped_link_is_a_crawl() {
        let levels = CrawlReport {
            levels: vec![level(0, 8, 0), level(1, 151, 2)],
            ..CrawlReport::default()
        };
        assert!(levels.crawled());
        let skipped = CrawlReport {
            counts: CrawlCounts {
                out_of_scope: 1,
                ..CrawlCounts::default()
            },
            ..CrawlReport::default()
        };
        assert!(skipped.crawled());
    }
}
