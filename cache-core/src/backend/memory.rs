//! The in-process store, on [`quick_cache`]: bounded by bytes, per-entry TTL,
//! and typed values that a hit returns without decoding.

use std::any::Any;
use std::cell::Cell;
use std::fmt;
use std::sync::Arc;

use async_trait::async_trait;
use bytes::Bytes;
use quick_cache::sync::{Cache as QuickCache, EntryAction, EntryResult};
use quick_cache::{OptionsBuilder, Weighter};
use serde::Serialize;

use crate::backend::{Backend, Ttl};
use crate::codec::{self, Codec, Format};
use crate::key::key_for_message;
use crate::{Error, ErrorKind, Result};

mod tags;

/// Bytes counted for each entry on top of its key and value: the map slot,
/// the entry header and allocator slack.
const ENTRY_OVERHEAD: u64 = 96;

/// The default bound of a [`MemoryBackend`]: 64 MiB.
pub const DEFAULT_CAPACITY: u64 = 64 * 1024 * 1024;

/// Shards are never made smaller than this, so a single large value fits.
const MIN_SHARD_CAPACITY: u64 = 16 * 1024 * 1024;

/// An in-process store bounded by the total size of its entries.
///
/// Built on [`quick_cache`] (a sharded, scan-resistant CLOCK-Pro cache with
/// ~10 ns hits): each entry carries its expiry instant, checked on every
/// read, and its weight (key + value bytes + a fixed overhead), so the
/// store never holds more than its capacity in bytes. When it is full the
/// coldest entries are evicted.
///
/// Values written through [`Cache`](crate::Cache) are kept as typed Rust
/// values, so a hit clones the value instead of decoding bytes; values
/// written through the [`Backend`] trait are kept as bytes. Either kind
/// can be read through either door.
///
/// One value may take at most [`max_entry_size`](Self::max_entry_size)
/// bytes (a shard's share of the capacity, at least 16 MiB or the whole
/// capacity); a larger one is refused with [`ErrorKind::TooLarge`].
///
/// ```
/// use cache_core::{Cache, MemoryBackend};
///
/// let backend = MemoryBackend::with_capacity(256 * 1024 * 1024);
/// let cache = Cache::builder().backend(backend).key_prefix("app:").build()?;
/// # Ok::<(), cache_core::Error>(())
/// ```
#[derive(Clone)]
pub struct MemoryBackend {
    inner: Arc<Inner>,
}

struct Inner {
    /// Keyed by the key's bytes, so the hit path can look a key up without
    /// checking that the bytes it built are UTF-8 (they always are).
    map: QuickCache<Vec<u8>, Entry, EntryWeighter>,
    clock: quanta::Clock,
    max_entry: u64,
    /// The index of each tag, beside the entries (see `tags.rs`).
    tags: tags::TagIndex,
}

/// A stored value with its expiry and weight.
#[derive(Clone)]
pub(crate) struct Entry {
    value: Stored,
    expires_at: Option<quanta::Instant>,
    weight: u64,
}

impl Entry {
    fn is_live(&self, now: quanta::Instant) -> bool {
        self.expires_at.is_none_or(|at| now < at)
    }
}

/// What the memory store keeps for one key.
#[derive(Clone)]
pub(crate) enum Stored {
    /// Bytes written through the [`Backend`] trait, or by `incr`.
    Bytes(Bytes),
    /// A Rust value written through [`Cache`](crate::Cache).
    Typed(Arc<dyn TypedValue>),
}

impl Stored {
    /// The value as stored bytes (encoding a typed value).
    pub(crate) fn to_bytes(&self) -> Result<Bytes> {
        match self {
            Self::Bytes(b) => Ok(b.clone()),
            Self::Typed(t) => t.encode(),
        }
    }

    fn integer(&self) -> Option<i64> {
        match self {
            Self::Bytes(b) => codec::parse_integer(b),
            Self::Typed(t) => t.integer().and_then(|n| i64::try_from(n).ok()),
        }
    }
}

/// A Rust value kept in the memory store, type-erased.
pub(crate) trait TypedValue: Send + Sync {
    fn as_any(&self) -> &(dyn Any + Send + Sync);
    fn encode(&self) -> Result<Bytes>;
    fn integer(&self) -> Option<i128>;
}

pub(crate) struct Typed<T> {
    pub(crate) value: T,
    pub(crate) codec: Codec,
}

