//! [`CacheBuilder`]: configures and builds a [`Cache`].

use std::any::Any;
use std::fmt;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::Duration;

use crate::backend::{Backend, MemoryBackend, Ttl};
use crate::codec::{self, Codec, Format};
use crate::flight::Flights;
use crate::stats::Counters;
use crate::{config, Result};

use super::{Cache, Inner, DEFAULT_KEY_PREFIX, DEFAULT_TIMEOUT};

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
    backend: Option<config::Parsed>,
    near_cache: Option<u64>,
    url: Option<String>,
    prefix: String,
    default_ttl: Ttl,
    ignore_errors: bool,
    codec: Codec,
    max_value_size: usize,
    signing_key: Option<Vec<u8>>,
    policy: crate::Policy,
    /// The breaker's pause; `None`: the default for the store.
    breaker: Option<Duration>,
    /// Whether the store given to [`backend`](Self::backend) spreads keys
    /// over nodes (a Redis Cluster).
    spread: bool,
    /// Whether the store never fails (null).
    infallible: bool,
    store: &'static str,
    name: Option<String>,
    listener: Option<Arc<dyn crate::observe::Listener>>,
}

/// How long the circuit breaker stays open before each probe, unless set.
pub const DEFAULT_BREAKER_PAUSE: Duration = Duration::from_secs(1);

