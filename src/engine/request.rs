//! One request, start to record: send, read the body under a size cap, extract the fields.
//!
//! Sequential and concurrent runs both call [`Fetcher::fetch`]; they differ only in how many
//! fetches the scheduler lets run at once. Every failure becomes a [`Failure`] on the record.

use std::error::Error as _;
use std::time::{Duration, Instant};

use reqwest::header::HeaderMap;
use reqwest::{Client, Response};
use serde_json::Value;

use crate::extract::FieldSet;
use crate::plan::template::Template;
use crate::record::{ErrorKind, Failure, Record};

/// How the HTTP client is set up for a run.
#[derive(Debug, Clone)]
pub struct ClientOptions {
    pub headers: HeaderMap,
    pub user_agent: String,
    pub timeout: Duration,
    pub connect_timeout: Duration,
    pub max_redirects: usize,
    /// Bodies larger than this fail with "body too large" once the cap is passed.
    pub max_body: u64,
}

impl Default for ClientOptions {
    fn default() -> Self {
        Self {
            headers: HeaderMap::new(),
            user_agent: concat!("fetchbench/", env!("CARGO_PKG_VERSION")).to_owned(),
            timeout: Duration::from_secs(30),
            connect_timeout: Duration::from_secs(10),
            max_redirects: 10,
            max_body: 64 * 1024 * 1024,
        }
    }
}

/// Everything a request task needs, shared by all tasks of a run.
#[derive(Debug)]
pub struct Fetcher {
    client: Client,
    template: Template,
    fields: FieldSet,
    timeout: Duration,
    max_body: u64,
}

/// What the response gave, before it is stamped with ids and times.
struct Outcome {
    status: Option<u16>,
    bytes: u64,
    fields: Vec<Value>,
    failure: Option<Failure>,
}

impl Fetcher {
    /// Builds a client whose idle pool holds one connection per concurrent slot.
    pub fn new(
        template: Template,
        fields: FieldSet,
        options: &ClientOptions,
        concurrency: usize,
    ) -> Result<Self, reqwest::Error> {
        let client = Client::builder()
            .user_agent(options.user_agent.clone())
            .default_headers(options.headers.clone())
            .timeout(options.timeout)
            .connect_timeout(options.connect_timeout)
            .redirect(reqwest::redirect::Policy::limited(options.max_redirects))
            .pool_max_idle_per_host(concurrency)
            .tcp_nodelay(true)
            .build()?;
        Ok(Self {
            client,
            template,
            fields,
            timeout: options.timeout,
            max_body: options.max_body,
        })
    }

    /// Fetches one id; `epoch` is the start of the run, for the record's start offset.
    pub async fn fetch(&self, index: u64, id: u64, epoch: Instant) -> Record {
        let url = self.template.render(id);
        let start = Instant::now();
        let outcome = self.attempt(&url).await;
        let elapsed = start.elapsed();
        Record {
            index,
            id,
            url,
            status: outcome.status,
            elapsed,
            started: start.saturating_duration_since(epoch),
            bytes: outcome.bytes,
            failure: outcome.failure,
            fields: outcome.fields,
        }
    }

    async fn attempt(&self, url: &str) -> Outcome {
        let nulls = || vec![Value::Null; self.fields.paths().len()];
        let failed = |status, bytes, failure| Outcome {
            status,
            bytes,
            fields: nulls(),
            failure: Some(failure),
        };
        let response = match self.client.get(url).send().await {
            Ok(response) => response,
            Err(e) => return failed(None, 0, self.describe(&e)),
        };
        let status = response.status();
        let code = Some(status.as_u16());
        let keep_body = status.is_success() && !self.fields.is_empty();
        let body = match self.read_body(response, keep_body).await {
            Ok(body) => body,
            Err((bytes, failure)) => return failed(code, bytes, failure),
        };
        if !status.is_success() {
            let failure = Failure {
                kind: ErrorKind::Status,
                message: format!("HTTP {status}"),
            };
            return failed(code, body.bytes, failure);
        }
        let fields = if keep_body {
            match self.fields.extract(&body.kept) {
                Ok(values) => values,
                Err(e) => {
                    let failure = Failure {
                        kind: ErrorKind::Json,
                        message: e.to_string(),
                    };
                    return failed(code, body.bytes, failure);
                }
            }
        } else {
            Vec::new()
        };
        Outcome {
            status: code,
            bytes: body.bytes,
            fields,
            failure: None,
        }
    }

    /// Streams the body, counting bytes, keeping them only when fields will be extracted.
    async fn read_body(&self, mut response: Response, keep: bool) -> Result<Body, (u64, Failure)> {
        let too_large = |bytes| {
            (
                bytes,
                Failure {
                    kind: ErrorKind::Body,
                    message: format!(
                        "body too large: more than {} bytes (--max-body)",
                        self.max_body
                    ),
                },
            )
        };
        if response.content_length().is_some_and(|n| n > self.max_body) {
            return Err(too_large(0));
        }
        let mut body = Body {
            bytes: 0,
            kept: Vec::new(),
        };
        if keep {
            let hint = response.content_length().unwrap_or(0).min(self.max_body);
            body.kept.reserve(usize::try_from(hint).unwrap_or(0));
        }
        loop {
            match response.chunk().await {
                Ok(Some(chunk)) => {
                    body.bytes += chunk.len() as u64;
                    if body.bytes > self.max_body {
                        return Err(too_large(body.bytes));
                    }
                    if keep {
                        body.kept.extend_from_slice(&chunk);
                    }
                }
                Ok(None) => return Ok(body),
                Err(e) => return Err((body.bytes, self.describe(&e))),
            }
        }
    }

    /// Turns a client error into a kind and a message that names the cause, never the URL.
    fn describe(&self, error: &reqwest::Error) -> Failure {
        let kind = if error.is_timeout() {
            ErrorKind::Timeout
        } else if error.is_connect() {
            ErrorKind::Connect
        } else if error.is_redirect() {
            ErrorKind::Redirect
        } else if error.is_body() || error.is_decode() {
            ErrorKind::Body
        } else {
            ErrorKind::Request
        };
        let message = match kind {
            ErrorKind::Timeout => format!(
                "timed out after {} (--timeout)",
                humantime::format_duration(self.timeout)
            ),
            _ => error_chain(error),
        };
        Failure { kind, message }
    }
}

struct Body {
    bytes: u64,
    kept: Vec<u8>,
}

/// "outer: inner: root cause", without the URL reqwest puts in its own message.
fn error_chain(error: &reqwest::Error) -> String {
    let mut message = match error.url() {
        Some(url) => error.to_string().replace(&format!(" ({url})"), ""),
        None => error.to_string(),
    };
    let mut source = error.source();
    while let Some(cause) = source {
        let text = cause.to_string();
        if !message.contains(&text) {
            message.push_str(": ");
            message.push_str(&text);
        }
        source = cause.source();
    }
    message
}
