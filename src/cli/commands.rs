//! Options of the subcommands: `serve`, `merge`, `compare`.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use clap::Args;

use crate::fixture::FixtureOptions;
use crate::plan::rate::{parse_duration, Rate};

/// Options of `fetchbench serve`.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Port to listen on (0 picks a free one).
    #[arg(long, default_value_t = 8000)]
    pub port: u16,
    /// Address to listen on.
    #[arg(long, default_value_t = IpAddr::V4(Ipv4Addr::LOCALHOST))]
    pub bind: IpAddr,
    /// Simulated latency of every response.
    #[arg(long, value_name = "DUR", default_value = "40ms", value_parser = parse_duration)]
    pub latency: Duration,
    /// Extra random latency per response, uniform in 0..=DUR.
    #[arg(long, value_name = "DUR", default_value = "0", value_parser = parse_duration)]
    pub jitter: Duration,
    /// Answer `429 Too Many Requests` (with `Retry-After`) beyond this rate, in fixed windows:
    /// `20/s`, `600/m`.
    ///
    /// `GET /__stats` then counts the requests and 429s served.
    #[arg(long, value_name = "RATE")]
    pub rate_limit: Option<Rate>,
    /// With --rate-limit: send `RateLimit-Limit`, `RateLimit-Remaining` and `RateLimit-Reset`
    /// on every answer.
    #[arg(long, requires = "rate_limit")]
    pub rate_limit_headers: bool,
}

impl ServeArgs {
    pub fn addr(&self) -> SocketAddr {
        SocketAddr::new(self.bind, self.port)
    }

    pub fn fixture_options(&self) -> FixtureOptions {
        FixtureOptions {
            latency: self.latency,
            jitter: self.jitter,
            rate_limit: self.rate_limit,
            rate_limit_headers: self.rate_limit_headers,
        }
    }
}

/// Options of `fetchbench merge`.
#[derive(Debug, Args)]
pub struct MergeArgs {
    /// Merge NDJSON results files or SQLite databases (in id order) instead of reports; `-o
    /// FILE.sqlite` writes a database.
    #[arg(long)]
    pub results: bool,
    /// Write the merged JSON report (or results) to FILE instead of stdout.
    #[arg(short, long, value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// The files to merge: shard reports (or results files with --results).
    #[arg(required = true, value_name = "FILE")]
    pub files: Vec<PathBuf>,
}

/// Options of `fetchbench compare`.
#[derive(Debug, Args)]
pub struct CompareArgs {
    /// The reference report.
    pub baseline: PathBuf,
    /// The report to judge.
    pub current: PathBuf,
    /// Exit 1 when wall time or p99 grew by more than this (`10%`, `0.1`), or errors grew.
    #[arg(long, value_name = "PCT", default_value = "10%", value_parser = parse_fraction)]
    pub fail_if_slower: f64,
}

fn parse_fraction(text: &str) -> Result<f64, String> {
    let value = match text.trim().strip_suffix('%') {
        Some(pct) => pct.trim().parse::<f64>().map(|p| p / 100.0),
        None => text.trim().parse::<f64>(),
    };
    value
        .ok()
        .filter(|v| v.is_finite() && *v >= 0.0)
        .ok_or_else(|| format!("`{text}` is not a percentage (e.g. 10%)"))
}

