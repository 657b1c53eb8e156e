//! Caching HTTP responses: [`CacheLayer`], a tower layer over any
//! [`Cache`](crate::Cache) (memory, Redis, your own store), for axum,
//! hyper or any tower HTTP service. It is Flask-Caching's
//! `@cache.cached(timeout=60)` on a view.
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use std::convert::Infallible;
//! use std::time::Duration;
//! use cache_core::{http::CacheLayer, Cache};
//! use http::{Request, Response};
//! use http_body_util::BodyExt;
//! use tower::{service_fn, Layer, ServiceExt};
//!
//! let layer = CacheLayer::new(Cache::default()).timeout(Duration::from_secs(60));
//! let page = layer.layer(service_fn(|_: Request<String>| async {
//!     Ok::<_, Infallible>(Response::new(String::from("<h1>Welcome</h1>")))
//! }));
//! let get = || Request::get("/").body(String::new());
//!
//! let first = page.clone().oneshot(get()?).await?;
//! assert_eq!(first.headers()["x-cache"], "MISS");
//! let again = page.clone().oneshot(get()?).await?;
//! assert_eq!(again.headers()["x-cache"], "HIT");
//! assert_eq!(again.headers()["age"], "0");
//! assert_eq!(again.into_body().collect().await?.to_bytes(), "<h1>Welcome</h1>");
//!
//! layer.invalidate("/").await?;
//! assert_eq!(page.oneshot(get()?).await?.headers()["x-cache"], "MISS");
//! # Ok(())
//! # }
//! ```
//!
//! With axum, give each route its own layer with `route_layer` (it wraps
//! the routes added before it) or on the route's `MethodRouter`:
//!
//! ```no_run
//! use std::time::Duration;
//! use axum::{routing::get, Router};
//! use cache_core::{http::CacheLayer, Cache};
//!
//! # async fn index() -> &'static str { "home" }
//! # async fn prices() -> &'static str { "prices" }
//! # async fn live() -> &'static str { "live" }
//! # fn main() -> cache_core::Result<()> {
//! let cache = Cache::from_url("redis://127.0.0.1:6379/0")?;
//! let app: Router = Router::new()
//!     .route("/", get(index))
//!     .route_layer(CacheLayer::new(cache.clone()).timeout(Duration::from_secs(60)))
//!     .route(
//!         "/prices",
//!         get(prices).route_layer(
//!             CacheLayer::new(cache.clone()).timeout(Duration::from_secs(5)).query_string(true),
//!         ),
//!     )
//!     .route("/live", get(live)); // added after `route_layer`: not cached
//! # Ok(())
//! # }
//! ```
//!
//! # What is stored
//!
//! A response is stored when the request is a `GET` or `HEAD` (without a
//! `Cache-Control: no-store` or `no-cache` of its own, see
//! [`CacheLayer::request_cache_control`]) and the response
//!
//! - has a status in [`CacheLayer::statuses`] (`200 OK` by default);
//! - has no `Cache-Control: no-store`, `private` or `no-cache`, no
//!   `Set-Cookie` (a session cookie must not be handed to every client)
//!   and no `Vary: *`;
//! - has a body of at most [`CacheLayer::max_body_size`] bytes (1 MiB by
//!   default) and no trailers. A larger `Content-Length` passes through
//!   unread; a body that grows past the limit is streamed on to the
//!   client after the part read so far, never buffered whole;
//! - passes the [`CacheLayer::response_filter`], if there is one.
//!
//! What is stored is the status, the body and the headers listed in
//! [`CacheLayer::stored_headers`]; a hit replays exactly those, adds `Age`
//! (seconds since it was stored) and `x-cache: HIT` (see
//! [`CacheLayer::status_header`]). Responses that are not from the cache
//! get `x-cache: MISS`.
//!
//! # Keys
//!
//! An entry is identified by the method, the path, the query string when
//! [`CacheLayer::query_string`] is on (parameters sorted by name), the
//! values of the [`CacheLayer::vary_on`] request headers and of the
//! request headers named in the response's `Vary`. The keys live under
//! the cache's namespace (`<prefix>|http:…`), so [`Cache::clear`](crate::Cache::clear)
//! removes them and another prefix on the same store never sees them; the
//! encoding is injective, so two different requests never share an entry.
//! Keys that start with `http:` belong to the layer: don't use them with
//! [`Cache::set`](crate::Cache::set).
//!
//! The host is not part of the key (as in Flask-Caching, which keys on
//! `request.path`), nor are cookies or credentials: a route whose response
//! depends on them needs them in the key ([`CacheLayer::vary_on`],
//! [`CacheLayer::key_with`]) or no cache ([`CacheLayer::unless`]). A
//! response that says `Cache-Control: private` or sets a cookie is never
//! stored.
//!
//! Inside an axum router nested with `nest("/api", …)`, the layer sees
//! paths without the `/api` prefix: two nested routers with the same inner
//! paths need a layer over caches with different prefixes each (or the
//! layer on the outer router).
//!
//! # Invalidation
//!
//! [`CacheLayer::invalidate`] removes every entry of a path (all methods,
//! queries and `Vary` variants) by deleting one key, with no scan of the
//! store: each path has a *generation*, a random token kept under
//! `http:path:<path>`, and every entry records the generation it was
//! stored under; an entry whose generation is no longer the path's is
//! never served. Invalidating deletes the generation; the next store of
//! the path draws a new one, and the old entries expire on their own.
//!
//! A generation is read with the entry, in the same round trip, and is
//! settled *before* the inner service runs: a response computed while an
//! invalidation happens is stored under the old generation and never
//! served. A generation lives as long as the entries (the layer's
//! timeout); when it expires or is evicted, the path's entries are only
//! misses, never stale hits. This is Flask-Caching's scheme for
//! `delete_memoized` (a version key per function). It costs one small
//! key per cached path, and works on every store.
//!
//! Responses can also carry the cache's tags ([`CacheLayer::tag_with`]):
//! [`Cache::invalidate_tag`](crate::Cache::invalidate_tag) removes them
//! with every other entry of the tag, memoized or not (see [`crate::tags`]).
//!
//! # Concurrency and errors
//!
//! Concurrent misses of one entry in a process run the inner service once
//! (the single-flight of [`Cache::get_or_set_with`](crate::Cache::get_or_set_with)):
//! the others wait and are served its response. When that response cannot
//! be shared (it may not be stored, or the inner service failed), each of
//! them runs the inner service itself.
//!
//! The cache never fails a request: when the store is down or slow to
//! answer, requests go to the inner service, and the errors are logged
//! once per outage and counted in [`Cache::stats`](crate::Cache::stats)
//! like every other store error. Each request counts one hit or one miss.
//!
//! # Flask-Caching
//!
//! | Flask-Caching | here |
//! |---|---|
//! | `@cache.cached(timeout=60)` on a view | `.route_layer(CacheLayer::new(cache).timeout(Duration::from_secs(60)))` |
//! | `query_string=True` | [`.query_string(true)`](CacheLayer::query_string) |
//! | `response_filter=f` | [`.response_filter(f)`](CacheLayer::response_filter) |
//! | `make_cache_key=f` | [`.key_with(f)`](CacheLayer::key_with) (the method and path stay in the key) |
//! | `unless=f` | [`.unless(f)`](CacheLayer::unless) |
//! | `response_hit_indication=True` | on by default: [`.status_header(...)`](CacheLayer::status_header) |
//! | `cache.delete(view key)` | [`layer.invalidate("/path")`](CacheLayer::invalidate); by tag: [`.tag_with(f)`](CacheLayer::tag_with) and [`cache.invalidate_tag(tag)`](crate::Cache::invalidate_tag) |

mod body;
mod entry;
mod key;
mod layer;
mod service;

pub use body::CacheBody;
pub use layer::{CacheLayer, DEFAULT_MAX_BODY_SIZE, DEFAULT_STATUS_HEADER};
pub use service::{CacheService, ResponseFuture};
