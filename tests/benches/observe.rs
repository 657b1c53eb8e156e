//! What observing costs on the memoized in-memory hit: the same hit with
//! nothing installed, under a `tracing` subscriber at `info` (the cache's
//! spans are `debug`: filtered out) and at `debug` (spans made), with a
//! `metrics` recorder, and with a listener. Interleaved (see
//! `cache_tests::paired`): every round times all of them back to back;
//! each is reported against the hit with nothing installed.
//!
//! ```text
//! cargo bench -p cache-tests --bench observe
//! ```

use std::hint::black_box;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::LazyLock;

use cache_core::{memoize, Cache};
use cache_tests::paired;
use criterion::{criterion_group, criterion_main, Criterion};
use metrics_util::debugging::DebuggingRecorder;
use tracing::level_filters::LevelFilter;

/// Hits cycle over this many warm keys.
const KEYS: u64 = 1024;
/// Calls per timing.
const OPS: u32 = 100_000;

static PLAIN: LazyLock<Cache> = LazyLock::new(|| cache("plain"));
static RECORDED: LazyLock<Cache> = LazyLock::new(|| cache("recorded"));
static HEARD: AtomicU64 = AtomicU64::new(0);
static LISTENED: LazyLock<Cache> = LazyLock::new(|| {
    Cache::builder()
        .key_prefix("listened")
        .listener(|_: &cache_core::observe::Event<'_>| {
            HEARD.fetch_add(1, Ordering::Relaxed);
        })
        .build()
        .unwrap()
});

fn cache(prefix: &str) -> Cache {
    Cache::builder().key_prefix(prefix).build().unwrap()
}

#[memoize(timeout = 60, cache = PLAIN)]
fn plain(x: u64) -> u64 {
    x.wrapping_mul(31)
}

#[memoize(timeout = 60, cache = RECORDED)]
fn recorded(x: u64) -> u64 {
    x.wrapping_mul(31)
}

#[memoize(timeout = 60, cache = LISTENED)]
fn listened(x: u64) -> u64 {
    x.wrapping_mul(31)
}

/// Nanoseconds per hit of `f` over the warm keys.
fn time(f: fn(u64) -> u64) -> f64 {
    let mut i = 0;
    paired::per_call(OPS, || {
        i = (i + 1) & (KEYS - 1);
        black_box(f(black_box(i)));
    })
}

/// [`time`] of `plain` with a `fmt` subscriber (writing nowhere) at `level`
/// as the thread's default.
fn time_under(level: LevelFilter) -> f64 {
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(level)
        .with_writer(std::io::sink)
        .finish();
    tracing::subscriber::with_default(subscriber, || time(plain))
}

/// `paired::ROUNDS` rounds of `round`, each timing its contenders back to back.
fn rounds<const N: usize>(mut round: impl FnMut() -> [f64; N]) -> [Vec<f64>; N] {
    let mut all = [const { Vec::new() }; N];
    for _ in 0..paired::ROUNDS {
        for (times, t) in all.iter_mut().zip(round()) {
            times.push(t);
        }
    }
    all
}

fn instrumentation(_: &mut Criterion) {
    // The recorder must be there when the cache registers its metrics, at
    // its first event; its handles are kept from then on.
    let recorder = DebuggingRecorder::new();
    metrics::with_local_recorder(&recorder, || {
        for x in 0..KEYS {
            recorded(x);
        }
    });
    for x in 0..KEYS {
        plain(x);
        listened(x);
    }

    // First with no subscriber ever installed: a span is then one relaxed
    // load of tracing's global level.
    let [bare, metrics, listener] = rounds(|| [time(plain), time(recorded), time(listened)]);
    paired::write("observe_hit_metrics_recorder_vs_bare", &metrics, &bare);
    paired::write("observe_hit_listener_vs_bare", &listener, &bare);

    // A subscriber at `info`, as most applications run: the cache's spans
    // are `debug`, so they are filtered out by the level alone.
    let [bare, info] = rounds(|| [time(plain), time_under(LevelFilter::INFO)]);
    paired::write("observe_hit_subscriber_info_vs_none", &info, &bare);

    // At `debug` the spans are made (and `bare` pays the per-callsite check
    // from now on: tracing's global level stays at `debug`).
    let [bare, debug] = rounds(|| [time(plain), time_under(LevelFilter::DEBUG)]);
    paired::write("observe_hit_subscriber_debug_vs_none", &debug, &bare);

    assert!(
        HEARD.load(Ordering::Relaxed) > 0,
        "the listener heard the hits"
    );
    let recorded_metrics = recorder.snapshotter().snapshot().into_vec().len();
    assert!(recorded_metrics > 0, "the recorder has the cache's metrics");
}

criterion_group!(benches, instrumentation);
criterion_main!(benches);
