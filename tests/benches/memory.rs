//! In-memory costs, side by side in one run: a `#[memoize]` hit against the
//! `cached` crate's `#[cached]` hit on the same function, moka and
//! quick_cache gets, and a `Mutex<HashMap>` floor; the miss-and-store cost;
//! and the key-building cost alone.
//!
//! ```text
//! cargo bench --bench memory          # or scripts/bench.sh for the ratio table
//! ```

// The cached functions mirror user code (async bodies with nothing to
// await); criterion closures return their measured values.
#![allow(
    clippy::unused_async,
    clippy::semicolon_if_nothing_returned,
    clippy::cast_possible_truncation
)]

use std::cell::Cell;
use std::collections::HashMap;
use std::hint::black_box;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{LazyLock, Mutex};
use std::time::Duration;

use cache_core::{memoize, Cache};
use cache_tests::paired;
use criterion::{criterion_group, criterion_main, BenchmarkGroup, Criterion};
use serde::Serialize;

/// The second arguments of the two-argument function.
const NAMES: [&str; 4] = ["ada", "grace", "edsger", "barbara"];

/// Hits cycle over this many warm keys.
const KEYS: u64 = 1024;

fn string_of(x: u64) -> String {
    format!("{x:0>100}")
}

// --- The functions under test: the same bodies, cached by each library. --------------

static OURS: LazyLock<Cache> =
    LazyLock::new(|| Cache::builder().key_prefix("bench:").build().unwrap());

#[memoize(timeout = 60, cache = OURS)]
fn ours_u64(x: u64) -> u64 {
    x.wrapping_mul(31)
}

#[memoize(timeout = 60, cache = OURS)]
fn ours_string(x: u64) -> String {
    string_of(x)
}

#[memoize(timeout = 60, cache = OURS)]
async fn ours_u64_async(x: u64) -> u64 {
    x.wrapping_mul(31)
}

#[memoize(timeout = 60, cache = OURS)]
async fn ours_string_async(x: u64) -> String {
    string_of(x)
}

#[memoize(timeout = 60, cache = OURS)]
fn ours_two(x: u64, name: &str) -> u64 {
    x.wrapping_mul(31) ^ name.len() as u64
}

/// Each call is a new key: a miss, a computation and a store.
#[memoize(timeout = 60, cache = OURS)]
fn ours_miss(x: u64) -> u64 {
    x.wrapping_mul(31)
}

#[cached::proc_macro::cached(ttl_secs = 60)]
fn theirs_u64(x: u64) -> u64 {
    x.wrapping_mul(31)
}

#[cached::proc_macro::cached(ttl_secs = 60)]
fn theirs_string(x: u64) -> String {
    string_of(x)
}

#[cached::proc_macro::cached(ttl_secs = 60)]
async fn theirs_u64_async(x: u64) -> u64 {
    x.wrapping_mul(31)
}

#[cached::proc_macro::cached(ttl_secs = 60)]
async fn theirs_string_async(x: u64) -> String {
    string_of(x)
}

#[cached::proc_macro::cached(
    ttl_secs = 60,
    key = "(u64, String)",
    convert = r#"{ (x, name.to_owned()) }"#
)]
fn theirs_two(x: u64, name: &str) -> u64 {
    x.wrapping_mul(31) ^ name.len() as u64
}

#[cached::proc_macro::cached(ttl_secs = 60)]
fn theirs_miss(x: u64) -> u64 {
    x.wrapping_mul(31)
}

fn configure<'a>(
    c: &'a mut Criterion,
    name: &str,
) -> BenchmarkGroup<'a, criterion::measurement::WallTime> {
    let mut group = c.benchmark_group(name);
    group.measurement_time(Duration::from_secs(3));
    group.warm_up_time(Duration::from_secs(1));
    group
}

/// Cycles 0..KEYS.
fn next(i: &mut u64) -> u64 {
    *i = (*i + 1) & (KEYS - 1);
    *i
}

fn next_cell(i: &Cell<u64>) -> u64 {
    let x = (i.get() + 1) & (KEYS - 1);
    i.set(x);
    x
}

