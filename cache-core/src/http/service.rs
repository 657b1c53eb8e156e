//! [`CacheService`]: a request's way through the cache.

use std::collections::hash_map::RandomState;
use std::fmt;
use std::future::Future;
use std::hash::{BuildHasher, Hasher};
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use http::header::{self, HeaderValue};
use http::request::Parts;
use http::{HeaderName, Method, Request, Response};
use http_body::Body;
use tower_service::Service;

use super::body::{collect, CacheBody, Collected};
use super::entry::{self, allowed_headers, vary_names, Directives, Record, StoredResponse};
use super::key::{self, Query, Variant};
use super::layer::Config;
use crate::backend::Ttl;
use crate::cache::OnError;
use crate::flight::{Join, Mark};
use crate::Cache;

/// The service [`CacheLayer`](super::CacheLayer) wraps around an inner HTTP
/// service: it answers from the cache when it can and calls the inner
/// service otherwise (once for concurrent misses of one request).
///
/// ```
/// use std::convert::Infallible;
/// use cache_core::http::{CacheLayer, CacheService};
/// use http::{Request, Response};
/// use tower::{service_fn, Layer};
///
/// let inner = service_fn(|_: Request<String>| async { Ok::<_, Infallible>(Response::new(String::from("hi"))) });
/// let service: CacheService<_> = CacheLayer::new(cache_core::Cache::default()).layer(inner);
/// ```
#[derive(Clone)]
pub struct CacheService<S> {
    inner: S,
    config: Arc<Config>,
}

impl<S> CacheService<S> {
    pub(super) fn new(inner: S, config: Arc<Config>) -> Self {
        Self { inner, config }
    }
}

impl<S: fmt::Debug> fmt::Debug for CacheService<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CacheService")
            .field("inner", &self.inner)
            .field("layer", &self.config)
            .finish()
    }
}

type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send>>;

/// The future of [`CacheService::call`].
pub struct ResponseFuture<B: Body, E> {
    inner: BoxFuture<Result<Response<CacheBody<B>>, E>>,
}

impl<B: Body, E> Future for ResponseFuture<B, E> {
    type Output = Result<Response<CacheBody<B>>, E>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        self.inner.as_mut().poll(cx)
    }
}

impl<B: Body, E> fmt::Debug for ResponseFuture<B, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ResponseFuture").finish_non_exhaustive()
    }
}

impl<S, ReqBody, ResBody> Service<Request<ReqBody>> for CacheService<S>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Send + 'static,
    ReqBody: Send + 'static,
    ResBody: Body + Send + 'static,
    ResBody::Error: Send,
{
    type Response = Response<CacheBody<ResBody>>;
    type Error = S::Error;
    type Future = ResponseFuture<ResBody, S::Error>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<ReqBody>) -> Self::Future {
        // The service that was polled ready serves this request; the clone
        // stays for the next one.
        let clone = self.inner.clone();
        let ready = std::mem::replace(&mut self.inner, clone);
        ResponseFuture {
            inner: Box::pin(serve(Arc::clone(&self.config), ready, request)),
        }
    }
}

/// The keys of one request.
struct Keys {
    /// The full key of its path's generation.
    generation: String,
    /// The full index keys of its tags (see [`crate::tags`]).
    tags: Vec<String>,
    /// The full key of its entry (or of the `Vary` record that leads to it).
    entry: String,
}

/// What a miss's computation gives the callers that waited for it.
enum Outcome {
    /// A response that may be served to every request with this key
    /// (stored, unless the store failed): `key` is where it belongs, which
    /// for a varying response depends on the request's `vary` headers.
    Shared {
        stored: Arc<StoredResponse>,
        vary: Arc<[String]>,
        key: String,
    },
    /// Nothing to share (not storable, or the inner service failed): each
    /// waiting caller runs the inner service itself.
    Pass,
}

/// What a lookup found.
struct Lookup {
    /// The path's current generation.
    generation: Option<u64>,
    /// The stored response, if it is current.
    hit: Option<Hit>,
}

/// A current stored response, and the headers its resource varies on
/// (`None`: it does not vary, and is under the entry key itself).
struct Hit {
    stored: Arc<StoredResponse>,
    vary: Option<Arc<[String]>>,
}

