//! Hostile argument values turned into keys with `key::write_function_key`.
//!
//! Properties, for every argument shape a memoized function could have:
//! - building a key never panics and never fails for these types;
//! - the key starts with `<fn path>:<version>:` (the function prefix that
//!   `<fn>_invalidate_all` clears);
//! - the part after it is lowercase hex of at most
//!   `2 * MAX_INLINE_ARGS` characters, or `~` and 64 hex characters (the
//!   SHA-256 form): no glob, control or separator character, bounded length;
//! - the same arguments always give the same key, and two different
//!   argument values of one shape never share a key (the fuzzer builds the
//!   second value independently, and also by moving bytes between adjacent
//!   arguments, the classic `("a:b", "c")` / `("a", "b:c")` confusion).

#![no_main]

use arbitrary::Arbitrary;
use cache_core::key::{write_args, write_function_key, write_function_prefix, MAX_INLINE_ARGS};
use libfuzzer_sys::fuzz_target;
use serde::Serialize;

/// A nested argument: a struct holding collections and options.
#[derive(Arbitrary, Debug, Clone, PartialEq, Serialize)]
struct Filter {
    name: String,
    tags: Vec<String>,
    limit: Option<u32>,
    raw: Vec<u8>,
}

/// An enum argument (variant index and payload both reach the key).
#[derive(Arbitrary, Debug, Clone, PartialEq, Serialize)]
enum Scope {
    All,
    User(u64),
    Named(String),
    Pair(String, String),
}

/// One argument list; both sides of a pair have the same shape, as the
/// calls of one function do.
#[derive(Arbitrary, Debug, Clone, PartialEq)]
enum Args {
    One(String),
    Two(String, String),
    Three(String, String, String),
    Bytes(Vec<u8>),
    BytesAndText(Vec<u8>, String),
    Mixed(u64, String, i32, bool),
    Wide(u128, i64, u16, char),
    Nested(Vec<(String, Option<u32>)>, Filter),
    Scoped(Scope, Option<String>),
    Deep(Vec<Vec<String>>),
}

#[derive(Arbitrary, Debug)]
struct Input {
    path: String,
    version: u32,
    left: Args,
    right: Args,
    /// Where to cut when moving bytes between adjacent string arguments.
    shift: u16,
}

/// `<path>:<version>:<args>` when `function` is given, `<args>` alone
/// (through `write_args`) otherwise.
fn write<A: Serialize + ?Sized>(
    out: &mut String,
    function: Option<(&str, u32)>,
    args: &A,
) -> cache_core::Result<()> {
    match function {
        Some((path, version)) => write_function_key(out, path, version, args),
        None => write_args(out, args),
    }
}

#[allow(clippy::many_single_char_names)]
fn build(function: Option<(&str, u32)>, args: &Args) -> String {
    let mut key = String::new();
    let f = function;
    let result = match args {
        Args::One(a) => write(&mut key, f, &(a,)),
        Args::Two(a, b) => write(&mut key, f, &(a, b)),
        Args::Three(a, b, c) => write(&mut key, f, &(a, b, c)),
        Args::Bytes(a) => write(&mut key, f, &(a.as_slice(),)),
        Args::BytesAndText(a, b) => write(&mut key, f, &(a, b)),
        Args::Mixed(a, b, c, d) => write(&mut key, f, &(a, b, c, d)),
        Args::Wide(a, b, c, d) => write(&mut key, f, &(a, b, c, d)),
        Args::Nested(a, b) => write(&mut key, f, &(a, b)),
        Args::Scoped(a, b) => write(&mut key, f, &(a, b)),
        Args::Deep(a) => write(&mut key, f, &(a,)),
    };
    if let Err(e) = result {
        panic!("key of {args:?} could not be built: {e}");
    }
    key
}

fn key_of(path: &str, version: u32, args: &Args) -> String {
    build(Some((path, version)), args)
}

fn shape(args: &Args) -> std::mem::Discriminant<Args> {
    std::mem::discriminant(args)
}

/// The bytes of `a` and `b` redistributed at another cut (same
/// concatenation, different split), when the cut lands on a char boundary.
fn moved(a: &str, b: &str, shift: u16) -> Option<(String, String)> {
    let joined = format!("{a}{b}");
    let cut = usize::from(shift) % (joined.len() + 1);
    if cut == a.len() || !joined.is_char_boundary(cut) {
        return None;
    }
    Some((joined[..cut].to_owned(), joined[cut..].to_owned()))
}

fn check_key(path: &str, version: u32, args: &Args, key: &str) {
    let mut prefix = String::new();
    write_function_prefix(&mut prefix, path, version);
    let rest = key
        .strip_prefix(prefix.as_str())
        .unwrap_or_else(|| panic!("key {key:?} does not start with {prefix:?} for {args:?}"));
    let is_hex = |s: &str| s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
    if let Some(hash) = rest.strip_prefix('~') {
        assert!(
            hash.len() == 64 && is_hex(hash),
            "hashed argument part {rest:?} is not `~` and 64 hex digits"
        );
    } else {
        assert!(
            rest.len().is_multiple_of(2) && rest.len() <= 2 * MAX_INLINE_ARGS && is_hex(rest),
            "inline argument part {rest:?} is not at most {MAX_INLINE_ARGS} hex bytes"
        );
    }
    assert_eq!(
        build(None, args),
        rest,
        "`write_args` alone does not write the argument part of the key"
    );
}

fn check_pair(path: &str, version: u32, left: &Args, right: &Args) {
    let (kl, kr) = (key_of(path, version, left), key_of(path, version, right));
    if left == right {
        assert_eq!(kl, kr, "equal arguments {left:?} gave two keys");
    } else {
        assert_ne!(kl, kr, "{left:?} and {right:?} share the key {kl}");
    }
}

fuzz_target!(|input: Input| {
    let Input {
        path,
        version,
        left,
        right,
        shift,
    } = input;
    let left_key = key_of(&path, version, &left);
    check_key(&path, version, &left, &left_key);
    assert_eq!(
        left_key,
        key_of(&path, version, &left),
        "keys are deterministic"
    );

    if shape(&left) == shape(&right) {
        check_pair(&path, version, &left, &right);
    }
    let confusable = match &left {
        Args::Two(a, b) => moved(a, b, shift).map(|(a, b)| Args::Two(a, b)),
        Args::Three(a, b, c) => moved(b, c, shift).map(|(b, c)| Args::Three(a.clone(), b, c)),
        _ => None,
    };
    if let Some(confusable) = confusable {
        check_pair(&path, version, &left, &confusable);
    }
});
