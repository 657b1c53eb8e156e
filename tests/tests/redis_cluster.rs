//! `RedisBackend` and `Cache` on a real three-primary Redis Cluster,
//! started once for this test binary by the shared harness
//! (`cache_tests::redis_cluster`). Every test works under its own key
//! prefix, as the tests run in parallel on the same cluster.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, LazyLock};
use std::time::{Duration, Instant};

use cache_core::backend::RedisBackend;
use cache_core::{memoize, Cache, ErrorKind};
use cache_tests::redis_cluster::RedisCluster;
use cache_tests::redis_server::free_port;

fn cluster() -> &'static RedisCluster {
    RedisCluster::shared()
}

fn cache(prefix: &str) -> Cache {
    Cache::builder()
        .url(cluster().url())
        .key_prefix(prefix)
        .build()
        .expect("a cluster URL from the harness builds")
}

/// How many of the keys matching `pattern` each node holds.
fn counts(pattern: &str) -> Vec<usize> {
    cluster()
        .keys_per_node(pattern)
        .iter()
        .map(Vec::len)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cluster_backend_passes_the_conformance_suite() {
    cluster().cli(&["SET", "conformance-neighbour", "v"]);
    let backend = RedisBackend::from_url(&cluster().url()).unwrap();
    cache_core::testing::conformance(Arc::new(backend)).await;
    assert_eq!(cluster().cli(&["GET", "conformance-neighbour"]), "v");
}

#[tokio::test]
async fn clear_removes_our_keys_on_every_primary_and_nothing_else() {
    let app = cache("clear-app:");
    for i in 0..300u32 {
        app.set(&format!("k{i}"), &i, None).await.unwrap();
    }
    // Keys of others, written by redis-cli to whichever node owns them.
    for i in 0..30 {
        cluster().cli(&["SET", &format!("clear-other:{i}"), "theirs"]);
    }
    for lookalike in ["clear-app", "clear-appX:1", "clear-ap:1", "{clear-app:}x"] {
        cluster().cli(&["SET", lookalike, "theirs"]);
    }
    let ours = counts("clear-app:|*");
    assert_eq!(ours.iter().sum::<usize>(), 300);
    assert!(
        ours.iter().all(|&n| n > 0),
        "300 keys should spread over all three primaries: {ours:?}"
    );

    assert_eq!(app.clear().await.unwrap(), 300);
    assert_eq!(counts("clear-app:*"), [0, 0, 0], "a primary kept some keys");
    assert_eq!(counts("clear-other:*").iter().sum::<usize>(), 30);
    for lookalike in ["clear-app", "clear-appX:1", "clear-ap:1", "{clear-app:}x"] {
        assert_eq!(cluster().cli(&["GET", lookalike]), "theirs", "{lookalike}");
    }
    assert_eq!(app.clear().await.unwrap(), 0);
}

#[tokio::test]
async fn many_operations_across_slots_keep_the_callers_order() {
    // MGET and UNLINK of keys in many slots: redis-rs splits them per slot
    // and puts the replies back in order; set_many sends a pipeline per slot.
    let app = cache("many:");
    let names: Vec<String> = (0..200).map(|i| format!("item-{i}")).collect();
    let items: Vec<(&str, u32)> = names
        .iter()
        .zip(0u32..)
        .map(|(name, i)| (name.as_str(), i))
        .collect();
    app.set_many(&items, Duration::from_secs(60)).await.unwrap();
    assert!(
        counts("many:*").iter().all(|&n| n > 0),
        "200 keys should spread over all three primaries"
    );

    // Reversed, with misses interleaved.
    let mut asked: Vec<String> = Vec::new();
    let mut expected = Vec::new();
    for i in (0..200u32).rev() {
        asked.push(format!("item-{i}"));
        expected.push(Some(i));
        if i % 7 == 0 {
            asked.push(format!("missing-{i}"));
            expected.push(None);
        }
    }
    let asked_refs: Vec<&str> = asked.iter().map(String::as_str).collect();
    assert_eq!(app.get_many::<u32>(&asked_refs).await.unwrap(), expected);

    let odd: Vec<String> = (1..200).step_by(2).map(|i| format!("item-{i}")).collect();
    let mut doomed: Vec<&str> = odd.iter().map(String::as_str).collect();
    doomed.push("missing-1");
    assert_eq!(app.delete_many(&doomed).await.unwrap(), 100);
    let after = app.get_many::<u32>(&asked_refs).await.unwrap();
    for (name, value) in asked.iter().zip(&after) {
        let i: u32 = name.rsplit('-').next().unwrap().parse().unwrap();
        let live = name.starts_with("item-") && i % 2 == 0;
        assert_eq!(value.is_some(), live, "{name}");
    }
    assert_eq!(app.clear().await.unwrap(), 100);
}

#[tokio::test]
async fn incr_and_ttls_work_on_every_node() {
    let app = cache("counters:");
    let names: Vec<String> = (0..30).map(|i| format!("visits-{i}")).collect();
    for name in &names {
        assert_eq!(app.incr(name, 5).await.unwrap(), 5);
        assert_eq!(app.decr(name, 2).await.unwrap(), 3);
    }
    assert!(counts("counters:*").iter().all(|&n| n > 0));
    for name in &names {
        let key = app.full_key(name);
        assert_eq!(cluster().cli(&["GET", &key]), "3");
        let ttl: i64 = cluster().cli(&["PTTL", &key]).parse().unwrap();
        assert!((1..=300_000).contains(&ttl), "{key}: PTTL {ttl}");
    }
    app.set("forever", &1u8, Duration::ZERO).await.unwrap();
    assert_eq!(cluster().cli(&["PTTL", &app.full_key("forever")]), "-1");
    app.set("brief", &1u8, Duration::from_millis(200))
        .await
        .unwrap();
    assert!(app.has("brief").await.unwrap());
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(!app.has("brief").await.unwrap());
    assert!(app.add("brief", &2u8, None).await.unwrap());
    assert!(!app.add("brief", &3u8, None).await.unwrap());
    app.clear().await.unwrap();
}

#[tokio::test]
async fn ask_and_moved_redirections_are_followed() {
    // Two keys in one slot (hash tag). Move the slot to another node by
    // hand: while one key has moved, reading it takes an ASK redirection;
    // once the slot has moved, the cache's slot map is stale and reading
    // the other key takes a MOVED redirection.
    let app = cache("{redirect}:");
    app.set("first", &1u32, None).await.unwrap();
    app.set("second", &2u32, None).await.unwrap();
    let slot = cluster().keyslot(&app.full_key("first"));
    let from = cluster().slot_owner(slot);
    let to = (from + 1) % cluster().nodes().len();
    let target = &cluster().nodes()[to];
    cluster().begin_migration(slot, from, to);
    let migrate = |key: &str| {
        assert_eq!(cluster().migrate(from, to, key), "OK", "MIGRATE {key}");
    };
    migrate(&app.full_key("first"));

    assert_eq!(app.get::<u32>("first").await.unwrap(), Some(1), "after ASK");
    assert_eq!(app.get::<u32>("second").await.unwrap(), Some(2));

    migrate(&app.full_key("second"));
    cluster().finish_migration(slot, to);
    assert_eq!(
        app.get::<u32>("second").await.unwrap(),
        Some(2),
        "after MOVED"
    );
    app.set("third", &3u32, None).await.unwrap();
    assert!(
        !target.cli(&["GET", &app.full_key("first")]).is_empty(),
        "the migrated key lives on the target node"
    );
    assert_eq!(
        app.get_many::<u32>(&["first", "second", "third"])
            .await
            .unwrap(),
        vec![Some(1), Some(2), Some(3)]
    );
    assert_eq!(app.clear().await.unwrap(), 3);
}

#[test]
fn the_blocking_api_works_on_the_cluster_from_a_current_thread_runtime() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let app = cache("blocking:");
        app.blocking().set("k", &"v".to_string(), None).unwrap();
        assert_eq!(
            app.blocking().get::<String>("k").unwrap().as_deref(),
            Some("v")
        );
        assert_eq!(app.blocking().clear().unwrap(), 1);
    });
}

