//! The scheduler behind both modes: a run pulled one record at a time.
//!
//! Dispatch happens only inside [`Run::next`], so a consumer that stops asking stops the
//! requests too; completions are released in range order through the reorder window (or in
//! completion order), and every way a run ends early (cancel, deadline, error budget) drains the
//! same way: no new request, in-flight ones finished or aborted, completed records kept.

use std::collections::{HashMap, VecDeque};
use std::iter::Peekable;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::task::{Id as TaskId, JoinError, JoinSet};
use tokio::time::Instant as Deadline;
use tokio_util::sync::CancellationToken;

use super::connections::ConnectionCounter;
use super::pacer::Pacer;
use super::reorder::Reorder;
use super::request::Fetcher;
use super::{EngineError, JobSpec, Order, RunSpec};
use crate::plan::ids::Id;
use crate::record::{ErrorKind, Failure, Record};
use crate::report::stats::{Ending, RunStats};

/// A run in progress: ask it for the next record until it has none.
///
/// Dropping a `Run` aborts its in-flight requests; none start after the drop.
pub struct Run<I: Iterator<Item = Id>> {
    fetcher: Arc<Fetcher>,
    pacer: Arc<Pacer>,
    slots: Arc<Semaphore>,
    ids: Peekable<I>,
    order: Order,
    window: u64,
    epoch: Instant,
    tasks: JoinSet<Record>,
    /// Which index and id each running task is fetching, so even a panicked task leaves a record.
    in_flight: HashMap<TaskId, (u64, Id)>,
    reorder: Reorder<Record>,
    /// Records ready to release outside the reorder window (completion order, or after an abort).
    ready: VecDeque<Record>,
    dispatched: u64,
    handed_out: u64,
    failed: u64,
    stats: RunStats,
    cancel: CancellationToken,
    grace: Duration,
    /// The rate's interval and burst, for the open-loop schedule.
    schedule: Option<(Duration, u64)>,
    deadline: Option<Deadline>,
    max_errors: Option<u64>,
    /// Process CPU time when the run started, to report the client's own cost.
    cpu_at_start: Option<Duration>,
    connections: ConnectionCounter,
    /// Connections opened before the measured run (by the warm-up).
    connections_before: u64,
    /// Ids the warm-up took from `ids`, to fetch again.
    requeued: VecDeque<Id>,
    /// Set once dispatch has stopped early; in-flight requests are aborted at `abort_at`.
    ending: Option<Ending>,
    abort_at: Option<Deadline>,
}

impl<I: Iterator<Item = Id>> Run<I> {
    /// Sets up the client and the limiter; nothing is sent until [`Run::next`] is awaited.
    pub fn start(
        job: &JobSpec,
        spec: RunSpec,
        ids: I,
        cancel: CancellationToken,
    ) -> Result<Self, EngineError> {
        let concurrency = spec.concurrency.max(1);
        let pacer = Arc::new(Pacer::new(job.rate, job.burst));
        let connections = ConnectionCounter::default();
        let fetcher = Fetcher::new(
            job.template.clone(),
            job.fields.clone(),
            &job.client,
            concurrency,
            Arc::clone(&pacer),
            cancel.clone(),
            connections.clone(),
        )?;
        Ok(Self {
            fetcher: Arc::new(fetcher),
            pacer,
            // A request holds a slot until its body is in, so its field extraction overlaps the
            // next request instead of delaying it.
            slots: Arc::new(Semaphore::new(concurrency)),
            ids: ids.peekable(),
            order: spec.order,
            window: spec.lookahead.max(1),
            epoch: Instant::now(),
            tasks: JoinSet::new(),
            in_flight: HashMap::with_capacity(concurrency),
            reorder: Reorder::default(),
            ready: VecDeque::new(),
            dispatched: 0,
            handed_out: 0,
            failed: 0,
            stats: RunStats::new(spec.mode, concurrency, job.rate),
            cancel,
            grace: job.grace,
            schedule: job.rate.map(|r| (r.interval(), u64::from(job.burst.get()))),
            deadline: job.deadline.map(|d| Deadline::now() + d),
            max_errors: job.max_errors,
            cpu_at_start: process_cpu_time(),
            connections,
            connections_before: 0,
            requeued: VecDeque::new(),
            ending: None,
            abort_at: None,
        })
    }

