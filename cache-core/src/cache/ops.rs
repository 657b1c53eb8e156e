//! The single-key operations of [`Cache`] and read-through.

use std::future::Future;
use std::sync::atomic::Ordering;
use std::time::Duration;

use crate::{Error, ErrorKind, Result};

use super::{Cache, CacheValue, OnError, StoreValue};
use crate::observe::{spans, Emit};
use tracing::Instrument as _;

/// No tags, for the read-throughs without them.
const NO_TAGS: [&str; 0] = [];

impl Cache {
    /// Checks that the store is reachable; the error names its address.
    ///
    /// A failure is returned, not logged, and counts as the start of an
    /// outage: the caller has just been told, so the store errors that
    /// follow while it lasts are logged at `debug` level, not `warn` (see
    /// [`CacheBuilder::ignore_errors`](crate::CacheBuilder::ignore_errors)). An app that pings at start-up and
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
        let result = self.timed("ping", self.inner.backend.ping()).await;
        self.observe(&result);
        if let Err(e) = &result {
            self.error_event(e, "ping", "");
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
        T: CacheValue,
    {
        if let Some(local) = &self.inner.local {
            return Ok(self.get_local(local, key));
        }
        if let Some(value) = self.near_hit::<T>(key) {
            return Ok(Some(value));
        }
        let span = spans::span!(self, "cache.get");
        let full = self.full_key(key);
        spans::key(&span, || full.clone());
        let read = async {
            if let Some(near) = self.near() {
                return match self.read_near::<T>(near, &full).await {
                    Ok(value) => Ok(self.counted(value)),
                    Err(e) => self.on_error(OnError::Configured, e, "get", &full, None),
                };
            }
            let result = self.timed("get", self.inner.backend.get(&full)).await;
            self.observe(&result);
            match result {
                Ok(bytes) => Ok(self.decode_counted(&full, bytes.as_deref())),
                Err(e) => self.on_error(OnError::Configured, e, "get", &full, None),
            }
        };
        let value = read.instrument(span.clone()).await;
        spans::lookup(&span, &value);
        value
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
        let result = self.timed("has", self.inner.backend.contains(&full)).await;
        self.observe(&result);
        result.or_else(|e| self.on_error(OnError::Configured, e, "has", &full, false))
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
        T: StoreValue + ?Sized,
    {
        let ttl = self.ttl(timeout.into());
        let span = spans::span!(self, "cache.set");
        spans::key(&span, || self.full_key(key));
        if let Some(local) = &self.inner.local {
            let _entered = span.enter();
            return self.set_local(local, key, value, ttl);
        }
        let full = self.full_key(key);
        self.store_full(&full, value, ttl, &[], OnError::Configured)
            .instrument(span)
            .await
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
        T: StoreValue + ?Sized,
    {
        let full = self.full_key(key);
        let ttl = self.ttl(timeout.into());
        let result = if let Some(local) = &self.inner.local {
            local.add(&full, value, &self.inner.format, ttl)
        } else {
            match self.inner.format.encode(&full, value) {
                Ok(bytes) => {
                    let result = self
                        .timed("add", self.inner.backend.add(&full, bytes, ttl))
                        .await;
                    self.near_forget(&full);
                    self.observe(&result);
                    result
                }
                Err(e) => Err(e),
            }
        };
        match result {
            Ok(stored) => {
                self.emit(None, Some(&full), Emit::Set(u64::from(stored)));
                Ok(stored)
            }
            Err(e) => self.on_error(OnError::Configured, e, "add", &full, false),
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
        let span = spans::span!(self, "cache.delete");
        spans::key(&span, || full.clone());
        self.delete_full(&full, OnError::Configured)
            .instrument(span)
            .await
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
            .timed(
                "incr",
                self.inner
                    .backend
                    .incr(&full, delta, self.inner.default_ttl),
            )
            .await;
        self.near_forget(&full);
        self.observe(&result);
        result.or_else(|e| self.on_error(OnError::Strict, e, "incr", &full, 0))
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

    /// Returns the value under `key`, or computes it with `f`, stores it
    /// for `timeout` and returns it. It is what moka calls `get_with`; the
    /// fallible form (moka's `try_get_with`) is
    /// [`try_get_or_set_with`](Cache::try_get_or_set_with). The names follow
    /// Flask-Caching's `get`/`set`.
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
        T: CacheValue,
        F: FnOnce() -> Fut,
        Fut: Future<Output = T>,
    {
        self.get_or_set_with_tags(key, timeout, NO_TAGS, f).await
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
        T: CacheValue,
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<T, E>>,
    {
        self.try_get_or_set_with_tags(key, timeout, NO_TAGS, f)
            .await
    }
}
