//! Hostile input at the two places it enters the crate: bytes read back
//! from a store (`codec::decode`), and function arguments turned into keys
//! (`key::write_function_key`).
//!
//! A store is shared and can hold anything (another release, another
//! language, an attacker with write access), so decoding must fail cleanly
//! and cheaply. Arguments come from requests, so keys must stay under the
//! function's prefix, free of characters a store treats specially, short,
//! and distinct for distinct arguments.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt::Debug;
use std::time::{Duration, Instant};

use cache_core::codec::{decode, encode, MAX_VALUE_SIZE};
use cache_core::key::{write_args, write_function_key, write_function_prefix, MAX_INLINE_ARGS};
use cache_core::{Codec, ErrorKind};
use proptest::collection::vec;
use proptest::prelude::*;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

// --- Decoding ------------------------------------------------------------------

/// The envelope's format bytes (see `codec.rs`): bincode, JSON.
const BINCODE: u8 = 0x01;
const JSON: u8 = 0x02;

/// Every codec this build has.
const CODECS: &[Codec] = &[
    Codec::Bincode,
    #[cfg(feature = "json")]
    Codec::Json,
];

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Profile {
    name: String,
    scores: Vec<u32>,
    manager: Option<u64>,
}

/// Decodes `bytes` as a `T`. When that succeeds, the value must survive a
/// round trip through every codec; when it fails, the error must say it is
/// a codec problem (or a size problem).
fn decode_checked<T>(bytes: &[u8]) -> Option<T>
where
    T: Serialize + DeserializeOwned + PartialEq + Debug,
{
    match decode::<T>(bytes) {
        Ok(value) => {
            for &codec in CODECS {
                let encoded = encode(&value, codec).unwrap_or_else(|e| {
                    panic!("{value:?} was decoded from {bytes:?} but cannot be encoded: {e}")
                });
                assert_eq!(
                    decode::<T>(&encoded).unwrap(),
                    value,
                    "{codec:?} round trip of a value decoded from {bytes:?}"
                );
            }
            Some(value)
        }
        Err(e) => {
            assert!(
                matches!(e.kind(), ErrorKind::Codec | ErrorKind::TooLarge),
                "decoding {bytes:?} failed with {:?}: {e}",
                e.kind()
            );
            None
        }
    }
}

fn decode_as_every_type(bytes: &[u8]) {
    decode_checked::<u64>(bytes);
    decode_checked::<i64>(bytes);
    decode_checked::<u8>(bytes);
    decode_checked::<bool>(bytes);
    decode_checked::<String>(bytes);
    decode_checked::<Vec<u8>>(bytes);
    decode_checked::<Vec<String>>(bytes);
    decode_checked::<Profile>(bytes);
    decode_checked::<Option<Profile>>(bytes);
    decode_checked::<HashMap<String, u64>>(bytes);
    decode_checked::<(char, Option<Vec<u64>>)>(bytes);
}

/// Random bytes, and random bytes behind each format byte (plain random
/// bytes almost never start with one), and decimal-looking text.
fn stored_bytes() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        vec(any::<u8>(), 0..64),
        vec(any::<u8>(), 0..64).prop_map(|b| [&[BINCODE][..], &b].concat()),
        vec(any::<u8>(), 0..64).prop_map(|b| [&[JSON][..], &b].concat()),
        "[-+]?[0-9]{0,25}".prop_map(String::into_bytes),
        "[\\[\\]{}\":,0-9a-z\\\\ -]{0,40}".prop_map(|s| [&[JSON][..], s.as_bytes()].concat()),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1_000))]

    #[test]
    fn arbitrary_stored_bytes_decode_cleanly_or_fail_as_codec_errors(bytes in stored_bytes()) {
        decode_as_every_type(&bytes);
    }

    #[test]
    fn a_valid_value_truncated_or_extended_is_an_error_never_another_value(
        name in ".{0,12}",
        scores in vec(any::<u32>(), 0..6),
        manager in any::<Option<u64>>(),
        extra in vec(any::<u8>(), 1..4),
    ) {
        let profile = Profile { name, scores, manager };
        let bytes = encode(&profile, Codec::Bincode).unwrap();
        prop_assert_eq!(decode_checked::<Profile>(&bytes), Some(profile));
        for end in 0..bytes.len() {
            prop_assert_eq!(
                decode_checked::<Profile>(&bytes[..end]),
                None,
                "a value cut to {} of {} bytes was accepted",
                end,
                bytes.len()
            );
        }
        let longer = [&bytes[..], &extra].concat();
        prop_assert_eq!(decode_checked::<Profile>(&longer), None, "trailing bytes were ignored");
    }
}