impl<T: Serialize + Send + Sync + 'static> TypedValue for Typed<T> {
    fn as_any(&self) -> &(dyn Any + Send + Sync) {
        &self.value
    }
    fn encode(&self) -> Result<Bytes> {
        codec::encode(&self.value, self.codec)
    }
    fn integer(&self) -> Option<i128> {
        codec::integer_value(&self.value)
    }
}

#[derive(Clone)]
struct EntryWeighter;

impl Weighter<Vec<u8>, Entry> for EntryWeighter {
    fn weight(&self, key: &Vec<u8>, entry: &Entry) -> u64 {
        key.len() as u64 + entry.weight + ENTRY_OVERHEAD
    }
}

impl Default for MemoryBackend {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Debug for MemoryBackend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MemoryBackend")
            .field("capacity", &self.capacity())
            .field("weighted_size", &self.weighted_size())
            .field("len", &self.len())
            .finish()
    }
}

impl MemoryBackend {
    /// A store bounded by [`DEFAULT_CAPACITY`] (64 MiB).
    ///
    /// ```
    /// let backend = cache_core::MemoryBackend::new();
    /// assert_eq!(backend.capacity(), 64 * 1024 * 1024);
    /// ```
    pub fn new() -> Self {
        Self::with_capacity(DEFAULT_CAPACITY)
    }

    /// A store holding at most `max_bytes` of keys, values and per-entry
    /// overhead.
    ///
    /// ```
    /// let backend = cache_core::MemoryBackend::with_capacity(1 << 20);
    /// assert_eq!(backend.capacity(), 1 << 20);
    /// ```
    pub fn with_capacity(max_bytes: u64) -> Self {
        Self::with_clock(max_bytes, quanta::Clock::new())
    }

    pub(crate) fn with_clock(max_bytes: u64, clock: quanta::Clock) -> Self {
        let max_bytes = max_bytes.max(1);
        let parallel_shards = std::thread::available_parallelism()
            .map_or(4, |n| n.get() * 4)
            .next_power_of_two();
        let wanted = usize::try_from(max_bytes / MIN_SHARD_CAPACITY).unwrap_or(usize::MAX);
        let shards = prev_power_of_two(wanted.clamp(1, parallel_shards));
        let options = OptionsBuilder::new()
            .shards(shards)
            .weight_capacity(max_bytes)
            .estimated_items_capacity(
                usize::try_from(max_bytes / 1024)
                    .unwrap_or(usize::MAX)
                    .clamp(16, 1 << 20),
            )
            .build()
            .expect("shards, weight and item capacity are all set above");
        let map = QuickCache::with_options(
            options,
            EntryWeighter,
            quick_cache::DefaultHashBuilder::default(),
            quick_cache::sync::DefaultLifecycle::default(),
        );
        let max_entry = map.shard_capacity();
        Self {
            inner: Arc::new(Inner {
                map,
                clock,
                max_entry,
                tags: tags::TagIndex::default(),
            }),
        }
    }

    /// The bound, in bytes.
    ///
    /// ```
    /// assert_eq!(cache_core::MemoryBackend::with_capacity(4096).capacity(), 4096);
    /// ```
    pub fn capacity(&self) -> u64 {
        self.inner.map.capacity()
    }

    /// The largest entry (key + value + overhead), in bytes, that can be stored.
    ///
    /// ```
    /// let backend = cache_core::MemoryBackend::new();
    /// assert!(backend.max_entry_size() >= 16 * 1024 * 1024);
    /// ```
    pub fn max_entry_size(&self) -> u64 {
        self.inner.max_entry
    }

    /// The bytes currently accounted for (never more than [`capacity`](Self::capacity)).
    ///
    /// ```
    /// let backend = cache_core::MemoryBackend::new();
    /// assert_eq!(backend.weighted_size(), 0);
    /// ```
    pub fn weighted_size(&self) -> u64 {
        self.inner.map.weight()
    }

    /// The number of entries held, including expired ones not yet evicted.
    ///
    /// ```
    /// assert_eq!(cache_core::MemoryBackend::new().len(), 0);
    /// ```
    pub fn len(&self) -> usize {
        self.inner.map.len()
    }

    /// Whether the store holds no entries.
    ///
    /// ```
    /// assert!(cache_core::MemoryBackend::new().is_empty());
    /// ```
    pub fn is_empty(&self) -> bool {
        self.inner.map.is_empty()
    }

    fn now(&self) -> quanta::Instant {
        self.inner.clock.now()
    }

