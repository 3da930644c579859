//! One work item from send to record: the request as the job shapes it, redirects followed with
//! the credential rules, retries with backoff, failures in words a user can act on, and the
//! body decoded and its fields extracted (settled) off the request's slot.

pub(crate) mod cache;
pub mod decode;
pub(crate) mod failure;
pub(crate) mod host_limits;
pub(crate) mod pushback;
mod redirect;
pub mod request;
pub mod retry;
pub(crate) mod robots;
pub(crate) mod settle;
pub(crate) mod throttle;
