//! A response from either HTTP stack, its body read frame by frame under the attempt's timeout;
//! a direct connection goes back to its idle list once the body has been read to the end.

use std::future::{poll_fn, Future};
use std::pin::Pin;
use std::task::Poll;

use bytes::Bytes;
use hyper::body::{Body as _, Incoming};
use reqwest::header::HeaderMap;
use reqwest::{StatusCode, Version};

use crate::engine::http::direct::{DirectError, Lease};
use crate::engine::http::error::TransportError;
use crate::engine::http::timers::Deadline;

/// A response from either stack, its body still to be read. Boxed: a reply is handed up
/// through the send, redirect and timing layers, each a move of the whole value.
#[derive(Debug)]
pub(crate) enum Reply {
    Pooled(Box<reqwest::Response>),
    Direct(Box<DirectReply>),
}

/// A response on the direct path.
#[derive(Debug)]
pub(crate) struct DirectReply {
    pub(crate) response: http::Response<Incoming>,
    /// The connection, given back once the body has been read to the end.
    pub(crate) lease: Option<Lease>,
    /// The attempt's `--timeout`, which covers the body too: the timer the send already
    /// waited on, so the body's frames do not each register one of their own.
    pub(crate) deadline: Deadline,
}

impl Reply {
    pub(crate) fn status(&self) -> StatusCode {
        match self {
            Reply::Pooled(r) => r.status(),
            Reply::Direct(direct) => direct.response.status(),
        }
    }

    pub(crate) fn version(&self) -> Version {
        match self {
            Reply::Pooled(r) => r.version(),
            Reply::Direct(direct) => direct.response.version(),
        }
    }

    pub(crate) fn headers(&self) -> &HeaderMap {
        match self {
            Reply::Pooled(r) => r.headers(),
            Reply::Direct(direct) => direct.response.headers(),
        }
    }

    /// The body's length when the server announced it.
    pub(crate) fn content_length(&self) -> Option<u64> {
        match self {
            Reply::Pooled(r) => r.content_length(),
            Reply::Direct(direct) => direct.response.body().size_hint().exact(),
        }
    }

    /// The next piece of the body as it arrived; None at its end.
    pub(crate) async fn chunk(&mut self) -> Result<Option<Bytes>, TransportError> {
        let DirectReply {
            response,
            lease,
            deadline,
        } = match self {
            Reply::Pooled(r) => {
                let chunk = r.chunk().await.map_err(TransportError::Pooled)?;
                if chunk.is_none() {
                    // Let reqwest put the connection back in its pool before the worker's next
                    // request, which would otherwise open a second connection a one-slot run
                    // never needed (the direct road gives its connection back as the body ends).
                    tokio::task::yield_now().await;
                }
                return Ok(chunk);
            }
            Reply::Direct(direct) => &mut **direct,
        };
        loop {
            let body = response.body_mut();
            let next = std::pin::pin!(poll_fn(|cx| Pin::new(&mut *body).poll_frame(cx)));
            let frame = within(deadline, next)
                .await
                .ok_or(TransportError::Direct(DirectError::Timeout))?;
            match frame {
                None => {
                    if let Some(lease) = lease.take() {
                        lease.give_back();
                    }
                    return Ok(None);
                }
                Some(Ok(frame)) => {
                    if let Ok(data) = frame.into_data() {
                        return Ok(Some(data));
                    }
                }
                Some(Err(e)) => return Err(TransportError::Direct(DirectError::Http(e))),
            }
        }
    }
}

/// `future`'s output, or None once `deadline` has passed; as `tokio::time::timeout`, the future
/// is polled first. The timer is registered on its first wait and stays registered for the next
/// waits on the same deadline. Takes the future pinned where the caller keeps it, and is not an
/// `async fn`, which would keep a second copy of it.
pub(crate) fn within<'a, F: Future>(
    deadline: &'a mut Deadline,
    mut future: Pin<&'a mut F>,
) -> impl Future<Output = Option<F::Output>> + 'a {
    poll_fn(move |cx| {
        if let Poll::Ready(output) = future.as_mut().poll(cx) {
            return Poll::Ready(Some(output));
        }
        deadline.sleep().poll(cx).map(|()| None)
    })
}
