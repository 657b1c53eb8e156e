//! The memory store's tag index: for each tag index key, the keys added to
//! it and when each of their entries expires.
//!
//! It lives beside the entries, not in them: taking a tag costs the
//! number of keys it lists, whatever the size of the store. Shards keep
//! writers of different tags from waiting for each other, and each shard
//! is swept lazily: when the keys it lists have doubled since the last
//! sweep, it drops those whose entry expired or is gone (evicted,
//! deleted), and the tags left with none. So the index stays within about
//! twice the tagged entries the store holds (plus [`MIN_SWEEP`] keys a
//! shard), at an amortized constant cost per addition. The index is not
//! counted in the store's capacity.
//!
//! A sweep that drops a key while a writer stores it again cannot lose
//! it: writers store the entry first, then take the shard's lock to list
//! it, and the sweep checks the entry under that lock. If the sweep saw
//! the entry missing, the writer lists it again after the sweep.

use std::collections::hash_map::RandomState;
use std::collections::HashMap;
use std::hash::BuildHasher;
use std::sync::{Mutex, MutexGuard, PoisonError};

use crate::backend::Ttl;

/// Shards of the index (a power of two).
const SHARDS: usize = 16;

/// A shard is not swept before it lists this many keys.
const MIN_SWEEP: usize = 64;

pub(super) struct TagIndex {
    shards: Box<[Mutex<Shard>]>,
    hasher: RandomState,
}

#[derive(Default)]
struct Shard {
    /// Tag index key → listed key → when its entry expires (`None`: never).
    tags: HashMap<Box<str>, HashMap<Box<str>, Option<quanta::Instant>>>,
    /// The keys listed by all the shard's tags.
    listed: usize,
    /// `listed` after the last sweep.
    swept: usize,
}

impl Shard {
    /// Drops the keys whose entries are gone, and the tags left empty.
    fn sweep(&mut self, now: quanta::Instant, is_live: &dyn Fn(&str) -> bool) {
        let mut listed = 0;
        self.tags.retain(|_, keys| {
            keys.retain(|key, expires| expires.is_none_or(|at| now < at) && is_live(key));
            listed += keys.len();
            !keys.is_empty()
        });
        self.listed = listed;
        self.swept = listed;
    }
}

impl Default for TagIndex {
    fn default() -> Self {
        Self {
            shards: (0..SHARDS).map(|_| Mutex::default()).collect(),
            hasher: RandomState::new(),
        }
    }
}

impl TagIndex {
    fn shard(&self, tag: &str) -> MutexGuard<'_, Shard> {
        // `SHARDS` is a power of two: the mask keeps the low bits.
        let i = usize::try_from(self.hasher.hash_one(tag)).unwrap_or_default() & (SHARDS - 1);
        // A panic while holding the lock cannot leave a shard half
        // updated in a way that matters: at worst a count is off until
        // the next sweep.
        self.shards[i]
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// Lists `key` under each of `tags`, its entry expiring after `ttl`
    /// from `now`. `is_live` says whether a key's entry is still stored,
    /// for the sweeps this may trigger.
    pub(super) fn add(
        &self,
        key: &str,
        tags: &[&str],
        ttl: Ttl,
        now: quanta::Instant,
        is_live: &dyn Fn(&str) -> bool,
    ) {
        // `duration` is at most `Ttl::MAX_DURATION`: far within the clock's
        // range; an instant past it could only mean "never" anyway.
        let expires = ttl.duration().and_then(|d| now.checked_add(d));
        for tag in tags {
            let mut shard = self.shard(tag);
            let keys = shard.tags.entry(Box::from(*tag)).or_default();
            if keys.insert(Box::from(key), expires).is_none() {
                shard.listed += 1;
            }
            if shard.listed >= MIN_SWEEP.max(2 * shard.swept) {
                shard.sweep(now, is_live);
            }
        }
    }

    /// Removes `tag`'s index and returns the keys it listed whose entries
    /// have not expired.
    pub(super) fn take(&self, tag: &str, now: quanta::Instant) -> Vec<String> {
        let mut shard = self.shard(tag);
        let Some(keys) = shard.tags.remove(tag) else {
            return Vec::new();
        };
        shard.listed -= keys.len();
        drop(shard);
        keys.into_iter()
            .filter(|(_, expires)| expires.is_none_or(|at| now < at))
            .map(|(key, _)| String::from(key))
            .collect()
    }

    /// Removes the indexes whose key starts with `prefix`; returns how many.
    pub(super) fn clear_prefix(&self, prefix: &str) -> u64 {
        let mut removed = 0;
        for shard in &*self.shards {
            let mut shard = shard.lock().unwrap_or_else(PoisonError::into_inner);
            let mut dropped = 0;
            shard.tags.retain(|tag, keys| {
                if tag.starts_with(prefix) {
                    removed += 1;
                    dropped += keys.len();
                    false
                } else {
                    true
                }
            });
            shard.listed -= dropped;
        }
        removed
    }

    /// The keys listed by all tags (for tests of the sweeps).
    #[cfg(test)]
    pub(super) fn listed(&self) -> usize {
        self.shards
            .iter()
            .map(|s| s.lock().unwrap_or_else(PoisonError::into_inner).listed)
            .sum()
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn take_returns_the_live_keys_once() {
        let (clock, mock) = quanta::Clock::mock();
        let index = TagIndex::default();
        let live = |_: &str| true;
        index.add("a", &["t", "u"], Ttl::Never, clock.now(), &live);
        index.add(
            "b",
            &["t"],
            Ttl::After(Duration::from_secs(1)),
            clock.now(),
            &live,
        );
        mock.increment(Duration::from_secs(2));
        assert_eq!(index.take("t", clock.now()), vec!["a".to_owned()]);
        assert!(index.take("t", clock.now()).is_empty(), "taken once");
        assert_eq!(index.take("u", clock.now()), vec!["a".to_owned()]);
        assert_eq!(index.listed(), 0);
    }

    #[test]
    fn sweeps_keep_the_index_near_the_live_entries() {
        let (clock, mock) = quanta::Clock::mock();
        let index = TagIndex::default();
        // Keys that expire, under many tags: the index must not keep them all.
        for i in 0..20_000 {
            let tag = format!("t{}", i % 100);
            let ttl = Ttl::After(Duration::from_millis(10));
            index.add(&format!("k{i}"), &[&tag], ttl, clock.now(), &|_| true);
            mock.increment(Duration::from_millis(1));
        }
        assert!(index.listed() < 4_000, "{} keys listed", index.listed());
        // Keys whose entries are gone are dropped too.
        let index = TagIndex::default();
        for i in 0..20_000 {
            index.add(&format!("k{i}"), &["one"], Ttl::Never, clock.now(), &|k| {
                k.ends_with('0')
            });
        }
        let kept = index.take("one", clock.now());
        assert!(kept.len() < 4_000, "{} keys listed", kept.len());
        assert!(kept.contains(&"k19990".to_owned()) && kept.contains(&"k19999".to_owned()));
    }

    #[test]
    fn clear_prefix_removes_only_the_indexes_under_it() {
        let clock = quanta::Clock::new();
        let index = TagIndex::default();
        for tag in ["ns!a", "ns!b", "nsx!a", "n"] {
            index.add("k", &[tag], Ttl::Never, clock.now(), &|_| true);
        }
        assert_eq!(index.clear_prefix("ns!"), 2);
        assert!(index.take("ns!a", clock.now()).is_empty());
        assert_eq!(index.take("nsx!a", clock.now()), vec!["k".to_owned()]);
        assert_eq!(index.listed(), 1);
    }
}
