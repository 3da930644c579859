//! A job's identity and how it is shown without its secrets: the settings every shard of one job
//! shares, shown readably and hashed (secrets enter only through a digest), so `merge` and
//! `compare` can tell one job from another and `--resume` a database of another job; and the
//! command line as a database's `runs` rows keep it, secrets redacted.

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
                "keepalive {}, http2 {}, http1.1 only {}, h2 connections {}, compression {}, \
                 max redirects {}, max body {}",
                !client.no_keepalive,
                client.http2,
                client.http1,
                client.h2_connections,
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
        Ok(url) if url.has_host() => {
            let shown = crate::engine::shape::redact(&url);
            if shown == url.as_str() {
                template.to_owned()
            } else {
                shown
            }
        }
        _ => template.to_owned(),
    }
}

/// What makes a database's records the records of this job, for --resume: the URL template and
/// request, the ids, the fields, the crawl's rules and the runs (mode and how many), not the
/// limits (rate, deadline, concurrency) a resumed run may change.
pub(super) fn resume_identity(plan: &super::Plan) -> crate::report::job::JobReport {
    let job = job_of(plan, None);
    let mut settings: std::collections::BTreeMap<String, String> = job
        .settings
        .into_iter()
        .filter(|(name, _)| ["url", "ids", "fields", "request", "crawl"].contains(&name.as_str()))
        .collect();
    settings.insert(
        "runs".to_owned(),
        format!(
            "{:?} ({} runs)",
            plan.mode,
            plan.mode.runs(&plan.concurrency).len()
        )
        .to_lowercase(),
    );
    crate::report::job::JobReport::new(settings)
}

/// The command line as typed, for the database's `runs` rows, with what may be secret redacted:
/// header values, request bodies, and passwords or secret parameters in URLs.
pub(super) fn command_line() -> String {
    let mut words = Vec::new();
    let mut hide_next: Option<&str> = None;
    for arg in std::env::args_os().skip(1) {
        let arg = arg.to_string_lossy().into_owned();
        let shown = match hide_next.take() {
            Some(flag) => redact_value(flag, &arg),
            None => {
                if let Some(flag) = SECRET_FLAGS.iter().find(|f| **f == arg) {
                    hide_next = Some(flag);
                    arg
                } else if let Some((flag, value)) = arg
                    .split_once('=')
                    .filter(|(f, _)| SECRET_FLAGS.contains(f))
                {
                    format!("{flag}={}", redact_value(flag, value))
                } else {
                    redacted(&arg)
                }
            }
        };
        words.push(shell_quoted(&shown));
    }
    std::iter::once("fetchbench".to_owned())
        .chain(words)
        .collect::<Vec<_>>()
        .join(" ")
}

/// Flags whose value may hold a secret.
const SECRET_FLAGS: [&str; 6] = ["-H", "--header", "--data", "--json", "--proxy", "--url"];

/// A secret flag's value as the command line shows it: a header's name kept, a body (unless read
/// from a file, `@path`) hidden, a URL's password and secret parameters redacted.
fn redact_value(flag: &str, value: &str) -> String {
    match flag {
        "-H" | "--header" if value.starts_with('@') => value.to_owned(),
        "-H" | "--header" => match value.split_once(':') {
            Some((name, _)) => format!("{name}: <redacted>"),
            None => "<redacted>".to_owned(),
        },
        "--data" | "--json" if value.starts_with('@') => value.to_owned(),
        "--data" | "--json" => "<redacted>".to_owned(),
        _ => redacted(value),
    }
}

/// `word` as a POSIX shell reads it back: bare when plain, else in single quotes.
fn shell_quoted(word: &str) -> String {
    let plain = !word.is_empty()
        && word
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./:=@,+%^".contains(c));
    if plain {
        word.to_owned()
    } else {
        format!("'{}'", word.replace('\'', "'\\''"))
    }
}
