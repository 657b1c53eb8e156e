//! A Redis Cluster while an operator moves a slot, and while a primary is
//! dead: counters follow every redirection, batched writes never leave
//! keys behind that would make the operator's `MIGRATE` fail, and no call
//! that touches a dead primary's keys reports success.
//!
//! The slot moves are driven by the test itself, step by step, as
//! `redis-cli --cluster reshard` does them: `SETSLOT … IMPORTING` on the
//! target, `SETSLOT … MIGRATING` on the source, `MIGRATE` key by key, then
//! `SETSLOT … NODE` on every node.

use std::time::Duration;

use cache_core::{Cache, ErrorKind};
use cache_tests::redis_cluster::RedisCluster;

fn cluster() -> &'static RedisCluster {
    RedisCluster::shared()
}

fn cache_on(cluster: &RedisCluster, prefix: &str) -> Cache {
    Cache::builder()
        .url(cluster.url())
        .key_prefix(prefix)
        .build()
        .expect("a cluster URL from the harness builds")
}

/// The slot of a cache's keys (its prefix is a hash tag), its owner and
/// another node to move it to.
fn slot_of(cache: &Cache) -> (u16, usize, usize) {
    let slot = cluster().keyslot(&cache.full_key("any"));
    let from = cluster().slot_owner(slot);
    (slot, from, (from + 1) % cluster().nodes().len())
}

fn pttl(node: usize, key: &str) -> i64 {
    cluster().nodes()[node]
        .cli(&["PTTL", key])
        .parse()
        .expect("PTTL answers a number")
}

#[tokio::test]
async fn counters_follow_ask_and_moved_in_every_migration_state() {
    let app = cache_on(cluster(), "{counters}");
    let (slot, from, to) = slot_of(&app);
    assert_eq!(app.incr("n", 1).await.unwrap(), 1, "a stable slot");

    cluster().begin_migration(slot, from, to);
    assert_eq!(
        app.incr("n", 1).await.unwrap(),
        2,
        "migrating, key on the source"
    );
    assert_eq!(
        app.incr("fresh", 5).await.unwrap(),
        5,
        "migrating, new key: ASK"
    );
    assert_eq!(cluster().migrate(from, to, &app.full_key("n")), "OK");
    assert_eq!(
        app.incr("n", 1).await.unwrap(),
        3,
        "migrating, key moved: ASK"
    );
    assert_eq!(app.decr("n", 1).await.unwrap(), 2);

    cluster().finish_migration(slot, to);
    // The cache's slot map is stale now: every call takes a MOVED first.
    for i in 0..10 {
        assert_eq!(
            app.incr("n", 1).await.unwrap(),
            3 + i,
            "after the move: MOVED"
        );
    }
    let ttl = pttl(to, &app.full_key("n"));
    assert!(
        ttl > 0 && ttl <= 300_000,
        "the counter kept the TTL it was created with: {ttl}"
    );
    let ttl = pttl(to, &app.full_key("fresh"));
    assert!(
        ttl > 0 && ttl <= 300_000,
        "a counter made on the importing node has its TTL: {ttl}"
    );
    app.clear().await.unwrap();
}

