//! Who hears of the memory store's evictions and expiries: caches with a
//! listener, each for the keys under its own namespace.

use std::sync::Arc;

use super::MemoryBackend;
use crate::local::ident::Ident;
use crate::local::table::take_evicted;

/// Told of a key evicted for capacity (`false`) or found expired (`true`),
/// for keys under its prefixes.
pub(crate) type Sink = dyn Fn(&str, bool) + Send + Sync;

pub(super) struct Watcher {
    pub(super) prefixes: Vec<String>,
    pub(super) sink: std::sync::Weak<Sink>,
}

impl MemoryBackend {
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
    pub(super) fn notify(&self, key: &str, expired: bool) {
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
    pub(super) fn after_write(&self) {
        if self.inner.evictions.watched() {
            for key in take_evicted() {
                self.notify(&key.text(), false);
            }
        }
    }

    /// A read found `ident` expired: with watchers, removes it (if it is
    /// still expired) and tells them, once.
    #[inline]
    pub(super) fn seen_expired(&self, ident: &Ident<'_>) {
        if self.inner.evictions.watched() {
            self.expire(ident);
        }
    }

    #[cold]
    pub(super) fn expire(&self, ident: &Ident<'_>) {
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
}
