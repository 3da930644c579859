//! The request slots: one long-lived task per slot, fetching the ids the scheduler hands it.
//!
//! A task per request would cost a spawn, a boxed multi-kilobyte future, a join handle and a
//! semaphore permit for every id (about 3,000 instructions each, measured with callgrind at
//! 50,000 requests/s); a worker costs that once per slot. A worker is busy from the request's
//! start to its last body byte: a heavy body is settled on the settling pool, which delivers
//! the record itself, and the worker is free for the next id meanwhile.

use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::FutureExt;
use tokio::sync::mpsc;

use super::request::Fetcher;
use crate::plan::ids::Id;
use crate::record::Record;

/// One id to fetch, as the scheduler dispatched it.
#[derive(Debug)]
pub(super) struct Job {
    pub(super) index: u64,
    pub(super) id: Id,
    /// The start of the run, which the record's offsets count from.
    pub(super) epoch: Instant,
    /// When the request was due (see `Run::scheduled_start`).
    pub(super) scheduled: Duration,
}

/// What workers tell the scheduler.
#[derive(Debug)]
pub(super) enum Event {
    /// Worker `worker` is free again; `record` is its job's record unless the settling pool
    /// will deliver it.
    Free {
        worker: usize,
        record: Option<Record>,
    },
    /// A record settled on the pool.
    Settled(Record),
}

/// The scheduler's handle on one worker: where its next job goes.
pub(super) type Slot = mpsc::Sender<Job>;

/// Starts worker `worker` on `fetcher`; it runs until its slot is dropped.
pub(super) fn spawn(
    tasks: &mut tokio::task::JoinSet<()>,
    worker: usize,
    fetcher: &Arc<Fetcher>,
    events: &mpsc::UnboundedSender<Event>,
) -> Slot {
    // One job at a time: the scheduler sends only to a free worker.
    let (slot, jobs) = mpsc::channel(1);
    tasks.spawn(work(worker, Arc::clone(fetcher), jobs, events.clone()));
    slot
}

async fn work(
    worker: usize,
    fetcher: Arc<Fetcher>,
    mut jobs: mpsc::Receiver<Job>,
    events: mpsc::UnboundedSender<Event>,
) {
    while let Some(job) = jobs.recv().await {
        let record = fetch_one(&fetcher, &job, &events).await;
        if events.send(Event::Free { worker, record }).is_err() {
            return;
        }
    }
}

/// Fetches `job`; its record, or None when the settling pool will deliver it. A panic anywhere
/// in the request becomes the record's failure, and the worker goes on with the next job.
async fn fetch_one(
    fetcher: &Fetcher,
    job: &Job,
    events: &mpsc::UnboundedSender<Event>,
) -> Option<Record> {
    let fetching = fetch_and_settle(fetcher, job, events);
    AssertUnwindSafe(fetching)
        .catch_unwind()
        .await
        .unwrap_or_else(|_| Some(fetcher.lost(job.index, &job.id, job.epoch)))
}

async fn fetch_and_settle(
    fetcher: &Fetcher,
    job: &Job,
    events: &mpsc::UnboundedSender<Event>,
) -> Option<Record> {
    let fetched = fetcher
        .fetch(job.index, &job.id, job.epoch, job.scheduled)
        .await;
    let settler = fetcher.settler();
    if !settler.is_heavy_to_finish(&fetched) {
        return Some(settler.settle_here(fetched));
    }
    let events = events.clone();
    settler.settle_on_pool(fetched, move |record| {
        // The scheduler is gone only when the run was dropped: nobody is left to tell.
        let _ = events.send(Event::Settled(record));
    });
    None
}
