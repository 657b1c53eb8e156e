//! When things go wrong: fail-safe stale values, computation timeouts,
//! refresh ahead, stale-while-revalidate and the distributed lock, through
//! the `Cache` API and the macros, on memory and Redis (see
//! `cache_core::policy`). Durations are short and bounds generous: these
//! assert what callers see, not speed.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, LazyLock};
use std::time::{Duration, Instant};

use cache_core::{memoize, Cache, Error, ErrorKind, Lock, Policy};
use cache_tests::redis_server::RedisServer;

/// A data source that can be made to fail or to hang, counting calls.
#[derive(Default)]
struct Source {
    calls: AtomicUsize,
    failing: AtomicBool,
    slow: AtomicBool,
    version: AtomicUsize,
}

impl Source {
    async fn load(&self) -> Result<u64, Error> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        if self.slow.load(Ordering::SeqCst) {
            tokio::time::sleep(Duration::from_millis(400)).await;
        }
        if self.failing.load(Ordering::SeqCst) {
            return Err(Error::new(ErrorKind::Backend, "the database is down"));
        }
        Ok(self.version.load(Ordering::SeqCst) as u64)
    }
    fn calls(&self) -> usize {
        self.calls.load(Ordering::SeqCst)
    }
}

async fn eventually(what: &str, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(5);
    while !check() {
        assert!(Instant::now() < deadline, "{what}: not within 5 s");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

fn caches() -> Vec<(&'static str, Cache, Option<RedisServer>)> {
    let server = RedisServer::start();
    let redis = server.cache("res");
    vec![
        ("memory", Cache::default(), None),
        ("redis", redis, Some(server)),
    ]
}

async fn fetch(cache: &Cache, source: &Arc<Source>, policy: &Policy) -> Result<u64, Error> {
    let source = Arc::clone(source);
    cache
        .try_get_or_set_with_policy("k", policy, move || async move { source.load().await })
        .await
}

#[tokio::test(flavor = "multi_thread")]
async fn fail_safe_serves_the_last_good_value_while_the_source_fails() {
    for (store, cache, _server) in caches() {
        let source = Arc::new(Source::default());
        let policy = Policy::new()
            .timeout(Duration::from_millis(100))
            .fail_safe(Duration::from_secs(30))
            .fail_safe_throttle(Duration::from_millis(200));
        source.version.store(1, Ordering::SeqCst);
        assert_eq!(fetch(&cache, &source, &policy).await.unwrap(), 1, "{store}");
        source.failing.store(true, Ordering::SeqCst);
        tokio::time::sleep(Duration::from_millis(150)).await;
        // The entry is stale: `get` treats it as absent, the fail-safe call
        // serves it.
        assert_eq!(cache.get::<u64>("k").await.unwrap(), None, "{store}");
        let failing_since = source.calls();
        for _ in 0..20 {
            assert_eq!(
                fetch(&cache, &source, &policy).await.unwrap(),
                1,
                "{store}: 0 errors while a stale value exists"
            );
        }
        assert_eq!(
            source.calls() - failing_since,
            1,
            "{store}: within the throttle, the failing source is called once"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
        assert_eq!(fetch(&cache, &source, &policy).await.unwrap(), 1, "{store}");
        assert_eq!(
            source.calls() - failing_since,
            2,
            "{store}: after the throttle, one more attempt"
        );

        source.failing.store(false, Ordering::SeqCst);
        source.version.store(2, Ordering::SeqCst);
        tokio::time::sleep(Duration::from_millis(250)).await;
        assert_eq!(
            fetch(&cache, &source, &policy).await.unwrap(),
            2,
            "{store}: fresh values after"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn without_a_stale_value_the_error_is_returned() {
    for (store, cache, _server) in caches() {
        let source = Arc::new(Source::default());
        source.failing.store(true, Ordering::SeqCst);
        let policy = Policy::new().fail_safe(Duration::from_secs(30));
        let err = fetch(&cache, &source, &policy).await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Backend, "{store}: {err}");
        // A stale value past the fail-safe window is not served either.
        let short = Policy::new()
            .timeout(Duration::from_millis(50))
            .fail_safe(Duration::from_millis(50));
        source.failing.store(false, Ordering::SeqCst);
        fetch(&cache, &source, &short).await.unwrap();
        tokio::time::sleep(Duration::from_millis(150)).await;
        source.failing.store(true, Ordering::SeqCst);
        assert!(fetch(&cache, &source, &short).await.is_err(), "{store}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn hard_timeout_gives_the_stale_value_or_a_timeout_error() {
    for (store, cache, _server) in caches() {
        let source = Arc::new(Source::default());
        source.slow.store(true, Ordering::SeqCst);
        let policy = Policy::new()
            .timeout(Duration::from_millis(100))
            .fail_safe(Duration::from_secs(30))
            .hard_timeout(Duration::from_millis(50));
        let err = fetch(&cache, &source, &policy).await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Timeout, "{store}: {err}");
        assert!(err.to_string().contains("hard timeout"), "{err}");

        source.slow.store(false, Ordering::SeqCst);
        source.version.store(7, Ordering::SeqCst);
        assert_eq!(fetch(&cache, &source, &policy).await.unwrap(), 7);
        tokio::time::sleep(Duration::from_millis(150)).await;
        source.slow.store(true, Ordering::SeqCst);
        source.version.store(8, Ordering::SeqCst);
        let started = Instant::now();
        assert_eq!(
            fetch(&cache, &source, &policy).await.unwrap(),
            7,
            "{store}: stale, not the late value"
        );
        assert!(
            started.elapsed() < Duration::from_millis(390),
            "{store}: the computation was dropped"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn an_infallible_computation_past_its_hard_timeout_is_waited_for_when_nothing_is_stale() {
    let cache = Cache::default();
    let policy = Policy::new().hard_timeout(Duration::from_millis(20));
    let v = cache
        .get_or_set_with_policy("k", &policy, || async {
            tokio::time::sleep(Duration::from_millis(100)).await;
            5u32
        })
        .await;
    assert_eq!(v, 5);
}

#[tokio::test(flavor = "multi_thread")]
async fn soft_timeout_serves_the_stale_value_and_stores_the_late_one() {
    for (store, cache, _server) in caches() {
        let source = Arc::new(Source::default());
        let policy = Policy::new()
            .timeout(Duration::from_millis(100))
            .fail_safe(Duration::from_secs(30))
            .soft_timeout(Duration::from_millis(50));
        source.version.store(1, Ordering::SeqCst);
        fetch(&cache, &source, &policy).await.unwrap();
        tokio::time::sleep(Duration::from_millis(150)).await;
        source.slow.store(true, Ordering::SeqCst);
        source.version.store(2, Ordering::SeqCst);
        assert_eq!(
            fetch(&cache, &source, &policy).await.unwrap(),
            1,
            "{store}: stale at the soft timeout"
        );
        source.slow.store(false, Ordering::SeqCst);
        let cache2 = cache.clone();
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            if cache2.get::<u64>("k").await.unwrap() == Some(2) {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "{store}: the late value was never stored"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert_eq!(fetch(&cache, &source, &policy).await.unwrap(), 2);
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn refresh_ahead_replaces_a_value_in_the_background() {
    for (store, cache, _server) in caches() {
        let source = Arc::new(Source::default());
        let policy = Policy::new()
            .timeout(Duration::from_millis(400))
            .refresh_ahead(0.5);
        source.version.store(1, Ordering::SeqCst);
        assert_eq!(fetch(&cache, &source, &policy).await.unwrap(), 1);
        source.version.store(2, Ordering::SeqCst);
        tokio::time::sleep(Duration::from_millis(250)).await;
        // Past half its life: the hit returns the current value at once
        // and one background computation replaces it.
        source.slow.store(true, Ordering::SeqCst);
        let started = Instant::now();
        for _ in 0..10 {
            assert_eq!(fetch(&cache, &source, &policy).await.unwrap(), 1, "{store}");
        }
        assert!(
            started.elapsed() < Duration::from_millis(390),
            "{store}: no caller waited for the refresh"
        );
        let c = cache.clone();
        let mut refreshed = false;
        for _ in 0..100 {
            if c.get::<u64>("k").await.unwrap() == Some(2) {
                refreshed = true;
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert!(refreshed, "{store}: refreshed in the background");
        assert_eq!(source.calls(), 2, "{store}: one refresh for ten hits");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn stale_while_revalidate_answers_at_once_and_revalidates() {
    for (store, cache, _server) in caches() {
        let source = Arc::new(Source::default());
        let policy = Policy::new()
            .timeout(Duration::from_millis(100))
            .stale_while_revalidate(Duration::from_secs(30));
        source.version.store(1, Ordering::SeqCst);
        fetch(&cache, &source, &policy).await.unwrap();
        tokio::time::sleep(Duration::from_millis(150)).await;
        source.version.store(2, Ordering::SeqCst);
        source.slow.store(true, Ordering::SeqCst);
        let started = Instant::now();
        assert_eq!(
            fetch(&cache, &source, &policy).await.unwrap(),
            1,
            "{store}: expired, served at once"
        );
        assert!(started.elapsed() < Duration::from_millis(390), "{store}");
        let c = cache.clone();
        let deadline = Instant::now() + Duration::from_secs(5);
        while c.get::<u64>("k").await.unwrap() != Some(2) {
            assert!(Instant::now() < deadline, "{store}: never revalidated");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

#[tokio::test]
async fn invalid_policies_are_refused_at_build() {
    for bad in [
        Policy::new().refresh_ahead(0.0),
        Policy::new().refresh_ahead(1.0),
        Policy::new().refresh_ahead(f64::NAN),
        Policy::new().hard_timeout(Duration::ZERO),
    ] {
        let err = Cache::builder().policy(bad).build().unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Config, "{err}");
    }
}

// --- The macros ---------------------------------------------------------------------------

static MEMO: LazyLock<Cache> = LazyLock::new(Cache::default);
static QUOTE_RUNS: AtomicUsize = AtomicUsize::new(0);
static QUOTE_DOWN: AtomicBool = AtomicBool::new(false);

#[memoize(cache = MEMO, timeout = 1, fail_safe = 60, fail_safe_throttle = "100ms")]
async fn quote(symbol: &str) -> Result<String, String> {
    let n = QUOTE_RUNS.fetch_add(1, Ordering::SeqCst);
    tokio::task::yield_now().await;
    if QUOTE_DOWN.load(Ordering::SeqCst) {
        return Err("feed down".into());
    }
    Ok(format!("{symbol}@{n}"))
}

#[tokio::test(flavor = "multi_thread")]
async fn a_memoized_function_with_fail_safe_serves_the_last_good_value() {
    assert_eq!(quote("ACME").await.unwrap(), "ACME@0");
    QUOTE_DOWN.store(true, Ordering::SeqCst);
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert_eq!(
        quote("ACME").await.unwrap(),
        "ACME@0",
        "stale, not the error"
    );
    assert!(
        quote("OTHER").await.is_err(),
        "no stale value for other arguments"
    );
    QUOTE_DOWN.store(false, Ordering::SeqCst);
    tokio::time::sleep(Duration::from_millis(150)).await;
    assert!(quote("ACME").await.unwrap().starts_with("ACME@"));
    assert_ne!(
        quote("ACME").await.unwrap(),
        "ACME@0",
        "fresh after the source recovers"
    );
}

static RATES: LazyLock<Cache> = LazyLock::new(Cache::default);
static RATE_RUNS: AtomicUsize = AtomicUsize::new(0);

/// Borrowed arguments and a refresh in the background: the computation
/// owns copies.
#[memoize(cache = RATES, timeout = 1, refresh_ahead = 0.5)]
async fn rate(from: &str, to: &str) -> String {
    let n = RATE_RUNS.fetch_add(1, Ordering::SeqCst);
    tokio::time::sleep(Duration::from_millis(50)).await;
    format!("{from}->{to}#{n}")
}

#[tokio::test(flavor = "multi_thread")]
async fn a_memoized_function_refreshes_ahead_with_borrowed_arguments() {
    assert_eq!(rate("EUR", "USD").await, "EUR->USD#0");
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert_eq!(
        rate("EUR", "USD").await,
        "EUR->USD#0",
        "the current value, at once"
    );
    eventually("refreshed in the background", || {
        RATE_RUNS.load(Ordering::SeqCst) == 2
    })
    .await;
    let deadline = Instant::now() + Duration::from_secs(5);
    while rate("EUR", "USD").await != "EUR->USD#1" {
        assert!(Instant::now() < deadline);
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[derive(Clone)]
struct Catalog {
    runs: Arc<AtomicUsize>,
}

impl Catalog {
    #[memoize(cache = RATES, ignore(self), timeout = 1, stale_while_revalidate = 30, hard_timeout = "2s")]
    fn price(&self, sku: &str) -> Result<u64, Error> {
        if sku.is_empty() {
            return Err(Error::new(ErrorKind::InvalidInput, "no SKU"));
        }
        let n = self.runs.fetch_add(1, Ordering::SeqCst);
        std::thread::sleep(Duration::from_millis(20));
        Ok(sku.len() as u64 * 100 + n as u64)
    }
}

#[test]
fn a_sync_method_revalidates_in_the_background() {
    let catalog = Catalog {
        runs: Arc::new(AtomicUsize::new(0)),
    };
    assert_eq!(catalog.price("abc").unwrap(), 300);
    std::thread::sleep(Duration::from_millis(1100));
    assert_eq!(
        catalog.price("abc").unwrap(),
        300,
        "expired: served while revalidating"
    );
    let deadline = Instant::now() + Duration::from_secs(5);
    while catalog.price("abc").unwrap() != 301 {
        assert!(Instant::now() < deadline, "never revalidated");
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(catalog.runs.load(Ordering::SeqCst), 2);
}

// --- Distributed single-flight --------------------------------------------------------------

/// Caches on separate connections, as separate processes would have.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn one_computation_across_caches_sharing_redis() {
    let server = RedisServer::start();
    let policy = Policy::new()
        .timeout(Duration::from_secs(60))
        .lock(Lock::Distributed);
    let caches: Vec<Cache> = (0..4).map(|_| server.cache("dl")).collect();
    let runs = Arc::new(AtomicUsize::new(0));
    let mut tasks = Vec::new();
    for cache in &caches {
        for _ in 0..25 {
            let (cache, runs) = (cache.clone(), Arc::clone(&runs));
            tasks.push(tokio::spawn(async move {
                cache
                    .get_or_set_with_policy("report", &policy, move || async move {
                        runs.fetch_add(1, Ordering::SeqCst);
                        tokio::time::sleep(Duration::from_millis(200)).await;
                        42u32
                    })
                    .await
            }));
        }
    }
    for task in tasks {
        assert_eq!(task.await.unwrap(), 42);
    }
    assert_eq!(
        runs.load(Ordering::SeqCst),
        1,
        "one computation for 100 callers on 4 caches"
    );
    let lock = caches[0].lock_key("report");
    assert_eq!(server.cli(&["EXISTS", &lock]), "0", "the lock is released");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_dead_lock_holder_is_taken_over_after_the_lock_expires() {
    let server = RedisServer::start();
    let cache = server.cache("dead");
    // A holder that died mid-computation: its lock stays until it expires.
    let lock = cache.lock_key("k");
    server.cli(&["SET", &lock, "someone-else", "PX", "300"]);
    let policy = Policy::new()
        .lock(Lock::Distributed)
        .lock_expiry(Duration::from_secs(5));
    let started = Instant::now();
    let v = cache
        .get_or_set_with_policy("k", &policy, || async { 9u8 })
        .await;
    assert_eq!(v, 9);
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_millis(250),
        "waited for the holder: {waited:?}"
    );
    assert!(
        waited < Duration::from_secs(4),
        "took the lock over when it expired: {waited:?}"
    );
    assert_eq!(server.cli(&["GET", &lock]), "", "released after");
}

// --- Redis Cluster ----------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn on_a_cluster_fail_safe_and_the_distributed_lock_hold() {
    let cluster = cache_tests::redis_cluster::RedisCluster::shared();
    let caches: Vec<Cache> = (0..2)
        .map(|_| {
            Cache::builder()
                .url(cluster.url())
                .key_prefix("resilience")
                .build()
                .unwrap()
        })
        .collect();
    let policy = Policy::new()
        .timeout(Duration::from_millis(300))
        .fail_safe(Duration::from_secs(30))
        .lock(Lock::Distributed);
    let source = Arc::new(Source::default());
    source.version.store(3, Ordering::SeqCst);
    let mut tasks = Vec::new();
    for cache in &caches {
        for _ in 0..25 {
            let (cache, source) = (cache.clone(), Arc::clone(&source));
            tasks.push(tokio::spawn(async move {
                cache
                    .try_get_or_set_with_policy("k", &policy, move || async move {
                        tokio::time::sleep(Duration::from_millis(100)).await;
                        source.load().await
                    })
                    .await
            }));
        }
    }
    for task in tasks {
        assert_eq!(task.await.unwrap().unwrap(), 3);
    }
    assert_eq!(source.calls(), 1, "one computation across both caches");
    source.failing.store(true, Ordering::SeqCst);
    tokio::time::sleep(Duration::from_millis(350)).await;
    for cache in &caches {
        assert_eq!(
            fetch(cache, &source, &policy).await.unwrap(),
            3,
            "stale, not the error"
        );
    }
}

static CONFIG_DOWN: AtomicBool = AtomicBool::new(false);
static CONFIG_RUNS: AtomicUsize = AtomicUsize::new(0);

/// `#[cached]` takes the same options.
#[cache_core::cached(cache = MEMO, timeout = 1, fail_safe = 60, fail_safe_throttle = 0)]
fn site_config() -> Result<u64, String> {
    let n = CONFIG_RUNS.fetch_add(1, Ordering::SeqCst) as u64;
    if CONFIG_DOWN.load(Ordering::SeqCst) {
        return Err("config service down".into());
    }
    Ok(n)
}

#[test]
fn a_cached_function_with_fail_safe_serves_the_last_good_value() {
    assert_eq!(site_config(), Ok(0));
    CONFIG_DOWN.store(true, Ordering::SeqCst);
    std::thread::sleep(Duration::from_millis(1100));
    assert_eq!(site_config(), Ok(0), "stale, not the error");
    assert_eq!(site_config(), Ok(0));
    assert_eq!(
        CONFIG_RUNS.load(Ordering::SeqCst),
        3,
        "no throttle: each call past the timeout tries the source"
    );
    CONFIG_DOWN.store(false, Ordering::SeqCst);
    assert_eq!(site_config(), Ok(3), "fresh once the source answers");
}
