//! The near cache (L1 in front of Redis), side by side in one run:
//!
//! - a memoized hit served from L1 against the same hit on the memory
//!   store, and `Cache::get` likewise (interleaved, see
//!   `cache_tests::paired`); a plain Redis hit for scale;
//! - the invalidation lag: from `set` (or `<fn>_invalidate`) returning in
//!   cache A to cache B's L1 no longer holding the old value, over
//!   [`UPDATES`] updates each (A and B are two caches with their own
//!   connections and tracking connections, in one process, so that one
//!   clock times both ends);
//! - 50 tasks reading a Zipf(1.0) key set (1% writes) with L1 on and off:
//!   throughput, and the share of reads served without a Redis `GET`.
//!
//! Results go to `target/criterion/near.json` (and the paired files),
//! where `bench_report` reads them.
//!
//! ```text
//! cargo bench --bench near
//! ```

#![allow(clippy::cast_precision_loss, clippy::unused_async)]

use cache_tests::zipf::{next_random, Zipf};
use std::hint::black_box;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, LazyLock};
use std::time::{Duration, Instant};

use cache_core::{memoize, Cache};
use cache_tests::paired;
use cache_tests::redis_server::RedisServer;

static SERVER: LazyLock<Option<RedisServer>> = LazyLock::new(|| {
    std::env::var("BENCH_REDIS_URL")
        .is_err()
        .then(RedisServer::start_for_process)
});

static URL: LazyLock<String> = LazyLock::new(|| {
    std::env::var("BENCH_REDIS_URL")
        .unwrap_or_else(|_| SERVER.as_ref().expect("started when no URL is given").url())
});

/// Updates timed for the lag, per kind.
const UPDATES: usize = 10_000;
/// Calls per round of the paired hit comparisons.
const OPS: u32 = 20_000;
const TASKS: usize = 50;
const ZIPF_KEYS: u64 = 10_000;
const ZIPF_TIME: Duration = Duration::from_secs(3);

fn cache(prefix: &str, near: Option<u64>) -> Cache {
    let mut builder = Cache::builder()
        .url(URL.as_str())
        .key_prefix(prefix)
        .default_timeout(Duration::from_secs(600));
    if let Some(bytes) = near {
        builder = builder.near_cache(bytes);
    }
    builder.build().expect("a cache on the bench server")
}

static NEAR: LazyLock<Cache> = LazyLock::new(|| cache("near-hit", Some(32 << 20)));
static REMOTE: LazyLock<Cache> = LazyLock::new(|| cache("remote-hit", None));
static MEMORY: LazyLock<Cache> = LazyLock::new(|| {
    Cache::builder()
        .key_prefix("memory-hit")
        .build()
        .expect("a memory cache")
});

fn value_of(x: u64) -> String {
    format!("{x:0>100}")
}

#[memoize(timeout = 600, cache = NEAR)]
async fn near_profile(x: u64) -> String {
    value_of(x)
}

#[memoize(timeout = 600, cache = MEMORY)]
async fn memory_profile(x: u64) -> String {
    value_of(x)
}

#[memoize(timeout = 600, cache = REMOTE)]
async fn remote_profile(x: u64) -> String {
    value_of(x)
}

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

/// Waits until `cache`'s near cache tracks invalidations.
async fn tracking(cache: &Cache) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !cache.near_cache_stats().unwrap().tracking {
        assert!(Instant::now() < deadline, "tracking never came up");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// Waits until `cache` has seen more than `n` invalidations.
async fn invalidated_past(cache: &Cache, n: u64) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while cache.near_cache_stats().unwrap().invalidations <= n {
        assert!(Instant::now() < deadline, "an invalidation never arrived");
        tokio::task::yield_now().await;
    }
}

