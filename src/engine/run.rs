//! The scheduler behind both modes: a run pulled one record at a time.
//!
//! Dispatch happens only inside [`Run::next`], so a consumer that stops asking stops the
//! requests too; completions are released in range order through the reorder window (or in
//! completion order), and every way a run ends early (cancel, deadline, error budget) drains the
//! same way: no new request, in-flight ones finished or aborted, completed records kept.

use std::collections::VecDeque;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use tokio::time::Instant as Deadline;
use tokio_util::sync::{CancellationToken, WaitForCancellationFutureOwned};

use super::client::Client;
use super::crawl::StopRules;
use super::crawl::{CountAt, Crawl, Found};
use super::fetch::settle::Done;
use super::frontier::Place;
use super::frontier::{Frontier, SavedWork, Work};
use super::pacer::Pacer;
use super::release::{Reorder, Tree};
use super::spec::{Ending, EngineError, JobSpec, Order, RunEnd, RunSpec};
use super::stop::Stop;
use super::worker::{Event, Job, Pool, Report};
use crate::engine::fetch::request::Fetcher;
use crate::engine::http::connections::ConnectionCounter;
use crate::plan::ids::Id;
use crate::plan::template::Template;
use crate::record::{CrawlWork, ErrorKind, Failure, Lineage, Record};

/// A run in progress: ask it for the next record until it has none.
///
/// Dropping a `Run` aborts its in-flight requests; none start after the drop.
pub struct Run<I: Iterator<Item = Id>> {
    fetcher: Arc<Fetcher>,
    pacer: Arc<Pacer>,
    /// One worker per request in flight, at most the concurrency.
    pool: Pool,
    /// What is still to dispatch.
    frontier: Frontier<I>,
    order: Order,
    window: u64,
    epoch: Instant,
    /// The wall clock at `epoch`, read beside it, so the report's times name when records began.
    epoch_wall: SystemTime,
    reorder: Reorder<Box<Record>>,
    /// A crawl's release, in pre-order of positions (see `release::Tree`).
    tree: Tree<Box<Record>>,
    /// A crawl's books; None in a flat run.
    crawl: Option<Crawl>,
    /// The stop rules of a range with no known end; None without any.
    stop: Option<Stop>,
    /// Where the first page says how many items (`--total`) or pages (`--total-pages`) there
    /// are, with the flag: it bounds the range.
    total: Option<(&'static str, CountAt)>,
    /// Records taken from the release order (handed out, held or dropped by a stop rule).
    released: u64,
    /// A range that a stop rule ends probes ahead with a window that starts at one seed and
    /// grows by one for each seed's page released (TCP's slow start: it doubles every round
    /// trip while pages keep coming), up to the concurrency; so what goes out past the stop is
    /// at most about as much as came before it. None without such a rule.
    probe: Option<Probe>,
    /// The depth whose documents are lists of items (`--items`), if any.
    items_at: Option<u32>,
    /// Records ready to release outside the reorder window (completion order, or after an abort).
    ready: VecDeque<Box<Record>>,
    dispatched: u64,
    handed_out: u64,
    failed: u64,
    cancel: CancellationToken,
    /// Resolves on cancel; made once, so waiting for it in every turn of the loop does not
    /// register and unregister a waiter each time.
    cancelled: Pin<Box<WaitForCancellationFutureOwned>>,
    grace: Duration,
    /// The requests wait for the rate limiter themselves, after the cache (see `Fetcher::paces`):
    /// the scheduler starts them as if unlimited.
    self_paced: bool,
    deadline: Option<Deadline>,
    max_errors: Option<u64>,
    /// Process CPU time when the run started, to report the client's own cost.
    cpu_at_start: Option<Duration>,
    connections: ConnectionCounter,
    /// Connections opened before the measured run (by the warm-up).
    connections_before: u64,
    /// Requests the warm-up sent through a proxy.
    proxied_before: u64,
    /// Set once dispatch has stopped early; in-flight requests are aborted at `abort_at`.
    ending: Option<Ending>,
    abort_at: Option<Deadline>,
}

impl<I: Iterator<Item = Id>> Run<I> {
    /// Sets up the client and the limiter; nothing is sent until [`Run::next`] is awaited.
    pub fn start(
        template: &Template,
        job: &JobSpec,
        spec: RunSpec,
        ids: I,
        cancel: CancellationToken,
    ) -> Result<Self, EngineError> {
        let client = Client::new(template, job, spec.concurrency)?;
        Self::start_on(&client, job, spec, ids, cancel)
    }