    /// The next record, or None when the run is over (all ids done, or stopped early and drained).
    pub async fn next(&mut self) -> Option<Record> {
        loop {
            if let Some(record) = self.pop_ready() {
                return Some(self.hand_out(record));
            }
            self.notice_cancel();
            let more = self.ending.is_none() && self.has_more_ids();
            if self.tasks.is_empty() && !more {
                self.ready.extend(self.reorder.drain());
                let record = self.ready.pop_front()?;
                return Some(self.hand_out(record));
            }
            let room = self.dispatched - self.handed_out < self.window;
            let grace_running = self.abort_at.is_some() && !self.tasks.is_empty();
            tokio::select! {
                biased;
                joined = self.tasks.join_next_with_id(), if !self.tasks.is_empty() => self.complete(joined),
                () = self.cancel.cancelled(), if more => {}
                () = sleep_until(self.deadline), if more || !self.tasks.is_empty() => {
                    self.deadline = None;
                    self.stop(Ending::Deadline, Duration::ZERO);
                }
                () = sleep_until(self.abort_at), if grace_running => self.tasks.abort_all(),
                slot = next_slot(&self.slots, &self.pacer), if more && room => {
                    if let (Some(id), Some(slot)) = (self.next_id(), slot) {
                        self.dispatch(id, slot);
                    }
                }
            }
        }
    }

    /// Fetches the first `n` ids on this run's client and forgets them: the connections they
    /// open stay in the pool, the measured run (which fetches them again) starts warm, and no
    /// figure counts them.
    pub async fn warm_up(&mut self, n: u64) {
        if n == 0 {
            return;
        }
        let first: Vec<Id> = self
            .ids
            .by_ref()
            .take(usize::try_from(n).unwrap_or(usize::MAX))
            .collect();
        let mut warming = JoinSet::new();
        for (index, id) in first.iter().cloned().enumerate() {
            let Some(slot) = next_slot(&self.slots, &self.pacer).await else {
                break;
            };
            let fetcher = Arc::clone(&self.fetcher);
            let epoch = self.epoch;
            warming.spawn(async move {
                fetcher
                    .fetch(index as u64, id, epoch, Duration::ZERO, slot)
                    .await
            });
        }
        while warming.join_next().await.is_some() {}
        self.requeued.extend(first);
        self.epoch = Instant::now();
        self.connections_before = self.connections.opened();
        self.cpu_at_start = process_cpu_time();
        self.stats = RunStats::new(self.stats.mode, self.stats.concurrency, self.stats.rate);
    }

    /// The next id to fetch: the warm-up's ids first, then the rest of the range.
    fn next_id(&mut self) -> Option<Id> {
        self.requeued.pop_front().or_else(|| self.ids.next())
    }

    fn has_more_ids(&mut self) -> bool {
        !self.requeued.is_empty() || self.ids.peek().is_some()
    }

    /// The figures of the run, with how it ended.
    pub fn into_stats(self) -> RunStats {
        let mut stats = self.stats;
        stats.ending = self.ending.unwrap_or(Ending::Completed);
        stats.connections_opened = self.connections.opened() - self.connections_before;
        stats.client_cpu = process_cpu_time()
            .zip(self.cpu_at_start)
            .map(|(now, start)| now.saturating_sub(start));
        stats
    }

    fn hand_out(&mut self, record: Record) -> Record {
        self.stats.add(&record);
        self.handed_out += 1;
        record
    }

    fn pop_ready(&mut self) -> Option<Record> {
        self.ready.pop_front().or_else(|| self.reorder.pop_ready())
    }

