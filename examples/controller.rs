//! The lesson's controller, on the fetchbench crate: a bounded pool of 25 workers fetching the
//! 150 pokemon, a per-result callback printing each name as it is delivered (in id order), and a
//! job-completed callback printing the summary. Runs offline against the built-in fixture server:
//!
//! ```sh
//! cargo run --example controller
//! ```
//!
//! The original's bounded work queue (100) and worker pool (25) are the engine's reorder window and
//! concurrency: at most 25 requests in flight, never more than a window of results held back.

use fetchbench::fixture::{FixtureOptions, FixtureServer};
use fetchbench::{Job, Record, RunReport};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let server = FixtureServer::start("127.0.0.1:0".parse()?, FixtureOptions::default()).await?;
    let job = Job::builder(&server.url_template())
        .ids("1..151")
        .concurrency(25)
        .field("name")
        .build()?;

    let on_result = |record: &Record| match (&record.failure, record.fields[0].as_str()) {
        (None, Some(name)) => println!("{:>3} {name}", record.id),
        (Some(failure), _) => println!("{:>3} failed: {}", record.id, failure.message),
        (None, None) => println!("{:>3} (no name)", record.id),
    };
    let on_done = |summary: &RunReport| {
        println!(
            "job completed: {} requests, {} ok, {} errors in {:.3} s ({:.1} requests/s)",
            summary.requests, summary.ok, summary.errors, summary.wall_s, summary.rps
        );
    };
    job.run_with(on_result, on_done).await?;
    Ok(())
}
