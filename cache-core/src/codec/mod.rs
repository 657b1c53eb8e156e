//! How typed values become bytes and back: an envelope of one format byte
//! and the value's 8-byte [shape fingerprint](self#the-shape-rule), then the
//! codec's payload.
//!
//! Integers are the exception: a value that serializes as a single integer
//! (`i64`, `u32`, …) is stored as plain ASCII decimal, with no envelope, so
//! that `incr` works on values written by `set` and Redis `INCRBY` works on
//! both. Decoding looks at the first byte: a format byte selects the codec,
//! anything else must be a decimal integer, which only an integer type
//! reads (exactly, or not at all: `"300"` is not a `u8`, `"42"` is not an
//! `f64`).
//!
//! # The shape rule
//!
//! A read returns the value written under the key, or a miss, never a value
//! of another shape. bincode is positional, so on its own it would decode
//! bytes written by another type whose fields line up (two fields swapped by
//! a later release, `A { a, b }` read as `B { a, b }`). Every envelope
//! therefore carries a fingerprint of the value's shape as serialized: the
//! names of its structs, enums, variants and fields in order, variant
//! indices, and the kind of every primitive (`u32`, `u64` and `f64` all
//! differ), but not the data. A decode is accepted only when the decoded
//! value has the same fingerprint; otherwise the read is a miss, logged and
//! counted, and the next computation overwrites the entry.
//!
//! Values of the same shape read as each other (`&str` and `String`,
//! `Box<T>` and `T`, a `#[serde(transparent)]` newtype and its field): that
//! is the same data under the same names. Processes of two releases sharing
//! one store each read what the other wrote only when the shapes agree, so
//! a rolling deploy that changes a type sees misses, never wrong values.
//! Entries written before this rule (format bytes `0x01` and `0x02`) have no
//! fingerprint and read as misses.
//!
//! Decoding never trusts the bytes: lengths inside a payload are bounded by
//! [`MAX_VALUE_SIZE`], so a crafted length prefix cannot make the process
//! allocate more than that, and every failure is an [`ErrorKind::Codec`]
//! error that [`Cache`](crate::Cache) turns into a miss.

use std::fmt;

use bytes::{BufMut, Bytes, BytesMut};
use hmac::{Hmac, KeyInit, Mac};
use serde::de::DeserializeOwned;
use serde::Serialize;
use sha2::Sha256;

use crate::{Error, ErrorKind, Result};

/// The largest value, in bytes, that is encoded or decoded (64 MiB): the
/// default and the ceiling of
/// [`CacheBuilder::max_value_size`](crate::CacheBuilder::max_value_size).
/// Lengths claimed inside a payload are bounded by it too, so no decode
/// allocates more than this whatever the bytes say.
///
/// ```
/// assert_eq!(cache_core::codec::MAX_VALUE_SIZE, 64 * 1024 * 1024);
/// ```
pub const MAX_VALUE_SIZE: usize = 64 * 1024 * 1024;

mod integer;
mod shape;

pub(crate) use integer::{integer_value, parse_integer};

/// bincode 2 payload after a shape fingerprint.
const FORMAT_BINCODE: u8 = 0x03;
/// JSON payload after a shape fingerprint.
#[cfg_attr(not(feature = "json"), allow(dead_code))]
const FORMAT_JSON: u8 = 0x04;
/// A logical expiry (8 bytes, little-endian milliseconds since the Unix
/// epoch) before a value's own encoding: entries written with a fail-safe
/// window or refresh ahead (see [`crate::policy`]).
const FORMAT_TIMED: u8 = 0x05;
/// The format bytes of releases that wrote no fingerprint.
const LEGACY_FORMATS: [u8; 2] = [0x01, 0x02];
/// Format byte and fingerprint.
const HEADER: usize = 9;

type BincodeConfig = bincode::config::Configuration<
    bincode::config::LittleEndian,
    bincode::config::Varint,
    bincode::config::Limit<MAX_VALUE_SIZE>,
>;

