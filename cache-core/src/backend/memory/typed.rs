//! Rust values kept as themselves in the memory store: written through
//! [`Cache`](crate::Cache) and read back with no decoding when the type
//! matches (see [`crate::local`]).

use std::any::Any;
use std::sync::Arc;

use bytes::Bytes;
use serde::Serialize;

use super::{Entry, MemoryBackend, Probe, Stored};
use crate::backend::Ttl;
use crate::codec::{self, Codec, Format};
use crate::key::key_for_message;
use crate::local::ident::{parse, Ident, TailBuf};
use crate::{Error, ErrorKind, Result};

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

impl MemoryBackend {
    /// The live value under `ident`: a `T` cloned in place when it is kept
    /// as one (the hit path: no reference count, no decoding), what is kept
    /// otherwise, or nothing.
    #[inline]
    pub(crate) fn probe<T: Clone + 'static>(&self, ident: &Ident<'_>) -> Probe<T> {
        self.read_live(ident, |entry| match &entry.value {
            Stored::Typed(typed) => match typed.as_any().downcast_ref::<T>() {
                Some(value) => Probe::Typed(value.clone()),
                None => Probe::Other(entry.value.clone()),
            },
            Stored::Bytes(_) => Probe::Other(entry.value.clone()),
        })
        .unwrap_or(Probe::Missing)
    }

    /// An entry holding a typed value, weighed by its encoded size plus its
    /// inline size.
    pub(super) fn typed_entry<T: Serialize + Send + Sync + 'static>(
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
    pub(super) fn typed_entry_until<T: Serialize + Send + Sync + 'static>(
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
        self.read_live(ident, |entry| {
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
        .unwrap_or(Probe::Missing)
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
}
