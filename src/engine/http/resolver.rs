//! Name resolution once per host: the first request to a name looks it up, every later
//! connection reuses the answer for the rest of the run. A load generator asking a resolver
//! again for every connection measures the resolver (vegeta#162: a public resolver answering
//! ~20 queries/s capped a run). The lookup time goes to the request that waited for it. The
//! answers are kept in the run's host table, beside everything else the run knows of a host.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use reqwest::dns::{Addrs, Name, Resolve, Resolving};

use crate::engine::host::HostTable;
use crate::engine::http::connections::note_dns;

/// Looks each host up once for the life of one run, keeping the answer in its entry of the
/// run's host table; shared by reqwest's connector and the direct path (clones share the table).
#[derive(Debug, Clone)]
pub struct ResolveOnce {
    hosts: Arc<HostTable>,
}

impl ResolveOnce {
    /// A resolver keeping its answers in `hosts`.
    pub(crate) fn through(hosts: Arc<HostTable>) -> Self {
        Self { hosts }
    }

    /// The host's addresses (port 0), looked up on the first call only.
    pub(crate) async fn lookup(&self, host: &str) -> std::io::Result<Arc<[SocketAddr]>> {
        let entry = self.hosts.entry(host);
        if let Some(addrs) = entry.addresses() {
            return Ok(addrs);
        }
        let started = Instant::now();
        let found: Arc<[SocketAddr]> = tokio::net::lookup_host((host, 0))
            .await?
            .collect::<Vec<_>>()
            .into();
        note_dns(started.elapsed());
        Ok(entry.keep_addresses(found))
    }
}

impl Resolve for ResolveOnce {
    fn resolve(&self, name: Name) -> Resolving {
        let resolver = self.clone();
        Box::pin(async move {
            let found = resolver.lookup(name.as_str()).await?;
            Ok(addrs_of(&found))
        })
    }
}

/// The addresses as reqwest wants them, sharing the cached list rather than copying it.
fn addrs_of(addrs: &Arc<[SocketAddr]>) -> Addrs {
    let addrs = Arc::clone(addrs);
    Box::new((0..addrs.len()).map(move |i| addrs[i]))
}