fn hits(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    for x in 0..KEYS {
        ours_u64(x);
        ours_string(x);
        theirs_u64(x);
        theirs_string(x);
        rt.block_on(async {
            ours_u64_async(x).await;
            ours_string_async(x).await;
            theirs_u64_async(x).await;
            theirs_string_async(x).await;
        });
    }

    let mut group = configure(c, "hit_u64");
    let mut i = 0;
    group.bench_function("memoize_sync", |b| {
        b.iter(|| black_box(ours_u64(next(&mut i))))
    });
    group.bench_function("cached_sync", |b| {
        b.iter(|| black_box(theirs_u64(next(&mut i))))
    });
    group.bench_function("memoize_async", |b| {
        let j = Cell::new(0);
        b.to_async(&rt).iter(|| {
            let x = next_cell(&j);
            async move { black_box(ours_u64_async(x).await) }
        });
    });
    group.bench_function("cached_async", |b| {
        let j = Cell::new(0);
        b.to_async(&rt).iter(|| {
            let x = next_cell(&j);
            async move { black_box(theirs_u64_async(x).await) }
        });
    });

    let moka: moka::sync::Cache<u64, u64> = moka::sync::Cache::builder()
        .max_capacity(4 * KEYS)
        .time_to_live(Duration::from_secs(60))
        .build();
    let quick: quick_cache::sync::Cache<u64, u64> =
        quick_cache::sync::Cache::new(4 * KEYS as usize);
    let floor: Mutex<HashMap<u64, u64>> = Mutex::new(HashMap::new());
    for x in 0..KEYS {
        moka.insert(x, x);
        quick.insert(x, x);
        floor.lock().unwrap().insert(x, x);
    }
    group.bench_function("moka_get", |b| {
        b.iter(|| black_box(moka.get(&next(&mut i))))
    });
    group.bench_function("quick_cache_get", |b| {
        b.iter(|| black_box(quick.get(&next(&mut i))))
    });
    group.bench_function("mutex_hashmap_get", |b| {
        b.iter(|| black_box(floor.lock().unwrap().get(&next(&mut i)).copied()));
    });
    group.finish();

    let mut group = configure(c, "hit_string100");
    group.bench_function("memoize_sync", |b| {
        b.iter(|| black_box(ours_string(next(&mut i))))
    });
    group.bench_function("cached_sync", |b| {
        b.iter(|| black_box(theirs_string(next(&mut i))))
    });
    group.bench_function("memoize_async", |b| {
        let j = Cell::new(0);
        b.to_async(&rt).iter(|| {
            let x = next_cell(&j);
            async move { black_box(ours_string_async(x).await) }
        });
    });
    group.bench_function("cached_async", |b| {
        let j = Cell::new(0);
        b.to_async(&rt).iter(|| {
            let x = next_cell(&j);
            async move { black_box(theirs_string_async(x).await) }
        });
    });
    let moka: moka::sync::Cache<u64, String> = moka::sync::Cache::builder()
        .max_capacity(4 * KEYS)
        .time_to_live(Duration::from_secs(60))
        .build();
    let quick: quick_cache::sync::Cache<u64, String> =
        quick_cache::sync::Cache::new(4 * KEYS as usize);
    for x in 0..KEYS {
        moka.insert(x, string_of(x));
        quick.insert(x, string_of(x));
    }
    group.bench_function("moka_get", |b| {
        b.iter(|| black_box(moka.get(&next(&mut i))))
    });
    group.bench_function("quick_cache_get", |b| {
        b.iter(|| black_box(quick.get(&next(&mut i))))
    });
    group.finish();
}

fn misses(c: &mut Criterion) {
    static N: AtomicU64 = AtomicU64::new(1 << 40);
    let mut group = configure(c, "miss_and_store");
    group.bench_function("memoize_sync", |b| {
        b.iter(|| black_box(ours_miss(N.fetch_add(1, Ordering::Relaxed))));
    });
    group.bench_function("cached_sync", |b| {
        b.iter(|| black_box(theirs_miss(N.fetch_add(1, Ordering::Relaxed))));
    });
    group.finish();
}

#[derive(Serialize)]
struct TenFields {
    a: u64,
    b: u32,
    c: i64,
    d: bool,
    e: String,
    f: Option<u16>,
    g: Vec<u8>,
    h: (u8, u8),
    i: char,
    j: f64,
}

