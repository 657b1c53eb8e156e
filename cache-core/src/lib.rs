//! Caching for Rust in the spirit of Flask-Caching: a typed [`Cache`]
//! handle over an in-memory store (the default) or Redis, with
//! `#[memoize]`/`#[cached]` attribute macros.
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> cache_core::Result<()> {
//! use std::time::Duration;
//! use cache_core::Cache;
//!
//! let cache = Cache::builder().key_prefix("app:").build()?;
//! cache.set("user:1", &"Ada".to_string(), Duration::from_secs(60)).await?;
//! assert_eq!(cache.get::<String>("user:1").await?.as_deref(), Some("Ada"));
//!
//! let profile = cache.get_or_set_with("user:2", None, || async { "Grace".to_string() }).await;
//! assert_eq!(profile, "Grace");
//! # Ok(())
//! # }
//! ```
//!
//! The [`guide`] walks through caching functions with `#[cached]` and
//! `#[memoize]`, invalidation, and the Flask-Caching equivalents; [`tags`]
//! how to invalidate groups of entries at once; with the `tower` feature,
//! `cache_core::http` caches whole HTTP responses; [`observe`] lists the
//! spans, statistics, metrics and events a cache reports.
//!
//! # Stores
//!
//! | URL | store |
//! |---|---|
//! | `memory://?max_capacity=64MiB` | [`MemoryBackend`]: in-process, bounded by bytes, typed hits with no decoding |
//! | `null://` | [`NullBackend`]: stores nothing (caching off) |
//! | `redis://[[user]:pass@]host[:port][/db][?connect_timeout=2s&response_timeout=1s]`, `rediss://…` (TLS), and the same as `valkey://…`, `valkeys://…` | [`backend::RedisBackend`] (feature `redis`): a multiplexed connection per tokio runtime, reconnected automatically |
//! | `redis+cluster://host:port,host:port…[?options]`, `rediss+cluster://…` | [`backend::RedisBackend`] on a Redis Cluster: keys routed by slot, `clear` on every primary |
//! | `redis+sentinel://host:port,host:port…/<service>[/db][?options]`, `rediss+sentinel://…` | [`backend::RedisBackend`] on the master that Redis Sentinel names, followed across failovers |
//!
//! Any other store plugs in by implementing [`Backend`]; the
//! `testing` feature's [`testing::conformance`] checks it behaves.
//!
//! # Feature flags
//!
//! | feature | default | what it adds |
//! |---|---|---|
//! | `macros` | yes | `#[memoize]` and `#[cached]` |
//! | `redis` | yes | [`backend::RedisBackend`] and the `redis://`, `redis+cluster://`, `redis+sentinel://` URLs and their TLS forms (redis-rs; TLS through rustls) |
//! | `json` | no | [`Codec::Json`] |
//! | `tower` | no | [`http`]: a tower layer that caches HTTP responses (axum, hyper) |
//! | `metrics` | no | counters and histograms through the [`metrics`](https://docs.rs/metrics) facade (see [`observe`]) |
//! | `testing` | no | [`testing`]: the backend conformance suite |

#![cfg_attr(docsrs, feature(doc_cfg))]
#![warn(missing_docs)]

pub mod backend;
mod blocking;
mod cache;
pub mod codec;
mod config;
mod error;
mod flight;
pub mod guide;
#[cfg(feature = "tower")]
#[cfg_attr(docsrs, doc(cfg(feature = "tower")))]
pub mod http;
pub mod key;
mod local;
mod memo;
mod memo_policy;
mod near;
pub mod observe;
pub mod policy;
mod runtime;
mod stats;
pub mod tags;
mod template;
#[cfg(feature = "testing")]
#[cfg_attr(docsrs, doc(cfg(feature = "testing")))]
pub mod testing;

// The stores are documented once, in `backend`; the root names them too,
// as a shortcut for imports.
#[cfg(feature = "redis")]
#[cfg_attr(docsrs, doc(cfg(feature = "redis")))]
#[doc(no_inline)]
pub use backend::RedisBackend;
#[doc(no_inline)]
pub use backend::{Backend, MemoryBackend, NullBackend, Ttl};
pub use blocking::Blocking;
pub use cache::{
    global, init, Cache, CacheBuilder, CacheValue, KeyValue, NearCacheStats, StoreValue,
    DEFAULT_BREAKER_PAUSE, DEFAULT_KEY_PREFIX, DEFAULT_TIMEOUT,
};
pub use codec::Codec;
pub use error::{Error, ErrorKind, Result};
pub use policy::{Lock, Policy};
pub use stats::{ErrorCounts, Latency, Stats};

/// Re-exported so a custom [`Backend`] can be written with only this crate
/// as a dependency.
pub use async_trait::async_trait;
/// Re-exported: [`Backend`] values are [`Bytes`](bytes::Bytes).
pub use bytes;

/// Caches a function's result per distinct argument list, with generated
/// `_invalidate`, `_invalidate_all`, `_refresh` and `_uncached` functions.
#[cfg(feature = "macros")]
#[cfg_attr(docsrs, doc(cfg(feature = "macros")))]
pub use cache_macros::memoize;

/// Caches a function's result as one entry (or one per rendered `key`
/// template), with the same generated functions as [`memoize`].
#[cfg(feature = "macros")]
#[cfg_attr(docsrs, doc(cfg(feature = "macros")))]
pub use cache_macros::cached;

#[doc(hidden)]
pub mod __private {
    //! Used by the code the macros generate. Not public API.
    //!
    //! The generated code names everything through this module, so a
    //! crate that re-exports it can offer the macros with `crate = path`.
    pub use crate::memo::*;
    pub use crate::memo_policy::*;
    pub use crate::{global, Cache, Lock, Policy, Result, Stats};

    /// A key argument: `Serialize`, with a compile error that says what to do.
    #[diagnostic::on_unimplemented(
        message = "`{Self}` cannot be part of the cache key: it does not implement `serde::Serialize`",
        label = "this argument is part of the key",
        note = "derive or implement `Serialize` for it, or leave the argument out of the key with `#[memoize(ignore(name))]`"
    )]
    pub trait KeyArg {}
    impl<T: serde::Serialize + ?Sized> KeyArg for T {}

    /// The receiver as a key argument.
    #[diagnostic::on_unimplemented(
        message = "`{Self}` cannot be part of the cache key: it does not implement `serde::Serialize`",
        label = "`self` is part of the key",
        note = "leave the receiver out of the key with `#[memoize(ignore(self))]`, or derive `Serialize` for the type"
    )]
    pub trait KeySelf {}
    impl<T: serde::Serialize + ?Sized> KeySelf for T {}

    /// Type-checks that a key argument can be serialized; the macros span
    /// the call on the argument, so the error points at it.
    #[inline(always)]
    pub fn assert_key_arg<T: KeyArg + ?Sized>(_: &T) {}

    /// [`assert_key_arg`] for the `self` receiver.
    #[inline(always)]
    pub fn assert_key_self<T: KeySelf + ?Sized>(_: &T) {}

    /// The value of a `key = |…| …` closure: `Serialize`.
    #[diagnostic::on_unimplemented(
        message = "the key closure returns `{Self}`, which cannot be a cache key: it does not implement `serde::Serialize`",
        label = "this value is the key",
        note = "return a `Serialize` value built from the arguments: a tuple such as `(id, query.page)`, or a `String`"
    )]
    pub trait KeyValue {}
    impl<T: serde::Serialize + ?Sized> KeyValue for T {}

    /// Passes the value of a `key = |…| …` closure through, checked to be
    /// `Serialize` (the macros span the call on the closure's body).
    #[inline]
    pub fn key_value<T: KeyValue + ?Sized>(value: &T) -> &T {
        value
    }

    /// A name bound by `Wrapper(name): Wrapper<T>` is taken to be a `T`
    /// (a `&T`, `&&T`… through the reference patterns the macros remove).
    #[diagnostic::on_unimplemented(
        message = "this pattern binds a `{Self}`, but the macro read `{T}` from the argument's type",
        label = "bound here",
        note = "the macros read the type of `name` in `Wrapper(name): Wrapper<T>` as `T`, as axum's extractors wrap it (`Path(id): Path<u64>`), and the generated `_invalidate` takes it as a `T`; for a wrapper of another shape, bind the whole argument to a name"
    )]
    pub trait PatternBinds<T: ?Sized> {}
    impl<T: ?Sized> PatternBinds<T> for T {}
    impl<T: ?Sized> PatternBinds<T> for &T {}

    /// Type-checks the type the macros read for a pattern binding; spanned
    /// on the binding.
    #[inline(always)]
    pub fn assert_binds<T: ?Sized, U: PatternBinds<T> + ?Sized>(_: &U) {}
}
