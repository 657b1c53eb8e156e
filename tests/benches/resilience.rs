//! What callers see when things go wrong, measured (see
//! `cache_core::policy` and the README's "When things go wrong"):
//!
//! - a Redis frozen with `SIGSTOP` for 5 s, `response_timeout = 300ms`:
//!   the latency of read-through calls after the first failure, with the
//!   circuit breaker and without, against the function's own time;
//! - a hot key under 50 concurrent tasks with `timeout = 2 s`: caller
//!   latency with `refresh_ahead = 0.8` and without.
//!
//! Starts its own redis-server. Prints a Markdown table.
//! `BENCH_HOT_SECONDS` (default 10) sets the hot-key run's length.

use std::sync::Arc;
use std::time::{Duration, Instant};

use cache_core::{Cache, Policy};
use cache_tests::redis_server::RedisServer;

/// The function's own work: a short spin, so its time is its own.
fn work() -> u64 {
    let started = Instant::now();
    let mut x = 0u64;
    while started.elapsed() < Duration::from_micros(200) {
        x = x.wrapping_add(1);
    }
    x
}

/// The `per_mille`th per-mille of sorted samples (500: the median).
fn percentile(sorted: &[Duration], per_mille: usize) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    sorted[(sorted.len() - 1) * per_mille / 1000]
}

fn row(what: &str, mut samples: Vec<Duration>) -> String {
    samples.sort();
    format!(
        "| {what} | {} | {:.2} ms | {:.2} ms | {:.2} ms | {:.2} ms |",
        samples.len(),
        percentile(&samples, 500).as_secs_f64() * 1e3,
        percentile(&samples, 990).as_secs_f64() * 1e3,
        percentile(&samples, 999).as_secs_f64() * 1e3,
        samples.last().copied().unwrap_or_default().as_secs_f64() * 1e3,
    )
}

/// Calls with distinct keys (a read, the function, a write) for 5 s while
/// the server is frozen; the latencies after the first failed call.
async fn frozen(breaker: bool) -> Vec<Duration> {
    let server = RedisServer::start();
    let mut builder = Cache::builder()
        .url(format!("{}?response_timeout=300ms", server.url()))
        .key_prefix("frozen");
    if !breaker {
        builder = builder.circuit_breaker(Duration::ZERO);
    }
    let cache = builder.build().unwrap();
    cache.ping().await.unwrap();
    server.freeze();
    let frozen_at = Instant::now();
    let mut samples = Vec::new();
    let mut i = 0u64;
    while frozen_at.elapsed() < Duration::from_secs(5) {
        let started = Instant::now();
        let v = cache
            .get_or_set_with(&format!("k{i}"), None, || async { work() })
            .await;
        std::hint::black_box(v);
        if i > 0 {
            samples.push(started.elapsed());
        }
        i += 1;
    }
    server.thaw();
    samples
}

/// 50 tasks reading one hot key (the function takes 100 ms) for `secs`.
async fn hot(refresh_ahead: bool, secs: u64) -> (Vec<Duration>, usize) {
    let server = RedisServer::start();
    let cache = server.cache("hot");
    let mut policy = Policy::new().timeout(Duration::from_secs(2));
    if refresh_ahead {
        policy = policy.refresh_ahead(0.8);
    }
    let computations = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let until = Instant::now() + Duration::from_secs(secs);
    let tasks: Vec<_> = (0..50)
        .map(|_| {
            let (cache, computations) = (cache.clone(), Arc::clone(&computations));
            tokio::spawn(async move {
                let mut samples = Vec::new();
                let mut first = true;
                while Instant::now() < until {
                    let c = Arc::clone(&computations);
                    let started = Instant::now();
                    let v = cache
                        .get_or_set_with_policy("hot", &policy, move || async move {
                            c.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                            tokio::time::sleep(Duration::from_millis(100)).await;
                            7u64
                        })
                        .await;
                    std::hint::black_box(v);
                    if !first {
                        samples.push(started.elapsed());
                    }
                    first = false;
                    tokio::time::sleep(Duration::from_millis(1)).await;
                }
                samples
            })
        })
        .collect();
    let mut all = Vec::new();
    for task in tasks {
        all.extend(task.await.unwrap());
    }
    (all, computations.load(std::sync::atomic::Ordering::Relaxed))
}

