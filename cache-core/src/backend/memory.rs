//! The in-process store, on [`quick_cache`]: bounded by bytes, per-entry TTL,
//! and typed values that a hit returns without decoding.

use std::cell::Cell;
use std::fmt;
use std::sync::Arc;

use async_trait::async_trait;
use bytes::Bytes;
use quick_cache::Weighter;

use crate::backend::{Backend, Ttl};
use crate::codec;
use crate::key::key_for_message;
use crate::local::clock;
use crate::local::ident::{parse, Ident, Interner, TableKey, TailBuf};
use crate::local::table::{Evictions, Table};
use crate::{Error, ErrorKind, Result};

mod tags;
mod typed;
mod watch;

pub(crate) use typed::TypedValue;
pub(crate) use watch::Sink;
use watch::Watcher;

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
    table: Table<Entry, EntryWeighter>,
    /// Shares the groups of keys between entries (see [`Interner`]).
    interner: Interner,
    clock: quanta::Clock,
    /// Whether reads may skip the clock for entries far from expiry (see
    /// [`clock`](crate::local::clock)): the real, shared clock.
    coarse: bool,
    max_entry: u64,
    /// The index of each tag, beside the entries (see `tags.rs`).
    tags: tags::TagIndex,
    /// Who hears of evictions and expiries (caches with a listener).
    evictions: Evictions,
    watchers: std::sync::RwLock<Vec<Watcher>>,
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

/// What a typed look at one key found.
pub(crate) enum Probe<T> {
    /// A live value kept as a `T`, cloned in place.
    Typed(T),
    /// A live value kept otherwise (bytes, or another type).
    Other(Stored),
    /// Nothing live.
    Missing,
}

#[derive(Clone)]
struct EntryWeighter;

impl Weighter<TableKey, Entry> for EntryWeighter {
    fn weight(&self, key: &TableKey, entry: &Entry) -> u64 {
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
        Self::build(max_bytes, clock::shared(), true)
    }

    /// A store on `clock` (a mock one, in tests): every read reads it.
    #[cfg(test)]
    pub(crate) fn with_clock(max_bytes: u64, clock: quanta::Clock) -> Self {
        Self::build(max_bytes, clock, false)
    }

    fn build(max_bytes: u64, clock: quanta::Clock, coarse: bool) -> Self {
        let max_bytes = max_bytes.max(1);
        let parallel_shards = std::thread::available_parallelism()
            .map_or(4, |n| n.get() * 4)
            .next_power_of_two();
        let wanted = usize::try_from(max_bytes / MIN_SHARD_CAPACITY).unwrap_or(usize::MAX);
        let shards = wanted.clamp(1, parallel_shards);
        let items = usize::try_from(max_bytes / 1024)
            .unwrap_or(usize::MAX)
            .clamp(16, 1 << 20);
        let evictions = Evictions::default();
        let table = Table::new(max_bytes, shards, items, &EntryWeighter, &evictions);
        let max_entry = table.shard_capacity();
        Self {
            inner: Arc::new(Inner {
                table,
                interner: Interner::default(),
                clock,
                coarse,
                max_entry,
                tags: tags::TagIndex::default(),
                evictions,
                watchers: std::sync::RwLock::default(),
            }),
        }
    }

    /// The bound, in bytes.
    ///
    /// ```
    /// assert_eq!(cache_core::MemoryBackend::with_capacity(4096).capacity(), 4096);
    /// ```
    pub fn capacity(&self) -> u64 {
        self.inner.table.capacity()
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
        self.inner.table.weight()
    }

    /// The number of entries held, including expired ones not yet evicted.
    ///
    /// ```
    /// assert_eq!(cache_core::MemoryBackend::new().len(), 0);
    /// ```
    pub fn len(&self) -> usize {
        self.inner.table.len()
    }

    /// Whether the store holds no entries.
    ///
    /// ```
    /// assert!(cache_core::MemoryBackend::new().is_empty());
    /// ```
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn now(&self) -> quanta::Instant {
        self.inner.clock.now()
    }

    /// Whether `entry` has not expired; reads the clock only for entries
    /// that expire.
    #[inline]
    fn live(&self, entry: &Entry) -> bool {
        entry
            .expires_at
            .is_none_or(|at| (self.inner.coarse && clock::surely_live(at)) || self.now() < at)
    }

