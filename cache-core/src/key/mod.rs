//! Key building. A cache's keys live in its [`Namespace`]: `<ns>|<key>`
//! for keys given to the `Cache` API, `<ns>#<fn path>:<version>:<args>`
//! for memoized functions, `<ns>!<tag>` for the index of a tag.
//!
//! `<args>` identifies one argument list. It is derived from the canonical
//! encoding of the arguments (bincode 2's standard encoding with map entries
//! and set elements sorted; deterministic, and identical on every
//! platform, process and run; `usize` is encoded as a 64-bit varint):
//!
//! - up to 48 bytes of encoding are written as lowercase hex: an injective
//!   encoding, so two different argument lists of one function can never
//!   share a key, and no hashing cost is paid on the hot path;
//! - longer encodings are replaced by `~` and the hex SHA-256 of the
//!   encoding, so keys stay short (the argument part is at most 96
//!   characters in either form) and collisions would need a SHA-256
//!   collision, which an attacker who controls the arguments cannot produce.
//!
//! The encoding holds the argument values, not their types: `(1u64,)` and
//! `(1u32,)`, or `"ab"` and `b"ab"`, give the same key. Keys are distinct
//! for one signature; when a memoized function's argument types change,
//! bump its `version` so that old entries are not read as new ones.
//!
//! Neither form can contain `*`, `?`, `[`, `:` or anything else special to
//! Redis, whatever the arguments hold. Maps and sets encode alike whatever
//! their iteration order (entries and elements are sorted), so equal
//! `HashMap`/`HashSet` arguments share one key; a set behind a `Box`, `Rc`
//! or `Arc` is not recognized as one, so use a `BTreeSet` there.

mod args;

use crate::local::ident::{Form, DIGEST_LEN};
use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::{Error, Result};

/// Keys in messages are shown escaped and cut at 200 characters.
pub(crate) fn key_for_message(key: &str) -> String {
    let mut shown: String = key.chars().take(200).flat_map(char::escape_debug).collect();
    if key.chars().nth(200).is_some() {
        shown.push('…');
    }
    shown
}

/// Encodings longer than this many bytes are hashed instead of hex-encoded.
pub const MAX_INLINE_ARGS: usize = 48;

/// Writes the `<args>` part of a key for `args` (usually a tuple of
/// references to the key arguments) to `out`.
///
/// ```
/// let mut out = String::new();
/// cache_core::key::write_args(&mut out, &(5u64,))?;
/// assert_eq!(out, "05");
/// # Ok::<(), cache_core::Error>(())
/// ```
#[inline]
pub fn write_args<A: Serialize + ?Sized>(out: &mut String, args: &A) -> Result<()> {
    write_args_to(out, args)
}

/// [`write_args`] into any [`KeyOut`].
#[inline]
pub(crate) fn write_args_to<A: Serialize + ?Sized>(out: &mut impl KeyOut, args: &A) -> Result<()> {
    encode_args(args)?.write_to(out);
    Ok(())
}

/// The encoding of `args`: its bytes while they fit [`MAX_INLINE_ARGS`],
/// their SHA-256 past that.
#[inline]
pub(crate) fn encode_args<A: Serialize + ?Sized>(args: &A) -> Result<EncodedArgs> {
    let mut encoded = EncodedArgs::new();
    encoded.encode(args)?;
    Ok(encoded)
}

/// Encoded key arguments, collected on the stack (no heap buffer, no
/// allocation for short ones): written as hex in the key, or as `~` and
/// the hex of their digest when long.
pub(crate) struct EncodedArgs {
    /// The bytes written so far while inline; the digest once hashed.
    bytes: [u8; MAX_INLINE_ARGS],
    /// How many of `bytes` are used.
    len: usize,
    /// Set once the bytes no longer fit inline.
    hasher: Option<Box<Sha256>>,
}

impl args::Sink for EncodedArgs {
    #[inline]
    fn put(&mut self, bytes: &[u8]) {
        if let Some(hasher) = &mut self.hasher {
            hasher.update(bytes);
        } else if let ([byte], Some(slot)) = (bytes, self.bytes.get_mut(self.len)) {
            // Most writes are one byte (small integers, lengths, tags), for
            // which a call to `memcpy` would cost more than the copy.
            *slot = *byte;
            self.len += 1;
        } else if self.len + bytes.len() <= MAX_INLINE_ARGS {
            self.bytes[self.len..self.len + bytes.len()].copy_from_slice(bytes);
            self.len += bytes.len();
        } else {
            let mut hasher = Box::new(Sha256::new());
            hasher.update(&self.bytes[..self.len]);
            hasher.update(bytes);
            self.hasher = Some(hasher);
        }
    }
}

