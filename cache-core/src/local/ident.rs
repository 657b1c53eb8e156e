//! How the in-process table names an entry without the text form of its key.
//!
//! A key's text (the form a remote store sees) is
//! `<group><tail, written by its form>`:
//!
//! | form       | text                    | group                  | tail              |
//! |------------|-------------------------|------------------------|-------------------|
//! | `Plain`    | `<ns>\|<key>`           | `<ns>\|`               | the key's bytes   |
//! | `Hex`      | `<ns>#<fn>:<v>:<hex>`   | `<ns>#<fn>:<v>:`       | the decoded bytes |
//! | `Digest`   | `<ns>#<fn>:<v>:~<hex>`  | `<ns>#<fn>:<v>:`       | the 32-byte digest|
//! | `Verbatim` | anything else           | empty                  | the text's bytes  |
//!
//! [`parse`] splits any text into exactly one identity and [`Ident::write`]
//! gives the text back, so two texts share an identity only when they are
//! equal: the table answers for a key exactly what a store keyed by its text
//! would. The memoized hit path builds the identity directly (the group
//! once per function and cache, the tail from the raw argument encoding) and
//! never renders hex; the hash covers only the tail, seeded by the group's
//! precomputed id.

use std::collections::HashSet;
use std::hash::{Hash, Hasher};
use std::sync::{Arc, PoisonError, RwLock};

use xxhash_rust::xxh3::{xxh3_64, xxh3_64_with_seed};

use crate::key::MAX_INLINE_ARGS;

/// The bytes of a digest tail (SHA-256).
pub(crate) const DIGEST_LEN: usize = 32;

/// How a tail is written in the key's text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub(crate) enum Form {
    /// Written as it is, after a `|` group.
    Plain = 1,
    /// Written as lowercase hex, after a `…:` memoized group.
    Hex = 2,
    /// Written as `~` and lowercase hex, after a `…:` memoized group.
    Digest = 3,
    /// The whole text, with an empty group.
    Verbatim = 4,
}

impl Form {
    /// Mixed into the seed, so that one group's forms never share hashes
    /// by construction.
    fn salt(self) -> u64 {
        u64::from(self as u8).wrapping_mul(0x9e37_79b9_7f4a_7c15)
    }
}

/// A group with its hash, computed once and reused for every key in it.
#[derive(Debug, Clone)]
pub(crate) struct Group {
    id: u64,
    text: Arc<str>,
}

impl Group {
    /// The group `text`, shared through `interner`.
    pub(crate) fn new(text: &str, interner: &Interner) -> Self {
        Self {
            id: xxh3_64(text.as_bytes()),
            text: interner.get(text),
        }
    }

    #[inline]
    pub(crate) fn as_ref(&self) -> GroupRef<'_> {
        GroupRef {
            id: self.id,
            text: &self.text,
            shared: Some(&self.text),
        }
    }
}

/// A borrowed [`Group`], or a group read from a key's text.
#[derive(Debug, Clone, Copy)]
pub(crate) struct GroupRef<'a> {
    id: u64,
    text: &'a str,
    /// The shared text, when the group came from a [`Group`].
    shared: Option<&'a Arc<str>>,
}

impl<'a> GroupRef<'a> {
    /// The group's text.
    #[inline]
    pub(crate) fn text(&self) -> &'a str {
        self.text
    }

    fn hashed(text: &'a str) -> Self {
        Self {
            id: xxh3_64(text.as_bytes()),
            text,
            shared: None,
        }
    }
}

/// Shares the text of groups between keys, so that an entry's group is
/// compared by address on a hit. Holds at most [`Interner::MAX`] groups;
/// past that, keys keep their own copy (compared by content).
#[derive(Default)]
pub(crate) struct Interner {
    groups: RwLock<HashSet<Arc<str>, quick_cache::DefaultHashBuilder>>,
}

impl Interner {
    const MAX: usize = 4096;

