//! The [`Cache`] handle, its builder and the process-wide cache.

use std::any::Any;
use std::fmt;
use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::backend::memory::{key_for_message, Stored};
use crate::backend::{Backend, MemoryBackend, Ttl};
use crate::blocking::Blocking;
use crate::codec::{self, Codec, Format};
use crate::flight::{Flights, Join};
use crate::key::{KeyOut, StackKey};
use crate::stats::{Counters, Stats};
use crate::{config, runtime, Error, ErrorKind, Result};

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
    /// The same store as `backend` when it is a [`MemoryBackend`]: values go
    /// in and out as typed Rust values, with no codec and no future.
    pub(crate) local: Option<MemoryBackend>,
    /// The prefix as configured (what [`Cache::key_prefix`] returns).
    pub(crate) prefix: Box<str>,
    /// The namespace's keys: `<namespace>|` for keys given to the `Cache`
    /// API, `<namespace>#` for memoized functions (see [`crate::key::Namespace`]).
    pub(crate) keys: crate::key::Namespace,
    pub(crate) default_ttl: Ttl,
    pub(crate) ignore_errors: bool,
    pub(crate) format: Format,
    pub(crate) stats: Counters,
    pub(crate) flights: Flights,
    /// Whether the last backend call failed: errors are logged at `warn`
    /// once per outage, then at `debug` until a call succeeds again.
    degraded: AtomicBool,
    /// Whether a warning was logged for the current outage (so that its end
    /// is logged too).
    warned: AtomicBool,
    warnings: RateLimit,
    decode_warnings: RateLimit,
}

/// Warnings about store errors are at least this far apart.
const WARN_INTERVAL: Duration = Duration::from_secs(30);

/// Lets an event through at most once per [`WARN_INTERVAL`].
#[derive(Default)]
struct RateLimit {
    /// Milliseconds since `RateLimit::epoch()` of the last event let
    /// through, plus one (0 = never).
    last: AtomicU64,
}

impl RateLimit {
    fn epoch() -> Instant {
        static EPOCH: OnceLock<Instant> = OnceLock::new();
        *EPOCH.get_or_init(Instant::now)
    }

    fn due(&self) -> bool {
        let now = u64::try_from(Self::epoch().elapsed().as_millis()).unwrap_or(u64::MAX) + 1;
        let last = self.last.load(Ordering::Relaxed);
        let interval = u64::try_from(WARN_INTERVAL.as_millis()).unwrap_or(u64::MAX);
        (last == 0 || now.saturating_sub(last) >= interval)
            && self
                .last
                .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
    }
}

