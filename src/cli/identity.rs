//! A job's identity for its report: the settings every shard of one job shares, shown readably
//! and hashed (secrets enter only through a digest), so `merge` and `compare` can tell one job
//! from another.

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
