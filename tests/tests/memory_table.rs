//! The in-memory store answers for a key exactly what a store keyed by the
//! key's text would, whichever door the key comes through: the memoized hit
//! path (which never writes the text), the `Cache` API, or the `Backend`
//! trait with the text in hand.

// The memoized functions are async to be called from the tests' runtime;
// their bodies have nothing to await.
#![allow(clippy::unused_async)]

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::LazyLock;

use cache_core::backend::{Backend, Ttl};
use cache_core::bytes::Bytes;
use cache_core::{memoize, Cache, MemoryBackend};
use cache_tests::keys::{memoized_key, memoized_prefix};

static STORE: LazyLock<MemoryBackend> = LazyLock::new(MemoryBackend::new);
static CACHE: LazyLock<Cache> = LazyLock::new(|| {
    Cache::builder()
        .backend(STORE.clone())
        .key_prefix("table|#%:")
        .build()
        .unwrap()
});
/// Another cache on the same store whose prefix its keys must not meet.
static NEIGHBOUR: LazyLock<Cache> = LazyLock::new(|| {
    Cache::builder()
        .backend(STORE.clone())
        .key_prefix("table|#%")
        .build()
        .unwrap()
});

static LONG_RUNS: AtomicUsize = AtomicUsize::new(0);

/// Arguments longer than the inline limit: the key holds their digest.
#[memoize(timeout = 60, cache = CACHE)]
async fn long_args(text: String, n: u64) -> String {
    LONG_RUNS.fetch_add(1, Ordering::SeqCst);
    format!("{n}:{}", text.len())
}

#[memoize(timeout = 60, cache = NEIGHBOUR)]
async fn neighbour(text: String, n: u64) -> String {
    format!("neighbour {n}:{}", text.len())
}

fn path(name: &str) -> String {
    format!("{}::{name}", module_path!())
}

#[tokio::test]
async fn digest_and_inline_keys_are_one_entry_each_through_every_door() {
    let long = "x".repeat(200);
    for (text, n) in [(long.clone(), 1u64), (long.clone(), 2), ("short".into(), 1)] {
        let first = long_args(text.clone(), n).await;
        assert_eq!(long_args(text.clone(), n).await, first);
        assert_eq!(
            neighbour(text.clone(), n).await,
            format!("neighbour {n}:{}", text.len())
        );
        let full = memoized_key(&CACHE, &path("long_args"), 1, &(&text, &n));
        let bytes = STORE.get(&full).await.unwrap();
        assert!(bytes.is_some(), "the entry is found by its text: {full}");
        // Bytes written under that text replace the entry the hit path reads.
        let encoded =
            cache_core::codec::encode(&format!("from bytes {n}"), cache_core::Codec::Bincode)
                .unwrap();
        STORE.set(&full, encoded, Ttl::Never).await.unwrap();
        assert_eq!(long_args(text.clone(), n).await, format!("from bytes {n}"));
    }
    assert_eq!(LONG_RUNS.load(Ordering::SeqCst), 3);

    // Dropping one argument list leaves the others.
    assert!(long_args_invalidate(long.clone(), 1).await.unwrap());
    assert_eq!(long_args(long.clone(), 2).await, "from bytes 2");
    assert_eq!(long_args(long.clone(), 1).await, "1:200");
    assert_eq!(LONG_RUNS.load(Ordering::SeqCst), 4);

    // A prefix clear by text removes what the hit path wrote, and only that.
    let prefix = memoized_prefix(&CACHE, &path("long_args"), 1);
    assert_eq!(STORE.clear_prefix(&prefix).await.unwrap(), 3);
    assert_eq!(long_args("short".into(), 1).await, "1:5");
    assert_eq!(LONG_RUNS.load(Ordering::SeqCst), 5);
    assert_eq!(neighbour(long.clone(), 1).await, "neighbour 1:200");
    let other = memoized_key(&NEIGHBOUR, &path("neighbour"), 1, &(&long, &1u64));
    assert!(STORE.get(&other).await.unwrap().is_some());
}

#[tokio::test]
async fn keys_with_markers_and_binary_text_stay_apart() {
    let store = MemoryBackend::new();
    let cache = Cache::builder()
        .backend(store.clone())
        .key_prefix("p")
        .build()
        .unwrap();
    let keys = ["a|b", "a#b:00", "#", "|", "a:00", "~", "\u{0}\u{7f}", ""];
    for (i, key) in keys.iter().enumerate() {
        cache.set(key, &i, None).await.unwrap();
    }
    for (i, key) in keys.iter().enumerate() {
        assert_eq!(cache.get::<usize>(key).await.unwrap(), Some(i), "{key:?}");
        assert!(store.get(&format!("p|{key}")).await.unwrap().is_some());
    }
    // Raw keys through the trait that look like other forms are their own.
    for (i, raw) in [
        "p#f:1:00",
        "p#f:1:0",
        "p#f:1:~00",
        "p#f:1:0A",
        "p|a|b",
        "pa|b",
    ]
    .iter()
    .enumerate()
    {
        store
            .set(raw, Bytes::from(i.to_string()), Ttl::Never)
            .await
            .unwrap();
    }
    for (i, raw) in [
        "p#f:1:00",
        "p#f:1:0",
        "p#f:1:~00",
        "p#f:1:0A",
        "p|a|b",
        "pa|b",
    ]
    .iter()
    .enumerate()
    {
        assert_eq!(
            store.get(raw).await.unwrap().unwrap(),
            Bytes::from(i.to_string())
        );
    }
    // The raw write of "4" under `p|a|b` replaced the cached value: a plain
    // decimal integer reads back as one.
    assert_eq!(
        cache.get::<usize>("a|b").await.unwrap(),
        Some(4),
        "replaced by the raw write"
    );
    assert_eq!(store.clear_prefix("p#f:1:0").await.unwrap(), 3);
    assert!(store.get("p#f:1:~00").await.unwrap().is_some());
}
