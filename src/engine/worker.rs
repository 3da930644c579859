//! The request slots: one long-lived task per slot, fetching the ids the scheduler hands it.
//!
//! A task per request would cost a spawn, a boxed multi-kilobyte future, a join handle and a
//! semaphore permit for every id; a worker costs that once per slot (docs/performance.md, "Why
//! the code is shaped so"). A worker is busy from the request's
//! start to its last body byte: a heavy body is settled on the settling pool, which delivers
//! the record itself, and the worker is free for the next id meanwhile.

use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::FutureExt;
use tokio::sync::mpsc;
use tokio::task::JoinSet;

use crate::engine::fetch::request::Fetcher;
use crate::engine::fetch::settle::Done;
use crate::engine::frontier::Work;

/// One piece of work to fetch, as the scheduler dispatched it.
#[derive(Debug)]
pub(super) struct Job {
    pub(super) work: Work,
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
    Free { worker: usize, done: Option<Done> },
    /// A record settled on the pool.
    Settled(Done),
}

/// The scheduler's handle on one worker: where its next job goes.
type Slot = mpsc::Sender<Job>;

/// Up to `size` workers, started as jobs need them, and the books on what they are doing.
pub(super) struct Pool {
    fetcher: Arc<Fetcher>,
    size: usize,
    tasks: JoinSet<()>,
    /// Each started worker's slot, by worker number.
    slots: Vec<Slot>,
    /// Workers waiting for a job, the most recently freed last (its connection is the warmest).
    free: Vec<usize>,
    events: mpsc::UnboundedReceiver<Event>,
    /// Kept so workers can be started at any time; also means `events` never closes.
    events_in: mpsc::UnboundedSender<Event>,
    /// Jobs on a worker now.
    busy: usize,
    /// Jobs whose record has not come back yet (on a worker, or settling on the pool).
    outstanding: usize,
    /// Every worker was aborted.
    aborted: bool,
}

/// What [`Pool::report`] brings.
// Moved once per report; boxing the event would cost an allocation per request instead.
#[allow(clippy::large_enum_variant)]
#[derive(Debug)]
pub(super) enum Report {
    Event(Event),
    /// After an abort, the last worker has stopped: see [`Pool::forget_unfinished`].
    Stopped,
}

impl Pool {
    pub(super) fn new(fetcher: Arc<Fetcher>, size: usize) -> Self {
        let (events_in, events) = mpsc::unbounded_channel();
        Self {
            fetcher,
            size,
            tasks: JoinSet::new(),
            slots: Vec::new(),
            free: Vec::new(),
            events,
            events_in,
            busy: 0,
            outstanding: 0,
            aborted: false,
        }
    }

    /// Whether a job could start now: a worker is free, or fewer than `size` run.
    pub(super) fn has_free_worker(&self) -> bool {
        !self.free.is_empty() || self.slots.len() < self.size
    }

    /// Whether a record or a worker's report is still to come. (A worker's record may come from
    /// the settling pool before the worker reports itself free.)
    pub(super) fn waiting(&self) -> bool {
        self.outstanding > 0 || self.busy > 0
    }

    /// Whether a job is on a worker now.
    pub(super) fn any_busy(&self) -> bool {
        self.busy > 0
    }

    /// Hands `job` to a free worker, starting one if none is free; the job back if the worker
    /// is gone (it was aborted).
    pub(super) fn send(&mut self, job: Job) -> Result<(), Job> {
        let worker = self.free.pop().unwrap_or_else(|| self.start_worker());
        self.slots[worker]
            .try_send(job)
            .map_err(|e| e.into_inner())?;
        self.busy += 1;
        self.outstanding += 1;
        Ok(())
    }

    fn start_worker(&mut self) -> usize {
        // One job at a time: the scheduler sends only to a free worker.
        let (slot, jobs) = mpsc::channel(1);
        let worker = self.slots.len();
        let work = work(
            worker,
            Arc::clone(&self.fetcher),
            jobs,
            self.events_in.clone(),
        );
        self.tasks.spawn(work);
        self.slots.push(slot);
        worker
    }

    /// The next report from a worker, or after an abort the news that all have stopped
    /// (cancel-safe).
    pub(super) async fn report(&mut self) -> Report {
        if !self.aborted {
            if let Some(event) = self.events.recv().await {
                return Report::Event(event);
            }
        }
        loop {
            tokio::select! {
                biased;
                Some(event) = self.events.recv() => return Report::Event(event),
                _ = self.tasks.join_next(), if self.aborted && !self.tasks.is_empty() => {
                    if self.tasks.is_empty() {
                        return Report::Stopped;
                    }
                }
            }
        }
    }

    /// A report that has already come in, without waiting.
    pub(super) fn report_now(&mut self) -> Option<Event> {
        self.events.try_recv().ok()
    }

    /// Books what a worker reported; the finished record it carries, if any.
    pub(super) fn book(&mut self, event: Event) -> Option<Done> {
        let done = match event {
            Event::Free { worker, done } => {
                self.busy = self.busy.saturating_sub(1);
                self.free.push(worker);
                done?
            }
            Event::Settled(done) => done,
        };
        self.outstanding = self.outstanding.saturating_sub(1);
        Some(done)
    }

    /// Aborts every worker; true if none is left running. A worker may finish its request while
    /// the abort reaches it, so the requests count as gone only once every worker has stopped
    /// ([`Report::Stopped`]).
    pub(super) fn abort(&mut self) -> bool {
        self.aborted = true;
        self.free.clear();
        self.tasks.abort_all();
        self.tasks.is_empty()
    }

    /// Once every worker has stopped: the records still queued come back, and the requests that
    /// never finished are forgotten. Bodies settling on the pool still arrive.
    pub(super) fn forget_unfinished(&mut self) -> Vec<Done> {
        let mut queued = Vec::new();
        while let Some(event) = self.report_now() {
            queued.extend(self.book(event));
        }
        self.free.clear();
        self.outstanding = self.outstanding.saturating_sub(self.busy);
        self.busy = 0;
        queued
    }
}

async fn work(
    worker: usize,
    fetcher: Arc<Fetcher>,
    mut jobs: mpsc::Receiver<Job>,
    events: mpsc::UnboundedSender<Event>,
) {
    while let Some(job) = jobs.recv().await {
        let done = fetch_one(&fetcher, &job, &events).await;
        if events.send(Event::Free { worker, done }).is_err() {
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
) -> Option<Done> {
    let fetching = fetch_and_settle(fetcher, job, events);
    AssertUnwindSafe(fetching)
        .catch_unwind()
        .await
        .unwrap_or_else(|_| Some(fetcher.lost(&job.work, job.epoch)))
}

async fn fetch_and_settle(
    fetcher: &Fetcher,
    job: &Job,
    events: &mpsc::UnboundedSender<Event>,
) -> Option<Done> {
    let fetched = fetcher.fetch(&job.work, job.epoch, job.scheduled).await;
    let settler = fetcher.settler();
    if !settler.is_heavy_to_finish(&fetched) {
        return Some(settler.settle_here(fetched));
    }
    let events = events.clone();
    settler.settle_on_pool(fetched, move |done| {
        // The scheduler is gone only when the run was dropped: nobody is left to tell.
        let _ = events.send(Event::Settled(done));
    });
    None
}
