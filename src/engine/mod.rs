//! The fetch engine: one scheduler for both modes.
//!
//! Sequential is concurrency 1; concurrent allows N requests in flight: a request task holds one of
//! N slots from its start to its last body byte. Before each start the dispatcher waits for a slot
//! and then for the shared rate limiter; completions go through a bounded
//! reorder window and leave in range order, to the stats and the sink, as soon as the next index
//! is in. Dispatch never runs more than the window ahead of the oldest unreleased record, so memory
//! stays flat for a range of any length.

pub mod decode;
pub mod pacer;
pub mod reorder;
pub mod request;
pub mod retry;

use std::collections::HashMap;
use std::io;
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::{Duration, Instant};

use thiserror::Error;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::task::{Id as TaskId, JoinSet};
use tokio_util::sync::CancellationToken;

use crate::extract::FieldSet;
use crate::output::RecordSink;
use crate::plan::rate::Rate;
use crate::plan::template::Template;
use crate::record::{ErrorKind, Failure, Record};
use crate::report::stats::{RunMode, RunStats};

use self::pacer::Pacer;
use self::reorder::Reorder;
pub use self::request::ClientOptions;
use self::request::Fetcher;
pub use self::retry::RetryPolicy;

/// Why a run stopped before its end.
#[derive(Debug, Error)]
pub enum EngineError {
    #[error("could not set up the HTTP client: {0}")]
    Client(#[from] reqwest::Error),
    /// Writing a record failed (a closed pipe, a full disk); the run stopped.
    #[error("could not write results: {0}")]
    Output(#[source] io::Error),
}

/// What to fetch and how: shared by every run of a job.
#[derive(Debug, Clone)]
pub struct JobSpec {
    pub template: Template,
    pub fields: FieldSet,
    pub client: ClientOptions,
    pub rate: Option<Rate>,
    pub burst: NonZeroU32,
    /// After a cancel, how long in-flight requests may take to finish before they are aborted.
    pub grace: Duration,
}

/// One run: a mode and the number of requests it may have in flight.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RunSpec {
    pub mode: RunMode,
    pub concurrency: usize,
}

/// How far dispatch may run ahead of the oldest record not yet released.
fn reorder_window(concurrency: usize) -> u64 {
    (concurrency as u64).saturating_mul(4).max(16)
}

/// Runs `ids` under `run`, releasing records in order to `sink`.
///
/// When `cancel` fires, no new request starts; in-flight ones get `job.grace` to finish, then are
/// aborted. Every record that completed is still released, in order, and counted.
pub async fn run(
    job: &JobSpec,
    run: RunSpec,
    ids: impl Iterator<Item = u64>,
    sink: &mut dyn RecordSink,
    cancel: &CancellationToken,
) -> Result<RunStats, EngineError> {
    let concurrency = run.concurrency.max(1);
    let pacer = Arc::new(Pacer::new(job.rate, job.burst));
    let fetcher = Arc::new(Fetcher::new(
        job.template.clone(),
        job.fields.clone(),
        &job.client,
        concurrency,
        Arc::clone(&pacer),
        cancel.clone(),
    )?);
    let mut scheduler = Scheduler {
        fetcher,
        epoch: Instant::now(),
        tasks: JoinSet::new(),
        in_flight: HashMap::with_capacity(concurrency),
        reorder: Reorder::default(),
        dispatched: 0,
        stats: RunStats::new(run.mode, concurrency, job.rate),
    };
    let window = reorder_window(concurrency);
    // Requests in flight hold a slot; a request gives it back once its body is in, so its field
    // extraction overlaps the next request instead of delaying it.
    let slots = Arc::new(Semaphore::new(concurrency));
    let mut ids = ids.peekable();
    let mut abort_at: Option<tokio::time::Instant> = None;
    loop {
        if abort_at.is_none() && cancel.is_cancelled() {
            abort_at = Some(tokio::time::Instant::now() + job.grace);
        }
        let more = ids.peek().is_some() && !cancel.is_cancelled();
        let room = scheduler.dispatched - scheduler.reorder.next_index() < window;
        let grace_running = abort_at.is_some() && !scheduler.tasks.is_empty();
        tokio::select! {
            biased;
            joined = scheduler.tasks.join_next_with_id(), if !scheduler.tasks.is_empty() => {
                scheduler.complete(joined);
                if let Err(e) = scheduler.release(sink) {
                    scheduler.tasks.abort_all();
                    return Err(EngineError::Output(e));
                }
            }
            () = cancel.cancelled(), if more => {}
            () = sleep_until(abort_at), if grace_running => scheduler.tasks.abort_all(),
            slot = next_slot(&slots, &pacer), if more && room => {
                if let (Some(id), Some(slot)) = (ids.next(), slot) {
                    scheduler.dispatch(id, slot);
                }
            }
            else => break,
        }
    }
    // Aborted requests leave gaps; release what completed after them, still in order.
    scheduler.release_all(sink).map_err(EngineError::Output)?;
    Ok(scheduler.stats)
}

/// A free slot, then the rate limiter's go-ahead. Cancel-safe: a dropped wait takes neither.
async fn next_slot(slots: &Arc<Semaphore>, pacer: &Pacer) -> Option<OwnedSemaphorePermit> {
    let slot = Arc::clone(slots).acquire_owned().await.ok()?;
    pacer.ready().await;
    Some(slot)
}

async fn sleep_until(deadline: Option<tokio::time::Instant>) {
    match deadline {
        Some(deadline) => tokio::time::sleep_until(deadline).await,
        None => std::future::pending().await,
    }
}

/// The state of one run's dispatch loop.
struct Scheduler {
    fetcher: Arc<Fetcher>,
    epoch: Instant,
    tasks: JoinSet<Record>,
    /// Which index and id each running task is fetching, so even a panicked task leaves a record.
    in_flight: HashMap<TaskId, (u64, u64)>,
    reorder: Reorder<Record>,
    dispatched: u64,
    stats: RunStats,
}

impl Scheduler {
    fn dispatch(&mut self, id: u64, slot: OwnedSemaphorePermit) {
        let index = self.dispatched;
        let fetcher = Arc::clone(&self.fetcher);
        let epoch = self.epoch;
        let handle = self
            .tasks
            .spawn(async move { fetcher.fetch(index, id, epoch, slot).await });
        self.in_flight.insert(handle.id(), (index, id));
        self.dispatched += 1;
    }

