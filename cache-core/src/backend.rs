//! The [`Backend`] trait: the small, bytes-in/bytes-out interface every store
//! implements, and the stores that ship with the crate.

use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;

use crate::{Error, ErrorKind, Result};

pub(crate) mod breaker;
pub mod memory;
pub mod null;
#[cfg(feature = "redis")]
#[cfg_attr(docsrs, doc(cfg(feature = "redis")))]
pub mod redis;
pub(crate) mod scheme;

#[cfg(feature = "redis")]
#[cfg_attr(docsrs, doc(cfg(feature = "redis")))]
pub use self::redis::RedisBackend;
pub use memory::MemoryBackend;
pub use null::NullBackend;

/// How long a stored entry lives, as a backend receives it.
///
/// [`Cache`](crate::Cache) resolves the user's timeout (its default timeout,
/// "never", or a duration) into a `Ttl` before calling the backend, so a
/// backend never needs to know the cache's defaults.
///
/// A duration longer than [`Ttl::MAX_DURATION`] (100 years) is clamped to
/// it, the same for every store: Redis refuses a `PX` beyond a signed
/// 64-bit count of milliseconds from now, and `Duration::MAX` or
/// `u64::MAX` seconds (say, `#[memoize(timeout = 18446744073709551615)]`)
/// mean "as long as possible", not an error. A tiny duration stays one: a
/// nanosecond is a nanosecond, never "never expires", and a store that
/// counts in milliseconds rounds it up to one ([`Ttl::as_millis`]).
///
/// ```
/// use std::time::Duration;
/// use cache_core::Ttl;
///
/// assert_eq!(Ttl::from_duration(Duration::ZERO), Ttl::Never);
/// assert_eq!(Ttl::from_duration(Duration::from_secs(5)).as_millis(), Some(5_000));
/// assert_eq!(Ttl::from_duration(Duration::MAX), Ttl::After(Ttl::MAX_DURATION));
/// assert_eq!(Ttl::from_duration(Duration::from_nanos(1)).as_millis(), Some(1));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Ttl {
    /// The entry never expires (it may still be evicted under memory pressure).
    Never,
    /// The entry expires after this (non-zero) duration.
    After(Duration),
}

impl Ttl {
    /// The longest time an entry is kept: 100 years (of 365 days). Longer
    /// durations are clamped to it, by [`from_duration`](Self::from_duration)
    /// and, for a `Ttl::After` built by hand, by [`duration`](Self::duration)
    /// and [`as_millis`](Self::as_millis), which stores read.
    ///
    /// ```
    /// use std::time::Duration;
    /// use cache_core::Ttl;
    ///
    /// assert_eq!(Ttl::MAX_DURATION, Duration::from_secs(100 * 365 * 24 * 60 * 60));
    /// assert_eq!(Ttl::After(Duration::MAX).duration(), Some(Ttl::MAX_DURATION));
    /// ```
    pub const MAX_DURATION: Duration = Duration::from_secs(100 * 365 * 24 * 60 * 60);

    /// `Duration::ZERO` means "never expires", as in Flask-Caching's
    /// `timeout=0`; a duration longer than [`Ttl::MAX_DURATION`] is clamped
    /// to it.
    ///
    /// ```
    /// use std::time::Duration;
    /// use cache_core::Ttl;
    ///
    /// assert_eq!(Ttl::from_duration(Duration::ZERO), Ttl::Never);
    /// assert_eq!(Ttl::from_duration(Duration::from_secs(u64::MAX)), Ttl::After(Ttl::MAX_DURATION));
    /// ```
    pub fn from_duration(duration: Duration) -> Self {
        if duration.is_zero() {
            Self::Never
        } else {
            Self::After(duration.min(Self::MAX_DURATION))
        }
    }

    /// The duration, at most [`Ttl::MAX_DURATION`], or `None` for
    /// [`Ttl::Never`].
    ///
    /// ```
    /// use std::time::Duration;
    /// assert_eq!(cache_core::Ttl::After(Duration::from_secs(1)).duration(), Some(Duration::from_secs(1)));
    /// ```
    pub fn duration(self) -> Option<Duration> {
        match self {
            Self::Never => None,
            Self::After(d) => Some(d.min(Self::MAX_DURATION)),
        }
    }

    /// Whole milliseconds, rounded up so that a sub-millisecond TTL still
    /// expires instead of meaning "never" (Redis `PX` takes milliseconds
    /// and rejects 0), and at most [`Ttl::MAX_DURATION`]'s. `None` for
    /// [`Ttl::Never`].
    ///
    /// ```
    /// use std::time::Duration;
    /// assert_eq!(cache_core::Ttl::After(Duration::from_micros(10)).as_millis(), Some(1));
    /// ```
    pub fn as_millis(self) -> Option<u64> {
        self.duration().map(|d| {
            let ms = d.as_nanos().div_ceil(1_000_000);
            u64::try_from(ms).unwrap_or(u64::MAX).max(1)
        })
    }
}

