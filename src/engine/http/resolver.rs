//! Name resolution once per host: the first request to a name looks it up, every later
//! connection reuses the answer for the rest of the run. A load generator asking a resolver
//! again for every connection measures the resolver (vegeta#162: a public resolver answering
//! ~20 queries/s capped a run). The lookup time goes to the request that waited for it.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use reqwest::dns::{Addrs, Name, Resolve, Resolving};

use crate::engine::http::connections::note_dns;

/// Caches each host's addresses for the life of one run; shared by reqwest's connector and the
/// direct HTTP/1 path (clones share the cache).
#[derive(Debug, Default, Clone)]
pub struct ResolveOnce {
    answers: Arc<Mutex<HashMap<String, Arc<[SocketAddr]>>>>,
}

impl ResolveOnce {
    /// The host's addresses (port 0), looked up on the first call only.
    pub(crate) async fn lookup(&self, host: &str) -> std::io::Result<Arc<[SocketAddr]>> {
        let cached = self.answers.lock().ok().and_then(|a| a.get(host).cloned());
        if let Some(addrs) = cached {
            return Ok(addrs);
        }
        let started = Instant::now();
        let found: Arc<[SocketAddr]> = tokio::net::lookup_host((host, 0))
            .await?
            .collect::<Vec<_>>()
            .into();
        note_dns(started.elapsed());
        if let Ok(mut map) = self.answers.lock() {
            map.insert(host.to_owned(), Arc::clone(&found));
        }
        Ok(found)
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
