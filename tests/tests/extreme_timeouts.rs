//! Timeouts at the extremes, the same on every store: a huge timeout
//! (`Duration::MAX`, `u64::MAX` seconds, as a `#[memoize]` option or a
//! cache's default) is clamped to `Ttl::MAX_DURATION` (100 years) and the
//! value is cached, and a tiny one (1 ms, 1 ns) expires instead of meaning
//! "never" or being refused. In memory, on a Redis server started for the
//! test, and on the shared test cluster.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use cache_core::{memoize, Cache, Ttl};
use cache_tests::redis_cluster::RedisCluster;
use cache_tests::redis_server::RedisServer;

const HUGE: [Duration; 3] = [
    Duration::MAX,
    Duration::from_secs(u64::MAX),
    Duration::from_secs(200 * 365 * 24 * 60 * 60),
];

const TINY: [Duration; 2] = [Duration::from_millis(1), Duration::from_nanos(1)];

/// Long enough for a 1 ms entry to be gone, on a loaded machine too.
const AFTER_TINY: Duration = Duration::from_millis(50);

struct Memo {
    cache: Cache,
    runs: AtomicUsize,
}

impl Memo {
    #[memoize(ignore(self), cache = self.cache, timeout = 18_446_744_073_709_551_615)]
    fn forever_ish(&self, x: u64) -> u64 {
        self.runs.fetch_add(1, Ordering::SeqCst);
        x + 1
    }
}

fn builder(url: &str, prefix: &str) -> cache_core::CacheBuilder {
    Cache::builder().url(url).key_prefix(prefix)
}

/// Every operation that takes a timeout, with huge and tiny ones, on the
/// store behind `url`. Returns the keys written with a huge timeout (full,
/// prefix included), for the caller to check their TTL where it can.
async fn extremes(url: &str, prefix: &str) -> Vec<String> {
    let cache = builder(url, prefix).build().unwrap();
    let mut huge_keys = Vec::new();
    for (i, &timeout) in HUGE.iter().enumerate() {
        let key = format!("set:{i}");
        cache.set(&key, &i, timeout).await.unwrap_or_else(|e| {
            panic!("set with {timeout:?}: {e}");
        });
        assert_eq!(cache.get::<usize>(&key).await.unwrap(), Some(i));

        let key = format!("add:{i}");
        assert!(cache.add(&key, &i, timeout).await.unwrap());
        assert!(cache.has(&key).await.unwrap());

        let many = [(format!("many:{i}:a"), i), (format!("many:{i}:b"), i)];
        let items: Vec<(&str, usize)> = many.iter().map(|(k, v)| (k.as_str(), *v)).collect();
        cache.set_many(&items, timeout).await.unwrap();
        assert_eq!(
            cache
                .get_many::<usize>(&[&many[0].0, &many[1].0])
                .await
                .unwrap(),
            vec![Some(i), Some(i)]
        );

        let key = format!("computed:{i}");
        assert_eq!(
            cache.get_or_set_with(&key, timeout, || async { i }).await,
            i
        );
        assert!(cache.has(&key).await.unwrap(), "computed with {timeout:?}");

        // The cache's default timeout, as `incr` and `None` use it (another
        // cache: in memory, another store).
        let defaulted = builder(url, prefix)
            .default_timeout(timeout)
            .build()
            .unwrap();
        assert_eq!(defaulted.default_timeout(), Some(Ttl::MAX_DURATION));
        let key = format!("default:{i}");
        defaulted.set(&key, &i, None).await.unwrap();
        assert!(defaulted.has(&key).await.unwrap());
        let counter = format!("counter:{i}");
        assert_eq!(defaulted.incr(&counter, 2).await.unwrap(), 2);
        assert_eq!(defaulted.incr(&counter, 2).await.unwrap(), 4);

        huge_keys.extend(
            [
                format!("set:{i}"),
                format!("add:{i}"),
                many[0].0.clone(),
                format!("computed:{i}"),
                format!("default:{i}"),
                counter,
            ]
            .map(|k| cache.full_key(&k)),
        );
    }

    let memo = Memo {
        cache: cache.clone(),
        runs: AtomicUsize::new(0),
    };
    assert_eq!(memo.forever_ish(1), 2);
    assert_eq!(memo.forever_ish(1), 2);
    assert_eq!(
        memo.runs.load(Ordering::SeqCst),
        1,
        "timeout = u64::MAX is cached, not refused by the store"
    );

    for (i, &timeout) in TINY.iter().enumerate() {
        let key = format!("tiny:{i}");
        cache.set(&key, &i, timeout).await.unwrap_or_else(|e| {
            panic!("set with {timeout:?}: {e}");
        });
        let key_add = format!("tiny-add:{i}");
        assert!(cache.add(&key_add, &i, timeout).await.unwrap());
        tokio::time::sleep(AFTER_TINY).await;
        assert_eq!(
            cache.get::<usize>(&key).await.unwrap(),
            None,
            "{timeout:?} expires, it does not mean never"
        );
        assert!(!cache.has(&key_add).await.unwrap(), "add with {timeout:?}");
    }
    huge_keys
}

/// A Redis TTL in milliseconds, as `PTTL` gives it.
fn assert_clamped(pttl: &str, key: &str) {
    let ms: u128 = pttl
        .parse()
        .unwrap_or_else(|_| panic!("PTTL {key}: {pttl}"));
    let max = Ttl::MAX_DURATION.as_millis();
    assert!(
        ms <= max && ms > max - 60_000,
        "{key} expires in {ms} ms, not in about {max} ms"
    );
}

#[test]
fn ttl_clamps_huge_durations_and_keeps_tiny_ones() {
    for huge in HUGE {
        assert_eq!(Ttl::from_duration(huge), Ttl::After(Ttl::MAX_DURATION));
    }
    assert_eq!(
        Ttl::After(Duration::MAX).duration(),
        Some(Ttl::MAX_DURATION),
        "a hand-made Ttl is clamped where stores read it"
    );
    assert_eq!(
        Ttl::After(Duration::MAX).as_millis(),
        u64::try_from(Ttl::MAX_DURATION.as_millis()).ok()
    );
    for tiny in TINY {
        assert_eq!(Ttl::from_duration(tiny), Ttl::After(tiny));
        assert_eq!(Ttl::from_duration(tiny).as_millis(), Some(1));
    }
    assert_eq!(Ttl::from_duration(Duration::ZERO), Ttl::Never);
}

#[tokio::test]
async fn extreme_timeouts_in_memory() {
    extremes("memory://", "extreme:").await;
}

#[tokio::test]
async fn extreme_timeouts_on_redis() {
    let server = RedisServer::start();
    let keys = extremes(&server.url(), "extreme:").await;
    for key in keys {
        assert_clamped(&server.cli(&["PTTL", &key]), &key);
    }
}

#[tokio::test]
async fn extreme_timeouts_on_a_redis_cluster() {
    let cluster = RedisCluster::shared();
    let keys = extremes(&cluster.url(), "extreme-cluster:").await;
    for key in keys {
        assert_clamped(&cluster.cli(&["PTTL", &key]), &key);
    }
}
