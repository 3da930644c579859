//! The integration tests as one crate, linked once instead of once per file: each module holds
//! the tests of one feature; `common` holds the test server and the helpers that run the binary.

mod cache;
mod cli;
mod common;
mod compression;
mod conventions;
mod crawl;
mod database;
mod endings;
mod extract;
mod find_rate;
mod fixture;
mod frontier;
mod host_table;
mod html;
mod http2;
mod library;
mod numbers;
mod pagination;
mod politeness;
mod readme;
mod real_shapes;
mod reliability;
mod repeat;
mod requests;
mod servers;
mod shards;
mod silent;
mod summary;
mod throttle;
mod tls;