    /// [`Run::start`] on `client`, whose connections were perhaps opened by an earlier run and
    /// stay open after this one: the run counts only the connections it opens itself, and its
    /// requests fetch the client's template.
    pub fn start_on(
        client: &Client,
        job: &JobSpec,
        spec: RunSpec,
        ids: I,
        cancel: CancellationToken,
    ) -> Result<Self, EngineError> {
        let concurrency = spec.concurrency.max(1);
        let pacer = Arc::new(Pacer::new(job.rate, job.burst));
        let connections = client.counter().clone();
        let fetcher = Fetcher::new(job, Arc::clone(&pacer), cancel.clone(), client)?;
        let fetcher = Arc::new(fetcher);
        // An earlier run's connections and proxied requests are not this one's.
        let connections_before = connections.opened();
        let proxied_before = fetcher.proxy_use().requests;
        let mut frontier = Frontier::new(ids, job.crawl.is_crawl());
        if job.crawl.stop.counted() {
            // Only the first page until it says how many there are.
            frontier.hold_seeds();
        }
        let stop = &job.crawl.stop;
        let probe = (stop.after_missing.is_some() || stop.until_empty.is_some()).then(|| {
            frontier.limit_seeds(1);
            Probe {
                window: 1,
                most: concurrency as u64,
                released: 0,
            }
        });
        Ok(Self {
            self_paced: fetcher.paces(),
            pool: Pool::new(Arc::clone(&fetcher), concurrency),
            fetcher,
            pacer,
            frontier,
            order: spec.order,
            window: spec.lookahead.max(1),
            epoch: Instant::now(),
            epoch_wall: SystemTime::now(),
            reorder: Reorder::default(),
            tree: Tree::default(),
            crawl: job.crawl.is_crawl().then(|| Crawl::new(job.crawl.clone())),
            stop: job
                .crawl
                .stop
                .any()
                .then(|| Stop::new(job.crawl.stop.after_missing)),
            total: match &job.crawl.stop {
                StopRules {
                    total_pages: Some(at),
                    ..
                } => Some(("--total-pages", at.clone())),
                StopRules {
                    total: Some(at), ..
                } => Some(("--total", at.clone())),
                _ => None,
            },
            released: 0,
            probe,
            items_at: job.crawl.items.as_ref().map(|_| job.crawl.last_depth()),
            ready: VecDeque::new(),
            dispatched: 0,
            handed_out: 0,
            failed: 0,
            cancelled: Box::pin(cancel.clone().cancelled_owned()),
            cancel,
            grace: job.grace,
            deadline: job.deadline.map(|d| Deadline::now() + d),
            max_errors: job.max_errors,
            cpu_at_start: process_cpu_time(),
            connections,
            connections_before,
            proxied_before,
            ending: None,
            abort_at: None,
        })
    }

    /// The next record, or None when the run is over (all ids done, or stopped early and drained).
    pub async fn next(&mut self) -> Option<Record> {
        loop {
            if let Some(record) = self.take_released() {
                return Some(self.hand_out(record));
            }
            self.notice_cancel();
            if self.pacer.is_unlimited() || self.self_paced {
                // Nothing to wait for before a start: every free worker gets its id now.
                while self.ending.is_none() && self.can_start() {
                    let Some(work) = self.frontier.pop() else {
                        break;
                    };
                    self.dispatch(work);
                }
            }
            let more = self.ending.is_none() && self.frontier.has_more();
            let waiting = self.pool.waiting();
            if !waiting && !more {
                self.ready.extend(self.reorder.drain());
                self.ready.extend(self.tree.drain());
                if let Some(record) = self.take_released() {
                    return Some(self.hand_out(record));
                }
                let stop = self.stop.as_mut()?;
                stop.finish();
                let record = stop.next_passed()?;
                return Some(self.hand_out(record));
            }
            let can_start = more && self.can_start();
            let grace_running = self.abort_at.is_some() && self.pool.any_busy();
            tokio::select! {
                biased;
                report = self.pool.report(), if waiting => match report {
                    Report::Event(event) => {
                        self.take_event(event);
                        // Whatever else has come in meanwhile, without a turn of the loop each.
                        while let Some(event) = self.pool.report_now() {
                            self.take_event(event);
                        }
                    }
                    Report::Stopped => self.forget_unfinished(),
                },
                () = &mut self.cancelled, if more => {}
                () = sleep_until(self.deadline), if more || waiting => {
                    self.deadline = None;
                    self.stop(Ending::Deadline, Duration::ZERO);
                }
                () = sleep_until(self.abort_at), if grace_running => self.abort_requests(),
                // A free worker first, then the rate limiter's go-ahead (cancel-safe: a dropped
                // wait takes no permit).
                () = go(&self.pacer, self.self_paced), if can_start => {
                    if let Some(work) = self.frontier.pop() {
                        self.dispatch(work);
                    }
                }
            }
        }
    }

