//! From parsed arguments to a [`Plan`]: the checks that need more than one flag or a file
//! (word lists, bodies and headers read from files, shards from the environment), all before any
//! request, each failing with the flag it concerns.

use std::path::PathBuf;

use clap::ValueEnum;

use super::error::AppError;
use super::{RunArgs, DEFAULT_RANGE};
use crate::engine::http::tls;
use crate::engine::shape::{Body, RequestShape};
use crate::engine::{
    CacheSpec, ClientOptions, CrawlRules, CrawlSettings, JobSpec, RetryPolicy, RuleError, RunMode,
    RunSpec,
};
use crate::extract::FieldSet;
use crate::fixture::FixtureOptions;
use crate::output::Format;
use crate::plan::ids::{IdSource, RangeError};
use crate::plan::shard::Shard;
use crate::plan::template::Template;

mod files;
mod request;

use self::files::distinct_files;
pub(crate) use self::files::format_from_extension;
use self::request::{body_text, collect_headers, tls_usage};

fn usage(flag: &'static str, message: String) -> AppError {
    AppError::Usage { flag, message }
}

/// The flag of a crawl rule's field, as the engine names it.
fn flag_of(field: &str) -> &'static str {
    match field {
        "follow" => "--follow",
        "next" => "--next",
        "next_param" => "--next-param",
        "allow_origin" => "--allow-origin",
        "max_pages" => "--max-pages",
        "max_requests" => "--max-requests",
        "all_levels" => "--all-levels",
        "items" => "--items",
        "stop_after_missing" => "--stop-after-missing",
        "until_empty" => "--until-empty",
        "total" => "--total",
        "total_pages" => "--total-pages",
        _ => "--range",
    }
}

impl RunArgs {
    /// The async runtime's worker threads this run's road wants, when not one a core (the
    /// transport decides: see `worker_threads` there).
    pub fn worker_threads(&self) -> Option<usize> {
        crate::engine::http::transport::worker_threads(
            self.url.as_deref(),
            self.http2,
            self.proxy.is_some(),
            self.h2_connections,
        )
    }

    /// The URL template; without a placeholder only for a crawl, which then starts from that
    /// one URL (and may be given no ids).
    ///
    /// A placeholder in the body or a header (`varies`) is as good as one in the URL: the
    /// request still varies by id.
    fn url_template(&self, text: &str, crawl: bool, varies: bool) -> Result<Template, AppError> {
        let template = Template::parse_url_or_fixed(text, self.raw)
            .map_err(|e| usage("--url", e.to_string()))?;
        let repeats = self.requests.is_some() || self.duration.is_some() || self.find_rate;
        if template.has_placeholder() || ((varies || repeats) && !crawl) {
            return Ok(template);
        }
        if !crawl {
            let message = "template has no placeholder: put `{}` (or `{id}`) where the id goes \
                           (in the URL, the body or a header), send this one URL -n times or \
                           for -z, or crawl from it with --next or --follow";
            return Err(usage("--url", message.to_owned()));
        }
        if self.ids.is_some() || self.range.to_string() != DEFAULT_RANGE {
            let message = "a URL without a placeholder is one seed: drop --range/--ids, or put \
                           `{}` where each id goes";
            return Err(usage("--url", message.to_owned()));
        }
        Ok(template)
    }

    /// The crawl's rules from --follow, --next, their limits and the stop rules, checked by
    /// the engine; an error names the flag.
    fn crawl_rules(&self) -> Result<CrawlRules, AppError> {
        let settings = CrawlSettings {
            follow: self.follow.clone(),
            next: self.next.clone(),
            next_param: self.next_param.clone(),
            allow_origin: self.allow_origin.clone(),
            max_pages: self.max_pages,
            // With --find-rate, --max-requests bounds the search, not a crawl.
            max_requests: self.max_requests.filter(|_| !self.find_rate),
            all_levels: self.all_levels,
            items: self.items.clone(),
            stop_after_missing: self.stop_after_missing,
            until_empty: self.until_empty.clone(),
            total: self.total.clone(),
            total_pages: self.total_pages.clone(),
        };
        let open = self.ids.is_none() && self.range.is_open();
        CrawlRules::new(&settings, self.fields.len(), open).map_err(|e| self.rule_usage(e))
    }