    fn entry(&self, key: &str, value: Stored, weight: u64, ttl: Ttl) -> Result<Entry> {
        let total = key.len() as u64 + weight + ENTRY_OVERHEAD;
        if total > self.inner.max_entry {
            return Err(Error::new(
                ErrorKind::TooLarge,
                format!(
                    "entry `{}` takes {total} bytes, more than the {} bytes one entry may take in this memory store (capacity {})",
                    key_for_message(key),
                    self.inner.max_entry,
                    self.capacity()
                ),
            ));
        }
        // `duration` is at most `Ttl::MAX_DURATION`, far within the clock's
        // range; an instant past it could only mean "never" anyway.
        let expires_at = ttl.duration().and_then(|d| self.now().checked_add(d));
        Ok(Entry {
            value,
            expires_at,
            weight,
        })
    }

    /// The live value under `key`, if any.
    #[inline]
    pub(crate) fn lookup(&self, key: &[u8]) -> Option<Stored> {
        let entry = self.inner.map.get(key)?;
        if entry.expires_at.is_some_and(|at| self.now() >= at) {
            return None;
        }
        Some(entry.value)
    }

    /// An entry holding a typed value, weighed by its encoded size plus its
    /// inline size.
    fn typed_entry<T: Serialize + Send + Sync + 'static>(
        &self,
        key: &str,
        value: T,
        format: &Format,
        ttl: Ttl,
    ) -> Result<Entry> {
        let encoded = codec::encoded_len(&value);
        if encoded > format.max_size {
            return Err(Error::new(
                ErrorKind::TooLarge,
                format!(
                    "value for `{}` is {encoded} bytes encoded, more than the {} bytes allowed (max_value_size)",
                    key_for_message(key),
                    format.max_size
                ),
            ));
        }
        let weight = encoded as u64 + std::mem::size_of::<T>() as u64;
        let codec = format.codec;
        let value = Stored::Typed(Arc::new(Typed { value, codec }));
        self.entry(key, value, weight, ttl)
    }

    /// Stores a typed value.
    pub(crate) fn insert_typed<T: Serialize + Send + Sync + 'static>(
        &self,
        key: &str,
        value: T,
        format: &Format,
        ttl: Ttl,
    ) -> Result<()> {
        self.put(key, self.typed_entry(key, value, format, ttl))
    }

    /// Stores a typed value only if `key` holds no live value.
    pub(crate) fn add_typed<T: Serialize + Send + Sync + 'static>(
        &self,
        key: &str,
        value: T,
        format: &Format,
        ttl: Ttl,
    ) -> Result<bool> {
        let entry = self.typed_entry(key, value, format, ttl)?;
        Ok(self.insert_if_absent(key, entry))
    }

    fn insert_bytes(&self, key: &str, value: Bytes, ttl: Ttl) -> Result<()> {
        let weight = value.len() as u64;
        self.put(key, self.entry(key, Stored::Bytes(value), weight, ttl))
    }

    /// Stores `entry` under `key`, replacing what was there. If the entry
    /// was refused, drops the old value anyway: the caller asked for it to
    /// be replaced, so it must not be served any longer.
    fn put(&self, key: &str, entry: Result<Entry>) -> Result<()> {
        match entry {
            Ok(entry) => {
                self.inner.map.insert(key.as_bytes().to_vec(), entry);
                Ok(())
            }
            Err(e) => {
                self.inner.map.remove(key.as_bytes());
                Err(e)
            }
        }
    }

    fn insert_if_absent(&self, key: &str, entry: Entry) -> bool {
        let now = self.now();
        let result = self.inner.map.entry(key.as_bytes(), None, |_, current| {
            if current.is_live(now) {
                EntryAction::Retain(())
            } else {
                EntryAction::ReplaceWithGuard
            }
        });
        match result {
            EntryResult::Vacant(guard) | EntryResult::Replaced(guard, _) => {
                let _ = guard.insert(entry);
                true
            }
            EntryResult::Retained(()) | EntryResult::Removed(..) | EntryResult::Timeout => false,
        }
    }

    /// Removes `key`; whether a live value was there.
    pub(crate) fn remove(&self, key: &str) -> bool {
        let now = self.now();
        self.inner
            .map
            .remove(key.as_bytes())
            .is_some_and(|(_, entry)| entry.is_live(now))
    }

    fn increment(&self, key: &str, delta: i64, ttl: Ttl) -> Result<i64> {
        let now = self.now();
        let result = self.inner.map.entry(key.as_bytes(), None, |_, current| {
            if !current.is_live(now) {
                return EntryAction::ReplaceWithGuard;
            }
            let Some(old) = current.value.integer() else {
                return EntryAction::Retain(Err(Error::new(
                    ErrorKind::Backend,
                    format!(
                        "cannot incr `{}`: the value is not an integer",
                        key_for_message(key)
                    ),
                )));
            };
            let Some(new) = old.checked_add(delta) else {
                return EntryAction::Retain(Err(Error::new(
                    ErrorKind::InvalidInput,
                    format!(
                        "incr of `{}` by {delta} overflows i64 (value {old})",
                        key_for_message(key)
                    ),
                )));
            };
            let bytes = Bytes::from(new.to_string());
            current.weight = bytes.len() as u64;
            current.value = Stored::Bytes(bytes);
            EntryAction::Retain(Ok(new))
        });
        match result {
            EntryResult::Retained(outcome) => outcome,
            EntryResult::Vacant(guard) | EntryResult::Replaced(guard, _) => {
                let bytes = Bytes::from(delta.to_string());
                let entry =
                    self.entry(key, Stored::Bytes(bytes.clone()), bytes.len() as u64, ttl)?;
                let _ = guard.insert(entry);
                Ok(delta)
            }
            EntryResult::Removed(..) | EntryResult::Timeout => Err(Error::new(
                ErrorKind::Backend,
                format!("incr of `{}` raced with a removal", key_for_message(key)),
            )),
        }
    }

    fn remove_prefix(&self, prefix: &str) -> u64 {
        let now = self.now();
        let removed = Cell::new(0u64);
        self.inner.map.retain(|key, entry| {
            if key.starts_with(prefix.as_bytes()) {
                if entry.is_live(now) {
                    removed.set(removed.get() + 1);
                }
                false
            } else {
                true
            }
        });
        removed.get()
    }
}