    /// Goes on from an earlier, interrupted run's crawl (`--resume` from a database's
    /// `frontier`), before the first [`Run::next`]: its pending work goes out in its places,
    /// its done seeds are skipped (the ids are the same as that run's, done ones included), and
    /// what it requested is not requested again. Nothing changes outside a crawl.
    pub fn resume(&mut self, saved: &SavedWork) {
        if let Some(crawl) = self.crawl.as_mut() {
            crawl.remember(saved);
            self.frontier.resume(saved);
        }
    }

    /// Fetches the first `n` ids still to do (a resumed run's done seeds are passed over) on
    /// this run's workers and forgets them: the connections they open stay open, the measured
    /// run (which fetches them again) starts warm, and no figure counts them.
    pub async fn warm_up(&mut self, n: u64) {
        if n == 0 {
            return;
        }
        let first = self.frontier.take_seeds(n);
        // Numbered apart: these records are forgotten, and the seeds go back to the frontier.
        let mut warming = first
            .iter()
            .filter(|(_, to_do)| *to_do)
            .zip(0..)
            .map(|((id, _), k)| Work {
                seq: k,
                position: k,
                id: id.clone(),
                place: None,
            });
        let mut next = warming.next();
        while next.is_some() || self.pool.waiting() {
            tokio::select! {
                biased;
                report = self.pool.report(), if self.pool.waiting() => {
                    if let Report::Event(event) = report {
                        let _ = self.pool.book(event);
                    }
                }
                () = go(&self.pacer, self.self_paced), if next.is_some() && self.pool.has_free_worker() => {
                    if let Some(work) = next.take() {
                        let _ = self.pool.send(self.job(work, Duration::ZERO));
                        next = warming.next();
                    }
                }
            }
        }
        self.frontier.hand_back(first);
        self.pacer.restart_schedule();
        self.epoch = Instant::now();
        self.epoch_wall = SystemTime::now();
        self.connections_before = self.connections.opened();
        self.proxied_before = self.fetcher.proxy_use().requests;
        self.cpu_at_start = process_cpu_time();
    }

    /// How the run ended and what it cost, once its last record has been taken.
    pub fn end(self) -> RunEnd {
        let proxy_use = self.fetcher.proxy_use();
        RunEnd {
            ending: self.ending.unwrap_or(Ending::Completed),
            epoch: Some(self.epoch_wall),
            connections_opened: self.connections.opened() - self.connections_before,
            client_cpu: process_cpu_time()
                .zip(self.cpu_at_start)
                .map(|(now, start)| now.saturating_sub(start)),
            proxy: super::http::transport::ProxyUse {
                requests: proxy_use.requests - self.proxied_before,
                proxies: proxy_use.proxies,
            },
            crawl: self.crawl_counts(),
            pushback: self.fetcher.pushback(),
            throttle: self.fetcher.throttle(),
        }
    }

    /// A crawl's counts and a stop rule's account, if either applies.
    fn crawl_counts(&self) -> Option<super::crawl::CrawlCounts> {
        if self.crawl.is_none() && self.stop.is_none() {
            return None;
        }
        let mut counts = self
            .crawl
            .as_ref()
            .map(|c| c.counts.clone())
            .unwrap_or_default();
        if let Some(stop) = &self.stop {
            counts.stopped = stop.reason.clone();
            counts.past_stop = stop.past;
        }
        Some(counts)
    }

    fn hand_out(&mut self, record: Box<Record>) -> Record {
        self.handed_out += 1;
        *record
    }

    /// The next record to hand out: released in order, then through the stop rules, if any.
    fn take_released(&mut self) -> Option<Box<Record>> {
        loop {
            if let Some(record) = self.stop.as_mut().and_then(Stop::next_passed) {
                return Some(record);
            }
            let record = self.pop_ready()?;
            self.released += 1;
            let Some(stop) = self.stop.as_mut() else {
                return Some(record);
            };
            let page = record.crawl.as_ref().is_none_or(|c| c.depth == 0);
            if let Some(at) = stop.release(record) {
                self.frontier.end_seeds_after(at);
            } else if let Some(probe) = self.probe.as_mut().filter(|_| page) {
                self.frontier.limit_seeds(probe.grow());
            }
        }
    }