impl EncodedArgs {
    #[inline]
    pub(crate) const fn new() -> Self {
        Self {
            bytes: [0; MAX_INLINE_ARGS],
            len: 0,
            hasher: None,
        }
    }

    /// Encodes `args` into `self` (which must be new).
    #[inline]
    pub(crate) fn encode<A: Serialize + ?Sized>(&mut self, args: &A) -> Result<()> {
        args::encode(args, self).map_err(|e| Error::codec("cannot encode the key arguments", e))?;
        if let Some(hasher) = self.hasher.take() {
            let digest: [u8; DIGEST_LEN] = hasher.finalize().into();
            self.bytes[..DIGEST_LEN].copy_from_slice(&digest);
            self.len = usize::MAX;
        }
        Ok(())
    }

    /// How the key writes these arguments, and the bytes it writes so.
    #[inline]
    pub(crate) fn tail(&self) -> (Form, &[u8]) {
        match self.bytes.get(..self.len) {
            Some(bytes) => (Form::Hex, bytes),
            None => (Form::Digest, &self.bytes[..DIGEST_LEN]),
        }
    }

    /// Writes the arguments as the key has them.
    #[inline]
    pub(crate) fn write_to(&self, out: &mut impl KeyOut) {
        match self.tail() {
            (Form::Digest, digest) => {
                out.push_str("~");
                out.push_hex(digest);
            }
            (_, bytes) => out.push_hex(bytes),
        }
    }
}

/// Where key text is written: a `String`, or the stack buffer of the
/// in-memory hit path ([`StackKey`]).
pub(crate) trait KeyOut {
    /// Appends `s`.
    fn push_str(&mut self, s: &str);
    /// Appends the lowercase hex of `bytes`.
    fn push_hex(&mut self, bytes: &[u8]);
}

const HEX: &[u8; 16] = b"0123456789abcdef";

impl KeyOut for String {
    #[inline]
    fn push_str(&mut self, s: &str) {
        String::push_str(self, s);
    }

    #[inline]
    fn push_hex(&mut self, bytes: &[u8]) {
        self.reserve(bytes.len() * 2);
        for &b in bytes {
            self.push(char::from(HEX[usize::from(b >> 4)]));
            self.push(char::from(HEX[usize::from(b & 0x0f)]));
        }
    }
}

/// A key built on the stack while it fits (most keys do), in a `String`
/// past that: the hit path builds its key with no allocation and no
/// thread-local.
pub(crate) struct StackKey {
    buf: [u8; STACK_KEY],
    len: usize,
    spilled: Option<String>,
}

const STACK_KEY: usize = 128;

impl StackKey {
    #[inline]
    pub(crate) fn new() -> Self {
        Self {
            buf: [0; STACK_KEY],
            len: 0,
            spilled: None,
        }
    }

    /// The key's bytes (UTF-8: only `str`s and hex digits are written).
    #[inline]
    pub(crate) fn as_bytes(&self) -> &[u8] {
        match &self.spilled {
            Some(s) => s.as_bytes(),
            None => &self.buf[..self.len],
        }
    }

    /// The key as a `String` (for a miss, which needs to own it).
    pub(crate) fn into_string(self) -> String {
        match self.spilled {
            Some(s) => s,
            None => String::from_utf8(self.buf[..self.len].to_vec())
                .unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned()),
        }
    }

    /// Moves what is on the stack to a `String` that takes the rest.
    #[cold]
    fn spill(&mut self, more: usize) -> &mut String {
        let mut s = String::with_capacity(self.len + more + 64);
        s.push_str(std::str::from_utf8(&self.buf[..self.len]).unwrap_or_default());
        self.spilled.insert(s)
    }
}

impl KeyOut for StackKey {
    #[inline]
    fn push_str(&mut self, s: &str) {
        if let Some(out) = &mut self.spilled {
            out.push_str(s);
        } else if let Some(dst) = self.buf.get_mut(self.len..self.len + s.len()) {
            dst.copy_from_slice(s.as_bytes());
            self.len += s.len();
        } else {
            self.spill(s.len()).push_str(s);
        }
    }

    #[inline]
    fn push_hex(&mut self, bytes: &[u8]) {
        if self.spilled.is_none() {
            if let Some(dst) = self.buf.get_mut(self.len..self.len + 2 * bytes.len()) {
                for (pair, &b) in dst.chunks_exact_mut(2).zip(bytes) {
                    pair.copy_from_slice(&[HEX[usize::from(b >> 4)], HEX[usize::from(b & 0x0f)]]);
                }
                self.len += 2 * bytes.len();
                return;
            }
            self.spill(2 * bytes.len());
        }
        if let Some(out) = &mut self.spilled {
            out.push_hex(bytes);
        }
    }
}

