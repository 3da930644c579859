//! The HTTP client a run sends on, apart from the run: [`Run::start`](super::Run::start) makes
//! one for itself, and [`Run::start_on`](super::Run::start_on) takes one that outlives it, so a
//! series of runs against one server (the rate search's steps) keeps its connections from one
//! run to the next instead of paying the connect (and TLS) time again at each start.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use super::host::{HostTable, Politeness};
use super::http::advertised::LimitWatch;
use super::http::connections::ConnectionCounter;
use super::http::transport::Transport;
use super::http::url::UrlRenderer;
use super::spec::{EngineError, JobSpec};
use crate::plan::template::Template;

/// Connections to the servers of one URL template, kept open between the runs started on them,
/// and the count of those opened.
///
/// Built from a job's client options (TLS, proxies, keep-alive, timeouts): the runs started on
/// it use those, whatever their own job's client options say; their rate, deadline and the
/// like are their own.
#[derive(Debug, Clone)]
pub struct Client {
    template: Template,
    transport: Arc<Transport>,
    connections: ConnectionCounter,
    /// The hosts the client has met: their addresses (the transport resolves through it) and,
    /// for the first run on the client, what holds their requests back.
    hosts: Arc<HostTable>,
    politeness: Politeness,
    /// Whether a run has taken `hosts` already.
    taken: Arc<AtomicBool>,
}

impl Client {
    /// A client for `template`'s requests under `job`'s client options, pooling up to
    /// `concurrency` idle connections per host (through a proxy; the direct road keeps every
    /// connection a request gives back).
    pub fn new(
        template: &Template,
        job: &JobSpec,
        concurrency: usize,
    ) -> Result<Self, EngineError> {
        let options = &job.client;
        let connections = ConnectionCounter::default();
        let politeness = Politeness {
            backoff: options.backoff,
            max_pause: options.retry.max_retry_wait,
            auto_throttle: options.auto_throttle,
            concurrency: options.host_concurrency,
            rate: options.host_rate,
            robots: options.robots,
        };
        let hosts = Arc::new(HostTable::new(politeness.clone()));
        let mut transport = Transport::new(options, concurrency.max(1), &connections, &hosts)?;
        let urls = UrlRenderer::new(template.clone());
        if let Some((base, headers)) = urls.base().zip(options.shape.fixed_headers()) {
            transport.prepare(base, &headers);
        }
        Ok(Self {
            template: template.clone(),
            transport: Arc::new(transport),
            connections,
            hosts,
            politeness,
            taken: Arc::new(AtomicBool::new(false)),
        })
    }

    /// The URL template the client was built for (its runs fetch it).
    pub fn template(&self) -> &Template {
        &self.template
    }

    /// What the responses of every run on this client said of rate limits: read when its job's
    /// options ask ([`ClientOptions::watch_limits`](super::ClientOptions::watch_limits)), empty
    /// otherwise.
    pub fn limits(&self) -> &LimitWatch {
        self.transport.limits()
    }

    pub(crate) fn transport(&self) -> &Arc<Transport> {
        &self.transport
    }

    /// The host table a run keeps its hosts' politeness in: the client's own for the first run
    /// on it, so a single run has one table; a fresh one for each later run, so a rate-search
    /// step does not start under the last step's push-back pauses and AIMD limits (the search
    /// waits those out itself). Addresses stay in the client's table, for every run.
    pub(crate) fn hosts_for_run(&self) -> Arc<HostTable> {
        if self.taken.swap(true, Ordering::Relaxed) {
            Arc::new(HostTable::new(self.politeness.clone()))
        } else {
            Arc::clone(&self.hosts)
        }
    }

    /// Counts the connections opened so far, by every run on this client.
    pub(crate) fn counter(&self) -> &ConnectionCounter {
        &self.connections
    }
}
