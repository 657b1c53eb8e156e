//! Which runtime drives the Redis connections: an async caller's own
//! runtime (one connection per runtime, closed when it shuts down, never
//! touching the others'), the crate's I/O runtime for blocking calls and
//! under `connection_runtime=shared`; timeouts on runtimes without timers;
//! runtimes that cannot make connections; `connections=N`.

use std::time::{Duration, Instant};

use cache_core::backend::redis::ConnectionRuntime;
use cache_core::backend::RedisBackend;
use cache_core::{Cache, ErrorKind};
use cache_tests::blocking_harness::{current_thread_runtime, multi_thread_runtime};
use cache_tests::redis_server::RedisServer;

const RESPONSE_TIMEOUT: Duration = Duration::from_millis(300);
const CONNECT_TIMEOUT: Duration = Duration::from_millis(400);

fn cache(server: &RedisServer, runtime: ConnectionRuntime) -> Cache {
    backend_and_cache(server, runtime).1
}

/// A backend on `server` with short timeouts, and a cache on it.
fn backend_and_cache(server: &RedisServer, runtime: ConnectionRuntime) -> (RedisBackend, Cache) {
    let backend = RedisBackend::builder()
        .url(server.url())
        .connect_timeout(CONNECT_TIMEOUT)
        .response_timeout(RESPONSE_TIMEOUT)
        .connection_runtime(runtime)
        .build()
        .unwrap();
    // Every call reaches the server: these tests are about its timeouts.
    let cache = Cache::builder()
        .backend(backend.clone())
        .key_prefix("rt:")
        .circuit_breaker(Duration::ZERO)
        .build()
        .unwrap();
    (backend, cache)
}

/// The server's client connections, without `redis-cli`'s own.
fn clients(server: &RedisServer) -> usize {
    server
        .cli(&["CLIENT", "LIST"])
        .lines()
        .filter(|line| !line.contains("cmd=client|list"))
        .count()
}

