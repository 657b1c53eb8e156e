//! The shape fingerprint that makes a stored value readable only as a
//! value of the same shape.
//!
//! bincode is positional: bytes written by one type decode "successfully"
//! as any other type whose fields line up (two `u64` fields swapped by a
//! later release, `A { a, b }` read as `B { a, b }` or as a tuple, a
//! `String` as a `Vec<u64>`). The envelope therefore carries a 64-bit
//! fingerprint of the value's *shape* as it was serialized, and a decode
//! is accepted only when the decoded value has the same fingerprint.
//!
//! The shape is everything serde tells a serializer except the data:
//! every struct, tuple struct, newtype and enum name, every field name in
//! order, every variant's name and index, and the kind of every primitive
//! (`u32` and `u64` differ, so do `f64` and `u64`, `String` and `char`).
//! Sequence lengths count; sequence elements and map entries are combined
//! in an order-independent way, so a `HashMap` or `HashSet` that comes back
//! from a decode with another iteration order has the same fingerprint.
//!
//! Two values have the same fingerprint when they are the same data under
//! the same names: reading one as the other is a correct decode in the
//! sense of a self-describing format (`&str` written, `String` read;
//! `Box<T>` and `T`; a `#[serde(transparent)]` newtype and its field). A
//! value whose type changed shape between two releases (fields reordered,
//! renamed, added, removed or retyped, variants reordered or renamed)
//! fingerprints differently and reads as a miss.
//!
//! The hash is not a security boundary: anyone who can write to the store
//! can write a matching fingerprint. [`signing`](crate::CacheBuilder::signing_key)
//! covers that.

use serde::ser::{self, Serialize};

use crate::error::SerializeError;

/// The 64-bit shape fingerprint of `value` (see the module docs). Fails
/// only when the value's own `Serialize` fails.
pub(crate) fn fingerprint<T: Serialize + ?Sized>(value: &T) -> Result<u64, SerializeError> {
    let mut h = Hasher::new(SEED);
    value.serialize(Shape(&mut h))?;
    Ok(h.finish())
}

const SEED: u64 = 0x6361_6368_652d_7368; // "cache-sh"
const K: u64 = 0x9E37_79B9_7F4A_7C15;

/// A small, stable (platform- and release-independent) word hasher.
struct Hasher(u64);

impl Hasher {
    #[inline]
    fn new(seed: u64) -> Self {
        Self(seed)
    }

    #[inline]
    fn word(&mut self, w: u64) {
        let x = (self.0 ^ w).wrapping_mul(K);
        self.0 = x ^ (x >> 29);
    }

    #[inline]
    fn token(&mut self, t: Token) {
        self.word(t as u64);
    }

    /// Names are `&'static str`s from derives: eight bytes at a time.
    #[inline]
    fn name(&mut self, s: &str) {
        let bytes = s.as_bytes();
        let mut chunks = bytes.chunks_exact(8);
        for c in &mut chunks {
            let mut w = [0u8; 8];
            w.copy_from_slice(c);
            self.word(u64::from_le_bytes(w));
        }
        let rest = chunks.remainder();
        let mut w = [0u8; 8];
        w[..rest.len()].copy_from_slice(rest);
        self.word(u64::from_le_bytes(w) ^ ((bytes.len() as u64) << 56));
    }

    /// splitmix64's finalizer, so that sums of element hashes stay spread.
    #[inline]
    fn finish(&self) -> u64 {
        let mut z = self.0.wrapping_add(K);
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
}

/// What a serializer call contributes, besides names.
#[derive(Clone, Copy)]
#[repr(u64)]
enum Token {
    Bool = 1,
    I8,
    I16,
    I32,
    I64,
    I128,
    U8,
    U16,
    U32,
    U64,
    U128,
    F32,
    F64,
    Char,
    Str,
    Bytes,
    None,
    Some,
    Unit,
    UnitStruct,
    UnitVariant,
    NewtypeStruct,
    NewtypeVariant,
    Seq,
    Tuple,
    TupleStruct,
    TupleVariant,
    Map,
    Struct,
    StructVariant,
    Field,
    SkippedField,
    End,
    Element,
}

/// The serializer: mixes the shape of what it is given into the hasher.
struct Shape<'a>(&'a mut Hasher);