/// A request's way: the hit path is kept small (the future of every
/// request is allocated whole); misses and refreshes run in futures of
/// their own.
async fn serve<S, ReqBody, ResBody>(
    config: Arc<Config>,
    inner: S,
    request: Request<ReqBody>,
) -> Result<Response<CacheBody<ResBody>>, S::Error>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>>,
    ResBody: Body,
{
    let (parts, body) = request.into_parts();
    let cacheable = matches!(parts.method, Method::GET | Method::HEAD)
        && !config.unless.as_ref().is_some_and(|unless| unless(&parts));
    let keys = if cacheable {
        keys(&config, &parts)
    } else {
        None
    };
    let Some(keys) = keys else {
        return pass(&config, inner, Request::from_parts(parts, body)).await;
    };
    if config.request_cache_control {
        let directives = Directives::of(&parts.headers);
        if directives.no_cache || directives.no_store {
            let store = !directives.no_store;
            return Box::pin(refresh(&config, inner, parts, body, &keys, store)).await;
        }
    }
    let cache = &config.cache;
    let mark = remote_mark(cache, &keys);
    let found = lookup(cache, &keys, &parts).await;
    if let Some(Hit { stored, .. }) = found.hit {
        cache.count_hit();
        return Ok(hit(&config, &stored));
    }
    cache.count_miss();
    let generation = found.generation;
    Box::pin(miss(&config, inner, parts, body, &keys, mark, generation)).await
}

/// Taken before a read of a remote store, to tell later whether a flight
/// of the entry ended since (see [`crate::flight::Mark`]); in memory a
/// second look is free and needs none.
fn remote_mark(cache: &Cache, keys: &Keys) -> Option<Mark> {
    (!cache.is_local()).then(|| cache.inner.flights.mark(&keys.entry))
}

/// A request with `Cache-Control: no-cache` or `no-store`: the stored
/// response is skipped; the fresh one replaces it if `store`.
async fn refresh<S, ReqBody, ResBody>(
    config: &Config,
    inner: S,
    parts: Parts,
    body: ReqBody,
    keys: &Keys,
    store: bool,
) -> Result<Response<CacheBody<ResBody>>, S::Error>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>>,
    ResBody: Body,
{
    let cache = &config.cache;
    cache.count_miss();
    let generation = if store {
        let found = read_generation(cache, keys).await;
        ensure_generation(cache, keys, found, cache.ttl(config.timeout)).await
    } else {
        None
    };
    let (response, _) = fetch(config, inner, parts, body, keys, generation).await?;
    Ok(response)
}

/// A miss: waits for the computation of the same entry that is running in
/// this process, if any, or runs the inner service and stores what it
/// returns. `mark` and `generation` are from the lookup that missed.
async fn miss<S, ReqBody, ResBody>(
    config: &Config,
    inner: S,
    parts: Parts,
    body: ReqBody,
    keys: &Keys,
    mut mark: Option<Mark>,
    mut generation: Option<u64>,
) -> Result<Response<CacheBody<ResBody>>, S::Error>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>>,
    ResBody: Body,
{
    let cache = &config.cache;
    let flights = &cache.inner.flights;
    let ttl = cache.ttl(config.timeout);
    loop {
        match flights.join(&keys.entry) {
            Join::Follower(flight) => {
                let Some(shared) = flight.wait().await else {
                    // The leader was cancelled: look again.
                    mark = remote_mark(cache, keys);
                    let found = lookup(cache, keys, &parts).await;
                    if let Some(Hit { stored, .. }) = found.hit {
                        return Ok(hit(config, &stored));
                    }
                    generation = found.generation;
                    continue;
                };
                if let Some(Outcome::Shared { stored, vary, key }) =
                    shared.downcast_ref::<Outcome>()
                {
                    if request_key(keys, vary, &parts).as_deref() == Some(key.as_str()) {
                        return Ok(hit(config, stored));
                    }
                }
                let generation = ensure_generation(cache, keys, generation, ttl).await;
                let fetched = fetch(config, inner, parts, body, keys, generation);
                return Ok(fetched.await?.0);
            }
            Join::Leader(leader) => {
                // A flight of this key may have ended between our read and
                // our join: then its response is stored, and computing it
                // again would break single-flight. In memory a second look
                // is free; elsewhere it costs a read, made only when a
                // flight of this key (or of its stripe) ended since ours began.
                if cache.is_local() || mark.is_some_and(|mark| flights.ended_since(mark)) {
                    let found = lookup(cache, keys, &parts).await;
                    if let Some(Hit { stored, vary }) = found.hit {
                        let response = hit(config, &stored);
                        let vary = vary.unwrap_or_else(|| Arc::from([]));
                        // Waiting requests with other values of the `Vary`
                        // headers do not match this key, and fetch their own.
                        if let Some(key) = request_key(keys, &vary, &parts) {
                            leader.finish(|| Arc::new(Outcome::Shared { stored, vary, key }));
                        }
                        return Ok(response);
                    }
                    generation = found.generation;
                }
                let generation = ensure_generation(cache, keys, generation, ttl).await;
                match fetch(config, inner, parts, body, keys, generation).await {
                    Ok((response, outcome)) => {
                        leader.finish(|| Arc::new(outcome));
                        return Ok(response);
                    }
                    Err(error) => {
                        leader.finish(|| Arc::new(Outcome::Pass));
                        return Err(error);
                    }
                }
            }
        }
    }
}