    /// A rule the engine refused, as the flag that set it (the range's in the flags' words).
    fn rule_usage(&self, error: RuleError) -> AppError {
        let (flag, message) = match error.field {
            "range" => (
                "--range",
                format!(
                    "`{}` has no end: add a stop rule (--stop-after-missing N, --until-empty \
                     PATH, --total or --total-pages), or give the range an end",
                    self.range
                ),
            ),
            field => (flag_of(field), error.message),
        };
        usage(flag, message)
    }

    /// `--cache` and its mode, the directory created (or refused) now, before any request.
    fn cache_spec(&self) -> Result<Option<CacheSpec>, AppError> {
        let Some(dir) = &self.cache else {
            return Ok(None);
        };
        let runs = self.mode.runs(&self.concurrency).len();
        if runs > 1 {
            let message = format!(
                "serves one run only, and this job makes {runs} (--mode both, or a -c sweep): \
                 the later ones would measure the cache; add -m concurrent or -m sequential"
            );
            return Err(usage("--cache", message));
        }
        let spec = CacheSpec {
            dir: dir.clone(),
            mode: self.cache_mode,
        };
        spec.prepare()
            .map_err(|e| usage("--cache", e.to_string()))?;
        Ok(Some(spec))
    }

    /// `--find-rate`'s settings: where it starts (`--rate`, else 10/s, both under the cap), its
    /// cap, step and budget, on one concurrency level.
    fn find_rate_spec(
        &self,
        rate: Option<crate::plan::rate::Rate>,
    ) -> Result<Option<FindRate>, AppError> {
        if !self.find_rate {
            return Ok(None);
        }
        let concurrency = match (self.mode, self.concurrency.as_slice()) {
            (Mode::Sequential, _) => 1,
            (_, [level]) => *level,
            _ => {
                let message = "runs its steps at one concurrency: give -c one level";
                return Err(usage("--find-rate", message.to_owned()));
            }
        };
        // The search writes no records: its results are the report, which `--format json`
        // prints on stdout; any other format would write nothing.
        let json = match self.format {
            None => false,
            Some(Format::Json) => true,
            Some(other) => {
                let message = format!(
                    "--find-rate writes no records, only its search: --format json prints its \
                     report on stdout (--report FILE writes it to a file); {other} would print \
                     nothing"
                );
                return Err(usage("--format", message));
            }
        };
        Ok(Some(FindRate {
            json,
            start: rate.map_or(DEFAULT_START, |r| r.per_second()),
            max_rate: self.max_rate.map(|r| r.per_second()),
            step: self.step,
            max_requests: self.max_requests,
            concurrency,
        }))
    }

