//! Which requests go through a proxy: `--proxy` for all of them, else the environment's proxy
//! variables, with `NO_PROXY` read as curl reads it.
//!
//! The decision is made here, per request, rather than left to reqwest: reqwest's `NoProxy`
//! skips IP hosts for `*` (reqwest#2579), and a run must be able to say which of its requests
//! actually went through a proxy, since through one the figures measure the proxy too.

use std::net::IpAddr;

use reqwest::Url;
use thiserror::Error;

use crate::engine::shape;

/// The environment's proxy variables for plain http, in the order they are read.
const HTTP_VARIABLES: [&str; 4] = ["HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy"];
/// The same for https.
const HTTPS_VARIABLES: [&str; 4] = ["HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy"];
/// The hosts that bypass the environment's proxies.
const NO_PROXY_VARIABLES: [&str; 2] = ["NO_PROXY", "no_proxy"];

/// A proxy setting that is not a URL.
#[derive(Debug, Error)]
#[error("{source_name} is not a proxy URL (like http://host:port): {reason}")]
pub struct ProxyError {
    /// `--proxy` or the environment variable it came from.
    source_name: String,
    reason: url::ParseError,
}

/// The proxies of a run and the hosts that bypass them.
#[derive(Debug, Clone, Default)]
pub(crate) struct ProxyRoutes {
    http: Option<Url>,
    https: Option<Url>,
    bypass: NoProxy,
}

impl ProxyRoutes {
    /// `--proxy` for every request when given (NO_PROXY does not apply to it: the user named
    /// it for this run), else the environment's variables.
    pub(crate) fn new(explicit: Option<&str>) -> Result<Self, ProxyError> {
        if let Some(text) = explicit {
            let proxy = parse("--proxy", text)?;
            return Ok(Self {
                http: Some(proxy.clone()),
                https: Some(proxy),
                bypass: NoProxy::default(),
            });
        }
        Ok(Self {
            http: from_env(&HTTP_VARIABLES)?,
            https: from_env(&HTTPS_VARIABLES)?,
            bypass: NoProxy::parse(&first_set(&NO_PROXY_VARIABLES).unwrap_or_default().1),
        })
    }

    /// The proxy a request to `url` goes through, if any.
    pub(crate) fn for_url(&self, url: &Url) -> Option<&Url> {
        let proxy = match url.scheme() {
            "http" => self.http.as_ref(),
            "https" => self.https.as_ref(),
            _ => None,
        }?;
        let host = url.host_str()?;
        (!self.bypass.matches(host)).then_some(proxy)
    }

    /// The proxy of plain-http requests.
    pub(crate) fn http(&self) -> Option<&Url> {
        self.http.as_ref()
    }

    /// The proxy of https requests.
    pub(crate) fn https(&self) -> Option<&Url> {
        self.https.as_ref()
    }

    /// Whether any request could go through a proxy.
    pub(crate) fn any(&self) -> bool {
        self.http.is_some() || self.https.is_some()
    }

    /// The proxies as reqwest takes them, for the client that carries proxied requests.
    pub(crate) fn for_reqwest(&self) -> Result<Vec<reqwest::Proxy>, reqwest::Error> {
        let mut proxies = Vec::new();
        if let Some(http) = &self.http {
            proxies.push(reqwest::Proxy::http(http.as_str())?);
        }
        if let Some(https) = &self.https {
            proxies.push(reqwest::Proxy::https(https.as_str())?);
        }
        Ok(proxies)
    }
}

/// A proxy as records and reports show it: the password redacted.
pub(crate) fn shown(proxy: &Url) -> String {
    shape::redact(proxy)
}

fn parse(source_name: &str, text: &str) -> Result<Url, ProxyError> {
    // curl takes `host:port` as an http proxy; so does reqwest.
    let with_scheme;
    let text = if text.contains("://") {
        text
    } else {
        with_scheme = format!("http://{text}");
        &with_scheme
    };
    Url::parse(text).map_err(|reason| ProxyError {
        source_name: source_name.to_owned(),
        reason,
    })
}

fn from_env(names: &[&str]) -> Result<Option<Url>, ProxyError> {
    first_set(names)
        .map(|(name, value)| parse(name, &value))
        .transpose()
}

/// The first of `names` set to something in the environment, and its value.
fn first_set<'a>(names: &[&'a str]) -> Option<(&'a str, String)> {
    names.iter().find_map(|name| {
        let value = std::env::var(name).ok()?;
        (!value.trim().is_empty()).then_some((*name, value))
    })
}

/// `NO_PROXY` as curl reads it: `*` alone for every host; else a comma- or space-separated list
/// of host names (matching the name and its subdomains, a leading dot optional), IP addresses
/// and CIDR blocks. A port after an entry is ignored.
#[derive(Debug, Clone, Default, PartialEq)]
struct NoProxy {
    all: bool,
    entries: Vec<Entry>,
}

