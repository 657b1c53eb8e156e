//! The [`Cache`] handle and its typed operations.
//!
//! One concern per file: this file holds the handle, its configuration
//! accessors and the blocking bridge; [`ops`] the single-key operations
//! and read-through; [`many`] the batch operations and `clear`; [`engine`]
//! the read and write paths they share (typed in-memory reads, decoding,
//! single-flight computation); [`tags`] tagged writes and `invalidate_tag`;
//! [`outage`] the error policy every store call goes through; [`builder`]
//! the [`CacheBuilder`]; [`global`] the process-wide cache of the macros;
//! `open` the fail-open, uncounted operations of the HTTP layer.

mod builder;
mod engine;
mod global;
mod lock;
mod many;
mod near;
#[cfg(feature = "tower")]
mod open;
mod ops;
mod outage;
mod policy_api;
mod resilient;
mod tags;

pub use builder::{CacheBuilder, DEFAULT_BREAKER_PAUSE};
pub(crate) use engine::{Coalesce, Looked};
pub use global::{global, init};
pub use near::NearCacheStats;
pub(crate) use outage::OnError;
pub(crate) use resilient::{Report, Seen};

use std::fmt;

use serde::de::DeserializeOwned;
use serde::Serialize;
use std::future::Future;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::Duration;

use crate::backend::{Backend, MemoryBackend, Ttl};
use crate::blocking::Blocking;
use crate::codec::Format;
use crate::flight::Flights;
use crate::local::LocalTier;
use crate::stats::{Counters, Stats};
use crate::{runtime, Result};

/// What a cache can read back: a value that serializes, deserializes, and
/// is cheap enough to clone for every caller (wrap large values in an
/// `Arc`). Implemented for every type with those bounds; the name only
/// spares writing them out.
///
/// ```
/// fn cacheable<T: cache_core::CacheValue>() {}
/// cacheable::<Vec<String>>();
/// cacheable::<std::collections::HashMap<u64, (String, f64)>>();
/// ```
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be read from the cache",
    note = "a cached value must be `Serialize + DeserializeOwned + Clone + Send + Sync + 'static`"
)]
pub trait CacheValue: Serialize + DeserializeOwned + Clone + Send + Sync + 'static {}

impl<T: Serialize + DeserializeOwned + Clone + Send + Sync + 'static> CacheValue for T {}

/// What a cache can store: a value that serializes, given by reference.
/// The cache keeps (in memory) or encodes its owned form, so a borrowed
/// `str` is stored as a `String` and reads back as one:
/// `cache.set("k", "text", None)` then `cache.get::<String>("k")`.
/// Implemented for every type with those bounds.
///
/// ```
/// fn storable<T: cache_core::StoreValue + ?Sized>() {}
/// storable::<str>();
/// storable::<[u8]>();
/// storable::<Vec<u8>>();
/// ```
pub trait StoreValue: Serialize {
    /// The owned form the cache keeps.
    type Stored: Serialize + Send + Sync + 'static;

    /// The owned copy the cache keeps.
    fn to_stored(&self) -> Self::Stored;
}

impl<T> StoreValue for T
where
    T: Serialize + ToOwned + ?Sized,
    T::Owned: Serialize + Send + Sync + 'static,
{
    type Stored = T::Owned;

    fn to_stored(&self) -> T::Owned {
        self.to_owned()
    }
}

/// One `(key, value)` pair of [`Cache::set_many`]: a tuple, or a reference
/// to one, whose key is any string type.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> cache_core::Result<()> {
/// let cache = cache_core::Cache::default();
/// cache.set_many(&[("a", 1u32), ("b", 2)], None).await?;
/// let owned: Vec<(String, u32)> = vec![("c".to_string(), 3)];
/// cache.set_many(owned, None).await?;
/// assert_eq!(cache.get::<u32>("c").await?, Some(3));
/// # Ok(())
/// # }
/// ```
pub trait KeyValue<T: ?Sized> {
    /// The key.
    fn key(&self) -> &str;
    /// The value.
    fn value(&self) -> &T;
}

impl<K: AsRef<str>, T> KeyValue<T> for (K, T) {
    fn key(&self) -> &str {
        self.0.as_ref()
    }
    fn value(&self) -> &T {
        &self.1
    }
}

impl<K: AsRef<str>, T> KeyValue<T> for &(K, T) {
    fn key(&self) -> &str {
        self.0.as_ref()
    }
    fn value(&self) -> &T {
        &self.1
    }
}

/// The default timeout: 300 seconds, as Flask-Caching's `CACHE_DEFAULT_TIMEOUT`.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(300);

/// The default key prefix.
pub const DEFAULT_KEY_PREFIX: &str = "cache";

