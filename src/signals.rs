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
    pub(crate) fn spawn(cancel: CancellationToken, grace: std::time::Duration) -> Self {
        let received = Arc::new(OnceLock::new());
        let first = Arc::clone(&received);
        let task = tokio::spawn(async move {
            let Some(signal) = next_signal().await else {
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
            if next_signal().await.is_some() {
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

/// The next SIGINT or SIGTERM; None if signals cannot be watched here.
#[cfg(unix)]
async fn next_signal() -> Option<Signal> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut interrupt = signal(SignalKind::interrupt()).ok()?;
    let mut terminate = signal(SignalKind::terminate()).ok()?;
    tokio::select! {
        _ = interrupt.recv() => Some(Signal::Interrupt),
        _ = terminate.recv() => Some(Signal::Terminate),
    }
}

#[cfg(not(unix))]
async fn next_signal() -> Option<Signal> {
    tokio::signal::ctrl_c()
        .await
        .ok()
        .map(|()| Signal::Interrupt)
}
