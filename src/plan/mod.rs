//! The input vocabulary: ids, URL templates, rates and durations, shards, each parsed once from
//! text into a typed value with its own error type, before any I/O. The engine and the command
//! line both speak it; it imports neither.

pub mod ids;
pub mod range;
pub mod rate;
pub mod shard;
pub mod slo;
pub mod spool;
pub mod template;