    /// The validated plan. `stdout_is_terminal` picks the default format.
    pub fn into_plan(mut self, stdout_is_terminal: bool) -> Result<Plan, AppError> {
        let crawl = self.crawl_rules()?;
        let cache = self.cache_spec()?;
        let output = match self.output.take() {
            Some(path) if path.as_os_str() != "-" => Destination::File(path),
            _ => Destination::Stdout,
        };
        let format = self.format.unwrap_or_else(|| match &output {
            Destination::File(path) => format_from_extension(path).unwrap_or(Format::Ndjson),
            Destination::Stdout if stdout_is_terminal => Format::Table,
            Destination::Stdout => Format::Ndjson,
        });
        if format == Format::Sqlite && output == Destination::Stdout {
            return Err(usage(
                "--format",
                "sqlite writes a database file, not a stream: give --output FILE.sqlite".into(),
            ));
        }
        let headers = collect_headers(std::mem::take(&mut self.headers))?;
        let body = match (&self.data, &self.json) {
            (Some(data), _) => Some(Body::Raw(body_text("--data", data)?)),
            (None, Some(json)) => Some(Body::Json(body_text("--json", json)?)),
            (None, None) => None,
        };
        let shape = RequestShape::new(self.method.clone(), body, headers, self.location_trusted);
        let varies = shape.varies();
        let target = match &self.url {
            Some(text) => Target::Url(self.url_template(text, crawl.is_crawl(), varies)?),
            None => Target::Fixture(FixtureOptions {
                latency: self.latency,
                jitter: self.jitter,
                capacity: self.capacity,
                ..FixtureOptions::default()
            }),
        };
        let fixed_url = matches!(&target, Target::Url(t) if !t.has_placeholder());
        // A crawl's URL without a placeholder is its one seed.
        let one_seed = crawl.is_crawl() && fixed_url;
        let repeat = match (self.requests, self.duration) {
            (Some(n), _) => Some(Repeat::Requests(n)),
            (None, Some(duration)) => Some(Repeat::For(duration)),
            (None, None) => None,
        };
        if repeat.is_some() {
            let flag = if self.requests.is_some() {
                "--requests"
            } else {
                "--duration"
            };
            if crawl.is_crawl() {
                let message = "repeats a list of ids, while a crawl requests each page once \
                               (--follow, --next): bound a crawl with --max-requests";
                return Err(usage(flag, message.to_owned()));
            }
            if self.resume {
                let message = "sends the ids again on purpose, which --resume would skip";
                return Err(usage(flag, message.to_owned()));
            }
            if self.ids.is_none() && self.range.is_open() && !fixed_url {
                let message = "repeats the ids from the first once the range is used up, so \
                               the range needs an end";
                return Err(usage(flag, message.to_owned()));
            }
        }
        let ids = match &self.ids {
            Some(path) if path.as_os_str() == "-" => IdSource::Stdin,
            Some(path) => {
                std::fs::File::open(path)
                    .map_err(|e| usage("--ids", format!("cannot read {}: {e}", path.display())))?;
                IdSource::File(path.clone())
            }
            // A URL without a placeholder is the one seed of its crawl.
            // One URL sent again and again: the id counts the requests.
            None if fixed_url && (repeat.is_some() || self.find_rate) => IdSource::Range(
                "1.."
                    .parse()
                    .map_err(|e: RangeError| usage("--range", e.to_string()))?,
            ),
            None if one_seed => IdSource::Range(
                "1".parse()
                    .map_err(|e: RangeError| usage("--range", e.to_string()))?,
            ),
            None => IdSource::Range(self.range.clone()),
        };
        let shard = match self.shard {
            Some(shard) => Some(shard),
            None => Shard::from_env(self.shards).map_err(|e| usage("--shard", e.to_string()))?,
        };
        // A crawl is split by seed, with all a seed leads to in its shard; one URL is one seed.
        if shard.is_some() && one_seed {
            let message = "a crawl from one URL is one chain and cannot be split: give the URL a \
                           `{}` and a range of seeds to shard";
            return Err(usage("--shard", message.to_owned()));
        }
        let ca_certs = match &self.cacert {
            Some(path) => tls::load_ca_bundle(path).map_err(tls_usage)?,
            None => Vec::new(),
        };
        let identity = match &self.cert {
            Some(cert) => Some(tls::load_identity(cert, self.key.as_deref()).map_err(tls_usage)?),
            None => None,
        };
        // The limits are the whole job's: N shards at once each take their share, so the host
        // sees what was asked for.
        let parts = shard.map_or(1, |s| s.count);
        let rate = self.rate.map(|r| r.share(parts));
        let host_rate = self.host_rate.map(|r| r.share(parts));
        let host_concurrency = self
            .host_concurrency
            .map(|n| n.div_ceil(usize::try_from(parts).unwrap_or(usize::MAX)));
        distinct_files(&[
            (
                "--ids",
                self.ids.as_deref().filter(|p| p.as_os_str() != "-"),
            ),
            (
                "--output",
                match &output {
                    Destination::File(path) => Some(path.as_path()),
                    Destination::Stdout => None,
                },
            ),
            ("--report", self.report.as_deref()),
            ("--html", self.html.as_deref()),
        ])?;
        let find_rate = self.find_rate_spec(rate)?;
        let sweep = self.mode != Mode::Sequential && self.concurrency.len() > 1;
        if self.slo.is_some() && find_rate.is_none() && !sweep {
            let message = "judges the steps of --find-rate or the levels of a sweep \
                           (-c 1,4,16,64): add one of them";
            return Err(usage("--slo", message.to_owned()));
        }
        let defaults = ClientOptions::default();
        Ok(Plan {
            find_rate,
            slo: self.slo.clone(),
            target,
            ids,
            shard,
            mode: self.mode,
            concurrency: self.concurrency,
            job: JobSpec {
                crawl,
                rate,
                burst: self.burst,
                fields: FieldSet::new(self.fields),
                client: ClientOptions {
                    shape,
                    http2: self.http2,
                    http1: self.http1,
                    h2_connections: self.h2_connections,
                    no_keepalive: self.no_keepalive,
                    resolve: self.resolve.clone(),
                    proxy: self.proxy.clone(),
                    user_agent: self.user_agent.unwrap_or(defaults.user_agent),
                    timeout: self.timeout,
                    connect_timeout: self.connect_timeout,
                    max_redirects: self.max_redirects,
                    max_headers: self.max_headers,
                    host_concurrency,
                    host_rate,
                    robots: self.robots,
                    cache,
                    backoff: !self.no_backoff,
                    auto_throttle: self.auto_throttle,
                    max_body: self.max_body,
                    insecure: self.insecure,
                    ca_certs,
                    identity,
                    compression: !self.no_compression,
                    retry: RetryPolicy {
                        retries: self.retries,
                        max_retry_wait: self.max_retry_wait,
                        ..RetryPolicy::default()
                    },
                    watch_limits: false,
                },
                grace: self.grace,
                deadline: self.deadline.or(self.duration),
                warmup: self.warmup,
                max_errors: self.max_errors,
            },
            resume: self.resume,
            repeat,
            format,
            format_given: self.format.is_some(),
            output,
            report: self.report,
            html: self.html,
            progress: !self.no_progress && !self.quiet,
            quiet: self.quiet,
        })
    }
}

