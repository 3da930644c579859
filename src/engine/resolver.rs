//! Name resolution once per host: the first request to a name looks it up, every later
//! connection reuses the answer for the rest of the run. A load generator asking a resolver
//! again for every connection measures the resolver (vegeta#162: a public resolver answering
//! ~20 queries/s capped a run). The lookup time goes to the request that waited for it.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use reqwest::dns::{Addrs, Name, Resolve, Resolving};

use super::connections::note_dns;

/// Caches each host's addresses for the life of one client (one run).
#[derive(Debug, Default)]
pub struct ResolveOnce {
    answers: Arc<Mutex<HashMap<String, Arc<[SocketAddr]>>>>,
}

impl Resolve for ResolveOnce {
    fn resolve(&self, name: Name) -> Resolving {
        let host = name.as_str().to_owned();
        let cached = self.answers.lock().ok().and_then(|a| a.get(&host).cloned());
        if let Some(addrs) = cached {
            return Box::pin(async move { Ok(addrs_of(&addrs)) });
        }
        let started = Instant::now();
        let answers = Arc::clone(&self.answers);
        Box::pin(async move {
            let found: Arc<[SocketAddr]> = tokio::net::lookup_host((host.as_str(), 0))
                .await?
                .collect::<Vec<_>>()
                .into();
            note_dns(started.elapsed());
            if let Ok(mut map) = answers.lock() {
                map.insert(host, Arc::clone(&found));
            }
            Ok(addrs_of(&found))
        })
    }
}

/// The addresses as reqwest wants them, sharing the cached list rather than copying it.
fn addrs_of(addrs: &Arc<[SocketAddr]>) -> Addrs {
    let addrs = Arc::clone(addrs);
    Box::new((0..addrs.len()).map(move |i| addrs[i]))
}