/// The keys of one namespace (one cache prefix) in a shared store.
///
/// A cache with prefix `P` writes the keys given to its API as
/// `<ns>|<key>`, its memoized functions' keys as
/// `<ns>#<fn path>:<version>:<args>`, and the index of each tag (see
/// [`tags`](crate::tags)) as `<ns>!<tag>`, where `<ns>` is `P` with `%`, `|`, `#`
/// and `!` written as `%25`, `%7C`, `%23` and `%21`. As `<ns>` never
/// contains `|`, `#` or `!`, it ends at the first of them: for any two
/// different prefixes, no key of one is a key of the other and neither's
/// `clear()` pattern matches the other's keys (`shop` and `shopping`,
/// `iso:` and `iso:inner:`, `app` and the `apple:config` of another
/// program), a key given to `set` can never be a memoized function's key,
/// and neither can be a tag index, whatever the key or the tag holds.
///
/// ```
/// let ns = cache_core::key::Namespace::new("shop:");
/// assert_eq!(ns.plain(), "shop:|");
/// assert_eq!(ns.memoized(), "shop:#");
/// assert_eq!(ns.tags(), "shop:!");
/// assert_eq!(cache_core::key::Namespace::new("a|b#c%!").plain(), "a%7Cb%23c%25%21|");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Namespace {
    /// `<ns>|<ns>#<ns>!`: the three prefixes in one allocation.
    all: Box<str>,
}

impl Namespace {
    /// The namespace of the cache prefix `prefix`.
    pub fn new(prefix: &str) -> Self {
        let mut ns = String::with_capacity(prefix.len() + 2);
        for c in prefix.chars() {
            match c {
                '%' => ns.push_str("%25"),
                '|' => ns.push_str("%7C"),
                '#' => ns.push_str("%23"),
                '!' => ns.push_str("%21"),
                c => ns.push(c),
            }
        }
        let all = format!("{ns}|{ns}#{ns}!");
        Self {
            all: all.into_boxed_str(),
        }
    }

    /// The length of one of the three prefixes.
    #[inline]
    fn third(&self) -> usize {
        self.all.len() / 3
    }

    /// `<ns>|`: the start of every key given to the `Cache` API.
    #[inline]
    pub fn plain(&self) -> &str {
        &self.all[..self.third()]
    }

    /// `<ns>#`: the start of every memoized function's key.
    #[inline]
    pub fn memoized(&self) -> &str {
        &self.all[self.third()..2 * self.third()]
    }

    /// `<ns>!`: the start of every tag index key; the index of the tag `t`
    /// is `<ns>!t`.
    #[inline]
    pub fn tags(&self) -> &str {
        &self.all[2 * self.third()..]
    }
}

/// Writes `<fn path>:<version>:<args>` to `out`.
///
/// ```
/// let mut key = String::from("app:");
/// cache_core::key::write_function_key(&mut key, "shop::get_user_profile", 1, &(5u64,))?;
/// assert_eq!(key, "app:shop::get_user_profile:1:05");
/// # Ok::<(), cache_core::Error>(())
/// ```
pub fn write_function_key<A: Serialize + ?Sized>(
    out: &mut String,
    path: &str,
    version: u32,
    args: &A,
) -> Result<()> {
    write_function_prefix(out, path, version);
    write_args(out, args)
}

/// Writes `<fn path>:<version>:`, the part shared by every entry of one
/// function (what `<fn>_invalidate_all()` clears).
///
/// ```
/// let mut prefix = String::new();
/// cache_core::key::write_function_prefix(&mut prefix, "shop::index", 3);
/// assert_eq!(prefix, "shop::index:3:");
/// ```
#[inline]
pub fn write_function_prefix(out: &mut String, path: &str, version: u32) {
    write_function_prefix_to(out, path, version);
}

/// [`write_function_prefix`] into any [`KeyOut`].
#[inline]
pub(crate) fn write_function_prefix_to(out: &mut impl KeyOut, path: &str, version: u32) {
    out.push_str(path);
    out.push_str(":");
    push_decimal(out, version);
    out.push_str(":");
}

