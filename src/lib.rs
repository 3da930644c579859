//! fetchbench: fetch a templated URL over a range of ids, sequentially or through a bounded,
//! rate-limited concurrent pool; extract JSON fields in id order; report the timings side by side.
//!
//! Data flows one way: [`cli`] -> [`plan`] -> [`engine`] -> ordered [`record`]s -> [`output`]
//! sinks and the [`report`]. The binary is a thin shell over [`app`].

pub mod app;
pub mod cli;
pub mod engine;
pub mod extract;
pub mod fixture;
pub mod output;
pub mod plan;
pub mod progress;
pub mod record;
pub mod report;
pub mod resume;