    fn complete(&mut self, joined: Option<Result<(TaskId, Record), tokio::task::JoinError>>) {
        let record = match joined {
            Some(Ok((task, record))) => {
                self.in_flight.remove(&task);
                record
            }
            // Aborted at the end of a grace period: not completed, so not recorded.
            Some(Err(error)) if error.is_cancelled() => {
                self.in_flight.remove(&error.id());
                return;
            }
            Some(Err(error)) => match self.in_flight.remove(&error.id()) {
                Some((index, id)) => self.lost_task_record(index, id, &error),
                None => return,
            },
            None => return,
        };
        self.reorder.insert(record.index, record);
    }

    /// The record for a task that panicked or was aborted: a failure, never a gap in the output.
    fn lost_task_record(&self, index: u64, id: u64, error: &tokio::task::JoinError) -> Record {
        let started = self.epoch.elapsed();
        Record {
            index,
            id,
            url: self.fetcher.url(id),
            status: None,
            elapsed: std::time::Duration::ZERO,
            started,
            bytes: 0,
            wire_bytes: 0,
            attempts: 1,
            failure: Some(Failure {
                kind: ErrorKind::Request,
                message: format!("request task failed: {error}"),
            }),
            fields: Vec::new(),
        }
    }

    /// Hands every record that is next in order to the stats and the sink.
    fn release(&mut self, sink: &mut dyn RecordSink) -> io::Result<()> {
        let mut released = false;
        while let Some(record) = self.reorder.pop_ready() {
            self.stats.add(&record);
            sink.write(&record)?;
            released = true;
        }
        if released {
            sink.flush()?;
        }
        Ok(())
    }

    /// Releases every parked record in order, skipping the gaps left by aborted requests.
    fn release_all(&mut self, sink: &mut dyn RecordSink) -> io::Result<()> {
        for record in self.reorder.drain() {
            self.stats.add(&record);
            sink.write(&record)?;
        }
        sink.flush()
    }
}