/// A sequence or map: each element (or entry) is hashed on its own and the
/// results are added, so iteration order does not matter.
struct Unordered<'a> {
    parent: &'a mut Hasher,
    sum: u64,
    len: u64,
    /// The entry under way (a map key waiting for its value).
    entry: Option<Hasher>,
}

impl Unordered<'_> {
    fn element<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), SerializeError> {
        let mut h = Hasher::new(Token::Element as u64);
        value.serialize(Shape(&mut h))?;
        self.sum = self.sum.wrapping_add(h.finish());
        self.len += 1;
        Ok(())
    }

    fn end(self) {
        self.parent.word(self.sum);
        self.parent.word(self.len);
        self.parent.token(Token::End);
    }
}

macro_rules! primitives {
    ($($method:ident: $ty:ty => $token:ident),* $(,)?) => {
        $(#[inline]
        fn $method(self, _: $ty) -> Result<(), SerializeError> {
            self.0.token(Token::$token);
            Ok(())
        })*
    };
}

impl<'a> ser::Serializer for Shape<'a> {
    type Ok = ();
    type Error = SerializeError;
    type SerializeSeq = Unordered<'a>;
    type SerializeTuple = Self;
    type SerializeTupleStruct = Self;
    type SerializeTupleVariant = Self;
    type SerializeMap = Unordered<'a>;
    type SerializeStruct = Self;
    type SerializeStructVariant = Self;

    primitives!(
        serialize_bool: bool => Bool,
        serialize_i8: i8 => I8, serialize_i16: i16 => I16,
        serialize_i32: i32 => I32, serialize_i64: i64 => I64, serialize_i128: i128 => I128,
        serialize_u8: u8 => U8, serialize_u16: u16 => U16,
        serialize_u32: u32 => U32, serialize_u64: u64 => U64, serialize_u128: u128 => U128,
        serialize_f32: f32 => F32, serialize_f64: f64 => F64,
        serialize_char: char => Char, serialize_str: &str => Str, serialize_bytes: &[u8] => Bytes,
    );

    fn serialize_none(self) -> Result<(), SerializeError> {
        self.0.token(Token::None);
        Ok(())
    }

    fn serialize_some<T: Serialize + ?Sized>(self, value: &T) -> Result<(), SerializeError> {
        self.0.token(Token::Some);
        value.serialize(self)
    }

    fn serialize_unit(self) -> Result<(), SerializeError> {
        self.0.token(Token::Unit);
        Ok(())
    }

    fn serialize_unit_struct(self, name: &'static str) -> Result<(), SerializeError> {
        self.0.token(Token::UnitStruct);
        self.0.name(name);
        Ok(())
    }

    fn serialize_unit_variant(
        self,
        name: &'static str,
        index: u32,
        variant: &'static str,
    ) -> Result<(), SerializeError> {
        self.variant(Token::UnitVariant, name, index, variant);
        Ok(())
    }

