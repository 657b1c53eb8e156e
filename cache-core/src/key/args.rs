//! The canonical encoding of key arguments.
//!
//! It is bincode 2's standard encoding (varint integers, little-endian
//! floats, length-prefixed strings and sequences), with two changes that
//! make equal collections encode alike whatever their iteration order:
//!
//! - map entries (`HashMap`, `BTreeMap`, `IndexMap`, any serde map) are
//!   written sorted by their encoded bytes;
//! - the elements of a `HashSet` (std or hashbrown) or an `IndexSet` are
//!   written sorted the same way. serde serializes a set as a plain
//!   sequence, so sets are recognized by their type's name where a value
//!   is handed to the encoder (an argument, a field, an element, an
//!   `Option`'s content). A set behind a `Box`, `Rc` or `Arc` is not
//!   recognized: use a `BTreeSet` there.
//!
//! For one argument type the encoding is injective: two different values
//! never encode alike, so two argument lists never share a key.

use std::any::type_name;

use serde::ser::{self, Serialize};

use crate::error::SerializeError;

/// Where encoded bytes go.
pub(crate) trait Sink {
    /// Appends `bytes`.
    fn put(&mut self, bytes: &[u8]);
}

impl Sink for Vec<u8> {
    #[inline]
    fn put(&mut self, bytes: &[u8]) {
        self.extend_from_slice(bytes);
    }
}

/// Encodes `value` canonically into `sink`.
#[inline]
pub(crate) fn encode<T: Serialize + ?Sized, S: Sink>(
    value: &T,
    sink: &mut S,
) -> Result<(), SerializeError> {
    value.serialize(Encoder {
        sink,
        is_set: is_unordered_set::<T>,
    })
}

/// Whether `T` (behind any number of references) is a set whose iteration
/// order is not part of its value.
#[inline]
fn is_unordered_set<T: ?Sized>() -> bool {
    let name = type_name::<T>().trim_start_matches(['&']);
    let name = name.strip_prefix("mut ").unwrap_or(name);
    // The first byte rules out almost every type without a string compare.
    matches!(name.as_bytes().first(), Some(b's' | b'h' | b'i'))
        && [
            "std::collections::hash::set::HashSet<",
            "hashbrown::set::HashSet<",
            "indexmap::set::IndexSet<",
        ]
        .iter()
        .any(|set| name.starts_with(set))
}

struct Encoder<'a, S: Sink> {
    sink: &'a mut S,
    /// Whether the value being encoded is a set (then its sequence is
    /// sorted): asked only when a sequence starts, so that encoding
    /// anything else pays nothing for it.
    is_set: fn() -> bool,
}

/// bincode's varint: one byte below 251, else a marker and the value in
/// the smallest of 2, 4 or 8 little-endian bytes.
#[inline]
fn varint<S: Sink>(sink: &mut S, v: u64) {
    if v < 251 {
        // Checked: below 251.
        #[expect(
            clippy::cast_possible_truncation,
            reason = "checked: the value is below 251"
        )]
        sink.put(&[v as u8]);
    } else if let Ok(v) = u16::try_from(v) {
        sink.put(&[251]);
        sink.put(&v.to_le_bytes());
    } else if let Ok(v) = u32::try_from(v) {
        sink.put(&[252]);
        sink.put(&v.to_le_bytes());
    } else {
        sink.put(&[253]);
        sink.put(&v.to_le_bytes());
    }
}

/// [`varint`] for 128-bit values: past `u64::MAX`, a marker and 16 bytes.
fn varint128<S: Sink>(sink: &mut S, v: u128) {
    if let Ok(v) = u64::try_from(v) {
        varint(sink, v);
    } else {
        sink.put(&[254]);
        sink.put(&v.to_le_bytes());
    }
}

/// A length as a varint (`usize` is at most 64 bits wide).
#[inline]
fn varint_len<S: Sink>(sink: &mut S, len: usize) {
    varint(sink, u64::try_from(len).unwrap_or(u64::MAX));
}

// The usual zigzag mapping: the sign bit moves to bit 0.
#[inline]
#[expect(
    clippy::cast_sign_loss,
    reason = "zigzag encoding maps signed to unsigned by design"
)]
fn zigzag(v: i64) -> u64 {
    ((v << 1) ^ (v >> 63)) as u64
}

#[expect(
    clippy::cast_sign_loss,
    reason = "zigzag encoding maps signed to unsigned by design"
)]
fn zigzag128(v: i128) -> u128 {
    ((v << 1) ^ (v >> 127)) as u128
}

