//! Redis costs, side by side in one run against one server: a `#[memoize]`
//! hit against a raw redis-rs `GET` of the same bytes on a multiplexed
//! connection and the `cached` crate's `AsyncRedisCache`, on a
//! current-thread (`_ct`) and a multi-thread (`_mt`) tokio runtime;
//! throughput with 50 concurrent tasks, with small values and with large
//! ones (on one connection against a few, ours and raw); and
//! single-flight under 100 concurrent misses.
//!
//! Uses the server at `BENCH_REDIS_URL` when set (scripts/bench.sh starts
//! one so that redis-benchmark measures the same server), otherwise starts
//! its own through the test harness. `BENCH_PAIRED=only` runs only the
//! interleaved comparisons (scripts/bench.sh repeats them), and
//! `BENCH_PAIRED=skip` only criterion's (for profiling one group).
//!
//! ```text
//! cargo bench --bench redis
//! cargo bench --bench redis -- redis_hit_100B_ct    # one group
//! ```

// The cached functions mirror user code (async bodies with nothing to
// await); the per-round average is a display value.
#![allow(clippy::unused_async, clippy::cast_precision_loss)]

use std::hint::black_box;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, LazyLock};
use std::time::{Duration, Instant};

use cache_core::backend::RedisBackend;
use cache_core::{memoize, Cache};
use cache_tests::paired;
use cache_tests::redis_server::RedisServer;
use cached::ConcurrentCachedAsync;
use criterion::{criterion_group, criterion_main, BenchmarkGroup, Criterion, Throughput};

static SERVER: LazyLock<Option<RedisServer>> = LazyLock::new(|| {
    std::env::var("BENCH_REDIS_URL")
        .is_err()
        .then(RedisServer::start_for_process)
});

static URL: LazyLock<String> = LazyLock::new(|| {
    std::env::var("BENCH_REDIS_URL")
        .unwrap_or_else(|_| SERVER.as_ref().expect("started when no URL is given").url())
});

static REDIS: LazyLock<Cache> = LazyLock::new(|| store(1));

/// The same store with [`LARGE_POOL`] connections per runtime.
static REDIS_POOLED: LazyLock<Cache> = LazyLock::new(|| store(LARGE_POOL));

/// A cache on the bench server through `connections` connections per
/// runtime, whose timeout lets large values queue behind each other.
fn store(connections: usize) -> Cache {
    let backend = RedisBackend::builder()
        .url(URL.as_str())
        .response_timeout(Duration::from_secs(10))
        .connections(connections)
        .build()
        .expect("a valid Redis URL");
    Cache::builder()
        .backend(backend)
        .key_prefix("bench:")
        .build()
        .expect("a cache on the backend")
}

