//! One work item from send to record: the request as the job shapes it, redirects followed with
//! the credential rules, retries with backoff, failures in words a user can act on, and the
//! body decoded and its fields extracted (settled) off the request's slot. What holds a request
//! back at its host (politeness) is the `host` room's, and the HTTP cache the `cache` room's.

pub(crate) mod failure;
mod redirect;
pub mod request;
pub mod retry;
pub(crate) mod settle;