/// The identity of the job `plan` describes, for its report: what every shard of the job
/// shares (see [`crate::report::job`]); `id_count` is the number of ids in its list, if known.
pub(crate) fn job_of(plan: &super::Plan, id_count: Option<u64>) -> crate::report::job::JobReport {
    use crate::plan::ids::IdSource;
    use humantime::format_duration as dur;
    let job = &plan.job;
    let client = &job.client;
    let shape = &client.shape;
    let crawl = &job.crawl;
    let count = id_count.map_or_else(String::new, |n| format!(" ({n} ids)"));
    let optional = |value: Option<String>| value.unwrap_or_else(|| "none".to_owned());
    let url = match &plan.target {
        super::Target::Url(template) => redacted(template.as_str()),
        super::Target::Fixture(options) => format!(
            "built-in fixture server (latency {}, jitter {}, rate limit {})",
            dur(options.latency),
            dur(options.jitter),
            optional(options.rate_limit.map(|r| r.to_string()))
        ),
    };
    // Header values, the body and what the shown URL redacts may hold secrets: they enter the
    // identity through a digest.
    let mut request = ring::digest::Context::new(&ring::digest::SHA256);
    if let super::Target::Url(template) = &plan.target {
        if url != template.as_str() {
            request.update(template.as_str().as_bytes());
        }
    }
    request.update(b"\0");
    if let Some(body) = &shape.body {
        request.update(body.as_str().as_bytes());
    }
    for (name, value) in &shape.headers {
        request.update(b"\0");
        request.update(name.as_str().as_bytes());
        request.update(b":");
        match value {
            crate::engine::shape::HeaderTemplate::Fixed(v) => request.update(v.as_bytes()),
            crate::engine::shape::HeaderTemplate::Templated(t) => {
                request.update(t.as_str().as_bytes())
            }
        }
    }
    let headers: Vec<&str> = shape.headers.iter().map(|(n, _)| n.as_str()).collect();
    let join = |items: Vec<String>, sep: &str| items.join(sep);
    let crawl_text = if crawl.is_crawl() || crawl.stop.any() || crawl.items.is_some() {
        format!(
            "follow {}; next {}; origins {:?}; max pages {}; max requests {}; items {}; \
             every level {}; stop after missing {}, until empty {}, total {}",
            join(crawl.follow.iter().map(|p| p.to_string()).collect(), " > "),
            optional(crawl.next.as_ref().map(|n| format!("{n:?}"))),
            crawl.origins,
            optional(crawl.max_pages.map(|n| n.to_string())),
            optional(crawl.max_requests.map(|n| n.to_string())),
            optional(crawl.items.as_ref().map(|p| p.to_string())),
            crawl.every_level,
            optional(crawl.stop.after_missing.map(|n| n.to_string())),
            optional(crawl.stop.until_empty.as_ref().map(|p| p.to_string())),
            optional(crawl.stop.total.as_ref().map(|p| p.to_string())),
        )
    } else {
        "none".to_owned()
    };
    let settings: [(&str, String); 17] = [
        ("url", url),
        (
            "ids",
            match &plan.ids {
                IdSource::Range(range) => format!("range {range}"),
                // Its name, not its path: each machine may keep the list elsewhere.
                IdSource::File(path) => format!(
                    "word list {}{count}",
                    path.file_name()
                        .unwrap_or(path.as_os_str())
                        .to_string_lossy()
                ),
                IdSource::Stdin => format!("stdin{count}"),
            },
        ),
        (
            "mode",
            match plan.repeat {
                Some(super::Repeat::Requests(n)) => format!("{:?}, -n {n}", plan.mode),
                Some(super::Repeat::For(d)) => format!("{:?}, -z {}", plan.mode, dur(d)),
                None => format!("{:?}", plan.mode),
            }
            .to_lowercase(),
        ),
        (
            "concurrency",
            join(
                plan.concurrency.iter().map(|c| c.to_string()).collect(),
                ",",
            ),
        ),
        (
            "fields",
            join(
                job.fields.paths().iter().map(|p| p.to_string()).collect(),
                ", ",
            ),
        ),
        (
            "request",
            format!(
                "{}{}; headers: {}; digest {}",
                shape.method,
                if shape.body.is_some() {
                    " with a body"
                } else {
                    ""
                },
                if headers.is_empty() {
                    "none".to_owned()
                } else {
                    headers.join(", ")
                },
                &crate::report::job::hex(request.finish().as_ref())[..16]
            ),
        ),
        ("crawl", crawl_text),
        (
            "rate",
            format!(
                "{} (burst {})",
                optional(job.rate.map(|r| r.to_string())),
                job.burst
            ),
        ),
        (
            "deadline",
            optional(job.deadline.map(|d| dur(d).to_string())),
        ),
        (
            "max errors",
            optional(job.max_errors.map(|n| n.to_string())),
        ),
        ("warmup", job.warmup.to_string()),
        (
            "retries",
            format!(
                "{} (backoff {} to {}, Retry-After up to {})",
                client.retry.retries,
                dur(client.retry.base),
                dur(client.retry.cap),
                dur(client.retry.max_retry_wait)
            ),
        ),
        (
            "timeouts",
            format!(
                "{} per attempt, {} to connect",
                dur(client.timeout),
                dur(client.connect_timeout)
            ),
        ),
        (
            "connections",
            format!(
                "keepalive {}, http2 {}, compression {}, max redirects {}, max body {}",
                !client.no_keepalive,
                client.http2,
                client.compression,
                client.max_redirects,
                client.max_body
            ),
        ),
        (
            "politeness",
            format!(
                "host concurrency {}, host rate {}, robots {}, backoff {}, auto-throttle {}",
                optional(client.host_concurrency.map(|n| n.to_string())),
                optional(client.host_rate.map(|r| r.to_string())),
                client.robots,
                client.backoff,
                optional(client.auto_throttle.map(|n| n.to_string()))
            ),
        ),
        (
            "cache",
            optional(
                client
                    .cache
                    .as_ref()
                    .map(|c| format!("{:?}", c.mode).to_lowercase()),
            ),
        ),
        ("user agent", client.user_agent.clone()),
    ];
    crate::report::job::JobReport::new(
        settings
            .into_iter()
            .map(|(name, value)| (name.to_owned(), value))
            .collect(),
    )
}

/// A URL template as it may be written in a report: a password and secret-looking query
/// parameters redacted (see `engine::shape::redact`), the template as given otherwise.
fn redacted(template: &str) -> String {
    match url::Url::parse(template) {
        Ok(url) => {
            let shown = crate::engine::shape::redact(&url);
            if shown == url.as_str() {
                template.to_owned()
            } else {
                shown
            }
        }
        Err(_) => template.to_owned(),
    }
}