/// `x` zero-padded to `len` bytes.
fn value_of(x: u64, len: usize) -> String {
    let digits = x.to_string();
    let mut value = "0".repeat(len.saturating_sub(digits.len()));
    value.push_str(&digits);
    value
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
    let path = format!("{}::{name}", module_path!());
    cache_tests::keys::memoized_key(&REDIS, &path, 1, &(&x,))
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

/// The runtime flavours every Redis comparison runs on, by suffix.
const FLAVOURS: [&str; 2] = ["ct", "mt"];

/// A current-thread (`ct`) or two-worker multi-thread (`mt`) runtime.
fn rt(flavour: &str) -> tokio::runtime::Runtime {
    let mut builder = if flavour == "ct" {
        tokio::runtime::Builder::new_current_thread()
    } else {
        let mut builder = tokio::runtime::Builder::new_multi_thread();
        builder.worker_threads(2);
        builder
    };
    builder.enable_all().build().unwrap()
}

/// Whether only the interleaved comparisons run (`BENCH_PAIRED=only`).
fn paired_only() -> bool {
    std::env::var("BENCH_PAIRED").is_ok_and(|v| v == "only")
}

/// Whether the interleaved comparisons are skipped (`BENCH_PAIRED=skip`).
fn skip_paired() -> bool {
    std::env::var("BENCH_PAIRED").is_ok_and(|v| v == "skip")
}

/// A raw multiplexed connection, made on the calling runtime (which then
/// drives it), as a user without a cache layer makes it.
async fn raw_connection() -> redis::aio::MultiplexedConnection {
    let config =
        redis::AsyncConnectionConfig::new().set_response_timeout(Some(Duration::from_secs(10)));
    redis::Client::open(URL.as_str())
        .unwrap()
        .get_multiplexed_async_connection_with_config(&config)
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

/// `TASKS` tasks doing `per_task` reads of the entry `key` through `cache`.
async fn tasks_ours(cache: &'static Cache, key: &'static str, per_task: usize) {
    let tasks: Vec<_> = (0..TASKS)
        .map(|_| {
            tokio::spawn(async move {
                for _ in 0..per_task {
                    black_box(cache.get::<String>(key).await.unwrap());
                }
            })
        })
        .collect();
    for t in tasks {
        t.await.unwrap();
    }
}

/// The same reads, raw, the tasks spread over the connections of `raw`
/// (task `i` on connection `i % raw.len()`).
async fn tasks_raw(raw: &[redis::aio::MultiplexedConnection], key: &str, per_task: usize) {
    let tasks: Vec<_> = (0..TASKS)
        .map(|i| {
            let (conn, key) = (raw[i % raw.len()].clone(), key.to_owned());
            tokio::spawn(async move {
                for _ in 0..per_task {
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
    if paired_only() {
        return;
    }
    for flavour in FLAVOURS {
        let rt = rt(flavour);
        for (name, len) in [("redis_hit_100B", 100usize), ("redis_hit_10KiB", 10 * 1024)] {
            let key = rt.block_on(warm_key(len, 1));
            let raw = rt.block_on(raw_connection());
            let store = rt.block_on(theirs(len));
            let mut group = configure(c, &format!("{name}_{flavour}"));
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
}

const TASKS: usize = 50;
const PER_TASK: usize = 100;

/// Connections in the large-value comparisons' pools.
const LARGE_POOL: usize = 4;

/// The large values: name, size, reads per task.
const LARGE: [(&str, usize, usize); 2] = [("100KiB", 100 * 1024, 20), ("1MiB", 1024 * 1024, 4)];

/// Stores a value of `len` bytes at `key` (through [`REDIS`]) and returns
/// its full key.
fn store_value(rt: &tokio::runtime::Runtime, key: &str, len: usize) -> String {
    rt.block_on(async {
        REDIS.set(key, &value_of(7, len), None).await.unwrap();
        REDIS.full_key(key)
    })
}

fn throughput(c: &mut Criterion) {
    if paired_only() {
        return;
    }
    for flavour in FLAVOURS {
        let rt = rt(flavour);
        let key = store_value(&rt, "hot", 100);
        let raw = [rt.block_on(raw_connection())];
        let mut group = configure(c, &format!("redis_throughput_50_tasks_{flavour}"));
        group.sample_size(20);
        group.throughput(Throughput::Elements((TASKS * PER_TASK) as u64));
        group.bench_function("cache_get", |b| {
            b.to_async(&rt).iter(|| tasks_ours(&REDIS, "hot", PER_TASK));
        });
        group.bench_function("raw_redis_get", |b| {
            b.to_async(&rt).iter(|| tasks_raw(&raw, &key, PER_TASK));
        });
        group.finish();
    }
}

/// 50 tasks reading one large value, ours and raw, on one multiplexed
/// connection (where a reply waits for the large replies ahead of it) and
/// on a few.
fn large_values(c: &mut Criterion) {
    if paired_only() {
        return;
    }
    let rt = rt("mt");
    let raw: Vec<_> = (0..LARGE_POOL)
        .map(|_| rt.block_on(raw_connection()))
        .collect();
    for (name, len, per_task) in LARGE {
        let key: &'static str = Box::leak(format!("large_{name}").into_boxed_str());
        let full = store_value(&rt, key, len);
        let mut group = configure(c, &format!("redis_throughput_50_tasks_{name}"));
        group.sample_size(10);
        group.throughput(Throughput::Bytes((TASKS * per_task * len) as u64));
        group.bench_function("cache_get", |b| {
            b.to_async(&rt).iter(|| tasks_ours(&REDIS, key, per_task));
        });
        group.bench_function("cache_get_4_connections", |b| {
            b.to_async(&rt)
                .iter(|| tasks_ours(&REDIS_POOLED, key, per_task));
        });
        group.bench_function("raw_redis_get", |b| {
            b.to_async(&rt)
                .iter(|| tasks_raw(&raw[..1], &full, per_task));
        });
        group.bench_function("raw_redis_get_4_connections", |b| {
            b.to_async(&rt).iter(|| tasks_raw(&raw, &full, per_task));
        });
        group.finish();
    }
}

fn single_flight(c: &mut Criterion) {
    static ROUND: AtomicU64 = AtomicU64::new(0);
    if paired_only() {
        return;
    }
    let rt = rt("mt");
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
    if skip_paired() {
        return;
    }
    for flavour in FLAVOURS {
        let rt = rt(flavour);
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
            paired::write(&format!("{name}_{flavour}_vs_raw"), &ours, &raws);
            paired::write(&format!("{name}_{flavour}_vs_cached"), &ours, &cached);
        }
    }
}

/// Times `TASKS` tasks reading through `ours`, then through `theirs`, for
/// [`paired::ROUNDS`] rounds.
fn paired_tasks<O, T>(
    rt: &tokio::runtime::Runtime,
    mut ours: impl FnMut() -> O,
    mut theirs: impl FnMut() -> T,
) -> (Vec<f64>, Vec<f64>)
where
    O: std::future::Future<Output = ()>,
    T: std::future::Future<Output = ()>,
{
    let (mut o, mut t) = (vec![], vec![]);
    rt.block_on(async {
        for _ in 0..paired::ROUNDS {
            let start = Instant::now();
            ours().await;
            o.push(start.elapsed().as_nanos() as f64);
            let start = Instant::now();
            theirs().await;
            t.push(start.elapsed().as_nanos() as f64);
        }
    });
    (o, t)
}

/// The throughput comparisons, interleaved like [`paired_latency`].
fn paired_throughput(_: &mut Criterion) {
    if skip_paired() {
        return;
    }
    for flavour in FLAVOURS {
        let rt = rt(flavour);
        let key = store_value(&rt, "hot", 100);
        let raw = [rt.block_on(raw_connection())];
        let (ours, raws) = paired_tasks(
            &rt,
            || tasks_ours(&REDIS, "hot", PER_TASK),
            || tasks_raw(&raw, &key, PER_TASK),
        );
        paired::write(
            &format!("redis_throughput_50_tasks_{flavour}_vs_raw"),
            &ours,
            &raws,
        );
    }
}

/// The large-value comparisons, interleaved: ours against raw, and
/// [`LARGE_POOL`] connections against one, ours and raw.
fn paired_large_values(_: &mut Criterion) {
    if skip_paired() {
        return;
    }
    let rt = rt("mt");
    let raw: Vec<_> = (0..LARGE_POOL)
        .map(|_| rt.block_on(raw_connection()))
        .collect();
    for (name, len, per_task) in LARGE {
        let key: &'static str = Box::leak(format!("large_{name}").into_boxed_str());
        let full = store_value(&rt, key, len);
        let (pooled, single) = paired_tasks(
            &rt,
            || tasks_ours(&REDIS_POOLED, key, per_task),
            || tasks_ours(&REDIS, key, per_task),
        );
        paired::write(
            &format!("redis_throughput_50_tasks_{name}_4_connections_vs_1"),
            &pooled,
            &single,
        );
        let (pooled, single) = paired_tasks(
            &rt,
            || tasks_raw(&raw, &full, per_task),
            || tasks_raw(&raw[..1], &full, per_task),
        );
        paired::write(
            &format!("redis_throughput_50_tasks_{name}_raw_4_connections_vs_1"),
            &pooled,
            &single,
        );
        let (ours, raws) = paired_tasks(
            &rt,
            || tasks_ours(&REDIS, key, per_task),
            || tasks_raw(&raw[..1], &full, per_task),
        );
        paired::write(
            &format!("redis_throughput_50_tasks_{name}_vs_raw"),
            &ours,
            &raws,
        );
    }
}

criterion_group!(
    benches,
    latency,
    throughput,
    large_values,
    single_flight,
    paired_latency,
    paired_throughput,
    paired_large_values
);
criterion_main!(benches);
