//! The `metrics` counters of a scripted sequence of calls, exactly: hits,
//! misses, coalesced waits, stores and errors of a memoized function and
//! of the `Cache` API, on the memory store and on Redis, as a debugging
//! recorder sees them.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{LazyLock, OnceLock};
use std::time::Duration;

use cache_core::{memoize, Cache};
use cache_tests::redis_server::RedisServer;
use metrics_util::debugging::{DebugValue, DebuggingRecorder, Snapshotter};
use metrics_util::{CompositeKey, MetricKind};

/// The memory cache of the memory test (one recorder, one cache per test).
static MEMORY: LazyLock<Cache> =
    LazyLock::new(|| Cache::builder().name("script-memory").build().unwrap());

/// The Redis cache, built by the Redis test over the server it starts.
static REDIS: OnceLock<Cache> = OnceLock::new();

static RUNS: AtomicU64 = AtomicU64::new(0);

/// Slow enough for callers of the same id to queue behind the first.
async fn load(id: u64) -> String {
    RUNS.fetch_add(1, Ordering::SeqCst);
    tokio::time::sleep(Duration::from_millis(200)).await;
    format!("user {id}")
}

#[memoize(cache = MEMORY)]
async fn profile_memory(id: u64) -> String {
    load(id).await
}

#[memoize(cache = *REDIS.get().expect("built by the test"))]
async fn profile_redis(id: u64) -> String {
    load(id).await
}

/// Every metric and its value. Taking it resets the debugging recorder's
/// counters: take one per test.
fn snapshot(snapshotter: &Snapshotter) -> Vec<(CompositeKey, DebugValue)> {
    snapshotter
        .snapshot()
        .into_vec()
        .into_iter()
        .map(|(key, _, _, value)| (key, value))
        .collect()
}

/// The value of the metric `name` whose labels are exactly `labels`.
fn value<'a>(
    metrics: &'a [(CompositeKey, DebugValue)],
    kind: MetricKind,
    name: &str,
    labels: &[(&str, &str)],
) -> Option<&'a DebugValue> {
    let mut wanted: Vec<(String, String)> = labels
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    wanted.sort();
    metrics.iter().find_map(|(key, value)| {
        let mut have: Vec<(String, String)> = key
            .key()
            .labels()
            .map(|l| (l.key().to_owned(), l.value().to_owned()))
            .collect();
        have.sort();
        (key.kind() == kind && key.key().name() == name && have == wanted).then_some(value)
    })
}

/// Runs the script: one computation of id 1 then two hits; a computation of
/// id 2 with two callers waiting for it; a plain `get` of a value of the
/// wrong type. Returns the function's path.
async fn script<F, Fut>(cache: &Cache, call: F) -> String
where
    F: Fn(u64) -> Fut,
    Fut: std::future::Future<Output = String> + Send + 'static,
{
    assert_eq!(call(1).await, "user 1");
    assert_eq!(call(1).await, "user 1");
    assert_eq!(call(1).await, "user 1");

    let leader = tokio::spawn(call(2));
    tokio::task::yield_now().await;
    let followers = [tokio::spawn(call(2)), tokio::spawn(call(2))];
    assert_eq!(leader.await.unwrap(), "user 2");
    for follower in followers {
        assert_eq!(follower.await.unwrap(), "user 2");
    }

    cache.set("text", &"not a number", None).await.unwrap();
    assert_eq!(cache.get::<u64>("text").await.unwrap(), None);

    let (path, _) = cache
        .function_stats()
        .into_iter()
        .next()
        .expect("one function ran");
    path
}

/// Asserts the counters every store gives the script.
fn assert_script_counters(
    metrics: &[(CompositeKey, DebugValue)],
    cache: &str,
    store: &str,
    path: &str,
) {
    let counter = |name: &str, extra: &[(&str, &str)], function: bool| {
        let mut labels = vec![("cache.name", cache), ("cache.store", store)];
        if function {
            labels.push(("cache.function", path));
        }
        labels.extend_from_slice(extra);
        match value(metrics, MetricKind::Counter, name, &labels) {
            Some(DebugValue::Counter(n)) => *n,
            None => 0,
            Some(other) => panic!("{name} is not a counter: {other:?}"),
        }
    };
    let lookups = |outcome: &str, function: bool| {
        counter("cache.lookups", &[("cache.outcome", outcome)], function)
    };
    assert_eq!(lookups("hit", true), 2, "hits of the function");
    assert_eq!(lookups("miss", true), 2, "misses of the function");
    assert_eq!(
        lookups("coalesced", true),
        2,
        "callers that waited for id 2"
    );
    assert_eq!(lookups("stale", true), 0);
    assert_eq!(lookups("miss", false), 1, "the plain get of the wrong type");
    assert_eq!(lookups("hit", false), 0);
    assert_eq!(
        counter("cache.sets", &[], false),
        3,
        "two computed values and one set"
    );
    assert_eq!(
        counter(
            "cache.errors",
            &[("error.type", "codec"), ("cache.operation", "get")],
            false
        ),
        1,
        "the value of the wrong type"
    );
}

