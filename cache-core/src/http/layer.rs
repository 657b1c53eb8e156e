//! [`CacheLayer`]: the configuration, the `Layer` impl and invalidation.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::request::Parts;
use http::{header, HeaderName, Response, StatusCode};
use tower_layer::Layer;

use super::key;
use super::service::CacheService;
use crate::cache::OnError;
use crate::{Cache, Error, ErrorKind, Result};

/// The default of [`CacheLayer::max_body_size`]: 1 MiB.
pub const DEFAULT_MAX_BODY_SIZE: usize = 1024 * 1024;

/// The default of [`CacheLayer::status_header`].
pub const DEFAULT_STATUS_HEADER: HeaderName = HeaderName::from_static("x-cache");

type RequestFn<T> = Arc<dyn Fn(&Parts) -> T + Send + Sync>;
type ResponseFilter = Arc<dyn Fn(&Response<Bytes>) -> bool + Send + Sync>;

/// A [`tower::Layer`](tower_layer::Layer) that caches HTTP responses in a
/// [`Cache`]: Flask-Caching's `@cache.cached` for any tower HTTP service
/// (an axum route, a whole router, a hyper service).
///
/// It caches `GET` and `HEAD` responses with a status in
/// [`statuses`](Self::statuses) (200 by default), whole bodies of at most
/// [`max_body_size`](Self::max_body_size) bytes, for
/// [`timeout`](Self::timeout). See the [module docs](super) for what is
/// stored, the key, and how concurrent misses, errors and invalidation
/// behave.
///
/// Cloning is cheap, and every clone invalidates the same entries: keep
/// one to call [`invalidate`](Self::invalidate) from a handler.
///
/// ```
/// use std::time::Duration;
/// use cache_core::http::CacheLayer;
/// use http::{HeaderName, StatusCode};
///
/// let layer = CacheLayer::new(cache_core::Cache::default())
///     .timeout(Duration::from_secs(60))
///     .query_string(true)
///     .vary_on([HeaderName::from_static("accept-language")])
///     .statuses([StatusCode::OK, StatusCode::NOT_FOUND])
///     .response_filter(|response| !response.body().is_empty());
/// ```
#[derive(Clone)]
pub struct CacheLayer {
    pub(super) config: Arc<Config>,
}

#[derive(Clone)]
pub(super) struct Config {
    pub(super) cache: Cache,
    pub(super) timeout: Option<Duration>,
    pub(super) query_string: bool,
    pub(super) vary_on: Vec<HeaderName>,
    pub(super) statuses: Vec<StatusCode>,
    pub(super) stored_headers: Vec<HeaderName>,
    pub(super) max_body_size: usize,
    pub(super) status_header: Option<HeaderName>,
    pub(super) request_cache_control: bool,
    pub(super) response_filter: Option<ResponseFilter>,
    pub(super) unless: Option<RequestFn<bool>>,
    pub(super) key_with: Option<RequestFn<String>>,
    pub(super) tag_with: Option<RequestFn<Vec<String>>>,
}

impl CacheLayer {
    /// A layer that stores responses in `cache`, for the cache's default
    /// timeout, with the defaults below.
    ///
    /// | setting | default |
    /// |---|---|
    /// | [`timeout`](Self::timeout) | the cache's [default timeout](crate::CacheBuilder::default_timeout) |
    /// | [`query_string`](Self::query_string) | `false`: `/p?a=1` and `/p` share an entry |
    /// | [`vary_on`](Self::vary_on) | none (the response's `Vary` header still applies) |
    /// | [`statuses`](Self::statuses) | `200 OK` |
    /// | [`stored_headers`](Self::stored_headers) | `content-type`, `content-encoding`, `content-language`, `etag`, `last-modified`, `cache-control`, `vary` |
    /// | [`max_body_size`](Self::max_body_size) | 1 MiB |
    /// | [`status_header`](Self::status_header) | `x-cache: HIT` / `MISS` |
    /// | [`request_cache_control`](Self::request_cache_control) | `true` |
    ///
    /// ```
    /// let layer = cache_core::http::CacheLayer::new(cache_core::Cache::default());
    /// ```
    pub fn new(cache: Cache) -> Self {
        Self {
            config: Arc::new(Config {
                cache,
                timeout: None,
                query_string: false,
                vary_on: Vec::new(),
                statuses: vec![StatusCode::OK],
                stored_headers: vec![
                    header::CONTENT_TYPE,
                    header::CONTENT_ENCODING,
                    header::CONTENT_LANGUAGE,
                    header::ETAG,
                    header::LAST_MODIFIED,
                    header::CACHE_CONTROL,
                    header::VARY,
                ],
                max_body_size: DEFAULT_MAX_BODY_SIZE,
                status_header: Some(DEFAULT_STATUS_HEADER),
                request_cache_control: true,
                response_filter: None,
                unless: None,
                key_with: None,
                tag_with: None,
            }),
        }
    }