    /// Stops dispatch; in-flight requests get `grace` to finish.
    fn stop(&mut self, ending: Ending, grace: Duration) {
        if self.ending.is_none() {
            self.ending = Some(ending);
            self.abort_at = Some(Deadline::now() + grace);
            if grace.is_zero() {
                self.tasks.abort_all();
            }
        }
    }

    fn notice_cancel(&mut self) {
        if self.cancel.is_cancelled() {
            self.stop(Ending::Cancelled, self.grace);
        }
    }

    fn dispatch(&mut self, id: Id, slot: OwnedSemaphorePermit) {
        let index = self.dispatched;
        let fetcher = Arc::clone(&self.fetcher);
        let epoch = self.epoch;
        let task_id = id.clone();
        let scheduled = self.scheduled_start(index);
        // Boxed: the request's future is several kilobytes, and the runtime would otherwise copy
        // it whole each time it moves it into and around the task (a memcpy per move, per id).
        let handle = self.tasks.spawn(Box::pin(async move {
            fetcher.fetch(index, task_id, epoch, scheduled, slot).await
        }));
        self.in_flight.insert(handle.id(), (index, id));
        self.dispatched += 1;
    }

    /// When request `index` was due: on the rate's open-loop schedule, the k-th at k/R with the
    /// first `burst` at once (as GCRA admits them), whether or not a slot was free then; without
    /// a rate, now (closed loop: coordinated omission applies).
    fn scheduled_start(&self, index: u64) -> Duration {
        match self.schedule {
            Some((interval, burst)) => {
                let k = u32::try_from(index.saturating_sub(burst - 1)).unwrap_or(u32::MAX);
                interval.saturating_mul(k)
            }
            None => self.epoch.elapsed(),
        }
    }

    fn complete(&mut self, joined: Option<Result<(TaskId, Record), JoinError>>) {
        let record = match joined {
            Some(Ok((task, record))) => {
                self.in_flight.remove(&task);
                record
            }
            // Aborted when the run stopped early: not completed, so not recorded.
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
        if !record.is_ok() {
            self.failed += 1;
            if self.max_errors.is_some_and(|max| self.failed >= max) {
                self.stop(Ending::MaxErrors, Duration::ZERO);
            }
        }
        match self.order {
            Order::Ids => self.reorder.insert(record.index, record),
            Order::Completion => self.ready.push_back(record),
        }
    }

    /// The record for a task that panicked: a failure, never a gap in the output.
    fn lost_task_record(&self, index: u64, id: Id, error: &JoinError) -> Record {
        Record {
            index,
            url: self.fetcher.url(&id),
            id,
            status: None,
            http_version: None,
            timing: Default::default(),
            elapsed: Duration::ZERO,
            scheduled: self.epoch.elapsed(),
            started: self.epoch.elapsed(),
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
}

/// User plus system CPU time of this process so far.
fn process_cpu_time() -> Option<Duration> {
    // SAFETY: getrusage fills the struct it is given and has no other effect.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    if unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut usage) } != 0 {
        return None;
    }
    let time = |t: libc::timeval| {
        Duration::from_secs(u64::try_from(t.tv_sec).unwrap_or(0))
            + Duration::from_micros(u64::try_from(t.tv_usec).unwrap_or(0))
    };
    Some(time(usage.ru_utime) + time(usage.ru_stime))
}

/// A free slot, then the rate limiter's go-ahead. Cancel-safe: a dropped wait takes neither.
async fn next_slot(slots: &Arc<Semaphore>, pacer: &Pacer) -> Option<OwnedSemaphorePermit> {
    let slot = Arc::clone(slots).acquire_owned().await.ok()?;
    pacer.ready().await;
    Some(slot)
}

async fn sleep_until(deadline: Option<Deadline>) {
    match deadline {
        Some(deadline) => tokio::time::sleep_until(deadline).await,
        None => std::future::pending().await,
    }
}