const BINCODE: BincodeConfig = bincode::config::standard().with_limit::<MAX_VALUE_SIZE>();

/// The serialization format used for values stored outside the process.
///
/// Values in the in-memory store are kept as typed Rust values and are not
/// serialized at all. Reading never depends on the configured codec: every
/// stored value names its format in its first byte, so changing codecs keeps
/// old entries readable (as long as that codec's feature is enabled).
///
/// ```
/// use cache_core::{Cache, Codec};
///
/// let cache = Cache::builder().codec(Codec::Bincode).build()?;
/// # Ok::<(), cache_core::Error>(())
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Codec {
    /// [bincode 2](https://docs.rs/bincode/2) with its standard (varint)
    /// configuration: compact and fast. The default.
    #[default]
    Bincode,
    /// JSON through `serde_json`: readable in `redis-cli`, larger and slower.
    #[cfg(feature = "json")]
    #[cfg_attr(docsrs, doc(cfg(feature = "json")))]
    Json,
}

impl Codec {
    fn format_byte(self) -> u8 {
        match self {
            Self::Bincode => FORMAT_BINCODE,
            #[cfg(feature = "json")]
            Self::Json => FORMAT_JSON,
        }
    }
}

/// Encodes `value` as stored bytes: decimal for integers, otherwise the
/// format byte of `codec` followed by its payload.
///
/// ```
/// use cache_core::codec::{decode, encode};
/// use cache_core::Codec;
///
/// let bytes = encode(&vec!["a".to_string()], Codec::Bincode)?;
/// assert_eq!(decode::<Vec<String>>(&bytes)?, vec!["a".to_string()]);
/// assert_eq!(&encode(&42u32, Codec::Bincode)?[..], b"42");
/// # Ok::<(), cache_core::Error>(())
/// ```
pub fn encode<T: Serialize + ?Sized>(value: &T, codec: Codec) -> Result<Bytes> {
    encode_unsigned(value, codec, MAX_VALUE_SIZE)
}

/// Decimal for integers, otherwise the envelope; at most `max` bytes.
fn encode_unsigned<T: Serialize + ?Sized>(value: &T, codec: Codec, max: usize) -> Result<Bytes> {
    if let Some(n) = integer_value(value) {
        return Ok(Bytes::from(n.to_string()));
    }
    let bytes = envelope(value, codec)?;
    check_size("encoded value", bytes.len(), max)?;
    Ok(bytes.freeze())
}

/// The format byte of `codec`, the shape fingerprint, then the payload,
/// integers included.
fn envelope<T: Serialize + ?Sized>(value: &T, codec: Codec) -> Result<BytesMut> {
    let shape = shape::fingerprint(value)
        .map_err(|e| Error::codec("cannot encode value: its `Serialize` failed", e))?;
    let mut out = BytesMut::with_capacity(64).writer();
    out.get_mut().put_u8(codec.format_byte());
    out.get_mut().put_u64_le(shape);
    match codec {
        Codec::Bincode => {
            bincode::serde::encode_into_std_write(value, &mut out, BINCODE)
                .map_err(|e| Error::codec("cannot encode value with bincode", e))?;
        }
        #[cfg(feature = "json")]
        Codec::Json => {
            serde_json::to_writer(&mut out, value)
                .map_err(|e| Error::codec("cannot encode value as JSON", e))?;
        }
    }
    Ok(out.into_inner())
}

fn check_size(what: &str, len: usize, max: usize) -> Result<()> {
    if len > max {
        return Err(Error::new(
            ErrorKind::TooLarge,
            format!("{what} is {len} bytes, more than the {max} bytes allowed"),
        ));
    }
    Ok(())
}