fn prev_power_of_two(n: usize) -> usize {
    if n.is_power_of_two() {
        n
    } else {
        n.next_power_of_two() / 2
    }
}

#[async_trait]
impl Backend for MemoryBackend {
    async fn get(&self, key: &str) -> Result<Option<Bytes>> {
        self.lookup(key.as_bytes())
            .map(|v| v.to_bytes())
            .transpose()
    }

    async fn set(&self, key: &str, value: Bytes, ttl: Ttl) -> Result<()> {
        self.insert_bytes(key, value, ttl)
    }

    async fn add(&self, key: &str, value: Bytes, ttl: Ttl) -> Result<bool> {
        let weight = value.len() as u64;
        let entry = self.entry(key, Stored::Bytes(value), weight, ttl)?;
        Ok(self.insert_if_absent(key, entry))
    }

    async fn delete(&self, key: &str) -> Result<bool> {
        Ok(self.remove(key))
    }

    async fn delete_many(&self, keys: &[&str]) -> Result<u64> {
        Ok(keys.iter().map(|k| u64::from(self.remove(k))).sum())
    }

    async fn contains(&self, key: &str) -> Result<bool> {
        Ok(self.lookup(key.as_bytes()).is_some())
    }

    async fn incr(&self, key: &str, delta: i64, ttl: Ttl) -> Result<i64> {
        self.increment(key, delta, ttl)
    }

    async fn clear_prefix(&self, prefix: &str) -> Result<u64> {
        Ok(self.remove_prefix(prefix) + self.inner.tags.clear_prefix(prefix))
    }

    async fn add_to_tags(&self, key: &str, tags: &[&str], ttl: Ttl) -> Result<()> {
        let is_live = |key: &str| self.lookup(key.as_bytes()).is_some();
        self.inner.tags.add(key, tags, ttl, self.now(), &is_live);
        Ok(())
    }

