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

    /// The summary's one-line account: "8 pages, 3 duplicates, ...".
    pub fn summary(&self) -> String {
        let stopped = self
            .stopped
            .as_ref()
            .map(|why| format!("; stopped {why}, {} past the stop", self.past_stop))
            .unwrap_or_default();
        let levels: Vec<String> = self
            .levels
            .iter()
            .map(|l| format!("depth {}: {} ({} failed)", l.depth, l.requests, l.errors))
            .collect();
        format!(
            "{}; {} pages, {} duplicates, {} out of scope, {} over budget, {} loops{stopped}",
            levels.join(", "),
            self.pages,
            self.duplicates,
            self.out_of_scope,
            self.over_budget,
            self.loops
        )
    }
}