/// Decodes stored bytes into `T`. Fails with [`ErrorKind::Codec`] on
/// anything that is not a valid encoding of a `T`, and with
/// [`ErrorKind::TooLarge`] on more than [`MAX_VALUE_SIZE`] bytes; never
/// panics.
///
/// ```
/// use cache_core::codec::decode;
/// use cache_core::ErrorKind;
///
/// assert_eq!(decode::<i64>(b"-7")?, -7);
/// assert_eq!(decode::<String>(b"\x01\xff\xff\xff\xff").unwrap_err().kind(), ErrorKind::Codec);
/// # Ok::<(), cache_core::Error>(())
/// ```
///
/// An entry written with a logical expiry (a fail-safe window, see
/// [`crate::policy`]) decodes to its value whatever the time: this is a
/// codec, not a cache.
pub fn decode<T: Serialize + DeserializeOwned>(bytes: &[u8]) -> Result<T> {
    check_size("stored value", bytes.len(), MAX_VALUE_SIZE)?;
    decode_entry(bytes).map(|d| d.value)
}

/// A decoded value with the logical expiry it was written with, if any.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Decoded<T> {
    pub(crate) value: T,
    /// Milliseconds since the Unix epoch after which the value is stale.
    pub(crate) fresh_until: Option<u64>,
}

impl<T> Decoded<T> {
    /// Whether the value is fresh at `now` (milliseconds since the epoch).
    pub(crate) fn is_fresh(&self, now: u64) -> bool {
        self.fresh_until.is_none_or(|until| now < until)
    }
}

/// Milliseconds since the Unix epoch, the clock logical expiries use (so
/// that every process sharing a store agrees).
pub(crate) fn now_millis() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// Decodes an entry, timed or not, with no size check.
pub(crate) fn decode_entry<T: Serialize + DeserializeOwned>(bytes: &[u8]) -> Result<Decoded<T>> {
    if bytes.first() != Some(&FORMAT_TIMED) {
        return Ok(Decoded {
            value: decode_payload(bytes)?,
            fresh_until: None,
        });
    }
    let Some((header, inner)) = bytes.split_first_chunk::<HEADER>() else {
        return Err(Error::new(ErrorKind::Codec, "stored value is truncated"));
    };
    if inner.first() == Some(&FORMAT_TIMED) {
        return Err(Error::new(
            ErrorKind::Codec,
            "stored value has two logical expiries",
        ));
    }
    let mut until = [0u8; 8];
    until.copy_from_slice(&header[1..]);
    Ok(Decoded {
        value: decode_payload(inner)?,
        fresh_until: Some(u64::from_le_bytes(until)),
    })
}

/// `value` encoded after its logical expiry `fresh_until` (milliseconds
/// since the Unix epoch), unsigned.
pub(crate) fn encode_timed<T: Serialize + ?Sized>(
    value: &T,
    fresh_until: u64,
    codec: Codec,
    max: usize,
) -> Result<BytesMut> {
    let inner = encode_unsigned(value, codec, max)?;
    let mut out = BytesMut::with_capacity(HEADER + inner.len() + TAG_LEN);
    out.put_u8(FORMAT_TIMED);
    out.put_u64_le(fresh_until);
    out.extend_from_slice(&inner);
    check_size("encoded value", out.len(), max)?;
    Ok(out)
}

/// Decodes an envelope or a decimal integer, whatever its length.
///
/// Error messages say what is wrong with the bytes, never what they hold:
/// they are logged, and a stored value may be a secret.
fn decode_payload<T: Serialize + DeserializeOwned>(bytes: &[u8]) -> Result<T> {
    let Some(&format) = bytes.first() else {
        return Err(Error::new(ErrorKind::Codec, "stored value is empty"));
    };
    if format != FORMAT_BINCODE && format != FORMAT_JSON {
        if LEGACY_FORMATS.contains(&format) {
            return Err(Error::new(
                ErrorKind::Codec,
                "stored value was written by an older release, without a shape fingerprint",
            ));
        }
        return integer::decode(bytes);
    }
    let Some((header, payload)) = bytes.split_first_chunk::<HEADER>() else {
        return Err(Error::new(ErrorKind::Codec, "stored value is truncated"));
    };
    let mut written = [0u8; 8];
    written.copy_from_slice(&header[1..]);
    let value: T = match format {
        FORMAT_BINCODE => decode_bincode(payload)?,
        _ => decode_json(payload)?,
    };
    let read = shape::fingerprint(&value).map_err(|_| {
        Error::new(
            ErrorKind::Codec,
            "the decoded value cannot be serialized again to check its shape",
        )
    })?;
    if read != u64::from_le_bytes(written) {
        return Err(Error::new(
            ErrorKind::Codec,
            "stored value has another shape than this type (written by another type, or by a release where this type's fields or variants differed)",
        ));
    }
    Ok(value)
}

