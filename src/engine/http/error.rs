//! How an exchange failed on whichever stack carried it, and the one question the transport and
//! the failure's description both ask of it: did an open connection drop mid-exchange?

use crate::engine::http::direct::DirectError;

/// A failed exchange, from whichever road carried it.
#[derive(Debug)]
pub(crate) enum TransportError {
    /// Through a proxy, on reqwest.
    Pooled(reqwest::Error),
    Direct(DirectError),
    /// The run's TLS configuration could not be built (no trusted roots, a refused key).
    TlsSetup(rustls::Error),
}

impl TransportError {
    /// Whether the server said it did not process the request (see
    /// `DirectError::is_unprocessed`).
    pub(crate) fn is_unprocessed(&self) -> bool {
        matches!(self, TransportError::Direct(e) if e.is_unprocessed())
    }

    /// Whether an open connection dropped before the exchange ended (reset, closed early); a
    /// connect that failed (a handshake cut short) is not one.
    pub(crate) fn is_cut_short(&self) -> bool {
        match self {
            TransportError::Pooled(e) => !e.is_connect() && is_cut_short(e),
            TransportError::Direct(DirectError::Http(e)) => is_cut_short(e),
            TransportError::Direct(_) | TransportError::TlsSetup(_) => false,
        }
    }
}

/// True when the connection dropped mid-exchange (reset, closed before the response ended):
/// transient by nature, though reqwest reports it as a plain request error.
pub(crate) fn is_cut_short(error: &(dyn std::error::Error + 'static)) -> bool {
    let mut source = Some(error);
    while let Some(cause) = source {
        if let Some(hyper_error) = cause.downcast_ref::<hyper::Error>() {
            if hyper_error.is_incomplete_message() || hyper_error.is_canceled() {
                return true;
            }
        }
        if let Some(io_error) = cause.downcast_ref::<std::io::Error>() {
            use std::io::ErrorKind as Io;
            if matches!(
                io_error.kind(),
                Io::ConnectionReset | Io::ConnectionAborted | Io::BrokenPipe | Io::UnexpectedEof
            ) {
                return true;
            }
        }
        source = cause.source();
    }
    false
}