/// A key read back from the memory store's bytes, for messages (keys are
/// always built from `str`s, so nothing is lost in practice).
#[cold]
fn lossy(key: &[u8]) -> std::borrow::Cow<'_, str> {
    String::from_utf8_lossy(key)
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

    /// A snapshot of the counters.
    ///
    /// ```
    /// let stats = cache_core::Cache::default().stats();
    /// assert_eq!(stats.hits, 0);
    /// ```
    pub fn stats(&self) -> Stats {
        self.inner.stats.snapshot()
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

    pub(crate) fn is_local(&self) -> bool {
        self.inner.local.is_some()
    }

    /// Checks that the store is reachable; the error names its address.
    ///
    /// A failure is returned, not logged, and counts as the start of an
    /// outage: the caller has just been told, so the store errors that
    /// follow while it lasts are logged at `debug` level, not `warn` (see
    /// [`CacheBuilder::ignore_errors`]). An app that pings at start-up and
    /// logs the error shows one warning for the outage, not two.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> cache_core::Result<()> {
    /// cache_core::Cache::default().ping().await?;
    /// # Ok(())
    /// # }
    /// ```
    pub async fn ping(&self) -> Result<()> {
        let result = self.inner.backend.ping().await;
        self.observe(&result);
        if result.is_err() {
            self.inner.stats.error();
            self.inner.degraded.store(true, Ordering::Relaxed);
        }
        result
    }

    /// Returns the value under `key`, or `None` if it is absent, expired,
    /// or cannot be decoded as a `T` (a decode failure is logged and counted).
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> cache_core::Result<()> {
    /// let cache = cache_core::Cache::default();
    /// cache.set("n", &5u64, None).await?;
    /// assert_eq!(cache.get::<u64>("n").await?, Some(5));
    /// assert_eq!(cache.get::<u64>("other").await?, None);
    /// # Ok(())
    /// # }
    /// ```
    pub async fn get<T>(&self, key: &str) -> Result<Option<T>>
    where
        T: Serialize + DeserializeOwned + Clone + Send + Sync + 'static,
    {
        if let Some(local) = &self.inner.local {
            return Ok(self.get_local(local, key));
        }
        let full = self.full_key(key);
        let result = self.inner.backend.get(&full).await;
        self.observe(&result);
        match result {
            Ok(bytes) => Ok(self.decode_counted(&full, bytes.as_deref())),
            Err(e) => self.absorb(e, "get", &full, None),
        }
    }

    #[inline]
    pub(crate) fn get_local<T>(&self, local: &MemoryBackend, key: &str) -> Option<T>
    where
        T: Serialize + DeserializeOwned + Clone + Send + Sync + 'static,
    {
        let mut full = StackKey::new();
        full.push_str(self.inner.keys.plain());
        full.push_str(key);
        self.read_local::<T>(local, full.as_bytes())
    }

    /// A typed read of the memory store: a clone of the stored value when it
    /// is a `T`, a decode otherwise. Counts the hit or miss.
    #[inline]
    pub(crate) fn read_local<T>(&self, local: &MemoryBackend, full: &[u8]) -> Option<T>
    where
        T: Serialize + DeserializeOwned + Clone + Send + Sync + 'static,
    {
        let value = self.read_local_uncounted(local, full);
        self.counted(value)
    }

    #[inline]
    fn read_local_uncounted<T>(&self, local: &MemoryBackend, full: &[u8]) -> Option<T>
    where
        T: Serialize + DeserializeOwned + Clone + Send + Sync + 'static,
    {
        match local.lookup(full) {
            None => None,
            Some(Stored::Typed(typed)) => {
                let any: &(dyn Any + Send + Sync) = typed.as_any();
                if let Some(v) = any.downcast_ref::<T>() {
                    Some(v.clone())
                } else {
                    // Stored as another type: read it the way a remote
                    // store would, through its bytes.
                    match typed.encode() {
                        Ok(bytes) => self.logged::<T>(full, codec::decode(&bytes)),
                        Err(e) => {
                            self.inner.stats.error();
                            tracing::warn!(key = %key_for_message(&lossy(full)), error = %e, "cache value could not be re-encoded; treating as a miss");
                            None
                        }
                    }
                }
            }
            Some(Stored::Bytes(bytes)) => self.logged::<T>(full, codec::decode(&bytes)),
        }
    }

    pub(crate) fn count_hit(&self) {
        self.inner.stats.hit();
    }

    fn decode_counted<T: Serialize + DeserializeOwned>(
        &self,
        full: &str,
        bytes: Option<&[u8]>,
    ) -> Option<T> {
        let value = bytes.and_then(|b| self.decode_logged(full, b));
        self.counted(value)
    }

    /// Counts a read as a hit or a miss.
    #[inline]
    fn counted<T>(&self, value: Option<T>) -> Option<T> {
        if value.is_some() {
            self.inner.stats.hit();
        } else {
            self.inner.stats.miss();
        }
        value
    }

    /// Decodes bytes read under `full`; a failure is logged and counted.
    fn decode_logged<T: Serialize + DeserializeOwned>(
        &self,
        full: &str,
        bytes: &[u8],
    ) -> Option<T> {
        self.logged::<T>(full.as_bytes(), self.inner.format.decode(full, bytes))
    }

    /// A value that cannot be read as a `T` is a miss, counted; it is
    /// logged at `warn` at most once per [`WARN_INTERVAL`] (a type changed
    /// by a deploy makes every old entry fail once), at `debug` otherwise.
    fn logged<T>(&self, full: &[u8], decoded: Result<T>) -> Option<T> {
        match decoded {
            Ok(v) => Some(v),
            Err(e) => {
                self.inner.stats.error();
                let ty = std::any::type_name::<T>();
                if self.inner.decode_warnings.due() {
                    tracing::warn!(
                        key = %key_for_message(&lossy(full)),
                        error = %e,
                        "cached value cannot be read as {ty}; treating it as a miss (further failures within 30 s are logged at debug level)",
                    );
                } else {
                    tracing::debug!(key = %key_for_message(&lossy(full)), error = %e, "cached value cannot be read as {ty}; treating it as a miss");
                }
                None
            }
        }
    }

    /// Whether `key` holds a live value.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> cache_core::Result<()> {
    /// let cache = cache_core::Cache::default();
    /// assert!(!cache.has("k").await?);
    /// cache.set("k", &(), None).await?;
    /// assert!(cache.has("k").await?);
    /// # Ok(())
    /// # }
    /// ```
    pub async fn has(&self, key: &str) -> Result<bool> {
        let full = self.full_key(key);
        let result = self.inner.backend.contains(&full).await;
        self.observe(&result);
        result.or_else(|e| self.absorb(e, "has", &full, false))
    }

    /// Stores `value` under `key` for `timeout` (`None`: the default timeout;
    /// `Duration::ZERO`: never expires).
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> cache_core::Result<()> {
    /// use std::time::Duration;
    /// let cache = cache_core::Cache::default();
    /// cache.set("a", &vec![1, 2, 3], None).await?;
    /// cache.set("b", &"forever", Duration::ZERO).await?;
    /// cache.set("c", &1.5f64, Duration::from_secs(10)).await?;
    /// # Ok(())
    /// # }
    /// ```
    pub async fn set<T>(
        &self,
        key: &str,
        value: &T,
        timeout: impl Into<Option<Duration>>,
    ) -> Result<()>
    where
        T: Serialize + Clone + Send + Sync + 'static,
    {
        let full = self.full_key(key);
        self.store_full(&full, value, self.ttl(timeout.into()))
            .await
    }

    /// Writes under a full key (prefix included): typed in memory, encoded
    /// elsewhere. Counts a successful write; leaves errors to the caller.
    async fn write_full<T>(&self, full: &str, value: &T, ttl: Ttl) -> Result<()>
    where
        T: Serialize + Clone + Send + Sync + 'static,
    {
        let result = if let Some(local) = &self.inner.local {
            local.insert_typed(full, value.clone(), &self.inner.format, ttl)
        } else {
            match self.inner.format.encode(full, value) {
                Ok(bytes) => {
                    let result = self.inner.backend.set(full, bytes, ttl).await;
                    self.observe(&result);
                    result
                }
                Err(e) => {
                    self.forget_refused(full).await;
                    Err(e)
                }
            }
        };
        if result.is_ok() {
            self.inner.stats.set(1);
        }
        result
    }

    /// After a value for `full` could not be encoded (too large, or its
    /// `Serialize` failed), removes what the key held: the caller replaced
    /// it, so the old value must not be served. Best effort: the error the
    /// caller gets is the refusal.
    async fn forget_refused(&self, full: &str) {
        if let Err(e) = self.inner.backend.delete(full).await {
            tracing::debug!(key = %key_for_message(full), error = %e, "could not remove the value a refused write replaces");
        }
    }

    /// Stores under a full key, with the `ignore_errors` policy.
    pub(crate) async fn store_full<T>(&self, full: &str, value: &T, ttl: Ttl) -> Result<()>
    where
        T: Serialize + Clone + Send + Sync + 'static,
    {
        match self.write_full(full, value, ttl).await {
            Ok(()) => Ok(()),
            Err(e) => self.absorb(e, "set", full, ()),
        }
    }

    /// Stores `value` only if `key` holds no live value; returns whether it
    /// stored. Atomic on every built-in store.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> cache_core::Result<()> {
    /// let cache = cache_core::Cache::default();
    /// assert!(cache.add("lock", &1u8, None).await?);
    /// assert!(!cache.add("lock", &2u8, None).await?);
    /// # Ok(())
    /// # }
    /// ```
    pub async fn add<T>(
        &self,
        key: &str,
        value: &T,
        timeout: impl Into<Option<Duration>>,
    ) -> Result<bool>
    where
        T: Serialize + Clone + Send + Sync + 'static,
    {
        let full = self.full_key(key);
        let ttl = self.ttl(timeout.into());
        let result = if let Some(local) = &self.inner.local {
            local.add_typed(&full, value.clone(), &self.inner.format, ttl)
        } else {
            match self.inner.format.encode(&full, value) {
                Ok(bytes) => {
                    let result = self.inner.backend.add(&full, bytes, ttl).await;
                    self.observe(&result);
                    result
                }
                Err(e) => Err(e),
            }
        };
        match result {
            Ok(stored) => {
                self.inner.stats.set(u64::from(stored));
                Ok(stored)
            }
            Err(e) => self.absorb(e, "add", &full, false),
        }
    }

    /// Removes `key`; returns whether it held a live value.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> cache_core::Result<()> {
    /// let cache = cache_core::Cache::default();
    /// cache.set("k", &1u8, None).await?;
    /// assert!(cache.delete("k").await?);
    /// assert!(!cache.delete("k").await?);
    /// # Ok(())
    /// # }
    /// ```
    pub async fn delete(&self, key: &str) -> Result<bool> {
        let full = self.full_key(key);
        self.delete_full(&full).await
    }

    pub(crate) async fn delete_full(&self, full: &str) -> Result<bool> {
        match self.remove_full(full).await {
            Ok(existed) => Ok(existed),
            Err(e) => self.absorb(e, "delete", full, false),
        }
    }

    /// Deletes under a full key and reports a failure whatever the error
    /// policy: a lost invalidation would leave a stale value in place.
    pub(crate) async fn delete_full_strict(&self, full: &str) -> Result<bool> {
        self.remove_full(full).await.map_err(|e| {
            self.inner.stats.error();
            e.context(format_args!("delete `{}`", key_for_message(full)))
        })
    }

    async fn remove_full(&self, full: &str) -> Result<bool> {
        let result = self.inner.backend.delete(full).await;
        self.observe(&result);
        if let Ok(existed) = result {
            self.inner.stats.deleted(u64::from(existed));
        }
        result
    }

    /// Returns the values under `keys`, in the same order, in one round
    /// trip on remote stores.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> cache_core::Result<()> {
    /// let cache = cache_core::Cache::default();
    /// cache.set("a", &1u32, None).await?;
    /// assert_eq!(cache.get_many::<u32>(&["a", "b"]).await?, vec![Some(1), None]);
    /// # Ok(())
    /// # }
    /// ```
    pub async fn get_many<T>(&self, keys: &[&str]) -> Result<Vec<Option<T>>>
    where
        T: Serialize + DeserializeOwned + Clone + Send + Sync + 'static,
    {
        let full: Vec<String> = keys.iter().map(|k| self.full_key(k)).collect();
        if let Some(local) = &self.inner.local {
            return Ok(full
                .iter()
                .map(|k| self.read_local::<T>(local, k.as_bytes()))
                .collect());
        }
        let refs: Vec<&str> = full.iter().map(String::as_str).collect();
        let result = self.inner.backend.get_many(&refs).await;
        self.observe(&result);
        match result {
            Ok(values) => Ok(values
                .iter()
                .zip(&full)
                .map(|(bytes, key)| self.decode_counted(key, bytes.as_deref()))
                .collect()),
            Err(e) => {
                let what = format!(
                    "{} keys starting with `{}`",
                    keys.len(),
                    full.first().map_or("", String::as_str)
                );
                self.absorb(e, "get_many", &what, vec![None; keys.len()])
            }
        }
    }

    /// Stores every `(key, value)` pair with one timeout, in one round trip
    /// on remote stores.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> cache_core::Result<()> {
    /// let cache = cache_core::Cache::default();
    /// cache.set_many(&[("a", 1u32), ("b", 2)], None).await?;
    /// assert_eq!(cache.get::<u32>("b").await?, Some(2));
    /// # Ok(())
    /// # }
    /// ```
    pub async fn set_many<T>(
        &self,
        items: &[(&str, T)],
        timeout: impl Into<Option<Duration>>,
    ) -> Result<()>
    where
        T: Serialize + Clone + Send + Sync + 'static,
    {
        let ttl = self.ttl(timeout.into());
        let full: Vec<String> = items.iter().map(|(k, _)| self.full_key(k)).collect();
        let what = || {
            format!(
                "{} keys starting with `{}`",
                items.len(),
                full.first().map_or("", String::as_str)
            )
        };
        if let Some(local) = &self.inner.local {
            for ((_, value), key) in items.iter().zip(&full) {
                if let Err(e) = local.insert_typed(key, value.clone(), &self.inner.format, ttl) {
                    return self.absorb(e, "set", key, ());
                }
            }
            self.inner.stats.set(items.len() as u64);
            return Ok(());
        }
        let mut encoded = Vec::with_capacity(items.len());
        for ((_, value), key) in items.iter().zip(&full) {
            match self.inner.format.encode(key, value) {
                Ok(bytes) => encoded.push((key.as_str(), bytes)),
                Err(e) => {
                    self.forget_refused(key).await;
                    return self.absorb(e, "set_many", key, ());
                }
            }
        }
        let result = self.inner.backend.set_many(&encoded, ttl).await;
        self.observe(&result);
        match result {
            Ok(()) => {
                self.inner.stats.set(items.len() as u64);
                Ok(())
            }
            Err(e) => self.absorb(e, "set_many", &what(), ()),
        }
    }

    /// Removes `keys`; returns how many held a live value.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> cache_core::Result<()> {
    /// let cache = cache_core::Cache::default();
    /// cache.set("a", &1u32, None).await?;
    /// assert_eq!(cache.delete_many(&["a", "b"]).await?, 1);
    /// # Ok(())
    /// # }
    /// ```
    pub async fn delete_many(&self, keys: &[&str]) -> Result<u64> {
        let full: Vec<String> = keys.iter().map(|k| self.full_key(k)).collect();
        let refs: Vec<&str> = full.iter().map(String::as_str).collect();
        let result = self.inner.backend.delete_many(&refs).await;
        self.observe(&result);
        match result {
            Ok(n) => {
                self.inner.stats.deleted(n);
                Ok(n)
            }
            Err(e) => {
                let what = format!(
                    "{} keys starting with `{}`",
                    keys.len(),
                    full.first().map_or("", String::as_str)
                );
                self.absorb(e, "delete_many", &what, 0)
            }
        }
    }

    /// Adds `delta` to the integer under `key` atomically and returns the
    /// new value. A missing key starts at 0 and gets the default timeout;
    /// an existing key keeps its expiry. Values written by [`set`](Cache::set)
    /// as integers can be incremented.
    ///
    /// Errors are returned even with `ignore_errors`, as there is no
    /// sensible value to return instead.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> cache_core::Result<()> {
    /// let cache = cache_core::Cache::default();
    /// assert_eq!(cache.incr("visits", 1).await?, 1);
    /// assert_eq!(cache.incr("visits", 10).await?, 11);
    /// assert_eq!(cache.get::<i64>("visits").await?, Some(11));
    /// # Ok(())
    /// # }
    /// ```
    pub async fn incr(&self, key: &str, delta: i64) -> Result<i64> {
        let full = self.full_key(key);
        let result = self
            .inner
            .backend
            .incr(&full, delta, self.inner.default_ttl)
            .await;
        self.observe(&result);
        result.map_err(|e| {
            self.inner.stats.error();
            e.context(format_args!("incr `{}`", key_for_message(&full)))
        })
    }

    /// Subtracts `delta`; see [`incr`](Cache::incr).
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> cache_core::Result<()> {
    /// let cache = cache_core::Cache::default();
    /// assert_eq!(cache.decr("stock", 2).await?, -2);
    /// # Ok(())
    /// # }
    /// ```
    pub async fn decr(&self, key: &str, delta: i64) -> Result<i64> {
        let delta = delta.checked_neg().ok_or_else(|| {
            Error::new(
                ErrorKind::InvalidInput,
                format!("cannot decr `{key}` by i64::MIN"),
            )
        })?;
        self.incr(key, delta).await
    }

    /// Removes every key of this cache's namespace, and nothing else;
    /// returns how many were removed. On Redis this is `SCAN MATCH <ns>|*`
    /// and `SCAN MATCH <ns>#*` (see [`key::Namespace`](crate::key::Namespace))
    /// and `UNLINK`, never `FLUSHDB`.
    ///
    /// A failure is returned even with `ignore_errors`: whoever clears must
    /// know that stale entries may still be there.
    ///
    /// A cache with an empty prefix over a shared store refuses to clear:
    /// its namespace is every key that starts with `|` or `#`, which other
    /// programs may well use. The memory store is not shared, so it clears.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> cache_core::Result<()> {
    /// let cache = cache_core::Cache::default();
    /// cache.set("a", &1u8, None).await?;
    /// assert_eq!(cache.clear().await?, 1);
    /// # Ok(())
    /// # }
    /// ```
    pub async fn clear(&self) -> Result<u64> {
        if self.inner.prefix.is_empty() && !self.is_local() {
            return Err(Error::config(
                "clear() needs a key prefix: with an empty prefix it would remove every key starting with `|` or `#` in the store, including keys this cache may not have written",
            ));
        }
        let keys = &self.inner.keys;
        self.clear_full_prefixes(&[keys.plain(), keys.memoized()])
            .await
    }

    /// The start of every key of a memoized function in this cache:
    /// `<namespace>#`.
    pub(crate) fn memo_prefix(&self) -> &str {
        self.inner.keys.memoized()
    }

    pub(crate) async fn clear_full_prefix(&self, prefix: &str) -> Result<u64> {
        self.clear_full_prefixes(&[prefix]).await
    }

    async fn clear_full_prefixes(&self, prefixes: &[&str]) -> Result<u64> {
        let result = self.inner.backend.clear_prefixes(prefixes).await;
        self.observe(&result);
        match result {
            Ok(n) => {
                self.inner.stats.deleted(n);
                Ok(n)
            }
            Err(e) => {
                // Reported whatever the error policy: a caller who clears
                // must know the stale entries are still there.
                self.inner.stats.error();
                let shown: Vec<String> = prefixes
                    .iter()
                    .map(|p| format!("`{}*`", key_for_message(p)))
                    .collect();
                Err(e.context(format_args!("clear {}", shown.join(" and "))))
            }
        }
    }

    /// Returns the value under `key`, or computes it with `f`, stores it
    /// for `timeout` and returns it.
    ///
    /// Concurrent callers in this process that miss the same key wait for
    /// one computation and share its result. The cache is an optimization
    /// here: if the store fails, `f` still runs and its value is returned
    /// (the error is logged and counted in [`stats`](Cache::stats)).
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> cache_core::Result<()> {
    /// let cache = cache_core::Cache::default();
    /// let v = cache.get_or_set_with("answer", None, || async { 42u32 }).await;
    /// let again = cache.get_or_set_with("answer", None, || async { unreachable!() }).await;
    /// assert_eq!((v, again), (42, 42));
    /// # Ok(())
    /// # }
    /// ```
    pub async fn get_or_set_with<T, F, Fut>(
        &self,
        key: &str,
        timeout: impl Into<Option<Duration>>,
        f: F,
    ) -> T
    where
        T: Serialize + DeserializeOwned + Clone + Send + Sync + 'static,
        F: FnOnce() -> Fut,
        Fut: Future<Output = T>,
    {
        let full = self.full_key(key);
        let ttl = self.ttl(timeout.into());
        let computed: Result<T, std::convert::Infallible> = self
            .compute(&full, ttl, true, |_| true, || async { Ok(f().await) })
            .await;
        match computed {
            Ok(v) => v,
            Err(never) => match never {},
        }
    }

    /// Like [`get_or_set_with`](Cache::get_or_set_with) for a fallible
    /// computation: only `Ok` values are stored; an `Err` is returned as is
    /// and the next caller computes again.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> cache_core::Result<()> {
    /// let cache = cache_core::Cache::default();
    /// let r: Result<u32, String> = cache.try_get_or_set_with("k", None, || async { Err("db down".to_string()) }).await;
    /// assert!(r.is_err());
    /// assert!(!cache.has("k").await?);
    /// # Ok(())
    /// # }
    /// ```
    pub async fn try_get_or_set_with<T, E, F, Fut>(
        &self,
        key: &str,
        timeout: impl Into<Option<Duration>>,
        f: F,
    ) -> Result<T, E>
    where
        T: Serialize + DeserializeOwned + Clone + Send + Sync + 'static,
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<T, E>>,
    {
        let full = self.full_key(key);
        let ttl = self.ttl(timeout.into());
        self.compute(&full, ttl, true, |_| true, f).await
    }

    /// The read-through engine behind `get_or_set_with` and the memoize
    /// macros. `full` includes the prefix. `store_if` decides whether a
    /// computed value is stored; `wait` is false when waiting for another
    /// caller's computation could deadlock (a blocking call on a
    /// current-thread runtime). Fail-open: store errors are logged and
    /// counted, never returned.
    pub(crate) async fn compute<T, E, F, Fut>(
        &self,
        full: &str,
        ttl: Ttl,
        wait: bool,
        store_if: impl Fn(&T) -> bool,
        f: F,
    ) -> Result<T, E>
    where
        T: Serialize + DeserializeOwned + Clone + Send + Sync + 'static,
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<T, E>>,
    {
        let mut f = Some(f);
        loop {
            // Only a remote read needs a mark; in memory a second look is free.
            let mark = (wait && !self.is_local()).then(|| self.inner.flights.mark(full));
            if let Some(v) = self.lookup_full::<T>(full).await {
                return Ok(v);
            }
            let leader = if wait {
                match self.inner.flights.join(full) {
                    Join::Follower(flight) => {
                        match flight.wait().await {
                            Some(shared) => {
                                if let Some(v) = shared.downcast_ref::<T>() {
                                    return Ok(v.clone());
                                }
                                None // another type under the same key: compute alone
                            }
                            None => continue, // the leader gave up: try again
                        }
                    }
                    Join::Leader(leader) => {
                        // A computation may have finished between our miss and our
                        // join; in memory a second look is free. Elsewhere it costs
                        // a read, made only when a flight of this key (or of its
                        // stripe) ended since ours began.
                        if let Some(local) = &self.inner.local {
                            if let Some(v) = Self::peek_local::<T>(local, full.as_bytes()) {
                                leader.finish(|| Arc::new(v.clone()));
                                return Ok(v);
                            }
                        } else if mark.is_some_and(|m| self.inner.flights.ended_since(m)) {
                            if let Some(v) = self.read_remote::<T>(full).await {
                                leader.finish(|| Arc::new(v.clone()));
                                return Ok(v);
                            }
                        }
                        Some(leader)
                    }
                }
            } else {
                None
            };
            let f = f
                .take()
                .expect("the computation runs at most once: the loop returns after it");
            let value = f().await?;
            if store_if(&value) {
                self.store_full_open(full, &value, ttl).await;
            }
            if let Some(leader) = leader {
                leader.finish(|| Arc::new(value.clone()));
            }
            return Ok(value);
        }
    }

    /// A read that never fails: errors are logged, counted and become misses.
    pub(crate) async fn lookup_full<T>(&self, full: &str) -> Option<T>
    where
        T: Serialize + DeserializeOwned + Clone + Send + Sync + 'static,
    {
        if let Some(local) = &self.inner.local {
            return self.read_local::<T>(local, full.as_bytes());
        }
        let value = self.read_remote::<T>(full).await;
        self.counted(value)
    }

    /// A read of a remote store that never fails and is not counted as a
    /// hit or a miss (a leader's second look counts neither, like the
    /// memory store's). Store and decode errors are logged and counted, and
    /// are misses.
    async fn read_remote<T>(&self, full: &str) -> Option<T>
    where
        T: Serialize + DeserializeOwned,
    {
        let result = self.inner.backend.get(full).await;
        self.observe(&result);
        match result {
            Ok(bytes) => bytes.and_then(|b| self.decode_logged(full, &b)),
            Err(e) => {
                self.note_error(&e, "get", full);
                None
            }
        }
    }

    /// A store that never fails: errors are logged and counted.
    pub(crate) async fn store_full_open<T>(&self, full: &str, value: &T, ttl: Ttl)
    where
        T: Serialize + Clone + Send + Sync + 'static,
    {
        if let Err(e) = self.write_full(full, value, ttl).await {
            self.note_error(&e, "set", full);
        }
    }

    /// The stored value if it is a `T` kept as a Rust value: no decoding,
    /// no logging, no counting (a first look on the memoized hit path).
    #[inline]
    pub(crate) fn peek_local<T: Clone + 'static>(local: &MemoryBackend, full: &[u8]) -> Option<T> {
        match local.lookup(full)? {
            Stored::Typed(t) => t.as_any().downcast_ref::<T>().cloned(),
            Stored::Bytes(_) => None,
        }
    }

    /// Records the outcome of a backend call for the outage log policy.
    #[inline]
    fn observe<T>(&self, result: &Result<T>) {
        if result.is_ok()
            && self.inner.degraded.load(Ordering::Relaxed)
            && self.inner.degraded.swap(false, Ordering::Relaxed)
            && self.inner.warned.swap(false, Ordering::Relaxed)
        {
            tracing::info!(prefix = %self.inner.prefix, "cache backend is answering again");
        }
    }

    /// Logs and counts an error: at `warn` for the first error of an
    /// outage, at `debug` after that, so a dead store does not flood logs.
    /// A store that fails some calls and answers others (full with
    /// `noeviction`, a read-only replica) starts an "outage" at every
    /// failure: warnings are also spaced by [`WARN_INTERVAL`].
    fn note_error(&self, error: &Error, op: &str, key: &str) {
        self.inner.stats.error();
        let new_outage = !self.inner.degraded.swap(true, Ordering::Relaxed);
        if new_outage && self.inner.warnings.due() {
            self.inner.warned.store(true, Ordering::Relaxed);
            tracing::warn!(
                op,
                key = %key_for_message(key),
                %error,
                "cache backend error; cache calls that fail are skipped while it lasts (further errors are logged at debug level until it recovers)"
            );
        } else {
            tracing::debug!(op, key = %key_for_message(key), %error, "cache backend error");
        }
    }

    /// The error policy: with `ignore_errors`, log and return `fallback`;
    /// otherwise return the error with the operation and key in its message.
    fn absorb<T>(&self, error: Error, op: &str, key: &str, fallback: T) -> Result<T> {
        if self.inner.ignore_errors {
            self.note_error(&error, op, key);
            Ok(fallback)
        } else {
            self.inner.stats.error();
            Err(error.context(format_args!("{op} `{}`", key_for_message(key))))
        }
    }
}

/// Configures and builds a [`Cache`].
///
/// ```
/// use std::time::Duration;
/// use cache_core::{Cache, MemoryBackend};
///
/// let cache = Cache::builder()
///     .backend(MemoryBackend::with_capacity(8 << 20))
///     .key_prefix("app:")
///     .default_timeout(Duration::from_secs(120))
///     .ignore_errors(true)
///     .build()?;
/// # Ok::<(), cache_core::Error>(())
/// ```
#[must_use]
pub struct CacheBuilder {
    backend: Option<(Arc<dyn Backend>, Option<MemoryBackend>)>,
    url: Option<String>,
    prefix: String,
    default_ttl: Ttl,
    ignore_errors: bool,
    codec: Codec,
    max_value_size: usize,
    signing_key: Option<Vec<u8>>,
}

impl Default for CacheBuilder {
    fn default() -> Self {
        Self {
            backend: None,
            url: None,
            prefix: DEFAULT_KEY_PREFIX.to_owned(),
            default_ttl: Ttl::After(DEFAULT_TIMEOUT),
            ignore_errors: false,
            codec: Codec::default(),
            max_value_size: codec::MAX_VALUE_SIZE,
            signing_key: None,
        }
    }
}

impl fmt::Debug for CacheBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CacheBuilder")
            .field("url", &self.url)
            .field("prefix", &self.prefix)
            .field("default_ttl", &self.default_ttl)
            .field("ignore_errors", &self.ignore_errors)
            .field("codec", &self.codec)
            .field("max_value_size", &self.max_value_size)
            .field("signed", &self.signing_key.is_some())
            .finish_non_exhaustive()
    }
}

impl CacheBuilder {
    /// Uses `backend` as the store (instead of a URL). A [`MemoryBackend`]
    /// is recognized and used through its typed, zero-decode path.
    ///
    /// ```
    /// let cache = cache_core::Cache::builder().backend(cache_core::NullBackend).build()?;
    /// # Ok::<(), cache_core::Error>(())
    /// ```
    pub fn backend(mut self, backend: impl Backend) -> Self {
        let local = (&backend as &dyn Any)
            .downcast_ref::<MemoryBackend>()
            .cloned();
        self.backend = Some((Arc::new(backend), local));
        self.url = None;
        self
    }

    /// Uses the store named by `url` (see [`Cache::from_url`]). Parsed by
    /// [`build`](CacheBuilder::build).
    ///
    /// ```
    /// let cache = cache_core::Cache::builder().url("memory://").build()?;
    /// # Ok::<(), cache_core::Error>(())
    /// ```
    pub fn url(mut self, url: impl Into<String>) -> Self {
        self.url = Some(url.into());
        self.backend = None;
        self
    }

    /// The namespace of this cache's keys (default `"cache"`): keys given to
    /// the API are stored as `<prefix>|<key>`, memoized functions' as
    /// `<prefix>#<fn path>:<version>:<args>` (`%`, `|` and `#` in the
    /// prefix are written `%25`, `%7C`, `%23`). Two caches with different
    /// prefixes can share a store without reading, overwriting, counting or
    /// clearing each other's keys, whatever the two prefixes are (`shop` and
    /// `shopping`, `app:` and `app:inner:`); see
    /// [`key::Namespace`](crate::key::Namespace).
    ///
    /// ```
    /// let cache = cache_core::Cache::builder().key_prefix("billing:").build()?;
    /// # Ok::<(), cache_core::Error>(())
    /// ```
    pub fn key_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.prefix = prefix.into();
        self
    }

    /// The timeout used when an operation passes `None` (default 300 s;
    /// `Duration::ZERO` means never expire).
    ///
    /// ```
    /// let cache = cache_core::Cache::builder().default_timeout(std::time::Duration::from_secs(60)).build()?;
    /// # Ok::<(), cache_core::Error>(())
    /// ```
    pub fn default_timeout(mut self, timeout: Duration) -> Self {
        self.default_ttl = Ttl::from_duration(timeout);
        self
    }

    /// When `true`, store errors on reads become misses and on writes become
    /// no-ops; they are logged through `tracing` (at `warn` for the first
    /// error of an outage, then at `debug` until the store answers again,
    /// which is logged at `info`) and counted in [`Cache::stats`]. `incr`,
    /// `decr`, `ping`, `clear` and the macros' `<fn>_invalidate` /
    /// `<fn>_invalidate_all` still return errors: there is no value to fall
    /// back on, or the caller must know stale entries may remain.
    /// Default `false`. (Memoized functions and `get_or_set_with` are always
    /// fail-open.)
    ///
    /// ```
    /// let cache = cache_core::Cache::builder().ignore_errors(true).build()?;
    /// # Ok::<(), cache_core::Error>(())
    /// ```
    pub fn ignore_errors(mut self, ignore: bool) -> Self {
        self.ignore_errors = ignore;
        self
    }

    /// The codec for values stored outside the process (default bincode).
    ///
    /// ```
    /// let cache = cache_core::Cache::builder().codec(cache_core::Codec::Bincode).build()?;
    /// # Ok::<(), cache_core::Error>(())
    /// ```
    pub fn codec(mut self, codec: Codec) -> Self {
        self.codec = codec;
        self
    }

    /// The largest value, in bytes, that is stored or read back (default and
    /// maximum [`MAX_VALUE_SIZE`](codec::MAX_VALUE_SIZE), 64 MiB). A larger
    /// value is refused on write with [`ErrorKind::TooLarge`]; larger bytes
    /// found in the store are a miss, logged and counted, and are never
    /// decoded. Lower it to what your values need, so that bytes someone else
    /// wrote under your keys cannot make the process decode more.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> cache_core::Result<()> {
    /// let cache = cache_core::Cache::builder().max_value_size(1024).build()?;
    /// let err = cache.set("big", &vec![0u8; 4096], None).await.unwrap_err();
    /// assert_eq!(err.kind(), cache_core::ErrorKind::TooLarge);
    /// # Ok(())
    /// # }
    /// ```
    pub fn max_value_size(mut self, bytes: usize) -> Self {
        self.max_value_size = bytes;
        self
    }

    /// Signs every value this cache writes to a store outside the process
    /// with HMAC-SHA256 under `key`, and treats a value whose tag does not
    /// verify as a miss (logged at `warn` and counted in
    /// [`Stats::errors`](crate::Stats::errors)), before decoding any of it.
    ///
    /// Use it when others can write to the store (a shared Redis): without
    /// the key, nobody can produce a value this cache accepts. The tag covers
    /// the full key too, so a signed value copied under another key is
    /// refused. Every process sharing the entries needs the same key; use
    /// at least 32 random bytes (shorter than 16 is refused by
    /// [`build`](Self::build)).
    ///
    /// Signed values are always an envelope, integers included, so `incr`
    /// and `decr` cannot work on a value written by `set`, and a counter
    /// made by `incr` (a plain decimal, since the server does the
    /// arithmetic) reads as a miss through `get`: read counters with
    /// `incr(key, 0)`. The in-memory store keeps Rust values that never
    /// leave the process, so nothing there is signed.
    ///
    /// ```no_run
    /// let key = std::env::var("CACHE_SIGNING_KEY").expect("a secret of 32+ bytes");
    /// let cache = cache_core::Cache::builder()
    ///     .url("redis://127.0.0.1:6379/0")
    ///     .signing_key(key)
    ///     .build()?;
    /// # Ok::<(), cache_core::Error>(())
    /// ```
    pub fn signing_key(mut self, key: impl AsRef<[u8]>) -> Self {
        self.signing_key = Some(key.as_ref().to_vec());
        self
    }

    /// Builds the cache. Fails with [`ErrorKind::Config`] on an invalid URL.
    /// Does not connect: see [`Cache::ping`].
    ///
    /// ```
    /// let err = cache_core::Cache::builder().url("memory://?max_capacity=lots").build().unwrap_err();
    /// assert!(err.to_string().contains("max_capacity"));
    /// ```
    pub fn build(self) -> Result<Cache> {
        let (backend, local) = match (self.backend, self.url) {
            (Some(b), _) => b,
            (None, Some(url)) => config::backend_from_url(&url)?,
            (None, None) => {
                let memory = MemoryBackend::new();
                (Arc::new(memory.clone()) as Arc<dyn Backend>, Some(memory))
            }
        };
        Ok(Cache {
            inner: Arc::new(Inner {
                backend,
                local,
                keys: crate::key::Namespace::new(&self.prefix),
                prefix: self.prefix.into_boxed_str(),
                default_ttl: self.default_ttl,
                ignore_errors: self.ignore_errors,
                format: Format::new(self.codec)
                    .configure(self.max_value_size, self.signing_key.as_deref())?,
                stats: Counters::default(),
                flights: Flights::default(),
                degraded: AtomicBool::new(false),
                warned: AtomicBool::new(false),
                warnings: RateLimit::default(),
                decode_warnings: RateLimit::default(),
            }),
        })
    }
}

