//! Caching in Redis.
//!
//! Needs a running Redis server: by default `redis://127.0.0.1:6379/0`, or
//! the URL in `REDIS_URL`. For example:
//!
//! ```text
//! redis-server --port 6379 --save "" --appendonly no &
//! cargo run --example redis
//! REDIS_URL='redis://:secret@cache.internal:6380/2?response_timeout=250ms' cargo run --example redis
//! ```
//!
//! Everything it writes is under the `example:` prefix (its keys are
//! `example:|<key>`), and it removes only those keys at the end
//! (`SCAN MATCH example:|*` and `example:#*`, the memoized keys, then
//! `UNLINK`; never `FLUSHDB`), so it is safe to point at a server that
//! holds other data.

use std::time::Duration;

use cache_core::Cache;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Profile {
    id: u64,
    name: String,
}

async fn load_profile(id: u64) -> Profile {
    // Stands for a slow database query.
    tokio::time::sleep(Duration::from_millis(200)).await;
    Profile {
        id,
        name: format!("user {id}"),
    }
}

#[tokio::main]
async fn main() -> cache_core::Result<()> {
    let url = std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379/0".into());
    // Building does not connect; `ping` checks that the server answers and
    // names its address if it does not.
    let cache = Cache::builder()
        .url(&url)
        .key_prefix("example:")
        .default_timeout(Duration::from_secs(60))
        .build()?;
    if let Err(e) = cache.ping().await {
        eprintln!("{e}\n(start a server or set REDIS_URL; see the top of examples/redis.rs)");
        std::process::exit(1);
    }

    cache
        .set("greeting", &"hello".to_string(), Duration::from_secs(10))
        .await?;
    println!("greeting = {:?}", cache.get::<String>("greeting").await?);

    for round in 1..=2 {
        let started = std::time::Instant::now();
        let profile = cache
            .get_or_set_with("profile:7", None, || load_profile(7))
            .await;
        println!("round {round}: {profile:?} in {:?}", started.elapsed());
    }

    println!("visits = {}", cache.incr("visits", 1).await?);
    println!("visits = {}", cache.incr("visits", 1).await?);

    // The same operations for sync code.
    let count = tokio::task::spawn_blocking({
        let cache = cache.clone();
        move || cache.blocking().get::<i64>("visits")
    })
    .await
    .expect("the blocking task panicked")?;
    println!("visits (blocking) = {count:?}");

    println!("removed {} keys under `example:`", cache.clear().await?);
    println!("stats: {:?}", cache.stats());
    Ok(())
}