fn decode_bincode<T: DeserializeOwned>(payload: &[u8]) -> Result<T> {
    let (value, used) = bincode::serde::decode_from_slice(payload, BINCODE).map_err(|_| {
        Error::new(
            ErrorKind::Codec,
            "stored bytes are not a valid bincode encoding of this type",
        )
    })?;
    if used != payload.len() {
        return Err(Error::new(
            ErrorKind::Codec,
            "stored bincode value has trailing bytes (written by another type?)",
        ));
    }
    Ok(value)
}

#[cfg(feature = "json")]
fn decode_json<T: DeserializeOwned>(payload: &[u8]) -> Result<T> {
    serde_json::from_slice(payload).map_err(|e| {
        let what = match e.classify() {
            serde_json::error::Category::Io => "unreadable",
            serde_json::error::Category::Syntax => "not valid JSON",
            serde_json::error::Category::Data => "valid JSON but not a value of this type",
            serde_json::error::Category::Eof => "truncated JSON",
        };
        // serde_json's own message may quote the stored data: only its
        // category and position are kept.
        Error::new(
            ErrorKind::Codec,
            format!(
                "stored value is {what} (line {}, column {})",
                e.line(),
                e.column()
            ),
        )
    })
}

#[cfg(not(feature = "json"))]
fn decode_json<T: DeserializeOwned>(_: &[u8]) -> Result<T> {
    Err(Error::new(
        ErrorKind::Codec,
        "stored value is JSON but the `json` feature of cache-core is disabled",
    ))
}

/// The length of the HMAC-SHA256 tag appended to signed values.
pub(crate) const TAG_LEN: usize = 32;

/// The shortest signing key [`CacheBuilder::signing_key`](crate::CacheBuilder::signing_key) accepts.
pub(crate) const MIN_SIGNING_KEY: usize = 16;

/// How one [`Cache`](crate::Cache) turns values into stored bytes and back:
/// its codec, its size bound and, if configured, its signing key.
#[derive(Clone)]
pub(crate) struct Format {
    pub(crate) codec: Codec,
    pub(crate) max_size: usize,
    signer: Option<Hmac<Sha256>>,
}

impl fmt::Debug for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Format")
            .field("codec", &self.codec)
            .field("max_size", &self.max_size)
            .field("signed", &self.signer.is_some())
            .finish()
    }
}

impl Format {
    /// A format with no signing and the default size bound.
    pub(crate) fn new(codec: Codec) -> Self {
        Self {
            codec,
            max_size: MAX_VALUE_SIZE,
            signer: None,
        }
    }

    /// Checks and applies the builder's size bound and signing key.
    pub(crate) fn configure(mut self, max_size: usize, signing_key: Option<&[u8]>) -> Result<Self> {
        if max_size == 0 || max_size > MAX_VALUE_SIZE {
            return Err(Error::config(format!(
                "max_value_size must be between 1 and {MAX_VALUE_SIZE} bytes, not {max_size}"
            )));
        }
        self.max_size = max_size;
        if let Some(key) = signing_key {
            if key.len() < MIN_SIGNING_KEY {
                return Err(Error::config(format!(
                    "the signing key is {} bytes; use at least 32 random bytes ({MIN_SIGNING_KEY} at the very least)",
                    key.len()
                )));
            }
            let mac = <Hmac<Sha256> as KeyInit>::new_from_slice(key)
                .map_err(|_| Error::config("the signing key cannot key HMAC-SHA256"))?;
            self.signer = Some(mac);
        }
        Ok(self)
    }