    fn entry(&self, ident: &Ident<'_>, value: Stored, weight: u64, ttl: Ttl) -> Result<Entry> {
        let total = ident.len() as u64 + weight + ENTRY_OVERHEAD;
        if total > self.inner.max_entry {
            return Err(Error::new(
                ErrorKind::TooLarge,
                format!(
                    "entry `{}` takes {total} bytes, more than the {} bytes one entry may take in this memory store (capacity {})",
                    key_for_message(&ident.text()),
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

    /// Shares the groups of this store's keys.
    pub(crate) fn interner(&self) -> &Interner {
        &self.inner.interner
    }

    /// The live value under the key `key`, if any.
    pub(crate) fn lookup(&self, key: &str) -> Option<Stored> {
        let mut buf = TailBuf::new();
        self.read_live(&parse(key, &mut buf), |entry| entry.value.clone())
    }

    /// `read` of the live entry under `ident`, in place; `None` when there
    /// is none. An expired entry found here is told to the watchers.
    #[inline]
    fn read_live<R>(&self, ident: &Ident<'_>, read: impl FnOnce(&Entry) -> R) -> Option<R> {
        let mut expired = false;
        let found = self.inner.table.with(ident, |entry| {
            if self.live(entry) {
                Some(read(entry))
            } else {
                expired = true;
                None
            }
        });
        if expired {
            self.seen_expired(ident);
        }
        found.flatten()
    }

    fn insert_bytes(&self, key: &str, value: Bytes, ttl: Ttl) -> Result<()> {
        let mut buf = TailBuf::new();
        let ident = parse(key, &mut buf);
        let weight = value.len() as u64;
        self.put(
            &ident,
            self.entry(&ident, Stored::Bytes(value), weight, ttl),
        )
    }

    /// Stores `entry` under `key`, replacing what was there. If the entry
    /// was refused, drops the old value anyway: the caller asked for it to
    /// be replaced, so it must not be served any longer.
    fn put(&self, ident: &Ident<'_>, entry: Result<Entry>) -> Result<()> {
        match entry {
            Ok(entry) => {
                self.inner
                    .table
                    .insert(ident.to_key(&self.inner.interner), entry);
                self.after_write();
                Ok(())
            }
            Err(e) => {
                self.inner.table.remove(ident);
                Err(e)
            }
        }
    }

    fn insert_if_absent(&self, ident: &Ident<'_>, entry: Entry) -> bool {
        {
            let mut shard = self.inner.table.write(ident.hash());
            if shard.get(ident).is_some_and(|current| self.live(current)) {
                return false;
            }
            shard.insert(ident.to_key(&self.inner.interner), entry);
        }
        self.after_write();
        true
    }

    /// Removes `key`; whether a live value was there.
    pub(crate) fn remove(&self, key: &str) -> bool {
        let mut buf = TailBuf::new();
        let ident = parse(key, &mut buf);
        self.inner
            .table
            .remove(&ident)
            .is_some_and(|entry| self.live(&entry))
    }

    /// Removes every entry.
    pub(crate) fn clear_all(&self) {
        self.inner.table.retain(|_, _| false);
    }

    fn increment(&self, key: &str, delta: i64, ttl: Ttl) -> Result<i64> {
        let result = self.increment_locked(key, delta, ttl);
        self.after_write();
        result
    }

    fn increment_locked(&self, key: &str, delta: i64, ttl: Ttl) -> Result<i64> {
        let mut buf = TailBuf::new();
        let ident = parse(key, &mut buf);
        let mut shard = self.inner.table.write(ident.hash());
        if let Some(mut current) = shard.get_mut(&ident) {
            if self.live(&current) {
                let Some(old) = current.value.integer() else {
                    return Err(Error::new(
                        ErrorKind::Backend,
                        format!(
                            "cannot incr `{}`: the value is not an integer",
                            key_for_message(key)
                        ),
                    ));
                };
                let Some(new) = old.checked_add(delta) else {
                    return Err(Error::new(
                        ErrorKind::InvalidInput,
                        format!(
                            "incr of `{}` by {delta} overflows i64 (value {old})",
                            key_for_message(key)
                        ),
                    ));
                };
                let bytes = Bytes::from(new.to_string());
                current.weight = bytes.len() as u64;
                current.value = Stored::Bytes(bytes);
                return Ok(new);
            }
        }
        let bytes = Bytes::from(delta.to_string());
        let entry = self.entry(
            &ident,
            Stored::Bytes(bytes.clone()),
            bytes.len() as u64,
            ttl,
        )?;
        shard.insert(ident.to_key(&self.inner.interner), entry);
        Ok(delta)
    }

    fn remove_prefix(&self, prefix: &str) -> u64 {
        let now = self.now();
        let removed = Cell::new(0u64);
        self.inner.table.retain(|key, entry| {
            if key.text_starts_with(prefix) {
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

#[async_trait]
impl Backend for MemoryBackend {
    async fn get(&self, key: &str) -> Result<Option<Bytes>> {
        self.lookup(key).map(|v| v.to_bytes()).transpose()
    }

    async fn set(&self, key: &str, value: Bytes, ttl: Ttl) -> Result<()> {
        self.insert_bytes(key, value, ttl)
    }

    async fn add(&self, key: &str, value: Bytes, ttl: Ttl) -> Result<bool> {
        let mut buf = TailBuf::new();
        let ident = parse(key, &mut buf);
        let weight = value.len() as u64;
        let entry = self.entry(&ident, Stored::Bytes(value), weight, ttl)?;
        Ok(self.insert_if_absent(&ident, entry))
    }

    async fn delete(&self, key: &str) -> Result<bool> {
        Ok(self.remove(key))
    }

    async fn delete_many(&self, keys: &[&str]) -> Result<u64> {
        Ok(keys.iter().map(|k| u64::from(self.remove(k))).sum())
    }

    async fn contains(&self, key: &str) -> Result<bool> {
        Ok(self.lookup(key).is_some())
    }

    async fn incr(&self, key: &str, delta: i64, ttl: Ttl) -> Result<i64> {
        self.increment(key, delta, ttl)
    }

    async fn clear_prefix(&self, prefix: &str) -> Result<u64> {
        Ok(self.remove_prefix(prefix) + self.inner.tags.clear_prefix(prefix))
    }

    async fn add_to_tags(&self, key: &str, tags: &[&str], ttl: Ttl) -> Result<()> {
        let is_live = |key: &str| self.lookup(key).is_some();
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
    use crate::codec::{Codec, Format};
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
