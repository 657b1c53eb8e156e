//! The in-process table: [`quick_cache`] shards (CLOCK-Pro eviction,
//! bounded by weight) behind read-write locks, keyed by [`TableKey`].
//!
//! Sharding here rather than inside `quick_cache::sync::Cache` lets a hit
//! read its value in place under the shard's read lock (a typed value is
//! cloned there, with no reference count to bump and drop) and lets the
//! keys carry their own hash, computed once from the group's id and the
//! tail.

use std::cell::RefCell;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};

use quick_cache::{unsync, Lifecycle, OptionsBuilder, Weighter};

use super::ident::{Ident, PassThrough, TableKey};

pub(crate) type Shard<V, W> = unsync::Cache<TableKey, V, W, PassThrough, Evictions>;

/// Keeps the keys the table evicts for capacity, while someone listens
/// ([`watch`](Self::watch)): in a per-thread list that the writer drains
/// ([`take_evicted`]) once it has released the shard's lock.
#[derive(Clone, Default)]
pub(crate) struct Evictions {
    watched: Arc<AtomicBool>,
}

thread_local! {
    static EVICTED: RefCell<Vec<TableKey>> = const { RefCell::new(Vec::new()) };
}

impl Evictions {
    /// From now on, evicted keys are kept for [`take_evicted`].
    pub(crate) fn watch(&self) {
        self.watched.store(true, Ordering::Relaxed);
    }

    /// Whether evicted keys are kept.
    #[inline]
    pub(crate) fn watched(&self) -> bool {
        self.watched.load(Ordering::Relaxed)
    }
}

impl<V> Lifecycle<TableKey, V> for Evictions {
    type RequestState = ();

    fn on_evict(&self, (): &mut (), key: TableKey, _: V) {
        if self.watched() {
            EVICTED.with_borrow_mut(|evicted| evicted.push(key));
        }
    }
}

/// The keys this thread's writes evicted since the last call.
pub(crate) fn take_evicted() -> Vec<TableKey> {
    EVICTED.with_borrow_mut(std::mem::take)
}

/// A sharded table of `V`s weighed by `W`, at most `capacity` in total.
pub(crate) struct Table<V, W> {
    shards: Box<[RwLock<Shard<V, W>>]>,
    mask: u64,
    capacity: u64,
    shard_capacity: u64,
}

impl<V: Clone, W: Weighter<TableKey, V> + Clone> Table<V, W> {
    /// `shards` is rounded down to a power of two (at least one); each
    /// takes an equal share of `capacity`.
    pub(crate) fn new(
        capacity: u64,
        shards: usize,
        items: usize,
        weighter: &W,
        evictions: &Evictions,
    ) -> Self {
        let shards = prev_power_of_two(shards.max(1));
        let count = shards as u64;
        let shard_capacity = (capacity / count).max(1);
        let items = (items / shards).max(16);
        let shards = (0..shards)
            .map(|_| {
                let options = OptionsBuilder::new()
                    .weight_capacity(shard_capacity)
                    .estimated_items_capacity(items)
                    .build()
                    .expect("weight and item capacity are set");
                RwLock::new(unsync::Cache::with_options(
                    options,
                    weighter.clone(),
                    PassThrough,
                    evictions.clone(),
                ))
            })
            .collect();
        Self {
            shards,
            mask: count - 1,
            capacity,
            shard_capacity,
        }
    }

    #[inline]
    fn shard(&self, hash: u64) -> &RwLock<Shard<V, W>> {
        // The middle bits: hashbrown uses the low ones for buckets and the
        // top seven for its tags.
        let index = usize::try_from(hash.rotate_right(32) & self.mask).unwrap_or(0);
        &self.shards[index]
    }

    /// The shard holding `ident`, locked for reading.
    #[inline]
    pub(crate) fn read(&self, ident: &Ident<'_>) -> RwLockReadGuard<'_, Shard<V, W>> {
        self.shard(ident.hash())
            .read()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// The shard holding `hash`, locked for writing.
    #[inline]
    pub(crate) fn write(&self, hash: u64) -> RwLockWriteGuard<'_, Shard<V, W>> {
        self.shard(hash)
            .write()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// Runs `f` on the value under `ident`, in place.
    #[inline]
    pub(crate) fn with<R>(&self, ident: &Ident<'_>, f: impl FnOnce(&V) -> R) -> Option<R> {
        self.read(ident).get(ident).map(f)
    }

    /// Stores `value` under `key`, replacing what was there.
    pub(crate) fn insert(&self, key: TableKey, value: V) {
        self.write(key.table_hash()).insert(key, value);
    }

    /// Removes and returns the value under `ident`.
    pub(crate) fn remove(&self, ident: &Ident<'_>) -> Option<V> {
        self.write(ident.hash()).remove(ident).map(|(_, v)| v)
    }

    /// Keeps only the entries for which `keep` is true.
    pub(crate) fn retain(&self, keep: impl Fn(&TableKey, &V) -> bool) {
        for shard in &*self.shards {
            shard
                .write()
                .unwrap_or_else(PoisonError::into_inner)
                .retain(&keep);
        }
    }

    fn sum(&self, f: impl Fn(&Shard<V, W>) -> u64) -> u64 {
        self.shards
            .iter()
            .map(|s| f(&s.read().unwrap_or_else(PoisonError::into_inner)))
            .sum()
    }

    /// The bound, in weight.
    pub(crate) fn capacity(&self) -> u64 {
        self.capacity
    }

    /// The largest weight one entry may have.
    pub(crate) fn shard_capacity(&self) -> u64 {
        self.shard_capacity
    }

    /// The weight held.
    pub(crate) fn weight(&self) -> u64 {
        self.sum(unsync::Cache::weight)
    }

    /// The entries held.
    pub(crate) fn len(&self) -> usize {
        usize::try_from(self.sum(|s| s.len() as u64)).unwrap_or(usize::MAX)
    }
}

pub(crate) fn prev_power_of_two(n: usize) -> usize {
    if n.is_power_of_two() {
        n
    } else {
        n.next_power_of_two() / 2
    }
}
