//! The near cache's hooks in [`Cache`]: building it, reads through it,
//! and the local evictions of this process's own writes.

use crate::config::Parsed;
use crate::key::Namespace;
use crate::local::{Form, Ident};
use crate::near::Near;
use crate::{Error, ErrorKind, Result};

use super::{Cache, CacheValue};

/// What a near cache holds and has done: see [`Cache::near_cache_stats`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct NearCacheStats {
    /// The bound, in bytes (keys, values and per-entry overhead).
    pub capacity: u64,
    /// The bytes held (never more than `capacity`).
    pub weighted_size: u64,
    /// The entries held, including expired ones not yet evicted.
    pub len: usize,
    /// Whether the invalidation channel is up with tracking on: while it
    /// is not, the near cache is empty and every read goes to the store.
    pub tracking: bool,
    /// Keys evicted by invalidations (the store's and this process's own
    /// writes).
    pub invalidations: u64,
    /// Times the whole near cache was flushed (channel lost, `clear`,
    /// `FLUSHDB`).
    pub flushes: u64,
}

/// The near cache the builder's `near_cache` or the URL's `near_cache`
/// asks for, if any.
pub(super) fn build(parsed: &Parsed, asked: Option<u64>, keys: &Namespace) -> Result<Option<Near>> {
    #[cfg(feature = "redis")]
    let from_url = parsed
        .redis
        .as_ref()
        .and_then(crate::backend::RedisBackend::near_cache_size);
    #[cfg(not(feature = "redis"))]
    let from_url = None;
    let Some(max_bytes) = asked.or(from_url) else {
        return Ok(None);
    };
    if max_bytes == 0 {
        return Err(Error::config("near_cache needs a size of at least 1 byte"));
    }
    if parsed.memory.is_some() {
        return Err(Error::config(
            "near_cache is for a remote store: the memory store is in process already",
        ));
    }
    #[cfg(feature = "redis")]
    if let Some(redis) = &parsed.redis {
        let prefixes = vec![keys.plain().to_owned(), keys.memoized().to_owned()];
        let channel = redis.near_channel(prefixes);
        let remote = std::sync::Arc::new(redis.clone());
        return Ok(Some(Near::new(max_bytes, keys, remote, |coherence| {
            Some(crate::near::tracking::start(channel, &coherence))
        })));
    }
    let _ = keys;
    Err(Error::config(
        "near_cache needs a Redis store (its invalidation messages keep the near cache coherent)",
    ))
}

impl Cache {
    /// The near cache, when enabled.
    #[inline]
    pub(crate) fn near(&self) -> Option<&Near> {
        self.inner.near.as_ref()
    }

    /// What the near cache (see
    /// [`CacheBuilder::near_cache`](crate::CacheBuilder::near_cache)) holds
    /// and has done; `None` without one.
    ///
    /// ```
    /// assert!(cache_core::Cache::default().near_cache_stats().is_none());
    /// ```
    pub fn near_cache_stats(&self) -> Option<NearCacheStats> {
        let near = self.near()?;
        let (invalidations, flushes) = near.counts();
        Some(NearCacheStats {
            capacity: near.store().capacity(),
            weighted_size: near.store().weighted_size(),
            len: near.store().len(),
            tracking: near.coherence().is_healthy(),
            invalidations,
            flushes,
        })
    }

    /// A counted near-cache hit of a key given to the cache's API (without
    /// its prefix): no key text is built.
    #[inline]
    pub(crate) fn near_hit<T: CacheValue>(&self, key: &str) -> Option<T> {
        let tier = self.near()?.tier();
        let ident = Ident::new(tier.plain_group(), Form::Plain, key.as_bytes());
        let value = tier.peek::<T>(&ident)?;
        self.counted(Some(value))
    }

    /// A read of `full` through the near cache: a typed hit, or the store's
    /// value and TTL (one round trip), kept in L1 unless invalidated while
    /// the read was in flight. Not counted; decode failures are logged,
    /// counted and a miss; store errors are returned.
    pub(super) async fn read_near<T: CacheValue>(
        &self,
        near: &Near,
        full: &str,
    ) -> Result<Option<T>> {
        if let Some(value) = near.tier().peek_text::<T>(full) {
            return Ok(Some(value));
        }
        if self.circuit_open() {
            // The breaker's answer (a skip), without a fill.
            let result = self.inner.backend.get(full).await;
            self.observe(&result);
            return Ok(result?.and_then(|bytes| self.decode_logged::<T>(full, &bytes)));
        }
        let token = near.coherence().token(full);
        let result = near.remote().get_with_ttl(full).await;
        self.observe(&result);
        if let Err(e) = &result {
            if matches!(e.kind(), ErrorKind::Connection | ErrorKind::Timeout) {
                self.tell_breaker();
            }
        }
        let remote = result?;
        let Some(bytes) = remote.bytes else {
            return Ok(None);
        };
        let Some(value) = self.decode_logged::<T>(full, &bytes) else {
            return Ok(None);
        };
        if let Some(token) = token {
            near.fill(full, &value, remote.ttl, token, &self.inner.format);
        }
        Ok(Some(value))
    }

    /// A near-cache read found the store unreachable: the breaker (which
    /// near-cache reads go around, for their `GET` + `PTTL`) learns it from
    /// a ping through it, in the background.
    #[cold]
    fn tell_breaker(&self) {
        if self.inner.breaker.is_none() {
            return;
        }
        let backend = std::sync::Arc::clone(&self.inner.backend);
        drop(crate::runtime::io_handle().spawn(async move {
            let _ = backend.ping().await;
        }));
    }

    /// After this process wrote or removed `full` (whether or not the
    /// store confirmed it): the near cache no longer serves what it held,
    /// nor keeps a read of it that was in flight.
    #[inline]
    pub(super) fn near_forget(&self, full: &str) {
        if let Some(near) = self.near() {
            near.coherence().invalidate(full.as_bytes());
        }
    }

    /// After this process removed many keys at once (`clear`, a function's
    /// `_invalidate_all`): the near cache is flushed.
    pub(super) fn near_flush(&self) {
        if let Some(near) = self.near() {
            near.coherence().flush();
        }
    }
}