    fn with(mut self, change: impl FnOnce(&mut Config)) -> Self {
        change(Arc::make_mut(&mut self.config));
        self
    }

    /// How long a response is kept: Flask's `timeout`. `Duration::ZERO`
    /// keeps it until it is invalidated or evicted.
    ///
    /// ```
    /// # use std::time::Duration;
    /// let layer = cache_core::http::CacheLayer::new(cache_core::Cache::default())
    ///     .timeout(Duration::from_secs(60));
    /// ```
    #[must_use]
    pub fn timeout(self, timeout: Duration) -> Self {
        self.with(|c| c.timeout = Some(timeout))
    }

    /// Whether the query string is part of the key: Flask's
    /// `query_string=True`. Parameters are sorted by name, so `?a=1&b=2`
    /// and `?b=2&a=1` share an entry and `?a=1&a=2` and `?a=2&a=1` do not
    /// (the order of one name's values reaches the handler). Off by
    /// default: every query of a path shares its entry, as in Flask.
    ///
    /// ```
    /// let layer = cache_core::http::CacheLayer::new(cache_core::Cache::default())
    ///     .query_string(true);
    /// ```
    #[must_use]
    pub fn query_string(self, enabled: bool) -> Self {
        self.with(|c| c.query_string = enabled)
    }

    /// Request headers whose values are always part of the key, as if every
    /// response named them in `Vary` (which also works: a response's
    /// `Vary` header is honoured without this, at the cost of one more read
    /// per hit).
    ///
    /// ```
    /// use http::header::{ACCEPT_ENCODING, ACCEPT_LANGUAGE};
    /// let layer = cache_core::http::CacheLayer::new(cache_core::Cache::default())
    ///     .vary_on([ACCEPT_LANGUAGE, ACCEPT_ENCODING]);
    /// ```
    #[must_use]
    pub fn vary_on(self, headers: impl IntoIterator<Item = HeaderName>) -> Self {
        self.with(|c| c.vary_on = headers.into_iter().collect())
    }

    /// The statuses of the responses that are stored (replaces the default,
    /// `200 OK`).
    ///
    /// ```
    /// use http::StatusCode;
    /// let layer = cache_core::http::CacheLayer::new(cache_core::Cache::default())
    ///     .statuses([StatusCode::OK, StatusCode::MOVED_PERMANENTLY, StatusCode::NOT_FOUND]);
    /// ```
    #[must_use]
    pub fn statuses(self, statuses: impl IntoIterator<Item = StatusCode>) -> Self {
        self.with(|c| c.statuses = statuses.into_iter().collect())
    }

    /// The response headers that are stored and replayed on a hit (replaces
    /// the default list). Others (`set-cookie`, `date`, `server`, request
    /// ids...) are sent on the response that filled the entry only.
    ///
    /// ```
    /// use http::{header, HeaderName};
    /// let layer = cache_core::http::CacheLayer::new(cache_core::Cache::default())
    ///     .stored_headers([header::CONTENT_TYPE, HeaderName::from_static("x-build")]);
    /// ```
    #[must_use]
    pub fn stored_headers(self, headers: impl IntoIterator<Item = HeaderName>) -> Self {
        self.with(|c| c.stored_headers = headers.into_iter().collect())
    }

