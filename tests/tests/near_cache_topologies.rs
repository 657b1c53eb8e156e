//! The near cache on Sentinel and Cluster: after a failover or a slot
//! migration, no process serves a value older than the last acknowledged
//! write (plus the invalidation lag).

use std::time::{Duration, Instant};

use cache_core::Cache;
use cache_tests::redis_sentinel::RedisSentinel;

const NEAR: u64 = 4 << 20;

/// Waits (at most `limit`) until `cache`'s tracking connection is up.
async fn tracking(cache: &Cache, limit: Duration) {
    let deadline = Instant::now() + limit;
    while !cache.near_cache_stats().unwrap().tracking {
        assert!(Instant::now() < deadline, "tracking never came up");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Polls `cache` until `key` reads `want`, for at most 2 s.
async fn eventually(cache: &Cache, key: &str, want: Option<u64>) -> bool {
    let deadline = Instant::now() + Duration::from_secs(2);
    loop {
        if cache.get::<u64>(key).await.ok() == Some(want) {
            return true;
        }
        if Instant::now() > deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// Reads `key` until L1 holds it (a read right after another process's
/// write may be evicted by that write's invalidation, arriving just after).
async fn filled(cache: &Cache, key: &str, want: u64) -> bool {
    let deadline = Instant::now() + Duration::from_secs(2);
    loop {
        if cache.get::<u64>(key).await.ok() == Some(Some(want))
            && cache.near_cache_stats().unwrap().len >= 1
        {
            return true;
        }
        if Instant::now() > deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// How many connections of `server` have tracking on.
fn tracking_clients(server: &cache_tests::redis_server::RedisServer) -> usize {
    server
        .cli(&["CLIENT", "LIST"])
        .lines()
        .filter(|l| {
            l.split(' ')
                .any(|f| f.starts_with("flags=") && f.contains('t'))
        })
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_a_sentinel_failover_no_stale_value_is_served() {
    let deployment = RedisSentinel::start();
    let near = || {
        Cache::builder()
            .url(format!(
                "{}?connect_timeout=500ms&response_timeout=500ms",
                deployment.url()
            ))
            .key_prefix("app")
            .near_cache(NEAR)
            .build()
            .unwrap()
    };
    let (a, b) = (near(), near());
    b.set("k", &1u64, None).await.unwrap();
    tracking(&a, Duration::from_secs(10)).await;
    tracking(&b, Duration::from_secs(10)).await;
    assert!(eventually(&a, "k", Some(1)).await);
    assert_eq!(
        a.near_cache_stats().unwrap().len,
        1,
        "filled from the first master"
    );

    let old_port = deployment.master_port();
    deployment.failover();
    let new_port = deployment.wait_for_new_master(old_port, Duration::from_secs(30));
    let new = deployment.server(new_port);
    // Both caches follow the switch and track the new master.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let _ = b.set("probe", &0u64, None).await;
        let _ = a.get::<u64>("probe").await;
        if tracking_clients(new) == 2
            && a.near_cache_stats().unwrap().tracking
            && b.near_cache_stats().unwrap().tracking
        {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the near caches did not track the new master"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(
        a.near_cache_stats().unwrap().flushes >= 1,
        "the switch flushed L1"
    );
    for i in 2..20u64 {
        b.set("k", &i, None).await.unwrap();
        assert!(
            eventually(&a, "k", Some(i)).await,
            "A serves a value older than {i}"
        );
        assert!(eventually(&a, "k", Some(i)).await);
    }
    assert!(
        a.near_cache_stats().unwrap().len >= 1,
        "L1 fills from the new master"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_a_cluster_slot_migration_no_stale_value_is_served() {
    let cluster = cache_tests::redis_cluster::RedisCluster::start();
    let near = || {
        Cache::builder()
            .url(cluster.url())
            .key_prefix("{near}")
            .near_cache(NEAR)
            .build()
            .unwrap()
    };
    let (a, b) = (near(), near());
    tracking(&a, Duration::from_secs(20)).await;
    tracking(&b, Duration::from_secs(20)).await;
    let masters = cluster
        .nodes()
        .iter()
        .filter(|n| tracking_clients(n) > 0)
        .count();
    assert_eq!(masters, 3, "every master is tracked");
    b.set("k", &1u64, None).await.unwrap();
    assert!(filled(&a, "k", 1).await);

    let slot = cluster.keyslot(&a.full_key("k"));
    let from = cluster.slot_owner(slot);
    let to = (from + 1) % cluster.nodes().len();
    let flushes = a.near_cache_stats().unwrap().flushes;
    cluster.begin_migration(slot, from, to);
    assert_eq!(cluster.migrate(from, to, &a.full_key("k")), "OK");
    cluster.finish_migration(slot, to);
    // The slot map changed: L1 is flushed, then tracked again.
    let deadline = Instant::now() + Duration::from_secs(10);
    while a.near_cache_stats().unwrap().flushes == flushes {
        assert!(Instant::now() < deadline, "the slot move did not flush L1");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    tracking(&a, Duration::from_secs(20)).await;
    for i in 2..20u64 {
        b.set("k", &i, None).await.unwrap();
        assert!(
            eventually(&a, "k", Some(i)).await,
            "A serves a value older than {i}"
        );
    }
    assert_eq!(
        a.near_cache_stats().unwrap().len,
        1,
        "L1 fills from the new owner"
    );
}