    fn serialize_newtype_struct<T: Serialize + ?Sized>(
        self,
        name: &'static str,
        value: &T,
    ) -> Result<(), SerializeError> {
        self.0.token(Token::NewtypeStruct);
        self.0.name(name);
        value.serialize(self)
    }

    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        name: &'static str,
        index: u32,
        variant: &'static str,
        value: &T,
    ) -> Result<(), SerializeError> {
        let s = self.variant(Token::NewtypeVariant, name, index, variant);
        value.serialize(s)
    }

    fn serialize_seq(self, _len: Option<usize>) -> Result<Unordered<'a>, SerializeError> {
        self.0.token(Token::Seq);
        Ok(self.unordered())
    }

    fn serialize_tuple(self, len: usize) -> Result<Self, SerializeError> {
        self.0.token(Token::Tuple);
        self.0.word(len as u64);
        Ok(self)
    }

    fn serialize_tuple_struct(
        self,
        name: &'static str,
        len: usize,
    ) -> Result<Self, SerializeError> {
        self.0.token(Token::TupleStruct);
        self.0.name(name);
        self.0.word(len as u64);
        Ok(self)
    }

    fn serialize_tuple_variant(
        self,
        name: &'static str,
        index: u32,
        variant: &'static str,
        len: usize,
    ) -> Result<Self, SerializeError> {
        let s = self.variant(Token::TupleVariant, name, index, variant);
        s.0.word(len as u64);
        Ok(s)
    }

    fn serialize_map(self, _len: Option<usize>) -> Result<Unordered<'a>, SerializeError> {
        self.0.token(Token::Map);
        Ok(self.unordered())
    }

    fn serialize_struct(self, name: &'static str, _len: usize) -> Result<Self, SerializeError> {
        self.0.token(Token::Struct);
        self.0.name(name);
        Ok(self)
    }

    fn serialize_struct_variant(
        self,
        name: &'static str,
        index: u32,
        variant: &'static str,
        _len: usize,
    ) -> Result<Self, SerializeError> {
        Ok(self.variant(Token::StructVariant, name, index, variant))
    }
}

impl<'a> Shape<'a> {
    fn variant(self, token: Token, name: &str, index: u32, variant: &str) -> Self {
        self.0.token(token);
        self.0.name(name);
        self.0.word(u64::from(index));
        self.0.name(variant);
        self
    }

    fn unordered(self) -> Unordered<'a> {
        Unordered {
            parent: self.0,
            sum: 0,
            len: 0,
            entry: None,
        }
    }

    fn close(self) {
        self.0.token(Token::End);
    }
}

impl ser::SerializeSeq for Unordered<'_> {
    type Ok = ();
    type Error = SerializeError;

    fn serialize_element<T: Serialize + ?Sized>(
        &mut self,
        value: &T,
    ) -> Result<(), SerializeError> {
        self.element(value)
    }

    fn end(self) -> Result<(), SerializeError> {
        Unordered::end(self);
        Ok(())
    }
}

impl ser::SerializeMap for Unordered<'_> {
    type Ok = ();
    type Error = SerializeError;

    fn serialize_key<T: Serialize + ?Sized>(&mut self, key: &T) -> Result<(), SerializeError> {
        let mut h = Hasher::new(Token::Element as u64);
        key.serialize(Shape(&mut h))?;
        self.entry = Some(h);
        Ok(())
    }

    fn serialize_value<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), SerializeError> {
        // A value without a key cannot come from a correct `Serialize`;
        // hash it as an entry of its own rather than fail.
        let mut h = self
            .entry
            .take()
            .unwrap_or_else(|| Hasher::new(Token::Element as u64));
        value.serialize(Shape(&mut h))?;
        self.sum = self.sum.wrapping_add(h.finish());
        self.len += 1;
        Ok(())
    }

    fn end(self) -> Result<(), SerializeError> {
        Unordered::end(self);
        Ok(())
    }
}

macro_rules! ordered {
    ($($trait:ident :: $method:ident),* $(,)?) => {
        $(impl ser::$trait for Shape<'_> {
            type Ok = ();
            type Error = SerializeError;

            fn $method<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), SerializeError> {
                value.serialize(Shape(self.0))
            }

            fn end(self) -> Result<(), SerializeError> {
                self.close();
                Ok(())
            }
        })*
    };
}

ordered!(
    SerializeTuple::serialize_element,
    SerializeTupleStruct::serialize_field,
    SerializeTupleVariant::serialize_field,
);

