//! A stream of records on the fetchbench crate: take what you need and drop the rest. Here the
//! first five pokemon heavier than 100 kg; dropping the stream cancels the requests still to go,
//! so at most the concurrency's worth more is fetched. Offline, against the built-in fixture:
//!
//! ```sh
//! cargo run --example stream
//! ```

use fetchbench::fixture::{FixtureOptions, FixtureServer};
use fetchbench::Job;
use futures_util::StreamExt;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let server = FixtureServer::start("127.0.0.1:0".parse()?, FixtureOptions::default()).await?;
    let job = Job::builder(&server.url_template())
        .ids("1..151")
        .concurrency(8)
        .field("name")
        .field("weight")
        .build()?;
    // Weights are in hectograms: 100 kg is 1000.
    let heavy: Vec<_> = job
        .stream()?
        .filter(|record| {
            let heavy = record.fields[1].as_u64().is_some_and(|w| w > 1000);
            std::future::ready(heavy)
        })
        .take(5)
        .collect()
        .await;
    for record in &heavy {
        println!(
            "{:>3} {} ({} hg)",
            record.id, record.fields[0], record.fields[1]
        );
    }
    Ok(())
}
