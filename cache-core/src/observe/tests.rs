use std::sync::{Arc, Mutex};

use super::{Emit, Event, EventKind, Outcome};
use crate::{Cache, ErrorKind};

/// The events a listener saw: their kinds and functions.
type Seen = Arc<Mutex<Vec<(EventKind, Option<String>)>>>;

/// A cache whose listener records the kinds of its events.
fn recorded() -> (Cache, Seen) {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let sink = Arc::clone(&seen);
    let cache = Cache::builder()
        .name("recorded")
        .listener(move |event: &Event<'_>| {
            assert_eq!((event.cache, event.store), ("recorded", "memory"));
            sink.lock()
                .unwrap()
                .push((event.kind, event.function.map(str::to_owned)));
        })
        .build()
        .unwrap();
    (cache, seen)
}

#[test]
fn stale_serves_reach_the_statistics_of_the_cache_and_of_the_function() {
    let (cache, seen) = recorded();
    let memo = crate::memo::Memo {
        owner: "app",
        name: "profile",
        prefix: None,
        version: 1,
        timeout: None,
        policy: None,
    };
    let function = cache.observer().functions.of(&memo);
    cache.outcome(Some(&function), Some("k"), Outcome::Stale);
    cache.outcome(None, None, Outcome::Stale);

    assert_eq!(cache.stats().stale, 2);
    let by_function = cache.function_stats();
    assert_eq!(by_function["app::profile"].stale, 1);
    assert_eq!(crate::memo::function_stats(&cache, &memo).stale, 1);
    assert_eq!(
        *seen.lock().unwrap(),
        [
            (EventKind::Stale, Some("app::profile".to_owned())),
            (EventKind::Stale, None)
        ]
    );
}

#[test]
fn breaker_transitions_and_skips_are_counted_and_heard() {
    let (cache, seen) = recorded();
    cache.emit(None, None, Emit::BreakerOpened);
    cache.emit(None, Some("k"), Emit::BreakerSkipped { op: "get" });
    cache.emit(None, Some("k"), Emit::BreakerSkipped { op: "set" });
    cache.emit(None, None, Emit::BreakerClosed);

    let stats = cache.stats();
    assert_eq!(
        (
            stats.breaker_opened,
            stats.breaker_skipped,
            stats.breaker_closed
        ),
        (1, 2, 1)
    );
    let kinds: Vec<EventKind> = seen.lock().unwrap().iter().map(|(k, _)| *k).collect();
    assert_eq!(
        kinds,
        [
            EventKind::BreakerOpened,
            EventKind::BreakerSkipped { operation: "get" },
            EventKind::BreakerSkipped { operation: "set" },
            EventKind::BreakerClosed,
        ]
    );
}

#[test]
fn errors_are_counted_by_kind() {
    let (cache, _) = recorded();
    for kind in [ErrorKind::Timeout, ErrorKind::Timeout, ErrorKind::Codec] {
        cache.emit(None, None, Emit::Error { kind, op: "get" });
    }
    let stats = cache.stats();
    assert_eq!(stats.errors, 3);
    assert_eq!(stats.errors_by_kind.get(ErrorKind::Timeout), 2);
    assert_eq!(stats.errors_by_kind.get(ErrorKind::Codec), 1);
    assert_eq!(stats.errors_by_kind.get(ErrorKind::Connection), 0);
    let json = serde_json::to_value(stats).unwrap();
    assert_eq!(
        json["errors_by_kind"],
        serde_json::json!({"timeout": 2, "codec": 1})
    );
}

#[tokio::test]
async fn a_value_of_another_type_is_a_codec_error_and_a_miss_not_an_outage() {
    let (cache, seen) = recorded();
    cache.set("k", &"text", None).await.unwrap();
    assert_eq!(cache.get::<u64>("k").await.unwrap(), None);
    let stats = cache.stats();
    assert_eq!((stats.misses, stats.errors), (1, 1));
    assert_eq!(stats.errors_by_kind.get(ErrorKind::Codec), 1);
    assert!(seen.lock().unwrap().iter().any(|(k, _)| matches!(
        k,
        EventKind::Error {
            kind: ErrorKind::Codec,
            ..
        }
    )));
}