    /// Encodes `value` for storage under the full key `key`. Signed values
    /// are always an envelope (integers included) followed by their tag.
    pub(crate) fn encode<T: Serialize + ?Sized>(&self, key: &str, value: &T) -> Result<Bytes> {
        let Some(signer) = &self.signer else {
            return encode_unsigned(value, self.codec, self.max_size);
        };
        let mut bytes = envelope(value, self.codec)?;
        let tag = sign(signer.clone(), key, &bytes);
        bytes.extend_from_slice(&tag);
        check_size("encoded value", bytes.len(), self.max_size)?;
        Ok(bytes.freeze())
    }

    /// [`encode`](Self::encode) with a logical expiry (milliseconds since
    /// the Unix epoch), inside the signed bytes when signing is on.
    pub(crate) fn encode_timed<T: Serialize + ?Sized>(
        &self,
        key: &str,
        value: &T,
        fresh_until: u64,
    ) -> Result<Bytes> {
        let mut bytes = encode_timed(value, fresh_until, self.codec, self.max_size)?;
        if let Some(signer) = &self.signer {
            let tag = sign(signer.clone(), key, &bytes);
            bytes.extend_from_slice(&tag);
            check_size("encoded value", bytes.len(), self.max_size)?;
        }
        Ok(bytes.freeze())
    }

    /// Decodes bytes read from under the full key `key` (ignoring a logical
    /// expiry).
    #[cfg(test)]
    pub(crate) fn decode<T: Serialize + DeserializeOwned>(
        &self,
        key: &str,
        bytes: &[u8],
    ) -> Result<T> {
        self.decode_entry(key, bytes).map(|d| d.value)
    }

    /// Decodes bytes read from under the full key `key`, checking the size
    /// bound and, if signing is on, the tag before anything is decoded.
    pub(crate) fn decode_entry<T: Serialize + DeserializeOwned>(
        &self,
        key: &str,
        bytes: &[u8],
    ) -> Result<Decoded<T>> {
        check_size("stored value", bytes.len(), self.max_size)?;
        let Some(signer) = &self.signer else {
            return decode_entry(bytes);
        };
        let Some(split) = bytes.len().checked_sub(TAG_LEN) else {
            return Err(Error::new(
                ErrorKind::Codec,
                "stored value is unsigned or truncated (signing is on)",
            ));
        };
        let (payload, tag) = bytes.split_at(split);
        let mut mac = signer.clone();
        feed(&mut mac, key, payload);
        mac.verify_slice(tag).map_err(|_| {
            Error::new(
                ErrorKind::Codec,
                "stored value's signature does not match: written without this signing key, moved from another key, or altered",
            )
        })?;
        decode_entry(payload)
    }
}

/// The tag binds the payload to its key, so a signed value copied under
/// another key does not verify.
fn feed(mac: &mut Hmac<Sha256>, key: &str, payload: &[u8]) {
    mac.update(&(key.len() as u64).to_le_bytes());
    mac.update(key.as_bytes());
    mac.update(payload);
}

fn sign(mut mac: Hmac<Sha256>, key: &str, payload: &[u8]) -> [u8; TAG_LEN] {
    feed(&mut mac, key, payload);
    mac.finalize().into_bytes().into()
}