/// The concurrency of a run given no `-c`.
pub(crate) const DEFAULT_CONCURRENCY: usize = 50;

/// Which runs to make.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Mode {
    /// One request after another.
    Sequential,
    /// Up to --concurrency requests in flight.
    Concurrent,
    /// Sequential first, then concurrent, compared side by side.
    Both,
}

impl Mode {
    /// The runs this mode makes, in order: sequential first, then one concurrent run per level
    /// (a sweep when there are several). The last run's records are the results written.
    pub fn runs(self, levels: &[usize]) -> Vec<RunSpec> {
        let sequential = RunSpec::new(RunMode::Sequential, 1);
        let concurrent = levels
            .iter()
            .map(|&level| RunSpec::new(RunMode::Concurrent, level));
        match self {
            Mode::Sequential => vec![sequential],
            Mode::Concurrent => concurrent.collect(),
            Mode::Both => std::iter::once(sequential).chain(concurrent).collect(),
        }
    }
}

/// Where `--find-rate` starts without `--rate`, in requests per second.
const DEFAULT_START: f64 = 10.0;

/// The rate search's settings (`--find-rate`).
#[derive(Debug, Clone, PartialEq)]
pub struct FindRate {
    /// The first step's rate, requests per second (lowered to the cap).
    pub start: f64,
    /// `--max-rate`, requests per second.
    pub max_rate: Option<f64>,
    /// `--step`: each step this long; None: 5 s or 200 requests, whichever is longer.
    pub step: Option<std::time::Duration>,
    /// `--max-requests`: the search's requests in all.
    pub max_requests: Option<u64>,
    /// Requests in flight at most, in every step.
    pub concurrency: usize,
    /// `--format json`: the search's report (as `--report` writes it) printed on stdout.
    pub json: bool,
}

/// How long a run goes on sending the ids again (oha's and hey's `-n` and `-z`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Repeat {
    /// This many requests in all (of the whole job, under `--shard`).
    Requests(u64),
    /// Requests for this long (the run's deadline, reached as its normal end).
    For(std::time::Duration),
}

/// Where requests go.
#[derive(Debug, Clone)]
pub enum Target {
    /// The built-in fixture server, started on loopback for this run.
    Fixture(FixtureOptions),
    /// A user-given URL template.
    Url(Template),
}

/// Where the results go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Destination {
    Stdout,
    File(PathBuf),
}

/// A validated job, ready to run.
#[derive(Debug, Clone)]
pub struct Plan {
    pub target: Target,
    pub ids: IdSource,
    /// Only this shard's share of the ids.
    pub shard: Option<Shard>,
    pub mode: Mode,
    /// Concurrency levels: one concurrent run per level (never empty).
    pub concurrency: Vec<usize>,
    /// How every run fetches: the same settings the library's builder makes.
    pub job: JobSpec,
    pub format: Format,
    /// Whether `--format` chose the format (else the extension or the terminal did).
    pub format_given: bool,
    pub output: Destination,
    pub report: Option<PathBuf>,
    /// The visual report's path.
    pub html: Option<PathBuf>,
    /// Skip the ids already in the output file and append the rest.
    pub resume: bool,
    /// Send the ids again and again, for a count of requests or a time (`-n`, `-z`).
    pub repeat: Option<Repeat>,
    /// Search for the highest rate that holds (`--find-rate`) instead of the runs of `mode`.
    pub find_rate: Option<FindRate>,
    /// `--slo`: the bounds a rate search's step, or a sweep's level, must keep.
    pub slo: Option<crate::plan::slo::Slo>,
    /// Show progress bars (still only when stderr is a terminal).
    pub progress: bool,
    /// Print nothing on stderr but errors.
    pub quiet: bool,
}