/// Collects encoded items (sorted sequence elements, or map entries) and
/// writes them sorted, after their count.
struct Sorted<'a, S: Sink> {
    sink: &'a mut S,
    items: Vec<Vec<u8>>,
    /// The item under way (a map entry's key waits here for its value).
    current: Vec<u8>,
}

impl<'a, S: Sink> Sorted<'a, S> {
    fn new(sink: &'a mut S, len: Option<usize>) -> Self {
        Self {
            sink,
            items: Vec::with_capacity(len.unwrap_or(0)),
            current: Vec::new(),
        }
    }

    fn finish(mut self) {
        self.items.sort_unstable();
        varint_len(self.sink, self.items.len());
        for item in &self.items {
            self.sink.put(item);
        }
    }
}

impl<'a, S: Sink> Encoder<'a, S> {
    /// A variant with fields: its index, then the fields in order.
    fn variant(self, index: u32) -> Compound<'a, S> {
        varint(self.sink, u64::from(index));
        Compound::InOrder(self.sink)
    }
}

/// A compound value: parts written in order, or sorted.
enum Compound<'a, S: Sink> {
    InOrder(&'a mut S),
    Sorted(Sorted<'a, S>),
}

macro_rules! unsigned {
    ($($method:ident: $ty:ty),* $(,)?) => {
        $(#[inline]
        fn $method(self, v: $ty) -> Result<(), SerializeError> {
            varint(self.sink, u64::from(v));
            Ok(())
        })*
    };
}

macro_rules! signed {
    ($($method:ident: $ty:ty),* $(,)?) => {
        $(#[inline]
        fn $method(self, v: $ty) -> Result<(), SerializeError> {
            varint(self.sink, zigzag(i64::from(v)));
            Ok(())
        })*
    };
}

impl<'a, S: Sink> ser::Serializer for Encoder<'a, S> {
    type Ok = ();
    type Error = SerializeError;
    type SerializeSeq = Compound<'a, S>;
    type SerializeTuple = Compound<'a, S>;
    type SerializeTupleStruct = Compound<'a, S>;
    type SerializeTupleVariant = Compound<'a, S>;
    type SerializeMap = Compound<'a, S>;
    type SerializeStruct = Compound<'a, S>;
    type SerializeStructVariant = Compound<'a, S>;

    unsigned!(serialize_u16: u16, serialize_u32: u32, serialize_u64: u64);
    signed!(serialize_i16: i16, serialize_i32: i32, serialize_i64: i64);

    fn serialize_u128(self, v: u128) -> Result<(), SerializeError> {
        varint128(self.sink, v);
        Ok(())
    }

    fn serialize_i128(self, v: i128) -> Result<(), SerializeError> {
        varint128(self.sink, zigzag128(v));
        Ok(())
    }

    #[inline]
    fn serialize_u8(self, v: u8) -> Result<(), SerializeError> {
        self.sink.put(&[v]);
        Ok(())
    }

    #[inline]
    fn serialize_i8(self, v: i8) -> Result<(), SerializeError> {
        self.sink.put(&v.to_le_bytes());
        Ok(())
    }

    #[inline]
    fn serialize_bool(self, v: bool) -> Result<(), SerializeError> {
        self.sink.put(&[u8::from(v)]);
        Ok(())
    }

    fn serialize_f32(self, v: f32) -> Result<(), SerializeError> {
        self.sink.put(&v.to_le_bytes());
        Ok(())
    }

    fn serialize_f64(self, v: f64) -> Result<(), SerializeError> {
        self.sink.put(&v.to_le_bytes());
        Ok(())
    }

    fn serialize_char(self, v: char) -> Result<(), SerializeError> {
        self.sink.put(v.encode_utf8(&mut [0; 4]).as_bytes());
        Ok(())
    }

    #[inline]
    fn serialize_str(self, v: &str) -> Result<(), SerializeError> {
        self.serialize_bytes(v.as_bytes())
    }

    #[inline]
    fn serialize_bytes(self, v: &[u8]) -> Result<(), SerializeError> {
        varint_len(self.sink, v.len());
        self.sink.put(v);
        Ok(())
    }

    fn serialize_none(self) -> Result<(), SerializeError> {
        self.sink.put(&[0]);
        Ok(())
    }

    fn serialize_some<T: Serialize + ?Sized>(self, value: &T) -> Result<(), SerializeError> {
        self.sink.put(&[1]);
        encode(value, self.sink)
    }

    fn serialize_unit(self) -> Result<(), SerializeError> {
        Ok(())
    }

    fn serialize_unit_struct(self, _: &'static str) -> Result<(), SerializeError> {
        Ok(())
    }

    fn serialize_unit_variant(
        self,
        _: &'static str,
        index: u32,
        _: &'static str,
    ) -> Result<(), SerializeError> {
        varint(self.sink, u64::from(index));
        Ok(())
    }

    fn serialize_newtype_struct<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        value: &T,
    ) -> Result<(), SerializeError> {
        encode(value, self.sink)
    }

    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        index: u32,
        _: &'static str,
        value: &T,
    ) -> Result<(), SerializeError> {
        varint(self.sink, u64::from(index));
        encode(value, self.sink)
    }

    fn serialize_seq(self, len: Option<usize>) -> Result<Compound<'a, S>, SerializeError> {
        if (self.is_set)() {
            return Ok(Compound::Sorted(Sorted::new(self.sink, len)));
        }
        let len = len.ok_or_else(|| {
            SerializeError("a key argument is a sequence of unknown length".to_owned())
        })?;
        varint_len(self.sink, len);
        Ok(Compound::InOrder(self.sink))
    }

    fn serialize_tuple(self, _: usize) -> Result<Compound<'a, S>, SerializeError> {
        Ok(Compound::InOrder(self.sink))
    }

    fn serialize_tuple_struct(
        self,
        _: &'static str,
        _: usize,
    ) -> Result<Compound<'a, S>, SerializeError> {
        Ok(Compound::InOrder(self.sink))
    }

    fn serialize_tuple_variant(
        self,
        _: &'static str,
        index: u32,
        _: &'static str,
        _: usize,
    ) -> Result<Compound<'a, S>, SerializeError> {
        Ok(self.variant(index))
    }

    fn serialize_map(self, len: Option<usize>) -> Result<Compound<'a, S>, SerializeError> {
        Ok(Compound::Sorted(Sorted::new(self.sink, len)))
    }

    fn serialize_struct(
        self,
        _: &'static str,
        _: usize,
    ) -> Result<Compound<'a, S>, SerializeError> {
        Ok(Compound::InOrder(self.sink))
    }

    fn serialize_struct_variant(
        self,
        _: &'static str,
        index: u32,
        _: &'static str,
        _: usize,
    ) -> Result<Compound<'a, S>, SerializeError> {
        Ok(self.variant(index))
    }
}

