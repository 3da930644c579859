//! The library's entry point: a [`Job`], built once, consumed three ways on the engine the CLI
//! uses: callbacks ([`Job::run_with`]), a stream of records ([`Job::stream`]), or everything at
//! once ([`Job::gather`]), asyncio's `gather` with order kept.

use std::num::NonZeroU32;
use std::path::PathBuf;
use std::time::Duration;

use reqwest::header::{HeaderName, HeaderValue};
use reqwest::Method;

use futures_core::Stream;
use thiserror::Error;
use tokio_util::sync::CancellationToken;

use crate::engine::http::tls;
use crate::engine::shape::{Body, RequestShape};
use crate::engine::{
    CacheMode, CacheSpec, ClientOptions, CrawlRules, CrawlSettings, EngineError, JobSpec, Order,
    RetryPolicy, RuleError, Run, RunMode, RunSpec,
};
use crate::extract::{FieldPath, FieldSet, PathError};
use crate::plan::ids::{Id, IdRange, RangeError};
use crate::plan::rate::{Rate, RateError};
use crate::plan::template::{Template, TemplateError};
use crate::record::Record;
use crate::report::stats::RunStats;
use crate::report::RunReport;

/// Why a job could not be built or run.
#[derive(Debug, Error)]
pub enum JobError {
    #[error("url template: {0}")]
    Template(#[from] TemplateError),
    #[error("ids: {0}")]
    Range(#[from] RangeError),
    #[error("rate: {0}")]
    Rate(#[from] RateError),
    #[error("field path: {0}")]
    Path(#[from] PathError),
    /// A crawl or stop rule, named by its setter (`total`, `next_param`, `range` for ids with
    /// no end and no stop rule).
    #[error("{}: {}", .0.field, .0.message)]
    Rule(#[from] RuleError),
    #[error("concurrency must be at least 1")]
    Concurrency,
    #[error("auto-throttle target must be a number above 0")]
    ThrottleTarget,
    /// A request setting that cannot be used, named by its setter (`header`, `method`,
    /// `user_agent`, `host_rate`, `cacert`, `cert`).
    #[error("{setting}: {message}")]
    Setting {
        setting: &'static str,
        message: String,
    },
    #[error(transparent)]
    Engine(#[from] EngineError),
}

/// A validated job: a URL template, its ids, and how to fetch them.
///
/// ```
/// # #[tokio::main] async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use fetchbench::{fixture::FixtureServer, Job};
///
/// // The built-in fixture server: the real pokeapi documents, on loopback.
/// let server = FixtureServer::start("127.0.0.1:0".parse()?, Default::default()).await?;
/// let job = Job::builder(&server.url_template())
///     .ids("1..=3")
///     .concurrency(3)
///     .field("name")
///     .build()?;
/// let (records, summary) = job.gather().await?;
/// let names: Vec<_> = records.iter().map(|r| r.fields[0].as_str().unwrap_or("")).collect();
/// assert_eq!(names, ["bulbasaur", "ivysaur", "venusaur"]);
/// assert_eq!(summary.ok, 3);
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct Job {
    template: Template,
    spec: JobSpec,
    ids: IdRange,
    run: RunSpec,
    cancel: CancellationToken,
}

/// Builds a [`Job`]; every value is checked by [`JobBuilder::build`].
#[derive(Debug, Clone)]
pub struct JobBuilder {
    template: String,
    ids: String,
    concurrency: usize,
    mode: RunMode,
    order: Order,
    rate: Option<String>,
    burst: u32,
    fields: Vec<String>,
    client: ClientOptions,
    deadline: Option<Duration>,
    max_errors: Option<u64>,
    /// The crawl and stop rules as given, checked by the engine in `build`.
    crawl: CrawlSettings,
    /// What each request carries, as given, checked in `build`.
    request: RequestSettings,
    cancel: CancellationToken,
}

/// The request settings as the setters took them (text), made into the engine's in `build`.
#[derive(Debug, Clone, Default)]
struct RequestSettings {
    method: Option<String>,
    body: Option<Body>,
    headers: Vec<(String, String)>,
    user_agent: Option<String>,
    host_rate: Option<String>,
    cacert: Option<PathBuf>,
    cert: Option<(PathBuf, Option<PathBuf>)>,
}

impl Job {
    /// Starts a job on `url_template` (`{}`, `{id}`, `{:03}` placeholders), ids `1..151`,
    /// concurrency 50, unlimited rate, no fields.
    pub fn builder(url_template: &str) -> JobBuilder {
        JobBuilder {
            template: url_template.to_owned(),
            ids: "1..151".to_owned(),
            concurrency: 50,
            mode: RunMode::Concurrent,
            order: Order::Ids,
            rate: None,
            burst: 1,
            fields: Vec::new(),
            client: ClientOptions::default(),
            deadline: None,
            max_errors: None,
            crawl: CrawlSettings::default(),
            request: RequestSettings::default(),
            cancel: CancellationToken::new(),
        }
    }

    /// The handle that cancels this job: no request starts after it fires, in-flight ones get
    /// the grace period (5 s) and the records that completed are still delivered.
    pub fn cancel_handle(&self) -> CancellationToken {
        self.cancel.clone()
    }

    /// The field paths, in the order of each record's `fields`.
    pub fn field_paths(&self) -> &[FieldPath] {
        self.spec.fields.paths()
    }

    /// Number of ids the job fetches.
    pub fn len(&self) -> u64 {
        self.ids.len()
    }

    /// Always false: a job has at least one id.
    pub fn is_empty(&self) -> bool {
        false
    }

    /// Runs the job, calling `on_record` once per id (in id order, or completion order if the
    /// builder asked for it) and `on_done` once, after the last record, with the summary.
    ///
    /// ```
    /// # #[tokio::main] async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # use fetchbench::{fixture::FixtureServer, Job};
    /// # let server = FixtureServer::start("127.0.0.1:0".parse()?, Default::default()).await?;
    /// let job = Job::builder(&server.url_template()).ids("24..=26").field("name").build()?;
    /// let mut names = Vec::new();
    /// let summary = job
    ///     .run_with(
    ///         |record| names.push(record.fields[0].to_string()),
    ///         |summary| println!("{} ok in {:.3} s", summary.ok, summary.wall_s),
    ///     )
    ///     .await?;
    /// assert_eq!(names, [r#""arbok""#, r#""pikachu""#, r#""raichu""#]);
    /// assert_eq!(summary.requests, 3);
    /// # Ok(()) }
    /// ```
    pub async fn run_with(
        &self,
        mut on_record: impl FnMut(&Record),
        on_done: impl FnOnce(&RunReport),
    ) -> Result<RunReport, JobError> {
        let mut run = self.start()?;
        let mut stats = RunStats::new(self.run.mode, self.run.concurrency.max(1), self.spec.rate);
        while let Some(record) = run.next().await {
            stats.add(&record);
            record.into_results(|result| on_record(&result));
        }
        stats.conclude(run.end());
        let summary = RunReport::from_stats(&stats, Some(self.len()));
        on_done(&summary);
        Ok(summary)
    }

    /// Every record, in id order (or completion order if asked), and the summary: asyncio's
    /// `gather`. Holds all records in memory; prefer [`Job::stream`] for long ranges.
    pub async fn gather(&self) -> Result<(Vec<Record>, RunReport), JobError> {
        let mut records = Vec::new();
        let summary = self.run_with(|r| records.push(r.clone()), |_| {}).await?;
        Ok((records, summary))
    }

    /// The records as a stream, fetched as it is polled. Take, filter or stop early as you
    /// like: dropping the stream cancels the job (in-flight requests are aborted, none start).
    ///
    /// ```
    /// # #[tokio::main] async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # use fetchbench::{fixture::FixtureServer, Job};
    /// use futures_util::StreamExt;
    /// # let server = FixtureServer::start("127.0.0.1:0".parse()?, Default::default()).await?;
    /// let job = Job::builder(&server.url_template()).ids("1..=151").concurrency(4).build()?;
    /// let first: Vec<String> = job.stream()?.take(3).map(|r| r.id.to_string()).collect().await;
    /// assert_eq!(first, ["1", "2", "3"]);
    /// # Ok(()) }
    /// ```
    pub fn stream(&self) -> Result<impl Stream<Item = Record> + Send + 'static, JobError> {
        let lazy = RunSpec {
            lookahead: self.run.concurrency as u64,
            ..self.run
        };
        let run = Run::start(
            &self.template,
            &self.spec,
            lazy,
            self.ids.clone().into_ids().map(Id::Num),
            self.cancel.clone(),
        )?;
        let pending = std::collections::VecDeque::new();
        Ok(futures_util::stream::unfold(
            (run, pending),
            |(mut run, mut pending)| async move {
                // A crawl's steps on the way to its results are not delivered; a page of items
                // gives one record per item.
                loop {
                    if let Some(result) = pending.pop_front() {
                        return Some((result, (run, pending)));
                    }
                    let record = run.next().await?;
                    record.into_results(|result| pending.push_back(result));
                }
            },
        ))
    }

    fn start(&self) -> Result<Run<impl Iterator<Item = Id> + Send + 'static>, JobError> {
        let ids = self.ids.clone().into_ids().map(Id::Num);
        Ok(Run::start(
            &self.template,
            &self.spec,
            self.run,
            ids,
            self.cancel.clone(),
        )?)
    }
}

impl JobBuilder {
    /// Follows the URLs found at `path` in each document (`results[*].url`, `species.url`);
    /// each call is the next level: the second path is searched in the documents the first led
    /// to. Records come out depth-first in document order; by default only the last level's
    /// (and every failure) are delivered.
    pub fn follow(mut self, path: &str) -> Self {
        self.crawl.follow.push(path.to_owned());
        self
    }

    /// Pages through each seed's chain: the next page's URL at `path` in the body (`next`), or
    /// in the `Link` header's `rel="next"` with `"link"`.
    pub fn next_page(mut self, path_or_link: &str) -> Self {
        self.crawl.next = Some(path_or_link.to_owned());
        self
    }

    /// The value at the [`next_page`](Self::next_page) path is a cursor token: the next page
    /// is the page's own URL with query parameter `name` set to it (Slack's `cursor`). A null,
    /// empty or absent token ends the chain.
    ///
    /// ```
    /// # use fetchbench::Job;
    /// let job = Job::builder("https://slack.test/api/conversations.list?limit=200")
    ///     .next_page("response_metadata.next_cursor")
    ///     .next_param("cursor")
    ///     .items("channels")
    ///     .field("name")
    ///     .build();
    /// assert!(job.is_ok());
    /// ```
    pub fn next_param(mut self, name: &str) -> Self {
        self.crawl.next_param = Some(name.to_owned());
        self
    }

    /// Ends ids with no end (`1..`) after `n` consecutive 404/410 answers (not delivered).
    pub fn stop_after_missing(mut self, n: u64) -> Self {
        self.crawl.stop_after_missing = Some(n.max(1));
        self
    }

    /// Ends ids with no end (`0..:20`) at the first page whose list at `path` is empty.
    pub fn until_empty(mut self, path: &str) -> Self {
        self.crawl.until_empty = Some(path.to_owned());
        self
    }

    /// Bounds ids with no end by the first page's count of items, at `path` in the body
    /// (`count`) or in a header (`header:X-Total-Count`): offsets below the first id plus that
    /// count, or page numbers (a step of 1) enough to hold it at the first page's items.
    pub fn total(mut self, path_or_header: &str) -> Self {
        self.crawl.total = Some(path_or_header.to_owned());
        self
    }

    /// Bounds ids with no end by the first page's count of pages, at `path` in the body or in
    /// a header (`header:X-WP-TotalPages`).
    pub fn total_pages(mut self, path_or_header: &str) -> Self {
        self.crawl.total_pages = Some(path_or_header.to_owned());
        self
    }

    /// The last level's documents are lists: one record per item of the list at `path`, the
    /// fields read from the item, with no request per item.
    pub fn items(mut self, path: &str) -> Self {
        self.crawl.items = Some(path.to_owned());
        self
    }

    /// Delivers every level's records in a crawl, not only the last level's (as
    /// `--all-levels`).
    pub fn all_levels(mut self) -> Self {
        self.crawl.all_levels = true;
        self
    }

    /// The former name of [`all_levels`](Self::all_levels).
    #[doc(hidden)]
    pub fn every_level(self) -> Self {
        self.all_levels()
    }

    /// Lets links lead to this origin too (`https://host[:port]`), or to any with `"*"` (as
    /// `--allow-origin`; by default a crawl stays on the origin of the page that named a link).
    pub fn allow_origin(mut self, origin: &str) -> Self {
        self.crawl.allow_origin.push(origin.to_owned());
        self
    }

    /// Most pages a chain may have, its first included (as `--max-pages`).
    pub fn max_pages(mut self, n: u64) -> Self {
        self.crawl.max_pages = Some(n.max(1));
        self
    }

    /// Most requests a crawl may make; what it finds beyond is counted, not fetched (as
    /// `--max-requests`).
    pub fn max_requests(mut self, n: u64) -> Self {
        self.crawl.max_requests = Some(n.max(1));
        self
    }

    /// The ids: `1..151` (half-open), `1..=150`, `7`, `1..100:5`, or a comma list of those.
    pub fn ids(mut self, spec: &str) -> Self {
        self.ids = spec.to_owned();
        self
    }

    /// At most `n` requests in flight (default 50).
    pub fn concurrency(mut self, n: usize) -> Self {
        self.concurrency = n;
        self.mode = RunMode::Concurrent;
        self
    }

    /// One request after another (concurrency 1).
    pub fn sequential(mut self) -> Self {
        self.concurrency = 1;
        self.mode = RunMode::Sequential;
        self
    }

    /// Deliver records as requests complete instead of in id order.
    pub fn completion_order(mut self) -> Self {
        self.order = Order::Completion;
        self
    }

    /// One rate limit across all requests: `20/s`, `600/m`, `5/100ms`.
    pub fn rate(mut self, rate: &str) -> Self {
        self.rate = Some(rate.to_owned());
        self
    }

    /// Requests the rate limiter lets out at once after an idle spell (default 1).
    pub fn burst(mut self, burst: u32) -> Self {
        self.burst = burst;
        self
    }

    /// A JSON path to extract from every response: `name`, `types[0].type.name`, `stats[*].base_stat`.
    pub fn field(mut self, path: &str) -> Self {
        self.fields.push(path.to_owned());
        self
    }

    /// Retries of transient failures (default 2).
    pub fn retries(mut self, retries: u32) -> Self {
        self.client.retry = RetryPolicy {
            retries,
            ..self.client.retry
        };
        self
    }

    /// Space request starts to each host by its latency over `target` requests in flight
    /// (Scrapy's AutoThrottle, as `--auto-throttle`); `target` must be above 0.
    pub fn auto_throttle(mut self, target: f64) -> Self {
        self.client.auto_throttle = Some(target);
        self
    }

    /// Do not pause a host that answers 429 or 503: only that request's retry waits (as
    /// `--no-backoff`).
    pub fn no_backoff(mut self) -> Self {
        self.client.backoff = false;
        self
    }

    /// Time limit per attempt, connect to last body byte (default 30 s).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.client.timeout = timeout;
        self
    }

    /// Time limit to connect (default 10 s).
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.client.connect_timeout = timeout;
        self
    }

    /// Time budget: when spent, no request starts and in-flight ones are cancelled.
    pub fn deadline(mut self, deadline: Duration) -> Self {
        self.deadline = Some(deadline);
        self
    }

    /// Stop after `n` failed requests (1 = cancel on the first failure, like a TaskGroup).
    pub fn max_errors(mut self, n: u64) -> Self {
        self.max_errors = Some(n);
        self
    }

    /// Keep responses in the HTTP cache at `dir` (created if need be) and answer from it as
    /// `mode` says; see [`CacheMode`]. Off by default: a cache hides the server being measured.
    pub fn cache(mut self, dir: impl Into<std::path::PathBuf>, mode: CacheMode) -> Self {
        self.client.cache = Some(CacheSpec {
            dir: dir.into(),
            mode,
        });
        self
    }

    /// Add a request header (repeatable); the placeholder is filled in its value too
    /// (`-H 'X-Item: {}'`).
    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.request
            .headers
            .push((name.to_owned(), value.to_owned()));
        self
    }

    /// The HTTP method (`-X`); default GET, or POST with a body.
    pub fn method(mut self, method: &str) -> Self {
        self.request.method = Some(method.to_owned());
        self
    }

    /// A request body, the placeholder filled in (`-d`).
    pub fn body(mut self, body: &str) -> Self {
        self.request.body = Some(Body::Raw(body.to_owned()));
        self
    }

    /// A JSON request body, a text id JSON-escaped where the placeholder stands; sets
    /// Content-Type and Accept to JSON unless a header did (`--json`).
    pub fn json(mut self, body: &str) -> Self {
        self.request.body = Some(Body::Json(body.to_owned()));
        self
    }

    /// The User-Agent (default `fetchbench/VERSION`).
    pub fn user_agent(mut self, user_agent: &str) -> Self {
        self.request.user_agent = Some(user_agent.to_owned());
        self
    }

    /// Keep credentials on redirects to another origin (`--location-trusted`; unsafe).
    pub fn location_trusted(mut self) -> Self {
        self.client.shape.location_trusted = true;
        self
    }

    /// Send every request through this proxy (`--proxy`); without it the proxy variables apply.
    pub fn proxy(mut self, url: &str) -> Self {
        self.client.proxy = Some(url.to_owned());
        self
    }

    /// Speak HTTP/2 from the first byte, also on http:// (`--http2`); undoes
    /// [`http1_only`](Self::http1_only).
    pub fn http2(mut self) -> Self {
        self.client.http2 = true;
        self.client.http1 = false;
        self
    }

    /// Speak HTTP/1.1 only: over https, ALPN offers nothing else (`--http1.1`); undoes
    /// [`http2`](Self::http2).
    pub fn http1_only(mut self) -> Self {
        self.client.http1 = true;
        self.client.http2 = false;
        self
    }

    /// HTTP/2 connections to open to an origin, each request on the least busy
    /// (`--h2-connections`; default 1). At least 1.
    pub fn h2_connections(mut self, n: usize) -> Self {
        self.client.h2_connections = n;
        self
    }

    /// A new connection for every request (`--no-keepalive`).
    pub fn no_keepalive(mut self) -> Self {
        self.client.no_keepalive = true;
        self
    }

    /// Send no Accept-Encoding (`--no-compression`).
    pub fn no_compression(mut self) -> Self {
        self.client.compression = false;
        self
    }

    /// Pin `host:port` to `addr`, no DNS for it (`--resolve`).
    pub fn resolve(mut self, host_port: &str, addr: std::net::SocketAddr) -> Self {
        self.client.resolve.push((host_port.to_owned(), addr));
        self
    }

    /// Accept invalid TLS certificates (`--insecure`; unsafe).
    pub fn insecure(mut self) -> Self {
        self.client.insecure = true;
        self
    }

    /// Trust the CA certificates in this PEM file besides the system's (`--cacert`).
    pub fn cacert(mut self, path: impl Into<PathBuf>) -> Self {
        self.request.cacert = Some(path.into());
        self
    }

    /// A client certificate for mutual TLS, its key in the same file or in `key` (`--cert`,
    /// `--key`).
    pub fn cert(mut self, cert: impl Into<PathBuf>, key: Option<PathBuf>) -> Self {
        self.request.cert = Some((cert.into(), key));
        self
    }

    /// Read each origin's robots.txt and keep to it (`--robots`).
    pub fn robots(mut self) -> Self {
        self.client.robots = true;
        self
    }

    /// At most `n` requests in flight to one host (`--host-concurrency`).
    pub fn host_concurrency(mut self, n: usize) -> Self {
        self.client.host_concurrency = Some(n);
        self
    }

    /// A rate limit per host, `2/s` (`--host-rate`).
    pub fn host_rate(mut self, rate: &str) -> Self {
        self.request.host_rate = Some(rate.to_owned());
        self
    }

    /// Redirects followed per request (`--max-redirects`, default 10).
    pub fn max_redirects(mut self, n: usize) -> Self {
        self.client.max_redirects = n;
        self
    }

    /// Most header fields a response may have (`--max-headers`, default 100).
    pub fn max_headers(mut self, n: usize) -> Self {
        self.client.max_headers = n;
        self
    }

    /// Largest body accepted after decompression, in bytes (`--max-body`, default 64 MiB).
    pub fn max_body(mut self, bytes: u64) -> Self {
        self.client.max_body = bytes;
        self
    }

    /// Longest wait a server's Retry-After may impose (`--max-retry-wait`, default 60 s).
    pub fn max_retry_wait(mut self, wait: Duration) -> Self {
        self.client.retry = RetryPolicy {
            max_retry_wait: wait,
            ..self.client.retry
        };
        self
    }

    /// Use this token to cancel the job (see [`Job::cancel_handle`]).
    pub fn cancel_token(mut self, token: CancellationToken) -> Self {
        self.cancel = token;
        self
    }

    /// Checks every value and returns the job.
    pub fn build(self) -> Result<Job, JobError> {
        if self.concurrency == 0 {
            return Err(JobError::Concurrency);
        }
        if self.client.h2_connections == 0 {
            return Err(JobError::Setting {
                setting: "h2_connections",
                message: "must be at least 1".to_owned(),
            });
        }
        if self
            .client
            .auto_throttle
            .is_some_and(|t| !(t.is_finite() && t > 0.0))
        {
            return Err(JobError::ThrottleTarget);
        }
        let fields = self
            .fields
            .iter()
            .map(|p| p.parse::<FieldPath>())
            .collect::<Result<Vec<_>, _>>()?;
        let rate = self.rate.as_deref().map(str::parse::<Rate>).transpose()?;
        // The ids are read first: whether they end decides whether a stop rule is needed.
        let ids_text = if self.crawl.follow.is_empty() && self.crawl.next.is_none() {
            self.ids.as_str()
        } else {
            // A crawl from one URL without a placeholder has one seed; see below.
            match Template::parse_url_or_fixed(&self.template, false)?.has_placeholder() {
                true => self.ids.as_str(),
                false => "1",
            }
        };
        let ids: IdRange = ids_text.parse()?;
        let crawl = CrawlRules::new(&self.crawl, fields.len(), ids.is_open())?;
        let client = self.request.apply(self.client)?;
        // A crawl may start from one URL without a placeholder (its one seed), and a request
        // whose body or a header holds one varies by id all the same.
        let template = match crawl.is_crawl() || client.shape.varies() {
            true => Template::parse_url_or_fixed(&self.template, false)?,
            false => Template::parse_url(&self.template)?,
        };
        let spec = JobSpec {
            fields: FieldSet::new(fields),
            crawl,
            client,
            rate,
            burst: NonZeroU32::new(self.burst).unwrap_or(NonZeroU32::MIN),
            grace: Duration::from_secs(5),
            deadline: self.deadline,
            max_errors: self.max_errors,
            warmup: 0,
        };
        let run = RunSpec {
            order: self.order,
            ..RunSpec::new(self.mode, self.concurrency)
        };
        Ok(Job {
            template,
            spec,
            ids,
            run,
            cancel: self.cancel,
        })
    }
}

impl RequestSettings {
    /// `client` with these settings checked and applied, or the first one that cannot be used.
    fn apply(self, mut client: ClientOptions) -> Result<ClientOptions, JobError> {
        let refuse =
            |setting: &'static str, message: String| JobError::Setting { setting, message };
        let method = self
            .method
            .map(|m| {
                Method::from_bytes(m.as_bytes())
                    .map_err(|_| refuse("method", format!("`{m}` is not an HTTP method")))
            })
            .transpose()?;
        let mut headers = Vec::with_capacity(self.headers.len());
        for (name, value) in &self.headers {
            let name = HeaderName::from_bytes(name.as_bytes())
                .map_err(|_| refuse("header", format!("`{name}` is not a header name")))?;
            let value = HeaderValue::from_str(value)
                .map_err(|_| refuse("header", format!("the value of `{name}` is not valid")))?;
            headers.push((name, value));
        }
        client.shape = RequestShape::new(method, self.body, headers, client.shape.location_trusted);
        if let Some(agent) = self.user_agent {
            HeaderValue::from_str(&agent)
                .map_err(|_| refuse("user_agent", "is not a valid header value".to_owned()))?;
            client.user_agent = agent;
        }
        if let Some(rate) = self.host_rate {
            let rate = rate
                .parse::<Rate>()
                .map_err(|e| refuse("host_rate", e.to_string()))?;
            client.host_rate = Some(rate);
        }
        if let Some(path) = self.cacert {
            client.ca_certs =
                tls::load_ca_bundle(&path).map_err(|e| refuse("cacert", e.to_string()))?;
        }
        if let Some((cert, key)) = self.cert {
            let identity = tls::load_identity(&cert, key.as_deref())
                .map_err(|e| refuse("cert", e.to_string()))?;
            client.identity = Some(identity);
        }
        if client.host_concurrency == Some(0) {
            return Err(refuse("host_concurrency", "must be at least 1".to_owned()));
        }
        Ok(client)
    }
}
