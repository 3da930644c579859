//! Signals: SIGINT and SIGTERM stop a run gracefully through the job's cancellation handle (the
//! same handle the library exposes); a second one exits at once.

use std::sync::{Arc, OnceLock};

use tokio_util::sync::CancellationToken;

/// The signals that stop a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Signal {
    Interrupt,
    Terminate,
}

impl Signal {
    /// 128 + the signal number, the shell convention: 130 for SIGINT, 143 for SIGTERM.
    pub fn exit_code(self) -> u8 {
        match self {
            Signal::Interrupt => 130,
            Signal::Terminate => 143,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Signal::Interrupt => "SIGINT",
            Signal::Terminate => "SIGTERM",
        }
    }
}

/// Watches for SIGINT and SIGTERM: the first cancels the run (no new requests; in-flight ones get
/// the grace period), a second exits at once. Records are flushed as they are released, so what
/// was written before that exit is whole.
pub(crate) struct SignalWatch {
    received: Arc<OnceLock<Signal>>,
    task: tokio::task::JoinHandle<()>,
}

impl SignalWatch {
    /// Installs the handlers now, before any request can start (a signal that arrived before
    /// the handler would kill the process with nothing written), then watches in the background.
    pub(crate) fn spawn(cancel: CancellationToken, grace: std::time::Duration) -> Self {
        let received = Arc::new(OnceLock::new());
        let first = Arc::clone(&received);
        let mut listener = Listener::install();
        let task = tokio::spawn(async move {
            let Some(signal) = listener.next().await else {
                return;
            };
            let _ = first.set(signal);
            cancel.cancel();
            eprintln!(
                "fetchbench: {}: starting no new requests; in-flight ones get up to {} to finish \
                 (send it again to exit now)",
                signal.name(),
                humantime::format_duration(grace)
            );
            if listener.next().await.is_some() {
                eprintln!("fetchbench: second signal: exiting now");
                std::process::exit(i32::from(signal.exit_code()));
            }
        });
        Self { received, task }
    }

    /// The first signal received, if any.
    pub(crate) fn received(&self) -> Option<Signal> {
        self.received.get().copied()
    }
}

impl Drop for SignalWatch {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// SIGINT and SIGTERM streams, kept for the whole run so no signal falls between two waits.
#[cfg(unix)]
struct Listener {
    streams: Option<(tokio::signal::unix::Signal, tokio::signal::unix::Signal)>,
}

#[cfg(unix)]
impl Listener {
    fn install() -> Self {
        use tokio::signal::unix::{signal, SignalKind};
        let streams = signal(SignalKind::interrupt())
            .and_then(|interrupt| Ok((interrupt, signal(SignalKind::terminate())?)))
            .ok();
        Self { streams }
    }

    /// The next SIGINT or SIGTERM; None if signals cannot be watched here.
    async fn next(&mut self) -> Option<Signal> {
        let (interrupt, terminate) = self.streams.as_mut()?;
        tokio::select! {
            _ = interrupt.recv() => Some(Signal::Interrupt),
            _ = terminate.recv() => Some(Signal::Terminate),
        }
    }
}

#[cfg(not(unix))]
struct Listener;

#[cfg(not(unix))]
impl Listener {
    fn install() -> Self {
        Listener
    }

    async fn next(&mut self) -> Option<Signal> {
        tokio::signal::ctrl_c()
            .await
            .ok()
            .map(|()| Signal::Interrupt)
    }
}