/// The number of bytes `value` takes in bincode: the weight of a typed
/// entry in the memory store.
pub(crate) fn encoded_len<T: Serialize + ?Sized>(value: &T) -> usize {
    bincode::serde::encode_into_std_write(value, &mut std::io::sink(), BINCODE).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, PartialEq, serde::Serialize, serde::Deserialize)]
    struct Profile {
        id: u64,
        name: String,
        tags: Vec<String>,
    }

    fn profile() -> Profile {
        Profile {
            id: 7,
            name: "Ada".into(),
            tags: vec!["admin".into()],
        }
    }

    #[test]
    fn struct_round_trips_through_bincode() {
        let bytes = encode(&profile(), Codec::Bincode).unwrap();
        assert_eq!(bytes[0], FORMAT_BINCODE);
        assert_eq!(decode::<Profile>(&bytes).unwrap(), profile());
    }

    #[cfg(feature = "json")]
    #[test]
    fn struct_round_trips_through_json_and_is_readable() {
        let bytes = encode(&profile(), Codec::Json).unwrap();
        assert_eq!(bytes[0], FORMAT_JSON);
        assert_eq!(
            &bytes[HEADER..],
            b"{\"id\":7,\"name\":\"Ada\",\"tags\":[\"admin\"]}"
        );
        assert_eq!(decode::<Profile>(&bytes).unwrap(), profile());
    }

    #[test]
    fn integers_are_stored_as_decimal_and_read_back_as_any_integer_type() {
        assert_eq!(&encode(&-12i64, Codec::Bincode).unwrap()[..], b"-12");
        assert_eq!(
            &encode(&u64::MAX, Codec::Bincode).unwrap()[..],
            b"18446744073709551615"
        );
        assert_eq!(decode::<u8>(b"200").unwrap(), 200);
        assert_eq!(decode::<u64>(b"18446744073709551615").unwrap(), u64::MAX);
        assert_eq!(decode::<u8>(b"300").unwrap_err().kind(), ErrorKind::Codec);
    }

    #[test]
    fn non_integers_are_not_mistaken_for_integers() {
        assert_eq!(integer_value(&"12"), None);
        assert_eq!(integer_value(&Some(12)), None);
        assert_eq!(integer_value(&1.5f64), None);
        assert_eq!(integer_value(&(1, 2)), None);
        assert_eq!(integer_value(&12u16), Some(12));
    }

    #[test]
    fn a_value_of_another_type_is_a_codec_error() {
        let bytes = encode(&profile(), Codec::Bincode).unwrap();
        assert_eq!(
            decode::<Vec<u64>>(&bytes).unwrap_err().kind(),
            ErrorKind::Codec
        );
        assert_eq!(decode::<u64>(&bytes).unwrap_err().kind(), ErrorKind::Codec);
    }

    #[test]
    fn a_huge_length_prefix_is_refused_without_allocating_it() {
        // A valid header for a `String`, then a varint length of u64::MAX.
        let mut crafted = encode(&String::new(), Codec::Bincode).unwrap()[..HEADER].to_vec();
        crafted.extend([0xFF; 9]);
        assert_eq!(
            decode::<String>(&crafted).unwrap_err().kind(),
            ErrorKind::Codec
        );
        let mut crafted = encode(&Vec::<u8>::new(), Codec::Bincode).unwrap()[..HEADER].to_vec();
        crafted.extend([0xFC, 0xFF, 0xFF, 0xFF, 0x7F]);
        assert_eq!(
            decode::<Vec<u8>>(&crafted).unwrap_err().kind(),
            ErrorKind::Codec
        );
    }

    #[test]
    fn empty_and_garbage_bytes_are_codec_errors() {
        for bytes in [&b""[..], b"\xff\x00", b"hello", b"\x7f"] {
            assert_eq!(
                decode::<String>(bytes).unwrap_err().kind(),
                ErrorKind::Codec,
                "{bytes:?}"
            );
        }
    }

    #[derive(Debug, PartialEq, serde::Serialize, serde::Deserialize)]
    struct A {
        a: u32,
        b: u32,
    }

    #[derive(Debug, PartialEq, serde::Serialize, serde::Deserialize)]
    struct B {
        a: u32,
        b: u32,
    }

    /// `Price` as one release wrote it, and as the next reads it: the same
    /// name, the fields swapped.
    mod v1 {
        #[derive(Debug, PartialEq, serde::Serialize, serde::Deserialize)]
        pub struct Price {
            pub cents: u64,
            pub stock: u64,
        }
    }
    mod v2 {
        #[derive(Debug, PartialEq, serde::Serialize, serde::Deserialize)]
        pub struct Price {
            pub stock: u64,
            pub cents: u64,
        }
    }

    fn codecs() -> Vec<Codec> {
        vec![
            Codec::Bincode,
            #[cfg(feature = "json")]
            Codec::Json,
        ]
    }

    #[test]
    fn a_value_is_never_read_as_another_shape() {
        for codec in codecs() {
            let a = encode(&A { a: 1, b: 2 }, codec).unwrap();
            assert!(decode::<B>(&a).is_err(), "{codec:?}: A read as B");
            assert!(
                decode::<(u32, u32)>(&a).is_err(),
                "{codec:?}: A read as a tuple"
            );
            assert_eq!(decode::<A>(&a).unwrap(), A { a: 1, b: 2 });
            let price = encode(
                &v1::Price {
                    cents: 1001,
                    stock: 3,
                },
                codec,
            )
            .unwrap();
            assert!(
                decode::<v2::Price>(&price).is_err(),
                "{codec:?}: swapped fields"
            );
            let s = encode(&"text".to_string(), codec).unwrap();
            assert!(
                decode::<Vec<u64>>(&s).is_err(),
                "{codec:?}: String as Vec<u64>"
            );
            let f = encode(&1.5f64, codec).unwrap();
            assert!(decode::<f32>(&f).is_err(), "{codec:?}: f64 as f32");
        }
    }

    #[test]
    fn decimal_integers_are_read_exactly_or_not_at_all() {
        let n = encode(&42u64, Codec::Bincode).unwrap();
        assert!(decode::<f64>(&n).is_err(), "42u64 read as f64");
        let big = encode(&(9_007_199_254_740_993u64), Codec::Bincode).unwrap();
        assert!(decode::<f64>(&big).is_err(), "2^53 + 1 would round");
        assert!(decode::<f32>(b"1").is_err());
        assert!(decode::<String>(b"1").is_err());
        assert!(decode::<Option<u64>>(b"1").is_err());
        assert!(decode::<bool>(b"1").is_err());
        assert_eq!(decode::<u64>(&big).unwrap(), 9_007_199_254_740_993);
        assert_eq!(decode::<i128>(b"-5").unwrap(), -5);
    }

    #[test]
    fn values_written_without_a_fingerprint_are_misses() {
        let mut legacy = vec![0x01];
        bincode::serde::encode_into_std_write(A { a: 1, b: 2 }, &mut legacy, BINCODE).unwrap();
        let err = decode::<A>(&legacy).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Codec);
        assert!(err.to_string().contains("older release"), "{err}");
    }

    #[test]
    fn decode_errors_never_quote_the_stored_data() {
        let secret = "hunter2-secret-token".to_string();
        for codec in codecs() {
            let bytes = encode(&secret, codec).unwrap();
            let mut reshaped = bytes.to_vec();
            // Claim the shape of a u64 so the payload itself is decoded.
            let as_u64 = encode(&vec![0u64], codec).unwrap();
            reshaped[..HEADER].copy_from_slice(&as_u64[..HEADER]);
            for err in [
                decode::<Vec<u64>>(&bytes).unwrap_err(),
                decode::<Vec<u64>>(&reshaped).unwrap_err(),
                decode::<bool>(&bytes).unwrap_err(),
            ] {
                let shown = format!("{err} {err:?} {:?}", std::error::Error::source(&err));
                assert!(!shown.contains("hunter2"), "{codec:?}: {shown}");
            }
        }
    }

    const SECRET: &[u8] = b"0123456789abcdef0123456789abcdef";

    fn signed() -> Format {
        Format::new(Codec::Bincode)
            .configure(MAX_VALUE_SIZE, Some(SECRET))
            .unwrap()
    }

    #[test]
    fn signed_values_round_trip_and_integers_are_signed_too() {
        let format = signed();
        let bytes = format.encode("app:p", &profile()).unwrap();
        assert_eq!(
            format.decode::<Profile>("app:p", &bytes).unwrap(),
            profile()
        );
        let n = format.encode("app:n", &42u64).unwrap();
        assert_ne!(
            &n[..],
            b"42",
            "an unsigned decimal would be accepted from anyone"
        );
        assert_eq!(format.decode::<u64>("app:n", &n).unwrap(), 42);
    }

    #[test]
    fn a_signed_value_does_not_verify_under_another_key_or_secret() {
        let bytes = signed().encode("app:a", &profile()).unwrap();
        let moved = signed().decode::<Profile>("app:b", &bytes).unwrap_err();
        assert_eq!(moved.kind(), ErrorKind::Codec);
        assert!(moved.to_string().contains("signature"), "{moved}");
        let other = Format::new(Codec::Bincode)
            .configure(MAX_VALUE_SIZE, Some(b"another secret of 32 bytes......"))
            .unwrap();
        assert_eq!(
            other.decode::<Profile>("app:a", &bytes).unwrap_err().kind(),
            ErrorKind::Codec
        );
    }

    #[test]
    fn unsigned_values_are_refused_when_signing_is_on() {
        let plain = encode(&profile(), Codec::Bincode).unwrap();
        for bytes in [&plain[..], b"42", b""] {
            let err = signed().decode::<Profile>("app:p", bytes).unwrap_err();
            assert_eq!(err.kind(), ErrorKind::Codec, "{bytes:?}");
        }
        assert!(signed().decode::<u64>("app:n", b"42").is_err());
    }

    #[test]
    fn the_size_bound_applies_both_ways() {
        let format = Format::new(Codec::Bincode).configure(100, None).unwrap();
        let err = format.encode("k", &vec![7u8; 200]).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::TooLarge);
        assert!(err.to_string().contains("100 bytes"), "{err}");
        let big = encode(&vec![7u8; 200], Codec::Bincode).unwrap();
        assert_eq!(
            format.decode::<Vec<u8>>("k", &big).unwrap_err().kind(),
            ErrorKind::TooLarge
        );
        assert!(format.encode("k", &vec![7u8; 50]).is_ok());
    }

    #[test]
    fn bad_settings_are_config_errors() {
        let base = || Format::new(Codec::Bincode);
        for (max, key) in [
            (0, None),
            (MAX_VALUE_SIZE + 1, None),
            (1024, Some(&b"short"[..])),
        ] {
            let err = base().configure(max, key).unwrap_err();
            assert_eq!(err.kind(), ErrorKind::Config, "{max} {key:?}");
        }
        let debug = format!("{:?}", signed());
        assert!(!debug.contains("0123456789abcdef"), "{debug}");
    }

    proptest::proptest! {
        #[test]
        fn any_change_to_a_signed_value_is_refused(
            index in 0usize..1000,
            flip in 1u8..=255,
            name in ".{0,40}",
        ) {
            let format = signed();
            let value = Profile { id: 7, name, tags: vec!["a".into()] };
            let mut bytes = format.encode("app:p", &value).unwrap().to_vec();
            let i = index % bytes.len();
            bytes[i] ^= flip;
            proptest::prop_assert!(format.decode::<Profile>("app:p", &bytes).is_err());
            bytes[i] ^= flip;
            bytes.truncate(i);
            proptest::prop_assert!(format.decode::<Profile>("app:p", &bytes).is_err());
        }

        #[test]
        fn arbitrary_bytes_never_panic_signed(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..256)) {
            proptest::prop_assert!(signed().decode::<Profile>("k", &bytes).is_err());
        }
    }

    proptest::proptest! {
        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..256)) {
            let _ = decode::<Profile>(&bytes);
            let _ = decode::<String>(&bytes);
            let _ = decode::<i64>(&bytes);
        }

        #[test]
        fn strings_round_trip(s in ".*") {
            let bytes = encode(&s, Codec::Bincode).unwrap();
            proptest::prop_assert_eq!(decode::<String>(&bytes).unwrap(), s);
        }
    }
}
