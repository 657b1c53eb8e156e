//! Fail-open operations on full keys that count no hits or misses, for
//! what is built on a cache and counts for itself: the HTTP layer reads a
//! request's generations and entry in one round trip and counts one hit or
//! one miss for the request.

use crate::backend::Ttl;
use crate::local::ident::{self, TailBuf};

use super::{Cache, CacheValue, StoreValue};

impl Cache {
    /// The values under `full` keys (prefix included), in one round trip on
    /// remote stores. Counts neither hits nor misses; a store error is
    /// logged and counted, and reads as misses; a value that is not a `T`
    /// is logged and counted, and is a miss.
    pub(crate) async fn read_many_open<T: CacheValue>(&self, full: &[&str]) -> Vec<Option<T>> {
        if let Some(local) = self.local() {
            return full
                .iter()
                .map(|key| {
                    let mut buf = TailBuf::new();
                    self.read_local_uncounted(local, &ident::parse(key, &mut buf))
                })
                .collect();
        }
        let result = self
            .timed("get_many", self.inner.backend.get_many(full))
            .await;
        self.observe(&result);
        match result {
            Ok(values) => values
                .iter()
                .zip(full)
                .map(|(bytes, key)| bytes.as_deref().and_then(|b| self.decode_logged(key, b)))
                .collect(),
            Err(e) => {
                self.note_error(&e, "get_many", full.first().copied().unwrap_or_default());
                vec![None; full.len()]
            }
        }
    }

    /// Stores `value` under `full` only if it holds no live value: whether
    /// it stored, or `None` when the store failed (logged and counted).
    pub(crate) async fn add_open<T: StoreValue + ?Sized>(
        &self,
        full: &str,
        value: &T,
        ttl: Ttl,
    ) -> Option<bool> {
        let result = if let Some(local) = self.local() {
            local.add(full, value, &self.inner.format, ttl)
        } else {
            match self.inner.format.encode(full, value) {
                Ok(bytes) => {
                    let result = self
                        .timed("add", self.inner.backend.add(full, bytes, ttl))
                        .await;
                    self.observe(&result);
                    result
                }
                Err(e) => Err(e),
            }
        };
        match result {
            Ok(stored) => {
                self.emit(
                    None,
                    Some(full),
                    crate::observe::Emit::Set(u64::from(stored)),
                );
                Some(stored)
            }
            Err(e) => {
                self.note_error(&e, "add", full);
                None
            }
        }
    }

    /// Counts a lookup that found a value.
    pub(crate) fn count_hit(&self) {
        self.outcome(None, None, crate::observe::Outcome::Hit);
    }

    /// Counts a lookup that found nothing.
    pub(crate) fn count_miss(&self) {
        self.outcome(None, None, crate::observe::Outcome::Miss);
    }
}
