//! A crawl on the fetchbench crate: a paged list (each page names the next), then every
//! pokemon it lists, streamed in list order as they arrive. Offline, against the built-in
//! fixture server:
//!
//! ```sh
//! cargo run --example crawl
//! ```

use fetchbench::fixture::{FixtureOptions, FixtureServer};
use fetchbench::Job;
use futures_util::StreamExt;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let server = FixtureServer::start("127.0.0.1:0".parse()?, FixtureOptions::default()).await?;
    let list = format!("http://{}/api/v2/pokemon?limit=20", server.addr());
    let job = Job::builder(&list)
        .next_page("next")
        .follow("results[*].url")
        .user_agent("fetchbench-example/1")
        .concurrency(10)
        .field("name")
        .field("base_experience")
        .build()?;
    let mut records = std::pin::pin!(job.stream()?);
    let mut count = 0;
    while let Some(record) = records.next().await {
        count += 1;
        let key = record.crawl.as_ref().map_or("", |c| c.key.as_str());
        match &record.failure {
            None => println!("{key:>8} {} ({} xp)", record.fields[0], record.fields[1]),
            Some(failure) => println!("{key:>8} failed: {}", failure.message),
        }
    }
    println!("{count} pokemon, in list order");
    Ok(())
}
