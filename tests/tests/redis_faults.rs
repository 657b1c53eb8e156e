//! Redis down, restarted, slow or silent: operations fail with
//! `Connection`/`Timeout` errors within the configured timeouts (the
//! bounds below are generous multiples, to assert behaviour, not speed),
//! never hang, and recover without rebuilding the `Cache`.

use std::net::TcpListener;
use std::time::{Duration, Instant};

use cache_core::{Cache, ErrorKind};
use cache_tests::redis_server::{redis_cli, RedisServer};

const CONNECT_TIMEOUT: Duration = Duration::from_millis(400);
const RESPONSE_TIMEOUT: Duration = Duration::from_millis(300);

fn url_with_timeouts(port: u16) -> String {
    format!(
        "redis://127.0.0.1:{port}/0?connect_timeout={}ms&response_timeout={}ms",
        CONNECT_TIMEOUT.as_millis(),
        RESPONSE_TIMEOUT.as_millis()
    )
}

/// A cache whose every call reaches the server (no circuit breaker): what
/// the store's own errors look like. `circuit_breaker.rs` tests the
/// breaker.
fn cache(port: u16, ignore_errors: bool) -> Cache {
    Cache::builder()
        .url(url_with_timeouts(port))
        .key_prefix("app:")
        .ignore_errors(ignore_errors)
        .circuit_breaker(Duration::ZERO)
        .build()
        .unwrap()
}

/// The behaviour bound: five times the longest configured timeout.
fn bound() -> Duration {
    CONNECT_TIMEOUT.max(RESPONSE_TIMEOUT) * 5
}

/// Awaits `call`, asserting it ends within [`bound`]: a hang check.
async fn within_bound<T>(what: &str, call: impl std::future::Future<Output = T>) -> T {
    let started = Instant::now();
    let out = call.await;
    assert!(
        started.elapsed() < bound(),
        "{what} took {:?}",
        started.elapsed()
    );
    out
}

fn assert_unavailable(err: &cache_core::Error, port: u16) {
    assert!(
        matches!(err.kind(), ErrorKind::Connection | ErrorKind::Timeout),
        "expected a connection or timeout error, got {err}"
    );
    assert!(
        err.to_string().contains(&format!("127.0.0.1:{port}/0")),
        "the error must name the server: {err}"
    );
}

#[tokio::test]
async fn a_stopped_server_gives_connection_errors_within_the_timeout() {
    let mut server = RedisServer::start();
    let port = server.port();
    let cache = cache(port, false);
    cache.set("k", &1u32, None).await.unwrap();
    server.stop();

    let err = within_bound("ping", cache.ping()).await.unwrap_err();
    assert_unavailable(&err, port);
    assert!(err.to_string().contains("cannot connect to Redis"), "{err}");

    let err = within_bound("get", cache.get::<u32>("k"))
        .await
        .unwrap_err();
    assert_unavailable(&err, port);
    assert!(err.to_string().contains(&cache.full_key("k")), "{err}");

    for _ in 0..3 {
        let err = within_bound("set", cache.set("k", &2u32, None)).await;
        assert_unavailable(&err.unwrap_err(), port);
    }
    assert!(cache.stats().errors >= 4);
}

#[tokio::test]
async fn a_stopped_server_with_ignore_errors_gives_misses_and_counts_errors() {
    let mut server = RedisServer::start();
    let port = server.port();
    let cache = cache(port, true);
    cache.set("k", &1u32, None).await.unwrap();
    server.stop();

    let started = Instant::now();
    assert_eq!(cache.get::<u32>("k").await.unwrap(), None);
    cache.set("k", &2u32, None).await.unwrap();
    assert!(!cache.has("k").await.unwrap());
    assert!(!cache.add("k", &3u32, None).await.unwrap());
    assert!(!cache.delete("k").await.unwrap());
    assert_eq!(
        cache.get_many::<u32>(&["a", "b"]).await.unwrap(),
        vec![None, None]
    );
    assert!(
        cache.clear().await.is_err(),
        "clear reports even when ignoring errors"
    );
    assert!(
        started.elapsed() < bound() * 7,
        "7 calls took {:?}",
        started.elapsed()
    );
    assert_eq!(cache.stats().errors, 7);

    // Read-through still returns the computed value.
    let v = cache.get_or_set_with("k", None, || async { 42u32 }).await;
    assert_eq!(v, 42);
    assert!(cache.stats().errors > 7);
    // No value to fall back on: these still report the outage.
    assert_unavailable(&cache.incr("n", 1).await.unwrap_err(), port);
    assert_unavailable(&cache.ping().await.unwrap_err(), port);
}

