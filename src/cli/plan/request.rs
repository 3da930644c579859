//! What a plan sends, read from files: `--data @FILE`/`--json @FILE` bodies, `-H @FILE` header
//! lists (plus `FETCHBENCH_AUTH`), and the TLS files' errors as the usage errors of their flags.

use reqwest::header::{HeaderName, HeaderValue, AUTHORIZATION};

use super::usage;
use crate::cli::error::AppError;
use crate::cli::values::parse_header;
use crate::cli::HeaderArg;
use crate::engine::http::tls::TlsFileError;
use crate::engine::shape::auth_from_env;

/// A TLS file that cannot be used, as the usage error of the flag that named it.
pub(super) fn tls_usage(error: TlsFileError) -> AppError {
    usage(error.flag, error.to_string())
}

/// The text of `--data`/`--json`: as given, or read from the file after `@`.
pub(super) fn body_text(flag: &'static str, value: &str) -> Result<String, AppError> {
    match value.strip_prefix('@') {
        Some(path) => std::fs::read_to_string(path)
            .map_err(|e| usage(flag, format!("cannot read {path}: {e}"))),
        None => Ok(value.to_owned()),
    }
}

/// Every `-H`, files expanded, plus `FETCHBENCH_AUTH` unless an Authorization was given.
pub(super) fn collect_headers(
    args: Vec<HeaderArg>,
) -> Result<Vec<(HeaderName, HeaderValue)>, AppError> {
    let mut headers = Vec::new();
    for arg in args {
        match arg {
            HeaderArg::One(name, value) => headers.push((name, value)),
            HeaderArg::File(path) => {
                let text = std::fs::read_to_string(&path).map_err(|e| {
                    usage("--header", format!("cannot read {}: {e}", path.display()))
                })?;
                for line in text
                    .lines()
                    .map(str::trim)
                    .filter(|l| !l.is_empty() && !l.starts_with('#'))
                {
                    let header = parse_header(line)
                        .map_err(|e| usage("--header", format!("{}: {e}", path.display())))?;
                    headers.push(header);
                }
            }
        }
    }
    if !headers.iter().any(|(n, _)| n == AUTHORIZATION) {
        headers.extend(auth_from_env());
    }
    Ok(headers)
}

#[cfg(test)]
mod properties;
