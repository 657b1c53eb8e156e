//! `Result` and `Option` returns, aliases with `result` / `option`,
//! `cache_none`, and `return` / `?` inside the body.
#![deny(warnings, missing_docs)]

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::LazyLock;

use cache_core::{memoize, Cache};

static CACHE: LazyLock<Cache> =
    LazyLock::new(|| Cache::builder().key_prefix("ret:").build().unwrap());
static RUNS: AtomicU32 = AtomicU32::new(0);

/// A fallible lookup.
#[memoize(cache = CACHE)]
pub fn parse(s: &str) -> Result<u32, std::num::ParseIntError> {
    RUNS.fetch_add(1, Ordering::SeqCst);
    let n: u32 = s.parse()?;
    if n == 0 {
        return Ok(1);
    }
    Ok(n)
}

/// `io::Result` is a `Result` by its last segment.
#[memoize(cache = CACHE)]
pub async fn read(path: String) -> std::io::Result<String> {
    Err(std::io::Error::other(path))
}

/// An alias that hides `Result`.
pub type Fallible = Result<u8, String>;

/// `result` forces the `Result` rule.
#[memoize(cache = CACHE, result)]
pub fn checked(x: u8) -> Fallible {
    x.checked_add(200).ok_or_else(|| "overflow".to_string())
}

/// An alias that hides `Option`.
pub type Maybe = Option<u8>;

/// `option` forces the `Option` rule.
#[memoize(cache = CACHE, option)]
pub async fn half(x: u8) -> Maybe {
    (x % 2 == 0).then_some(x / 2)
}

/// `None` is stored too.
#[memoize(cache = CACHE, cache_none)]
pub fn find(id: u32) -> Option<String> {
    RUNS.fetch_add(1, Ordering::SeqCst);
    (id == 1).then(|| "one".to_string())
}

/// `()` is a value like any other.
#[memoize(cache = CACHE)]
pub fn side_effect(id: u32) {
    RUNS.fetch_add(id, Ordering::SeqCst);
}

#[tokio::main]
async fn main() {
    assert_eq!(parse("7"), Ok(7));
    assert_eq!(parse("7"), Ok(7));
    assert_eq!(parse("0"), Ok(1));
    assert!(parse("x").is_err());
    assert!(parse("x").is_err());
    assert_eq!(RUNS.swap(0, Ordering::SeqCst), 4);
    assert!(read("nope".into()).await.is_err());
    assert!(read_invalidate("nope".into()).await.is_ok());
    assert_eq!(checked(1), Ok(201));
    assert!(checked(100).is_err());
    assert!(!checked_invalidate(100).unwrap());
    assert_eq!(half(4).await, Some(2));
    assert_eq!(half(3).await, None);
    assert!(!half_invalidate(3).await.unwrap());
    assert_eq!(find(2), None);
    assert_eq!(find(2), None);
    assert_eq!(RUNS.swap(0, Ordering::SeqCst), 1);
    side_effect(5);
    side_effect(5);
    assert_eq!(RUNS.load(Ordering::SeqCst), 5);
}