#[test]
fn corrupt_values_seen_in_the_wild_are_codec_errors() {
    let cases: [&[u8]; 12] = [
        b"",
        b"\x01",
        b"\x02",
        b"\x01\xff",
        b"\x02{",
        b"\x02\xff\xfe",
        b" 12",
        b"12 ",
        b"1e3",
        b"99999999999999999999999",
        b"-",
        b"\x00\x00\x00",
    ];
    for bytes in cases {
        let err = decode::<Profile>(bytes).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Codec, "{bytes:?}: {err}");
        decode_as_every_type(bytes);
    }
}

#[test]
fn deeply_nested_json_is_refused_without_overflowing_the_stack() {
    for open in ["[", "{\"a\":"] {
        let mut bytes = vec![JSON];
        bytes.extend_from_slice(b"{\"name\":\"a\",\"scores\":[],\"manager\":null,\"extra\":");
        bytes.extend(open.repeat(200_000).bytes());
        let err = decode::<Profile>(&bytes).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Codec, "{err}");
        let mut list = vec![JSON];
        list.extend(open.repeat(200_000).bytes());
        assert_eq!(
            decode::<Vec<Vec<u8>>>(&list).unwrap_err().kind(),
            ErrorKind::Codec
        );
    }
}

/// Bincode's varint (standard configuration): one byte below 251, else a
/// marker (251: u16, 252: u32, 253: u64) and the little-endian integer.
fn varint(n: u64) -> Vec<u8> {
    if n < 251 {
        vec![u8::try_from(n).unwrap()]
    } else if let Ok(n) = u16::try_from(n) {
        [&[251u8][..], &n.to_le_bytes()].concat()
    } else if let Ok(n) = u32::try_from(n) {
        [&[252u8][..], &n.to_le_bytes()].concat()
    } else {
        [&[253u8][..], &n.to_le_bytes()].concat()
    }
}

/// Lengths a crafted value can claim: over the 64 MiB bound, in gigabytes
/// and more.
fn huge_lengths() -> Vec<u64> {
    vec![
        u64::try_from(MAX_VALUE_SIZE).unwrap() + 1,
        1 << 30,
        (1 << 32) - 1,
        1 << 40,
        u64::MAX / 2,
        u64::MAX,
    ]
}

/// Values whose first length claims `len`: a string, a byte vector, a
/// vector of integers, a map, a nested vector, and a struct's string.
fn crafted(len: u64) -> Vec<(&'static str, Vec<u8>)> {
    let claim = varint(len);
    let with = |head: &[u8]| [&[BINCODE][..], head, &claim, b"abc"].concat();
    vec![
        ("String", with(&[])),
        ("Vec<u8>", with(&[])),
        ("Vec<u64>", with(&[])),
        ("Vec<String>", with(&[])),
        ("HashMap<String, u64>", with(&[])),
        ("Vec<Vec<u8>> (inner)", with(&[2])),
        ("Profile.name", with(&[])),
        ("Option<String>", with(&[1])),
    ]
}

fn decode_crafted(what: &str, bytes: &[u8]) -> Option<cache_core::Error> {
    match what {
        "String" => decode::<String>(bytes).err(),
        "Vec<u8>" => decode::<Vec<u8>>(bytes).err(),
        "Vec<u64>" => decode::<Vec<u64>>(bytes).err(),
        "Vec<String>" => decode::<Vec<String>>(bytes).err(),
        "HashMap<String, u64>" => decode::<HashMap<String, u64>>(bytes).err(),
        "Vec<Vec<u8>> (inner)" => decode::<Vec<Vec<u8>>>(bytes).err(),
        "Profile.name" => decode::<Profile>(bytes).err(),
        "Option<String>" => decode::<Option<String>>(bytes).err(),
        _ => unreachable!("{what}"),
    }
}

