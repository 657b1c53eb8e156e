//! Sync and async free functions, with the generated helpers.
#![deny(warnings, missing_docs)]

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::LazyLock;

use cache_core::{memoize, Cache};

static CACHE: LazyLock<Cache> =
    LazyLock::new(|| Cache::builder().key_prefix("free:").build().unwrap());
static RUNS: AtomicU32 = AtomicU32::new(0);

/// A sync function.
#[memoize(cache = CACHE)]
pub fn square(x: u64) -> u64 {
    RUNS.fetch_add(1, Ordering::SeqCst);
    x * x
}

/// An async function.
#[memoize(cache = CACHE, timeout = 60)]
pub async fn cube(x: u64) -> u64 {
    RUNS.fetch_add(1, Ordering::SeqCst);
    tokio::task::yield_now().await;
    x * x * x
}

#[memoize(cache = CACHE)]
fn private_fn(x: u64) -> u64 {
    x + 1
}

#[tokio::main]
async fn main() {
    assert_eq!(square(3), 9);
    assert_eq!(square(3), 9);
    assert_eq!(RUNS.load(Ordering::SeqCst), 1);
    let stats = square_stats();
    assert_eq!((stats.hits, stats.misses, stats.compute.count), (1, 1, 1));
    assert!(square_invalidate(3).unwrap());
    assert!(!square_invalidate(3).unwrap());
    assert_eq!(square_refresh(4), 16);
    assert_eq!(square_uncached(5), 25);
    assert_eq!(square_invalidate_all().unwrap(), 1);

    assert_eq!(cube(2).await, 8);
    assert_eq!(cube(2).await, 8);
    assert_eq!(cube_stats().hits, 1);
    assert_eq!(private_fn_stats().misses, 0, "not called yet");
    assert_eq!(RUNS.load(Ordering::SeqCst), 4); // square: 3, refresh(4), uncached(5); cube: 2
    assert!(cube_invalidate(2).await.unwrap());
    assert_eq!(cube_refresh(3).await, 27);
    assert_eq!(cube_uncached(3).await, 27);
    assert_eq!(cube_invalidate_all().await.unwrap(), 1);

    assert_eq!(private_fn(1), 2);
}