/// A cheap, cloneable handle to a cache: a store plus the key prefix,
/// default timeout, codec and error policy applied to everything that
/// goes through it.
///
/// All operations are `async`; [`Cache::blocking`] gives the same
/// operations for sync code. Keys passed to operations are relative: the
/// prefix is added by the cache, and [`clear`](Cache::clear) removes
/// exactly the keys under it.
///
/// Timeouts are `impl Into<Option<Duration>>`: pass `None` for the default
/// timeout, a `Duration` for that duration, and `Duration::ZERO` for
/// "never expires".
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> cache_core::Result<()> {
/// use std::time::Duration;
/// use cache_core::Cache;
///
/// let cache = Cache::builder().key_prefix("app:").build()?;
/// cache.set("greeting", &"hello".to_string(), Duration::from_secs(60)).await?;
/// assert_eq!(cache.get::<String>("greeting").await?.as_deref(), Some("hello"));
/// cache.clear().await?;
/// assert_eq!(cache.get::<String>("greeting").await?, None);
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct Cache {
    pub(crate) inner: Arc<Inner>,
}

pub(crate) struct Inner {
    pub(crate) backend: Arc<dyn Backend>,
    /// With a listener on the memory store: what the store tells of this
    /// cache's evicted and expired keys (it holds it weakly).
    #[expect(
        dead_code,
        reason = "held so that the store's weak reference lives as long as the cache"
    )]
    evictions: Option<Arc<crate::backend::memory::Sink>>,
    /// The typed tier over the same store as `backend` when it is a
    /// [`MemoryBackend`]: values go in and out as Rust values, with no codec
    /// and no future.
    local: Option<LocalTier>,
    /// The near cache (L1) in front of a remote store, when enabled.
    near: Option<crate::near::Near>,
    /// The prefix as configured (what [`Cache::key_prefix`] returns).
    pub(crate) prefix: Box<str>,
    /// The namespace's keys: `<namespace>|` for keys given to the `Cache`
    /// API, `<namespace>#` for memoized functions, `<namespace>!` for tag
    /// indexes (see [`crate::key::Namespace`]).
    pub(crate) keys: crate::key::Namespace,
    pub(crate) default_ttl: Ttl,
    pub(crate) ignore_errors: bool,
    pub(crate) format: Format,
    pub(crate) stats: Counters,
    /// Its name, store label, listener and per-function statistics.
    pub(crate) observer: crate::observe::Observer,
    pub(crate) flights: Flights,
    /// The default policy of read-through calls.
    pub(crate) policy: crate::Policy,
    /// Whether it keeps stale values (entries carry a logical expiry).
    pub(crate) policy_timed: bool,
    /// Whether it changes nothing (read-throughs take the plain engine).
    pub(crate) policy_plain: bool,
    /// The circuit breaker in front of a remote store, if any.
    pub(crate) breaker: Option<Arc<crate::backend::breaker::State>>,
    /// Whether the last backend call failed: errors are logged at `warn`
    /// once per outage, then at `debug` until a call succeeds again.
    degraded: AtomicBool,
    /// Whether a warning was logged for the current outage (so that its end
    /// is logged too).
    warned: AtomicBool,
    warnings: outage::RateLimit,
    decode_warnings: outage::RateLimit,
}

impl Default for Cache {
    /// An in-memory cache with the default prefix, timeout and capacity.
    fn default() -> Self {
        Self::new(MemoryBackend::new())
    }
}

impl fmt::Debug for Cache {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Cache")
            .field("prefix", &self.inner.prefix)
            .field("default_ttl", &self.inner.default_ttl)
            .field("ignore_errors", &self.inner.ignore_errors)
            .field("format", &self.inner.format)
            .field("in_memory", &self.inner.local.is_some())
            .field("near_cache", &self.inner.near.is_some())
            .field("name", &self.inner.observer.name)
            .finish_non_exhaustive()
    }
}

impl Cache {
    /// A builder to configure a cache.
    ///
    /// ```
    /// use std::time::Duration;
    /// let cache = cache_core::Cache::builder()
    ///     .url("memory://?max_capacity=32MiB")
    ///     .key_prefix("shop:")
    ///     .default_timeout(Duration::from_secs(60))
    ///     .build()?;
    /// # Ok::<(), cache_core::Error>(())
    /// ```
    pub fn builder() -> CacheBuilder {
        CacheBuilder::default()
    }

    /// A cache over `backend` with the default settings.
    ///
    /// # Panics
    ///
    /// Never: a builder given only a backend cannot fail.
    ///
    /// ```
    /// let cache = cache_core::Cache::new(cache_core::NullBackend);
    /// ```
    pub fn new(backend: impl Backend) -> Self {
        Self::builder()
            .backend(backend)
            .build()
            .expect("a builder with only a backend always builds")
    }

