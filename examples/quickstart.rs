//! A tour of the cache on the in-memory store: no server needed.
//!
//! ```text
//! cargo run --example quickstart
//! ```

use std::time::{Duration, Instant};

use cache_core::{memoize, Cache};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Profile {
    id: u64,
    name: String,
}

/// Stands in for a slow database query.
async fn load_profile(id: u64) -> Profile {
    tokio::time::sleep(Duration::from_millis(300)).await;
    Profile {
        id,
        name: format!("user {id}"),
    }
}

/// Memoized per argument list for 120 s, in the process-wide cache.
#[memoize(timeout = 120)]
async fn get_user_profile(user_id: u64) -> Profile {
    println!("  (loading user {user_id} from the database)");
    load_profile(user_id).await
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> cache_core::Result<()> {
    // The same builder takes `.url("redis://127.0.0.1:6379/0")` in production.
    // `init` makes it the cache that `#[memoize]` and `#[cached]` use.
    let cache = Cache::builder()
        .url("memory://?max_capacity=64MiB")
        .key_prefix("quickstart:")
        .default_timeout(Duration::from_secs(300))
        .build()?;
    cache_core::init(cache.clone())?;
    println!("cache: in-memory, prefix {:?}", cache.key_prefix());

    // set / get
    cache.set("greeting", &"hello".to_string(), None).await?;
    let greeting: Option<String> = cache.get("greeting").await?;
    show("set, then get \"greeting\"", greeting);

    // A TTL expiring
    cache
        .set("otp", &493_027u32, Duration::from_millis(500))
        .await?;
    show(
        "\"otp\" (500 ms TTL) right away",
        cache.get::<u32>("otp").await?,
    );
    tokio::time::sleep(Duration::from_millis(600)).await;
    show("\"otp\" 600 ms later", cache.get::<u32>("otp").await?);

    // get_or_set_with: compute once, then serve from the cache
    for attempt in 1..=2 {
        let started = Instant::now();
        let profile = cache
            .get_or_set_with("user:1", Duration::from_secs(120), || load_profile(1))
            .await;
        let took = started.elapsed();
        show(
            &format!("get_or_set_with \"user:1\" #{attempt}"),
            format_args!("{profile:?} in {took:.1?}"),
        );
    }

    // #[memoize]: one entry per argument list, invalidated one at a time
    let started = Instant::now();
    get_user_profile(1).await;
    get_user_profile(2).await;
    show(
        "get_user_profile(1), (2): misses",
        format_args!("{:.0?}", started.elapsed()),
    );
    let started = Instant::now();
    get_user_profile(1).await;
    get_user_profile(2).await;
    show(
        "get_user_profile(1), (2): hits",
        format_args!("{:.1?}", started.elapsed()),
    );
    get_user_profile_invalidate(2).await?;
    show(
        "get_user_profile_invalidate(2)",
        format_args!("dropped user 2 only"),
    );
    get_user_profile(1).await;
    get_user_profile(2).await;

    // Counters
    cache.incr("visits", 1).await?;
    let visits = cache.incr("visits", 1).await?;
    show("incr \"visits\" twice", visits);

    // clear: everything under this cache's prefix, nothing else
    let removed = cache.clear().await?;
    show("clear() removed keys", removed);
    show(
        "get \"user:1\" after clear()",
        cache.get::<Profile>("user:1").await?,
    );

    let stats = cache.stats();
    println!(
        "stats: {} hits, {} misses, {} sets, {} errors",
        stats.hits, stats.misses, stats.sets, stats.errors
    );
    Ok(())
}

fn show(label: &str, value: impl std::fmt::Debug) {
    println!("{label:<34} -> {value:?}");
}