    /// The largest body stored, in bytes. A response with a larger
    /// `Content-Length` passes through without being read; one without
    /// that grows past the limit is streamed to the client as it comes,
    /// after the part read so far, and is not stored.
    ///
    /// ```
    /// let layer = cache_core::http::CacheLayer::new(cache_core::Cache::default())
    ///     .max_body_size(256 * 1024);
    /// ```
    #[must_use]
    pub fn max_body_size(self, bytes: usize) -> Self {
        self.with(|c| c.max_body_size = bytes)
    }

    /// The response header that says `HIT` (served from the cache, the
    /// inner service did not run) or `MISS`; `None` adds none. Flask's
    /// `response_hit_indication`.
    ///
    /// ```
    /// use http::HeaderName;
    /// let named = cache_core::http::CacheLayer::new(cache_core::Cache::default())
    ///     .status_header(Some(HeaderName::from_static("x-cache-status")));
    /// let off = cache_core::http::CacheLayer::new(cache_core::Cache::default())
    ///     .status_header(None);
    /// ```
    #[must_use]
    pub fn status_header(self, name: Option<HeaderName>) -> Self {
        self.with(|c| c.status_header = name)
    }

    /// Whether a request's `Cache-Control` is honoured (the default):
    /// with `no-cache` the stored response is skipped and replaced by a
    /// fresh one; with `no-store` it is skipped and the fresh response is
    /// not stored. Turn it off when clients must not be able to make the
    /// handler run (any client can send these headers).
    ///
    /// ```
    /// let layer = cache_core::http::CacheLayer::new(cache_core::Cache::default())
    ///     .request_cache_control(false);
    /// ```
    #[must_use]
    pub fn request_cache_control(self, honoured: bool) -> Self {
        self.with(|c| c.request_cache_control = honoured)
    }

    /// Stores a response only if `filter` returns `true` for it (its body
    /// read whole): Flask's `response_filter`. It runs after the layer's
    /// own checks (method, status, `Cache-Control`, size).
    ///
    /// ```
    /// let layer = cache_core::http::CacheLayer::new(cache_core::Cache::default())
    ///     .response_filter(|response| !response.body().starts_with(b"<!-- partial"));
    /// ```
    #[must_use]
    pub fn response_filter(
        self,
        filter: impl Fn(&Response<Bytes>) -> bool + Send + Sync + 'static,
    ) -> Self {
        self.with(|c| c.response_filter = Some(Arc::new(filter)))
    }

    /// Skips the cache (neither reads nor stores) for requests for which
    /// `bypass` returns `true`: Flask's `unless`.
    ///
    /// ```
    /// let layer = cache_core::http::CacheLayer::new(cache_core::Cache::default())
    ///     .unless(|request| request.headers.contains_key("authorization"));
    /// ```
    #[must_use]
    pub fn unless(self, bypass: impl Fn(&Parts) -> bool + Send + Sync + 'static) -> Self {
        self.with(|c| c.unless = Some(Arc::new(bypass)))
    }

    /// Identifies a request within its method and path by what `key`
    /// returns instead of its query string: Flask's `make_cache_key`.
    /// The method and the path stay in the key (so that
    /// [`invalidate`](Self::invalidate) finds the entry), as do the
    /// [`vary_on`](Self::vary_on) headers and the response's `Vary`.
    ///
    /// ```
    /// // Only `page` matters: `?page=2&utm_source=mail` shares `?page=2`'s entry.
    /// let layer = cache_core::http::CacheLayer::new(cache_core::Cache::default())
    ///     .key_with(|request| {
    ///         let query = request.uri.query().unwrap_or("");
    ///         query.split('&').filter(|p| p.starts_with("page=")).collect::<Vec<_>>().join("&")
    ///     });
    /// ```
    #[must_use]
    pub fn key_with(self, key: impl Fn(&Parts) -> String + Send + Sync + 'static) -> Self {
        self.with(|c| c.key_with = Some(Arc::new(key)))
    }