    /// The shared copy of `text`.
    pub(crate) fn get(&self, text: &str) -> Arc<str> {
        let groups = self.groups.read().unwrap_or_else(PoisonError::into_inner);
        if let Some(shared) = groups.get(text) {
            return Arc::clone(shared);
        }
        let full = groups.len() >= Self::MAX;
        drop(groups);
        let shared: Arc<str> = Arc::from(text);
        if !full {
            let mut groups = self.groups.write().unwrap_or_else(PoisonError::into_inner);
            if let Some(existing) = groups.get(text) {
                return Arc::clone(existing);
            }
            groups.insert(Arc::clone(&shared));
        }
        shared
    }
}

/// A borrowed identity: what a lookup carries.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Ident<'a> {
    hash: u64,
    form: Form,
    group: GroupRef<'a>,
    tail: &'a [u8],
}

impl<'a> Ident<'a> {
    #[inline]
    pub(crate) fn new(group: GroupRef<'a>, form: Form, tail: &'a [u8]) -> Self {
        Self {
            hash: xxh3_64_with_seed(tail, group.id ^ form.salt()),
            form,
            group,
            tail,
        }
    }

    /// The table hash (also picks the shard).
    #[inline]
    pub(crate) fn hash(&self) -> u64 {
        self.hash
    }

    /// The bytes the key takes (see [`TableKey::len`]).
    pub(crate) fn len(&self) -> usize {
        self.group.text.len() + self.tail.len()
    }

    /// The key's text (for messages).
    #[cold]
    pub(crate) fn text(&self) -> String {
        let mut out = String::from(self.group.text);
        write_tail(self.form, self.tail, &mut out);
        out
    }

    /// The owned key for an insert; the group's text shared through
    /// `interner` unless it is shared already.
    pub(crate) fn to_key(self, interner: &Interner) -> TableKey {
        TableKey {
            hash: self.hash,
            form: self.form,
            group: self
                .group
                .shared
                .map_or_else(|| interner.get(self.group.text), Arc::clone),
            tail: self.tail.into(),
        }
    }
}

/// The identity of a stored entry: its (shared) group and its tail.
#[derive(Debug, Clone)]
pub(crate) struct TableKey {
    hash: u64,
    form: Form,
    group: Arc<str>,
    tail: Box<[u8]>,
}

impl TableKey {
    /// The table hash.
    #[inline]
    pub(crate) fn table_hash(&self) -> u64 {
        self.hash
    }

    /// The bytes the key takes (counted against the store's bound, as if
    /// its group were not shared).
    pub(crate) fn len(&self) -> usize {
        self.group.len() + self.tail.len()
    }

    fn group(&self) -> &[u8] {
        self.group.as_bytes()
    }

    fn tail(&self) -> &[u8] {
        &self.tail
    }

    /// The key's text (for messages, listeners and reading keys back).
    pub(crate) fn text(&self) -> String {
        let mut out = String::from_utf8_lossy(self.group()).into_owned();
        write_tail(self.form, self.tail(), &mut out);
        out
    }

    /// Whether the key's text starts with `prefix`, without rendering it.
    pub(crate) fn text_starts_with(&self, prefix: &str) -> bool {
        let prefix = prefix.as_bytes();
        let group = self.group();
        if prefix.len() <= group.len() {
            return group.starts_with(prefix);
        }
        if !prefix.starts_with(group) {
            return false;
        }
        let mut rest = &prefix[group.len()..];
        let tail = self.tail();
        match self.form {
            Form::Plain | Form::Verbatim => tail.starts_with(rest),
            Form::Digest | Form::Hex => {
                if self.form == Form::Digest {
                    match rest.split_first() {
                        Some((b'~', more)) => rest = more,
                        _ => return false,
                    }
                }
                hex_starts_with(tail, rest)
            }
        }
    }
}

