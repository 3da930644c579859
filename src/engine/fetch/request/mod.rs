//! One id, start to record: send, read the body under a size cap, extract the fields, and retry
//! transient failures.
//!
//! Sequential and concurrent runs both call `Fetcher::fetch`; they differ only in how many
//! fetches the scheduler lets run at once. The retry loop wraps send *and* body read, so a
//! connection reset halfway through a body is retried like a refused connection. Every failure
//! ends as a [`Failure`] on the record, never as a panic or a gap.

mod cached;
mod head;
mod robots;

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use reqwest::header::HeaderMap;
use tokio_util::sync::CancellationToken;

use self::head::{http_version, scan_head};
use self::robots::product_token;
use crate::engine::cache::{Before, Cache};
use crate::engine::client::Client;
use crate::engine::crawl;
use crate::engine::decode::Encoding;
use crate::engine::fetch::failure::{self, permanent, too_large};
use crate::engine::fetch::redirect;
use crate::engine::fetch::retry::{is_transient_status, retry_after, Transience};
use crate::engine::fetch::settle::{Done, Fetched, Settler, WireBody};
use crate::engine::frontier::Place;
use crate::engine::frontier::Work;
use crate::engine::host::gate::{Answer, Held};
use crate::engine::host::pushback::PushbackCounts;
use crate::engine::host::throttle::ThrottleCounts;
use crate::engine::host::{HostTable, Visit};
use crate::engine::http::connections;
use crate::engine::http::transport::{Located, Reply, Target, Transport};
use crate::engine::http::url::UrlRenderer;
use crate::engine::options::ClientOptions;
use crate::engine::pacer::Pacer;
use crate::engine::shape::{self, Outgoing};
use crate::engine::spec::{EngineError, JobSpec};
use crate::plan::ids::Id;
use crate::record::{duration_ms, ErrorKind, Failure, Lineage, Record, Timing};

/// Everything a request task needs, shared by all tasks of a run.
#[derive(Debug)]
pub struct Fetcher {
    transport: Arc<Transport>,
    urls: UrlRenderer,
    settler: Arc<Settler>,
    options: ClientOptions,
    /// Retries wait for the same limiter as first attempts.
    pacer: Arc<Pacer>,
    /// With `--cache` and `--rate`: a request waits for the limiter itself, once the cache
    /// said it must be sent, so a hit takes no place in the rate.
    paces: bool,
    /// Once cancelled, no retry starts; the last attempt's outcome stands.
    cancel: CancellationToken,
    /// The headers a crawl's first-level pages are read for (`Link`, totals), if any.
    paging: Option<crawl::PagingHeaders>,
    /// Every host the run meets: what holds its requests back (push-back, `--auto-throttle`,
    /// the per-host limits, robots.txt) and its addresses, shared with the transport's resolver.
    hosts: Arc<HostTable>,
    /// With `--robots`: the product token robots.txt is read for.
    robots_agent: String,
    /// With `--cache`: the entries on disk.
    cache: Option<Cache>,
}

/// What one attempt received, before its body is decoded and its fields extracted.
struct Attempt {
    /// When it was sent, after every gate; None when it never was (no valid URL).
    sent: Option<Instant>,
    /// From the send to the last body byte (or the failure): its phases add up to this.
    took: Duration,
    status: Option<u16>,
    /// Where the attempt's time went.
    timing: Timing,
    /// The HTTP version that answered.
    version: Option<&'static str>,
    body: WireBody,
    failure: Option<Failure>,
    transience: Transience,
    /// What the headers said about paging, when the crawl reads them.
    paging: Option<Box<crawl::Paging>>,
    /// The response's headers, kept only for the cache.
    head: Option<Box<HeaderMap>>,
}