/// A store of byte values under string keys.
///
/// This is the one trait to implement to plug a new store into
/// [`Cache`](crate::Cache). It deals in raw bytes and fully-prefixed keys:
/// serialization, key prefixes and default timeouts belong to `Cache`.
/// It is object safe and used as `Arc<dyn Backend>`.
///
/// Required semantics (checked by [`testing::conformance`](crate::testing::conformance)
/// when the `testing` feature is on):
///
/// - keys are arbitrary UTF-8 (including `*`, `[`, `\n`, NUL); values are
///   arbitrary bytes, including empty;
/// - an expired entry is never returned;
/// - `add` stores only when the key is absent (or expired), atomically;
/// - `incr` is atomic, creates a missing key with `delta` and the given TTL,
///   keeps the TTL of an existing key, and fails with
///   [`ErrorKind::Backend`] if the stored value is not a
///   decimal integer; integers are stored as ASCII decimal;
/// - `clear_prefix` removes exactly the keys starting with `prefix`, treating
///   every character literally, and returns how many it removed (best
///   effort for stores that cannot count).
///
/// Tags ([`set_tagged`](Backend::set_tagged), [`add_to_tags`](Backend::add_to_tags),
/// [`take_tag`](Backend::take_tag); see [`tags`](crate::tags) for the
/// design) are optional: the provided methods fail with
/// [`ErrorKind::Unsupported`], so a store without them still compiles
/// and works for everything else. A store that offers them is checked by
/// [`testing::tag_conformance`](crate::testing::tag_conformance):
///
/// - a tag's index lists every key added to it since it was last taken
///   whose TTL has not passed; it may list more (keys since removed or
///   expired), never fewer;
/// - `take_tag` removes the index and returns what it listed, atomically:
///   a key added concurrently is either returned or listed in the index
///   that follows;
/// - index keys live in the same keyspace as entries, and are as
///   literal: `clear_prefix` removes those under its prefix.
///
/// ```
/// use async_trait::async_trait;
/// use bytes::Bytes;
/// use cache_core::{Backend, Result, Ttl};
///
/// /// Forgets everything: a store for tests that must always miss.
/// struct Forgetful;
///
/// #[async_trait]
/// impl Backend for Forgetful {
///     async fn get(&self, _key: &str) -> Result<Option<Bytes>> { Ok(None) }
///     async fn set(&self, _key: &str, _value: Bytes, _ttl: Ttl) -> Result<()> { Ok(()) }
///     async fn add(&self, _key: &str, _value: Bytes, _ttl: Ttl) -> Result<bool> { Ok(true) }
///     async fn delete_many(&self, _keys: &[&str]) -> Result<u64> { Ok(0) }
///     async fn incr(&self, _key: &str, delta: i64, _ttl: Ttl) -> Result<i64> { Ok(delta) }
///     async fn clear_prefix(&self, _prefix: &str) -> Result<u64> { Ok(0) }
/// }
///
/// let cache = cache_core::Cache::new(Forgetful);
/// ```
#[async_trait]
pub trait Backend: Send + Sync + 'static {
    /// Returns the value under `key`, or `None` if absent or expired.
    async fn get(&self, key: &str) -> Result<Option<Bytes>>;

    /// Returns the values under `keys`, in the same order. The default calls
    /// [`get`](Backend::get) once per key; remote stores should override it
    /// with one round trip.
    async fn get_many(&self, keys: &[&str]) -> Result<Vec<Option<Bytes>>> {
        let mut out = Vec::with_capacity(keys.len());
        for key in keys {
            out.push(self.get(key).await?);
        }
        Ok(out)
    }

    /// Stores `value` under `key`, replacing any previous value and TTL.
    async fn set(&self, key: &str, value: Bytes, ttl: Ttl) -> Result<()>;

    /// Stores all `items` with the same `ttl`. The default calls
    /// [`set`](Backend::set) once per item.
    async fn set_many(&self, items: &[(&str, Bytes)], ttl: Ttl) -> Result<()> {
        for (key, value) in items {
            self.set(key, value.clone(), ttl).await?;
        }
        Ok(())
    }

    /// Stores `value` only if `key` is absent; returns whether it stored.
    async fn add(&self, key: &str, value: Bytes, ttl: Ttl) -> Result<bool>;

    /// Removes `key`; returns whether it was present. The default calls
    /// [`delete_many`](Backend::delete_many).
    async fn delete(&self, key: &str) -> Result<bool> {
        Ok(self.delete_many(&[key]).await? > 0)
    }

    /// Removes `keys`; returns how many were present.
    async fn delete_many(&self, keys: &[&str]) -> Result<u64>;

    /// Whether `key` holds a live value. The default calls [`get`](Backend::get).
    async fn contains(&self, key: &str) -> Result<bool> {
        Ok(self.get(key).await?.is_some())
    }

    /// Adds `delta` to the integer under `key` atomically and returns the new
    /// value. A missing key starts at 0 and gets `ttl`; an existing key keeps
    /// its TTL.
    async fn incr(&self, key: &str, delta: i64, ttl: Ttl) -> Result<i64>;

    /// Removes every key that starts with `prefix` (literally: no glob
    /// characters), and only those. Returns how many were removed.
    async fn clear_prefix(&self, prefix: &str) -> Result<u64>;

    /// Removes every key that starts with any of `prefixes` (literally), and
    /// only those; returns how many were removed. A cache clears its API
    /// keys and its memoized keys with one call. The default clears each
    /// prefix in turn; a store that must scan its whole keyspace to clear
    /// (Redis) overrides it to scan once.
    async fn clear_prefixes(&self, prefixes: &[&str]) -> Result<u64> {
        let mut removed = 0;
        for prefix in prefixes {
            removed += self.clear_prefix(prefix).await?;
        }
        Ok(removed)
    }

    /// Checks that the store is reachable. The default succeeds.
    async fn ping(&self) -> Result<()> {
        Ok(())
    }

    /// Stores `value` under `key` (as [`set`](Backend::set)), then adds
    /// `key` to the index of each of `tags` (as
    /// [`add_to_tags`](Backend::add_to_tags)), in that order: a key listed
    /// by a tag is written first, so that a value stored while the tag is
    /// taken stays listed in the tag's next index. Remote stores override
    /// it to send both in one round trip where they can.
    ///
    /// If it fails, the value may or may not be stored, and may not be
    /// listed: the caller removes it ([`Cache`](crate::Cache) does), so
    /// that no tagged value escapes its tags.
    async fn set_tagged(&self, key: &str, value: Bytes, ttl: Ttl, tags: &[&str]) -> Result<()> {
        self.set(key, value, ttl).await?;
        self.add_to_tags(key, tags, ttl).await
    }

    /// Adds `key` to the index of each of `tags` (the index keys, in the
    /// store's keyspace: [`Cache`](crate::Cache) passes `<ns>!<tag>`, see
    /// [`key::Namespace`](crate::key::Namespace)). `ttl` is the entry's:
    /// the index keeps `key` at least that long, and itself lives at least
    /// as long as the longest-lived key it lists ([`Ttl::Never`]: until it
    /// is taken).
    ///
    /// The default fails with [`ErrorKind::Unsupported`] (unless `tags` is
    /// empty).
    async fn add_to_tags(&self, key: &str, tags: &[&str], ttl: Ttl) -> Result<()> {
        let _ = (key, ttl);
        if tags.is_empty() {
            return Ok(());
        }
        Err(unsupported("tags (add_to_tags)"))
    }

    /// Removes the index `tag` and returns the keys it listed, in one
    /// atomic step: a key added to `tag` while it is taken is either
    /// returned or listed in the new index that follows. The keys whose
    /// TTL has passed may be left out. The caller deletes the keys.
    ///
    /// The default fails with [`ErrorKind::Unsupported`].
    async fn take_tag(&self, tag: &str) -> Result<Vec<String>> {
        let _ = tag;
        Err(unsupported("tags (take_tag)"))
    }

    /// Removes `key` only if it holds exactly `expected`; returns whether
    /// it did. This releases a distributed single-flight lock (see
    /// [`Lock::Distributed`](crate::Lock::Distributed)) without removing
    /// a lock that expired and was taken by another process since.
    ///
    /// The default reads, compares and deletes in two calls, which is not
    /// atomic: another process's lock taken in between may be removed.
    /// Stores with a compare-and-delete (Redis: a script) override it.
    async fn delete_if_equals(&self, key: &str, expected: &[u8]) -> Result<bool> {
        match self.get(key).await? {
            Some(found) if found == expected => self.delete(key).await,
            _ => Ok(false),
        }
    }
}

/// The error of a provided method a store does not override.
fn unsupported(what: &str) -> Error {
    Error::new(
        ErrorKind::Unsupported,
        format!("this store does not support {what}: implement the tag methods of `Backend` to use tags"),
    )
}