macro_rules! fields {
    ($($trait:ident),* $(,)?) => {
        $(impl ser::$trait for Shape<'_> {
            type Ok = ();
            type Error = SerializeError;

            fn serialize_field<T: Serialize + ?Sized>(
                &mut self,
                key: &'static str,
                value: &T,
            ) -> Result<(), SerializeError> {
                self.0.token(Token::Field);
                self.0.name(key);
                value.serialize(Shape(self.0))
            }

            fn skip_field(&mut self, key: &'static str) -> Result<(), SerializeError> {
                self.0.token(Token::SkippedField);
                self.0.name(key);
                Ok(())
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
    use std::collections::{BTreeMap, HashMap, HashSet};

    use serde::Serialize;

    use super::fingerprint;

    fn fp<T: Serialize + ?Sized>(v: &T) -> u64 {
        fingerprint(v).unwrap()
    }

    #[derive(Serialize)]
    struct A {
        a: u32,
        b: u32,
    }

    #[derive(Serialize)]
    struct B {
        a: u32,
        b: u32,
    }

    #[derive(Serialize)]
    struct Swapped {
        b: u32,
        a: u32,
    }

    #[derive(Serialize)]
    #[serde(rename = "A")]
    struct AWide {
        a: u64,
        b: u32,
    }

    #[derive(Serialize)]
    enum E1 {
        X,
        Y(u8),
    }

    #[derive(Serialize)]
    #[serde(rename = "E1")]
    enum E2 {
        Y(u8),
        X,
    }

    #[test]
    fn names_field_order_and_primitive_kinds_all_count() {
        let a = fp(&A { a: 1, b: 2 });
        assert_ne!(a, fp(&B { a: 1, b: 2 }), "struct name");
        assert_ne!(a, fp(&Swapped { b: 1, a: 2 }), "field order");
        assert_ne!(a, fp(&AWide { a: 1, b: 2 }), "field type");
        assert_ne!(a, fp(&(1u32, 2u32)), "struct vs tuple");
        assert_ne!(fp(&42u64), fp(&42f64));
        assert_ne!(fp(&42u64), fp(&42u32));
        assert_ne!(fp(&"s"), fp(&vec![1u64]));
        assert_ne!(fp(&'c'), fp(&"c"));
        assert_ne!(fp(&E1::X), fp(&E2::X), "variant index");
        assert_ne!(fp(&E1::Y(1)), fp(&E2::Y(1)), "variant index");
        assert_ne!(fp(&Some(1u8)), fp(&1u8));
    }

    #[test]
    fn data_does_not_count() {
        assert_eq!(fp(&A { a: 1, b: 2 }), fp(&A { a: 7, b: 9 }));
        assert_eq!(fp(&"short"), fp(&"a much longer string".to_string()));
        assert_eq!(fp(&Box::new(5u8)), fp(&5u8));
        assert_eq!(fp(&[1u8, 2][..]), fp(&vec![3u8, 4]));
    }

    #[test]
    fn lengths_count() {
        assert_ne!(fp(&vec![1u8]), fp(&vec![1u8, 2]));
        assert_ne!(fp(&Vec::<u8>::new()), fp(&vec![1u8]));
    }

    #[test]
    fn unordered_collections_fingerprint_alike_whatever_their_order() {
        let mut m1 = HashMap::new();
        let mut m2 = HashMap::new();
        for i in 0..100u32 {
            m1.insert(i, if i % 3 == 0 { E1::X } else { E1::Y(1) });
        }
        for i in (0..100u32).rev() {
            m2.insert(i, if i % 3 == 0 { E1::X } else { E1::Y(2) });
        }
        assert_eq!(fp(&m1), fp(&m2));
        let sorted: BTreeMap<_, _> = m1.into_iter().collect();
        assert_eq!(fp(&sorted), fp(&m2));
        let s1: HashSet<String> = (0..50).map(|i| i.to_string()).collect();
        let s2: HashSet<String> = (0..50).rev().map(|i| i.to_string()).collect();
        assert_eq!(fp(&s1), fp(&s2));
    }

    #[test]
    fn reordered_variants_are_caught_inside_collections() {
        // The same indices decoded by a type whose variants were swapped.
        assert_ne!(fp(&vec![E1::X, E1::Y(1)]), fp(&vec![E2::Y(1), E2::X]));
    }
}
