//! Integers stored as plain decimal: how a value is recognized as one, and
//! how decimal text is read back, exactly or not at all.

use std::fmt;

use serde::de::{self, DeserializeOwned, Visitor};
use serde::ser::{self, Impossible, Serialize};

use crate::{Error, ErrorKind, Result};

/// Reads decimal text as a `T`. Only integer types read it, and only when
/// the number fits: a float, a string, an `Option` or a newtype is refused,
/// so `"9007199254740993"` never comes back rounded as an `f64`.
pub(crate) fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T> {
    let bad = || {
        Error::new(
            ErrorKind::Codec,
            "stored value has an unknown format byte and is not a decimal integer",
        )
    };
    let text = std::str::from_utf8(bytes).map_err(|_| bad())?;
    let n = if let Ok(n) = text.parse::<i64>() {
        Decimal::Signed(n)
    } else if let Ok(n) = text.parse::<u64>() {
        Decimal::Unsigned(n)
    } else {
        return Err(bad());
    };
    T::deserialize(n).map_err(|_| {
        Error::new(
            ErrorKind::Codec,
            "stored value is a decimal integer, which this type cannot hold exactly",
        )
    })
}

/// Parses a value stored as a decimal integer (as `incr` writes them).
pub(crate) fn parse_integer(bytes: &[u8]) -> Option<i64> {
    std::str::from_utf8(bytes).ok()?.parse().ok()
}

/// A parsed decimal integer, offered only to integer types.
#[derive(Clone, Copy)]
enum Decimal {
    Signed(i64),
    Unsigned(u64),
}

impl Decimal {
    fn visit<'de, V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, de::value::Error> {
        match self {
            Self::Signed(n) => visitor.visit_i64(n),
            Self::Unsigned(n) => visitor.visit_u64(n),
        }
    }
}

macro_rules! integers {
    ($($method:ident),* $(,)?) => {
        $(fn $method<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Self::Error> {
            self.visit(visitor)
        })*
    };
}

macro_rules! refused {
    ($($method:ident($($arg:ty),*)),* $(,)?) => {
        $(fn $method<V: Visitor<'de>>(self, $(_: $arg,)* _: V) -> Result<V::Value, Self::Error> {
            Err(de::Error::custom("not an integer type"))
        })*
    };
}

impl<'de> de::Deserializer<'de> for Decimal {
    type Error = de::value::Error;

    integers!(
        deserialize_any,
        deserialize_i8,
        deserialize_i16,
        deserialize_i32,
        deserialize_i64,
        deserialize_i128,
        deserialize_u8,
        deserialize_u16,
        deserialize_u32,
        deserialize_u64,
        deserialize_u128,
    );

    refused!(
        deserialize_bool(),
        deserialize_f32(),
        deserialize_f64(),
        deserialize_char(),
        deserialize_str(),
        deserialize_string(),
        deserialize_bytes(),
        deserialize_byte_buf(),
        deserialize_option(),
        deserialize_unit(),
        deserialize_unit_struct(&'static str),
        deserialize_newtype_struct(&'static str),
        deserialize_seq(),
        deserialize_tuple(usize),
        deserialize_tuple_struct(&'static str, usize),
        deserialize_map(),
        deserialize_struct(&'static str, &'static [&'static str]),
        deserialize_enum(&'static str, &'static [&'static str]),
        deserialize_identifier(),
        deserialize_ignored_any(),
    );
}

/// If `value` serializes as exactly one integer that fits in an `i64` or
/// `u64`, returns it.
pub(crate) fn integer_value<T: Serialize + ?Sized>(value: &T) -> Option<i128> {
    value.serialize(IntegerProbe).ok()
}

/// A serializer that succeeds only for a bare integer.
struct IntegerProbe;

#[derive(Debug)]
struct NotInteger;

impl fmt::Display for NotInteger {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("not an integer")
    }
}

impl std::error::Error for NotInteger {}

impl ser::Error for NotInteger {
    fn custom<M: fmt::Display>(_msg: M) -> Self {
        NotInteger
    }
}

macro_rules! probe_int {
    ($($method:ident: $ty:ty),* $(,)?) => {
        $(fn $method(self, v: $ty) -> Result<i128, NotInteger> {
            Ok(i128::from(v))
        })*
    };
}

macro_rules! probe_reject {
    ($($method:ident($($arg:ty),*)),* $(,)?) => {
        $(fn $method(self, $(_: $arg),*) -> Result<i128, NotInteger> {
            Err(NotInteger)
        })*
    };
}

impl ser::Serializer for IntegerProbe {
    type Ok = i128;
    type Error = NotInteger;
    type SerializeSeq = Impossible<i128, NotInteger>;
    type SerializeTuple = Impossible<i128, NotInteger>;
    type SerializeTupleStruct = Impossible<i128, NotInteger>;
    type SerializeTupleVariant = Impossible<i128, NotInteger>;
    type SerializeMap = Impossible<i128, NotInteger>;
    type SerializeStruct = Impossible<i128, NotInteger>;
    type SerializeStructVariant = Impossible<i128, NotInteger>;

    probe_int!(
        serialize_i8: i8, serialize_i16: i16, serialize_i32: i32, serialize_i64: i64,
        serialize_u8: u8, serialize_u16: u16, serialize_u32: u32, serialize_u64: u64,
    );

    probe_reject!(
        serialize_bool(bool),
        serialize_f32(f32),
        serialize_f64(f64),
        serialize_char(char),
        serialize_str(&str),
        serialize_bytes(&[u8]),
        serialize_none(),
        serialize_unit(),
        serialize_unit_struct(&'static str),
        serialize_unit_variant(&'static str, u32, &'static str),
        serialize_i128(i128),
        serialize_u128(u128),
    );

    fn serialize_some<V: Serialize + ?Sized>(self, _: &V) -> Result<i128, NotInteger> {
        Err(NotInteger)
    }
    fn serialize_newtype_struct<V: Serialize + ?Sized>(
        self,
        _: &'static str,
        _: &V,
    ) -> Result<i128, NotInteger> {
        Err(NotInteger)
    }
    fn serialize_newtype_variant<V: Serialize + ?Sized>(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: &V,
    ) -> Result<i128, NotInteger> {
        Err(NotInteger)
    }
    fn serialize_seq(self, _: Option<usize>) -> Result<Self::SerializeSeq, NotInteger> {
        Err(NotInteger)
    }
    fn serialize_tuple(self, _: usize) -> Result<Self::SerializeTuple, NotInteger> {
        Err(NotInteger)
    }
    fn serialize_tuple_struct(
        self,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeTupleStruct, NotInteger> {
        Err(NotInteger)
    }
    fn serialize_tuple_variant(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeTupleVariant, NotInteger> {
        Err(NotInteger)
    }
    fn serialize_map(self, _: Option<usize>) -> Result<Self::SerializeMap, NotInteger> {
        Err(NotInteger)
    }
    fn serialize_struct(
        self,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeStruct, NotInteger> {
        Err(NotInteger)
    }
    fn serialize_struct_variant(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeStructVariant, NotInteger> {
        Err(NotInteger)
    }
}