/// Whether the lowercase hex of `bytes` starts with `prefix`.
fn hex_starts_with(bytes: &[u8], prefix: &[u8]) -> bool {
    if prefix.len() > 2 * bytes.len() {
        return false;
    }
    prefix
        .iter()
        .enumerate()
        .all(|(i, &c)| HEX[usize::from((bytes[i / 2] >> (4 * (1 - i % 2))) & 0x0f)] == c)
}

const HEX: &[u8; 16] = b"0123456789abcdef";

fn write_tail(form: Form, tail: &[u8], out: &mut String) {
    match form {
        Form::Plain | Form::Verbatim => out.push_str(&String::from_utf8_lossy(tail)),
        Form::Hex | Form::Digest => {
            if form == Form::Digest {
                out.push('~');
            }
            for &b in tail {
                out.push(char::from(HEX[usize::from(b >> 4)]));
                out.push(char::from(HEX[usize::from(b & 0x0f)]));
            }
        }
    }
}

impl Hash for TableKey {
    #[inline]
    fn hash<H: Hasher>(&self, state: &mut H) {
        state.write_u64(self.hash);
    }
}

impl PartialEq for TableKey {
    fn eq(&self, other: &Self) -> bool {
        self.hash == other.hash
            && self.form == other.form
            && self.tail == other.tail
            && self.group == other.group
    }
}

impl Eq for TableKey {}

impl Hash for Ident<'_> {
    #[inline]
    fn hash<H: Hasher>(&self, state: &mut H) {
        state.write_u64(self.hash);
    }
}

impl quick_cache::Equivalent<TableKey> for Ident<'_> {
    #[inline]
    fn equivalent(&self, key: &TableKey) -> bool {
        self.hash == key.hash
            && self.form == key.form
            && short_eq(&key.tail, self.tail)
            && (std::ptr::eq(key.group.as_ptr(), self.group.text.as_ptr())
                && key.group.len() == self.group.text.len()
                || *key.group == *self.group.text)
    }
}

/// Byte equality without a call to `memcmp` for the short tails most
/// keys have.
#[inline]
fn short_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    if a.len() <= 16 {
        return a.iter().zip(b).all(|(x, y)| x == y);
    }
    a == b
}

/// The hasher of the table: the keys carry their hash already.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct PassThrough;

impl std::hash::BuildHasher for PassThrough {
    type Hasher = PassThroughHasher;
    fn build_hasher(&self) -> Self::Hasher {
        PassThroughHasher(0)
    }
}

#[derive(Debug)]
pub(crate) struct PassThroughHasher(u64);

impl Hasher for PassThroughHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    #[inline]
    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
    fn write(&mut self, bytes: &[u8]) {
        // Only `write_u64` is ever called by the keys above; anything else
        // still hashes well.
        self.0 = xxh3_64_with_seed(bytes, self.0);
    }
}

/// A tail decoded from hex, kept on the stack.
#[derive(Clone, Copy)]
pub(crate) struct TailBuf {
    buf: [u8; MAX_INLINE_ARGS],
    len: usize,
}

impl TailBuf {
    pub(crate) const fn new() -> Self {
        Self {
            buf: [0; MAX_INLINE_ARGS],
            len: 0,
        }
    }

    pub(crate) fn as_slice(&self) -> &[u8] {
        &self.buf[..self.len]
    }

    /// Decodes lowercase hex; `false` (and nothing kept) for anything else
    /// or for more bytes than fit.
    fn decode_hex(&mut self, hex: &[u8]) -> bool {
        if hex.len() % 2 != 0 || hex.len() / 2 > MAX_INLINE_ARGS {
            return false;
        }
        for (i, pair) in hex.chunks_exact(2).enumerate() {
            let (Some(hi), Some(lo)) = (nibble(pair[0]), nibble(pair[1])) else {
                self.len = 0;
                return false;
            };
            self.buf[i] = (hi << 4) | lo;
        }
        self.len = hex.len() / 2;
        true
    }
}