/// Waits until the server counts `expected` client connections (closing a
/// socket reaches the server a moment later).
fn await_clients(server: &RedisServer, expected: usize) {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let now = clients(server);
        if now == expected {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "expected {expected} client connections, the server has {now}:\n{}",
            server.cli(&["CLIENT", "LIST"])
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A current-thread runtime with I/O but no time driver.
fn runtime_without_timers() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .build()
        .unwrap()
}

/// Asserts that `err` is a timeout that took about `timeout`.
fn assert_timed_out(err: &cache_core::Error, elapsed: Duration, timeout: Duration) {
    assert_eq!(err.kind(), ErrorKind::Timeout, "{err}");
    assert!(elapsed >= timeout / 2, "failed early ({elapsed:?}): {err}");
    assert!(elapsed < timeout * 5, "took {elapsed:?}: {err}");
}

#[test]
fn each_runtime_gets_its_own_connection_and_blocking_calls_share_one() {
    let server = RedisServer::start();
    let cache = cache(&server, ConnectionRuntime::Caller);
    let first = current_thread_runtime();
    let second = multi_thread_runtime(2);
    first.block_on(cache.set("k", &1u32, None)).unwrap();
    await_clients(&server, 1);
    second.block_on(async {
        // From a task of the runtime and from its `block_on`: one connection.
        let cache = cache.clone();
        let spawned = tokio::spawn(async move { cache.get::<u32>("k").await.unwrap() });
        assert_eq!(spawned.await.unwrap(), Some(1));
    });
    assert_eq!(second.block_on(cache.get::<u32>("k")).unwrap(), Some(1));
    await_clients(&server, 2);
    // Blocking calls, from inside a runtime or from none, use the
    // connection of the crate's I/O runtime.
    first.block_on(async { cache.blocking().set("k", &2u32, None).unwrap() });
    assert_eq!(cache.blocking().get::<u32>("k").unwrap(), Some(2));
    await_clients(&server, 3);
}

#[test]
fn a_runtime_that_shuts_down_closes_only_its_own_connection() {
    let server = RedisServer::start();
    let (backend, cache) = backend_and_cache(&server, ConnectionRuntime::Caller);
    let staying = multi_thread_runtime(2);
    staying.block_on(cache.set("k", &1u32, None)).unwrap();
    cache.blocking().set("shared", &1u32, None).unwrap();
    // Runtimes that come and go, as `#[tokio::test]` makes them: each
    // connects, works, and takes its connection with it.
    for round in 0..5u32 {
        let passing = current_thread_runtime();
        passing.block_on(async {
            cache.set("k", &round, None).await.unwrap();
            assert_eq!(cache.get::<u32>("k").await.unwrap(), Some(round));
        });
        await_clients(&server, 3);
        drop(passing);
        await_clients(&server, 2);
    }
    // The runtime that stayed, and blocking calls, were not disturbed.
    assert_eq!(staying.block_on(cache.get::<u32>("k")).unwrap(), Some(4));
    assert_eq!(cache.blocking().get::<u32>("shared").unwrap(), Some(1));
    // A runtime shut down while its connection is being made (the frozen
    // server never answers the handshake).
    server.freeze();
    let short = current_thread_runtime();
    short.block_on(async {
        let call = tokio::time::timeout(Duration::from_millis(100), cache.get::<u32>("k"));
        assert!(call.await.is_err(), "the call waits for the handshake");
    });
    drop(short);
    server.thaw();
    let next = current_thread_runtime();
    assert_eq!(next.block_on(cache.get::<u32>("k")).unwrap(), Some(4));
    drop(next);
    await_clients(&server, 2);
    // Once every runtime that used it is gone, only the shared connection
    // is left.
    drop(staying);
    await_clients(&server, 1);
    assert!(
        format!("{backend:?}").contains("connected: true"),
        "{backend:?}"
    );
}

#[test]
fn a_store_used_only_by_runtimes_that_are_gone_holds_no_connection() {
    let server = RedisServer::start();
    let (backend, cache) = backend_and_cache(&server, ConnectionRuntime::Caller);
    for _ in 0..3 {
        let rt = current_thread_runtime();
        rt.block_on(cache.set("k", &1u32, None)).unwrap();
        assert!(
            format!("{backend:?}").contains("connected: true"),
            "{backend:?}"
        );
        drop(rt);
    }
    await_clients(&server, 0);
    assert!(
        format!("{backend:?}").contains("connected: false"),
        "{backend:?}"
    );
}

#[test]
fn a_call_from_a_runtime_without_timers_times_out_against_a_frozen_server() {
    let server = RedisServer::start();
    let cache = cache(&server, ConnectionRuntime::Caller);
    let rt = runtime_without_timers();
    rt.block_on(cache.set("k", &1u32, None)).unwrap();
    await_clients(&server, 1);

    server.freeze();
    // A request on the connection this runtime made.
    let started = Instant::now();
    let err = rt.block_on(cache.get::<u32>("k")).unwrap_err();
    assert_timed_out(&err, started.elapsed(), RESPONSE_TIMEOUT);
    assert!(err.to_string().contains(&server.url()[8..]), "{err}");
    // A connection attempt from another runtime without timers: the server
    // accepts the socket (the kernel does) and never answers the handshake.
    let other = runtime_without_timers();
    let started = Instant::now();
    let err = other.block_on(cache.ping()).unwrap_err();
    assert_timed_out(&err, started.elapsed(), CONNECT_TIMEOUT);
    server.thaw();

    // The late answers are not mistaken for later ones.
    rt.block_on(cache.set("k", &2u32, None)).unwrap();
    assert_eq!(rt.block_on(cache.get::<u32>("k")).unwrap(), Some(2));
    assert_eq!(other.block_on(cache.get::<u32>("k")).unwrap(), Some(2));
}

#[test]
fn a_runtime_without_timers_times_out_on_the_shared_connection_too() {
    let server = RedisServer::start();
    let cache = cache(&server, ConnectionRuntime::Shared);
    let rt = runtime_without_timers();
    rt.block_on(cache.set("k", &1u32, None)).unwrap();
    server.freeze();
    let started = Instant::now();
    let err = rt.block_on(cache.get::<u32>("k")).unwrap_err();
    assert_timed_out(&err, started.elapsed(), RESPONSE_TIMEOUT);
    server.thaw();
    assert_eq!(rt.block_on(cache.get::<u32>("k")).unwrap(), Some(1));
}

#[test]
fn with_a_shared_connection_every_runtime_uses_the_same_one() {
    let server = RedisServer::start();
    let cache = cache(&server, ConnectionRuntime::Shared);
    current_thread_runtime()
        .block_on(cache.set("k", &1u32, None))
        .unwrap();
    assert_eq!(
        multi_thread_runtime(2)
            .block_on(cache.get::<u32>("k"))
            .unwrap(),
        Some(1)
    );
    assert_eq!(cache.blocking().get::<u32>("k").unwrap(), Some(1));
    await_clients(&server, 1);
}

#[test]
fn a_runtime_that_cannot_make_connections_uses_the_shared_one() {
    let server = RedisServer::start();
    let cache = cache(&server, ConnectionRuntime::Caller);
    // Neither I/O nor time: tokio panics in the task that tries to connect
    // (its message is printed), and the call goes to the I/O runtime.
    let bare = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    bare.block_on(async {
        cache.set("k", &1u32, None).await.unwrap();
        assert_eq!(cache.get::<u32>("k").await.unwrap(), Some(1));
    });
    await_clients(&server, 1);
    cache.blocking().set("k", &2u32, None).unwrap();
    await_clients(&server, 1);
}

#[test]
fn the_connection_runtime_comes_from_the_url_or_the_builder() {
    let backend = RedisBackend::from_url("redis://127.0.0.1/0?connection_runtime=shared").unwrap();
    assert_eq!(backend.connection_runtime(), ConnectionRuntime::Shared);
    assert!(format!("{backend:?}").contains("Shared"), "{backend:?}");
    let backend = RedisBackend::builder()
        .url("redis+sentinel://127.0.0.1/mymaster?connection_runtime=shared")
        .connection_runtime(ConnectionRuntime::Caller)
        .build()
        .unwrap();
    assert_eq!(backend.connection_runtime(), ConnectionRuntime::Caller);
    for bad in [
        "redis://127.0.0.1/0?connection_runtime=io",
        "redis://127.0.0.1/0?connection_runtime=",
        "redis+cluster://127.0.0.1:7000?connection_runtime=Shared",
    ] {
        let err = Cache::from_url(bad).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Config, "{bad}: {err}");
        assert!(err.to_string().contains("connection_runtime"), "{err}");
    }
}