#[derive(Debug, Clone, PartialEq)]
enum Entry {
    Domain(String),
    Net(IpAddr, u8),
}

impl NoProxy {
    fn parse(text: &str) -> Self {
        let items: Vec<&str> = text
            .split([',', ' ', '\t'])
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .collect();
        Self {
            all: items.contains(&"*"),
            entries: items.iter().filter_map(|item| Entry::parse(item)).collect(),
        }
    }

    fn matches(&self, host: &str) -> bool {
        if self.all {
            return true;
        }
        let host = host.trim_start_matches('[').trim_end_matches(']');
        let ip = host.parse::<IpAddr>().ok();
        let host = host.to_ascii_lowercase();
        self.entries.iter().any(|entry| match (entry, ip) {
            (Entry::Net(net, bits), Some(ip)) => in_net(ip, *net, *bits),
            (Entry::Domain(domain), None) => {
                host == *domain
                    || host
                        .strip_suffix(domain.as_str())
                        .is_some_and(|rest| rest.ends_with('.'))
            }
            _ => false,
        })
    }
}

impl Entry {
    fn parse(item: &str) -> Option<Self> {
        if item == "*" {
            return None;
        }
        let (address, bits) = match item.split_once('/') {
            Some((address, bits)) => (address, Some(bits.parse::<u8>().ok()?)),
            None => (item, None),
        };
        let bare = address.trim_start_matches('[');
        let bare = bare.split_once(']').map_or(bare, |(ip, _)| ip);
        if let Ok(ip) = bare.parse::<IpAddr>() {
            let full = if ip.is_ipv4() { 32 } else { 128 };
            return Some(Entry::Net(ip, bits.unwrap_or(full).min(full)));
        }
        // `host:port`: the port is ignored, as curl does.
        let name = address.rsplit_once(':').map_or(address, |(host, _)| host);
        let name = name.trim_start_matches('.').to_ascii_lowercase();
        (!name.is_empty()).then_some(Entry::Domain(name))
    }
}

/// Whether `ip` is in `net/bits`.
fn in_net(ip: IpAddr, net: IpAddr, bits: u8) -> bool {
    let prefix = |a: u128, width: u8| {
        if bits == 0 {
            0
        } else {
            a >> (width - bits)
        }
    };
    match (ip, net) {
        (IpAddr::V4(a), IpAddr::V4(b)) => {
            prefix(u32::from(a).into(), 32) == prefix(u32::from(b).into(), 32)
        }
        (IpAddr::V6(a), IpAddr::V6(b)) => prefix(a.into(), 128) == prefix(b.into(), 128),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bypassed(no_proxy: &str, host: &str) -> bool {
        NoProxy::parse(no_proxy).matches(host)
    }

    #[test]
    fn a_star_bypasses_every_host_ip_addresses_included() {
        assert!(bypassed("*", "127.0.0.1"));
        assert!(bypassed("*", "[::1]"));
        assert!(bypassed("example.com, *", "pokeapi.co"));
        assert!(!bypassed("", "127.0.0.1"));
    }

    #[test]
    fn names_match_themselves_and_their_subdomains() {
        assert!(bypassed("example.com", "example.com"));
        assert!(bypassed("example.com", "api.EXAMPLE.com"));
        assert!(bypassed(".example.com", "api.example.com"));
        assert!(bypassed(".example.com", "example.com"));
        assert!(!bypassed("example.com", "badexample.com"));
        assert!(bypassed("localhost:8080", "localhost"));
        assert!(!bypassed("example.com", "127.0.0.1"));
    }

    #[test]
    fn addresses_and_blocks_match_ip_hosts() {
        assert!(bypassed("127.0.0.1", "127.0.0.1"));
        assert!(!bypassed("127.0.0.1", "127.0.0.2"));
        assert!(bypassed("10.0.0.0/8 192.168.1.1", "10.20.30.40"));
        assert!(!bypassed("10.0.0.0/8", "11.0.0.1"));
        assert!(bypassed("::1", "[::1]"));
        assert!(bypassed("[::1]", "::1"));
        assert!(bypassed("fd00::/8", "[fd12::1]"));
        assert!(bypassed("0.0.0.0/0", "8.8.8.8"));
    }

    #[test]
    fn a_proxy_without_a_scheme_is_http() {
        let proxy = parse("--proxy", "127.0.0.1:3128").expect("a proxy");
        assert_eq!(proxy.as_str(), "http://127.0.0.1:3128/");
        assert!(parse("--proxy", "http://[::1").is_err());
    }
}
