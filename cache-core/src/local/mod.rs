//! The typed in-process tier: values kept as Rust values in the memory
//! store, read back with no decoding when the type matches.
//!
//! [`Cache`](crate::Cache) talks to the in-process store only through
//! [`LocalTier`]: a typed read, a typed first look for the memoized hit
//! path, and typed writes. How the store keeps entries (typed or as bytes
//! written through the [`Backend`](crate::Backend) trait) stays behind it.
//! This is the seam a near cache in front of a remote store plugs into.

pub(crate) mod clock;
pub(crate) mod groups;
pub(crate) mod ident;
pub(crate) mod table;

use crate::backend::memory::{Probe, Stored};
use crate::backend::{MemoryBackend, Ttl};
use crate::cache::{CacheValue, StoreValue};
use crate::codec::{self, Decoded, Format};
use crate::{Error, Result};

pub(crate) use ident::{Form, Ident, TailBuf};

/// The typed tier over one memory store (shared by every cache on it).
#[derive(Clone)]
pub(crate) struct LocalTier {
    store: MemoryBackend,
    groups: std::sync::Arc<groups::Groups>,
}

/// What a typed read found.
pub(crate) enum Read<T> {
    /// A value of the requested type (kept as one, or decoded from bytes
    /// or from another type of the same shape).
    Hit(T),
    /// Nothing live under the key.
    Miss,
    /// Something that is not a `T` (another shape, corrupt bytes): a miss
    /// the caller logs and counts.
    Refused(Error),
}

impl LocalTier {
    pub(crate) fn new(store: MemoryBackend, keys: &crate::key::Namespace) -> Self {
        Self {
            groups: std::sync::Arc::new(groups::Groups::new(keys, store.interner())),
            store,
        }
    }

    /// The group of the keys given to the cache's API.
    #[inline]
    pub(crate) fn plain_group(&self) -> ident::GroupRef<'_> {
        self.groups.plain()
    }

    /// The group of `memo`'s keys in this cache; `text` writes it,
    /// `function` finds its statistics.
    #[inline]
    pub(crate) fn memo_group(
        &self,
        memo: &crate::memo::Memo,
        text: impl Fn() -> String,
        function: impl Fn() -> std::sync::Arc<crate::observe::Function>,
    ) -> groups::MemoGroup<'_> {
        self.groups
            .memoized(memo, self.store.interner(), text, function)
    }

    /// The value under `ident` if it is kept as a `T`, cloned in place:
    /// no decoding, no logging, no counting (the memoized hit path).
    #[inline]
    pub(crate) fn peek<T: Clone + 'static>(&self, ident: &Ident<'_>) -> Option<T> {
        match self.store.probe::<T>(ident) {
            Probe::Typed(value) => Some(value),
            Probe::Other(_) | Probe::Missing => None,
        }
    }

    /// [`peek`](Self::peek) by the key's text.
    pub(crate) fn peek_text<T: Clone + 'static>(&self, full: &str) -> Option<T> {
        let mut buf = TailBuf::new();
        self.peek(&ident::parse(full, &mut buf))
    }

    /// The value under `ident` as a `T`: a clone when it is kept as one;
    /// otherwise read the way a remote store would, through its bytes and
    /// the shape rule.
    ///
    /// A value written with a logical expiry (see [`crate::policy`]) is a
    /// miss once that has passed.
    #[inline]
    pub(crate) fn read<T: CacheValue>(&self, ident: &Ident<'_>) -> Read<T> {
        match self.store.probe::<T>(ident) {
            Probe::Missing => Read::Miss,
            Probe::Typed(value) => Read::Hit(value),
            Probe::Other(other) => match Self::decode_other::<T>(&other) {
                Ok(d) if d.is_fresh(codec::now_millis()) => Read::Hit(d.value),
                Ok(_) => Read::Miss,
                Err(e) => Read::Refused(e),
            },
        }
    }

    /// The value under `ident` as a `T` with its logical expiry, stale or
    /// not: what a read-through call with a policy looks at.
    pub(crate) fn read_entry<T: CacheValue>(&self, ident: &Ident<'_>) -> Read<Decoded<T>> {
        match self.store.probe_entry::<T>(ident) {
            Probe::Missing => Read::Miss,
            Probe::Typed(d) => Read::Hit(d),
            Probe::Other(other) => match Self::decode_other::<T>(&other) {
                Ok(d) => Read::Hit(d),
                Err(e) => Read::Refused(e),
            },
        }
    }

    /// A value kept otherwise than as a `T`, read through its bytes.
    #[cold]
    fn decode_other<T: CacheValue>(stored: &Stored) -> Result<Decoded<T>> {
        match stored {
            Stored::Typed(typed) => typed.encode().and_then(|bytes| codec::decode_entry(&bytes)),
            Stored::Bytes(bytes) => codec::decode_entry(bytes),
        }
    }

    /// Keeps `value` under `full` with its logical expiry.
    pub(crate) fn insert_timed<T: StoreValue + ?Sized>(
        &self,
        full: &str,
        value: &T,
        fresh_until: u64,
        format: &Format,
        ttl: Ttl,
    ) -> Result<()> {
        self.store
            .insert_timed(full, value.to_stored(), fresh_until, format, ttl)
    }

    /// Keeps the owned form of `value` under `full`.
    pub(crate) fn insert<T: StoreValue + ?Sized>(
        &self,
        full: &str,
        value: &T,
        format: &Format,
        ttl: Ttl,
    ) -> Result<()> {
        self.store
            .insert_typed(full, value.to_stored(), format, ttl)
    }

    /// [`insert`](Self::insert) under a key given to the cache's API
    /// (without its prefix): no key text is built.
    pub(crate) fn insert_plain<T: StoreValue + ?Sized>(
        &self,
        key: &str,
        value: &T,
        format: &Format,
        ttl: Ttl,
    ) -> Result<()> {
        let ident = Ident::new(self.plain_group(), Form::Plain, key.as_bytes());
        self.store
            .insert_typed_at(&ident, value.to_stored(), format, ttl)
    }

    /// [`insert`](Self::insert) only if `full` holds no live value; returns
    /// whether it stored.
    pub(crate) fn add<T: StoreValue + ?Sized>(
        &self,
        full: &str,
        value: &T,
        format: &Format,
        ttl: Ttl,
    ) -> Result<bool> {
        self.store.add_typed(full, value.to_stored(), format, ttl)
    }
}
