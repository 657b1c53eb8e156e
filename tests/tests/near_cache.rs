//! The near cache (L1) in front of a standalone Redis: hits served in
//! process, kept coherent by `CLIENT TRACKING` invalidations, flushed and
//! unused while the invalidation connection is down, bounded by bytes,
//! and usable by an ACL user with only the permissions it needs.
//!
//! Two caches with their own near caches stand for two processes (each
//! has its own tracking connection); the multi-process check with real
//! child processes is in `near_cache_processes.rs`.

use std::time::{Duration, Instant};

use cache_core::{Cache, ErrorKind};
use cache_tests::redis_server::RedisServer;

const NEAR: u64 = 4 << 20;

fn near_cache(server: &RedisServer) -> Cache {
    Cache::builder()
        .url(format!("{}?response_timeout=500ms", server.url()))
        .key_prefix("app")
        .near_cache(NEAR)
        .build()
        .unwrap()
}

/// Waits (at most 10 s) until `cache`'s tracking connection is up.
async fn tracking(cache: &Cache) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !cache.near_cache_stats().unwrap().tracking {
        assert!(Instant::now() < deadline, "tracking never came up");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Polls `read` until it gives `want`, for at most 2 s (far above the
/// invalidation lag on loopback, measured by the benches); returns whether
/// it did.
async fn eventually<F, Fut>(want: Option<u64>, mut read: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<u64>>,
{
    let deadline = Instant::now() + Duration::from_secs(2);
    loop {
        if read().await == want {
            return true;
        }
        if Instant::now() > deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

#[tokio::test]
async fn hits_are_served_in_process_and_writes_elsewhere_evict_them() {
    let server = RedisServer::start();
    let (a, b) = (near_cache(&server), near_cache(&server));
    tracking(&a).await;
    tracking(&b).await;
    b.set("k", &1u64, None).await.unwrap();
    invalidated(&a, 1).await;
    filled(&a, "k", 1).await;
    // Served from L1: the server no longer has it, and A still answers.
    let before = server.cli(&["INFO", "stats"]);
    let hits_before = keyspace_hits(&before);
    for _ in 0..100 {
        assert_eq!(a.get::<u64>("k").await.unwrap(), Some(1));
    }
    assert_eq!(
        keyspace_hits(&server.cli(&["INFO", "stats"])),
        hits_before,
        "no read reached Redis"
    );

    // Another process's write, delete, and a raw write by anyone.
    b.set("k", &2u64, None).await.unwrap();
    assert!(eventually(Some(2), || async { a.get::<u64>("k").await.unwrap() }).await);
    b.delete("k").await.unwrap();
    assert!(eventually(None, || async { a.get::<u64>("k").await.unwrap() }).await);
    b.set("k", &3u64, None).await.unwrap();
    assert!(eventually(Some(3), || async { a.get::<u64>("k").await.unwrap() }).await);
    server.cli(&["DEL", "app|k"]);
    assert!(eventually(None, || async { a.get::<u64>("k").await.unwrap() }).await);
    // clear() elsewhere, and FLUSHDB.
    b.set("k", &4u64, None).await.unwrap();
    assert!(eventually(Some(4), || async { a.get::<u64>("k").await.unwrap() }).await);
    b.clear().await.unwrap();
    assert!(eventually(None, || async { a.get::<u64>("k").await.unwrap() }).await);
    b.set("k", &5u64, None).await.unwrap();
    assert!(eventually(Some(5), || async { a.get::<u64>("k").await.unwrap() }).await);
    server.cli(&["FLUSHDB"]);
    assert!(eventually(None, || async { a.get::<u64>("k").await.unwrap() }).await);
    assert!(a.near_cache_stats().unwrap().invalidations > 0);
}

/// Reads `key` until L1 holds it (a read right after another process's
/// write may be evicted by that write's invalidation, arriving just after).
async fn filled(cache: &Cache, key: &str, want: u64) {
    let deadline = Instant::now() + Duration::from_secs(2);
    while cache.get::<u64>(key).await.unwrap() != Some(want)
        || cache.near_cache_stats().unwrap().len == 0
    {
        assert!(Instant::now() < deadline, "L1 never held {key}");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// Waits until `cache` has seen `n` invalidations (the server's for a
/// write, after which no late one can evict the next fill).
async fn invalidated(cache: &Cache, n: u64) {
    let deadline = Instant::now() + Duration::from_secs(2);
    while cache.near_cache_stats().unwrap().invalidations < n {
        assert!(Instant::now() < deadline, "fewer than {n} invalidations");
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}

fn keyspace_hits(info: &str) -> u64 {
    info.lines()
        .find_map(|l| l.strip_prefix("keyspace_hits:"))
        .and_then(|n| n.trim().parse().ok())
        .expect("INFO stats has keyspace_hits")
}

#[tokio::test]
async fn a_process_reads_its_own_writes_at_once() {
    let server = RedisServer::start();
    let a = near_cache(&server);
    tracking(&a).await;
    for i in 0..200u64 {
        a.set("k", &i, None).await.unwrap();
        assert_eq!(a.get::<u64>("k").await.unwrap(), Some(i));
        assert_eq!(a.get::<u64>("k").await.unwrap(), Some(i));
    }
    a.delete("k").await.unwrap();
    assert_eq!(a.get::<u64>("k").await.unwrap(), None);
    assert_eq!(a.incr("n", 1).await.unwrap(), 1);
    assert_eq!(a.get::<i64>("n").await.unwrap(), Some(1));
    assert_eq!(a.incr("n", 1).await.unwrap(), 2);
    assert_eq!(a.get::<i64>("n").await.unwrap(), Some(2));
    a.set("k", &7u64, None).await.unwrap();
    assert_eq!(a.get::<u64>("k").await.unwrap(), Some(7));
    a.clear().await.unwrap();
    assert_eq!(a.get::<u64>("k").await.unwrap(), None);
}

#[tokio::test]
async fn entries_expire_with_the_redis_entry() {
    let server = RedisServer::start();
    let a = near_cache(&server);
    tracking(&a).await;
    a.set("k", &1u64, Duration::from_millis(300)).await.unwrap();
    filled(&a, "k", 1).await;
    tokio::time::sleep(Duration::from_millis(350)).await;
    assert_eq!(a.get::<u64>("k").await.unwrap(), None);
}

/// The ids of the connections with tracking on (`flags` has `t`).
fn tracking_clients(server: &RedisServer) -> Vec<String> {
    server
        .cli(&["CLIENT", "LIST"])
        .lines()
        .filter(|line| {
            line.split(' ')
                .find_map(|f| f.strip_prefix("flags="))
                .is_some_and(|flags| flags.contains('t'))
        })
        .filter_map(|line| {
            line.split(' ')
                .find_map(|f| f.strip_prefix("id="))
                .map(str::to_owned)
        })
        .collect()
}

#[tokio::test]
async fn losing_the_invalidation_connection_flushes_until_it_is_back() {
    let mut server = RedisServer::start();
    let (a, b) = (near_cache(&server), near_cache(&server));
    tracking(&a).await;
    tracking(&b).await;
    b.set("k", &1u64, None).await.unwrap();
    filled(&a, "k", 1).await;

    let ids = tracking_clients(&server);
    assert_eq!(ids.len(), 2, "one tracking connection per near cache");
    for id in &ids {
        server.cli(&["CLIENT", "KILL", "ID", id]);
    }
    // Flushed at once (the closed socket is seen), then back.
    let deadline = Instant::now() + Duration::from_secs(2);
    while a.near_cache_stats().unwrap().len != 0 {
        assert!(Instant::now() < deadline, "L1 not flushed after the kill");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    tracking(&a).await;
    tracking(&b).await;
    assert!(a.near_cache_stats().unwrap().flushes >= 1);
    b.set("k", &2u64, None).await.unwrap();
    filled(&a, "k", 2).await;

    // A restart: flushed, unused while down, tracking again after.
    server.restart();
    let deadline = Instant::now() + Duration::from_secs(5);
    while a.near_cache_stats().unwrap().len != 0 {
        assert!(
            Instant::now() < deadline,
            "L1 not flushed after the restart"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    tracking(&a).await;
    tracking(&b).await;
    assert!(eventually(None, || async { a.get::<u64>("k").await.ok().flatten() }).await);
    b.set("k", &3u64, None).await.unwrap();
    assert!(eventually(Some(3), || async { a.get::<u64>("k").await.unwrap() }).await);
    b.set("k", &4u64, None).await.unwrap();
    assert!(eventually(Some(4), || async { a.get::<u64>("k").await.unwrap() }).await);
}

#[tokio::test]
async fn while_redis_is_down_reads_fail_instead_of_serving_l1() {
    let mut server = RedisServer::start();
    let a = near_cache(&server);
    tracking(&a).await;
    a.set("k", &1u64, None).await.unwrap();
    invalidated(&a, 2).await;
    filled(&a, "k", 1).await;
    server.stop();
    // The closed tracking connection is seen at once: L1 is flushed and
    // unused, so reads reach the (stopped) server and fail.
    let deadline = Instant::now() + Duration::from_secs(2);
    while a.near_cache_stats().unwrap().tracking {
        assert!(Instant::now() < deadline, "the stop went unnoticed");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert_eq!(a.near_cache_stats().unwrap().len, 0);
    let err = a.get::<u64>("k").await.unwrap_err();
    assert!(matches!(
        err.kind(),
        ErrorKind::Connection | ErrorKind::Timeout
    ));
    // The circuit breaker learns of it from the near cache's failed read.
    let deadline = Instant::now() + Duration::from_secs(5);
    while !a.circuit_open() {
        assert!(Instant::now() < deadline, "the breaker never opened");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let err = a.get::<u64>("k").await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::CircuitOpen, "{err}");
}

#[tokio::test]
async fn the_byte_bound_holds() {
    let server = RedisServer::start();
    let a = Cache::builder()
        .url(format!("{}?near_cache=64KiB", server.url()))
        .key_prefix("app")
        .build()
        .unwrap();
    tracking(&a).await;
    let value = vec![7u8; 1000];
    for i in 0..500 {
        a.set(&format!("k{i}"), &value, None).await.unwrap();
        assert_eq!(
            a.get::<Vec<u8>>(&format!("k{i}")).await.unwrap().as_ref(),
            Some(&value)
        );
    }
    let stats = a.near_cache_stats().unwrap();
    assert_eq!(stats.capacity, 64 << 10);
    assert!(stats.weighted_size <= stats.capacity, "{stats:?}");
    assert!(stats.len > 10 && stats.len < 500, "{stats:?}");
}

#[tokio::test]
async fn a_user_with_the_minimal_permissions_works() {
    let server = RedisServer::start();
    // Reads and writes of the cache's keys, and for the tracking
    // connection: `HELLO` (RESP3), `CLIENT TRACKING`, `PING`.
    server.cli(&[
        "ACL",
        "SETUSER",
        "near",
        "on",
        ">pw",
        "~app|*",
        "~app#*",
        "~app!*",
        "resetchannels",
        "+get",
        "+set",
        "+pttl",
        "+unlink",
        "+exists",
        "+mget",
        "+hello",
        "+ping",
        "+client|tracking",
        "+scan",
    ]);
    let url = format!("redis://near:pw@127.0.0.1:{}/0", server.port());
    let (a, b) = (
        Cache::builder()
            .url(&url)
            .key_prefix("app")
            .near_cache(NEAR)
            .build()
            .unwrap(),
        Cache::builder()
            .url(&url)
            .key_prefix("app")
            .near_cache(NEAR)
            .build()
            .unwrap(),
    );
    tracking(&a).await;
    tracking(&b).await;
    b.set("k", &1u64, None).await.unwrap();
    filled(&a, "k", 1).await;
    b.set("k", &2u64, None).await.unwrap();
    assert!(eventually(Some(2), || async { a.get::<u64>("k").await.unwrap() }).await);
    // Without `CLIENT TRACKING` the near cache stays unused; reads still work.
    server.cli(&["ACL", "SETUSER", "near", "-client|tracking"]);
    let c = Cache::builder()
        .url(&url)
        .key_prefix("app")
        .near_cache(NEAR)
        .build()
        .unwrap();
    assert_eq!(c.get::<u64>("k").await.unwrap(), Some(2));
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(c.get::<u64>("k").await.unwrap(), Some(2));
    let stats = c.near_cache_stats().unwrap();
    assert!(!stats.tracking && stats.len == 0, "{stats:?}");
}

#[test]
fn a_near_cache_needs_a_remote_redis_store() {
    for url in ["memory://", "null://"] {
        let err = Cache::builder()
            .url(url)
            .near_cache(NEAR)
            .build()
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Config, "{url}");
    }
    let err = Cache::from_url("redis://127.0.0.1:1/0?near_cache=lots").unwrap_err();
    assert!(err.to_string().contains("near_cache"), "{err}");
    let err = Cache::builder()
        .url("redis://127.0.0.1:1/0")
        .near_cache(0)
        .build()
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Config);
    assert!(Cache::from_url("redis://127.0.0.1:1/0")
        .unwrap()
        .near_cache_stats()
        .is_none());
    assert!(Cache::from_url("redis://127.0.0.1:1/0?near_cache=1MiB")
        .unwrap()
        .near_cache_stats()
        .is_some());
}

/// A service memoizing on its own cache.
struct Service {
    cache: Cache,
    loads: std::sync::atomic::AtomicU64,
    base: std::sync::Arc<std::sync::atomic::AtomicU64>,
}

impl Service {
    #[cache_core::memoize(ignore(self), cache = self.cache)]
    async fn load(&self, id: u64) -> u64 {
        use std::sync::atomic::Ordering;
        self.loads.fetch_add(1, Ordering::SeqCst);
        tokio::task::yield_now().await;
        self.base.load(Ordering::SeqCst) + id
    }
}

#[tokio::test]
async fn memoized_hits_come_from_l1_and_invalidations_elsewhere_evict_them() {
    use std::sync::atomic::{AtomicU64, Ordering};
    let server = RedisServer::start();
    let base = std::sync::Arc::new(AtomicU64::new(100));
    let service = |cache| Service {
        cache,
        loads: AtomicU64::new(0),
        base: base.clone(),
    };
    let (a, b) = (service(near_cache(&server)), service(near_cache(&server)));
    tracking(&a.cache).await;
    tracking(&b.cache).await;
    assert_eq!(a.load(1).await, 101);
    // A's own write evicted the key (counted once here, once when the
    // server's invalidation arrives): read until L1 holds it.
    invalidated(&a.cache, 2).await;
    let deadline = Instant::now() + Duration::from_secs(2);
    while a.load(1).await != 101 || a.cache.near_cache_stats().unwrap().len == 0 {
        assert!(Instant::now() < deadline, "L1 never held the value");
    }
    let hits = keyspace_hits(&server.cli(&["INFO", "stats"]));
    for _ in 0..50 {
        assert_eq!(a.load(1).await, 101);
    }
    assert_eq!(
        keyspace_hits(&server.cli(&["INFO", "stats"])),
        hits,
        "served from L1"
    );
    assert_eq!(b.load(1).await, 101, "B reads A's value from Redis");
    assert_eq!(b.loads.load(Ordering::SeqCst), 0);

    base.store(200, Ordering::SeqCst);
    assert!(b.load_invalidate(1).await.unwrap());
    assert_eq!(b.load(1).await, 201);
    assert!(eventually(Some(201), || async { Some(a.load(1).await) }).await);
    base.store(300, Ordering::SeqCst);
    assert!(b.load_invalidate_all().await.unwrap() >= 1);
    assert_eq!(b.load(1).await, 301);
    assert!(eventually(Some(301), || async { Some(a.load(1).await) }).await);
    assert_eq!(
        a.loads.load(Ordering::SeqCst),
        1,
        "A computed once: the rest came from Redis"
    );
}

#[test]
fn blocking_reads_are_served_from_l1_too() {
    let server = RedisServer::start();
    let (a, b) = (near_cache(&server), near_cache(&server));
    let deadline = Instant::now() + Duration::from_secs(10);
    while !(a.near_cache_stats().unwrap().tracking && b.near_cache_stats().unwrap().tracking) {
        assert!(Instant::now() < deadline, "tracking never came up");
        std::thread::sleep(Duration::from_millis(10));
    }
    b.blocking().set("k", &1u64, None).unwrap();
    while a.near_cache_stats().unwrap().invalidations == 0 || a.near_cache_stats().unwrap().len == 0
    {
        assert_eq!(a.blocking().get::<u64>("k").unwrap(), Some(1));
        assert!(Instant::now() < deadline, "L1 never held the value");
    }
    let hits = keyspace_hits(&server.cli(&["INFO", "stats"]));
    for _ in 0..20 {
        assert_eq!(a.blocking().get::<u64>("k").unwrap(), Some(1));
    }
    assert_eq!(keyspace_hits(&server.cli(&["INFO", "stats"])), hits);
    b.blocking().set("k", &2u64, None).unwrap();
    while a.blocking().get::<u64>("k").unwrap() != Some(2) {
        assert!(
            Instant::now() < deadline + Duration::from_secs(2),
            "A kept the old value"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
}