impl Fetcher {
    /// The shared state of a run's request tasks, which send on `client` (its connections
    /// may be a former run's, and outlive this one).
    pub fn new(
        job: &JobSpec,
        pacer: Arc<Pacer>,
        cancel: CancellationToken,
        client: &Client,
    ) -> Result<Self, EngineError> {
        let (options, crawl) = (&job.client, &job.crawl);
        let urls = UrlRenderer::new(client.template().clone());
        let hosts = client.hosts_for_run();
        Ok(Self {
            transport: Arc::clone(client.transport()),
            urls,
            settler: Arc::new(Settler::new(job.fields.clone(), options.max_body, crawl)),
            paging: crawl::PagingHeaders::of(crawl),
            hosts,
            robots_agent: product_token(&options.user_agent),
            cache: options.cache.as_ref().map(Cache::open).transpose()?,
            paces: options.cache.is_some() && !pacer.is_unlimited(),
            options: options.clone(),
            pacer,
            cancel,
        })
    }

    /// The record of a request whose task failed (panicked) before it could finish its own:
    /// a failure, never a gap in the output.
    pub(crate) fn lost(&self, work: &Work, epoch: Instant) -> Done {
        let message = "the request's task failed unexpectedly".to_owned();
        let failure = Failure {
            kind: ErrorKind::Request,
            message,
        };
        Done {
            record: Box::new(self.unsent(
                &work.id,
                work.output_index(),
                work.place.as_deref(),
                epoch,
                failure,
            )),
            place: work.place.clone(),
            found: None,
        }
    }

    /// The record of work that ended without a response of its own: `failure` says why.
    pub(crate) fn unsent(
        &self,
        id: &Id,
        position: u64,
        place: Option<&Place>,
        epoch: Instant,
        failure: Failure,
    ) -> Record {
        let now = epoch.elapsed();
        let url = match place.and_then(|p| p.url.as_ref()) {
            Some(url) => shape::redact(url),
            None => self.url(id),
        };
        Record {
            index: position,
            url,
            id: id.clone(),
            status: None,
            http_version: None,
            timing: Timing::default(),
            elapsed: Duration::ZERO,
            scheduled: now,
            started: now,
            wait: None,
            bytes: 0,
            wire_bytes: 0,
            attempts: 1,
            failure: Some(failure),
            fields: self.settler.nulls(),
            crawl: place.map(|place| lineage(place, id)),
            cache: None,
        }
    }

    /// The URL a seed's request goes to, parsed (for a crawl, which resolves links against it).
    pub(crate) fn seed_url(&self, id: &Id) -> Option<reqwest::Url> {
        self.urls.url(id).ok()
    }

    /// Whether its requests wait for the rate limiter themselves, after the cache (the
    /// scheduler then starts them as if unlimited).
    pub(crate) fn paces(&self) -> bool {
        self.paces
    }

    /// How often hosts pushed back, and the longest pause.
    pub(crate) fn pushback(&self) -> PushbackCounts {
        self.hosts.pushback_counts()
    }

    /// With `--auto-throttle`: the busiest host's delay and concurrency.
    pub(crate) fn throttle(&self) -> Option<ThrottleCounts> {
        self.hosts.throttle_counts()
    }

    /// The requests sent through a proxy so far, and the proxies that carried them.
    pub(crate) fn proxy_use(&self) -> crate::engine::http::transport::ProxyUse {
        self.transport.proxy_use()
    }

    /// Decodes bodies and extracts fields for this run's requests.
    pub(crate) fn settler(&self) -> &Arc<Settler> {
        &self.settler
    }

    /// The URL for `id`.
    pub fn url(&self, id: &Id) -> String {
        self.urls.render(id)
    }