/// Memoized and `get` hits: L1 against the memory store (paired), and a
/// plain Redis hit. Returns the Redis hit's ns per call.
fn hits(rt: &tokio::runtime::Runtime) -> f64 {
    rt.block_on(async {
        tracking(&NEAR).await;
        // The first call stores (its own invalidation follows): read until
        // L1 holds the value, after that invalidation.
        let seen = NEAR.near_cache_stats().unwrap().invalidations;
        near_profile(1).await;
        invalidated_past(&NEAR, seen + 1).await;
        while NEAR.near_cache_stats().unwrap().len == 0 {
            near_profile(1).await;
        }
        memory_profile(1).await;
        remote_profile(1).await;
        let seen = NEAR.near_cache_stats().unwrap().invalidations;
        NEAR.set("k", &value_of(1), None).await.unwrap();
        MEMORY.set("k", &value_of(1), None).await.unwrap();
        invalidated_past(&NEAR, seen + 1).await;
        while NEAR.near_cache_stats().unwrap().len < 2 {
            black_box(NEAR.get::<String>("k").await.unwrap());
        }
    });
    let (mut ours, mut theirs) = (Vec::new(), Vec::new());
    let (mut get_ours, mut get_theirs) = (Vec::new(), Vec::new());
    for _ in 0..paired::ROUNDS {
        rt.block_on(async {
            ours.push(
                paired::per_call_async(OPS, || async {
                    black_box(near_profile(black_box(1)).await);
                })
                .await,
            );
            theirs.push(
                paired::per_call_async(OPS, || async {
                    black_box(memory_profile(black_box(1)).await);
                })
                .await,
            );
            get_ours.push(
                paired::per_call_async(OPS, || async {
                    black_box(NEAR.get::<String>(black_box("k")).await.unwrap());
                })
                .await,
            );
            get_theirs.push(
                paired::per_call_async(OPS, || async {
                    black_box(MEMORY.get::<String>(black_box("k")).await.unwrap());
                })
                .await,
            );
        });
    }
    paired::write("near_hit_vs_memory_hit", &ours, &theirs);
    paired::write("near_get_vs_memory_get", &get_ours, &get_theirs);
    rt.block_on(async {
        paired::per_call_async(2_000, || async {
            black_box(remote_profile(black_box(1)).await);
        })
        .await
    })
}

/// A service memoizing on its own cache: two of them share the key.
struct Service {
    cache: Cache,
}

impl Service {
    #[memoize(ignore(self), cache = self.cache)]
    async fn item(&self, id: u64) -> u64 {
        id
    }
}

/// Percentiles (p50, p99, max) of `lags`, in µs.
fn percentiles(mut lags: Vec<Duration>) -> (f64, f64, f64) {
    lags.sort();
    // The `per_mille`th of the sorted lags (nearest rank).
    let at = |per_mille: usize| {
        let i = ((lags.len() - 1) * per_mille + 500) / 1000;
        lags[i].as_secs_f64() * 1e6
    };
    (at(500), at(990), at(1000))
}

/// Spins until `cache`'s L1 holds nothing; the time it took from `since`
/// (zero if it was empty already).
fn evicted_after(cache: &Cache, since: Instant) -> Duration {
    let deadline = Instant::now() + Duration::from_secs(10);
    while cache.near_cache_stats().unwrap().len != 0 {
        assert!(Instant::now() < deadline, "the invalidation never arrived");
        std::hint::spin_loop();
    }
    since.elapsed()
}

/// The lag after `set` returned, from when it was called, and after
/// `<fn>_invalidate` returned.
fn lag(rt: &tokio::runtime::Runtime) -> (Vec<Duration>, Vec<Duration>, Vec<Duration>) {
    let small = Some(1 << 20);
    let (a, b) = (cache("lag", small), cache("lag", small));
    let (sa, sb) = (Service { cache: a.clone() }, Service { cache: b.clone() });
    rt.block_on(async {
        tracking(&a).await;
        tracking(&b).await;
        let seen = b.near_cache_stats().unwrap().invalidations;
        a.set("k", &u64::MAX, None).await.unwrap();
        invalidated_past(&b, seen).await;
    });
    let mut after_set = Vec::with_capacity(UPDATES);
    let mut from_call = Vec::with_capacity(UPDATES);
    for i in 0..UPDATES as u64 {
        let called = rt.block_on(async {
            // B's L1 holds the current value (the last write's
            // invalidation has arrived: the previous round waited for it).
            while b.near_cache_stats().unwrap().len == 0 {
                black_box(b.get::<u64>("k").await.unwrap());
            }
            let called = Instant::now();
            a.set("k", &i, None).await.unwrap();
            called
        });
        let returned = Instant::now();
        after_set.push(evicted_after(&b, returned));
        from_call.push(returned.duration_since(called) + after_set[after_set.len() - 1]);
    }
    rt.block_on(b.clear()).unwrap();
    let mut after_invalidate = Vec::with_capacity(UPDATES);
    for _ in 0..UPDATES {
        rt.block_on(async {
            // B computes and stores (its own write's invalidation comes
            // back to it), then reads until L1 holds the value.
            let seen = b.near_cache_stats().unwrap().invalidations;
            black_box(sb.item(7).await);
            invalidated_past(&b, seen + 1).await;
            while b.near_cache_stats().unwrap().len == 0 {
                black_box(sb.item(7).await);
            }
            sa.item_invalidate(7).await.unwrap();
        });
        after_invalidate.push(evicted_after(&b, Instant::now()));
    }
    (after_set, from_call, after_invalidate)
}

