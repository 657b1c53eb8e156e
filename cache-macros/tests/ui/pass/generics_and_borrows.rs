//! Generic functions (type, const and lifetime parameters, where-clauses)
//! and borrowed arguments: `&str`, `&[T]`, `&T`.
#![deny(warnings, missing_docs)]

use std::fmt::Display;
use std::sync::LazyLock;

use cache_core::{memoize, Cache};
use serde::Serialize;

static CACHE: LazyLock<Cache> =
    LazyLock::new(|| Cache::builder().key_prefix("gen:").build().unwrap());

/// One entry per `T` and per argument.
#[memoize(cache = CACHE)]
pub fn describe<T>(value: T) -> String
where
    T: Serialize + Display,
{
    format!("{value}")
}

/// `T` only in the return type.
#[memoize(cache = CACHE)]
pub fn zero<
    T: Default + Serialize + serde::de::DeserializeOwned + Clone + Send + Sync + 'static,
>() -> T {
    T::default()
}

/// A const parameter is part of the key.
#[memoize(cache = CACHE)]
pub fn repeat<const N: usize>(s: &str) -> String {
    s.repeat(N)
}

/// Borrowed arguments with an explicit lifetime.
#[memoize(cache = CACHE)]
pub async fn join<'a>(parts: &'a [&'a str], sep: &str) -> String {
    parts.join(sep)
}

/// `&T` argument.
#[memoize(cache = CACHE)]
pub fn len_of<T: Serialize + ?Sized>(value: &T) -> usize {
    std::mem::size_of_val(value)
}

/// A lifetime used only by an ignored argument disappears from `_invalidate`.
#[memoize(cache = CACHE, ignore(log))]
pub fn logged<'a>(x: u32, log: &'a str) -> u32 {
    let _ = log;
    x
}

/// An ignored `impl Trait` argument next to a type parameter.
#[memoize(cache = CACHE, ignore(log))]
pub fn tagged<T: Serialize + Display>(value: T, log: impl Fn(&str)) -> String {
    log("tagged");
    format!("{value}")
}

#[tokio::main]
async fn main() {
    assert_eq!(describe(5u8), "5");
    assert_eq!(describe("5"), "5");
    assert!(describe_invalidate(5u8).unwrap());
    assert!(!describe_invalidate(5u16).unwrap());
    assert_eq!(zero::<u32>(), 0);
    assert_eq!(zero::<String>(), "");
    assert!(zero_invalidate::<u32>().unwrap());
    assert_eq!(repeat::<2>("ab"), "abab");
    assert_eq!(repeat::<3>("ab"), "ababab");
    assert!(repeat_invalidate::<2>("ab").unwrap());
    assert!(repeat_invalidate::<3>("ab").unwrap());
    let owned = vec!["a", "b"];
    assert_eq!(join(&owned, "-").await, "a-b");
    assert!(join_invalidate(&owned, "-").await.unwrap());
    assert_eq!(len_of(&[1u8, 2, 3][..]), 3);
    assert_eq!(len_of(&7u64), 8);
    assert_eq!(logged(1, "first"), 1);
    assert_eq!(logged(1, "second"), 1);
    assert!(logged_invalidate(1).unwrap());
    assert_eq!(tagged(1u8, |_| {}), "1");
    assert_eq!(tagged(1u8, |_| unreachable!("cached")), "1");
    assert!(tagged_invalidate(1u8).unwrap());
}