    /// Fetches one id, retrying as the policy allows; `epoch` is the start of the run. The
    /// elapsed time runs from the first send and covers every attempt and the waits between
    /// them; the waits at the host before that send are the record's `wait`. The body is not settled
    /// yet: the caller frees the request's slot first, so the next request starts while this
    /// one's fields are extracted (see `Settler::settle_here` and `Settler::settle_on_pool`).
    pub(crate) async fn fetch(
        &self,
        work: &Work,
        epoch: Instant,
        mut scheduled: Duration,
    ) -> Fetched {
        let id = &work.id;
        let place = work.place.as_deref();
        let depth = place.map_or(0, |p| p.depth);
        let located = match place.and_then(|p| p.url.as_ref()) {
            Some(url) => Located::found(url),
            None => self.transport.locate(&self.urls, id),
        };
        let target = located.target();
        let mut request = Outgoing {
            headers: self.options.shape.headers_for(id),
            body: self.options.shape.body_for(id),
        };
        let start = Instant::now();
        let mut attempts = 1;
        // Before robots.txt: an answer from the cache makes no request (and only-cached none
        // at all, not even robots.txt's).
        let pending = match (&self.cache, target) {
            (Some(cache), Some(to)) => {
                let method = &self.options.shape.method;
                let looked_up = cache.before(to.text(), located.text(), method, &mut request);
                // Boxed, as the robots.txt lookup below: inline, it would enlarge every
                // request's future.
                match Box::pin(looked_up).await {
                    Before::Send(pending) => Some(pending),
                    Before::Unsent(unsent) => {
                        return self.unsent_by_cache(unsent, work, located, epoch, scheduled)
                    }
                }
            }
            _ => None,
        };
        if pending.is_some() && self.paces {
            // Not answered by the cache: now it takes its place in the rate.
            if let Some(due) = self.pacer.admit().await {
                scheduled = due;
            }
        }
        // The waits at the host count from here: the cache's lookup is the client's own work,
        // and the rate limiter's wait is the schedule's.
        let mut held = Held::from(match self.cache {
            Some(_) => Instant::now(),
            None => start,
        });
        // The request's visit to its host: its entry, looked up once for all its attempts.
        let mut visit = Visit::default();
        let refusal = match target {
            Some(target) if self.hosts.reads_robots() => {
                // Boxed: inline, the robots.txt fetch would make every request's future larger.
                let rules = Box::pin(self.robots_rules(target, &mut visit, &mut held)).await;
                let refusal = rules.as_ref().and_then(|r| r.refusal(&target.text()));
                visit.keep_rules(rules);
                refusal
            }
            _ => None,
        };
        if let Some(message) = refusal {
            return self.refused(
                work,
                located,
                message,
                held.until(Instant::now()),
                epoch,
                scheduled,
            );
        }
        let mut attempt = self
            .attempt(target, &request, depth, &mut visit, &mut held)
            .await;
        let first_sent = attempt.sent;
        let wait = first_sent.and_then(|sent| held.until(sent));
        while let Some(wait) = attempt
            .failure
            .as_ref()
            .and_then(|_| self.options.retry.wait_before(attempts, attempt.transience))
        {
            if !self.pause(wait).await {
                break;
            }
            attempts += 1;
            // A retry's waits come after the first send: they are in its elapsed time.
            let mut later = Held::from(start);
            attempt = self
                .attempt(target, &request, depth, &mut visit, &mut later)
                .await;
        }
        let cache = match (&self.cache, pending) {
            (Some(cache), Some(pending)) => {
                Some(Box::pin(self.after_cache(cache, pending, &mut attempt, depth)).await)
            }
            _ => None,
        };
        let mut fetched = self.finish(
            work, located, attempt, attempts, first_sent, epoch, scheduled,
        );
        fetched.record.cache = cache;
        fetched.record.wait = wait;
        fetched
    }

    /// The record of `work`'s last attempt, its body still to settle; `first_sent` is when its
    /// first attempt was sent (None when nothing was: the record then starts now, and took no
    /// time). Inlined: out of line, its arguments (the attempt, its body) are copied into the call.
    #[allow(clippy::too_many_arguments)]
    #[inline(always)]
    fn finish(
        &self,
        work: &Work,
        located: Located<'_>,
        attempt: Attempt,
        attempts: u32,
        first_sent: Option<Instant>,
        epoch: Instant,
        scheduled: Duration,
    ) -> Fetched {
        let (start, elapsed) = match (first_sent, attempt.sent) {
            (Some(first), Some(last)) => {
                (first, last.saturating_duration_since(first) + attempt.took)
            }
            (Some(first), None) => (first, first.elapsed()),
            (None, _) => (Instant::now(), Duration::ZERO),
        };
        let record = Record {
            index: work.output_index(),
            id: work.id.clone(),
            url: located.shown(),
            status: attempt.status,
            http_version: attempt.version,
            timing: attempt.timing,
            elapsed,
            // The schedule comes from a different clock (the limiter's); never after the start.
            scheduled: scheduled.min(start.saturating_duration_since(epoch)),
            started: start.saturating_duration_since(epoch),
            wait: None,
            bytes: attempt.body.bytes,
            wire_bytes: attempt.body.bytes,
            attempts,
            failure: attempt.failure,
            fields: Vec::new(),
            crawl: work.place.as_deref().map(|place| lineage(place, &work.id)),
            cache: None,
        };
        Fetched {
            record: Box::new(record),
            body: attempt.body,
            place: work.place.clone(),
            paging: attempt.paging,
        }
    }

