//! The circuit breaker: while Redis is frozen or down, calls skip it
//! instead of each waiting for a timeout; a probe closes it when Redis
//! answers again. Bounds are generous multiples: they tell "waited for a
//! timeout" from "did not", not how fast.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::LazyLock;
use std::time::{Duration, Instant};

use cache_core::{memoize, Cache, ErrorKind};
use cache_examples::late_cache::LateCache;
use cache_tests::redis_server::RedisServer;

const RESPONSE_TIMEOUT: Duration = Duration::from_millis(300);

fn url(server: &RedisServer) -> String {
    format!(
        "{}?connect_timeout=300ms&response_timeout={}ms",
        server.url(),
        RESPONSE_TIMEOUT.as_millis()
    )
}

static FROZEN: LateCache = LateCache::new();
static RUNS: AtomicUsize = AtomicUsize::new(0);

#[memoize(cache = FROZEN, timeout = 60)]
async fn profile(id: u64) -> String {
    RUNS.fetch_add(1, Ordering::SeqCst);
    tokio::task::yield_now().await;
    format!("user {id}")
}

#[tokio::test]
async fn a_frozen_server_costs_one_timeout_then_calls_skip_it_until_it_answers() {
    let server = RedisServer::start();
    let cache = FROZEN.set(
        Cache::builder()
            .url(url(&server))
            .key_prefix("frozen:")
            .build()
            .unwrap(),
    );
    assert_eq!(profile(1).await, "user 1");
    server.freeze();

    // The first call pays the read timeout and opens the breaker; its
    // write is skipped.
    let started = Instant::now();
    assert_eq!(profile(1).await, "user 1");
    assert!(
        started.elapsed() >= RESPONSE_TIMEOUT / 2,
        "the first call met the frozen server"
    );
    assert!(cache.circuit_open());

    // Every later call skips the store: no timeout at all.
    let started = Instant::now();
    for id in 2..52 {
        assert_eq!(profile(id).await, format!("user {id}"));
    }
    assert!(
        started.elapsed() < RESPONSE_TIMEOUT,
        "50 calls with the breaker open took {:?}: they waited for the store",
        started.elapsed()
    );
    let stats = cache.stats();
    assert_eq!(stats.breaker_opened, 1, "{stats:?}");
    assert!(
        stats.breaker_skipped >= 100,
        "each skipped read and write is counted: {stats:?}"
    );
    let err = cache.get::<String>("x").await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::CircuitOpen);
    assert!(
        err.to_string().contains("did not answer in time"),
        "says what opened it: {err}"
    );

    server.thaw();
    let deadline = Instant::now() + Duration::from_secs(10);
    while cache.circuit_open() {
        assert!(
            Instant::now() < deadline,
            "the probe never closed the breaker"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let runs = RUNS.load(Ordering::SeqCst);
    assert_eq!(profile(77).await, "user 77");
    assert_eq!(profile(77).await, "user 77");
    assert_eq!(RUNS.load(Ordering::SeqCst), runs + 1, "caching resumed");
}

#[tokio::test]
async fn a_stopped_server_opens_it_and_a_restart_closes_it() {
    let mut server = RedisServer::start();
    let cache = Cache::builder()
        .url(url(&server))
        .key_prefix("down")
        .circuit_breaker(Duration::from_millis(100))
        .build()
        .unwrap();
    cache.set("k", &1u8, None).await.unwrap();
    server.stop();
    assert_eq!(
        cache.get::<u8>("k").await.unwrap_err().kind(),
        ErrorKind::Connection
    );
    assert_eq!(
        cache.set("k", &2u8, None).await.unwrap_err().kind(),
        ErrorKind::CircuitOpen
    );
    // The probe keeps failing while the server is down.
    tokio::time::sleep(Duration::from_millis(350)).await;
    assert!(cache.circuit_open());
    server.restart();
    let deadline = Instant::now() + Duration::from_secs(10);
    while cache.circuit_open() {
        assert!(
            Instant::now() < deadline,
            "the probe never closed the breaker"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    cache.set("k", &3u8, None).await.unwrap();
    assert_eq!(cache.get::<u8>("k").await.unwrap(), Some(3));
    assert_eq!(cache.stats().breaker_opened, 1);
}

#[tokio::test]
async fn store_errors_that_are_not_outages_leave_it_closed() {
    let server = RedisServer::start();
    let cache = server.cache("wrong");
    server.cli(&["HSET", &cache.full_key("h"), "f", "v"]);
    // A wrong type under a key is the store answering: not an outage.
    for _ in 0..3 {
        assert_eq!(
            cache.incr("h", 1).await.unwrap_err().kind(),
            ErrorKind::Backend
        );
    }
    assert!(!cache.circuit_open());
    assert_eq!(cache.stats().breaker_opened, 0);
}

static CLUSTER_RUNS: AtomicUsize = AtomicUsize::new(0);

#[test]
fn on_a_cluster_it_is_off_unless_set() {
    static CLUSTER: LazyLock<cache_tests::redis_cluster::RedisCluster> =
        LazyLock::new(cache_tests::redis_cluster::RedisCluster::start);
    let default = Cache::from_url(&CLUSTER.url()).unwrap();
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        default.set("k", &1u8, None).await.unwrap();
        assert!(!default.circuit_open());
        let guarded = Cache::builder()
            .url(CLUSTER.url())
            .circuit_breaker(Duration::from_millis(200))
            .build()
            .unwrap();
        let v = guarded
            .get_or_set_with("k2", None, || async {
                CLUSTER_RUNS.fetch_add(1, Ordering::SeqCst);
                5u8
            })
            .await;
        assert_eq!(v, 5);
        assert!(!guarded.circuit_open(), "a healthy cluster keeps it closed");
    });
}
