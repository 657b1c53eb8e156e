//! The in-process store, on [`quick_cache`]: bounded by bytes, per-entry TTL,
//! and typed values that a hit returns without decoding.

use std::any::Any;
use std::cell::Cell;
use std::fmt;
use std::sync::Arc;

use async_trait::async_trait;
use bytes::Bytes;
use quick_cache::Weighter;
use serde::Serialize;

use crate::backend::{Backend, Ttl};
use crate::codec::{self, Codec, Format};
use crate::key::key_for_message;
use crate::local::clock;
use crate::local::ident::{parse, Ident, Interner, TableKey, TailBuf};
use crate::local::table::{take_evicted, Evictions, Table};
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

/// Told of a key evicted for capacity (`false`) or found expired (`true`),
/// for keys under its prefixes.
pub(crate) type Sink = dyn Fn(&str, bool) + Send + Sync;

struct Watcher {
    prefixes: Vec<String>,
    sink: std::sync::Weak<Sink>,
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

/// A value with its logical expiry (milliseconds since the Unix epoch):
/// what the memory store keeps for an entry written with a fail-safe
/// window or refresh ahead (see [`crate::policy`]).
#[derive(Clone)]
pub(crate) struct Timed<T> {
    pub(crate) value: T,
    pub(crate) fresh_until: u64,
}

struct TypedTimed<T> {
    timed: Timed<T>,
    codec: Codec,
}

impl<T: Serialize + Send + Sync + 'static> TypedValue for TypedTimed<T> {
    fn as_any(&self) -> &(dyn Any + Send + Sync) {
        &self.timed
    }
    fn encode(&self) -> Result<Bytes> {
        codec::encode_timed(
            &self.timed.value,
            self.timed.fresh_until,
            self.codec,
            codec::MAX_VALUE_SIZE,
        )
        .map(bytes::BytesMut::freeze)
    }
    fn integer(&self) -> Option<i128> {
        None
    }
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

    /// Tells `sink` of every key under one of `prefixes` that is evicted
    /// for capacity or found expired, for as long as `sink` lives.
    pub(crate) fn watch(&self, prefixes: Vec<String>, sink: &Arc<Sink>) {
        let mut watchers = self
            .inner
            .watchers
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        watchers.retain(|w| w.sink.strong_count() > 0);
        watchers.push(Watcher {
            prefixes,
            sink: Arc::downgrade(sink),
        });
        self.inner.evictions.watch();
    }

    /// Tells the watchers of `key`. Called with no lock held.
    #[cold]
    fn notify(&self, key: &str, expired: bool) {
        // Called with the list released: a listener may write to the store.
        let sinks: Vec<Arc<Sink>> = self
            .inner
            .watchers
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .iter()
            .filter(|w| w.prefixes.iter().any(|p| key.starts_with(p.as_str())))
            .filter_map(|w| w.sink.upgrade())
            .collect();
        for sink in sinks {
            sink(key, expired);
        }
    }

    /// After a write: tells the watchers of what it evicted.
    #[inline]
    fn after_write(&self) {
        if self.inner.evictions.watched() {
            for key in take_evicted() {
                self.notify(&key.text(), false);
            }
        }
    }

    /// A read found `ident` expired: with watchers, removes it (if it is
    /// still expired) and tells them, once.
    #[inline]
    fn seen_expired(&self, ident: &Ident<'_>) {
        if self.inner.evictions.watched() {
            self.expire(ident);
        }
    }

    #[cold]
    fn expire(&self, ident: &Ident<'_>) {
        let removed = {
            let mut shard = self.inner.table.write(ident.hash());
            match shard.get(ident) {
                Some(entry) if !self.live(entry) => shard.remove(ident).is_some(),
                _ => false,
            }
        };
        if removed {
            self.notify(&ident.text(), true);
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

    /// The live value under `ident`: a `T` cloned in place when it is kept
    /// as one (the hit path: no reference count, no decoding), what is kept
    /// otherwise, or nothing.
    #[inline]
    pub(crate) fn probe<T: Clone + 'static>(&self, ident: &Ident<'_>) -> Probe<T> {
        let mut expired = false;
        let found = self
            .inner
            .table
            .with(ident, |entry| {
                if !self.live(entry) {
                    expired = true;
                    return Probe::Missing;
                }
                match &entry.value {
                    Stored::Typed(typed) => match typed.as_any().downcast_ref::<T>() {
                        Some(value) => Probe::Typed(value.clone()),
                        None => Probe::Other(entry.value.clone()),
                    },
                    Stored::Bytes(_) => Probe::Other(entry.value.clone()),
                }
            })
            .unwrap_or(Probe::Missing);
        if expired {
            self.seen_expired(ident);
        }
        found
    }

    /// The live value under the key `key`, if any.
    pub(crate) fn lookup(&self, key: &str) -> Option<Stored> {
        let mut buf = TailBuf::new();
        let ident = parse(key, &mut buf);
        let found = self.inner.table.with(&ident, |entry| {
            self.live(entry).then(|| entry.value.clone())
        });
        if found.as_ref().is_some_and(Option::is_none) {
            self.seen_expired(&ident);
        }
        found.flatten()
    }

    /// An entry holding a typed value, weighed by its encoded size plus its
    /// inline size.
    fn typed_entry<T: Serialize + Send + Sync + 'static>(
        &self,
        ident: &Ident<'_>,
        value: T,
        format: &Format,
        ttl: Ttl,
    ) -> Result<Entry> {
        self.typed_entry_until(ident, value, None, format, ttl)
    }

