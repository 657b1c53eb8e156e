//! The blocking door: the same operations as [`Cache`], for sync code.

use std::time::Duration;

use crate::cache::{Coalesce, Looked};
use crate::{Cache, CacheValue, KeyValue, Result, StoreValue};

/// The operations of [`Cache`] for sync code, from [`Cache::blocking`].
///
/// Each method runs the async operation of the same name to completion on
/// the calling thread. They work outside any runtime and inside a tokio
/// runtime of either flavour without panicking or deadlocking: remote
/// stores' I/O runs on a small runtime owned by this crate, and on a
/// multi-thread runtime the call steps aside with `block_in_place`.
/// They nest: the closure of [`get_or_set_with`](Self::get_or_set_with) or
/// the body of a sync memoized function may make blocking calls of its own.
/// On the in-memory store they never leave the calling thread.
///
/// ```
/// use std::time::Duration;
///
/// let cache = cache_core::Cache::default();
/// let cache = cache.blocking();
/// cache.set("user:1", &"Ada".to_string(), Duration::from_secs(60))?;
/// assert_eq!(cache.get::<String>("user:1")?.as_deref(), Some("Ada"));
/// # Ok::<(), cache_core::Error>(())
/// ```
#[derive(Debug, Clone, Copy)]
pub struct Blocking<'a> {
    cache: &'a Cache,
}

impl<'a> Blocking<'a> {
    pub(crate) fn new(cache: &'a Cache) -> Self {
        Self { cache }
    }

    /// See [`Cache::get`].
    ///
    /// ```
    /// assert_eq!(cache_core::Cache::default().blocking().get::<u8>("k")?, None);
    /// # Ok::<(), cache_core::Error>(())
    /// ```
    pub fn get<T>(&self, key: &str) -> Result<Option<T>>
    where
        T: CacheValue,
    {
        if let Some(local) = self.cache.local() {
            return Ok(self.cache.get_local(local, key));
        }
        if let Some(value) = self.cache.near_hit(key) {
            return Ok(Some(value));
        }
        self.cache.block_on(self.cache.get(key))
    }

    /// See [`Cache::has`].
    ///
    /// ```
    /// assert!(!cache_core::Cache::default().blocking().has("k")?);
    /// # Ok::<(), cache_core::Error>(())
    /// ```
    pub fn has(&self, key: &str) -> Result<bool> {
        self.cache.block_on(self.cache.has(key))
    }

    /// See [`Cache::set`].
    ///
    /// ```
    /// cache_core::Cache::default().blocking().set("k", &1u8, None)?;
    /// # Ok::<(), cache_core::Error>(())
    /// ```
    pub fn set<T>(&self, key: &str, value: &T, timeout: impl Into<Option<Duration>>) -> Result<()>
    where
        T: StoreValue + ?Sized,
    {
        if let Some(local) = self.cache.local() {
            let ttl = self.cache.ttl(timeout.into());
            return self.cache.set_local(local, key, value, ttl);
        }
        self.cache.block_on(self.cache.set(key, value, timeout))
    }

    /// See [`Cache::add`].
    ///
    /// ```
    /// assert!(cache_core::Cache::default().blocking().add("k", &1u8, None)?);
    /// # Ok::<(), cache_core::Error>(())
    /// ```
    pub fn add<T>(&self, key: &str, value: &T, timeout: impl Into<Option<Duration>>) -> Result<bool>
    where
        T: StoreValue + ?Sized,
    {
        self.cache.block_on(self.cache.add(key, value, timeout))
    }

    /// See [`Cache::delete`].
    ///
    /// ```
    /// assert!(!cache_core::Cache::default().blocking().delete("k")?);
    /// # Ok::<(), cache_core::Error>(())
    /// ```
    pub fn delete(&self, key: &str) -> Result<bool> {
        self.cache.block_on(self.cache.delete(key))
    }

    /// See [`Cache::get_many`].
    ///
    /// ```
    /// assert_eq!(cache_core::Cache::default().blocking().get_many::<u8>(&["a"])?, vec![None]);
    /// # Ok::<(), cache_core::Error>(())
    /// ```
    pub fn get_many<T>(
        &self,
        keys: impl IntoIterator<Item = impl AsRef<str>>,
    ) -> Result<Vec<Option<T>>>
    where
        T: CacheValue,
    {
        self.cache.block_on(self.cache.get_many(keys))
    }

    /// See [`Cache::set_many`].
    ///
    /// ```
    /// cache_core::Cache::default().blocking().set_many(&[("a", 1u8)], None)?;
    /// # Ok::<(), cache_core::Error>(())
    /// ```
    pub fn set_many<T>(
        &self,
        items: impl IntoIterator<Item = impl KeyValue<T>>,
        timeout: impl Into<Option<Duration>>,
    ) -> Result<()>
    where
        T: StoreValue + ?Sized,
    {
        self.cache.block_on(self.cache.set_many(items, timeout))
    }

    /// See [`Cache::delete_many`].
    ///
    /// ```
    /// assert_eq!(cache_core::Cache::default().blocking().delete_many(&["a"])?, 0);
    /// # Ok::<(), cache_core::Error>(())
    /// ```
    pub fn delete_many(&self, keys: impl IntoIterator<Item = impl AsRef<str>>) -> Result<u64> {
        self.cache.block_on(self.cache.delete_many(keys))
    }

    /// See [`Cache::incr`].
    ///
    /// ```
    /// assert_eq!(cache_core::Cache::default().blocking().incr("n", 2)?, 2);
    /// # Ok::<(), cache_core::Error>(())
    /// ```
    pub fn incr(&self, key: &str, delta: i64) -> Result<i64> {
        self.cache.block_on(self.cache.incr(key, delta))
    }

