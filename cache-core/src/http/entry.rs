//! What the layer stores, and the header rules that decide whether a
//! response may be stored or a request may be served from the cache.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use http::header::{self, HeaderName, HeaderValue};
use http::{HeaderMap, Response, StatusCode};
use serde::{Deserialize, Serialize};

/// One value of the layer's keys: every key holds a `Record`, so that the
/// generations and the entry of a request are read in one round trip.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(super) enum Record {
    /// A path's generation: a random token, replaced when the path is
    /// invalidated (its key is deleted, and the next store draws a new
    /// token).
    Generation(u64),
    /// A stored response.
    Response(Arc<StoredResponse>),
    /// The resource varies on these request headers (lowercase, sorted):
    /// its responses are under [`varied_key`](super::key::varied_key).
    Vary(Arc<[String]>),
}

/// A stored response: what a hit replays, and what it was stored under.
#[derive(Debug, Serialize, Deserialize)]
pub(super) struct StoredResponse {
    pub(super) status: u16,
    /// The allowed headers, in the order the response had them.
    pub(super) headers: Vec<(String, Bytes)>,
    pub(super) body: Bytes,
    /// When it was stored, in milliseconds since the Unix epoch (for `Age`).
    pub(super) stored_at: u64,
    /// The generation of its path it was stored under: it is served only
    /// while that is the path's generation.
    pub(super) generation: u64,
}

impl StoredResponse {
    /// Seconds since it was stored, for the `Age` header.
    pub(super) fn age(&self) -> u64 {
        now_millis().saturating_sub(self.stored_at) / 1000
    }

    /// The response a hit sends: status, allowed headers and body as
    /// stored, plus `Age`.
    pub(super) fn to_response(&self) -> Response<Bytes> {
        let mut response = Response::new(self.body.clone());
        *response.status_mut() = StatusCode::from_u16(self.status).unwrap_or(StatusCode::OK);
        let headers = response.headers_mut();
        headers.reserve(self.headers.len() + 2);
        for (name, value) in &self.headers {
            // Both were valid when stored; an entry that is not (written by
            // something else) loses the header rather than failing.
            if let (Ok(name), Ok(value)) = (
                HeaderName::from_bytes(name.as_bytes()),
                HeaderValue::from_maybe_shared(value.clone()),
            ) {
                headers.append(name, value);
            }
        }
        headers.insert(header::AGE, HeaderValue::from(self.age()));
        response
    }
}

/// Milliseconds since the Unix epoch (0 if the clock is before it).
pub(super) fn now_millis() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or(Duration::ZERO)
        .as_millis()
        .try_into()
        .unwrap_or(u64::MAX)
}

/// The `Cache-Control` directives the layer acts on.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(super) struct Directives {
    pub(super) no_store: bool,
    pub(super) no_cache: bool,
    pub(super) private: bool,
}

impl Directives {
    /// The directives of every `Cache-Control` header in `headers`.
    /// Directive names are case-insensitive; arguments
    /// (`private="set-cookie"`) are ignored, so a qualified `private` or
    /// `no-cache` counts as the plain one.
    pub(super) fn of(headers: &HeaderMap) -> Self {
        let mut directives = Self::default();
        for value in headers.get_all(header::CACHE_CONTROL) {
            for directive in value.as_bytes().split(|&b| b == b',') {
                let name = directive
                    .split(|&b| b == b'=')
                    .next()
                    .unwrap_or_default()
                    .trim_ascii();
                if name.eq_ignore_ascii_case(b"no-store") {
                    directives.no_store = true;
                } else if name.eq_ignore_ascii_case(b"no-cache") {
                    directives.no_cache = true;
                } else if name.eq_ignore_ascii_case(b"private") {
                    directives.private = true;
                }
            }
        }
        directives
    }
}

/// The request headers a response varies on, from its `Vary` headers:
/// lowercase, sorted, without duplicates. `None` for `Vary: *` (or a name
/// that is not a header name): such a response cannot be stored.
pub(super) fn vary_names(headers: &HeaderMap) -> Option<Vec<String>> {
    let mut names = Vec::new();
    for value in headers.get_all(header::VARY) {
        for name in value.as_bytes().split(|&b| b == b',') {
            let name = name.trim_ascii();
            if name.is_empty() {
                continue;
            }
            if name == b"*" {
                return None;
            }
            let name = HeaderName::from_bytes(name).ok()?;
            names.push(name.as_str().to_owned());
        }
    }
    names.sort_unstable();
    names.dedup();
    Some(names)
}

/// The headers of `headers` whose names are in `allowed`, in order.
pub(super) fn allowed_headers(headers: &HeaderMap, allowed: &[HeaderName]) -> Vec<(String, Bytes)> {
    headers
        .iter()
        .filter(|(name, _)| allowed.contains(name))
        .map(|(name, value)| {
            (
                name.as_str().to_owned(),
                Bytes::copy_from_slice(value.as_bytes()),
            )
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        pairs
            .iter()
            .map(|(n, v)| (HeaderName::from_static(n), HeaderValue::from_static(v)))
            .collect()
    }

    #[test]
    fn directives_are_read_from_every_cache_control_header() {
        let mut h = headers(&[("cache-control", "max-age=60, Private")]);
        assert_eq!(
            Directives::of(&h),
            Directives {
                private: true,
                ..Directives::default()
            }
        );
        h.append(
            header::CACHE_CONTROL,
            HeaderValue::from_static("no-cache=\"set-cookie\" ,NO-STORE"),
        );
        let d = Directives::of(&h);
        assert!(d.no_cache && d.no_store && d.private);
        assert_eq!(
            Directives::of(&headers(&[(
                "cache-control",
                "public, max-age=0, no-transform"
            )])),
            Directives::default()
        );
        assert_eq!(
            Directives::of(&headers(&[("cache-control", "xno-store")])),
            Directives::default()
        );
    }

    #[test]
    fn vary_names_are_normalized_and_star_refuses() {
        let mut h = headers(&[("vary", "Accept-Encoding, accept-language,")]);
        h.append(header::VARY, HeaderValue::from_static("ACCEPT-ENCODING"));
        assert_eq!(
            vary_names(&h),
            Some(vec![
                "accept-encoding".to_owned(),
                "accept-language".to_owned()
            ])
        );
        assert_eq!(vary_names(&headers(&[("vary", "accept, *")])), None);
        assert_eq!(vary_names(&HeaderMap::new()), Some(Vec::new()));
    }

    #[test]
    fn a_stored_response_replays_its_headers_and_tells_its_age() {
        let stored = StoredResponse {
            status: 203,
            headers: vec![
                ("content-type".into(), Bytes::from_static(b"text/plain")),
                ("vary".into(), Bytes::from_static(b"a")),
                ("vary".into(), Bytes::from_static(b"b")),
            ],
            body: Bytes::from_static(b"hi"),
            stored_at: now_millis() - 5_500,
            generation: 1,
        };
        let response = stored.to_response();
        assert_eq!(response.status(), 203);
        assert_eq!(response.headers()["content-type"], "text/plain");
        let vary: Vec<_> = response.headers().get_all("vary").iter().collect();
        assert_eq!(vary, ["a", "b"]);
        assert_eq!(response.headers()["age"], "5");
        assert_eq!(response.body(), "hi");
    }
}