fn assert_crafted_lengths_are_refused() {
    let started = Instant::now();
    for len in huge_lengths() {
        for (what, bytes) in crafted(len) {
            let err = decode_crafted(what, &bytes)
                .unwrap_or_else(|| panic!("{what} claiming {len} bytes decoded"));
            assert_eq!(err.kind(), ErrorKind::Codec, "{what}, {len}: {err}");
        }
    }
    // A claim within the bound, but far beyond the bytes present.
    for (what, bytes) in crafted(u64::try_from(MAX_VALUE_SIZE).unwrap()) {
        let err = decode_crafted(what, &bytes)
            .unwrap_or_else(|| panic!("{what} claiming {MAX_VALUE_SIZE} bytes decoded"));
        assert_eq!(err.kind(), ErrorKind::Codec, "{what}: {err}");
    }
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "refusing crafted lengths took {:?}",
        started.elapsed()
    );
}

/// Set in the child process that runs the crafted-length checks under a
/// virtual memory limit.
const UNDER_MEMORY_LIMIT: &str = "CACHE_CORE_HOSTILE_INPUT_UNDER_ULIMIT";

/// In process first (fast error, right kind), then again in a copy of this
/// test binary run under `ulimit -v` of 512 MiB: an allocation of the
/// gigabytes a crafted prefix claims would abort that process.
#[test]
fn a_crafted_length_prefix_claiming_gigabytes_is_refused_quickly_without_allocating_it() {
    assert_crafted_lengths_are_refused();
    if std::env::var_os(UNDER_MEMORY_LIMIT).is_some() || !cfg!(target_os = "linux") {
        return;
    }
    let exe = std::env::current_exe().unwrap();
    let output = std::process::Command::new("sh")
        .arg("-c")
        .arg("ulimit -v 524288 && exec \"$0\" \"$@\"")
        .arg(exe)
        .args([
            "--exact",
            "a_crafted_length_prefix_claiming_gigabytes_is_refused_quickly_without_allocating_it",
            "--test-threads=1",
        ])
        .env(UNDER_MEMORY_LIMIT, "1")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success() && stdout.contains("1 passed"),
        "under a 512 MiB address-space limit: {}\n{stdout}\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
}

// --- Keys ----------------------------------------------------------------------

const PATH: &str = "shop::get_user_profile";
const VERSION: u32 = 3;

fn prefix() -> String {
    let mut prefix = String::new();
    write_function_prefix(&mut prefix, PATH, VERSION);
    prefix
}

fn key<A: Serialize + ?Sized>(args: &A) -> String {
    let mut out = String::new();
    write_function_key(&mut out, PATH, VERSION, args).unwrap();
    out
}

fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    bytes.iter().fold(String::new(), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

fn bincode<A: Serialize + ?Sized>(args: &A) -> Vec<u8> {
    bincode::serde::encode_to_vec(args, bincode::config::standard()).unwrap()
}

/// The documented argument part: the lowercase hex of the arguments'
/// canonical encoding (bincode's standard configuration, map entries
/// sorted) up to `MAX_INLINE_ARGS` bytes, else `~` and the hex SHA-256 of
/// that encoding.
fn documented_args_part(encoding: &[u8]) -> String {
    if encoding.len() <= MAX_INLINE_ARGS {
        hex(encoding)
    } else {
        format!("~{}", hex(&Sha256::digest(encoding)))
    }
}

/// Checks every guarantee of a key for `args` (which hold no map); returns it.
fn checked_key<A: Serialize + ?Sized>(args: &A) -> String {
    checked_key_encoded(args, &bincode(args))
}

/// [`checked_key`] for arguments whose canonical encoding is `encoding`.
fn checked_key_encoded<A: Serialize + ?Sized>(args: &A, encoding: &[u8]) -> String {
    let key = key(args);
    let prefix = prefix();
    let Some(rest) = key.strip_prefix(&prefix) else {
        panic!("{key:?} does not start with the function prefix {prefix:?}");
    };
    let hex_digits = |s: &str| s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
    match rest.strip_prefix('~') {
        Some(digest) => assert!(
            digest.len() == 64 && hex_digits(digest),
            "hashed part of {key:?} is not 64 lowercase hex digits"
        ),
        None => assert!(
            rest.len() % 2 == 0 && rest.len() <= 2 * MAX_INLINE_ARGS && hex_digits(rest),
            "inline part of {key:?} is not at most {MAX_INLINE_ARGS} bytes of lowercase hex"
        ),
    }
    assert!(
        !rest
            .chars()
            .any(|c| c.is_control() || c.is_whitespace() || "*?[]^\\:{}\"'".contains(c)),
        "{key:?} has a glob, separator, quote, space or control character after its prefix"
    );
    assert!(
        key.len() <= prefix.len() + 2 * MAX_INLINE_ARGS,
        "{key:?} is longer than the bound"
    );
    assert_eq!(rest, documented_args_part(encoding), "for {key:?}");
    let mut only_args = String::new();
    write_args(&mut only_args, args).unwrap();
    assert_eq!(only_args, rest, "write_args writes the argument part");
    key
}

/// Strings built from the characters that break naive keys.
fn hostile_string() -> impl Strategy<Value = String> {
    let pieces = prop_oneof![
        Just(":".to_string()),
        Just("*".to_string()),
        Just("?".to_string()),
        Just("[".to_string()),
        Just("]".to_string()),
        Just("\n".to_string()),
        Just("\r".to_string()),
        Just("\0".to_string()),
        Just(" ".to_string()),
        Just("\\".to_string()),
        Just("{a}".to_string()),
        Just("é".to_string()),
        Just("\u{202e}".to_string()),
        any::<char>().prop_map(String::from),
        "[a-z]{1,4}",
    ];
    vec(pieces, 0..24).prop_map(|p| p.concat())
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
struct Filter {
    name: String,
    tags: Vec<String>,
    raw: Vec<u8>,
    limit: Option<u32>,
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn hostile_strings_never_escape_the_key_alphabet(a in hostile_string(), b in hostile_string()) {
        checked_key(&(&a,));
        checked_key(&(&a, &b));
        checked_key(&(a.as_str(), 7u64, b.as_str()));
    }

    #[test]
    fn non_utf8_bytes_never_escape_the_key_alphabet(
        bytes in vec(any::<u8>(), 0..200),
        n in any::<u64>(),
    ) {
        checked_key(&(bytes.as_slice(),));
        checked_key(&(&bytes, n));
        checked_key(&(n, bytes.as_slice(), Some(bytes.clone())));
    }

    #[test]
    fn nested_arguments_never_escape_the_key_alphabet(
        name in hostile_string(),
        tags in vec(hostile_string(), 0..4),
        raw in vec(any::<u8>(), 0..16),
        limit in any::<Option<u32>>(),
        extra in proptest::collection::btree_map(hostile_string(), any::<i64>(), 0..3),
    ) {
        let filter = Filter { name, tags, raw, limit };
        checked_key(&(&filter,));
        // A map's entries are sorted by their encoded bytes.
        let mut entries: Vec<Vec<u8>> = extra
            .iter()
            .map(|(k, v)| [bincode(k), bincode(v)].concat())
            .collect();
        entries.sort();
        let encoding = [bincode(&filter), bincode(&entries.len()), entries.concat()].concat();
        checked_key_encoded(&(&filter, &extra), &encoding);
        checked_key(&(vec![filter.clone(), filter], ()));
    }
}

#[test]
fn megabyte_arguments_give_a_hashed_key_of_fixed_length() {
    let text = ":*?[]\n\r\0 é\u{202e}~".repeat(70_000);
    let raw: Vec<u8> = (0..=255u8).cycle().take(1 << 20).collect();
    assert!(text.len() >= 1 << 20 && std::str::from_utf8(&raw).is_err());
    let hashed = prefix().len() + 65;
    assert_eq!(checked_key(&(&text,)).len(), hashed);
    assert_eq!(checked_key(&(raw.as_slice(),)).len(), hashed);
    assert_eq!(key(&(&text, &raw, u64::MAX)).len(), hashed);
    // One more character at the end is another key.
    let mut longer = text.clone();
    longer.push('x');
    assert_ne!(key(&(&text,)), key(&(&longer,)));
}

#[test]
fn the_inline_form_ends_exactly_at_the_documented_size() {
    // A string of n bytes encodes as 1 length byte + n bytes.
    let at_limit = checked_key(&("x".repeat(MAX_INLINE_ARGS - 1),));
    assert_eq!(at_limit.len(), prefix().len() + 2 * MAX_INLINE_ARGS);
    let over = checked_key(&("x".repeat(MAX_INLINE_ARGS),));
    assert_eq!(over.len(), prefix().len() + 65);
}

#[test]
fn look_alike_argument_lists_get_different_keys() {
    type Two = (&'static str, &'static str);
    let pairs: [(Two, Two); 7] = [
        (("a:b", "c"), ("a", "b:c")),
        (("ab", "c"), ("a", "bc")),
        (("", "x"), ("x", "")),
        (("a*", ""), ("a", "*")),
        (("a\0", "b"), ("a", "\0b")),
        (("\n", "\r"), ("\n\r", "")),
        (("a", "b"), ("b", "a")),
    ];
    for (left, right) in pairs {
        assert_ne!(
            checked_key(&left),
            checked_key(&right),
            "{left:?} / {right:?}"
        );
    }
    // The same, past the inline limit (hashed keys).
    let (long, shorter) = ("x".repeat(60), "x".repeat(59));
    assert_ne!(
        checked_key(&(long.as_str(), "y")),
        checked_key(&(shorter.as_str(), "xy"))
    );
    // Numbers next to strings: a varint that could be read as a length.
    assert_ne!(checked_key(&(1u64, "")), checked_key(&(1u64, "\0")));
    assert_ne!(checked_key(&(0u64, "a")), checked_key(&(97u64, "")));
    assert_ne!(checked_key(&(251u64, "")), checked_key(&(1u64, "\u{fb}")));
    assert_ne!(
        checked_key(&(None::<u8>, 0u8)),
        checked_key(&(Some(0u8), 0u8))
    );
    assert_ne!(
        checked_key(&(vec!["a", "b"], vec!["c"])),
        checked_key(&(vec!["a"], vec!["b", "c"]))
    );
}

/// A small xorshift generator: the same sequence on every run.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: usize) -> usize {
        usize::try_from(self.next() % u64::try_from(n).unwrap()).unwrap()
    }
}

