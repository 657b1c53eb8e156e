//! The distributed lock of [`Lock::Distributed`](crate::Lock::Distributed):
//! one computation per key across every process sharing the store.
//!
//! The lock is a key beside the value's: `<ns>#@lock:<value key>` (no
//! function path starts with `@`, so it is never a function's key), set
//! with `add` (`SET NX PX` on Redis) to a token unique to the attempt,
//! expiring after [`Policy::lock_expiry`](crate::Policy::lock_expiry) so
//! that a holder that dies frees it. The holder removes it by
//! compare-and-delete ([`Backend::delete_if_equals`](crate::Backend::delete_if_equals)),
//! so a holder that outlived its lock never removes another's. A holder
//! stores its value before it releases the lock, and whoever takes the
//! lock looks for the value first, so a lock taken just after a release
//! never computes again. Waiters
//! poll the value with backoff, try the lock on each round (taking it over
//! once it expires), and compute themselves when the wait passes the
//! lock's expiry.

use std::hash::{BuildHasher, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use bytes::Bytes;

use crate::backend::Ttl;
use crate::key::key_for_message;
use crate::policy::{Policy, DEFAULT_LOCK_EXPIRY};
use crate::runtime;

use super::resilient::{lock_applies, HeldLock, Locked};
use super::{Cache, CacheValue};

/// The first pause between two looks of a waiter; it doubles up to
/// [`MAX_PAUSE`].
const FIRST_PAUSE: Duration = Duration::from_millis(2);
const MAX_PAUSE: Duration = Duration::from_millis(50);

/// A token no other attempt of any process uses: a random per-process
/// seed (std's hasher keys come from the OS) and a counter.
fn token() -> String {
    static SEED: OnceLock<u64> = OnceLock::new();
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let seed = *SEED.get_or_init(|| {
        let mut h = std::collections::hash_map::RandomState::new().build_hasher();
        h.write_u32(std::process::id());
        h.finish()
    });
    format!("{seed:016x}-{}", NEXT.fetch_add(1, Ordering::Relaxed))
}

impl Cache {
    /// The store key of the distributed lock of `key` (a key given to this
    /// cache's API): for operators who look at the store.
    ///
    /// ```
    /// let cache = cache_core::Cache::builder().key_prefix("app").build()?;
    /// assert_eq!(cache.lock_key("report"), "app#@lock:app|report");
    /// # Ok::<(), cache_core::Error>(())
    /// ```
    pub fn lock_key(&self, key: &str) -> String {
        self.lock_key_full(&self.full_key(key))
    }

    /// The lock key of the value key `full`.
    pub(crate) fn lock_key_full(&self, full: &str) -> String {
        let ns = self.memo_prefix();
        let mut key = String::with_capacity(ns.len() + 6 + full.len());
        key.push_str(ns);
        key.push_str("@lock:");
        key.push_str(full);
        key
    }

    /// Tries the lock once. `None`: another process holds it; `Some(None)`:
    /// no lock applies (or the store failed), compute without one.
    pub(super) async fn try_lock_once(
        &self,
        full: &str,
        policy: &Policy,
    ) -> Option<Option<HeldLock>> {
        if !lock_applies(self, policy) {
            return Some(None);
        }
        let key = self.lock_key_full(full);
        let token = token();
        let expiry = policy.lock_expiry.unwrap_or(DEFAULT_LOCK_EXPIRY);
        let outcome = self
            .inner
            .backend
            .add(&key, Bytes::from(token.clone()), Ttl::from_duration(expiry))
            .await;
        self.observe(&outcome);
        match outcome {
            Ok(true) => Some(Some(HeldLock { key, token })),
            Ok(false) => None,
            Err(e) => {
                self.note_error(&e, "lock", &key);
                Some(None)
            }
        }
    }

    /// Takes the lock of `full`, or waits for the value another process
    /// computes under it (see the module docs).
    pub(super) async fn distributed_lock<T: CacheValue>(
        &self,
        full: &str,
        policy: &Policy,
    ) -> Locked<T> {
        let expiry = policy.lock_expiry.unwrap_or(DEFAULT_LOCK_EXPIRY);
        let deadline = Instant::now() + expiry;
        let mut pause = FIRST_PAUSE;
        loop {
            match self.try_lock_once(full, policy).await {
                Some(Some(held)) => {
                    // The previous holder stores its value before it
                    // releases the lock: look once more, under the lock.
                    if let Some(value) = self.fresh_value::<T>(full).await {
                        self.release_lock(&held).await;
                        return Locked::Value(value);
                    }
                    return Locked::Held(held);
                }
                Some(None) => return Locked::Without,
                None => {}
            }
            runtime::sleep(pause).await;
            pause = (pause * 2).min(MAX_PAUSE);
            if let Some(value) = self.fresh_value::<T>(full).await {
                return Locked::Value(value);
            }
            if Instant::now() >= deadline {
                tracing::debug!(key = %key_for_message(full), "waited past the lock's expiry: computing without it");
                return Locked::Without;
            }
        }
    }

    /// Releases a lock this process holds (best effort: it expires anyway).
    pub(super) async fn release_lock(&self, lock: &HeldLock) {
        let released = self
            .inner
            .backend
            .delete_if_equals(&lock.key, lock.token.as_bytes())
            .await;
        self.observe(&released);
        if let Err(e) = released {
            self.note_error(&e, "unlock", &lock.key);
        }
    }
}
