//! What went wrong with a request, in words a user can act on: a kind to count, a message that
//! names the cause (and the flag that governs it), never the URL (it may carry credentials), and
//! whether another attempt could succeed.

use std::time::Duration;

use crate::engine::fetch::retry::Transience;
use crate::engine::http::direct::DirectError;
use crate::engine::http::error::{is_cut_short, TransportError};
use crate::engine::http::tls;
use crate::engine::options::head_limits;
use crate::engine::options::ClientOptions;
use crate::record::{ErrorKind, Failure};

/// Classifies a failed exchange; `options` supplies the timeouts the messages name.
pub(crate) fn describe(error: &TransportError, options: &ClientOptions) -> (Failure, Transience) {
    let (mut failure, transience) = match error {
        TransportError::Pooled(e) => describe_pooled(e, options),
        TransportError::Direct(e) => describe_direct(e, options),
        TransportError::TlsSetup(e) => permanent(ErrorKind::Tls, format!("TLS set-up: {e}")),
    };
    // The two settings whose failure reads as the server's: say which side gave up.
    match failure.kind {
        ErrorKind::Connect if options.proxy.is_some() => {
            failure.message = format!(
                "cannot reach the proxy (--proxy), or it could not reach the server: {}",
                failure.message
            );
        }
        ErrorKind::Request | ErrorKind::Body if options.http2 => {
            failure.message.push_str(
                " (with --http2 the request is HTTP/2 from its first byte: the server may not \
                 speak HTTP/2, or not without TLS (h2c); drop --http2)",
            );
        }
        _ => {}
    }
    (failure, transience)
}

/// Classifies an error of the direct road, in the words reqwest would use.
fn describe_direct(error: &DirectError, options: &ClientOptions) -> (Failure, Transience) {
    let transient = Transience::Transient { retry_after: None };
    let inner: Option<&(dyn std::error::Error + 'static)> = match error {
        DirectError::Tls(e) => Some(e),
        DirectError::Http(e) => Some(e),
        _ => None,
    };
    if let Some(described) = inner.and_then(describe_tls) {
        return described;
    }
    let (kind, transience, message) = match error {
        DirectError::ConnectTimeout => (
            ErrorKind::Timeout,
            transient,
            timed_out(
                "connect timed out",
                options.connect_timeout,
                "--connect-timeout",
            ),
        ),
        DirectError::Timeout => (
            ErrorKind::Timeout,
            transient,
            timed_out("timed out", options.timeout, "--timeout"),
        ),
        DirectError::Resolve(_) | DirectError::Connect(_) => {
            (ErrorKind::Connect, transient, chain(error))
        }
        // Not a certificate's fault (that is `describe_tls`'s): the handshake was cut short.
        DirectError::Tls(_) => (ErrorKind::Connect, transient, chain(error)),
        DirectError::TlsSetup(_) => (ErrorKind::Tls, Transience::Permanent, chain(error)),
        DirectError::Http(e) if is_cut_short(e) => (ErrorKind::Body, transient, chain(error)),
        DirectError::Http(e) if e.is_parse_too_large() => (
            ErrorKind::Request,
            Transience::Permanent,
            head_too_large(options),
        ),
        DirectError::Http(_) => (ErrorKind::Request, Transience::Permanent, chain(error)),
    };
    (Failure { kind, message }, transience)
}

/// Classifies a reqwest error.
fn describe_pooled(error: &reqwest::Error, options: &ClientOptions) -> (Failure, Transience) {
    let transient = Transience::Transient { retry_after: None };
    let (kind, transience, message) = if error.is_timeout() {
        let message = if error.is_connect() {
            timed_out(
                "connect timed out",
                options.connect_timeout,
                "--connect-timeout",
            )
        } else {
            timed_out("timed out", options.timeout, "--timeout")
        };
        (ErrorKind::Timeout, transient, message)
    } else if let Some(described) = describe_tls(error) {
        // Before the connect test: a certificate error is a connect error to reqwest, yet no
        // retry can fix it.
        return described;
    } else if error.is_connect() {
        (ErrorKind::Connect, transient, error_chain(error))
    } else if error.is_redirect() {
        (
            ErrorKind::Redirect,
            Transience::Permanent,
            error_chain(error),
        )
    } else if head_was_too_large(error) {
        (
            ErrorKind::Request,
            Transience::Permanent,
            head_too_large(options),
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

/// A failure whose cause is a rustls error, named with what fixes it; permanent unless it may
/// be a one-off. A client certificate refused under TLS 1.3 surfaces after the handshake, on
/// reading the response; over HTTP/2 not even then, as h2 keeps only the text of the io errors
/// it passes on.
fn describe_tls(error: &(dyn std::error::Error + 'static)) -> Option<(Failure, Transience)> {
    let cause = tls::rustls_cause(error)?;
    let advice = tls::advice(cause);
    let message = match advice.fix {
        Some(fix) => format!("TLS: {cause}: {fix}"),
        None => format!("TLS: {cause}"),
    };
    let transience = if advice.transient {
        Transience::Transient { retry_after: None }
    } else {
        Transience::Permanent
    };
    let failure = Failure {
        kind: ErrorKind::Tls,
        message,
    };
    Some((failure, transience))
}

/// A failure no retry can fix.
pub(crate) fn permanent(kind: ErrorKind, message: String) -> (Failure, Transience) {
    (Failure { kind, message }, Transience::Permanent)
}

/// A response head over hyper's limits (see `client::head_limits`): hyper reports too many fields
/// and too many bytes alike, so the message names both.
fn head_too_large(options: &ClientOptions) -> String {
    format!(
        "response head too large: more than {} header fields (--max-headers) or {} KiB in all \
         (the response head limits)",
        options.max_headers,
        head_limits::HEAD_BYTES / 1024
    )
}

/// The message for a header field over `head_limits::FIELD_BYTES`.
pub(crate) fn field_too_large(name: &str, bytes: usize) -> String {
    format!(
        "response header `{name}` too large: {bytes} bytes, more than the {} KiB a header field \
         may have (the response head limits)",
        head_limits::FIELD_BYTES / 1024
    )
}

fn head_was_too_large(error: &(dyn std::error::Error + 'static)) -> bool {
    let mut source = Some(error);
    while let Some(cause) = source {
        if let Some(hyper_error) = cause.downcast_ref::<hyper::Error>() {
            return hyper_error.is_parse_too_large();
        }
        source = cause.source();
    }
    false
}

/// "body too large: more than N bytes (--max-body)".
pub(crate) fn too_large(cap: u64) -> String {
    format!("body too large: more than {cap} bytes (--max-body)")
}

fn timed_out(what: &str, after: Duration, flag: &str) -> String {
    format!(
        "{what} after {} ({flag})",
        humantime::format_duration(after)
    )
}

/// "outer: inner: root cause".
fn chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut message = error.to_string();
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

/// "outer: inner: root cause", without the URL reqwest puts in its own message.
fn error_chain(error: &reqwest::Error) -> String {
    let message = chain(error);
    match error.url() {
        Some(url) => message
            .replace(&format!(" for url ({url})"), "")
            .replace(&format!(" ({url})"), ""),
        None => message,
    }
}