/// Pieces that make distinct argument lists look alike once concatenated.
const PIECES: [&str; 16] = [
    "", "a", "b", ":", "::", "*", "?", "[", "\n", "\r", "\0", " ", "é", "a:b", "~", "0",
];

fn text(rng: &mut Rng) -> String {
    let mut s: String = (0..rng.below(4))
        .map(|_| PIECES[rng.below(PIECES.len())])
        .collect();
    if rng.below(16) == 0 {
        // Past the inline limit: the hashed form.
        s.push_str(&"long:".repeat(12));
    }
    s
}

fn raw(rng: &mut Rng) -> Vec<u8> {
    const BYTES: [u8; 6] = [0x00, b':', b'*', 0x80, 0xfe, 0xff];
    (0..rng.below(4))
        .map(|_| BYTES[rng.below(BYTES.len())])
        .collect()
}

#[test]
fn two_hundred_thousand_distinct_argument_lists_get_two_hundred_thousand_keys() {
    type Args = (String, String, u64, Vec<u8>, Option<u32>);
    const N: usize = 200_000;
    let numbers = [0u64, 1, 58, 97, 250, 251, 256, u64::MAX];
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let mut lists: HashSet<Args> = HashSet::with_capacity(N);
    while lists.len() < N {
        let option = match rng.below(3) {
            0 => None,
            1 => Some(0),
            _ => Some(u32::try_from(rng.below(300)).unwrap()),
        };
        lists.insert((
            text(&mut rng),
            text(&mut rng),
            numbers[rng.below(numbers.len())],
            raw(&mut rng),
            option,
        ));
    }
    let mut keys: HashMap<String, &Args> = HashMap::with_capacity(N);
    let mut hashed = 0;
    for args in &lists {
        let key = key(args);
        hashed += usize::from(key.contains('~'));
        if let Some(other) = keys.insert(key, args) {
            panic!("{args:?} and {other:?} share a key");
        }
    }
    assert_eq!(keys.len(), N);
    assert!(
        hashed > N / 20 && hashed < N - N / 20,
        "both key forms are exercised: {hashed} of {N} hashed"
    );
    // Spot-check the guarantees on a sample of them.
    for args in lists.iter().step_by(997) {
        checked_key(args);
    }
}

#[test]
fn btree_map_arguments_give_one_key_whatever_the_insertion_order() {
    let ordered: BTreeMap<&str, u8> = [("b", 2), ("a", 1)].into_iter().collect();
    let same: BTreeMap<&str, u8> = [("a", 1), ("b", 2)].into_iter().collect();
    assert_eq!(checked_key(&(&ordered,)), checked_key(&(&same,)));
}