static GLOBAL: OnceLock<Cache> = OnceLock::new();

/// Sets the process-wide cache used by `#[memoize]` and `#[cached]` when
/// they are not given `cache = …`. Call it once at start-up, before the
/// first memoized call; it fails if the global cache is already set (or was
/// already used, which fixes it to the in-memory default).
///
/// ```
/// let cache = cache_core::Cache::from_url("memory://")?;
/// cache_core::init(cache)?;
/// assert!(cache_core::init(cache_core::Cache::default()).is_err());
/// # Ok::<(), cache_core::Error>(())
/// ```
pub fn init(cache: Cache) -> Result<()> {
    GLOBAL.set(cache).map_err(|_| {
        Error::config(
            "cache_core::init called twice, or after the global cache was first used; call it once at start-up",
        )
    })
}

/// The process-wide cache: the one given to [`init`], or an in-memory cache
/// with the default settings if `init` was never called.
///
/// ```
/// let cache = cache_core::global();
/// assert!(!cache.key_prefix().is_empty());
/// ```
pub fn global() -> &'static Cache {
    GLOBAL.get_or_init(Cache::default)
}

impl Cache {
    /// Whether blocking calls need the crate's I/O runtime.
    pub(crate) fn needs_io(&self) -> bool {
        !self.is_local()
    }

    pub(crate) fn block_on<F: Future>(&self, fut: F) -> F::Output {
        runtime::block_on(fut, self.needs_io())
    }
}