    /// Waits out a backoff, then for the rate limiter; false if the run was cancelled meanwhile.
    async fn pause(&self, wait: Duration) -> bool {
        tokio::select! {
            () = self.cancel.cancelled() => false,
            () = async {
                tokio::time::sleep(wait).await;
                self.pacer.ready().await;
            } => true,
        }
    }

    /// One request: wait at the gate (booking the waits in `held`), send it and receive the
    /// whole body (undecoded). Transport errors and retryable statuses come back as a failure
    /// with their transience. The phases (`dns`, `connect`, `ttfb`, `body`) add up to `took`.
    async fn attempt(
        &self,
        target: Option<Target<'_>>,
        request: &Outgoing,
        depth: u32,
        visit: &mut Visit,
        held: &mut Held,
    ) -> Attempt {
        let Some(target) = target else {
            let message = "not a valid URL once the id is filled in".to_owned();
            return failed_attempt(None, 0, permanent(ErrorKind::Request, message));
        };
        // Held until this function returns, after the body.
        let _slot = self.hosts.gate(target.host(), visit, held).await;
        let sent = Instant::now();
        let mut attempt = self.exchange(target, request, depth, sent, visit).await;
        let took = sent.elapsed();
        let timing = &mut attempt.timing;
        if let Some(to_head) = timing.ttfb_ms {
            // Measured from the send; the lookups and connects on the way are phases of their own.
            let before = timing.connect_ms.unwrap_or(0.0)
                + timing.tls_ms.unwrap_or(0.0)
                + timing.dns_ms.unwrap_or(0.0);
            timing.ttfb_ms = Some(ms_minus(to_head, before));
            if timing.body_ms.is_some() {
                timing.body_ms = Some(ms_minus(duration_ms(took), to_head));
            }
        }
        attempt.sent = Some(sent);
        attempt.took = took;
        attempt
    }

    /// [`Fetcher::attempt`]'s exchange with the server, from `sent`: its `ttfb_ms` still counts
    /// from the send, and its `body_ms` only says that a body was read.
    async fn exchange(
        &self,
        target: Target<'_>,
        request: &Outgoing,
        depth: u32,
        sent: Instant,
        visit: &mut Visit,
    ) -> Attempt {
        let (response, connect) = connections::timing_connect(redirect::send(
            &self.transport,
            &self.options,
            target,
            request,
        ))
        .await;
        let mut timing = Timing {
            dns_ms: connect.dns.map(duration_ms),
            connect_ms: connect.connect.map(|c| {
                let apart = connect.dns.unwrap_or_default() + connect.tls.unwrap_or_default();
                duration_ms(c.saturating_sub(apart))
            }),
            tls_ms: connect.tls.map(duration_ms),
            ttfb_ms: None,
            body_ms: None,
        };
        let to_head = sent.elapsed();
        timing.ttfb_ms = Some(duration_ms(to_head));
        let response = match response {
            Ok(response) => response,
            Err(failure) => {
                timing.ttfb_ms = None;
                return Attempt {
                    timing,
                    ..failed_attempt(None, 0, failure)
                };
            }
        };
        let version = Some(http_version(response.version()));
        let status = response.status();
        let code = Some(status.as_u16());
        let transience = if is_transient_status(status.as_u16()) {
            Transience::Transient {
                retry_after: retry_after(response.headers()),
            }
        } else {
            Transience::Permanent
        };
        let said = match transience {
            Transience::Transient { retry_after } => retry_after,
            Transience::Permanent => None,
        };
        let head = scan_head(response.headers());
        let answer = Answer {
            status: status.as_u16(),
            sent,
            to_head,
            retry_after: said,
            headers: response.headers(),
            quota_spent: head.quota_spent,
        };
        self.hosts.note(target.host(), visit, answer);
        // From here on a server answered: every outcome, failures included, carries its version.
        let answered = |failed: Attempt| Attempt { version, ..failed };
        if let Some((name, bytes)) = head.oversized {
            let failure = permanent(ErrorKind::Request, failure::field_too_large(name, bytes));
            return answered(failed_attempt(code, 0, failure));
        }
        let encoding = match Encoding::of(response.headers()) {
            Ok(encoding) => encoding,
            Err(e) => {
                let failure = permanent(ErrorKind::Body, e.to_string());
                return answered(failed_attempt(code, 0, failure));
            }
        };
        let wanted = status.is_success() && self.settler.needs_body(depth);
        let paging = (depth == 0 && status.is_success())
            .then(|| self.paging.as_ref()?.read(response.headers()))
            .flatten();
        let keep = wanted
            || (status.is_success() && (encoding != Encoding::Identity || self.cache.is_some()));
        // Taken before the body consumes the response; only the cache reads them.
        let head = self
            .cache
            .as_ref()
            .map(|_| Box::new(response.headers().clone()));
        let received = self.receive(response, keep).await;
        // Its length is what is left of the attempt's time: see `attempt`.
        timing.body_ms = Some(0.0);
        let (wire_bytes, wire) = match received {
            Ok(received) => received,
            Err((bytes, failure)) => {
                return answered(Attempt {
                    timing,
                    ..failed_attempt(code, bytes, failure)
                })
            }
        };
        if !status.is_success() {
            let failure = Failure {
                kind: ErrorKind::Status,
                message: format!("HTTP {status}"),
            };
            return answered(Attempt {
                timing,
                head,
                ..failed_attempt(code, wire_bytes, (failure, transience))
            });
        }
        Attempt {
            sent: None,
            took: Duration::ZERO,
            status: code,
            timing,
            version,
            body: WireBody {
                encoding,
                bytes: wire_bytes,
                chunks: wire,
                depth,
            },
            failure: None,
            transience: Transience::Permanent,
            paging,
            head,
        }
    }

