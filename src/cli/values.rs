//! Values of the command line's flags: each parser turns one argument into a typed value or a
//! message naming what is wrong, so clap reports it against its flag (exit 2) before any request.

use std::path::PathBuf;
use std::time::Duration;

use reqwest::header::{HeaderName, HeaderValue};

use crate::engine::shape::is_credential;
use crate::plan::rate::parse_duration;
use crate::plan::template::Template;

pub(super) fn parse_at_least_one(text: &str) -> Result<u64, String> {
    match text.parse::<u64>() {
        Ok(0) => Err("must be at least 1".to_owned()),
        Ok(n) => Ok(n),
        Err(_) if text.starts_with('-') && text[1..].parse::<u64>().is_ok() => {
            Err(format!("`{text}` is negative: it must be at least 1"))
        }
        Err(_) => Err(format!("`{text}` is not a whole number")),
    }
}

/// `--burst`: a count of at least 1, in clap's words for the flag rather than the type's.
pub(super) fn parse_burst(text: &str) -> Result<std::num::NonZeroU32, String> {
    let n = parse_at_least_one(text)?;
    u32::try_from(n)
        .ok()
        .and_then(std::num::NonZeroU32::new)
        .ok_or_else(|| format!("`{text}` is too large (at most {})", u32::MAX))
}

/// A target concurrency (`--auto-throttle`): a positive number, fractions allowed.
pub(super) fn parse_target(text: &str) -> Result<f64, String> {
    match text.trim().parse::<f64>() {
        Ok(n) if n.is_finite() && n > 0.0 => Ok(n),
        Ok(_) => Err(format!("`{text}` must be a number above 0 (e.g. 1, 2.5)")),
        Err(_) => Err(format!("`{text}` is not a number (e.g. 1, 2.5)")),
    }
}

pub(super) fn parse_concurrency(text: &str) -> Result<usize, String> {
    let n = parse_at_least_one(text)?;
    usize::try_from(n).map_err(|_| format!("`{text}` is too large"))
}

pub(super) fn parse_size(text: &str) -> Result<u64, String> {
    text.trim()
        .parse::<bytesize::ByteSize>()
        .map(|size| size.as_u64())
        .map_err(|_| format!("`{text}` is not a size (examples: 64MiB, 512KiB, 1000000)"))
}

pub(super) fn parse_positive_duration(text: &str) -> Result<Duration, String> {
    match parse_duration(text) {
        Ok(d) if d.is_zero() => Err("must be longer than zero".to_owned()),
        Ok(d) => Ok(d),
        Err(e) => Err(format!("`{text}`: {e} (examples: 30s, 500ms, 2m)")),
    }
}

/// A `-H` argument: one header, or a file of them.
#[derive(Debug, Clone)]
pub enum HeaderArg {
    One(HeaderName, HeaderValue),
    File(PathBuf),
}

pub(super) fn parse_header_arg(text: &str) -> Result<HeaderArg, String> {
    match text.strip_prefix('@') {
        Some(path) => Ok(HeaderArg::File(PathBuf::from(path))),
        None => parse_header(text).map(|(n, v)| HeaderArg::One(n, v)),
    }
}

pub(super) fn parse_user_agent(text: &str) -> Result<String, String> {
    HeaderValue::from_str(text)
        .map(|_| text.to_owned())
        .map_err(|_| "is not a valid header value (control characters?)".to_owned())
}

/// A URL template; one without a placeholder passes here and is refused later unless the run
/// crawls from it (see `plan`).
pub(super) fn parse_url_template(text: &str) -> Result<String, String> {
    Template::parse_url_or_fixed(text, false)
        .map(|_| text.to_owned())
        .map_err(|e| e.to_string())
}

pub(super) fn parse_resolve(text: &str) -> Result<(String, std::net::SocketAddr), String> {
    let bad = || format!("`{text}` is not HOST:PORT:ADDR (e.g. pokeapi.test:8000:127.0.0.1)");
    let (host, rest) = text.split_once(':').ok_or_else(bad)?;
    let (port, addr) = rest.split_once(':').ok_or_else(bad)?;
    let port: u16 = port.parse().map_err(|_| bad())?;
    let addr = addr.trim_start_matches('[').trim_end_matches(']');
    let ip: std::net::IpAddr = addr.parse().map_err(|_| bad())?;
    if host.is_empty() {
        return Err(bad());
    }
    Ok((host.to_owned(), std::net::SocketAddr::new(ip, port)))
}

pub(super) fn parse_method(text: &str) -> Result<reqwest::Method, String> {
    reqwest::Method::from_bytes(text.to_ascii_uppercase().as_bytes())
        .map_err(|_| format!("`{text}` is not an HTTP method"))
}

/// `Name: value` into a typed header; the value's bytes are checked, never printed back.
pub(super) fn parse_header(text: &str) -> Result<(HeaderName, HeaderValue), String> {
    let (name, value) = text
        .split_once(':')
        .ok_or_else(|| "expected 'Name: value'".to_owned())?;
    let name = HeaderName::from_bytes(name.trim().as_bytes())
        .map_err(|_| format!("`{}` is not a valid header name", name.trim()))?;
    let mut value = HeaderValue::from_str(value.trim())
        .map_err(|_| format!("the value of `{name}` has characters not allowed in a header"))?;
    value.set_sensitive(is_credential(&name));
    Ok((name, value))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers() {
        let (name, value) = parse_header("X-Key:  abc ").unwrap();
        assert_eq!(name, "x-key");
        assert_eq!(value, "abc");
        assert!(parse_header("no colon").is_err());
        assert!(parse_header("bad name: x").is_err());
    }

    #[test]
    fn sizes() {
        assert_eq!(parse_size("64MiB"), Ok(64 * 1024 * 1024));
        assert_eq!(parse_size("512KiB"), Ok(512 * 1024));
        assert_eq!(parse_size("1000"), Ok(1000));
        assert!(parse_size("big").is_err());
    }

    #[test]
    fn concurrency() {
        assert_eq!(parse_concurrency("8"), Ok(8));
        assert!(parse_concurrency("0").is_err());
        assert!(parse_concurrency("many").is_err());
    }
}

#[cfg(test)]
mod properties;