#[tokio::test]
async fn the_same_cache_works_again_after_a_restart() {
    let mut server = RedisServer::start();
    let port = server.port();
    let cache = cache(port, false);
    cache.set("k", &1u32, None).await.unwrap();
    server.stop();
    assert!(cache.get::<u32>("k").await.is_err());

    server.restart();
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        match cache.set("k", &2u32, None).await {
            Ok(()) => break,
            Err(e) => {
                assert!(Instant::now() < deadline, "no recovery after restart: {e}");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }
    assert_eq!(cache.get::<u32>("k").await.unwrap(), Some(2));
    assert_eq!(server.cli(&["EXISTS", &cache.full_key("k")]), "1");
}

#[tokio::test]
async fn a_restart_between_calls_is_invisible_to_idempotent_operations() {
    let mut server = RedisServer::start();
    let cache = cache(server.port(), false);
    cache.set("k", &1u32, None).await.unwrap();
    server.restart();
    // The old connection is dead; the read is retried once on a new one.
    assert_eq!(cache.get::<u32>("k").await.unwrap(), None);
    cache.set("k", &3u32, None).await.unwrap();
    assert_eq!(cache.get::<u32>("k").await.unwrap(), Some(3));
}

#[tokio::test]
async fn a_failed_first_connection_is_not_kept() {
    let mut server = RedisServer::start();
    let port = server.port();
    server.stop();
    let cache = cache(port, false);
    assert_unavailable(&cache.ping().await.unwrap_err(), port);
    assert_unavailable(&cache.get::<u32>("k").await.unwrap_err(), port);

    server.restart();
    cache.ping().await.expect("the next call connects again");
    cache.set("k", &1u32, None).await.unwrap();
}

#[tokio::test]
async fn a_slow_server_gives_a_timeout_not_a_hang() {
    let server = RedisServer::start();
    let port = server.port();
    let cache = cache(port, false);
    cache.set("k", &1u32, None).await.unwrap();

    let sleeper = std::thread::spawn(move || redis_cli(port, &["DEBUG", "SLEEP", "2"]));
    // Wait until the server is busy sleeping: a read then times out.
    let deadline = Instant::now() + Duration::from_millis(1_500);
    let err = loop {
        let started = Instant::now();
        match cache.get::<u32>("k").await {
            Ok(_) => {
                assert!(Instant::now() < deadline, "DEBUG SLEEP never started");
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            Err(e) => {
                let elapsed = started.elapsed();
                assert!(elapsed < RESPONSE_TIMEOUT * 5, "get took {elapsed:?}");
                assert!(elapsed >= RESPONSE_TIMEOUT / 2, "get failed early: {e}");
                break e;
            }
        }
    };
    assert_eq!(err.kind(), ErrorKind::Timeout, "{err}");
    assert!(
        err.to_string().contains(&format!("127.0.0.1:{port}/0")),
        "{err}"
    );

    assert_eq!(sleeper.join().unwrap(), "OK");
    // The late answer to the timed-out GET is not mistaken for a later one.
    cache.set("k", &7u32, None).await.unwrap();
    assert_eq!(cache.get::<u32>("k").await.unwrap(), Some(7));
}

#[tokio::test]
async fn a_server_that_never_answers_gives_a_connect_timeout() {
    // Accepts connections (the kernel does, into the backlog) and never
    // says a word.
    let silent = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = silent.local_addr().unwrap().port();
    let cache = cache(port, false);

    for _ in 0..2 {
        let err = within_bound("ping", cache.ping()).await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Timeout, "{err}");
        assert!(
            err.to_string().contains(&format!("127.0.0.1:{port}/0")),
            "{err}"
        );
    }
    drop(silent);
}
