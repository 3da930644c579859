//! The HTTP cache of `--cache DIR`: responses kept on disk between runs, so a crawl of a public
//! API asks it again only for what changed (PokéAPI asks its clients to cache locally).
//!
//! Off by default: fetchbench measures servers, and a cache hides them. Freshness and
//! revalidation are `http-cache-semantics`' (RFC 7234 rules, as a private cache: this is one
//! user's client): a fresh entry is served without a request, a stale one is sent with
//! `If-None-Match`/`If-Modified-Since`, and a 304 stores the headers it carries, so the next run
//! is fresh again. The modes (`CacheMode`) bend those rules for the habits crawler users have.
//! A served entry goes through the same decoding and extraction as a fetched body: the record
//! differs only in its timings, its attempts (none) and its `cache` field.
//!
//! Only body-less GETs are cached, keyed by their URL. Files are `store`'s business; reading
//! and writing them runs on tokio's blocking pool, and a store is awaited before its record is
//! produced, so the entries of a finished run are on disk.

mod store;

use std::io;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::SystemTime;

use bytes::Bytes;
use http_cache_semantics::{AfterResponse, BeforeRequest, CacheOptions, CachePolicy};
use reqwest::header::{
    HeaderMap, HeaderName, HeaderValue, CACHE_CONTROL, CONTENT_ENCODING, IF_MODIFIED_SINCE,
    IF_NONE_MATCH, LINK,
};
use reqwest::{Method, StatusCode};
use serde::{Deserialize, Serialize};

use self::store::{Raw, ReadError, Store};
use crate::engine::decode::Encoding;
use crate::engine::options::{CacheMode, CacheSpec};
use crate::engine::shape::{self, Outgoing};
use crate::record::{CacheUse, ErrorKind, Failure};

/// A cache directory that cannot be used.
#[derive(Debug, thiserror::Error)]
#[error("cannot use {} as the cache directory: {source}", dir.display())]
pub struct CacheError {
    dir: PathBuf,
    #[source]
    source: io::Error,
}

impl CacheSpec {
    /// Opens (or creates) the cache directory, to refuse an unusable one before any request.
    pub fn prepare(&self) -> Result<(), CacheError> {
        Cache::open(self).map(drop)
    }
}

/// What an entry holds beside its body.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Meta {
    status: u16,
    http_version: Option<String>,
    /// How the stored body is encoded (it is kept as it came over the wire).
    content_encoding: Option<String>,
    /// The response's `Link` values: a crawl that pages by them reads them from a cached page too.
    link: Vec<String>,
    policy: CachePolicy,
}

/// An entry as read from disk.
struct Stored {
    meta: Meta,
    body: Bytes,
}

/// A response the cache answers with, in place of one from the network.
pub(crate) struct Served {
    pub(crate) status: u16,
    pub(crate) version: Option<&'static str>,
    pub(crate) encoding: Encoding,
    pub(crate) body: Bytes,
    /// The stored `Link` values.
    pub(crate) headers: HeaderMap,
}

/// What to do with a request before it is sent.
pub(crate) enum Before {
    /// Send the request (conditional headers added, when an entry is revalidated), then hand the
    /// answer to [`Cache::after`].
    Send(Pending),
    /// Make no request.
    Unsent(Unsent),
}

/// What the cache says of a request it keeps from the network.
pub(crate) enum Unsent {
    /// Answer with this: a hit.
    Serve(Served),
    /// No request may be made (`only-cached`): the record's failure.
    Refuse(Failure),
}

/// A request on its way, as the cache needs it once it is answered.
pub(crate) struct Pending {
    /// None when the request is not cached (not a body-less GET, a URL `http` does not parse).
    keyed: Option<Box<Keyed>>,
}

struct Keyed {
    key: String,
    /// The request as the policy sees it (see [`policy_request`]).
    request: http::request::Parts,
    /// The entry being revalidated.
    stale: Option<Stored>,
}

/// What the answer made of the cache.
pub(crate) enum After {
    Use(CacheUse),
    /// The server said the stored entry is still good (304): answer with it.
    Revalidated(Served),
}

/// A run's cache.
#[derive(Debug)]
pub(crate) struct Cache {
    store: Arc<Store>,
    mode: CacheMode,
}

impl Cache {
    /// Opens (creating if need be) the cache directory of `spec`.
    pub(crate) fn open(spec: &CacheSpec) -> Result<Self, CacheError> {
        let store = Store::open(&spec.dir).map_err(|source| CacheError {
            dir: spec.dir.clone(),
            source,
        })?;
        Ok(Self {
            store: Arc::new(store),
            mode: spec.mode,
        })
    }

