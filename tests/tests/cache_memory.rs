//! The `Cache` handle over the in-memory and null stores: the conformance
//! suite, the typed API, error policy, single-flight and the blocking twins
//! in every runtime situation.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use cache_core::testing::DownBackend;
use cache_core::testing::{conformance, conformance_with, Expect};
use cache_core::{
    async_trait, bytes::Bytes, Backend, Cache, ErrorKind, MemoryBackend, NullBackend, Ttl,
};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Profile {
    id: u64,
    name: String,
}

fn profile(id: u64) -> Profile {
    Profile {
        id,
        name: format!("user {id}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memory_store_passes_the_conformance_suite() {
    conformance(Arc::new(MemoryBackend::new())).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn null_store_passes_the_conformance_suite_for_forgetting_stores() {
    conformance_with(Arc::new(NullBackend), Expect::Forgets).await;
}

#[tokio::test]
async fn typed_values_round_trip_and_expire() {
    let cache = Cache::builder().key_prefix("t:").build().unwrap();
    cache
        .set("p", &profile(1), Duration::from_millis(200))
        .await
        .unwrap();
    assert_eq!(cache.get::<Profile>("p").await.unwrap(), Some(profile(1)));
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(cache.get::<Profile>("p").await.unwrap(), None);
    let stats = cache.stats();
    assert_eq!((stats.hits, stats.misses, stats.sets), (1, 1, 1));
}

#[tokio::test]
async fn zero_timeout_never_expires_and_none_uses_the_default() {
    let cache = Cache::builder()
        .default_timeout(Duration::from_millis(100))
        .build()
        .unwrap();
    cache.set("forever", &1u8, Duration::ZERO).await.unwrap();
    cache.set("default", &2u8, None).await.unwrap();
    tokio::time::sleep(Duration::from_millis(250)).await;
    assert_eq!(cache.get::<u8>("forever").await.unwrap(), Some(1));
    assert_eq!(cache.get::<u8>("default").await.unwrap(), None);
}

#[tokio::test]
async fn a_value_read_as_another_compatible_type_goes_through_its_encoding() {
    let cache = Cache::default();
    cache.set("n", &7u32, None).await.unwrap();
    assert_eq!(
        cache.get::<u64>("n").await.unwrap(),
        Some(7),
        "integers widen"
    );
    cache.set("s", &"static str", None).await.unwrap();
    assert_eq!(
        cache.get::<String>("s").await.unwrap().as_deref(),
        Some("static str")
    );
    cache.set("p", &profile(3), None).await.unwrap();
    assert_eq!(
        cache.get::<Vec<u64>>("p").await.unwrap(),
        None,
        "an incompatible type is a miss"
    );
    assert_eq!(cache.stats().errors, 1, "the failed decode is counted");
}

#[tokio::test]
async fn corrupt_bytes_under_a_key_are_a_miss_and_get_overwritten() {
    let cache = Cache::builder().key_prefix("c:").build().unwrap();
    for garbage in [
        &b"\x01\xff\xff\xff\xff\xff\xff\xff\xff\xff"[..],
        b"",
        b"\x02not json",
        b"hello",
    ] {
        cache
            .backend()
            .set("c:k", Bytes::copy_from_slice(garbage), Ttl::Never)
            .await
            .unwrap();
        assert_eq!(
            cache.get::<Profile>("k").await.unwrap(),
            None,
            "{garbage:?}"
        );
        let v = cache
            .get_or_set_with("k", None, || async { profile(9) })
            .await;
        assert_eq!(v, profile(9));
        assert_eq!(cache.get::<Profile>("k").await.unwrap(), Some(profile(9)));
        cache.delete("k").await.unwrap();
    }
}

#[tokio::test]
async fn incr_works_on_integers_written_by_set_and_reads_back_typed() {
    let cache = Cache::default();
    cache.set("n", &40i64, None).await.unwrap();
    assert_eq!(cache.incr("n", 2).await.unwrap(), 42);
    assert_eq!(cache.get::<i64>("n").await.unwrap(), Some(42));
    assert_eq!(cache.decr("n", 50).await.unwrap(), -8);
    cache.set("s", &"text".to_string(), None).await.unwrap();
    let err = cache.incr("s", 1).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Backend);
    assert!(
        err.to_string().contains(&cache.full_key("s")),
        "the error names the key: {err}"
    );
}

#[tokio::test]
async fn many_operations_keep_the_callers_order() {
    let cache = Cache::default();
    cache
        .set_many(&[("a", 1u32), ("c", 3)], None)
        .await
        .unwrap();
    assert_eq!(
        cache.get_many::<u32>(&["a", "b", "c"]).await.unwrap(),
        vec![Some(1), None, Some(3)]
    );
    assert_eq!(cache.delete_many(&["a", "b", "c"]).await.unwrap(), 2);
    assert!(!cache.has("a").await.unwrap());
}

#[tokio::test]
async fn two_prefixes_on_one_store_neither_see_nor_clear_each_other() {
    let store = MemoryBackend::new();
    let app = Cache::builder()
        .backend(store.clone())
        .key_prefix("app:")
        .build()
        .unwrap();
    let admin = Cache::builder()
        .backend(store.clone())
        .key_prefix("admin:")
        .build()
        .unwrap();
    app.set("k", &1u8, None).await.unwrap();
    admin.set("k", &2u8, None).await.unwrap();
    assert_eq!(app.get::<u8>("k").await.unwrap(), Some(1));
    assert_eq!(admin.get::<u8>("k").await.unwrap(), Some(2));
    assert_eq!(app.clear().await.unwrap(), 1);
    assert_eq!(app.get::<u8>("k").await.unwrap(), None);
    assert_eq!(admin.get::<u8>("k").await.unwrap(), Some(2));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_misses_of_one_key_compute_once() {
    let cache = Cache::default();
    let runs = Arc::new(AtomicUsize::new(0));
    let tasks: Vec<_> = (0..100)
        .map(|_| {
            let cache = cache.clone();
            let runs = runs.clone();
            tokio::spawn(async move {
                cache
                    .get_or_set_with("slow", None, || async move {
                        runs.fetch_add(1, Ordering::SeqCst);
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        profile(1)
                    })
                    .await
            })
        })
        .collect();
    for t in tasks {
        assert_eq!(t.await.unwrap(), profile(1));
    }
    assert_eq!(runs.load(Ordering::SeqCst), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_computation_is_not_stored_and_waiters_retry() {
    let cache = Cache::default();
    let runs = Arc::new(AtomicUsize::new(0));
    let tasks: Vec<_> = (0..10)
        .map(|_| {
            let cache = cache.clone();
            let runs = runs.clone();
            tokio::spawn(async move {
                cache
                    .try_get_or_set_with("flaky", None, || async move {
                        let n = runs.fetch_add(1, Ordering::SeqCst);
                        tokio::time::sleep(Duration::from_millis(20)).await;
                        if n == 0 {
                            Err("first attempt fails")
                        } else {
                            Ok(n)
                        }
                    })
                    .await
            })
        })
        .collect();
    let results: Vec<_> = futures_join(tasks).await;
    assert_eq!(
        results.iter().filter(|r| r.is_err()).count(),
        1,
        "only the failing leader sees its error"
    );
    let oks: Vec<_> = results.iter().filter_map(|r| r.as_ref().ok()).collect();
    assert!(
        oks.iter().all(|&&v| v == 1),
        "everyone else shares the second computation: {oks:?}"
    );
    assert_eq!(runs.load(Ordering::SeqCst), 2);
}

async fn futures_join<T>(tasks: Vec<tokio::task::JoinHandle<T>>) -> Vec<T> {
    let mut out = Vec::with_capacity(tasks.len());
    for t in tasks {
        out.push(t.await.unwrap());
    }
    out
}

#[tokio::test]
async fn errors_name_the_operation_and_key_unless_ignored() {
    // Each call reaches the store here: the breaker is off.
    let strict = Cache::builder()
        .backend(DownBackend)
        .key_prefix("s:")
        .circuit_breaker(Duration::ZERO)
        .build()
        .unwrap();
    let err = strict.get::<u8>("user:1").await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Connection);
    assert!(err.to_string().contains("get `s:|user:1`"), "{err}");
    assert!(err.to_string().contains("127.0.0.1:1"), "{err}");
    assert_eq!(
        strict.set("k", &1u8, None).await.unwrap_err().kind(),
        ErrorKind::Connection
    );
    assert_eq!(
        strict.clear().await.unwrap_err().kind(),
        ErrorKind::Connection
    );

    let lenient = Cache::builder()
        .backend(DownBackend)
        .ignore_errors(true)
        .circuit_breaker(Duration::ZERO)
        .build()
        .unwrap();
    assert_eq!(lenient.get::<u8>("k").await.unwrap(), None);
    lenient.set("k", &1u8, None).await.unwrap();
    assert!(!lenient.add("k", &1u8, None).await.unwrap());
    assert!(!lenient.delete("k").await.unwrap());
    assert_eq!(
        lenient.get_many::<u8>(&["a", "b"]).await.unwrap(),
        vec![None, None]
    );
    assert!(lenient.clear().await.is_err(), "clear always reports");
    assert!(
        lenient.incr("n", 1).await.is_err(),
        "incr has no value to fall back on"
    );
    assert!(lenient.ping().await.is_err(), "ping always reports");
    assert_eq!(lenient.stats().errors, 8);
}

#[tokio::test]
async fn get_or_set_with_is_fail_open() {
    let cache = Cache::builder().backend(DownBackend).build().unwrap();
    for i in 0..3u32 {
        assert_eq!(
            cache.get_or_set_with("k", None, || async move { i }).await,
            i
        );
    }
    let stats = cache.stats();
    assert_eq!(stats.errors, 1, "the first failure opens the breaker");
    assert_eq!(stats.breaker_opened, 1);
    assert_eq!(
        stats.breaker_skipped, 5,
        "every later read and write skips the store, counted: {stats:?}"
    );
}

#[tokio::test]
async fn clear_refuses_an_empty_prefix_on_a_shared_store() {
    let cache = Cache::builder()
        .backend(DownBackend)
        .key_prefix("")
        .build()
        .unwrap();
    assert_eq!(cache.clear().await.unwrap_err().kind(), ErrorKind::Config);
    let memory = Cache::builder().key_prefix("").build().unwrap();
    memory.set("k", &1u8, None).await.unwrap();
    assert_eq!(
        memory.clear().await.unwrap(),
        1,
        "the memory store is not shared"
    );
}

#[tokio::test]
async fn urls_build_the_named_store() {
    let cache = Cache::from_url("memory://?max_capacity=1MiB").unwrap();
    let err = cache
        .set("big", &vec![0u8; 2 << 20], None)
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::TooLarge);
    let null = Cache::from_url("null://").unwrap();
    null.set("k", &1u8, None).await.unwrap();
    assert_eq!(null.get::<u8>("k").await.unwrap(), None);
}

fn exercise_blocking(cache: &Cache) {
    let b = cache.blocking();
    b.set("p", &profile(1), None).unwrap();
    assert_eq!(b.get::<Profile>("p").unwrap(), Some(profile(1)));
    assert!(b.has("p").unwrap());
    assert!(!b.add("p", &profile(2), None).unwrap());
    assert_eq!(b.incr("n", 3).unwrap(), 3);
    assert_eq!(b.decr("n", 1).unwrap(), 2);
    b.set_many([("a", 1u8), ("b", 2)], None).unwrap();
    assert_eq!(
        b.get_many::<u8>(&["a", "b", "x"]).unwrap(),
        vec![Some(1), Some(2), None]
    );
    assert_eq!(b.delete_many(["a", "b"]).unwrap(), 2);
    assert_eq!(b.get_or_set_with("g", None, || 5u8), 5);
    assert_eq!(b.get_or_set_with("g", None, || 6u8), 5);
    assert!(b.delete("p").unwrap());
    b.ping().unwrap();
    assert!(b.clear().unwrap() >= 2);
    assert_eq!(b.get::<u8>("g").unwrap(), None);
}

#[test]
fn blocking_twins_work_outside_any_runtime() {
    exercise_blocking(&Cache::default());
}

#[tokio::test(flavor = "current_thread")]
async fn blocking_twins_work_inside_a_current_thread_runtime() {
    exercise_blocking(&Cache::default());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn blocking_twins_work_inside_a_multi_thread_runtime() {
    exercise_blocking(&Cache::default());
}

/// A store that answers through tokio timers, like a network store: the
/// blocking twins must still complete when they block the only thread of
/// a current-thread runtime.
struct Slow(MemoryBackend);

#[async_trait]
impl Backend for Slow {
    async fn get(&self, key: &str) -> cache_core::Result<Option<Bytes>> {
        tokio::time::sleep(Duration::from_millis(5)).await;
        self.0.get(key).await
    }
    async fn set(&self, key: &str, value: Bytes, ttl: Ttl) -> cache_core::Result<()> {
        tokio::time::sleep(Duration::from_millis(5)).await;
        self.0.set(key, value, ttl).await
    }
    async fn add(&self, key: &str, value: Bytes, ttl: Ttl) -> cache_core::Result<bool> {
        tokio::time::sleep(Duration::from_millis(5)).await;
        self.0.add(key, value, ttl).await
    }
    async fn delete_many(&self, keys: &[&str]) -> cache_core::Result<u64> {
        tokio::time::sleep(Duration::from_millis(5)).await;
        self.0.delete_many(keys).await
    }
    async fn incr(&self, key: &str, delta: i64, ttl: Ttl) -> cache_core::Result<i64> {
        tokio::time::sleep(Duration::from_millis(5)).await;
        self.0.incr(key, delta, ttl).await
    }
    async fn clear_prefix(&self, prefix: &str) -> cache_core::Result<u64> {
        tokio::time::sleep(Duration::from_millis(5)).await;
        self.0.clear_prefix(prefix).await
    }
}

fn slow_cache() -> Cache {
    Cache::new(Slow(MemoryBackend::new()))
}

#[test]
fn blocking_twins_drive_timers_outside_any_runtime() {
    exercise_blocking(&slow_cache());
}

#[tokio::test(flavor = "current_thread")]
async fn blocking_twins_drive_timers_inside_a_current_thread_runtime() {
    exercise_blocking(&slow_cache());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn blocking_twins_drive_timers_inside_a_multi_thread_runtime() {
    exercise_blocking(&slow_cache());
}

#[test]
fn blocking_get_or_set_with_computes_once_across_threads() {
    let cache = Cache::default();
    let runs = AtomicUsize::new(0);
    std::thread::scope(|s| {
        for _ in 0..16 {
            s.spawn(|| {
                let v = cache.blocking().get_or_set_with("k", None, || {
                    runs.fetch_add(1, Ordering::SeqCst);
                    std::thread::sleep(Duration::from_millis(50));
                    7u64
                });
                assert_eq!(v, 7);
            });
        }
    });
    assert_eq!(runs.load(Ordering::SeqCst), 1);
}

// --- The byte bound of the memory store -----------------------------------------

/// A small xorshift generator: the same sizes on every run, no dependency.
struct Sizes(u64);

impl Sizes {
    /// 1 B to 200 KiB.
    fn next(&mut self) -> usize {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        1 + usize::try_from(self.0 % (200 * 1024)).unwrap()
    }
}

/// A value that says which write produced it, so a read that returns
/// another entry's bytes shows.
fn filled(i: usize, len: usize) -> Vec<u8> {
    let tag = u8::try_from(i % 251).unwrap();
    vec![tag; len]
}

#[tokio::test]
async fn a_one_mib_store_filled_with_values_of_random_sizes_never_holds_more_than_one_mib() {
    const CAPACITY: u64 = 1024 * 1024;
    let store = MemoryBackend::with_capacity(CAPACITY);
    assert_eq!(store.capacity(), CAPACITY);
    let cache = Cache::builder()
        .backend(store.clone())
        .key_prefix("bound:")
        .build()
        .unwrap();
    let mut sizes = Sizes(0x2545_f491_4f6c_dd1d);
    let mut written = Vec::new();
    let mut peak = 0;
    for i in 0..400 {
        let value = filled(i, sizes.next());
        // Typed values through the cache, raw bytes through the store, mixed.
        if i % 2 == 0 {
            cache.set(&format!("k{i}"), &value, None).await.unwrap();
        } else {
            store
                .set(
                    &format!("bound:k{i}"),
                    Bytes::from(value.clone()),
                    Ttl::Never,
                )
                .await
                .unwrap();
        }
        let size = store.weighted_size();
        assert!(
            size <= CAPACITY,
            "after write {i} ({} bytes) the store accounts {size} bytes, over its {CAPACITY}",
            value.len()
        );
        peak = peak.max(size);
        written.push(value);
    }
    assert!(
        peak > CAPACITY / 2,
        "the store was actually filled (peak {peak} bytes)"
    );
    assert!(store.len() < written.len(), "older entries were evicted");
    // What survived eviction is intact; what did not is a miss, never
    // another entry's value.
    let mut kept = 0;
    for (i, value) in written.iter().enumerate() {
        let read = if i % 2 == 0 {
            cache.get::<Vec<u8>>(&format!("k{i}")).await.unwrap()
        } else {
            store
                .get(&format!("bound:k{i}"))
                .await
                .unwrap()
                .map(|b| b.to_vec())
        };
        if let Some(read) = read {
            assert_eq!(&read, value, "entry {i} came back altered");
            kept += 1;
        }
    }
    assert!(kept > 0 && kept == store.len(), "{kept} of {}", store.len());
}

#[tokio::test]
async fn a_value_larger_than_the_whole_store_is_refused_and_the_rest_stays() {
    const CAPACITY: u64 = 1024 * 1024;
    let store = MemoryBackend::with_capacity(CAPACITY);
    let cache = Cache::builder()
        .backend(store.clone())
        .key_prefix("big:")
        .build()
        .unwrap();
    cache.set("small", &profile(1), None).await.unwrap();
    cache
        .set("bytes", &vec![7u8; 100 * 1024], None)
        .await
        .unwrap();
    let before = store.weighted_size();

    let huge = vec![0u8; 2 * 1024 * 1024];
    let err = cache.set("huge", &huge, None).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::TooLarge, "{err}");
    let message = err.to_string();
    for part in ["big:|huge", "bytes", &CAPACITY.to_string()] {
        assert!(
            message.contains(part),
            "the message names {part:?}: {message}"
        );
    }
    let err = store
        .set("big:raw", Bytes::from(huge.clone()), Ttl::Never)
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::TooLarge, "{err}");
    assert!(err.to_string().contains("big:raw"), "{err}");
    let err = cache.add("huge", &huge, None).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::TooLarge, "{err}");

    assert_eq!(cache.get::<Vec<u8>>("huge").await.unwrap(), None);
    assert!(!cache.has("huge").await.unwrap());
    assert!(store.get("big:raw").await.unwrap().is_none());
    assert_eq!(
        store.weighted_size(),
        before,
        "nothing was stored or evicted"
    );
    assert_eq!(
        cache.get::<Profile>("small").await.unwrap(),
        Some(profile(1))
    );
    assert_eq!(
        cache.get::<Vec<u8>>("bytes").await.unwrap(),
        Some(vec![7u8; 100 * 1024])
    );
}

/// A write that is refused still replaces: the value it was meant to
/// replace is not served afterwards, even when the error is ignored.
#[tokio::test]
async fn a_refused_write_does_not_leave_the_old_value_behind() {
    let store = MemoryBackend::with_capacity(1024 * 1024);
    for ignore_errors in [false, true] {
        let cache = Cache::builder()
            .backend(store.clone())
            .key_prefix("stale:")
            .ignore_errors(ignore_errors)
            .max_value_size(64 * 1024)
            .build()
            .unwrap();
        for (key, huge) in [
            ("over-the-bound", vec![1u8; 100 * 1024]),
            ("over-the-store", vec![1u8; 2 * 1024 * 1024]),
        ] {
            cache.set(key, &vec![0u8; 10], None).await.unwrap();
            let result = cache.set(key, &huge, None).await;
            assert_eq!(result.is_ok(), ignore_errors, "{key}: {result:?}");
            assert_eq!(cache.get::<Vec<u8>>(key).await.unwrap(), None, "{key}");
        }
        store
            .set("stale:raw", Bytes::from_static(b"old"), Ttl::Never)
            .await
            .unwrap();
        let err = store
            .set(
                "stale:raw",
                Bytes::from(vec![0u8; 2 * 1024 * 1024]),
                Ttl::Never,
            )
            .await
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::TooLarge);
        assert!(store.get("stale:raw").await.unwrap().is_none());
    }
}