/// `GET` calls the server has answered so far.
async fn get_calls() -> u64 {
    let client = redis::Client::open(URL.as_str()).unwrap();
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    let info: String = redis::cmd("INFO")
        .arg("commandstats")
        .query_async(&mut conn)
        .await
        .unwrap();
    info.lines()
        .find_map(|l| l.strip_prefix("cmdstat_get:calls="))
        .and_then(|rest| rest.split(',').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}

/// 50 tasks over a Zipf(1.0) key set for [`ZIPF_TIME`]: reads through
/// `get_or_set_with`, 1% `set`s. Returns (operations per second, share of
/// reads that sent no `GET`).
fn zipf(near: Option<u64>) -> (f64, f64) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let prefix = if near.is_some() {
            "zipf-on"
        } else {
            "zipf-off"
        };
        let cache = cache(prefix, near);
        if near.is_some() {
            tracking(&cache).await;
        }
        let items: Vec<(String, String)> = (0..ZIPF_KEYS)
            .map(|k| (format!("k{k}"), value_of(k)))
            .collect();
        cache.set_many(&items, None).await.unwrap();
        let zipf = Arc::new(Zipf::new(ZIPF_KEYS));
        let (reads, ops) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
        let gets_before = get_calls().await;
        let started = Instant::now();
        let tasks: Vec<_> = (0..TASKS as u64)
            .map(|t| {
                let (cache, zipf, reads, ops) =
                    (cache.clone(), zipf.clone(), reads.clone(), ops.clone());
                tokio::spawn(async move {
                    let mut state = t + 1;
                    while started.elapsed() < ZIPF_TIME {
                        let key = zipf.sample(&mut state);
                        let name = format!("k{key}");
                        if next_random(&mut state) % 100 == 0 {
                            cache.set(&name, &value_of(key), None).await.unwrap();
                        } else {
                            black_box(
                                cache
                                    .get_or_set_with(&name, None, || async { value_of(key) })
                                    .await,
                            );
                            reads.fetch_add(1, Ordering::Relaxed);
                        }
                        ops.fetch_add(1, Ordering::Relaxed);
                    }
                })
            })
            .collect();
        for task in tasks {
            task.await.unwrap();
        }
        let elapsed = started.elapsed().as_secs_f64();
        let gets = get_calls().await - gets_before;
        let reads = reads.load(Ordering::Relaxed) as f64;
        let served_locally = 1.0 - (gets as f64 / reads).min(1.0);
        cache.clear().await.unwrap();
        (ops.load(Ordering::Relaxed) as f64 / elapsed, served_locally)
    })
}

fn main() {
    let rt = rt();
    let remote_ns = hits(&rt);
    let (after_set, from_call, after_invalidate) = lag(&rt);
    let (set_p50, set_p99, set_max) = percentiles(after_set);
    let (call_p50, call_p99, call_max) = percentiles(from_call);
    let (inv_p50, inv_p99, inv_max) = percentiles(after_invalidate);
    let (off_ops, off_local) = zipf(None);
    let (on_ops, on_local) = zipf(Some(1 << 20));
    let json = serde_json::json!({
        "remote_hit_ns": remote_ns,
        "updates": UPDATES,
        "lag_set_p50_us": set_p50,
        "lag_set_p99_us": set_p99,
        "lag_set_max_us": set_max,
        "lag_set_from_call_p50_us": call_p50,
        "lag_set_from_call_p99_us": call_p99,
        "lag_set_from_call_max_us": call_max,
        "lag_invalidate_p50_us": inv_p50,
        "lag_invalidate_p99_us": inv_p99,
        "lag_invalidate_max_us": inv_max,
        "zipf_keys": ZIPF_KEYS,
        "zipf_tasks": TASKS,
        "zipf_seconds": ZIPF_TIME.as_secs(),
        "zipf_off_ops": off_ops,
        "zipf_off_local": off_local,
        "zipf_on_ops": on_ops,
        "zipf_on_local": on_local,
        "zipf_on_bound_mib": 1,
    });
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/criterion");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("near.json"), json.to_string()).unwrap();
    println!("near: {json}");
}
