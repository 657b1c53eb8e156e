//! The read and write paths every operation shares: typed reads of the
//! in-process store, decoding with the shape rule, counting, and the
//! single-flight read-through engine.

use std::future::Future;
use std::sync::Arc;

use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::backend::Ttl;
use crate::flight::Join;
use crate::key::key_for_message;
use crate::local::ident::{self, TailBuf};
use crate::local::{Form, Ident, LocalTier, Read};
use crate::observe::{Call, Emit, Outcome};
use crate::Result;

use super::{Cache, CacheValue, OnError, StoreValue};

/// A key read back from the memory store's bytes, for messages (keys are
/// always built from `str`s, so nothing is lost in practice).
#[cold]
fn lossy(key: &[u8]) -> std::borrow::Cow<'_, str> {
    String::from_utf8_lossy(key)
}

/// Whether a miss may wait for another caller's computation of the same
/// key (single-flight) or must compute alone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Coalesce {
    /// Wait for a running computation of the key and share its result.
    Wait,
    /// Compute alone: waiting could deadlock (a blocking call on a
    /// current-thread runtime, where the computation it would wait for
    /// may be a task of the runtime it blocks).
    Alone,
}

impl Coalesce {
    /// What a blocking call made now may do: wait, unless it blocks a
    /// current-thread runtime.
    pub(crate) fn for_blocking_call() -> Self {
        if crate::runtime::on_current_thread_runtime() {
            Self::Alone
        } else {
            Self::Wait
        }
    }
}

/// Whether the caller of [`Cache::compute`] has just read the key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Looked {
    /// No: the engine reads it first.
    No,
    /// Yes, in process, and found nothing (the miss is counted).
    Missed,
}