#[test]
fn connections_n_gives_each_runtime_n_connections_used_in_turn() {
    let server = RedisServer::start();
    let cache = Cache::from_url(&format!("{}?connections=3", server.url())).unwrap();
    let rt = multi_thread_runtime(2);
    rt.block_on(async {
        cache.set("k", &1u32, None).await.unwrap();
        for _ in 0..5 {
            assert_eq!(cache.get::<u32>("k").await.unwrap(), Some(1));
        }
    });
    await_clients(&server, 3);
    // Each of the three carried requests: its last command is ours, not
    // the connection handshake.
    let list = server.cli(&["CLIENT", "LIST"]);
    let ours: Vec<&str> = list
        .lines()
        .filter(|line| !line.contains("cmd=client|list"))
        .collect();
    assert_eq!(ours.len(), 3, "{list}");
    for line in ours {
        assert!(
            line.contains("cmd=get") || line.contains("cmd=set"),
            "a connection that carried no request: {line}"
        );
    }
    // Blocking calls get three of their own.
    for _ in 0..3 {
        assert_eq!(cache.blocking().get::<u32>("k").unwrap(), Some(1));
    }
    await_clients(&server, 6);
    drop(rt);
    await_clients(&server, 3);
}

#[test]
fn connections_must_be_from_1_to_64() {
    for bad in ["0", "65", "-1", "two", ""] {
        let url = format!("redis://127.0.0.1/0?connections={bad}");
        let err = Cache::from_url(&url).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Config, "{url}: {err}");
        assert!(err.to_string().contains("from 1 to 64"), "{err}");
    }
    for bad in [0, 65] {
        let err = RedisBackend::builder()
            .url("redis://127.0.0.1/0")
            .connections(bad)
            .build()
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Config, "{err}");
        assert!(err.to_string().contains("from 1 to 64"), "{err}");
    }
    let backend = RedisBackend::builder()
        .url("redis+sentinel://127.0.0.1/mymaster?connections=8")
        .build()
        .unwrap();
    assert_eq!(backend.connections(), 8);
    assert_eq!(
        RedisBackend::from_url("redis://h").unwrap().connections(),
        1
    );
}