/// The keys of a request, or `None` when it cannot have any (a key part
/// that cannot be encoded: the request is passed through).
fn keys(config: &Config, parts: &Parts) -> Option<Keys> {
    let cache = &config.cache;
    let generation = key::path_scope(cache, parts.uri.path());
    let tags = match &config.tag_with {
        Some(tags) => cache.tag_keys(tags(parts)),
        None => Vec::new(),
    };
    let custom;
    let query = if let Some(key_with) = &config.key_with {
        custom = key_with(parts);
        Query::Custom(&custom)
    } else if config.query_string {
        Query::Params(key::sorted_query(parts.uri.query()))
    } else {
        Query::Ignored
    };
    let variant = Variant {
        query,
        headers: key::header_values(
            &parts.headers,
            config.vary_on.iter().map(HeaderName::as_str),
        ),
    };
    let entry = key::entry_key(cache, parts, &variant).ok()?;
    Some(Keys {
        generation,
        tags,
        entry,
    })
}

/// Where this request's response is stored when the resource varies on
/// `vary`: the entry key itself, or the varied key for the request's
/// values of those headers.
fn request_key(keys: &Keys, vary: &[String], parts: &Parts) -> Option<String> {
    if vary.is_empty() {
        return Some(keys.entry.clone());
    }
    let values = key::header_values(&parts.headers, vary.iter().map(String::as_str));
    key::varied_key(&keys.entry, &values).ok()
}

/// Reads the path's generation and the entry in one round trip (and, for
/// a varying resource, its variant in a second); never fails.
async fn lookup(cache: &Cache, keys: &Keys, parts: &Parts) -> Lookup {
    let mut records = cache
        .read_many_open::<Record>(&[&keys.generation, &keys.entry])
        .await
        .into_iter();
    let generation = generation(records.next().flatten().as_ref());
    let hit = match records.next().flatten() {
        Some(Record::Response(stored)) => Some(Hit { stored, vary: None }),
        Some(Record::Vary(names)) => match request_key(keys, &names, parts) {
            Some(key) => match cache
                .read_many_open::<Record>(&[&key])
                .await
                .pop()
                .flatten()
            {
                Some(Record::Response(stored)) => Some(Hit {
                    stored,
                    vary: Some(names),
                }),
                _ => None,
            },
            None => None,
        },
        _ => None,
    };
    Lookup {
        hit: hit.filter(|hit| generation == Some(hit.stored.generation)),
        generation,
    }
}

fn generation(record: Option<&Record>) -> Option<u64> {
    match record {
        Some(Record::Generation(g)) => Some(*g),
        _ => None,
    }
}

async fn read_generation(cache: &Cache, keys: &Keys) -> Option<u64> {
    let records = cache.read_many_open::<Record>(&[&keys.generation]).await;
    generation(records.first().and_then(Option::as_ref))
}

/// The generation to store a response under: the current one, or a new
/// random one when there is none (it was never set, expired, or was
/// invalidated). `None` when it can be neither read nor set (the store
/// failed): the response is then not stored.
///
/// It is settled before the inner service runs, so that an invalidation
/// made while it runs leaves what it returns unreachable.
async fn ensure_generation(
    cache: &Cache,
    keys: &Keys,
    current: Option<u64>,
    ttl: Ttl,
) -> Option<u64> {
    if current.is_some() {
        return current;
    }
    let fresh = fresh_generation();
    if cache
        .add_open(&keys.generation, &Record::Generation(fresh), ttl)
        .await?
    {
        Some(fresh)
    } else {
        // Another request set it first: use that one.
        read_generation(cache, keys).await
    }
}

/// A random generation: distinct from the ones before it in this and any
/// other process (64 random bits).
fn fresh_generation() -> u64 {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let mut hasher = RandomState::new().build_hasher();
    hasher.write_u64(COUNTER.fetch_add(1, Ordering::Relaxed));
    hasher.write_u64(entry::now_millis());
    hasher.write_u32(std::process::id());
    hasher.finish()
}

/// The response of a hit.
fn hit<B: Body>(config: &Config, stored: &StoredResponse) -> Response<CacheBody<B>> {
    let mut response = stored.to_response().map(CacheBody::from_bytes);
    mark(config, &mut response, "HIT");
    response
}

fn mark<B>(config: &Config, response: &mut Response<B>, status: &'static str) {
    if let Some(name) = &config.status_header {
        response
            .headers_mut()
            .insert(name.clone(), HeaderValue::from_static(status));
    }
}