/// What callers of a `Result` function see while its database fails for
/// `secs`: 50 tasks, `timeout = 1 s`, `fail_safe = 60 s` (throttle 1 s).
/// Returns (calls during the outage, errors returned, database calls
/// during the outage, time from recovery to the first fresh value).
async fn outage(secs: u64) -> (usize, usize, usize, Duration) {
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
    let server = RedisServer::start();
    let cache = server.cache("outage");
    let policy = Policy::new()
        .timeout(Duration::from_secs(1))
        .fail_safe(Duration::from_secs(60));
    let down = Arc::new(AtomicBool::new(false));
    let version = Arc::new(AtomicUsize::new(1));
    let db_calls = Arc::new(AtomicUsize::new(0));
    let shared = (
        Arc::clone(&down),
        Arc::clone(&version),
        Arc::clone(&db_calls),
    );
    let call = move |cache: Cache| {
        let (down, version, db_calls) = (
            Arc::clone(&shared.0),
            Arc::clone(&shared.1),
            Arc::clone(&shared.2),
        );
        async move {
            cache
                .try_get_or_set_with_policy("row", &policy, move || async move {
                    db_calls.fetch_add(1, Ordering::Relaxed);
                    tokio::time::sleep(Duration::from_millis(5)).await;
                    if down.load(Ordering::Relaxed) {
                        Err(cache_core::Error::new(
                            cache_core::ErrorKind::Backend,
                            "database down",
                        ))
                    } else {
                        Ok(version.load(Ordering::Relaxed))
                    }
                })
                .await
        }
    };
    call(cache.clone()).await.unwrap();
    down.store(true, Ordering::Relaxed);
    let db_before = db_calls.load(Ordering::Relaxed);
    let until = Instant::now() + Duration::from_secs(secs);
    let tasks: Vec<_> = (0..50)
        .map(|_| {
            let (cache, call) = (cache.clone(), call.clone());
            tokio::spawn(async move {
                let (mut calls, mut errors) = (0, 0);
                while Instant::now() < until {
                    calls += 1;
                    if call(cache.clone()).await.is_err() {
                        errors += 1;
                    }
                    tokio::time::sleep(Duration::from_millis(1)).await;
                }
                (calls, errors)
            })
        })
        .collect();
    let (mut calls, mut errors) = (0, 0);
    for task in tasks {
        let (c, e) = task.await.unwrap();
        calls += c;
        errors += e;
    }
    let db_during = db_calls.load(Ordering::Relaxed) - db_before;
    version.store(2, Ordering::Relaxed);
    down.store(false, Ordering::Relaxed);
    let recovered = Instant::now();
    while call(cache.clone()).await.ok() != Some(2) {
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    (calls, errors, db_during, recovered.elapsed())
}

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let secs: u64 = std::env::var("BENCH_HOT_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(10);
    let own: Vec<Duration> = (0..2000)
        .map(|_| {
            let started = Instant::now();
            std::hint::black_box(work());
            started.elapsed()
        })
        .collect();
    let with = rt.block_on(frozen(true));
    let without = rt.block_on(frozen(false));
    let (hot_with, computed_with) = rt.block_on(hot(true, secs));
    let (hot_without, computed_without) = rt.block_on(hot(false, secs));
    let outage_secs = 10;
    let (calls, errors, db_calls, fresh_after) = rt.block_on(outage(outage_secs));
    let waited = |s: &[Duration]| {
        s.iter()
            .filter(|d| **d >= Duration::from_millis(50))
            .count()
    };
    println!("| scenario | calls | p50 | p99 | p99.9 | max |");
    println!("|---|---|---|---|---|---|");
    println!("{}", row("the function alone (200 µs of work)", own));
    println!(
        "{}",
        row(
            "Redis frozen 5 s, breaker on (default): calls after the first failure",
            with
        )
    );
    println!("{}", row("Redis frozen 5 s, breaker off", without));
    println!(
        "{}",
        row(
            &format!("hot key, 50 tasks, {secs} s, refresh_ahead = 0.8 ({computed_with} computations, {} calls waited ≥ 50 ms)", waited(&hot_with)),
            hot_with
        )
    );
    println!(
        "{}",
        row(
            &format!("hot key, 50 tasks, {secs} s, no refresh ahead ({computed_without} computations, {} calls waited ≥ 50 ms)", waited(&hot_without)),
            hot_without
        )
    );
    println!();
    println!("| fail-safe: a database down for {outage_secs} s, 50 tasks, `timeout = 1 s, fail_safe = 60 s` | result |");
    println!("|---|---|");
    println!("| calls during the outage | {calls} |");
    println!("| errors returned to callers | {errors} |");
    println!("| database calls during the outage (throttle 1 s) | {db_calls} |");
    println!(
        "| from recovery to the first fresh value | {:.2} s |",
        fresh_after.as_secs_f64()
    );
}