#[tokio::test]
async fn an_unreachable_cluster_is_a_connection_error_naming_the_seeds() {
    // Nothing listens on ports that were free a moment ago.
    let ports = [free_port(), free_port()];
    let url = format!(
        "redis+cluster://:s3cret@127.0.0.1:{},127.0.0.1:{}?connect_timeout=300ms&response_timeout=300ms",
        ports[0], ports[1]
    );
    let app = Cache::builder().url(url).key_prefix("x:").build().unwrap();
    let started = Instant::now();
    let err = app.get::<u32>("k").await.unwrap_err();
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
    assert!(
        matches!(err.kind(), ErrorKind::Connection | ErrorKind::Timeout),
        "{err}"
    );
    let seeds = format!("127.0.0.1:{},127.0.0.1:{}", ports[0], ports[1]);
    assert!(err.to_string().contains(&seeds), "{err}");
    assert!(!format!("{err} {err:?}").contains("s3cret"), "{err:?}");
}

// --- memoize on the cluster ----------------------------------------------------

static MEMO_CACHE: LazyLock<Cache> = LazyLock::new(|| cache("memo-app:"));
static LOADS: AtomicUsize = AtomicUsize::new(0);

#[memoize(timeout = 120, cache = MEMO_CACHE)]
async fn load_profile(user_id: u64) -> String {
    tokio::task::yield_now().await; // a database call, say
    LOADS.fetch_add(1, Ordering::SeqCst);
    format!("profile of {user_id}")
}

fn loads() -> usize {
    LOADS.load(Ordering::SeqCst)
}