    /// Looks `key` (the URL as sent) up; `shown` is the URL as records show it, which is what
    /// the stored policy keeps (no password, no secret query value on disk). Adds the
    /// conditional headers to `request` when a stale entry is to be revalidated.
    pub(crate) async fn before(
        &self,
        key: String,
        shown: &str,
        method: &Method,
        request: &mut Outgoing,
    ) -> Before {
        let uncached = || Before::Send(Pending { keyed: None });
        if *method != Method::GET || request.body.is_some() {
            return uncached();
        }
        let Some(policy_request) = policy_request(shown, &request.headers) else {
            return uncached();
        };
        let loaded = self.load(key.clone()).await;
        let only_cached = |why: String| {
            Before::Unsent(Unsent::Refuse(Failure {
                kind: ErrorKind::Cache,
                message: format!("{why} (--cache-mode only-cached)"),
            }))
        };
        let stored = match (self.mode, loaded) {
            (CacheMode::OnlyCached, Ok(None)) => return only_cached("not in the cache".to_owned()),
            (CacheMode::OnlyCached, Err(e)) => return only_cached(e.to_string()),
            // A corrupt or unreadable entry is a miss: fetched again, and written over.
            (_, Ok(None) | Err(_)) => None,
            (_, Ok(Some(stored))) => Some(stored),
        };
        let keyed = |stale| {
            Before::Send(Pending {
                keyed: Some(Box::new(Keyed {
                    key,
                    request: policy_request.clone(),
                    stale,
                })),
            })
        };
        let Some(stored) = stored else {
            return keyed(None);
        };
        if matches!(self.mode, CacheMode::Replay | CacheMode::OnlyCached) {
            return match (stored.served(), self.mode) {
                (Some(served), _) => Before::Unsent(Unsent::Serve(served)),
                (None, CacheMode::OnlyCached) => {
                    only_cached(ReadError::Corrupt("its body's coding is unknown").to_string())
                }
                (None, _) => keyed(None),
            };
        }
        let mut asked = policy_request.clone();
        if self.mode == CacheMode::Refresh {
            // What a reload asks for: no stored answer without the server's word on it.
            asked
                .headers
                .insert(CACHE_CONTROL, HeaderValue::from_static("no-cache"));
        }
        match stored.meta.policy.before_request(&asked, SystemTime::now()) {
            BeforeRequest::Fresh(_) => match stored.served() {
                Some(served) => Before::Unsent(Unsent::Serve(served)),
                None => keyed(None),
            },
            BeforeRequest::Stale {
                request: revalidation,
                ..
            } => {
                for name in [IF_NONE_MATCH, IF_MODIFIED_SINCE] {
                    if let Some(value) = revalidation.headers.get(&name) {
                        request.headers.insert(name, value.clone());
                    }
                }
                keyed(Some(stored))
            }
        }
    }

    /// Takes the answer to a request [`Cache::before`] let through: a 304 for a revalidated
    /// entry refreshes its stored headers and answers with its body; a whole 2xx is stored if
    /// HTTP allows. `head` is the response's headers, when one came; `ok` whether it was a
    /// success whose `body` was read whole. The headers are taken, not copied: the policy keeps them.
    pub(crate) async fn after(
        &self,
        pending: Pending,
        status: Option<u16>,
        version: Option<&'static str>,
        head: Option<HeaderMap>,
        ok: bool,
        body: &[Bytes],
    ) -> After {
        let miss = After::Use(CacheUse::Miss);
        let (Some(keyed), Some(status), Some(head)) = (pending.keyed, status, head) else {
            return miss;
        };
        let Keyed {
            key,
            request,
            stale,
        } = *keyed;
        let Ok(code) = StatusCode::from_u16(status) else {
            return miss;
        };
        let mut response = http::Response::new(());
        *response.status_mut() = code;
        *response.headers_mut() = head;
        let (response, ()) = response.into_parts();
        let now = SystemTime::now();
        if code == StatusCode::NOT_MODIFIED {
            let Some(stale) = stale else {
                return miss;
            };
            let AfterResponse::NotModified(policy, _) =
                stale.meta.policy.after_response(&request, &response, now)
            else {
                // A 304 for another version than the stored one: nothing to answer with.
                return miss;
            };
            let refreshed = Stored {
                meta: Meta {
                    policy,
                    ..stale.meta
                },
                body: stale.body,
            };
            // The entry is answered with even if its refresh could not be written.
            let _ = self.save(key, &refreshed).await;
            return match refreshed.served() {
                Some(served) => After::Revalidated(served),
                None => miss,
            };
        }
        if !ok {
            return miss;
        }
        let options = CacheOptions {
            shared: false,
            ..CacheOptions::default()
        };
        let policy = CachePolicy::new_options(&request, &response, now, options);
        if !policy.is_storable() {
            return miss;
        }
        let head = &response.headers;
        let text = |name: &HeaderName| head.get_all(name).iter().filter_map(|v| v.to_str().ok());
        let entry = Stored {
            meta: Meta {
                status,
                http_version: version.map(str::to_owned),
                content_encoding: text(&CONTENT_ENCODING).next().map(str::to_owned),
                link: text(&LINK).map(str::to_owned).collect(),
                policy,
            },
            body: match body {
                [one] => one.clone(),
                chunks => Bytes::from(chunks.concat()),
            },
        };
        match self.save(key, &entry).await {
            Ok(()) => After::Use(CacheUse::Stored),
            Err(_) => miss,
        }
    }