fn keys(c: &mut Criterion) {
    let mut group = configure(c, "key_building");
    let mut out = String::with_capacity(256);
    group.bench_function("u64", |b| {
        b.iter(|| {
            out.clear();
            cache_core::key::write_function_key(
                &mut out,
                "app::get_user_profile",
                1,
                &(black_box(5u64),),
            )
            .unwrap();
        });
    });
    group.bench_function("u64_and_str", |b| {
        b.iter(|| {
            out.clear();
            cache_core::key::write_function_key(
                &mut out,
                "app::search",
                1,
                &(black_box(5u64), black_box("rust caching")),
            )
            .unwrap();
        });
    });
    let ten = TenFields {
        a: 1,
        b: 2,
        c: -3,
        d: true,
        e: "a name".into(),
        f: Some(7),
        g: vec![1, 2, 3],
        h: (4, 5),
        i: 'x',
        j: 1.5,
    };
    group.bench_function("struct_10_fields", |b| {
        b.iter(|| {
            out.clear();
            cache_core::key::write_function_key(&mut out, "app::report", 1, &(black_box(&ten),))
                .unwrap();
        });
    });
    group.finish();
}

/// Calls per contender and round in the interleaved comparisons.
const PAIRED_OPS: u32 = 100_000;

/// `paired::ROUNDS` rounds of `round`, which times ours and theirs.
fn rounds(mut round: impl FnMut() -> [f64; 2]) -> (Vec<f64>, Vec<f64>) {
    (0..paired::ROUNDS)
        .map(|_| round())
        .map(|[a, b]| (a, b))
        .unzip()
}

/// The hit and miss comparisons again, interleaved (see
/// `cache_tests::paired`): ours and theirs back to back in every round.
fn paired_hits(_: &mut Criterion) {
    let quick: quick_cache::sync::Cache<u64, u64> =
        quick_cache::sync::Cache::new(4 * KEYS as usize);
    let moka: moka::sync::Cache<u64, u64> = moka::sync::Cache::builder()
        .max_capacity(4 * KEYS)
        .time_to_live(Duration::from_secs(60))
        .build();
    for x in 0..KEYS {
        ours_u64(x);
        theirs_u64(x);
        ours_string(x);
        theirs_string(x);
        quick.insert(x, x);
        moka.insert(x, x);
    }
    let mut i = 0;
    let mut sync = |f: &mut dyn FnMut(u64)| paired::per_call(PAIRED_OPS, || f(next(&mut i)));

    let (ours, theirs) = rounds(|| {
        [
            sync(&mut |x| {
                black_box(ours_u64(x));
            }),
            sync(&mut |x| {
                black_box(theirs_u64(x));
            }),
        ]
    });
    paired::write("hit_u64_sync_vs_cached", &ours, &theirs);
    let (ours, theirs) = rounds(|| {
        [
            sync(&mut |x| {
                black_box(ours_u64(x));
            }),
            sync(&mut |x| {
                black_box(quick.get(&x));
            }),
        ]
    });
    paired::write("hit_u64_sync_vs_quick_cache", &ours, &theirs);
    let (ours, theirs) = rounds(|| {
        [
            sync(&mut |x| {
                black_box(ours_u64(x));
            }),
            sync(&mut |x| {
                black_box(moka.get(&x));
            }),
        ]
    });
    paired::write("hit_u64_sync_vs_moka", &ours, &theirs);
    let (ours, theirs) = rounds(|| {
        [
            sync(&mut |x| {
                black_box(ours_string(x));
            }),
            sync(&mut |x| {
                black_box(theirs_string(x));
            }),
        ]
    });
    paired::write("hit_string100_sync_vs_cached", &ours, &theirs);

    for x in 0..KEYS {
        for name in NAMES {
            ours_two(x, name);
            theirs_two(x, name);
        }
    }
    let (ours, theirs) = rounds(|| {
        [
            sync(&mut |x| {
                black_box(ours_two(x, NAMES[(x & 3) as usize]));
            }),
            sync(&mut |x| {
                black_box(theirs_two(x, NAMES[(x & 3) as usize]));
            }),
        ]
    });
    paired::write("hit_two_args_sync_vs_cached", &ours, &theirs);
}

