//! Blocking calls made while a blocking call computes: a sync memoized
//! function that calls another, which reads the cache through
//! `cache.blocking()`, and `cache.blocking().get_or_set_with` whose closure
//! does the same, three and four calls deep, with the async door around
//! them. They return the right values without panicking or deadlocking on
//! Redis and in memory, outside any runtime and inside a runtime of either
//! flavour. Each body runs under a deadline, so a deadlock fails the test.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use cache_core::{memoize, Cache};
use cache_tests::blocking_harness::{
    current_thread_runtime, multi_thread_runtime, within_deadline,
};
use cache_tests::redis_server::RedisServer;

/// The leaf value every nest reads with `cache.blocking().get`.
const LEAF: u64 = 5;

/// Two sync memoized methods, one calling the other, the inner one reading
/// the cache with a blocking call: three blocking calls deep on a miss.
struct Nest {
    cache: Cache,
    outer_runs: AtomicUsize,
    middle_runs: AtomicUsize,
}

impl Nest {
    fn new(cache: Cache) -> Arc<Self> {
        Arc::new(Self {
            cache,
            outer_runs: AtomicUsize::new(0),
            middle_runs: AtomicUsize::new(0),
        })
    }

    #[memoize(ignore(self), cache = self.cache, timeout = 60)]
    fn outer(&self, x: u64) -> u64 {
        self.outer_runs.fetch_add(1, Ordering::SeqCst);
        self.middle(x) * 10
    }

    #[memoize(ignore(self), cache = self.cache, timeout = 60)]
    fn middle(&self, x: u64) -> u64 {
        self.middle_runs.fetch_add(1, Ordering::SeqCst);
        let leaf = self
            .cache
            .blocking()
            .get::<u64>("leaf")
            .expect("the store answers")
            .expect("each scenario stores the leaf first");
        leaf + x
    }

    fn runs(&self) -> (usize, usize) {
        (
            self.outer_runs.load(Ordering::SeqCst),
            self.middle_runs.load(Ordering::SeqCst),
        )
    }
}

/// Sync code: memoized calls three deep, then `blocking().get_or_set_with`
/// around them (four deep) and around a plain blocking read. `round`
/// keeps each run's keys apart.
fn nest_sync(nest: &Nest, round: u64) {
    let sync = nest.cache.blocking();
    sync.set("leaf", &LEAF, None).unwrap();
    let before = nest.runs();

    assert_eq!(nest.outer(round), (LEAF + round) * 10);
    assert_eq!(nest.runs(), (before.0 + 1, before.1 + 1), "one miss each");
    assert_eq!(nest.outer(round), (LEAF + round) * 10);
    assert_eq!(nest.runs(), (before.0 + 1, before.1 + 1), "then a hit");

    let wrapped = sync.get_or_set_with(&format!("wrapped:{round}"), None, || {
        nest.outer(round + 1_000)
    });
    assert_eq!(wrapped, (LEAF + round + 1_000) * 10);
    let direct = sync.get_or_set_with(&format!("direct:{round}"), None, || {
        sync.get::<u64>("leaf").unwrap().unwrap() + 1
    });
    assert_eq!(direct, LEAF + 1);
    assert_eq!(
        sync.get::<u64>(&format!("direct:{round}")).unwrap(),
        Some(LEAF + 1),
        "the outer call stored what the nested call read"
    );
}

/// Async code around the nests: an async `get_or_set_with` whose closure
/// calls the sync memoized functions, between async reads.
async fn nest_async(nest: &Nest, round: u64) {
    nest.cache.set("leaf", &LEAF, None).await.unwrap();
    let x = round + 2_000;
    let value = nest
        .cache
        .get_or_set_with(&format!("async:{round}"), None, || async { nest.outer(x) })
        .await;
    assert_eq!(value, (LEAF + x) * 10);
    assert_eq!(
        nest.cache
            .get::<u64>(&format!("async:{round}"))
            .await
            .unwrap(),
        Some(value)
    );
    nest_sync(nest, round);
    assert_eq!(nest.cache.get::<u64>("leaf").await.unwrap(), Some(LEAF));
}

fn redis_nest(server: &RedisServer) -> Arc<Nest> {
    Nest::new(server.cache("nested:"))
}

fn memory_nest() -> Arc<Nest> {
    Nest::new(Cache::builder().key_prefix("nested:").build().unwrap())
}

fn outside_any_runtime(nest: Arc<Nest>) {
    within_deadline(Duration::from_secs(20), move || {
        nest_sync(&nest, 1);
        nest_sync(&nest, 2);
    });
}

fn inside_a_current_thread_runtime(nest: Arc<Nest>) {
    within_deadline(Duration::from_secs(20), move || {
        current_thread_runtime().block_on(async {
            nest_sync(&nest, 1);
            nest_async(&nest, 2).await;
            // And from a spawned task of the same runtime.
            let spawned = Arc::clone(&nest);
            tokio::spawn(async move { nest_async(&spawned, 3).await })
                .await
                .unwrap();
        });
    });
}

fn inside_a_multi_thread_runtime(nest: Arc<Nest>) {
    within_deadline(Duration::from_secs(20), move || {
        multi_thread_runtime(2).block_on(async {
            nest_async(&nest, 1).await;
            // Concurrent tasks, each with its own run counters.
            let tasks: Vec<_> = (2..6)
                .map(|round| {
                    let nest = Nest::new(nest.cache.clone());
                    tokio::spawn(async move { nest_async(&nest, round).await })
                })
                .collect();
            for task in tasks {
                task.await.unwrap();
            }
        });
    });
}

#[test]
fn nested_blocking_calls_on_redis_work_outside_any_runtime() {
    let server = RedisServer::start();
    outside_any_runtime(redis_nest(&server));
}

#[test]
fn nested_blocking_calls_on_redis_work_inside_a_current_thread_runtime() {
    let server = RedisServer::start();
    inside_a_current_thread_runtime(redis_nest(&server));
}

#[test]
fn nested_blocking_calls_on_redis_work_inside_a_multi_thread_runtime() {
    let server = RedisServer::start();
    inside_a_multi_thread_runtime(redis_nest(&server));
}

#[test]
fn nested_blocking_calls_in_memory_work_outside_any_runtime() {
    outside_any_runtime(memory_nest());
}

#[test]
fn nested_blocking_calls_in_memory_work_inside_a_current_thread_runtime() {
    inside_a_current_thread_runtime(memory_nest());
}

#[test]
fn nested_blocking_calls_in_memory_work_inside_a_multi_thread_runtime() {
    inside_a_multi_thread_runtime(memory_nest());
}

/// The shape of the original report, as a user writes it: the test itself
/// is a current-thread `#[tokio::test]`.
#[tokio::test(flavor = "current_thread")]
async fn a_blocking_get_inside_a_blocking_get_or_set_with_on_redis_in_a_tokio_test() {
    let server = RedisServer::start();
    let cache = Cache::builder().url(server.url()).build().unwrap();
    let other = Cache::builder()
        .url(server.url())
        .key_prefix("other:")
        .build()
        .unwrap();
    other.set("k", &7u32, None).await.unwrap();
    let value = cache
        .blocking()
        .get_or_set_with("k", None, || other.blocking().get::<u32>("k").unwrap());
    assert_eq!(value, Some(7));
    assert_eq!(cache.get::<Option<u32>>("k").await.unwrap(), Some(Some(7)));
}
