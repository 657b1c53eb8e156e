//! Plugging in a store of your own: a file-system store (one file per key,
//! like Flask-Caching's `FileSystemCache`) used through `Cache` and
//! `#[memoize]` exactly like the built-in stores.
//!
//! ```text
//! cargo run --example custom_backend
//! ```
//!
//! The store itself is `cache_examples::fs_store::FileSystemStore`, in
//! `src/fs_store.rs`: read that file for the `Backend` implementation.
//! It lives in the library rather than in this example because that is
//! where a framework author's store lives: in their crate, used by their
//! applications (this example) and checked by their tests
//! (`tests/tests/custom_backend.rs` runs `cache_core::testing::conformance` on
//! it). Tests and examples cannot import each other; a library can serve
//! both without copying code or `#[path]` tricks.

use std::time::Duration;

use cache_core::{memoize, Cache};
use cache_examples::fs_store::FileSystemStore;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Profile {
    id: u64,
    name: String,
}

/// A memoized function: its entries are files too.
#[memoize(timeout = 60)]
async fn get_user_profile(user_id: u64) -> Profile {
    tokio::time::sleep(Duration::from_millis(200)).await; // a slow query, say
    Profile {
        id: user_id,
        name: format!("user {user_id}"),
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    // 1. Open the store, and hand it to a Cache like any other store. The
    //    Cache adds the key prefix, the default timeout and the codec; the
    //    store only ever sees full keys and bytes.
    let dir = tempfile::tempdir()?;
    let store = FileSystemStore::open(dir.path().join("cache"))?;
    let cache = Cache::builder()
        .backend(store.clone())
        .key_prefix("demo:")
        .default_timeout(Duration::from_secs(300))
        .build()?;
    cache.ping().await?;
    println!("entries live in {}", store.dir().display());

    // 2. Typed values go in and come out as they went in.
    let ada = Profile {
        id: 1,
        name: "Ada".into(),
    };
    cache.set("profile:1", &ada, None).await?;
    show("get profile:1", cache.get::<Profile>("profile:1").await?);

    // 3. `add` stores only if absent (atomically within this process);
    //    `incr` is an atomic counter, stored as decimal text.
    let ttl = Duration::from_secs(5);
    show("add lock (first)", cache.add("lock", &1u8, ttl).await?);
    show("add lock (second)", cache.add("lock", &2u8, ttl).await?);
    cache.incr("visits", 1).await?;
    show("incr visits (twice)", cache.incr("visits", 1).await?);

    // 4. Timeouts: the expiry is in the file's header.
    let flash = "gone soon".to_string();
    cache
        .set("flash", &flash, Duration::from_millis(300))
        .await?;
    tokio::time::sleep(Duration::from_millis(400)).await;
    show(
        "get flash, 400 ms later",
        cache.get::<String>("flash").await?,
    );

    // 5. The macros use the store once it is the global cache.
    cache_core::init(cache.clone())?;
    for _ in 0..2 {
        let started = std::time::Instant::now();
        let profile = get_user_profile(7).await;
        show("get_user_profile(7)", (profile, started.elapsed()));
    }

    // 6. One file per key, named by the SHA-256 of the key.
    let mut files: Vec<String> = std::fs::read_dir(store.dir())?
        .map(|entry| Ok(entry?.file_name().to_string_lossy().into_owned()))
        .collect::<std::io::Result<_>>()?;
    files.sort();
    show("files in the directory", &files);

    // 7. `clear` removes this cache's prefix only: another cache sharing
    //    the directory under another prefix keeps its entries.
    let other = Cache::builder()
        .backend(store.clone())
        .key_prefix("other-app:")
        .build()?;
    other.set("keep-me", &true, None).await?;
    show("clear demo:* (removed)", cache.clear().await?);
    show("other-app:keep-me", other.get::<bool>("keep-me").await?);
    show("stats", cache.stats());
    Ok(())
}

fn show(what: &str, value: impl std::fmt::Debug) {
    println!("{what:<24} -> {value:?}");
}
