//! Notices: what the flags ask for that will not happen as a reader of the command may think
//! (a setting that changes nothing, a format the extension does not name, an empty shard, a rate
//! that takes hours), one line each on stderr before the first request; and after the run, what
//! it left out that the flags may not have meant to (duplicate seeds, chains cut at another
//! origin, an empty stdin) and the paths that matched nothing.

use std::time::Duration;

use super::plan::{format_from_extension, DEFAULT_CONCURRENCY};
use super::{Destination, Mode, Plan, Repeat};
use crate::report::stats::RunStats;

/// What the flags ask for that will not happen as a reader of the command may think, one line
/// each: a setting that changes nothing, a format not named by the file's extension, a shard
/// with no ids, a rate that makes the run take hours.
pub(super) fn notices(plan: &Plan, todo: Option<u64>) -> Vec<String> {
    let mut notices = Vec::new();
    if plan.mode == Mode::Sequential && plan.concurrency != [DEFAULT_CONCURRENCY] {
        notices.push(
            "-c applies to concurrent runs; -m sequential makes one request at a time \
             (add -m concurrent or -m both)"
                .to_owned(),
        );
    }
    if let (Destination::File(path), false) = (&plan.output, plan.format_given) {
        if path.extension().is_some() && format_from_extension(path).is_none() {
            notices.push(format!(
                "writing {} to {}: its extension names no format fetchbench writes (csv, json, \
                 ndjson, jsonl, txt, sqlite); --format chooses",
                plan.format,
                path.display()
            ));
        }
    }
    if let Some(shard) = plan.shard.filter(|s| s.count > 1) {
        let limits: Vec<String> = [
            plan.job.rate.map(|r| format!("--rate {r}")),
            plan.job
                .client
                .host_rate
                .map(|r| format!("--host-rate {r}")),
            plan.job
                .client
                .host_concurrency
                .map(|n| format!("--host-concurrency {n}")),
            match plan.repeat {
                Some(Repeat::Requests(_)) => todo.map(|n| format!("-n {n}")),
                _ => None,
            },
        ]
        .into_iter()
        .flatten()
        .collect();
        if !limits.is_empty() {
            notices.push(format!(
                "shard {shard} takes its share of the job's limits: {}",
                limits.join(", ")
            ));
        }
    }
    if let (Some(shard), Some(0)) = (plan.shard, todo) {
        notices.push(format!(
            "shard {shard} holds none of these ids (fewer ids than shards): nothing to fetch"
        ));
    }
    if let (Some(rate), Some(n)) = (plan.job.rate, todo) {
        let at_least = Duration::from_secs_f64(n as f64 / rate.per_second());
        if at_least > Duration::from_secs(600) {
            notices.push(format!(
                "at --rate {rate}, {n} requests take at least {}",
                humantime::format_duration(Duration::from_secs(at_least.as_secs()))
            ));
        }
    }
    notices
}

/// What the runs left out that the flags may not have meant to, one line each (with its
/// `note:` or `warning:`): seeds given twice in a crawl, `--next` chains cut at another origin
/// (one line per origin), a stdin that held no ids.
pub(super) fn after_run(all_stats: &[RunStats], stdin_empty: bool) -> Vec<String> {
    let mut lines = Vec::new();
    let dropped = all_stats
        .iter()
        .filter_map(|s| s.crawl.as_ref().map(|c| c.duplicate_seeds))
        .max()
        .unwrap_or(0);
    if dropped > 0 {
        let seeds = if dropped == 1 { "seed" } else { "seeds" };
        lines.push(format!(
            "note: {dropped} duplicate {seeds} dropped: a crawl requests each URL once, so an id \
             given again is neither fetched nor written again"
        ));
    }
    // One warning per origin, however many chains ended there (links skipped stay counted
    // only); the report has the same counts under `crawl.next_out_of_scope`.
    let mut cut: Vec<(&str, u64)> = Vec::new();
    for (origin, chains) in all_stats
        .iter()
        .filter_map(|s| s.crawl.as_ref())
        .flat_map(|c| &c.next_out_of_scope)
    {
        match cut.iter_mut().find(|(o, _)| o == origin) {
            // Runs of one job (-m both) end the same chains: count them once.
            Some((_, most)) => *most = (*most).max(*chains),
            None => cut.push((origin, *chains)),
        }
    }
    for (origin, chains) in cut {
        let (chains, them) = match chains {
            1 => ("1 chain".to_owned(), "it"),
            n => (format!("{n} chains"), "them"),
        };
        lines.push(format!(
            "warning: --next: {chains} ended at a next page on {origin}, another origin, not \
             requested; add --allow-origin {origin} to follow {them}"
        ));
    }
    if stdin_empty {
        lines.push(
            "note: --ids -: stdin held no ids (blank lines and `#` comments are skipped): \
             nothing was fetched"
                .to_owned(),
        );
    }
    lines
}

/// A warning for each path the report lists in `fields_never_matched` (`-f` paths bare, the
/// others after their flag), saying what to check; a warning, not a failure, since a field may
/// be null in every document by design.
pub(super) fn never_matched(paths: &[String]) -> Vec<String> {
    paths
        .iter()
        .map(|path| {
            let (flag, path) = match path.split_once(' ') {
                Some((flag, path)) if flag.starts_with("--") => (flag, path),
                _ => ("-f", path.as_str()),
            };
            match (flag, path) {
                ("--next", "link") => "warning: --next link: no successful page had a Link \
                                        header; the API may name its next page in the body \
                                        (--next PATH) or by a cursor (--next PATH --next-param NAME)"
                    .to_owned(),
                _ => format!(
                    "warning: {flag} {path}: matched nothing in any successful response; check \
                     the path (keys are case-sensitive, lists need [N] or [*])"
                ),
            }
        })
        .collect()
}