impl<S: Sink> Compound<'_, S> {
    /// Encodes `value` in place, or onto the item under way.
    #[inline]
    fn encode<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), SerializeError> {
        match self {
            Self::InOrder(sink) => encode(value, *sink),
            Self::Sorted(sorted) => encode(value, &mut sorted.current),
        }
    }

    /// Encodes the last piece of a part (an element, a field, a map
    /// entry's value): a sorted item is then complete.
    #[inline]
    fn part<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), SerializeError> {
        self.encode(value)?;
        if let Self::Sorted(sorted) = self {
            sorted.items.push(std::mem::take(&mut sorted.current));
        }
        Ok(())
    }

    #[inline]
    fn close(self) {
        if let Self::Sorted(sorted) = self {
            sorted.finish();
        }
    }
}

macro_rules! parts {
    ($($trait:ident :: $method:ident),* $(,)?) => {
        $(impl<S: Sink> ser::$trait for Compound<'_, S> {
            type Ok = ();
            type Error = SerializeError;

            #[inline]
            fn $method<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), SerializeError> {
                self.part(value)
            }

            fn end(self) -> Result<(), SerializeError> {
                self.close();
                Ok(())
            }
        })*
    };
}

parts!(
    SerializeSeq::serialize_element,
    SerializeTuple::serialize_element,
    SerializeTupleStruct::serialize_field,
    SerializeTupleVariant::serialize_field,
);

impl<S: Sink> ser::SerializeMap for Compound<'_, S> {
    type Ok = ();
    type Error = SerializeError;

    fn serialize_key<T: Serialize + ?Sized>(&mut self, key: &T) -> Result<(), SerializeError> {
        self.encode(key)
    }

    fn serialize_value<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), SerializeError> {
        self.part(value)
    }

    fn end(self) -> Result<(), SerializeError> {
        self.close();
        Ok(())
    }
}

macro_rules! fields {
    ($($trait:ident),* $(,)?) => {
        $(impl<S: Sink> ser::$trait for Compound<'_, S> {
            type Ok = ();
            type Error = SerializeError;

            #[inline]
            fn serialize_field<T: Serialize + ?Sized>(
                &mut self,
                _: &'static str,
                value: &T,
            ) -> Result<(), SerializeError> {
                self.part(value)
            }

            fn end(self) -> Result<(), SerializeError> {
                self.close();
                Ok(())
            }
        })*
    };
}

