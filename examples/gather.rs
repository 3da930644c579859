//! asyncio's `gather`, on the fetchbench crate: fetch the 150 pokemon concurrently and get every
//! result back at once, in id order, with the timing summary. Offline, against the built-in
//! fixture server:
//!
//! ```sh
//! cargo run --example gather
//! ```

use fetchbench::fixture::{FixtureOptions, FixtureServer};
use fetchbench::Job;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let server = FixtureServer::start("127.0.0.1:0".parse()?, FixtureOptions::default()).await?;
    let job = Job::builder(&server.url_template())
        .ids("1..151")
        .concurrency(50)
        .field("name")
        .field("types[0].type.name")
        .build()?;
    let (records, summary) = job.gather().await?;
    for record in &records {
        println!(
            "{:>3} {} ({})",
            record.id, record.fields[0], record.fields[1]
        );
    }
    println!(
        "{} pokemon in {:.3} s, p50 {:.1} ms, p99 {:.1} ms",
        records.len(),
        summary.wall_s,
        summary.latency_ms.p50,
        summary.latency_ms.p99
    );
    Ok(())
}
