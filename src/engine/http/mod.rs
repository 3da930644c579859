//! Which HTTP stack carries a request and how: the transport that chooses between the direct
//! HTTP/1 path and reqwest, the reply both answer with, connections and their timing, name
//! resolution, proxies, TLS settings, and the URL each id is sent to.

pub mod advertised;
pub mod client;
pub mod connections;
pub(crate) mod direct;
pub(crate) mod error;
pub mod proxy;
pub(crate) mod reply;
pub(crate) mod resolver;
pub(crate) mod timers;
pub mod tls;
pub(crate) mod transport;
pub mod url;
