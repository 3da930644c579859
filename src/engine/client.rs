//! The HTTP client a run sends on, apart from the run: [`Run::start`](super::Run::start) makes
//! one for itself, and [`Run::start_on`](super::Run::start_on) takes one that outlives it, so a
//! series of runs against one server (the rate search's steps) keeps its connections from one
//! run to the next instead of paying the connect (and TLS) time again at each start.

use std::sync::Arc;

use super::http::connections::ConnectionCounter;
use super::http::transport::Transport;
use super::http::url::UrlRenderer;
use super::{EngineError, JobSpec};
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
        let mut transport = Transport::new(options, concurrency.max(1), &connections)?;
        let urls = UrlRenderer::new(template.clone());
        if let Some((base, headers)) = urls.base().zip(options.shape.fixed_headers()) {
            transport.prepare(base, &headers);
        }
        Ok(Self {
            template: template.clone(),
            transport: Arc::new(transport),
            connections,
        })
    }

    /// The URL template the client was built for (its runs fetch it).
    pub fn template(&self) -> &Template {
        &self.template
    }

    pub(crate) fn transport(&self) -> &Arc<Transport> {
        &self.transport
    }

    /// Counts the connections opened so far, by every run on this client.
    pub(crate) fn counter(&self) -> &ConnectionCounter {
        &self.connections
    }
}