/// `n` in decimal, without the formatting machinery (this is on the hit path).
#[inline]
fn push_decimal(out: &mut impl KeyOut, mut n: u32) {
    let mut digits = [0u8; 10];
    let mut i = digits.len();
    loop {
        i -= 1;
        // `n % 10` is a single digit: the cast cannot truncate.
        digits[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    // ASCII digits: always UTF-8.
    out.push_str(std::str::from_utf8(&digits[i..]).unwrap_or_default());
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    fn key<A: Serialize + ?Sized>(path: &str, version: u32, args: &A) -> String {
        let mut out = String::new();
        write_function_key(&mut out, path, version, args).unwrap();
        out
    }

    /// The stack buffer of the hit path gives the same key as a `String`,
    /// for keys that fit and keys that spill past it.
    #[test]
    fn stack_keys_match_string_keys_whatever_their_length() {
        for (prefix, arg) in [
            ("app:", "x".to_owned()),
            ("app:", "y".repeat(40)),
            (&*"p".repeat(100), "z".repeat(3)),
            (&*"q".repeat(127), String::new()),
            (&*"r".repeat(300), "w".repeat(30)),
        ] {
            let mut string = String::from(prefix);
            write_function_key(&mut string, "m::f", 7, &(&arg,)).unwrap();
            let mut stack = StackKey::new();
            stack.push_str(prefix);
            write_function_prefix_to(&mut stack, "m::f", 7);
            write_args_to(&mut stack, &(&arg,)).unwrap();
            assert_eq!(stack.as_bytes(), string.as_bytes(), "{prefix} {arg}");
            assert_eq!(stack.into_string(), string);
        }
    }

    /// These strings are part of the storage format: two processes (or two
    /// releases) must compute the same key for the same call. If this test
    /// fails, the change breaks every deployed cache; don't update it lightly.
    #[test]
    fn known_keys_are_pinned() {
        assert_eq!(
            key("app::get_user_profile", 1, &(5u64,)),
            "app::get_user_profile:1:05"
        );
        assert_eq!(
            key("app::get_user_profile", 1, &(300u64,)),
            "app::get_user_profile:1:fb2c01"
        );
        assert_eq!(key("app::index", 2, &()), "app::index:2:");
        assert_eq!(key("m::f", 1, &("ada", -1i32)), "m::f:1:0361646101");
        assert_eq!(
            key("m::f", 1, &(usize::MAX, true)),
            "m::f:1:fdffffffffffffffff01"
        );
        assert_eq!(
            key("m::f", 1, &"x".repeat(100)),
            "m::f:1:~4f4e0e6264e46a6f918a8d68faca013ac96f2fc0ccdaf9745458880f705bd310"
        );
    }

    #[test]
    fn argument_characters_never_reach_the_key() {
        for arg in ["*", "a:b", "[x]", "\n", "\0", "\\?"] {
            let k = key("m::f", 1, &(arg,));
            let args = k.rsplit(':').next().unwrap();
            assert!(
                args.bytes().all(|b| b.is_ascii_hexdigit() || b == b'~'),
                "{k}"
            );
        }
    }

    #[test]
    fn distinct_argument_lists_give_distinct_keys() {
        let mut seen = HashSet::new();
        for a in 0u64..300 {
            for b in ["", "a", "ab", "a:b", "\0", &"long".repeat(20)] {
                assert!(
                    seen.insert(key("m::f", 1, &(a, b))),
                    "collision for ({a}, {b:?})"
                );
            }
        }
        // Same bytes split differently across arguments must differ too.
        assert_ne!(key("m::f", 1, &("ab", "c")), key("m::f", 1, &("a", "bc")));
    }

    #[test]
    fn versions_are_written_in_decimal() {
        for v in [0, 1, 9, 10, 99, 4_294_967_295] {
            let mut out = String::new();
            write_function_prefix(&mut out, "f", v);
            assert_eq!(out, format!("f:{v}:"));
        }
    }

    #[test]
    fn the_inline_limit_is_exact() {
        let at_limit = key("m::f", 1, &vec![7u8; MAX_INLINE_ARGS - 1]);
        assert!(!at_limit.contains('~'), "{at_limit}");
        assert_eq!(at_limit.len(), "m::f:1:".len() + 2 * MAX_INLINE_ARGS);
        let over = key("m::f", 1, &vec![7u8; MAX_INLINE_ARGS]);
        assert!(over.contains('~'), "{over}");
        let mut enc = vec![u8::try_from(MAX_INLINE_ARGS).unwrap()];
        enc.extend(vec![7u8; MAX_INLINE_ARGS]);
        let mut want = String::from("m::f:1:~");
        KeyOut::push_hex(&mut want, &Sha256::digest(&enc));
        assert_eq!(
            over, want,
            "the hash covers every byte, including those first written inline"
        );
    }

    #[test]
    fn long_arguments_are_hashed_to_a_bounded_length() {
        let k = key("m::f", 1, &"y".repeat(1_000_000));
        assert_eq!(k.len(), "m::f:1:".len() + 65);
    }
}
