//! The timing report: the runs side by side and how they compare, for people and as JSON.
//!
//! [`Report`] is built once from the finished runs' stats; the human table (`human`) and the JSON
//! file (`json`) are two renderings of the same values, so they can never disagree.

pub mod bars;
pub mod buckets;
pub mod cache;
pub mod compare;
pub mod crawl;
pub mod figures;
pub mod find_rate;
pub mod html;
pub mod human;
pub mod job;
pub mod merge;
pub mod paint;
mod run;
pub mod stats;
pub mod sweep;
pub mod timeline;
pub mod units;
pub mod waterfall;

use std::io;
use std::path::Path;

use serde::{Deserialize, Serialize};

pub use self::cache::CacheReport;
use self::run::RunParts;
pub use self::run::{PhasesReport, RateReport, RunReport, SlowReport, WaitReport};
use self::stats::{RunMode, RunStats};
use crate::extract::FieldPath;
use crate::plan::shard::Shard;

/// Version of the report format; `merge` refuses reports of another version.
pub const SCHEMA_VERSION: u32 = 1;

/// The report of one or more runs of the same job.
#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Report {
    /// The report format's version ([`SCHEMA_VERSION`]).
    pub schema_version: u32,
    /// The fetchbench that wrote it.
    pub version: String,
    /// Which shard of the ids this process fetched (`--shard I/N`), or null for all of them;
    /// `{"index": null, "count": N}` after a merge of N shards.
    pub shard: Option<Shard>,
    pub runs: Vec<RunReport>,
    /// Sequential wall time over concurrent wall time, when both ran.
    pub speedup: Option<f64>,
    /// What stopped the job early: a signal ("SIGINT", "SIGTERM"), or "output closed" when the
    /// reader of stdout went away (`| head`); null if it ran to the end.
    pub interrupted: Option<String>,
    /// Whether connections were reused (false with `--no-keepalive`).
    #[serde(default = "reused")]
    pub keepalive: bool,
    /// The proxies any run's requests actually went through (passwords redacted, comma
    /// separated), or null when none did: through a proxy, the figures measure the proxy too.
    /// Each run says how many of its requests went through one.
    #[serde(default)]
    pub proxy: Option<String>,
    /// True when TLS certificates were not verified (`--insecure`): the figures may come from a
    /// server other than the one meant.
    #[serde(default)]
    pub insecure: bool,
    /// For a concurrency sweep (`-c 1,4,16`), the lowest level within 10% of the best rate;
    /// null with fewer than two concurrent runs.
    #[serde(default)]
    pub knee: Option<self::sweep::KneeReport>,
    /// The `-f` paths that were null (or absent) in every successful record of every run: most
    /// often a typo. Empty when every path found something, or no request succeeded.
    #[serde(default)]
    pub fields_never_matched: Vec<String>,
    /// With `-n` or `-z`: how many times the longest run went through the ids (requests over
    /// ids, so 2.5 is twice through and half again); null otherwise, or for one URL sent again.
    #[serde(default)]
    pub passes: Option<f64>,
    /// What job this is (URL template, ids, mode, options): `merge` takes only shards of one
    /// job, `compare` warns about reports of different ones. Null in reports written before
    /// fetchbench said.
    #[serde(default)]
    pub job: Option<self::job::JobReport>,
    /// In a merge of several shards: whether, in every run, all shards were running at one
    /// moment. False when they ran (partly) one after another: the wall time then spans them end
    /// to end, so it and the speed-up do not measure one job running side by side. Null in the
    /// report of one process.
    #[serde(default)]
    pub shards_overlapped: Option<bool>,
    /// With `--find-rate`: the rate search's steps and its answer (each step is also a run in
    /// `runs`); null otherwise.
    #[serde(default)]
    pub find_rate: Option<self::find_rate::FindRateReport>,
}

fn reused() -> bool {
    true
}

/// The proxies the runs' requests went through, or None when no request did.
fn proxies_of(runs: &[RunReport]) -> Option<String> {
    let all: std::collections::BTreeSet<&str> = runs
        .iter()
        .flat_map(|r| r.proxies.iter().map(String::as_str))
        .collect();
    (!all.is_empty()).then(|| all.into_iter().collect::<Vec<_>>().join(", "))
}

impl Report {
    /// The report of `runs`, each of which was asked to fetch `planned` ids.
    pub fn new(runs: &[RunStats], planned: Option<u64>) -> Self {
        let runs: Vec<RunReport> = runs
            .iter()
            .map(|r| RunReport::from_stats(r, planned))
            .collect();
        Self::from_runs(runs, None)
    }

    /// A report of finished runs (speedup computed).
    pub fn from_runs(runs: Vec<RunReport>, shard: Option<Shard>) -> Self {
        let speedup = speedup(&runs);
        let knee = self::sweep::knee(&runs);
        let proxy = proxies_of(&runs);
        Self {
            knee,
            schema_version: SCHEMA_VERSION,
            version: concat!("fetchbench ", env!("CARGO_PKG_VERSION")).to_owned(),
            shard,
            runs,
            speedup,
            interrupted: None,
            keepalive: true,
            proxy,
            insecure: false,
            fields_never_matched: Vec::new(),
            passes: None,
            job: None,
            shards_overlapped: None,
            find_rate: None,
        }
    }

