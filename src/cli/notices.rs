//! Notices: what the flags ask for that will not happen as a reader of the command may think
//! (a setting that changes nothing, a format the extension does not name, an empty shard, a rate
//! that takes hours), one line each on stderr before the first request.

use std::time::Duration;

use super::plan::{format_from_extension, DEFAULT_CONCURRENCY};
use super::{Destination, Mode, Plan, Repeat};

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
