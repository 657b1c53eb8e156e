//! Caches with different prefixes share a store without ever reading,
//! overwriting, counting, clearing or invalidating by tag each other's
//! keys, whatever the two prefixes are; keys given to `set` never meet memoized functions' keys;
//! and nothing another program wrote is touched. On memory and on Redis.

use cache_core::{Cache, MemoryBackend};
use cache_tests::redis_server::RedisServer;

/// Pairs of prefixes where one extends the other, or differs only in a
/// character that is special somewhere (glob, delimiter, escape).
const PAIRS: &[(&str, &str)] = &[
    ("iso:", "iso:inner:"),
    ("shop", "shopping"),
    ("app", "app:"),
    ("a|b", "a"),
    ("a#", "a"),
    ("a!", "a"),
    ("a%21", "a!"),
    ("a%7Cb", "a|b"),
    ("x*", "x?"),
    ("[ab]", "a"),
    ("", "p"),
];

async fn isolated(one: &Cache, two: &Cache) {
    let what = format!("{:?} / {:?}", one.key_prefix(), two.key_prefix());
    one.set("k", &1u32, None).await.unwrap();
    two.set("k", &2u32, None).await.unwrap();
    one.set("only-one", &1u32, None).await.unwrap();
    assert_eq!(one.get::<u32>("k").await.unwrap(), Some(1), "{what}");
    assert_eq!(two.get::<u32>("k").await.unwrap(), Some(2), "{what}");
    assert_eq!(two.get::<u32>("only-one").await.unwrap(), None, "{what}");
    assert!(!two.has("only-one").await.unwrap(), "{what}");
    // A key of one cache spelled out as a key of the other.
    let suffix = one.full_key("k");
    assert_eq!(two.get::<u32>(&suffix).await.unwrap(), None, "{what}");
    // Tags are per prefix: the other cache's tag of the same name, or
    // spelling this one's index, reaches nothing here.
    one.set_with_tags("tagged", &1u32, None, ["t"])
        .await
        .unwrap();
    let index = format!(
        "{}t",
        cache_core::key::Namespace::new(one.key_prefix()).tags()
    );
    for tag in ["t", index.as_str()] {
        assert_eq!(
            two.invalidate_tag(tag).await.unwrap(),
            0,
            "{what}: tag {tag}"
        );
    }
    assert!(one.has("tagged").await.unwrap(), "{what}: tags");
    for (cleared, kept) in [(one, two), (two, one)] {
        cleared.set("k", &9u32, None).await.unwrap();
        kept.set("k", &7u32, None).await.unwrap();
        cleared.clear().await.ok();
        assert_eq!(
            kept.get::<u32>("k").await.unwrap(),
            Some(7),
            "{what}: clear"
        );
    }
}

fn memory_pair(store: &MemoryBackend, a: &str, b: &str) -> (Cache, Cache) {
    let build = |p: &str| {
        Cache::builder()
            .backend(store.clone())
            .key_prefix(p)
            .build()
            .unwrap()
    };
    (build(a), build(b))
}

#[tokio::test]
async fn prefixes_that_extend_each_other_are_isolated_in_memory() {
    for (a, b) in PAIRS {
        let store = MemoryBackend::new();
        let (one, two) = memory_pair(&store, a, b);
        isolated(&one, &two).await;
    }
}

#[tokio::test]
async fn prefixes_that_extend_each_other_are_isolated_on_redis() {
    let server = RedisServer::start();
    for (a, b) in PAIRS {
        let build = |p: &str| {
            Cache::builder()
                .url(server.url())
                .key_prefix(p)
                .build()
                .unwrap()
        };
        isolated(&build(a), &build(b)).await;
    }
}

/// Keys another program wrote next to ours, including ones that start
/// with our prefix's text, survive `clear()`.
#[tokio::test]
async fn clear_never_touches_another_programs_keys() {
    let server = RedisServer::start();
    let foreign = [
        "apple:config",
        "app",
        "app:",
        "app:user:1",
        "appendix|x",
        "app%7C",
    ];
    for key in foreign {
        server.cli(&["SET", key, "theirs"]);
    }
    let cache = Cache::builder()
        .url(server.url())
        .key_prefix("app")
        .build()
        .unwrap();
    cache
        .set("user:1", &"ours".to_string(), None)
        .await
        .unwrap();
    assert_eq!(cache.clear().await.unwrap(), 1);
    for key in foreign {
        assert_eq!(server.cli(&["GET", key]).trim(), "theirs", "{key}");
    }
}

mod shop {
    use std::sync::atomic::{AtomicUsize, Ordering};

    pub static RUNS: AtomicUsize = AtomicUsize::new(0);

    #[cache_core::memoize(timeout = 60, cache = super::CACHE.get().unwrap())]
    pub async fn price(id: u64) -> u64 {
        tokio::task::yield_now().await; // a price service, say
        RUNS.fetch_add(1, Ordering::SeqCst);
        id * 100
    }
}

static CACHE: std::sync::OnceLock<Cache> = std::sync::OnceLock::new();

/// A key given to `set` is never a memoized function's key, even one that
/// spells out the memoized key's text.
#[tokio::test]
async fn plain_keys_never_meet_memoized_keys() {
    let store = MemoryBackend::new();
    let cache = CACHE.get_or_init(|| {
        Cache::builder()
            .backend(store.clone())
            .key_prefix("app")
            .build()
            .unwrap()
    });
    assert_eq!(shop::price(5).await, 500);
    let mut memo_key = String::new();
    cache_core::key::write_function_key(
        &mut memo_key,
        &format!("{}::price", module_path!().to_owned() + "::shop"),
        1,
        &(5u64,),
    )
    .unwrap();
    cache.set(&memo_key, &1u64, None).await.unwrap();
    cache
        .set(&format!("#{memo_key}"), &2u64, None)
        .await
        .unwrap();
    assert_eq!(shop::price(5).await, 500);
    assert_eq!(shop::RUNS.load(std::sync::atomic::Ordering::SeqCst), 1);
    // The memoized entry is still there and the plain ones too.
    assert_eq!(cache.get::<u64>(&memo_key).await.unwrap(), Some(1));
    shop::price_invalidate_all().await.unwrap();
    assert_eq!(cache.get::<u64>(&memo_key).await.unwrap(), Some(1));
}