#[tokio::test]
async fn callers_that_wait_for_another_callers_computation_count_as_coalesced() {
    let cache = Cache::default();
    let gate = Arc::new(tokio::sync::Notify::new());
    let leader = {
        let (cache, gate) = (cache.clone(), Arc::clone(&gate));
        tokio::spawn(async move {
            cache
                .get_or_set_with("k", None, || async move {
                    gate.notified().await;
                    1u32
                })
                .await
        })
    };
    // Let the leader start its computation, then queue four followers.
    tokio::task::yield_now().await;
    let followers: Vec<_> = (0..4)
        .map(|_| {
            let cache = cache.clone();
            tokio::spawn(async move {
                cache
                    .get_or_set_with("k", None, || async { unreachable!("coalesced") as u32 })
                    .await
            })
        })
        .collect();
    for _ in 0..10 {
        tokio::task::yield_now().await;
    }
    gate.notify_one();
    assert_eq!(leader.await.unwrap(), 1);
    for follower in followers {
        assert_eq!(follower.await.unwrap(), 1);
    }
    cache
        .get_or_set_with("k", None, || async { unreachable!("a hit") as u32 })
        .await;
    let stats = cache.stats();
    assert_eq!(
        (stats.hits, stats.misses, stats.coalesced),
        (1, 1, 4),
        "{stats:?}"
    );
    assert_eq!(stats.compute.count, 1);
    assert!((stats.hit_ratio() - 5.0 / 6.0).abs() < 1e-9);
}

#[test]
fn the_store_label_follows_the_backend() {
    assert_eq!(Cache::default().observer().store, "memory");
    assert_eq!(Cache::new(crate::NullBackend).observer().store, "null");
    #[cfg(feature = "redis")]
    let redis = Cache::from_url("redis://127.0.0.1:1/0").unwrap();
    #[cfg(feature = "redis")]
    assert_eq!(redis.observer().store, "redis");
    assert_eq!(Cache::default().name(), crate::DEFAULT_KEY_PREFIX);
}

#[cfg(feature = "metrics")]
#[test]
fn stale_serves_and_breaker_events_reach_the_metrics() {
    use metrics_util::debugging::{DebugValue, DebuggingRecorder};

    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    let cache = Cache::builder().name("breaker").build().unwrap();
    let memo = crate::memo::Memo {
        owner: "app",
        name: "profile",
        prefix: None,
        version: 1,
        timeout: None,
        policy: None,
    };
    metrics::with_local_recorder(&recorder, || {
        let function = cache.observer().functions.of(&memo);
        cache.outcome(Some(&function), Some("k"), Outcome::Stale);
        cache.outcome(Some(&function), Some("k"), Outcome::Stale);
        cache.emit(None, None, Emit::BreakerOpened);
        cache.emit(None, Some("k"), Emit::BreakerSkipped { op: "get" });
    });
    let metrics: Vec<(String, Vec<String>, DebugValue)> = snapshotter
        .snapshot()
        .into_vec()
        .into_iter()
        .map(|(key, _, _, value)| {
            let mut labels: Vec<String> = key
                .key()
                .labels()
                .map(|l| format!("{}={}", l.key(), l.value()))
                .collect();
            labels.sort();
            (key.key().name().to_owned(), labels, value)
        })
        .collect();
    let find = |name: &str, labels: &[&str]| {
        metrics
            .iter()
            .find(|(n, l, _)| n == name && l.iter().map(String::as_str).eq(labels.iter().copied()))
            .map_or_else(
                || panic!("no {name} {labels:?} in {metrics:?}"),
                |(_, _, v)| v.clone_value(),
            )
    };
    assert_eq!(
        find(
            "cache.lookups",
            &[
                "cache.function=app::profile",
                "cache.name=breaker",
                "cache.outcome=stale",
                "cache.store=memory"
            ]
        ),
        Counted::Counter(2)
    );
    assert_eq!(
        find(
            "cache.breaker.transitions",
            &[
                "cache.breaker.state=open",
                "cache.name=breaker",
                "cache.store=memory"
            ]
        ),
        Counted::Counter(1)
    );
    assert_eq!(
        find(
            "cache.breaker.open",
            &["cache.name=breaker", "cache.store=memory"]
        ),
        Counted::Gauge(1.0)
    );
    assert_eq!(
        find(
            "cache.breaker.skipped",
            &["cache.name=breaker", "cache.store=memory"]
        ),
        Counted::Counter(1)
    );
}

/// A debugging recorder's value, comparable.
#[cfg(feature = "metrics")]
#[derive(Debug, PartialEq)]
enum Counted {
    Counter(u64),
    Gauge(f64),
    Other,
}

#[cfg(feature = "metrics")]
trait CloneValue {
    fn clone_value(&self) -> Counted;
}

#[cfg(feature = "metrics")]
impl CloneValue for metrics_util::debugging::DebugValue {
    fn clone_value(&self) -> Counted {
        match self {
            Self::Counter(n) => Counted::Counter(*n),
            Self::Gauge(g) => Counted::Gauge(g.into_inner()),
            Self::Histogram(_) => Counted::Other,
        }
    }
}