fields!(SerializeStruct, SerializeStructVariant);

#[cfg(test)]
mod tests {
    use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
    use std::hash::BuildHasherDefault;

    use proptest::prelude::*;
    use serde::Serialize;

    use super::encode;

    fn enc<T: Serialize + ?Sized>(v: &T) -> Vec<u8> {
        let mut out = Vec::new();
        encode(v, &mut out).unwrap();
        out
    }

    fn bincode<T: Serialize + ?Sized>(v: &T) -> Vec<u8> {
        bincode::serde::encode_to_vec(v, bincode::config::standard()).unwrap()
    }

    #[derive(Serialize)]
    struct Filter {
        tags: HashSet<String>,
        weights: HashMap<String, u32>,
        ordered: Vec<u8>,
    }

    #[test]
    fn everything_but_collections_encodes_as_bincode_does() {
        assert_eq!(enc(&(5u64,)), bincode(&(5u64,)));
        assert_eq!(
            enc(&(300u64, -1i32, "ada")),
            bincode(&(300u64, -1i32, "ada"))
        );
        assert_eq!(
            enc(&(u128::MAX, i128::MIN)),
            bincode(&(u128::MAX, i128::MIN))
        );
        assert_eq!(
            enc(&(1.5f64, 'é', true, -3i8)),
            bincode(&(1.5f64, 'é', true, -3i8))
        );
        assert_eq!(
            enc(&Some(vec![1u32, 70_000])),
            bincode(&Some(vec![1u32, 70_000]))
        );
        let b: BTreeMap<u8, &str> = [(1, "a"), (2, "b")].into();
        assert_eq!(enc(&b), bincode(&b));
    }

    proptest! {
        #[test]
        fn equal_maps_and_sets_encode_alike_whatever_their_order(
            entries in proptest::collection::btree_map(".{0,8}", 0u32..1000, 0..40),
            seed in any::<u64>(),
        ) {
            let forward: HashMap<String, u32> = entries.clone().into_iter().collect();
            let mut reverse: HashMap<String, u32, BuildHasherDefault<std::collections::hash_map::DefaultHasher>> =
                HashMap::default();
            for (k, v) in entries.iter().rev() {
                reverse.insert(k.clone(), *v);
            }
            let mut shuffled: Vec<_> = entries.iter().collect();
            let n = shuffled.len().max(1);
            shuffled.rotate_left(usize::try_from(seed).unwrap_or(0) % n);
            let rotated: HashMap<&String, &u32> = shuffled.into_iter().collect();
            prop_assert_eq!(enc(&forward), enc(&reverse));
            prop_assert_eq!(enc(&forward), enc(&rotated));
            prop_assert_eq!(enc(&forward), enc(&entries));

            let set1: HashSet<&String> = entries.keys().collect();
            let set2: HashSet<&String> = entries.keys().rev().collect();
            prop_assert_eq!(enc(&(&set1, 1u8)), enc(&(&set2, 1u8)));
            let nested1 = Filter { tags: set1.iter().map(|s| (*s).clone()).collect(), weights: forward.clone(), ordered: vec![1, 2] };
            let nested2 = Filter { tags: set2.iter().map(|s| (*s).clone()).collect(), weights: reverse.into_iter().collect(), ordered: vec![1, 2] };
            prop_assert_eq!(enc(&nested1), enc(&nested2));
        }

        #[test]
        fn distinct_maps_and_sets_encode_differently(
            a in proptest::collection::btree_set(0u16..50, 0..10),
            b in proptest::collection::btree_set(0u16..50, 0..10),
        ) {
            let ha: HashSet<u16> = a.iter().copied().collect();
            let hb: HashSet<u16> = b.iter().copied().collect();
            prop_assert_eq!(a == b, enc(&ha) == enc(&hb));
            let ma: HashMap<u16, bool> = a.iter().map(|k| (*k, k % 2 == 0)).collect();
            let mb: HashMap<u16, bool> = b.iter().map(|k| (*k, k % 3 == 0)).collect();
            prop_assert_eq!(ma == mb, enc(&ma) == enc(&mb));
        }
    }

    #[test]
    fn sequences_keep_their_order() {
        assert_ne!(enc(&vec![1u8, 2]), enc(&vec![2u8, 1]));
        let sorted: BTreeSet<u8> = [2, 1].into();
        assert_eq!(enc(&sorted), enc(&vec![1u8, 2]));
    }
}