/// The `Cache` API (`blocking().get`/`set` on memory) against moka and
/// quick_cache holding the same `String` keys and `u64` values.
fn paired_api(_: &mut Criterion) {
    let keys: Vec<String> = (0..KEYS).map(|x| format!("user:{x}")).collect();
    let ours = Cache::builder().key_prefix("api").build().unwrap();
    let quick: quick_cache::sync::Cache<String, u64> =
        quick_cache::sync::Cache::new(4 * KEYS as usize);
    let moka: moka::sync::Cache<String, u64> = moka::sync::Cache::builder()
        .max_capacity(4 * KEYS)
        .time_to_live(Duration::from_secs(60))
        .build();
    let minute = Some(Duration::from_secs(60));
    for (x, key) in (0..KEYS).zip(&keys) {
        ours.blocking().set(key, &x, minute).unwrap();
        quick.insert(key.clone(), x);
        moka.insert(key.clone(), x);
    }
    let mut i = 0;
    let mut sync = |f: &mut dyn FnMut(&str, u64)| {
        paired::per_call(PAIRED_OPS, || {
            let x = next(&mut i);
            f(&keys[x as usize], x);
        })
    };
    let mut get = |theirs: &mut dyn FnMut(&str, u64)| {
        rounds(|| {
            [
                sync(&mut |key, _| {
                    black_box(ours.blocking().get::<u64>(key).unwrap());
                }),
                sync(theirs),
            ]
        })
    };
    let (o, t) = get(&mut |key, _| {
        black_box(quick.get(key));
    });
    paired::write("api_get_vs_quick_cache", &o, &t);
    let (o, t) = get(&mut |key, _| {
        black_box(moka.get(key));
    });
    paired::write("api_get_vs_moka", &o, &t);
    let mut set = |theirs: &mut dyn FnMut(&str, u64)| {
        rounds(|| {
            [
                sync(&mut |key, x| {
                    ours.blocking().set(key, &x, minute).unwrap();
                }),
                sync(theirs),
            ]
        })
    };
    let (o, t) = set(&mut |key, x| quick.insert(key.to_owned(), x));
    paired::write("api_set_vs_quick_cache", &o, &t);
    let (o, t) = set(&mut |key, x| moka.insert(key.to_owned(), x));
    paired::write("api_set_vs_moka", &o, &t);
}

fn paired_async_hits(_: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let j = Cell::new(0);
    let async_round = |u64s: bool| {
        rt.block_on(async {
            let ours = paired::per_call_async(PAIRED_OPS, || async {
                let x = next_cell(&j);
                if u64s {
                    black_box(ours_u64_async(x).await);
                } else {
                    black_box(ours_string_async(x).await);
                }
            })
            .await;
            let theirs = paired::per_call_async(PAIRED_OPS, || async {
                let x = next_cell(&j);
                if u64s {
                    black_box(theirs_u64_async(x).await);
                } else {
                    black_box(theirs_string_async(x).await);
                }
            })
            .await;
            [ours, theirs]
        })
    };
    let (ours, theirs) = rounds(|| async_round(true));
    paired::write("hit_u64_async_vs_cached", &ours, &theirs);
    let (ours, theirs) = rounds(|| async_round(false));
    paired::write("hit_string100_async_vs_cached", &ours, &theirs);
}

/// Misses fill the store: they run after every hit measurement, so that
/// hits are measured on the same store in both tables.
fn paired_misses(_: &mut Criterion) {
    static N: AtomicU64 = AtomicU64::new(1 << 50);
    let (ours, theirs) = rounds(|| {
        [
            paired::per_call(PAIRED_OPS / 10, || {
                black_box(ours_miss(N.fetch_add(1, Ordering::Relaxed)));
            }),
            paired::per_call(PAIRED_OPS / 10, || {
                black_box(theirs_miss(N.fetch_add(1, Ordering::Relaxed)));
            }),
        ]
    });
    paired::write("miss_and_store_vs_cached", &ours, &theirs);
}

criterion_group!(
    benches,
    hits,
    paired_hits,
    paired_async_hits,
    paired_api,
    keys,
    misses,
    paired_misses
);
criterion_main!(benches);