    /// Reads the body as it arrives, counting it and keeping it if asked. Stops as soon as more
    /// than `--max-body` bytes came in, so an endless body costs at most the cap.
    async fn receive(
        &self,
        mut response: Reply,
        keep: bool,
    ) -> Result<(u64, Vec<Bytes>), (u64, (Failure, Transience))> {
        let cap = self.options.max_body;
        let over_cap = |bytes| (bytes, permanent(ErrorKind::Body, too_large(cap)));
        if response.content_length().is_some_and(|n| n > cap) {
            return Err(over_cap(0));
        }
        let mut wire = Vec::new();
        let mut bytes = 0u64;
        loop {
            match response.chunk().await {
                Ok(Some(chunk)) => {
                    bytes += chunk.len() as u64;
                    if bytes > cap {
                        return Err(over_cap(bytes));
                    }
                    if keep {
                        wire.push(chunk);
                    }
                }
                Ok(None) => return Ok((bytes, wire)),
                Err(e) => return Err((bytes, failure::describe(&e, &self.options))),
            }
        }
    }
}

/// `a - b` (at least 0) of two times in milliseconds to the microsecond, counted in whole
/// microseconds so the difference has no float noise (`6.540999999999997`).
fn ms_minus(a: f64, b: f64) -> f64 {
    let micros = |ms: f64| (ms * 1000.0).round();
    (micros(a) - micros(b)).max(0.0) / 1000.0
}

/// A crawl record's lineage; whether it is a result is decided when it completes.
fn lineage(place: &Place, id: &Id) -> Box<Lineage> {
    Box::new(Lineage {
        key: place.at.key(id),
        depth: place.depth,
        parent: place.parent.clone(),
        result: true,
        items: false,
        work: None,
    })
}

fn failed_attempt(
    status: Option<u16>,
    wire_bytes: u64,
    (failure, transience): (Failure, Transience),
) -> Attempt {
    Attempt {
        sent: None,
        took: Duration::ZERO,
        status,
        timing: Timing::default(),
        version: None,
        body: WireBody {
            encoding: Encoding::Identity,
            bytes: wire_bytes,
            chunks: Vec::new(),
            depth: 0,
        },
        failure: Some(failure),
        transience,
        paging: None,
        head: None,
    }
}