    async fn take_tag(&self, tag: &str) -> Result<Vec<String>> {
        Ok(self.inner.tags.take(tag, self.now()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn mocked(capacity: u64) -> (MemoryBackend, Arc<quanta::Mock>) {
        let (clock, mock) = quanta::Clock::mock();
        (MemoryBackend::with_clock(capacity, clock), mock)
    }

    #[tokio::test]
    async fn entries_expire_exactly_at_their_ttl() {
        let (mem, clock) = mocked(DEFAULT_CAPACITY);
        mem.set(
            "k",
            Bytes::from_static(b"v"),
            Ttl::After(Duration::from_secs(10)),
        )
        .await
        .unwrap();
        clock.increment(Duration::from_millis(9_999));
        assert!(mem.get("k").await.unwrap().is_some());
        clock.increment(Duration::from_millis(1));
        assert!(mem.get("k").await.unwrap().is_none());
        assert!(
            !mem.delete("k").await.unwrap(),
            "an expired key does not count as deleted"
        );
    }

    #[tokio::test]
    async fn add_replaces_an_expired_entry() {
        let (mem, clock) = mocked(DEFAULT_CAPACITY);
        let ttl = Ttl::After(Duration::from_secs(1));
        assert!(mem.add("k", Bytes::from_static(b"1"), ttl).await.unwrap());
        assert!(!mem.add("k", Bytes::from_static(b"2"), ttl).await.unwrap());
        clock.increment(Duration::from_secs(2));
        assert!(mem.add("k", Bytes::from_static(b"3"), ttl).await.unwrap());
        assert_eq!(mem.get("k").await.unwrap().unwrap(), "3");
    }

    #[tokio::test]
    async fn incr_keeps_the_ttl_of_an_existing_key_and_restarts_an_expired_one() {
        let (mem, clock) = mocked(DEFAULT_CAPACITY);
        let ttl = Ttl::After(Duration::from_secs(10));
        assert_eq!(mem.incr("n", 5, ttl).await.unwrap(), 5);
        clock.increment(Duration::from_secs(6));
        assert_eq!(
            mem.incr("n", 1, Ttl::After(Duration::from_secs(100)))
                .await
                .unwrap(),
            6
        );
        clock.increment(Duration::from_secs(5));
        assert_eq!(
            mem.incr("n", 1, ttl).await.unwrap(),
            1,
            "expired after the first TTL"
        );
    }

    #[tokio::test]
    async fn incr_works_on_typed_integers_and_refuses_other_values() {
        let mem = MemoryBackend::new();
        mem.insert_typed("n", 41u32, &Format::new(Codec::Bincode), Ttl::Never)
            .unwrap();
        assert_eq!(mem.incr("n", 1, Ttl::Never).await.unwrap(), 42);
        mem.insert_typed(
            "s",
            "x".to_string(),
            &Format::new(Codec::Bincode),
            Ttl::Never,
        )
        .unwrap();
        let err = mem.incr("s", 1, Ttl::Never).await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Backend);
        assert!(err.to_string().contains("`s`"), "{err}");
        mem.set("max", Bytes::from(i64::MAX.to_string()), Ttl::Never)
            .await
            .unwrap();
        assert_eq!(
            mem.incr("max", 1, Ttl::Never).await.unwrap_err().kind(),
            ErrorKind::InvalidInput
        );
    }

    #[tokio::test]
    async fn the_byte_bound_holds_with_values_of_random_sizes() {
        let capacity = 2 * 1024 * 1024;
        let mem = MemoryBackend::with_capacity(capacity);
        let mut seed = 0x2545_f491_4f6c_dd1d_u64;
        for i in 0..5_000 {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            let len = usize::try_from(seed % 8192).unwrap();
            mem.set(&format!("k{i}"), Bytes::from(vec![0u8; len]), Ttl::Never)
                .await
                .unwrap();
            assert!(mem.weighted_size() <= capacity);
        }
        assert!(
            mem.weighted_size() > capacity / 2,
            "the store is actually used"
        );
    }

    #[tokio::test]
    async fn a_value_larger_than_an_entry_may_be_is_refused_with_a_clear_error() {
        let mem = MemoryBackend::with_capacity(1024 * 1024);
        let err = mem
            .set("big", Bytes::from(vec![0u8; 2 * 1024 * 1024]), Ttl::Never)
            .await
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::TooLarge);
        assert!(err.to_string().contains("`big`"), "{err}");
        assert!(mem.get("big").await.unwrap().is_none());
        assert_eq!(mem.weighted_size(), 0);
    }

    #[tokio::test]
    async fn typed_values_read_back_as_bytes() {
        let mem = MemoryBackend::new();
        mem.insert_typed(
            "t",
            vec![1u8, 2, 3],
            &Format::new(Codec::Bincode),
            Ttl::Never,
        )
        .unwrap();
        let bytes = mem.get("t").await.unwrap().unwrap();
        assert_eq!(codec::decode::<Vec<u8>>(&bytes).unwrap(), vec![1, 2, 3]);
    }
}