    /// See [`Cache::decr`].
    ///
    /// ```
    /// assert_eq!(cache_core::Cache::default().blocking().decr("n", 2)?, -2);
    /// # Ok::<(), cache_core::Error>(())
    /// ```
    pub fn decr(&self, key: &str, delta: i64) -> Result<i64> {
        self.cache.block_on(self.cache.decr(key, delta))
    }

    /// See [`Cache::clear`].
    ///
    /// ```
    /// assert_eq!(cache_core::Cache::default().blocking().clear()?, 0);
    /// # Ok::<(), cache_core::Error>(())
    /// ```
    pub fn clear(&self) -> Result<u64> {
        self.cache.block_on(self.cache.clear())
    }

    /// See [`Cache::ping`].
    ///
    /// ```
    /// cache_core::Cache::default().blocking().ping()?;
    /// # Ok::<(), cache_core::Error>(())
    /// ```
    pub fn ping(&self) -> Result<()> {
        self.cache.block_on(self.cache.ping())
    }

    /// See [`Cache::set_with_tags`].
    ///
    /// ```
    /// let cache = cache_core::Cache::default();
    /// cache.blocking().set_with_tags("k", &1u8, None, ["t"])?;
    /// assert_eq!(cache.blocking().invalidate_tag("t")?, 1);
    /// # Ok::<(), cache_core::Error>(())
    /// ```
    pub fn set_with_tags<T>(
        &self,
        key: &str,
        value: &T,
        timeout: impl Into<Option<Duration>>,
        tags: impl IntoIterator<Item = impl AsRef<str>>,
    ) -> Result<()>
    where
        T: StoreValue + ?Sized,
    {
        self.cache
            .block_on(self.cache.set_with_tags(key, value, timeout, tags))
    }

    /// See [`Cache::invalidate_tag`].
    ///
    /// ```
    /// assert_eq!(cache_core::Cache::default().blocking().invalidate_tag("t")?, 0);
    /// # Ok::<(), cache_core::Error>(())
    /// ```
    pub fn invalidate_tag(&self, tag: &str) -> Result<u64> {
        self.cache.block_on(self.cache.invalidate_tag(tag))
    }

    /// See [`Cache::get_or_set_with_tags`]; `f` is a plain closure here.
    ///
    /// ```
    /// let cache = cache_core::Cache::default();
    /// assert_eq!(cache.blocking().get_or_set_with_tags("k", None, ["t"], || 7u32), 7);
    /// assert_eq!(cache.blocking().invalidate_tag("t")?, 1);
    /// # Ok::<(), cache_core::Error>(())
    /// ```
    pub fn get_or_set_with_tags<T, F>(
        &self,
        key: &str,
        timeout: impl Into<Option<Duration>>,
        tags: impl IntoIterator<Item = impl AsRef<str>>,
        f: F,
    ) -> T
    where
        T: CacheValue,
        F: FnOnce() -> T,
    {
        let computed = self.try_get_or_set_with_tags(key, timeout, tags, || {
            Ok::<T, std::convert::Infallible>(f())
        });
        match computed {
            Ok(v) => v,
            Err(never) => match never {},
        }
    }

    /// See [`Cache::try_get_or_set_with_tags`]; `f` is a plain closure here.
    ///
    /// ```
    /// let cache = cache_core::Cache::default();
    /// let r: Result<u32, &str> = cache.blocking().try_get_or_set_with_tags("k", None, ["t"], || Ok(1));
    /// assert_eq!(r, Ok(1));
    /// ```
    pub fn try_get_or_set_with_tags<T, E, F>(
        &self,
        key: &str,
        timeout: impl Into<Option<Duration>>,
        tags: impl IntoIterator<Item = impl AsRef<str>>,
        f: F,
    ) -> Result<T, E>
    where
        T: CacheValue,
        F: FnOnce() -> Result<T, E>,
    {
        let full = self.cache.full_key(key);
        let ttl = self.cache.ttl(timeout.into());
        let tags = self.cache.tag_keys(tags);
        let coalesce = Coalesce::for_blocking_call();
        let span = crate::observe::spans::span!(self.cache, "cache.get_or_set");
        let call = crate::observe::Call::api(span.clone());
        let compute = self.cache.compute(
            &full,
            ttl,
            &tags,
            coalesce,
            Looked::No,
            &call,
            |_| true,
            || async { f() },
        );
        self.cache
            .block_on(tracing::Instrument::instrument(compute, span))
    }

    /// See [`Cache::get_or_set_with`]; `f` is a plain closure here.
    ///
    /// ```
    /// let cache = cache_core::Cache::default();
    /// assert_eq!(cache.blocking().get_or_set_with("k", None, || 7u32), 7);
    /// ```
    pub fn get_or_set_with<T, F>(&self, key: &str, timeout: impl Into<Option<Duration>>, f: F) -> T
    where
        T: CacheValue,
        F: FnOnce() -> T,
    {
        self.get_or_set_with_tags(key, timeout, [""; 0], f)
    }

    /// See [`Cache::try_get_or_set_with`]; `f` is a plain closure here.
    ///
    /// ```
    /// let cache = cache_core::Cache::default();
    /// let r: Result<u32, &str> = cache.blocking().try_get_or_set_with("k", None, || Err("no"));
    /// assert!(r.is_err());
    /// ```
    pub fn try_get_or_set_with<T, E, F>(
        &self,
        key: &str,
        timeout: impl Into<Option<Duration>>,
        f: F,
    ) -> Result<T, E>
    where
        T: CacheValue,
        F: FnOnce() -> Result<T, E>,
    {
        self.try_get_or_set_with_tags(key, timeout, [""; 0], f)
    }
}
