//! Shards: `--shard I/N` takes every id whose position in the range is I modulo N, so N copies of
//! fetchbench on N machines split any range (or word list) evenly, each id in exactly one shard.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use thiserror::Error;

#[derive(Debug, Error, PartialEq, Eq)]
pub enum ShardError {
    #[error("`{0}` is not a shard: write I/N, 0-based, e.g. 0/4 .. 3/4")]
    Syntax(String),
    #[error("shard index {index} is not below the shard count {count}")]
    OutOfRange { index: u64, count: u64 },
    #[error("the shard count must be at least 1: write I/N with I below N, e.g. 0/4 .. 3/4")]
    NoShards,
}

/// One shard of N. `index` is None only in a merged report (all shards).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Shard {
    pub index: Option<u64>,
    pub count: u64,
}

impl Shard {
    pub fn new(index: u64, count: u64) -> Result<Self, ShardError> {
        if count == 0 {
            return Err(ShardError::NoShards);
        }
        if index >= count {
            return Err(ShardError::OutOfRange { index, count });
        }
        Ok(Self {
            index: Some(index),
            count,
        })
    }

    /// From Kubernetes' Indexed Job: `JOB_COMPLETION_INDEX` with a count given by `--shards` or
    /// `FETCHBENCH_SHARDS`. None when the index is absent.
    pub fn from_env(count: Option<u64>) -> Result<Option<Self>, ShardError> {
        let Ok(index) = std::env::var("JOB_COMPLETION_INDEX") else {
            return Ok(None);
        };
        let count = count.or_else(|| std::env::var("FETCHBENCH_SHARDS").ok()?.parse().ok());
        let Some(count) = count else {
            return Ok(None);
        };
        let index = index
            .trim()
            .parse()
            .map_err(|_| ShardError::Syntax(format!("JOB_COMPLETION_INDEX={index}")))?;
        Self::new(index, count).map(Some)
    }

    /// True when the id at `position` (0-based, in range order) belongs to this shard.
    pub fn takes(&self, position: u64) -> bool {
        self.index
            .is_none_or(|index| position % self.count == index)
    }

    /// How many of `total` positions this shard takes.
    pub fn share_of(&self, total: u64) -> u64 {
        match self.index {
            Some(index) if index < total => (total - index).div_ceil(self.count),
            Some(_) => 0,
            None => total,
        }
    }
}

impl fmt::Display for Shard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.index {
            Some(index) => write!(f, "{index}/{}", self.count),
            None => write!(f, "all/{}", self.count),
        }
    }
}

impl FromStr for Shard {
    type Err = ShardError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let syntax = || ShardError::Syntax(text.to_owned());
        let (index, count) = text.split_once('/').ok_or_else(syntax)?;
        let index = index.trim().parse().map_err(|_| syntax())?;
        let count = count.trim().parse().map_err(|_| syntax())?;
        Self::new(index, count)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_position_lands_in_exactly_one_shard() {
        let shards: Vec<Shard> = (0..4).map(|i| format!("{i}/4").parse().unwrap()).collect();
        for position in 0..1000 {
            assert_eq!(shards.iter().filter(|s| s.takes(position)).count(), 1);
        }
        let total: u64 = shards.iter().map(|s| s.share_of(10_000)).sum();
        assert_eq!(total, 10_000);
        assert_eq!(shards[3].share_of(6), 1);
        assert_eq!(shards[1].share_of(1), 0);
    }

    #[test]
    fn bad_shards() {
        assert!("4/4".parse::<Shard>().is_err());
        assert!("1/0".parse::<Shard>().is_err());
        assert!("x".parse::<Shard>().is_err());
        assert!("-1/2".parse::<Shard>().is_err());
    }
}