/// Runs the inner service and hands its response out as it is.
async fn pass<S, ReqBody, ResBody>(
    config: &Config,
    mut inner: S,
    request: Request<ReqBody>,
) -> Result<Response<CacheBody<ResBody>>, S::Error>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>>,
    ResBody: Body,
{
    let mut response = inner.call(request).await?.map(CacheBody::inner);
    mark(config, &mut response, "MISS");
    Ok(response)
}

/// Runs the inner service and stores its response if it may be stored
/// (under `generation`, when given).
async fn fetch<S, ReqBody, ResBody>(
    config: &Config,
    mut inner: S,
    parts: Parts,
    body: ReqBody,
    keys: &Keys,
    generation: Option<u64>,
) -> Result<(Response<CacheBody<ResBody>>, Outcome), S::Error>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>>,
    ResBody: Body,
{
    let request_headers = parts.headers.clone();
    let is_head = parts.method == Method::HEAD;
    let response = inner.call(Request::from_parts(parts, body)).await?;
    let (response, outcome) = match storable(config, &response) {
        None => (response.map(CacheBody::inner), Outcome::Pass),
        Some(vary) => {
            let (head, body) = response.into_parts();
            match collect(body, config.max_body_size).await {
                Collected::Passed(body) => (Response::from_parts(head, body), Outcome::Pass),
                Collected::Complete(bytes) => {
                    let response = Response::from_parts(head, bytes);
                    if config
                        .response_filter
                        .as_ref()
                        .is_some_and(|keep| !keep(&response))
                    {
                        (response.map(CacheBody::from_bytes), Outcome::Pass)
                    } else {
                        let vary: Arc<[String]> = vary.into();
                        let outcome = store(
                            config,
                            &response,
                            &request_headers,
                            is_head,
                            keys,
                            vary,
                            generation,
                        )
                        .await;
                        (response.map(CacheBody::from_bytes), outcome)
                    }
                }
            }
        }
    };
    let mut response = response;
    mark(config, &mut response, "MISS");
    Ok((response, outcome))
}

/// Whether `response` may be stored, from its head alone: the request
/// headers it varies on beyond the configured ones when it may.
fn storable<B: Body>(config: &Config, response: &Response<B>) -> Option<Vec<String>> {
    let headers = response.headers();
    if !config.statuses.contains(&response.status()) || headers.contains_key(header::SET_COOKIE) {
        return None;
    }
    let directives = Directives::of(headers);
    if directives.no_store || directives.private || directives.no_cache {
        return None;
    }
    let limit = u64::try_from(config.max_body_size).unwrap_or(u64::MAX);
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
    if declared.is_some_and(|len| len > limit) || response.body().size_hint().lower() > limit {
        return None;
    }
    let mut vary = vary_names(headers)?;
    vary.retain(|name| !config.vary_on.iter().any(|h| h.as_str() == name));
    Some(vary)
}

/// Stores a response read whole; returns what waiting callers get.
async fn store(
    config: &Config,
    response: &Response<Bytes>,
    request_headers: &http::HeaderMap,
    is_head: bool,
    keys: &Keys,
    vary: Arc<[String]>,
    generation: Option<u64>,
) -> Outcome {
    let mut headers = allowed_headers(response.headers(), &config.stored_headers);
    if is_head {
        // A HEAD response's length is in its header, not its (empty) body.
        headers.extend(allowed_headers(
            response.headers(),
            &[header::CONTENT_LENGTH],
        ));
    }
    let stored = Arc::new(StoredResponse {
        status: response.status().as_u16(),
        headers,
        body: response.body().clone(),
        stored_at: entry::now_millis(),
        generation: generation.unwrap_or_default(),
    });
    let key = if vary.is_empty() {
        keys.entry.clone()
    } else {
        let values = key::header_values(request_headers, vary.iter().map(String::as_str));
        match key::varied_key(&keys.entry, &values) {
            Ok(key) => key,
            Err(_) => return Outcome::Pass,
        }
    };
    if generation.is_some() {
        let cache = &config.cache;
        let ttl = cache.ttl(config.timeout);
        if !vary.is_empty() {
            let pointer = Record::Vary(Arc::clone(&vary));
            // Store failures are logged and counted by the cache.
            let _ = cache
                .store_full(&keys.entry, &pointer, ttl, &[], OnError::Open)
                .await;
        }
        let record = Record::Response(Arc::clone(&stored));
        let _ = cache
            .store_full(&key, &record, ttl, &keys.tags, OnError::Open)
            .await;
    }
    Outcome::Shared { stored, vary, key }
}