#[tokio::test]
async fn memoize_invalidate_and_invalidate_all_reach_every_node() {
    for id in 0..40 {
        assert_eq!(load_profile(id).await, format!("profile of {id}"));
    }
    assert_eq!(loads(), 40);
    for id in 0..40 {
        load_profile(id).await;
    }
    assert_eq!(loads(), 40, "hits do not run the body");
    assert!(
        counts("memo-app:#*").iter().all(|&n| n > 0),
        "40 entries should spread over all three primaries"
    );

    assert!(load_profile_invalidate(7).await.unwrap());
    assert!(!load_profile_invalidate(7).await.unwrap());
    for id in 0..40 {
        load_profile(id).await;
    }
    assert_eq!(loads(), 41, "only user 7's entry was removed");

    assert_eq!(load_profile_invalidate_all().await.unwrap(), 40);
    assert_eq!(counts("memo-app:#*"), [0, 0, 0]);
    for id in 0..40 {
        load_profile(id).await;
    }
    assert_eq!(loads(), 81, "every entry was removed");
    MEMO_CACHE.clear().await.unwrap();
}

// --- tags on the cluster ------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn cluster_backend_passes_the_tag_conformance_suite() {
    let backend = RedisBackend::from_url(&cluster().url()).unwrap();
    cache_core::testing::tag_conformance(Arc::new(backend)).await;
    assert_eq!(counts("conformance-tags:*"), [0, 0, 0]);
}

#[tokio::test]
async fn invalidate_tag_removes_the_tagged_entries_on_every_node_and_nothing_else() {
    let (writer, invalidator) = (cache("tags-app:"), cache("tags-app:"));
    let other = cache("tags-other:");
    for i in 0..300u32 {
        let tags: &[&str] = if i % 3 == 0 { &["group"] } else { &["rest"] };
        writer
            .set_with_tags(&format!("k{i}"), &i, None, tags)
            .await
            .unwrap();
    }
    writer.set("untagged", &1u32, None).await.unwrap();
    other
        .set_with_tags("k0", &0u32, None, ["group"])
        .await
        .unwrap();
    let tagged: Vec<usize> = (0..300)
        .step_by(3)
        .map(|i| cluster().slot_owner(cluster().keyslot(&format!("tags-app:|k{i}"))))
        .collect();
    assert!(
        (0..3).all(|node| tagged.contains(&node)),
        "100 tagged entries should spread over all three primaries"
    );

    assert_eq!(invalidator.invalidate_tag("group").await.unwrap(), 100);
    assert_eq!(counts("tags-app:|*").iter().sum::<usize>(), 201);
    for i in 0..300u32 {
        let kept = writer.get::<u32>(&format!("k{i}")).await.unwrap();
        assert_eq!(kept, (i % 3 != 0).then_some(i), "k{i}");
    }
    assert_eq!(other.get::<u32>("k0").await.unwrap(), Some(0));
    assert_eq!(invalidator.invalidate_tag("group").await.unwrap(), 0);

    // Tags with glob characters, NUL, and hash-tag braces (which move the
    // index to another slot, not the entries).
    let odd = ["*", "?", "[ab]", "a\0b", "{user}", "{user}:5"];
    for (i, tag) in odd.iter().enumerate() {
        writer
            .set_with_tags(&format!("odd{i}"), &i, None, [tag])
            .await
            .unwrap();
    }
    for (i, tag) in odd.iter().enumerate() {
        assert_eq!(invalidator.invalidate_tag(tag).await.unwrap(), 1, "{tag:?}");
        assert!(!writer.has(&format!("odd{i}")).await.unwrap());
    }
    assert_eq!(invalidator.invalidate_tag("rest").await.unwrap(), 200);
    writer.clear().await.unwrap();
    other.clear().await.unwrap();
    assert_eq!(
        counts("tags-app:*"),
        [0, 0, 0],
        "clear removed the indexes too"
    );
}

static TAG_CACHE: LazyLock<Cache> = LazyLock::new(|| cache("tags-memo:"));
static TAGGED_LOADS: AtomicUsize = AtomicUsize::new(0);

#[memoize(cache = TAG_CACHE, tags = ["user:{user_id}", "all"])]
async fn tagged_profile(user_id: u64) -> String {
    tokio::task::yield_now().await; // a database call, say
    TAGGED_LOADS.fetch_add(1, Ordering::SeqCst);
    format!("profile of {user_id}")
}

#[tokio::test]
async fn memoized_entries_are_invalidated_by_tag_across_slots() {
    for id in 0..30 {
        tagged_profile(id).await;
    }
    assert_eq!(TAG_CACHE.invalidate_tag("user:7").await.unwrap(), 1);
    for id in 0..30 {
        tagged_profile(id).await;
    }
    assert_eq!(TAGGED_LOADS.load(Ordering::SeqCst), 31, "user 7 only");
    assert_eq!(TAG_CACHE.invalidate_tag("all").await.unwrap(), 30);
    assert_eq!(counts("tags-memo:#*"), [0, 0, 0]);
    TAG_CACHE.clear().await.unwrap();
}