    /// The entry of `key`, read and parsed on the blocking pool.
    async fn load(&self, key: String) -> Result<Option<Stored>, ReadError> {
        let store = Arc::clone(&self.store);
        let read = tokio::task::spawn_blocking(move || {
            let Some(raw) = store.read(&key)? else {
                return Ok(None);
            };
            let meta: Meta = serde_json::from_slice(&raw.meta)
                .map_err(|_| ReadError::Corrupt("its metadata does not parse"))?;
            Ok(Some(Stored {
                meta,
                body: raw.body,
            }))
        });
        read.await
            .unwrap_or_else(|e| Err(ReadError::Io(io::Error::other(e))))
    }

    /// Writes `entry` as `key`'s on the blocking pool, and waits for it.
    async fn save(&self, key: String, entry: &Stored) -> io::Result<()> {
        let raw = Raw {
            meta: serde_json::to_vec(&entry.meta).map_err(io::Error::other)?,
            body: entry.body.clone(),
        };
        let store = Arc::clone(&self.store);
        tokio::task::spawn_blocking(move || store.write(&key, &raw))
            .await
            .unwrap_or_else(|e| Err(io::Error::other(e)))
    }
}

impl Stored {
    /// The entry as an answer; None if what it says of its body no longer makes sense (a
    /// coding this build does not decode).
    fn served(&self) -> Option<Served> {
        let mut headers = HeaderMap::new();
        if let Some(coding) = &self.meta.content_encoding {
            headers.insert(CONTENT_ENCODING, HeaderValue::from_str(coding).ok()?);
        }
        let encoding = Encoding::of(&headers).ok()?;
        for link in &self.meta.link {
            if let Ok(value) = HeaderValue::from_str(link) {
                headers.append(LINK, value);
            }
        }
        Some(Served {
            status: self.meta.status,
            version: self.meta.http_version.as_deref().map(static_version),
            encoding,
            body: self.body.clone(),
            headers,
        })
    }
}

/// The request as the stored policy keeps and compares it: the URL as records show it, and the
/// request's headers without any credential (a cache file must not hold an API key).
fn policy_request(shown: &str, headers: &HeaderMap) -> Option<http::request::Parts> {
    let uri: http::Uri = shown.parse().ok()?;
    let (mut parts, ()) = http::Request::get(uri).body(()).ok()?.into_parts();
    for (name, value) in headers {
        if !shape::is_credential(name) {
            parts.headers.append(name.clone(), value.clone());
        }
    }
    Some(parts)
}

/// The record's version text for a stored one.
fn static_version(text: &str) -> &'static str {
    match text {
        "HTTP/0.9" => "HTTP/0.9",
        "HTTP/1.0" => "HTTP/1.0",
        "HTTP/2.0" => "HTTP/2.0",
        "HTTP/3.0" => "HTTP/3.0",
        _ => "HTTP/1.1",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_stored_request_keeps_no_credential() {
        let mut headers = HeaderMap::new();
        headers.insert("x-api-key", HeaderValue::from_static("secret"));
        headers.insert("authorization", HeaderValue::from_static("Bearer secret"));
        headers.insert("accept", HeaderValue::from_static("application/json"));
        let request = policy_request("http://h/api/1", &headers).expect("a request");
        assert_eq!(request.uri, "http://h/api/1");
        assert_eq!(request.headers.len(), 1);
        assert!(request.headers.contains_key("accept"));
        assert!(policy_request("not a url", &headers).is_none());
    }
}
