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

/// A crawl's figures in the report.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct CrawlReport {
    /// Pages fetched as a chain's next page (the seeds' own pages not counted).
    pub pages: u64,
    /// Links to a URL this run had already requested: not fetched again.
    pub duplicates: u64,
    /// Links to an origin the crawl may not go to (see --allow-origin): not fetched.
    pub out_of_scope: u64,
    /// Links that are not http(s) URLs.
    pub invalid: u64,
    /// Work not fetched because --max-requests or --max-pages was reached.
    pub over_budget: u64,
    /// Chains ended because a page named a page of the chain again.
    pub loops: u64,
    /// Links to results an earlier run already wrote (`--resume`): not fetched again.
    #[serde(default)]
    pub already_done: u64,
    /// Where and why a stop rule ended the range, or null.
    #[serde(default)]
    pub stopped: Option<String>,
    /// Records that came in past the stop point (requested before it was known): not written.
    #[serde(default)]
    pub past_stop: u64,
    pub levels: Vec<LevelReport>,
}

impl CrawlReport {
    pub fn new(counts: &CrawlCounts, levels: &BTreeMap<u32, LevelCounts>) -> Self {
        Self {
            pages: counts.pages,
            duplicates: counts.duplicates,
            out_of_scope: counts.out_of_scope,
            invalid: counts.invalid,
            over_budget: counts.over_budget,
            loops: counts.loops,
            already_done: counts.already_done,
            stopped: counts.stopped.clone(),
            past_stop: counts.past_stop,
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
            into.pages += report.pages;
            into.duplicates += report.duplicates;
            into.out_of_scope += report.out_of_scope;
            into.invalid += report.invalid;
            into.over_budget += report.over_budget;
            into.loops += report.loops;
            into.already_done += report.already_done;
            into.past_stop += report.past_stop;
            if into.stopped.is_none() {
                into.stopped.clone_from(&report.stopped);
            }
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
        !self.levels.is_empty()
            || self.pages
                + self.duplicates
                + self.out_of_scope
                + self.invalid
                + self.over_budget
                + self.loops
                + self.already_done
                > 0
    }

    /// Where a stop rule ended the range, in words, and what it left unwritten: "stopped after 3
    /// consecutive missing ids from 152 (--stop-after-missing 3); 15 answers past the stop not
    /// written".
    pub fn stop_account(&self) -> Option<String> {
        let why = self.stopped.as_ref()?;
        let past = match self.past_stop {
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
            stopped: Some(
                "after 3 consecutive missing ids from 152 (--stop-after-missing 3)".into(),
            ),
            past_stop: 15,
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
            out_of_scope: 1,
            ..CrawlReport::default()
        };
        assert!(skipped.crawled());
    }
}
