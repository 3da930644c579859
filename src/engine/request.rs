//! One id, start to record: send, read the body under a size cap, extract the fields, and retry
//! transient failures.
//!
//! Sequential and concurrent runs both call [`Fetcher::fetch`]; they differ only in how many
//! fetches the scheduler lets run at once. The retry loop wraps send *and* body read, so a
//! connection reset halfway through a body is retried like a refused connection. Every failure
//! ends as a [`Failure`] on the record, never as a panic or a gap.

use std::error::Error as _;
use std::sync::Arc;
use std::time::{Duration, Instant};

use reqwest::header::{HeaderMap, HeaderValue, ACCEPT_ENCODING};
use reqwest::{Client, Response};
use serde_json::Value;
use tokio_util::sync::CancellationToken;

use super::decode::{self, BodyDecoder, DecodeError, Encoding};
use super::pacer::Pacer;
use super::retry::{is_transient_status, retry_after, RetryPolicy, Transience};
use crate::extract::FieldSet;
use crate::plan::template::Template;
use crate::record::{ErrorKind, Failure, Record};

/// How the HTTP client is set up for a run.
#[derive(Debug, Clone)]
pub struct ClientOptions {
    pub headers: HeaderMap,
    pub user_agent: String,
    /// Per attempt, from connect to the end of the body.
    pub timeout: Duration,
    pub connect_timeout: Duration,
    pub max_redirects: usize,
    /// Bodies larger than this (after decompression) fail with "body too large" once it is passed.
    pub max_body: u64,
    /// Accept invalid TLS certificates.
    pub insecure: bool,
    /// Ask for compressed bodies (gzip, br, zstd, deflate) and decode them.
    pub compression: bool,
    pub retry: RetryPolicy,
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
            insecure: false,
            compression: true,
            retry: RetryPolicy::default(),
        }
    }
}

/// Everything a request task needs, shared by all tasks of a run.
#[derive(Debug)]
pub struct Fetcher {
    client: Client,
    template: Template,
    fields: FieldSet,
    options: ClientOptions,
    /// Retries wait for the same limiter as first attempts.
    pacer: Arc<Pacer>,
    /// Once cancelled, no retry starts; the last attempt's outcome stands.
    cancel: CancellationToken,
}

/// What one attempt gave.
struct Attempt {
    status: Option<u16>,
    bytes: u64,
    wire_bytes: u64,
    fields: Vec<Value>,
    failure: Option<Failure>,
    transience: Transience,
}

impl Fetcher {
    /// Builds a client whose idle pool holds one connection per concurrent slot.
    pub fn new(
        template: Template,
        fields: FieldSet,
        options: &ClientOptions,
        concurrency: usize,
        pacer: Arc<Pacer>,
        cancel: CancellationToken,
    ) -> Result<Self, reqwest::Error> {
        let mut headers = options.headers.clone();
        if options.compression && !headers.contains_key(ACCEPT_ENCODING) {
            headers.insert(
                ACCEPT_ENCODING,
                HeaderValue::from_static(decode::ACCEPT_ENCODING),
            );
        }
        let client = Client::builder()
            .user_agent(options.user_agent.clone())
            .default_headers(headers)
            .timeout(options.timeout)
            .connect_timeout(options.connect_timeout)
            .redirect(reqwest::redirect::Policy::limited(options.max_redirects))
            .danger_accept_invalid_certs(options.insecure)
            .pool_max_idle_per_host(concurrency)
            .tcp_nodelay(true)
            .build()?;
        Ok(Self {
            client,
            template,
            fields,
            options: options.clone(),
            pacer,
            cancel,
        })
    }

    /// The URL for `id`.
    pub fn url(&self, id: u64) -> String {
        self.template.render(id)
    }