    fn pop_ready(&mut self) -> Option<Box<Record>> {
        self.ready
            .pop_front()
            .or_else(|| self.reorder.pop_ready())
            .or_else(|| Some(self.tree.pop_ready()?.1))
    }

    /// Stops dispatch; in-flight requests get `grace` to finish.
    fn stop(&mut self, ending: Ending, grace: Duration) {
        if self.ending.is_none() {
            self.ending = Some(ending);
            self.abort_at = Some(Deadline::now() + grace);
            if grace.is_zero() {
                self.abort_requests();
            }
        }
    }

    fn notice_cancel(&mut self) {
        if self.cancel.is_cancelled() {
            self.stop(Ending::Cancelled, self.grace);
        }
    }

    /// Whether a request may start now: the window has room and a worker is free.
    fn can_start(&self) -> bool {
        self.dispatched.saturating_sub(self.released) < self.window && self.pool.has_free_worker()
    }

    /// Books a worker's report and completes the record it carries, if any.
    fn take_event(&mut self, event: Event) {
        if let Some(done) = self.pool.book(event) {
            self.complete(done);
        }
    }

    fn dispatch(&mut self, mut work: Work) {
        if let (Some(crawl), Some(place)) = (self.crawl.as_mut(), work.place.as_deref_mut()) {
            if place.url.is_none() {
                // A seed: links on its page resolve against its URL.
                let url = self.fetcher.seed_url(&work.id);
                if !crawl.admit_seed(place, url.as_ref()) {
                    // A seed dropped is as done as one released: a probe's window moves past it.
                    if let Some(probe) = self.probe.as_mut() {
                        self.frontier.limit_seeds(probe.grow());
                    }
                    return;
                }
                place.url = url;
            }
            self.tree.register(place.at.clone());
        }
        self.dispatched += 1;
        let scheduled = self.scheduled_start(work.seq);
        if let Err(job) = self.pool.send(self.job(work, scheduled)) {
            let record = self.fetcher.lost(&job.work, job.epoch);
            self.complete(record);
        }
    }

    fn job(&self, work: Work, scheduled: Duration) -> Job {
        Job {
            work,
            epoch: self.epoch,
            scheduled,
        }
    }

    /// Aborts the requests on the workers: not completed, so not recorded. Records reported by
    /// the time every worker has stopped are kept (see `Pool::abort`).
    fn abort_requests(&mut self) {
        self.abort_at = None;
        if self.pool.abort() {
            self.forget_unfinished();
        }
    }

    fn forget_unfinished(&mut self) {
        for done in self.pool.forget_unfinished() {
            self.complete(done);
        }
    }

    /// When request number `seq` was due: on the rate's open-loop schedule, the k-th at k/R with
    /// the first `burst` at once (as GCRA admits them), whether or not a slot was free then;
    /// without a rate, now (closed loop: coordinated omission applies). A self-paced request
    /// finds its place on the schedule when it is admitted (`Pacer::admit`): now, until then.
    fn scheduled_start(&self, seq: u64) -> Duration {
        match self.pacer.due(seq).filter(|_| !self.self_paced) {
            Some(due) => due,
            None => self.epoch.elapsed(),
        }
    }

    fn complete(&mut self, done: Done) {
        let Done {
            mut record,
            place,
            found,
        } = done;
        self.mark_items(&mut record, place.as_deref().map_or(0, |p| p.depth));
        self.count_failure(&record);
        let found = found.map(|f| *f).unwrap_or_default();
        self.note_stop_facts(&record, &found);
        if let Some(place) = place.filter(|_| self.crawl.is_some()) {
            return self.complete_crawled(record, *place, found);
        }
        match self.order {
            Order::Ids => self.reorder.insert(record.index, record),
            Order::Completion => self.ready.push_back(record),
        }
    }

    /// What a page said for the stop rules: an empty list, the range's total.
    fn note_stop_facts(&mut self, record: &Record, found: &Found) {
        let page = record.crawl.as_ref().is_none_or(|c| c.depth == 0);
        let Some(stop) = self.stop.as_mut().filter(|_| page) else {
            return;
        };
        if found.empty {
            stop.note_empty(record.index);
        }
        let Some((flag, at)) = self.total.as_ref().filter(|_| record.index == 0) else {
            return;
        };
        match (*flag, found.total, found.total_pages) {
            ("--total-pages", _, Some(pages)) => self.frontier.bound_pages(pages),
            ("--total", Some(total), _) => {
                let per_page = self.items_on_page(record, found);
                self.frontier.bound_items(total, per_page);
            }
            _ => {
                let reason = format!("the first page gave no number {at} ({flag})");
                stop.end_after(0, reason);
                self.frontier.end_seeds_after(0);
            }
        }
    }