impl Cache {
    /// The read-through engine behind `get_or_set_with` and the memoize
    /// macros. `full` includes the prefix; a computed value is stored with
    /// `tags` (full tag index keys, see [`Cache::tag_keys`]). `store_if`
    /// decides whether a computed value is stored; `coalesce` says whether
    /// a miss may wait for another caller's computation; `call` is what the
    /// call's outcome is reported to (its function, its span). Each call
    /// has one outcome: a hit, a coalesced wait or a miss (the caller
    /// computes). Fail-open: store errors are logged and counted, never
    /// returned.
    #[expect(
        clippy::too_many_arguments,
        reason = "the one crate-private engine behind every read-through call"
    )]
    pub(crate) async fn compute<T, E, F, Fut>(
        &self,
        full: &str,
        ttl: Ttl,
        tags: &[String],
        coalesce: Coalesce,
        looked: Looked,
        call: &Call<'_>,
        store_if: impl Fn(&T) -> bool,
        f: F,
    ) -> Result<T, E>
    where
        T: CacheValue,
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<T, E>>,
    {
        if !self.inner.policy_plain {
            // An in-process miss (`looked`) could not see stale values: the
            // policy's engine reads again.
            let policy = self.inner.policy.with_ttl(ttl);
            let seen = super::resilient::Seen::Nothing;
            return self
                .compute_policy(full, tags, &policy, coalesce, seen, call, store_if, None, f)
                .await;
        }
        let mut f = Some(f);
        let mut looked = looked;
        loop {
            // Only a remote read needs a mark; in memory a second look is free.
            let wait = coalesce == Coalesce::Wait;
            let mark = (wait && !self.is_local()).then(|| self.inner.flights.mark(full));
            if looked == Looked::No {
                if let Some(v) = self.lookup_uncounted::<T>(full).await {
                    self.call_outcome(call, full, Outcome::Hit);
                    return Ok(v);
                }
            }
            looked = Looked::No;
            let leader = if wait {
                match self.inner.flights.join(full) {
                    Join::Follower(flight) => {
                        match flight.wait().await {
                            Some(shared) => {
                                if let Some(v) = shared.downcast_ref::<T>() {
                                    self.call_outcome(call, full, Outcome::Coalesced);
                                    return Ok(v.clone());
                                }
                                None // another type under the same key: compute alone
                            }
                            None => continue, // the leader gave up: try again
                        }
                    }
                    Join::Leader(leader) => {
                        // A computation may have finished between our miss and our
                        // join; in memory a second look is free. Elsewhere it costs
                        // a read, made only when a flight of this key (or of its
                        // stripe) ended since ours began.
                        if let Some(local) = &self.inner.local {
                            if let Some(v) = local.peek_text::<T>(full) {
                                self.call_outcome(call, full, Outcome::Hit);
                                leader.finish(|| Arc::new(v.clone()));
                                return Ok(v);
                            }
                        } else if mark.is_some_and(|m| self.inner.flights.ended_since(m)) {
                            if let Some(v) = self.read_remote::<T>(full).await {
                                self.call_outcome(call, full, Outcome::Hit);
                                leader.finish(|| Arc::new(v.clone()));
                                return Ok(v);
                            }
                        }
                        Some(leader)
                    }
                }
            } else {
                None
            };
            let f = f
                .take()
                .expect("the computation runs at most once: the loop returns after it");
            self.call_outcome(call, full, Outcome::Miss);
            let value = self.computed(call, f()).await?;
            if store_if(&value) {
                self.store_full(full, &value, ttl, tags, OnError::Open)
                    .await
                    .ok();
            }
            if let Some(leader) = leader {
                leader.finish(|| Arc::new(value.clone()));
            }
            return Ok(value);
        }
    }

    /// A read that never fails and is not counted as a hit or a miss (the
    /// caller counts its outcome): errors are logged, counted and become
    /// misses.
    pub(crate) async fn lookup_uncounted<T>(&self, full: &str) -> Option<T>
    where
        T: CacheValue,
    {
        if let Some(local) = &self.inner.local {
            let mut buf = TailBuf::new();
            return self.read_local_uncounted::<T>(local, &ident::parse(full, &mut buf));
        }
        self.read_remote::<T>(full).await
    }

    /// A read of a remote store that never fails and is not counted as a
    /// hit or a miss (a leader's second look counts neither, like the
    /// memory store's). Store and decode errors are logged and counted, and
    /// are misses.
    pub(super) async fn read_remote<T>(&self, full: &str) -> Option<T>
    where
        T: CacheValue,
    {
        if let Some(near) = self.near() {
            return self.read_near::<T>(near, full).await.unwrap_or_else(|e| {
                self.note_error(&e, "get", full);
                None
            });
        }
        let result = self.timed("get", self.inner.backend.get(full)).await;
        self.observe(&result);
        match result {
            Ok(bytes) => bytes.and_then(|b| self.decode_logged(full, &b)),
            Err(e) => {
                self.note_error(&e, "get", full);
                None
            }
        }
    }

    /// Writes under a full key (prefix included): typed in memory, encoded
    /// elsewhere, listed under `tags` (full tag index keys) after it is
    /// written. Counts a successful write; leaves errors to the caller.
    pub(super) async fn write_full<T>(
        &self,
        full: &str,
        value: &T,
        ttl: Ttl,
        tags: &[String],
    ) -> Result<()>
    where
        T: StoreValue + ?Sized,
    {
        self.write_full_until(full, value, None, ttl, tags).await
    }

    /// [`write_full`](Self::write_full), with the logical expiry
    /// `fresh_until` (milliseconds since the Unix epoch) kept in the entry
    /// when set (see [`crate::policy`]).
    pub(super) async fn write_full_until<T>(
        &self,
        full: &str,
        value: &T,
        fresh_until: Option<u64>,
        ttl: Ttl,
        tags: &[String],
    ) -> Result<()>
    where
        T: StoreValue + ?Sized,
    {
        let result = if let Some(local) = &self.inner.local {
            let format = &self.inner.format;
            let inserted = match fresh_until {
                None => local.insert(full, value, format, ttl),
                Some(until) => local.insert_timed(full, value, until, format, ttl),
            };
            match inserted {
                Ok(()) if !tags.is_empty() => self.list_under_tags(full, ttl, tags).await,
                written => written,
            }
        } else {
            let encoded = match fresh_until {
                None => self.inner.format.encode(full, value),
                Some(until) => self.inner.format.encode_timed(full, value, until),
            };
            match encoded {
                Ok(bytes) if tags.is_empty() => {
                    let result = self
                        .timed("set", self.inner.backend.set(full, bytes, ttl))
                        .await;
                    self.observe(&result);
                    result
                }
                Ok(bytes) => self.write_tagged(full, bytes, ttl, tags).await,
                Err(e) => {
                    self.forget_refused(full).await;
                    Err(e)
                }
            }
        };
        self.near_forget(full);
        if result.is_ok() {
            self.emit(None, Some(full), Emit::Set(1));
        }
        result
    }

    /// After a value for `full` could not be encoded (too large, or its
    /// `Serialize` failed), removes what the key held: the caller replaced
    /// it, so the old value must not be served. Best effort: the error the
    /// caller gets is the refusal.
    pub(super) async fn forget_refused(&self, full: &str) {
        let deleted = self.inner.backend.delete(full).await;
        self.near_forget(full);
        if let Err(e) = deleted {
            tracing::debug!(key = %key_for_message(full), error = %e, "could not remove the value a refused write replaces");
        }
    }

    /// Stores under a full key, listed under `tags` (full tag index keys),
    /// with the `ignore_errors` policy.
    pub(crate) async fn store_full<T>(
        &self,
        full: &str,
        value: &T,
        ttl: Ttl,
        tags: &[String],
        policy: OnError,
    ) -> Result<()>
    where
        T: StoreValue + ?Sized,
    {
        match self.write_full(full, value, ttl, tags).await {
            Ok(()) => Ok(()),
            Err(e) => self.on_error(policy, e, "set", full, ()),
        }
    }

    /// Deletes under a full key. Invalidations pass [`OnError::Strict`]:
    /// a lost invalidation would leave a stale value in place.
    pub(crate) async fn delete_full(&self, full: &str, policy: OnError) -> Result<bool> {
        match self.remove_full(full).await {
            Ok(existed) => Ok(existed),
            Err(e) => self.on_error(policy, e, "delete", full, false),
        }
    }

    pub(super) async fn remove_full(&self, full: &str) -> Result<bool> {
        let result = self.timed("delete", self.inner.backend.delete(full)).await;
        self.near_forget(full);
        self.observe(&result);
        if let Ok(existed) = result {
            self.emit(None, Some(full), Emit::Deleted(u64::from(existed)));
        }
        result
    }

    /// [`remove_full`](Self::remove_full) of several full keys: how many
    /// existed.
    pub(super) async fn remove_many_full(&self, full: &[&str]) -> Result<u64> {
        let result = self
            .timed("delete_many", self.inner.backend.delete_many(full))
            .await;
        for key in full {
            self.near_forget(key);
        }
        self.observe(&result);
        if let Ok(n) = result {
            self.emit(None, None, Emit::Deleted(n));
        }
        result
    }

    #[inline]
    pub(crate) fn get_local<T>(&self, local: &LocalTier, key: &str) -> Option<T>
    where
        T: CacheValue,
    {
        let span = crate::observe::spans::span!(self, "cache.get");
        let ident = Ident::new(local.plain_group(), Form::Plain, key.as_bytes());
        let value = self.read_local::<T>(local, &ident);
        crate::observe::spans::key(&span, || ident.text());
        crate::observe::spans::outcome(
            &span,
            if value.is_some() {
                Outcome::Hit
            } else {
                Outcome::Miss
            },
        );
        value
    }

    /// [`Cache::set`] on the memory store: no future, no key text.
    pub(crate) fn set_local<T>(
        &self,
        local: &LocalTier,
        key: &str,
        value: &T,
        ttl: Ttl,
    ) -> Result<()>
    where
        T: StoreValue + ?Sized,
    {
        match local.insert_plain(key, value, &self.inner.format, ttl) {
            Ok(()) => {
                self.emit(None, None, Emit::Set(1));
                Ok(())
            }
            Err(e) => self.on_error(OnError::Configured, e, "set", &self.full_key(key), ()),
        }
    }

    /// A typed read of the memory store: a clone of the stored value when it
    /// is a `T`, a decode otherwise. Counts the hit or miss.
    #[inline]
    pub(crate) fn read_local<T>(&self, local: &LocalTier, ident: &Ident<'_>) -> Option<T>
    where
        T: CacheValue,
    {
        let value = self.read_local_uncounted(local, ident);
        self.counted(value)
    }

    #[inline]
    pub(crate) fn read_local_uncounted<T>(&self, local: &LocalTier, ident: &Ident<'_>) -> Option<T>
    where
        T: CacheValue,
    {
        match local.read(ident) {
            Read::Hit(value) => Some(value),
            Read::Miss => None,
            Read::Refused(e) => self.logged::<T>(ident.text().as_bytes(), Err(e)),
        }
    }

    pub(super) fn decode_counted<T: Serialize + DeserializeOwned>(
        &self,
        full: &str,
        bytes: Option<&[u8]>,
    ) -> Option<T> {
        let value = bytes.and_then(|b| self.decode_logged(full, b));
        self.counted(value)
    }

    /// Counts a read as a hit or a miss.
    #[inline]
    pub(super) fn counted<T>(&self, value: Option<T>) -> Option<T> {
        let outcome = if value.is_some() {
            Outcome::Hit
        } else {
            Outcome::Miss
        };
        self.outcome(None, None, outcome);
        value
    }

    /// Decodes bytes read under `full`; a failure is logged and counted.
    /// A value past its logical expiry (see [`crate::policy`]) is a miss.
    pub(super) fn decode_logged<T: Serialize + DeserializeOwned>(
        &self,
        full: &str,
        bytes: &[u8],
    ) -> Option<T> {
        self.decode_entry_logged::<T>(full, bytes)
            .filter(|d| d.is_fresh(crate::codec::now_millis()))
            .map(|d| d.value)
    }

    /// Decodes bytes read under `full` with their logical expiry, fresh or
    /// not; a failure is logged and counted.
    pub(super) fn decode_entry_logged<T: Serialize + DeserializeOwned>(
        &self,
        full: &str,
        bytes: &[u8],
    ) -> Option<crate::codec::Decoded<T>> {
        self.logged(full.as_bytes(), self.inner.format.decode_entry(full, bytes))
    }

    /// A value that cannot be read as a `T` is a miss, counted; it is
    /// logged at `warn` at most once per [`WARN_INTERVAL`] (a type changed
    /// by a deploy makes every old entry fail once), at `debug` otherwise.
    pub(super) fn logged<T>(&self, full: &[u8], decoded: Result<T>) -> Option<T> {
        match decoded {
            Ok(v) => Some(v),
            Err(e) => {
                self.emit(
                    None,
                    Some(&lossy(full)),
                    Emit::Error {
                        kind: e.kind(),
                        op: "get",
                    },
                );
                let ty = std::any::type_name::<T>();
                if self.inner.decode_warnings.due() {
                    tracing::warn!(
                        key = %key_for_message(&lossy(full)),
                        error = %e,
                        "cached value cannot be read as {ty}; treating it as a miss (further failures within 30 s are logged at debug level)",
                    );
                } else {
                    tracing::debug!(key = %key_for_message(&lossy(full)), error = %e, "cached value cannot be read as {ty}; treating it as a miss");
                }
                None
            }
        }
    }
}
