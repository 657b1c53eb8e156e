//! Redis costs, side by side in one run against one server: a `#[memoize]`
//! hit against a raw redis-rs `GET` of the same bytes on a multiplexed
//! connection and the `cached` crate's `AsyncRedisCache`; throughput with
//! 50 concurrent tasks; and single-flight under 100 concurrent misses.
//!
//! Uses the server at `BENCH_REDIS_URL` when set (scripts/bench.sh starts
//! one so that redis-benchmark measures the same server), otherwise starts
//! its own through the test harness.
//!
//! ```text
//! cargo bench --bench redis
//! ```

// The cached functions mirror user code (async bodies with nothing to
// await); the per-round average is a display value.
#![allow(clippy::unused_async, clippy::cast_precision_loss)]

use std::hint::black_box;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, LazyLock};
use std::time::{Duration, Instant};

use cache_core::{memoize, Cache};
use cache_tests::paired;
use cache_tests::redis_server::RedisServer;
use cached::ConcurrentCachedAsync;
use criterion::{criterion_group, criterion_main, BenchmarkGroup, Criterion, Throughput};

static SERVER: LazyLock<Option<RedisServer>> = LazyLock::new(|| {
    std::env::var("BENCH_REDIS_URL")
        .is_err()
        .then(RedisServer::start)
});

static URL: LazyLock<String> = LazyLock::new(|| {
    std::env::var("BENCH_REDIS_URL")
        .unwrap_or_else(|_| SERVER.as_ref().expect("started when no URL is given").url())
});

static REDIS: LazyLock<Cache> = LazyLock::new(|| {
    Cache::builder()
        .url(URL.as_str())
        .key_prefix("bench:")
        .build()
        .expect("a valid Redis URL")
});

fn value_of(x: u64, len: usize) -> String {
    format!("{x:0>len$}")
}

#[memoize(timeout = 600, cache = REDIS)]
async fn profile_100b(x: u64) -> String {
    value_of(x, 100)
}

#[memoize(timeout = 600, cache = REDIS)]
async fn profile_10kib(x: u64) -> String {
    value_of(x, 10 * 1024)
}

/// The memoized function for values of `len` bytes (100 B or 10 KiB).
async fn memoized(len: usize, x: u64) -> String {
    if len == 100 {
        profile_100b(x).await
    } else {
        profile_10kib(x).await
    }
}

/// Calls [`memoized`] once, so its entry is in Redis, and returns the full
/// key of that entry, for the raw `GET`s.
async fn warm_key(len: usize, x: u64) -> String {
    memoized(len, x).await;
    let name = if len == 100 {
        "profile_100b"
    } else {
        "profile_10kib"
    };
    let mut key = String::from("bench:");
    let path = format!("{}::{name}", module_path!());
    cache_core::key::write_function_key(&mut key, &path, 1, &(&x,)).unwrap();
    key
}

static COMPUTATIONS: AtomicUsize = AtomicUsize::new(0);

#[memoize(timeout = 600, cache = REDIS)]
async fn expensive(round: u64) -> String {
    COMPUTATIONS.fetch_add(1, Ordering::SeqCst);
    tokio::time::sleep(Duration::from_millis(20)).await;
    value_of(round, 100)
}

fn configure<'a>(
    c: &'a mut Criterion,
    name: &str,
) -> BenchmarkGroup<'a, criterion::measurement::WallTime> {
    let mut group = c.benchmark_group(name);
    group.measurement_time(Duration::from_secs(4));
    group.warm_up_time(Duration::from_secs(1));
    group
}

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

async fn raw_connection() -> redis::aio::MultiplexedConnection {
    redis::Client::open(URL.as_str())
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap()
}

/// One raw redis-rs `GET`, as a user without a cache layer writes it.
async fn raw_get(mut conn: redis::aio::MultiplexedConnection, key: String) -> Vec<u8> {
    redis::cmd("GET")
        .arg(&key)
        .query_async(&mut conn)
        .await
        .unwrap()
}