    /// Fetches one id, retrying as the policy allows; `epoch` is the start of the run. The
    /// elapsed time covers every attempt and the waits between them.
    pub async fn fetch(&self, index: u64, id: u64, epoch: Instant) -> Record {
        let url = self.url(id);
        let start = Instant::now();
        let mut attempts = 1;
        let mut attempt = self.attempt(&url).await;
        while let Some(wait) = attempt
            .failure
            .as_ref()
            .and_then(|_| self.options.retry.wait_before(attempts, attempt.transience))
        {
            if !self.pause(wait).await {
                break;
            }
            attempts += 1;
            attempt = self.attempt(&url).await;
        }
        Record {
            index,
            id,
            url,
            status: attempt.status,
            elapsed: start.elapsed(),
            started: start.saturating_duration_since(epoch),
            bytes: attempt.bytes,
            wire_bytes: attempt.wire_bytes,
            attempts,
            failure: attempt.failure,
            fields: attempt.fields,
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

    async fn attempt(&self, url: &str) -> Attempt {
        let response = match self.client.get(url).send().await {
            Ok(response) => response,
            Err(e) => return self.failed(None, Sizes::default(), self.describe(&e)),
        };
        let status = response.status();
        let code = Some(status.as_u16());
        let transience = if is_transient_status(status.as_u16()) {
            Transience::Transient {
                retry_after: retry_after(response.headers()),
            }
        } else {
            Transience::Permanent
        };
        let keep_body = status.is_success() && !self.fields.is_empty();
        let body = match self.read_body(response, keep_body).await {
            Ok(body) => body,
            Err((sizes, failure)) => return self.failed(code, sizes, failure),
        };
        if !status.is_success() {
            let failure = (
                Failure {
                    kind: ErrorKind::Status,
                    message: format!("HTTP {status}"),
                },
                transience,
            );
            return self.failed(code, body.sizes, failure);
        }
        if !keep_body {
            return self.succeeded(code, body.sizes, Vec::new());
        }
        match self.fields.extract(&body.kept) {
            Ok(values) => self.succeeded(code, body.sizes, values),
            Err(e) => {
                let failure = Failure {
                    kind: ErrorKind::Json,
                    message: e.to_string(),
                };
                self.failed(code, body.sizes, (failure, Transience::Permanent))
            }
        }
    }

    fn succeeded(&self, status: Option<u16>, sizes: Sizes, fields: Vec<Value>) -> Attempt {
        Attempt {
            status,
            bytes: sizes.decoded,
            wire_bytes: sizes.wire,
            fields,
            failure: None,
            transience: Transience::Permanent,
        }
    }

    fn failed(
        &self,
        status: Option<u16>,
        sizes: Sizes,
        (failure, transience): (Failure, Transience),
    ) -> Attempt {
        Attempt {
            status,
            bytes: sizes.decoded,
            wire_bytes: sizes.wire,
            fields: vec![Value::Null; self.fields.paths().len()],
            failure: Some(failure),
            transience,
        }
    }

    /// Streams the body through its decoder, counting wire and decoded bytes, keeping the decoded
    /// bytes only when fields will be extracted. Stops as soon as the decoded count passes the cap,
    /// so an endless body or a compression bomb costs at most the cap.
    async fn read_body(
        &self,
        mut response: Response,
        keep: bool,
    ) -> Result<Body, (Sizes, (Failure, Transience))> {
        let cap = self.options.max_body;
        let mut sizes = Sizes::default();
        let body_error = |sizes, message: String| {
            let failure = Failure {
                kind: ErrorKind::Body,
                message,
            };
            Err((sizes, (failure, Transience::Permanent)))
        };
        let too_large = |sizes| {
            body_error(
                sizes,
                format!("body too large: more than {cap} bytes (--max-body)"),
            )
        };
        let encoding = match Encoding::of(response.headers()) {
            Ok(encoding) => encoding,
            Err(e) => return body_error(sizes, e.to_string()),
        };
        let wire_length = response.content_length();
        if encoding == Encoding::Identity && wire_length.is_some_and(|n| n > cap) {
            return too_large(sizes);
        }
        let hint = if encoding == Encoding::Identity {
            wire_length.unwrap_or(0)
        } else {
            0
        };
        let mut decoder = match BodyDecoder::new(encoding, cap, keep, hint) {
            Ok(decoder) => decoder,
            Err(e) => return body_error(sizes, e.to_string()),
        };
        loop {
            match response.chunk().await {
                Ok(Some(chunk)) => {
                    sizes.wire += chunk.len() as u64;
                    if let Err(e) = decoder.write(&chunk) {
                        return match e {
                            DecodeError::TooLarge => too_large(sizes),
                            other => body_error(sizes, other.to_string()),
                        };
                    }
                }
                Ok(None) => break,
                Err(e) => return Err((sizes, self.describe(&e))),
            }
        }
        match decoder.finish() {
            Ok(decoded) => {
                sizes.decoded = decoded.bytes;
                Ok(Body {
                    sizes,
                    kept: decoded.kept,
                })
            }
            Err(DecodeError::TooLarge) => too_large(sizes),
            Err(other) => body_error(sizes, other.to_string()),
        }
    }

    /// Turns a client error into a kind, a message that names the cause (never the URL, which
    /// may carry credentials), and whether another attempt could succeed.
    fn describe(&self, error: &reqwest::Error) -> (Failure, Transience) {
        let transient = Transience::Transient { retry_after: None };
        let (kind, transience, message) = if error.is_timeout() {
            let message = if error.is_connect() {
                timed_out(
                    "connect timed out",
                    self.options.connect_timeout,
                    "--connect-timeout",
                )
            } else {
                timed_out("timed out", self.options.timeout, "--timeout")
            };
            (ErrorKind::Timeout, transient, message)
        } else if error.is_connect() {
            (ErrorKind::Connect, transient, error_chain(error))
        } else if error.is_redirect() {
            (
                ErrorKind::Redirect,
                Transience::Permanent,
                error_chain(error),
            )
        } else if error.is_body() || is_cut_short(error) {
            (ErrorKind::Body, transient, error_chain(error))
        } else if error.is_decode() {
            (ErrorKind::Body, Transience::Permanent, error_chain(error))
        } else {
            (
                ErrorKind::Request,
                Transience::Permanent,
                error_chain(error),
            )
        };
        (Failure { kind, message }, transience)
    }
}

fn timed_out(what: &str, after: Duration, flag: &str) -> String {
    format!(
        "{what} after {} ({flag})",
        humantime::format_duration(after)
    )
}

/// True when the connection dropped mid-exchange (reset, closed before the response ended):
/// transient by nature, though reqwest reports it as a plain request error.
fn is_cut_short(error: &reqwest::Error) -> bool {
    let mut source = error.source();
    while let Some(cause) = source {
        if let Some(hyper_error) = cause.downcast_ref::<hyper::Error>() {
            if hyper_error.is_incomplete_message() || hyper_error.is_canceled() {
                return true;
            }
        }
        if let Some(io_error) = cause.downcast_ref::<std::io::Error>() {
            use std::io::ErrorKind as Io;
            if matches!(
                io_error.kind(),
                Io::ConnectionReset | Io::ConnectionAborted | Io::BrokenPipe | Io::UnexpectedEof
            ) {
                return true;
            }
        }
        source = cause.source();
    }
    false
}

/// Body sizes of one attempt: as received and as decoded.
#[derive(Debug, Clone, Copy, Default)]
struct Sizes {
    wire: u64,
    decoded: u64,
}

struct Body {
    sizes: Sizes,
    kept: Vec<u8>,
}

/// "outer: inner: root cause", without the URL reqwest puts in its own message.
fn error_chain(error: &reqwest::Error) -> String {
    let mut message = error.to_string();
    if let Some(url) = error.url() {
        message = message
            .replace(&format!(" for url ({url})"), "")
            .replace(&format!(" ({url})"), "");
    }
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
