//! What the HTTP cache (`--cache`) did for a run's records, as the report counts it.

use serde::{Deserialize, Serialize};

/// Records per use of the HTTP cache.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema,
)]
pub struct CacheReport {
    /// Answered from the cache, no request made.
    pub hits: u64,
    /// Stored entries the server confirmed with a 304.
    pub revalidated: u64,
    /// Neither answered from the cache nor stored (failures included).
    pub misses: u64,
    /// Fetched and stored.
    pub stored: u64,
}

impl CacheReport {
    /// Counts one record's use.
    pub fn add(&mut self, used: crate::record::CacheUse) {
        use crate::record::CacheUse;
        *match used {
            CacheUse::Hit => &mut self.hits,
            CacheUse::Revalidated => &mut self.revalidated,
            CacheUse::Miss => &mut self.misses,
            CacheUse::Stored => &mut self.stored,
        } += 1;
    }

    /// The sum of `reports`; None when there is none (no shard used a cache).
    pub fn merge<'a>(reports: impl Iterator<Item = &'a CacheReport>) -> Option<Self> {
        reports.fold(None, |sum, r| {
            let s = sum.unwrap_or_default();
            Some(CacheReport {
                hits: s.hits + r.hits,
                revalidated: s.revalidated + r.revalidated,
                misses: s.misses + r.misses,
                stored: s.stored + r.stored,
            })
        })
    }

    /// `151 hits, 0 revalidated, 0 misses, 0 stored`.
    pub fn summary(&self) -> String {
        format!(
            "{} hits, {} revalidated, {} misses, {} stored",
            self.hits, self.revalidated, self.misses, self.stored
        )
    }
}