    /// Stores each response with the tags `tags` returns for its request:
    /// the cache's [`invalidate_tag`](crate::Cache::invalidate_tag) then
    /// removes every response stored with a tag, whatever its path, with
    /// the cache's other entries of that tag (see [`crate::tags`]). A store
    /// that does not support tags stores no tagged response (the error is
    /// logged, and the request served).
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> cache_core::Result<()> {
    /// use cache_core::{http::CacheLayer, Cache};
    ///
    /// // `/user/5` and `/user/5/posts` are both tagged `user:5`.
    /// let cache = Cache::default();
    /// let layer = CacheLayer::new(cache.clone()).tag_with(|request| {
    ///     let id = request.uri.path().split('/').nth(2).unwrap_or("");
    ///     [format!("user:{id}")]
    /// });
    /// // ... after user 5 changes:
    /// cache.invalidate_tag("user:5").await?;
    /// # Ok(())
    /// # }
    /// ```
    #[must_use]
    pub fn tag_with<F, I>(self, tags: F) -> Self
    where
        F: Fn(&Parts) -> I + Send + Sync + 'static,
        I: IntoIterator,
        I::Item: Into<String>,
    {
        let tags = move |parts: &Parts| tags(parts).into_iter().map(Into::into).collect();
        self.with(|c| c.tag_with = Some(Arc::new(tags)))
    }

    /// The cache the responses are stored in.
    ///
    /// ```
    /// let cache = cache_core::Cache::builder().key_prefix("web").build()?;
    /// let layer = cache_core::http::CacheLayer::new(cache);
    /// assert_eq!(layer.cache().key_prefix(), "web");
    /// # Ok::<(), cache_core::Error>(())
    /// ```
    pub fn cache(&self) -> &Cache {
        &self.config.cache
    }

    /// Removes every stored response of `path` (every method, query and
    /// `Vary` variant) from this layer's cache: the next request of the
    /// path runs the handler. Returns whether anything of the path was
    /// stored. Any layer over the same cache invalidates the same entries.
    /// To remove responses by tag, see [`tag_with`](Self::tag_with).
    ///
    /// `path` is the path as the layer sees it: without the query string,
    /// and inside an axum router nested with `nest("/api", ...)`, without
    /// the `/api` prefix.
    ///
    /// One key is deleted, whatever the number of entries: the path's
    /// generation, which every entry of the path was stored under (see the
    /// [module docs](super#invalidation)).
    ///
    /// A store failure is returned, whatever
    /// [`ignore_errors`](crate::CacheBuilder::ignore_errors) says: the
    /// caller must know the old responses may still be served. A `path`
    /// that does not start with `/` or has a query string is an
    /// [`ErrorKind::InvalidInput`] error.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> cache_core::Result<()> {
    /// let layer = cache_core::http::CacheLayer::new(cache_core::Cache::default());
    /// assert!(!layer.invalidate("/user/5").await?, "nothing was stored yet");
    /// let err = layer.invalidate("/user/5?tab=posts").await.unwrap_err();
    /// assert_eq!(err.kind(), cache_core::ErrorKind::InvalidInput);
    /// # Ok(())
    /// # }
    /// ```
    pub async fn invalidate(&self, path: &str) -> Result<bool> {
        if !path.starts_with('/') || path.contains(['?', '#']) {
            return Err(Error::new(
                ErrorKind::InvalidInput,
                format!("cannot invalidate `{path}`: a path starts with `/` and has no query string or fragment"),
            ));
        }
        let cache = &self.config.cache;
        cache
            .delete_full(&key::path_scope(cache, path), OnError::Strict)
            .await
    }
}

impl<S> Layer<S> for CacheLayer {
    type Service = CacheService<S>;

    fn layer(&self, inner: S) -> CacheService<S> {
        CacheService::new(inner, Arc::clone(&self.config))
    }
}

impl fmt::Debug for CacheLayer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.config.fmt(f)
    }
}

impl fmt::Debug for Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CacheLayer")
            .field("cache", &self.cache)
            .field("timeout", &self.timeout)
            .field("query_string", &self.query_string)
            .field("vary_on", &self.vary_on)
            .field("statuses", &self.statuses)
            .field("stored_headers", &self.stored_headers)
            .field("max_body_size", &self.max_body_size)
            .field("status_header", &self.status_header)
            .field("request_cache_control", &self.request_cache_control)
            .field("response_filter", &self.response_filter.is_some())
            .field("unless", &self.unless.is_some())
            .field("key_with", &self.key_with.is_some())
            .field("tag_with", &self.tag_with.is_some())
            .finish()
    }
}