/// `TASKS` tasks doing `PER_TASK` reads of the "hot" entry through `REDIS`.
async fn tasks_ours() {
    let tasks: Vec<_> = (0..TASKS)
        .map(|_| {
            tokio::spawn(async {
                for _ in 0..PER_TASK {
                    black_box(REDIS.get::<String>("hot").await.unwrap());
                }
            })
        })
        .collect();
    for t in tasks {
        t.await.unwrap();
    }
}

/// The same reads, raw, on one multiplexed connection.
async fn tasks_raw(raw: &redis::aio::MultiplexedConnection, key: &str) {
    let tasks: Vec<_> = (0..TASKS)
        .map(|_| {
            let (conn, key) = (raw.clone(), key.to_owned());
            tokio::spawn(async move {
                for _ in 0..PER_TASK {
                    black_box(raw_get(conn.clone(), key.clone()).await);
                }
            })
        })
        .collect();
    for t in tasks {
        t.await.unwrap();
    }
}

async fn theirs(len: usize) -> cached::AsyncRedisCache<u64, String> {
    let store = cached::AsyncRedisCache::<u64, String>::builder(format!("theirs{len}:"))
        .ttl_secs(600)
        .connection_string(URL.as_str())
        .connection_manager(true)
        .build()
        .await
        .unwrap();
    let _previous = store.async_cache_set(1, value_of(1, len)).await.unwrap();
    store
}

fn latency(c: &mut Criterion) {
    let rt = rt();
    for (name, len) in [("redis_hit_100B", 100usize), ("redis_hit_10KiB", 10 * 1024)] {
        let key = rt.block_on(warm_key(len, 1));
        let raw = rt.block_on(raw_connection());
        let store = rt.block_on(theirs(len));
        let mut group = configure(c, name);
        group.bench_function("memoize_async", |b| {
            b.to_async(&rt)
                .iter(|| async { black_box(memoized(len, 1).await) });
        });
        group.bench_function("raw_redis_get", |b| {
            b.to_async(&rt).iter(|| async {
                let v = raw_get(raw.clone(), key.clone()).await;
                assert!(v.len() >= len, "the memoized value is there");
                black_box(v)
            });
        });
        group.bench_function("cached_async_redis", |b| {
            b.to_async(&rt)
                .iter(|| async { black_box(store.async_cache_get(&1).await.unwrap()) });
        });
        group.finish();
    }
}

const TASKS: usize = 50;
const PER_TASK: usize = 100;

fn throughput(c: &mut Criterion) {
    let rt = rt();
    let key = rt.block_on(async {
        REDIS.set("hot", &value_of(7, 100), None).await.unwrap();
        REDIS.full_key("hot")
    });
    let raw = rt.block_on(raw_connection());
    let mut group = configure(c, "redis_throughput_50_tasks");
    group.sample_size(20);
    group.throughput(Throughput::Elements((TASKS * PER_TASK) as u64));
    group.bench_function("cache_get", |b| b.to_async(&rt).iter(tasks_ours));
    group.bench_function("raw_redis_get", |b| {
        b.to_async(&rt).iter(|| tasks_raw(&raw, &key));
    });
    group.finish();
}