    /// How many items the first page listed: its items (`--items` on it) or its links
    /// (`--follow`); None when it is not a list.
    fn items_on_page(&self, record: &Record, found: &Found) -> Option<u64> {
        if self.items_at == Some(0) {
            let list = record.fields.first()?.as_array()?;
            return Some(list.len() as u64);
        }
        self.crawl
            .as_ref()
            .filter(|c| !c.rules.follow.is_empty())
            .map(|_| found.links.len() as u64)
    }

    /// A page of items (`--items`) says so, so its items are written one by one.
    fn mark_items(&self, record: &mut Record, depth: u32) {
        if self.items_at != Some(depth) || !record.is_ok() {
            return;
        }
        match record.crawl.as_mut() {
            Some(lineage) => lineage.items = true,
            None => {
                record.crawl = Some(Box::new(Lineage {
                    key: record.id.to_string(),
                    depth,
                    parent: None,
                    result: true,
                    items: true,
                    work: None,
                }))
            }
        }
    }

    fn count_failure(&mut self, record: &Record) {
        if !record.is_ok() {
            self.failed += 1;
            if self.max_errors.is_some_and(|max| self.failed >= max) {
                self.stop(Ending::MaxErrors, Duration::ZERO);
            }
        }
    }

    /// A crawl's record: what its document led to goes to the frontier, its place in the
    /// release is filled (its children's held first), and it is marked a result or a step.
    fn complete_crawled(&mut self, mut record: Box<Record>, place: Place, found: Found) {
        let Some(crawl) = self.crawl.as_mut() else {
            return;
        };
        let rules = &crawl.rules;
        let result = rules.every_level || !record.is_ok() || place.depth >= rules.last_depth();
        if let Some(lineage) = record.crawl.as_mut() {
            lineage.result = result;
        }
        let mut children = Vec::new();
        let mut looped = None;
        // What a resumed run needs to go on from here; a stop rule's range refetches instead
        // (its decisions are made on the records as they come, from the first).
        let mut work = place
            .work()
            .filter(|_| self.stop.is_none())
            .map(|at| CrawlWork {
                at,
                released: Vec::new(),
            });
        if let (true, None, Some(base)) = (record.is_ok(), self.ending, place.url.as_ref()) {
            let discovered = crawl.discover(&place, base, found);
            for child in discovered.places {
                children.push(child.at.clone());
                if let (Some(work), Some(item)) = (work.as_mut(), child.work()) {
                    work.released.push(item);
                }
                self.frontier.add(child, record.id.clone());
            }
            looped = discovered.looped;
        }
        if let Some(lineage) = record.crawl.as_mut() {
            lineage.work = work.map(Box::new);
        }
        let id = record.id.clone();
        let position = record.index;
        let in_order = self.order == Order::Ids;
        if in_order {
            if let Some((at, _)) = &looped {
                children.push(at.at.clone());
            }
            self.tree.fill(place.at, record, children);
        } else {
            self.ready.push_back(record);
        }
        if let Some((at, next)) = looped {
            let failure = Failure {
                kind: ErrorKind::Pagination,
                message: format!(
                    "pagination loop: the next page {next} is a page of this chain already; \
                     the chain ends here"
                ),
            };
            let unsent = self
                .fetcher
                .unsent(&id, position, Some(&at), self.epoch, failure);
            let record = Box::new(unsent);
            self.count_failure(&record);
            // Released as if dispatched, so the window's books balance.
            self.dispatched += 1;
            if in_order {
                self.tree.fill(at.at, record, []);
            } else {
                self.ready.push_back(record);
            }
        }
    }
}

/// An open range's probe ahead: how many seeds may be out past the last page released.
#[derive(Debug)]
struct Probe {
    window: u64,
    /// The concurrency: the window grows no further.
    most: u64,
    /// Seeds whose page has been released.
    released: u64,
}

impl Probe {
    /// A seed's page was released and the range goes on: one more may go out, and the window
    /// grows by one. Returns the position seeds may go up to (not including).
    fn grow(&mut self) -> u64 {
        self.released += 1;
        self.window = (self.window + 1).min(self.most.max(1));
        self.released + self.window
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

/// The rate limiter's go-ahead for a start, unless the requests wait for it themselves.
async fn go(pacer: &Pacer, self_paced: bool) {
    if !self_paced {
        pacer.ready().await;
    }
}

async fn sleep_until(deadline: Option<Deadline>) {
    match deadline {
        Some(deadline) => tokio::time::sleep_until(deadline).await,
        None => std::future::pending().await,
    }
}