fn nibble(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        _ => None,
    }
}

/// The identity of a key given as text (see the module docs). `buf` holds
/// a decoded tail.
pub(crate) fn parse<'a>(text: &'a str, buf: &'a mut TailBuf) -> Ident<'a> {
    let bytes = text.as_bytes();
    match bytes.iter().position(|&b| b == b'|' || b == b'#') {
        Some(at) if bytes[at] == b'|' => {
            let (group, tail) = text.split_at(at + 1);
            Ident::new(GroupRef::hashed(group), Form::Plain, tail.as_bytes())
        }
        Some(at) => {
            let colon = text.rfind(':').filter(|&c| c > at);
            if let Some(colon) = colon {
                let (group, rest) = text.split_at(colon + 1);
                let rest = rest.as_bytes();
                let (form, hex) = match rest.split_first() {
                    Some((b'~', digest)) if digest.len() == 2 * DIGEST_LEN => {
                        (Form::Digest, digest)
                    }
                    _ => (Form::Hex, rest),
                };
                if buf.decode_hex(hex) {
                    let decoded: &'a TailBuf = buf;
                    return Ident::new(GroupRef::hashed(group), form, decoded.as_slice());
                }
            }
            verbatim(text)
        }
        None => verbatim(text),
    }
}

fn verbatim(text: &str) -> Ident<'_> {
    Ident::new(GroupRef::hashed(""), Form::Verbatim, text.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn key_of(text: &str) -> TableKey {
        let mut buf = TailBuf::new();
        parse(text, &mut buf).to_key(&Interner::default())
    }

    #[test]
    fn every_form_reads_back_as_its_text() {
        let digest = format!("c#m::f:1:~{}", "ab".repeat(32));
        for text in [
            "app|user:1",
            "app|",
            "a%7Cb|x#y|z",
            "c#m::f:1:0501",
            "c#m::f:1:",
            &digest,
            "c#m::f:1:0A",
            "c#m::f:1:abc",
            "c#m::f:1:user:5",
            "plain",
            "",
            "c#nocolon",
        ] {
            assert_eq!(key_of(text).text(), text);
        }
        assert_eq!(key_of("c#m::f:1:0501").form, Form::Hex);
        assert_eq!(key_of(&digest).form, Form::Digest);
        assert_eq!(key_of("c#m::f:1:0A").form, Form::Verbatim);
        assert_eq!(key_of("app|user:1").form, Form::Plain);
    }

    #[test]
    fn a_direct_identity_equals_the_parsed_one() {
        let interner = Interner::default();
        let group = Group::new("cache#m::f:1:", &interner);
        let direct = Ident::new(group.as_ref(), Form::Hex, &[5, 1]).to_key(&interner);
        assert_eq!(direct, key_of("cache#m::f:1:0501"));
        let plain = Group::new("cache|", &interner);
        let direct = Ident::new(plain.as_ref(), Form::Plain, b"user:1").to_key(&interner);
        assert_eq!(direct, key_of("cache|user:1"));
    }

    proptest! {
        #[test]
        fn distinct_texts_never_share_an_identity(a in "[a-c|#:~0-9]{0,12}", b in "[a-c|#:~0-9]{0,12}") {
            let (ka, kb) = (key_of(&a), key_of(&b));
            prop_assert_eq!(ka.text(), a.clone());
            prop_assert_eq!(ka == kb, a == b);
        }

        #[test]
        fn prefix_checks_match_the_text(text in "[ab|#:~0-9]{0,14}", cut in 0usize..16) {
            let key = key_of(&text);
            let end = cut.min(text.len());
            let prefix = &text[..end];
            prop_assert!(key.text_starts_with(prefix));
            let other = format!("{prefix}z");
            prop_assert_eq!(key.text_starts_with(&other), text.starts_with(&other));
        }
    }
}
