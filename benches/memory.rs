//! In-memory hit cost, side by side: our `Cache` on the memory store against
//! the crates a user would pick instead, and a `Mutex<HashMap>` floor.
//!
//! ```text
//! cargo bench --bench memory
//! ```

use std::collections::HashMap;
use std::hint::black_box;
use std::sync::Mutex;
use std::time::Duration;

use cache_core::Cache;
use criterion::{criterion_group, criterion_main, Criterion};

const KEYS: usize = 1024;

fn key(i: usize) -> String {
    format!("user:{i}")
}

fn hits(c: &mut Criterion) {
    let mut group = c.benchmark_group("memory_hit_1024_keys");
    group.measurement_time(Duration::from_secs(3));
    group.warm_up_time(Duration::from_secs(1));

    let keys: Vec<String> = (0..KEYS).map(key).collect();

    let floor: Mutex<HashMap<String, usize>> = Mutex::new(keys.iter().cloned().zip(0..).collect());
    let mut i = 0usize;
    group.bench_function("mutex_hashmap", |b| {
        b.iter(|| {
            i = (i + 1) & (KEYS - 1);
            black_box(floor.lock().unwrap().get(keys[i].as_str()).copied())
        });
    });

    let quick: quick_cache::sync::Cache<String, usize> = quick_cache::sync::Cache::new(4096);
    for (n, k) in keys.iter().enumerate() {
        quick.insert(k.clone(), n);
    }
    group.bench_function("quick_cache_get", |b| {
        b.iter(|| {
            i = (i + 1) & (KEYS - 1);
            black_box(quick.get(keys[i].as_str()))
        });
    });

    let moka: moka::sync::Cache<String, usize> = moka::sync::Cache::builder()
        .max_capacity(4096)
        .time_to_live(Duration::from_secs(60))
        .build();
    for (n, k) in keys.iter().enumerate() {
        moka.insert(k.clone(), n);
    }
    group.bench_function("moka_sync_get", |b| {
        b.iter(|| {
            i = (i + 1) & (KEYS - 1);
            black_box(moka.get(keys[i].as_str()))
        });
    });

    let cache = Cache::builder().key_prefix("bench:").build().unwrap();
    for (n, k) in keys.iter().enumerate() {
        cache.blocking().set(k, &(n), None).unwrap();
    }
    group.bench_function("cache_core_blocking_get", |b| {
        b.iter(|| {
            i = (i + 1) & (KEYS - 1);
            black_box(cache.blocking().get::<usize>(&keys[i]).unwrap())
        });
    });

    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    group.bench_function("cache_core_async_get", |b| {
        b.iter(|| {
            i = (i + 1) & (KEYS - 1);
            black_box(rt.block_on(cache.get::<usize>(&keys[i])).unwrap())
        });
    });
    group.finish();
}

criterion_group!(benches, hits);
criterion_main!(benches);
