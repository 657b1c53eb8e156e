//! The typed in-process tier: values kept as Rust values in the memory
//! store, read back with no decoding when the type matches.
//!
//! [`Cache`](crate::Cache) talks to the in-process store only through
//! [`LocalTier`]: a typed read, a typed first look for the memoized hit
//! path, and typed writes. How the store keeps entries (typed or as bytes
//! written through the [`Backend`](crate::Backend) trait) stays behind it.
//! This is the seam a near cache in front of a remote store plugs into.

use crate::backend::memory::Stored;
use crate::backend::{MemoryBackend, Ttl};
use crate::cache::{CacheValue, StoreValue};
use crate::codec::{self, Format};
use crate::{Error, Result};

/// The typed tier over one memory store (shared by every cache on it).
#[derive(Clone)]
pub(crate) struct LocalTier {
    store: MemoryBackend,
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
    pub(crate) fn new(store: MemoryBackend) -> Self {
        Self { store }
    }

    /// The value under `full` if it is kept as a `T`: no decoding, no
    /// logging, no counting (the first look of the memoized hit path).
    #[inline]
    pub(crate) fn peek<T: Clone + 'static>(&self, full: &[u8]) -> Option<T> {
        match self.store.lookup(full)? {
            Stored::Typed(typed) => typed.as_any().downcast_ref::<T>().cloned(),
            Stored::Bytes(_) => None,
        }
    }

    /// The value under `full` as a `T`: a clone when it is kept as one;
    /// otherwise read the way a remote store would, through its bytes and
    /// the shape rule.
    #[inline]
    pub(crate) fn read<T: CacheValue>(&self, full: &[u8]) -> Read<T> {
        let decoded = match self.store.lookup(full) {
            None => return Read::Miss,
            Some(Stored::Typed(typed)) => {
                if let Some(value) = typed.as_any().downcast_ref::<T>() {
                    return Read::Hit(value.clone());
                }
                typed.encode().and_then(|bytes| codec::decode(&bytes))
            }
            Some(Stored::Bytes(bytes)) => codec::decode(&bytes),
        };
        match decoded {
            Ok(value) => Read::Hit(value),
            Err(e) => Read::Refused(e),
        }
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