    /// Names the `-f` paths (`fields`, in order) that no successful record of `runs` matched,
    /// the `--follow` paths (`follow[d]` leads from depth `d`) that led nowhere (a level with
    /// successful documents and not one link found in them, in every run), and an `--items`
    /// path that named a list in no page, and a `--next` path that no first-level page held
    /// anything at (a null counts: it is how a chain's last page says there is no next).
    pub fn with_fields(
        mut self,
        fields: &[FieldPath],
        follow: &[FieldPath],
        items: Option<&FieldPath>,
        next: Option<String>,
        runs: &[RunStats],
    ) -> Self {
        let succeeded = runs.iter().any(|r| r.ok > 0);
        let unmatched_fields = fields.iter().enumerate().filter(|(i, _)| {
            succeeded
                && !runs
                    .iter()
                    .any(|r| r.fields_matched().get(*i).copied().unwrap_or(false))
        });
        let led_nowhere = follow.iter().enumerate().filter(|(depth, _)| {
            let documents = |r: &RunStats| {
                let depth = u32::try_from(*depth).unwrap_or(u32::MAX);
                r.levels.get(&depth).map_or(0, |level| level.ok)
            };
            let links = |r: &RunStats| {
                r.crawl
                    .as_ref()
                    .and_then(|c| c.links_found.get(*depth).copied())
                    .unwrap_or(0)
            };
            runs.iter().any(|r| documents(r) > 0) && runs.iter().all(|r| links(r) == 0)
        });
        let mut led_nowhere: Vec<String> = led_nowhere
            .map(|(_, path)| format!("--follow {path}"))
            .collect();
        // A page of items whose list is missing gives no record at all: name the list's path.
        if let Some(items) = items.filter(|_| succeeded && !runs.iter().any(RunStats::items_found))
        {
            led_nowhere.push(format!("--items {items}"));
        }
        // Fields are read from the documents a crawl reaches: with a level that led nowhere,
        // that level is the mistake to name.
        self.fields_never_matched = if led_nowhere.is_empty() {
            unmatched_fields.map(|(_, path)| path.to_string()).collect()
        } else {
            led_nowhere
        };
        // A next path matched when some page held something there, a null included, since a
        // chain's last page (a list's only page) says "no next page" with a null; `--next link`
        // when some page had a `Link` header.
        let pages = |r: &RunStats| r.levels.get(&0).map_or(0, |level| level.ok);
        let held = |r: &RunStats| r.crawl.as_ref().map_or(0, |c| c.next_held);
        if let Some(next) =
            next.filter(|_| runs.iter().any(|r| pages(r) > 0) && runs.iter().all(|r| held(r) == 0))
        {
            self.fields_never_matched.push(format!("--next {next}"));
        }
        self
    }

    /// Judges a sweep's levels by `slo` (`--slo` with `-c 1,4,16`): the knee also names the
    /// highest level that kept it.
    pub fn with_slo(mut self, slo: Option<&crate::plan::slo::Slo>) -> Self {
        if let (Some(knee), Some(slo)) = (self.knee.as_mut(), slo) {
            knee.slo = Some(self::sweep::slo_knee(&self.runs, slo));
        }
        self
    }

    /// Marks the report as covering only what completed before `signal`.
    pub fn interrupted_by(mut self, signal: Option<&'static str>) -> Self {
        self.interrupted = signal.map(str::to_owned);
        self
    }

    /// Records which shard of the ids this report covers.
    pub fn for_shard(mut self, shard: Option<Shard>) -> Self {
        self.shard = shard;
        self
    }

    /// Reads a JSON report.
    pub fn read_json(path: &Path) -> io::Result<Self> {
        let text = std::fs::read_to_string(path)?;
        serde_json::from_str(&text).map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))
    }

    /// True when every request of every run succeeded.
    pub fn all_ok(&self) -> bool {
        self.runs.iter().all(|r| r.errors == 0)
    }

    /// Writes the JSON report to `path` atomically: to a temporary file in the same folder, synced,
    /// then renamed over `path`, so a reader sees the old report or the new one, never half of one.
    pub fn write_json(&self, path: &Path) -> io::Result<()> {
        let mut text = serde_json::to_string_pretty(self).map_err(io::Error::other)?;
        text.push('\n');
        crate::replace::write(path, text.as_bytes())
    }
}

/// The JSON Schema of [`Report`], from the same types and doc comments that write the report, so
/// the schema cannot drift from the format.
pub fn json_schema() -> String {
    let schema = schemars::schema_for!(Report);
    serde_json::to_string_pretty(&schema).unwrap_or_default()
}

/// How many times faster the fastest concurrent run was than the sequential one (by wall time).
fn speedup(runs: &[RunReport]) -> Option<f64> {
    let sequential = runs.iter().find(|r| r.mode == RunMode::Sequential)?.wall_s;
    let concurrent = fastest_concurrent(runs)?.wall_s;
    (concurrent > 0.0).then(|| sequential / concurrent)
}

/// The concurrent run with the shortest wall time (the only one, unless the runs are a sweep).
pub(crate) fn fastest_concurrent(runs: &[RunReport]) -> Option<&RunReport> {
    runs.iter()
        .filter(|r| r.mode == RunMode::Concurrent)
        .min_by(|a, b| a.wall_s.total_cmp(&b.wall_s))
}