    /// A cache from a URL, with the default settings otherwise:
    /// `memory://` (optionally `?max_capacity=64MiB`), `null://`, and the
    /// Redis schemes when the `redis` feature is enabled. Connecting is lazy;
    /// call [`ping`](Cache::ping) to check the store is reachable.
    ///
    /// ```
    /// let cache = cache_core::Cache::from_url("memory://?max_capacity=16MiB")?;
    /// let err = cache_core::Cache::from_url("memcached://localhost").unwrap_err();
    /// assert_eq!(err.kind(), cache_core::ErrorKind::Config);
    /// # Ok::<(), cache_core::Error>(())
    /// ```
    pub fn from_url(url: &str) -> Result<Self> {
        Self::builder().url(url).build()
    }

    /// The key prefix added to every key.
    ///
    /// ```
    /// let cache = cache_core::Cache::builder().key_prefix("app:").build()?;
    /// assert_eq!(cache.key_prefix(), "app:");
    /// # Ok::<(), cache_core::Error>(())
    /// ```
    pub fn key_prefix(&self) -> &str {
        &self.inner.prefix
    }

    /// The timeout used when an operation passes `None`; `None` here
    /// means the default is "never expires".
    ///
    /// ```
    /// use std::time::Duration;
    /// assert_eq!(cache_core::Cache::default().default_timeout(), Some(Duration::from_secs(300)));
    /// ```
    pub fn default_timeout(&self) -> Option<Duration> {
        self.inner.default_ttl.duration()
    }

    /// The store behind this cache, for raw byte access with full keys
    /// (prefix included).
    ///
    /// ```
    /// let cache = cache_core::Cache::default();
    /// let backend: &dyn cache_core::Backend = cache.backend();
    /// ```
    pub fn backend(&self) -> &dyn Backend {
        &*self.inner.backend
    }

    /// A snapshot of the counters of the whole cache (see [`Stats`]);
    /// [`function_stats`](Cache::function_stats) splits them by memoized
    /// function.
    ///
    /// ```
    /// let stats = cache_core::Cache::default().stats();
    /// assert_eq!(stats.hits, 0);
    /// ```
    pub fn stats(&self) -> Stats {
        let mut stats = self.inner.stats.snapshot();
        for function in self.inner.observer.functions.all() {
            stats.add(&function.stats.snapshot());
        }
        stats
    }

    /// Whether the circuit breaker in front of the store is open: the
    /// store failed with a connection error or a timeout and has not
    /// answered a probe since, so calls skip it (see
    /// [`CacheBuilder::circuit_breaker`]). Always `false` for the memory
    /// store. A health endpoint can report it.
    ///
    /// ```
    /// assert!(!cache_core::Cache::default().circuit_open());
    /// ```
    pub fn circuit_open(&self) -> bool {
        self.inner.breaker.as_ref().is_some_and(|b| b.is_open())
    }

    /// The same operations for sync code. See the [`Blocking`] type.
    ///
    /// ```
    /// let cache = cache_core::Cache::default();
    /// cache.blocking().set("n", &1u64, None)?;
    /// assert_eq!(cache.blocking().get::<u64>("n")?, Some(1));
    /// # Ok::<(), cache_core::Error>(())
    /// ```
    pub fn blocking(&self) -> Blocking<'_> {
        Blocking::new(self)
    }

    /// The full key, as the store sees it, for a key given to this cache:
    /// `<namespace>|<key>` (see [`key::Namespace`](crate::key::Namespace)).
    ///
    /// ```
    /// let cache = cache_core::Cache::builder().key_prefix("app").build()?;
    /// assert_eq!(cache.full_key("user:1"), "app|user:1");
    /// # Ok::<(), cache_core::Error>(())
    /// ```
    pub fn full_key(&self, key: &str) -> String {
        let plain = self.inner.keys.plain();
        let mut full = String::with_capacity(plain.len() + key.len());
        full.push_str(plain);
        full.push_str(key);
        full
    }

    pub(crate) fn ttl(&self, timeout: Option<Duration>) -> Ttl {
        timeout.map_or(self.inner.default_ttl, Ttl::from_duration)
    }

    /// The typed in-process tier, when the store is in this process.
    #[inline]
    pub(crate) fn local(&self) -> Option<&LocalTier> {
        self.inner.local.as_ref()
    }

    pub(crate) fn is_local(&self) -> bool {
        self.inner.local.is_some()
    }

    /// The start of every key of a memoized function in this cache:
    /// `<namespace>#`.
    pub(crate) fn memo_prefix(&self) -> &str {
        self.inner.keys.memoized()
    }

    /// Whether blocking calls need the crate's I/O runtime.
    pub(crate) fn needs_io(&self) -> bool {
        !self.is_local()
    }

    pub(crate) fn block_on<F: Future>(&self, fut: F) -> F::Output {
        runtime::block_on(fut, self.needs_io())
    }
}