#[tokio::test]
async fn memory_script_gives_exact_counters() {
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    let _local = metrics::set_default_local_recorder(&recorder);

    let path = script(&MEMORY, profile_memory).await;
    assert!(path.ends_with("::profile_memory"), "{path}");
    let stats = profile_memory_stats();
    assert_eq!((stats.hits, stats.misses, stats.coalesced), (2, 2, 2));
    assert_eq!(stats.compute.count, 2);
    let metrics = snapshot(&snapshotter);
    let computations = value(
        &metrics,
        MetricKind::Histogram,
        "cache.compute.duration",
        &[
            ("cache.name", "script-memory"),
            ("cache.store", "memory"),
            ("cache.function", &path),
        ],
    );
    let Some(DebugValue::Histogram(seconds)) = computations else {
        panic!("no computation durations: {computations:?}");
    };
    assert_eq!(seconds.len(), 2);
    assert!(seconds.iter().all(|s| s.0 >= 0.2), "{seconds:?}");
    assert_script_counters(&metrics, "script-memory", "memory", &path);
}

#[tokio::test]
async fn redis_script_gives_exact_counters_and_counts_an_outage_by_kind() {
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    let _local = metrics::set_default_local_recorder(&recorder);

    let mut server = RedisServer::start();
    let redis = Cache::builder()
        .url(format!(
            "{}?connect_timeout=200ms&response_timeout=200ms",
            server.url()
        ))
        .key_prefix("script")
        .name("script-redis")
        .build()
        .unwrap();
    REDIS.set(redis.clone()).unwrap();

    let path = script(&redis, profile_redis).await;
    let stats = profile_redis_stats();
    assert_eq!((stats.hits, stats.misses, stats.coalesced), (2, 2, 2));
    let metrics = snapshot(&snapshotter);
    let store_gets = value(
        &metrics,
        MetricKind::Histogram,
        "cache.store.duration",
        &[
            ("cache.name", "script-redis"),
            ("cache.store", "redis"),
            ("cache.operation", "get"),
        ],
    );
    let Some(DebugValue::Histogram(seconds)) = store_gets else {
        panic!("no store durations: {store_gets:?}");
    };
    // Three reads of id 1, one of id 2 by its leader, two by its followers
    // (which read before they wait), and the plain get.
    assert_eq!(seconds.len(), 7, "{seconds:?}");
    assert_eq!(
        redis.stats().store.count,
        7 + 3,
        "seven reads and three writes"
    );
    assert_script_counters(&metrics, "script-redis", "redis", &path);

    // The store goes away: the function still runs; the read that fails
    // is counted by kind, and opens the breaker, so the write is skipped.
    server.stop();
    assert_eq!(profile_redis(3).await, "user 3");
    let stats = redis.stats();
    assert_eq!(stats.errors, 1 + 1, "the codec error, then a failed read");
    assert_eq!(
        (stats.breaker_opened, stats.breaker_skipped),
        (1, 1),
        "{stats:?}"
    );
    let outage: u64 = [
        cache_core::ErrorKind::Connection,
        cache_core::ErrorKind::Timeout,
    ]
    .into_iter()
    .map(|kind| stats.errors_by_kind.get(kind))
    .sum();
    assert_eq!(outage, 1);
    let errors: u64 = snapshot(&snapshotter)
        .into_iter()
        .filter(|(key, ..)| key.key().name() == "cache.errors")
        .filter(|(key, ..)| {
            key.key()
                .labels()
                .any(|l| l.key() == "error.type" && ["connection", "timeout"].contains(&l.value()))
        })
        .map(|(_, value)| match value {
            DebugValue::Counter(n) => n,
            other => panic!("{other:?}"),
        })
        .sum();
    assert_eq!(errors, 1);
}