fn single_flight(c: &mut Criterion) {
    static ROUND: AtomicU64 = AtomicU64::new(0);
    let rt = rt();
    let mut group = configure(c, "redis_single_flight_100_misses");
    group.sample_size(10);
    let mut rounds = 0usize;
    group.bench_function("memoize_async", |b| {
        b.to_async(&rt).iter_custom(|iters| async move {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let round = ROUND.fetch_add(1, Ordering::SeqCst) + 1_000_000;
                let start = Instant::now();
                let tasks: Vec<_> = (0..100).map(|_| tokio::spawn(expensive(round))).collect();
                for t in tasks {
                    t.await.unwrap();
                }
                total += start.elapsed();
            }
            total
        });
    });
    rounds += usize::try_from(ROUND.load(Ordering::SeqCst)).unwrap();
    group.finish();
    let computations = COMPUTATIONS.load(Ordering::SeqCst);
    let naive = Arc::new(AtomicUsize::new(0));
    let naive_time = rt.block_on({
        let naive = naive.clone();
        async move {
            let start = Instant::now();
            let tasks: Vec<_> = (0..100)
                .map(|_| {
                    let naive = naive.clone();
                    tokio::spawn(async move {
                        naive.fetch_add(1, Ordering::SeqCst);
                        tokio::time::sleep(Duration::from_millis(20)).await;
                    })
                })
                .collect();
            for t in tasks {
                t.await.unwrap();
            }
            start.elapsed()
        }
    });
    println!(
        "single-flight: {rounds} rounds of 100 concurrent misses ran the body {computations} times ({:.2} per round); \
         without single-flight one round runs it {} times ({naive_time:.1?} of wall time here, 100x the load on what it calls)",
        computations as f64 / rounds.max(1) as f64,
        naive.load(Ordering::SeqCst),
    );
}

/// Calls per contender and round in the interleaved comparisons.
const PAIRED_OPS: u32 = 400;

/// The latency comparisons again, interleaved: each round times ours, raw
/// redis-rs and the `cached` crate back to back, and the ratio is the
/// median of the per-round ratios. On a machine whose loopback latency
/// drifts by 10-20% over a minute (VMs), criterion's one-after-the-other
/// measurements of two contenders differ by that drift; pairing cancels it.
fn paired_latency(_: &mut Criterion) {
    let rt = rt();
    for (name, len) in [("redis_hit_100B", 100usize), ("redis_hit_10KiB", 10 * 1024)] {
        let key = rt.block_on(warm_key(len, 2));
        let raw = rt.block_on(raw_connection());
        let store = rt.block_on(theirs(len));
        let (mut ours, mut raws, mut cached) = (vec![], vec![], vec![]);
        rt.block_on(async {
            for _ in 0..paired::ROUNDS {
                ours.push(
                    paired::per_call_async(PAIRED_OPS, || async {
                        black_box(memoized(len, 2).await);
                    })
                    .await,
                );
                raws.push(
                    paired::per_call_async(PAIRED_OPS, || async {
                        let v = raw_get(raw.clone(), key.clone()).await;
                        assert!(v.len() >= len, "the memoized value is there");
                        black_box(v);
                    })
                    .await,
                );
                cached.push(
                    paired::per_call_async(PAIRED_OPS, || async {
                        black_box(store.async_cache_get(&1).await.unwrap());
                    })
                    .await,
                );
            }
        });
        paired::write(&format!("{name}_vs_raw"), &ours, &raws);
        paired::write(&format!("{name}_vs_cached"), &ours, &cached);
    }
}

/// The throughput comparison, interleaved like [`paired_latency`].
fn paired_throughput(_: &mut Criterion) {
    let rt = rt();
    let key = REDIS.full_key("hot");
    let raw = rt.block_on(raw_connection());
    let (mut ours, mut raws) = (vec![], vec![]);
    rt.block_on(async {
        REDIS.set("hot", &value_of(7, 100), None).await.unwrap();
        for _ in 0..paired::ROUNDS {
            let start = Instant::now();
            tasks_ours().await;
            ours.push(start.elapsed().as_nanos() as f64);
            let start = Instant::now();
            tasks_raw(&raw, &key).await;
            raws.push(start.elapsed().as_nanos() as f64);
        }
    });
    paired::write("redis_throughput_50_tasks_vs_raw", &ours, &raws);
}

criterion_group!(
    benches,
    latency,
    throughput,
    single_flight,
    paired_latency,
    paired_throughput
);
criterion_main!(benches);