impl Default for CacheBuilder {
    fn default() -> Self {
        Self {
            backend: None,
            near_cache: None,
            url: None,
            prefix: DEFAULT_KEY_PREFIX.to_owned(),
            default_ttl: Ttl::After(DEFAULT_TIMEOUT),
            ignore_errors: false,
            codec: Codec::default(),
            max_value_size: codec::MAX_VALUE_SIZE,
            signing_key: None,
            policy: crate::Policy::new(),
            breaker: None,
            spread: false,
            infallible: false,
            store: "memory",
            name: None,
            listener: None,
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
            .field("near_cache", &self.near_cache)
            .field("name", &self.name)
            .field("listener", &self.listener.is_some())
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
        let any = &backend as &dyn Any;
        let memory = any.downcast_ref::<MemoryBackend>().cloned();
        #[cfg(feature = "redis")]
        let redis = any.downcast_ref::<crate::backend::RedisBackend>().cloned();
        #[cfg(feature = "redis")]
        {
            self.spread = redis
                .as_ref()
                .is_some_and(crate::backend::RedisBackend::is_cluster);
        }
        self.infallible = any.is::<crate::NullBackend>();
        self.store = crate::observe::store_label(&backend);
        self.backend = Some(config::Parsed {
            backend: Arc::new(backend),
            memory,
            #[cfg(feature = "redis")]
            redis,
        });
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
        let url = url.into();
        self.store = store_of_url(&url);
        self.url = Some(url);
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

    /// The name of this cache in spans, metrics (`cache.name`) and events
    /// (default: the key prefix). Name each cache of an application
    /// differently to tell them apart on a dashboard.
    ///
    /// ```
    /// let cache = cache_core::Cache::builder().name("sessions").build()?;
    /// assert_eq!(cache.name(), "sessions");
    /// # Ok::<(), cache_core::Error>(())
    /// ```
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }

    /// Calls `listener` for every [`Event`](crate::observe::Event) of this
    /// cache: hits, misses, coalesced waits, stale values served, writes,
    /// invalidations, errors and circuit-breaker transitions. Without one,
    /// events cost nothing beyond the statistics.
    ///
    /// ```
    /// use cache_core::observe::Event;
    /// let cache = cache_core::Cache::builder()
    ///     .listener(|event: &Event<'_>| eprintln!("{} {:?}", event.kind.as_str(), event.key))
    ///     .build()?;
    /// # Ok::<(), cache_core::Error>(())
    /// ```
    pub fn listener(mut self, listener: impl crate::observe::Listener) -> Self {
        self.listener = Some(Arc::new(listener));
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
    /// value is refused on write with [`ErrorKind::TooLarge`](crate::ErrorKind::TooLarge); larger bytes
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

    /// Keeps up to `max_bytes` of values in process, in front of the remote
    /// store: a near cache (L1). A hit in it returns the typed value with
    /// no I/O and no decoding, as a memory-store hit does; the URL option
    /// `near_cache=32MiB` does the same.
    ///
    /// L1 stays coherent with the store through Redis server-assisted
    /// client-side caching: one more connection per cache, with
    /// `CLIENT TRACKING ON BCAST` on the cache's key prefix, whose
    /// invalidation messages evict from L1 whatever any process writes,
    /// deletes, invalidates or clears, and whatever expires. An entry is
    /// filled only from a read whose key was not invalidated while it was in
    /// flight, expires no later than the Redis entry, and L1 is flushed
    /// (and unused) whenever the invalidation connection is lost, until
    /// tracking is back. The process's own writes evict their key before
    /// they return. See the README's "Near cache" section for the
    /// staleness bound and the cost on the server.
    ///
    /// Works on a standalone Redis server, a Sentinel master and a Redis
    /// Cluster (Redis 6 or later); with any other store (memory, null, a
    /// custom backend) [`build`](Self::build) fails with
    /// [`ErrorKind::Config`](crate::ErrorKind::Config). Reads with a
    /// logical expiry (a fail-safe or stale-while-revalidate policy) go to
    /// Redis, not through L1.
    ///
    /// ```no_run
    /// let cache = cache_core::Cache::builder()
    ///     .url("redis://127.0.0.1:6379/0")
    ///     .near_cache(32 << 20)
    ///     .key_prefix("app")
    ///     .build()?;
    /// # Ok::<(), cache_core::Error>(())
    /// ```
    pub fn near_cache(mut self, max_bytes: u64) -> Self {
        self.near_cache = Some(max_bytes);
        self
    }

    /// The default [`Policy`](crate::Policy) of read-through calls
    /// (memoized functions, `get_or_set_with*`): fail-safe stale values,
    /// refresh ahead, computation timeouts, the distributed lock. Each
    /// option a function or a call leaves unset comes from here. Checked
    /// by [`build`](Self::build).
    ///
    /// ```
    /// use std::time::Duration;
    /// use cache_core::{Cache, Policy};
    ///
    /// let cache = Cache::builder()
    ///     .policy(Policy::new().fail_safe(Duration::from_secs(3600)).hard_timeout(Duration::from_secs(2)))
    ///     .build()?;
    /// let err = Cache::builder().policy(Policy::new().refresh_ahead(2.0)).build().unwrap_err();
    /// assert_eq!(err.kind(), cache_core::ErrorKind::Config);
    /// # Ok::<(), cache_core::Error>(())
    /// ```
    pub fn policy(mut self, policy: crate::Policy) -> Self {
        self.policy = policy;
        self
    }

    /// How long calls skip a remote store after it failed with a connection
    /// error or a timeout, before a background probe checks it again
    /// (default [`DEFAULT_BREAKER_PAUSE`]); the probe repeats at this
    /// interval until the store answers. While the breaker is open, calls
    /// fail at once with [`ErrorKind::CircuitOpen`](crate::ErrorKind::CircuitOpen),
    /// which read-through calls and `ignore_errors` absorb like any store
    /// error: a memoized call costs the function's own time, not a store
    /// timeout. `Duration::ZERO` turns the breaker off. The memory and
    /// null stores never have one.
    ///
    /// On a Redis Cluster the breaker is off unless set: it guards the
    /// whole store, and one dead primary would make every call skip the
    /// live nodes too. Set it there to guard against losing the whole
    /// cluster (a partition between the application and its nodes).
    ///
    /// ```
    /// use std::time::Duration;
    /// let cache = cache_core::Cache::builder()
    ///     .url("redis://127.0.0.1:6379/?response_timeout=300ms")
    ///     .circuit_breaker(Duration::from_millis(500))
    ///     .build()?;
    /// # Ok::<(), cache_core::Error>(())
    /// ```
    pub fn circuit_breaker(mut self, pause: Duration) -> Self {
        self.breaker = Some(pause);
        self
    }

    /// Builds the cache. Fails with [`ErrorKind::Config`](crate::ErrorKind::Config) on an invalid URL.
    /// Does not connect: see [`Cache::ping`].
    ///
    /// ```
    /// let err = cache_core::Cache::builder().url("memory://?max_capacity=lots").build().unwrap_err();
    /// assert!(err.to_string().contains("max_capacity"));
    /// ```
    pub fn build(self) -> Result<Cache> {
        let parsed = match (self.backend, self.url.as_deref()) {
            (Some(b), _) => b,
            (None, Some(url)) => config::parse_url(url)?,
            (None, None) => {
                let memory = MemoryBackend::new();
                config::Parsed {
                    backend: Arc::new(memory.clone()),
                    memory: Some(memory),
                    #[cfg(feature = "redis")]
                    redis: None,
                }
            }
        };
        self.policy.check()?;
        let spread = self.spread || self.url.as_deref().is_some_and(is_cluster_url);
        let infallible = self.infallible
            || self.url.as_deref().is_some_and(|u| {
                u.get(..7)
                    .is_some_and(|s| s.eq_ignore_ascii_case("null://"))
            });
        let pause = self.breaker.unwrap_or(if spread {
            Duration::ZERO
        } else {
            DEFAULT_BREAKER_PAUSE
        });
        let keys = crate::key::Namespace::new(&self.prefix);
        let near = super::near::build(&parsed, self.near_cache, &keys)?;
        let (backend, local) = (parsed.backend, parsed.memory);
        let guarded = !(local.is_some() || infallible || pause.is_zero());
        let name = self.name.unwrap_or_else(|| self.prefix.clone());
        let listens = self.listener.is_some();
        let observer =
            crate::observe::Observer::new(name.into_boxed_str(), self.store, self.listener);
        let format =
            Format::new(self.codec).configure(self.max_value_size, self.signing_key.as_deref())?;
        let inner = Arc::new_cyclic(|cache: &std::sync::Weak<Inner>| {
            let (backend, breaker) = if guarded {
                // The breaker's transitions are events of the cache.
                let cache = cache.clone();
                let on_change = move |open: bool| {
                    if let Some(inner) = cache.upgrade() {
                        let event = if open {
                            crate::observe::Emit::BreakerOpened
                        } else {
                            crate::observe::Emit::BreakerClosed
                        };
                        Cache { inner }.emit(None, None, event);
                    }
                };
                let breaker = crate::backend::breaker::Breaker::new(
                    backend,
                    pause,
                    Some(Box::new(on_change)),
                );
                let state = breaker.state();
                (Arc::new(breaker) as Arc<dyn Backend>, Some(state))
            } else {
                (backend, None)
            };
            // A listener hears of the memory store's evictions and
            // expiries of this cache's keys.
            let evictions = match &local {
                Some(memory) if listens => {
                    let cache = cache.clone();
                    let sink: Arc<crate::backend::memory::Sink> =
                        Arc::new(move |key: &str, expired: bool| {
                            if let Some(inner) = cache.upgrade() {
                                let event = crate::observe::Emit::Evicted { expired };
                                Cache { inner }.emit(None, Some(key), event);
                            }
                        });
                    memory.watch(
                        vec![keys.plain().to_owned(), keys.memoized().to_owned()],
                        &sink,
                    );
                    Some(sink)
                }
                _ => None,
            };
            Inner {
                backend,
                evictions,
                near,
                local: local.map(|memory| crate::local::LocalTier::new(memory, &keys)),
                keys,
                prefix: self.prefix.into_boxed_str(),
                default_ttl: self.default_ttl,
                ignore_errors: self.ignore_errors,
                format,
                stats: Counters::default(),
                observer,
                flights: Flights::default(),
                policy: self.policy,
                policy_timed: self.policy.is_timed(),
                policy_plain: self.policy.is_plain(),
                breaker,
                degraded: AtomicBool::new(false),
                warned: AtomicBool::new(false),
                warnings: super::outage::RateLimit::default(),
                decode_warnings: super::outage::RateLimit::default(),
            }
        });
        Ok(Cache { inner })
    }
}

/// Whether `url` names a Redis Cluster.
fn is_cluster_url(url: &str) -> bool {
    #[cfg(feature = "redis")]
    {
        use crate::backend::scheme::{Store, Topology};
        crate::backend::scheme::of_url(url).is_some_and(|s| {
            matches!(
                s.store,
                Store::Redis {
                    topology: Topology::Cluster,
                    ..
                }
            )
        })
    }
    #[cfg(not(feature = "redis"))]
    {
        let _ = url;
        false
    }
}

/// The store label of a URL (see [`crate::observe`]).
fn store_of_url(url: &str) -> &'static str {
    let scheme = url.split_once("://").map_or("", |(scheme, _)| scheme);
    match scheme.to_ascii_lowercase().as_str() {
        "memory" => "memory",
        "null" => "null",
        _ => "redis",
    }
}