/// `set_many` of keys in one slot, with that slot in each migration state:
/// afterwards every key the source still owns migrates with `OK` (a batch
/// re-sent whole to the importing node would have copied them there, and
/// `MIGRATE` would fail with `BUSYKEY`), and every key reads back its last
/// value.
#[tokio::test]
async fn set_many_never_makes_a_resharding_fail() {
    let app = cache_on(cluster(), "{bulk}");
    let keys: Vec<String> = (0..10).map(|i| format!("k{i}")).collect();
    let batch = |round: u32| -> Vec<(&str, u32)> {
        keys.iter()
            .enumerate()
            .map(|(i, k)| (k.as_str(), round * 100 + u32::try_from(i).unwrap()))
            .collect()
    };
    let (slot, from, to) = slot_of(&app);
    app.set_many(&batch(1), None).await.unwrap();

    cluster().begin_migration(slot, from, to);
    app.set_many(&batch(2), None).await.unwrap();
    for key in &keys[..5] {
        assert_eq!(cluster().migrate(from, to, &app.full_key(key)), "OK");
    }
    // Half the keys on each side, and a new key that belongs to neither.
    let mut mixed = batch(3);
    mixed.push(("new", 7));
    app.set_many(&mixed, None).await.unwrap();
    for key in &keys[5..] {
        assert_eq!(
            cluster().migrate(from, to, &app.full_key(key)),
            "OK",
            "{key} was copied to the importing node behind the operator's back"
        );
    }
    cluster().finish_migration(slot, to);
    let mut expected: Vec<Option<u32>> = batch(3).iter().map(|(_, v)| Some(*v)).collect();
    expected.push(Some(7));
    let mut all: Vec<&str> = keys.iter().map(String::as_str).collect();
    all.push("new");
    assert_eq!(app.get_many::<u32>(&all).await.unwrap(), expected);

    // After the move, with a stale slot map: MOVED.
    app.set_many(&batch(4), None).await.unwrap();
    let got = app.get_many::<u32>(&all[..10]).await.unwrap();
    assert_eq!(
        got,
        batch(4).iter().map(|(_, v)| Some(*v)).collect::<Vec<_>>()
    );
    assert_eq!(app.delete_many(&all).await.unwrap(), 11);
}

/// Keys whose slots node `node` of `cluster` serves, and keys whose slots
/// it does not, `n` of each.
fn keys_by_owner(
    cluster: &RedisCluster,
    cache: &Cache,
    node: usize,
    n: usize,
) -> (Vec<String>, Vec<String>) {
    let (mut on, mut off) = (Vec::new(), Vec::new());
    for i in 0.. {
        if on.len() == n && off.len() == n {
            break;
        }
        let key = format!("k{i}");
        let owner = cluster.slot_owner(cluster.keyslot(&cache.full_key(&key)));
        let side = if owner == node { &mut on } else { &mut off };
        if side.len() < n {
            side.push(key);
        }
    }
    (on, off)
}

fn assert_unreachable(what: &str, err: &cache_core::Error) {
    assert!(
        matches!(err.kind(), ErrorKind::Connection | ErrorKind::Timeout),
        "{what}: a dead primary is a connection or timeout error, not {:?}: {err}",
        err.kind()
    );
}

/// With one primary dead (and the cluster serving the others' slots),
/// every call that involves the dead node's keys, and `ping`, fails with a
/// connection or timeout error: none reports success for what it did on
/// the live nodes alone.
#[tokio::test]
async fn a_dead_primary_is_never_a_silent_partial_success() {
    let mut dead = RedisCluster::start_with_args(&[
        "--cluster-require-full-coverage",
        "no",
        "--cluster-node-timeout",
        "1000",
    ]);
    let app = Cache::builder()
        .url(dead.url())
        .key_prefix("partial")
        .build()
        .unwrap();
    let (on, off) = keys_by_owner(&dead, &app, 2, 10);
    let all: Vec<&str> = on.iter().chain(&off).map(String::as_str).collect();
    let items: Vec<(&str, u32)> = all.iter().map(|k| (*k, 1)).collect();
    app.set_many(&items, None).await.unwrap();
    app.ping().await.unwrap();

    dead.stop_node(2);
    // Let the live nodes notice (node timeout 1 s).
    tokio::time::sleep(Duration::from_millis(2500)).await;

    assert_unreachable("ping", &app.ping().await.unwrap_err());
    assert_unreachable("delete_many", &app.delete_many(&all).await.unwrap_err());
    assert_unreachable("get_many", &app.get_many::<u32>(&all).await.unwrap_err());
    assert_unreachable("set_many", &app.set_many(&items, None).await.unwrap_err());
    assert_unreachable("clear", &app.clear().await.unwrap_err());
    let one = on[0].as_str();
    assert_unreachable("delete", &app.delete(one).await.unwrap_err());
    assert_unreachable("incr", &app.incr(one, 1).await.unwrap_err());

    // The live nodes' keys alone still work, one by one and together.
    let live: Vec<&str> = off.iter().map(String::as_str).collect();
    assert_eq!(app.get_many::<u32>(&live).await.unwrap(), vec![Some(1); 10]);
    assert_eq!(app.delete_many(&live).await.unwrap(), 10);
}
