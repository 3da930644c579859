//! Options of the subcommands: `serve`, `merge`, `compare`.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use clap::Args;

use crate::fixture::{FixtureOptions, FixtureTls, TlsSetupError};
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
    /// A finite capacity (`20/s`): answers slow down as the load nears it, as a queue's do
    /// (latency / (1 - load/capacity), the load counted over the last second), and requests
    /// beyond it get `429` with `Retry-After`.
    ///
    /// For trying `--find-rate` against a known answer; `GET /__stats` counts requests and 429s.
    #[arg(long, value_name = "RATE")]
    pub capacity: Option<Rate>,
    /// Serve `https://` with this certificate chain (PEM, leaf first): HTTP/2 or HTTP/1.1 by
    /// ALPN.
    ///
    /// The same server with and without TLS, to try and measure a client's TLS offline;
    /// docs/tls.md makes a throwaway CA and certificate with openssl.
    #[arg(long, value_name = "FILE", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// The private key of --tls-cert (PEM).
    #[arg(long, value_name = "FILE", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
}

impl ServeArgs {
    pub fn addr(&self) -> SocketAddr {
        SocketAddr::new(self.bind, self.port)
    }

    /// The server's options, with the certificate and key read and checked.
    pub fn fixture_options(&self) -> Result<FixtureOptions, TlsSetupError> {
        let tls = match (&self.tls_cert, &self.tls_key) {
            (Some(cert), Some(key)) => Some(FixtureTls::from_pem_files(cert, key)?),
            _ => None,
        };
        Ok(FixtureOptions {
            latency: self.latency,
            jitter: self.jitter,
            rate_limit: self.rate_limit,
            rate_limit_headers: self.rate_limit_headers,
            capacity: self.capacity,
            tls,
        })
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