    /// [`typed_entry`](Self::typed_entry), kept with a logical expiry
    /// when `fresh_until` is set.
    fn typed_entry_until<T: Serialize + Send + Sync + 'static>(
        &self,
        ident: &Ident<'_>,
        value: T,
        fresh_until: Option<u64>,
        format: &Format,
        ttl: Ttl,
    ) -> Result<Entry> {
        let encoded = codec::encoded_len(&value);
        if encoded > format.max_size {
            return Err(Error::new(
                ErrorKind::TooLarge,
                format!(
                    "value for `{}` is {encoded} bytes encoded, more than the {} bytes allowed (max_value_size)",
                    key_for_message(&ident.text()),
                    format.max_size
                ),
            ));
        }
        let weight = encoded as u64 + std::mem::size_of::<T>() as u64;
        let codec = format.codec;
        let value = match fresh_until {
            None => Stored::Typed(Arc::new(Typed { value, codec })),
            Some(fresh_until) => Stored::Typed(Arc::new(TypedTimed {
                timed: Timed { value, fresh_until },
                codec,
            })),
        };
        self.entry(ident, value, weight, ttl)
    }

    /// Stores a typed value with its logical expiry.
    pub(crate) fn insert_timed<T: Serialize + Send + Sync + 'static>(
        &self,
        key: &str,
        value: T,
        fresh_until: u64,
        format: &Format,
        ttl: Ttl,
    ) -> Result<()> {
        let mut buf = TailBuf::new();
        let ident = parse(key, &mut buf);
        self.put(
            &ident,
            self.typed_entry_until(&ident, value, Some(fresh_until), format, ttl),
        )
    }

    /// What a read-through call with a policy looks at: a value kept as a
    /// `T` or as a timed `T`, cloned in place.
    pub(crate) fn probe_entry<T: Clone + 'static>(
        &self,
        ident: &Ident<'_>,
    ) -> Probe<codec::Decoded<T>> {
        let mut expired = false;
        let found = self
            .inner
            .table
            .with(ident, |entry| {
                if !self.live(entry) {
                    expired = true;
                    return Probe::Missing;
                }
                if let Stored::Typed(typed) = &entry.value {
                    let any = typed.as_any();
                    if let Some(value) = any.downcast_ref::<T>() {
                        return Probe::Typed(codec::Decoded {
                            value: value.clone(),
                            fresh_until: None,
                        });
                    }
                    if let Some(timed) = any.downcast_ref::<Timed<T>>() {
                        return Probe::Typed(codec::Decoded {
                            value: timed.value.clone(),
                            fresh_until: Some(timed.fresh_until),
                        });
                    }
                }
                Probe::Other(entry.value.clone())
            })
            .unwrap_or(Probe::Missing);
        if expired {
            self.seen_expired(ident);
        }
        found
    }

    /// Stores a typed value.
    pub(crate) fn insert_typed<T: Serialize + Send + Sync + 'static>(
        &self,
        key: &str,
        value: T,
        format: &Format,
        ttl: Ttl,
    ) -> Result<()> {
        let mut buf = TailBuf::new();
        self.insert_typed_at(&parse(key, &mut buf), value, format, ttl)
    }

    /// Stores a typed value under `ident`.
    pub(crate) fn insert_typed_at<T: Serialize + Send + Sync + 'static>(
        &self,
        ident: &Ident<'_>,
        value: T,
        format: &Format,
        ttl: Ttl,
    ) -> Result<()> {
        self.put(ident, self.typed_entry(ident, value, format, ttl))
    }

    /// Stores a typed value only if `key` holds no live value.
    pub(crate) fn add_typed<T: Serialize + Send + Sync + 'static>(
        &self,
        key: &str,
        value: T,
        format: &Format,
        ttl: Ttl,
    ) -> Result<bool> {
        let mut buf = TailBuf::new();
        let ident = parse(key, &mut buf);
        let entry = self.typed_entry(&ident, value, format, ttl)?;
        Ok(self.insert_if_absent(&ident, entry))
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
