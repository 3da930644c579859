//! Following redirects: fetchbench does it itself (the client's own policy is off) so that it
//! decides which headers go to which origin; see `shape` for the rules.

use std::borrow::Cow;

use reqwest::header::LOCATION;
use reqwest::{Method, Url};

use crate::engine::fetch::failure::{self, permanent};
use crate::engine::fetch::retry::Transience;
use crate::engine::http::transport::{Reply, Target, Transport};
use crate::engine::options::ClientOptions;
use crate::engine::shape::{self, Outgoing};
use crate::record::{ErrorKind, Failure};

/// Sends the request and follows redirects (up to `--max-redirects`): a 303, or a 301/302
/// after a POST, continues as a body-less GET; a hop to another origin drops credential
/// headers unless `--location-trusted`; a password in the URL goes only to its own origin.
pub(crate) async fn send(
    transport: &Transport,
    options: &ClientOptions,
    first: Target<'_>,
    request: &Outgoing,
) -> Result<Reply, (Failure, Transience)> {
    let shape = &options.shape;
    // Where the last redirect pointed; nothing is copied until a redirect is followed.
    let mut hop: Option<Url> = None;
    let mut method = shape.method.clone();
    let mut headers = Cow::Borrowed(&request.headers);
    let mut body = request.body.as_ref();
    let mut hops = 0;
    loop {
        let target = hop.as_ref().map_or(first, Target::Url);
        let response = transport
            .send(method.clone(), target, &headers, body)
            .await
            .map_err(|e| failure::describe(&e, options))?;
        let Some(to_get) = shape::redirect_kind(response.status(), &method) else {
            return Ok(response);
        };
        let Some(location) = response
            .headers()
            .get(LOCATION)
            .and_then(|l| l.to_str().ok())
        else {
            return Ok(response);
        };
        hops += 1;
        let redirect_error = |message: String| permanent(ErrorKind::Redirect, message);
        if hops > options.max_redirects {
            return Err(redirect_error(format!(
                "too many redirects: more than {} (--max-redirects), perhaps a redirect loop",
                options.max_redirects
            )));
        }
        let url = match hop.take() {
            Some(url) => url,
            None => first
                .to_url()
                .map_err(|e| redirect_error(format!("the request's URL does not parse: {e}")))?,
        };
        let mut next = url
            .join(location)
            .map_err(|e| redirect_error(format!("redirect to an invalid Location: {e}")))?;
        if !matches!(next.scheme(), "http" | "https") {
            return Err(redirect_error(format!(
                "redirect to a `{}` URL refused: only http and https are followed",
                next.scheme()
            )));
        }
        let leaves_origin = shape::cross_origin(&url, &next);
        if !leaves_origin && next.username().is_empty() {
            // The same origin keeps the URL's credentials (basic auth from `user:pass@`).
            let _ = next.set_username(url.username());
            let _ = next.set_password(url.password());
        }
        shape::headers_for_hop(
            headers.to_mut(),
            leaves_origin,
            shape.location_trusted,
            to_get,
        );
        if to_get {
            method = Method::GET;
            body = None;
        }
        hop = Some(next);
    }
}
