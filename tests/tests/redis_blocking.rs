//! The blocking API against Redis: outside any runtime, inside a
//! current-thread runtime (whose only thread the call blocks) and inside a
//! multi-thread runtime, without panics or deadlocks. Each test body runs
//! under a watchdog so that a deadlock fails the test instead of hanging it.

use std::time::Duration;

use cache_core::Cache;
use cache_tests::blocking_harness::{self, current_thread_runtime as current_thread};
use cache_tests::redis_server::RedisServer;

/// Runs `body` on its own thread and fails if it takes longer than 20 s.
fn within_deadline(body: impl FnOnce() + Send + 'static) {
    blocking_harness::within_deadline(Duration::from_secs(20), body);
}

/// The blocking operations, exercised end to end (first connection included).
fn exercise(cache: &Cache) {
    let sync = cache.blocking();
    sync.set("user:1", &"Ada".to_string(), None).unwrap();
    assert_eq!(
        sync.get::<String>("user:1").unwrap().as_deref(),
        Some("Ada")
    );
    assert!(sync.has("user:1").unwrap());
    assert!(sync.add("lock", &1u8, Duration::from_secs(5)).unwrap());
    assert!(!sync.add("lock", &1u8, None).unwrap());
    assert!(sync.delete("lock").unwrap());
    sync.set_many([("a", 1u32), ("b", 2)], None).unwrap();
    assert_eq!(
        sync.get_many::<u32>(&["a", "b", "c"]).unwrap(),
        vec![Some(1), Some(2), None]
    );
    assert_eq!(sync.clear().unwrap(), 3);
}

#[test]
fn blocking_calls_work_outside_any_runtime() {
    let server = RedisServer::start();
    let cache = server.cache("sync:");
    within_deadline(move || exercise(&cache));
}

#[test]
fn blocking_calls_work_inside_a_current_thread_runtime() {
    let server = RedisServer::start();
    let cache = server.cache("sync:");
    within_deadline(move || {
        let rt = current_thread();
        rt.block_on(async move {
            // The connection is made by a blocking call, from a task of
            // this runtime; then async and blocking calls alternate.
            exercise(&cache);
            cache.set("k", &1u32, None).await.unwrap();
            assert_eq!(cache.blocking().get::<u32>("k").unwrap(), Some(1));
            assert_eq!(cache.get::<u32>("k").await.unwrap(), Some(1));
        });
    });
}

#[test]
fn blocking_calls_work_inside_a_multi_thread_runtime() {
    let server = RedisServer::start();
    let cache = server.cache("sync:");
    within_deadline(move || {
        let rt = blocking_harness::multi_thread_runtime(2);
        rt.block_on(async move {
            let other = cache.clone();
            tokio::spawn(async move { exercise(&other) }).await.unwrap();
            exercise(&cache);
        });
    });
}

#[test]
fn an_async_connection_does_not_tie_blocking_calls_to_the_caller_runtime() {
    let server = RedisServer::start();
    let cache = server.cache("sync:");
    within_deadline(move || {
        let rt = current_thread();
        rt.block_on(async {
            // Connected from this runtime's task by an async call...
            cache.ping().await.unwrap();
            // ...then a blocking call blocks the runtime's only thread: the
            // connection must not need that thread to answer.
            cache.blocking().set("k", &1u32, None).unwrap();
            assert_eq!(cache.blocking().get::<u32>("k").unwrap(), Some(1));
        });
    });
}

#[test]
fn a_reconnection_made_by_an_async_call_does_not_tie_blocking_calls_to_the_caller_runtime() {
    let mut server = RedisServer::start();
    let cache = server.cache("sync:");
    let rt = current_thread();
    rt.block_on(cache.ping()).unwrap();
    server.restart();
    within_deadline(move || {
        rt.block_on(async {
            // This call finds the connection dead and reconnects, from a
            // task of this runtime...
            cache.set("k", &1u32, None).await.unwrap();
            // ...and the new connection must still not need this thread.
            assert_eq!(cache.blocking().get::<u32>("k").unwrap(), Some(1));
        });
    });
    drop(server);
}

#[test]
fn a_cache_outlives_the_runtime_that_first_used_it() {
    let server = RedisServer::start();
    let cache = server.cache("sync:");
    within_deadline(move || {
        let first = current_thread();
        first.block_on(cache.set("k", &1u32, None)).unwrap();
        drop(first);
        let second = current_thread();
        assert_eq!(second.block_on(cache.get::<u32>("k")).unwrap(), Some(1));
        drop(second);
        // And from no runtime at all, through the async door.
        assert_eq!(
            futures_lite_block_on(cache.get::<u32>("k")).unwrap(),
            Some(1)
        );
    });
}

/// A minimal executor that is not tokio: the backend must not need the
/// caller to be inside a tokio runtime.
fn futures_lite_block_on<F: std::future::Future>(fut: F) -> F::Output {
    use std::sync::Arc;
    use std::task::{Context, Poll, Wake, Waker};

    struct Unpark(std::thread::Thread);
    impl Wake for Unpark {
        fn wake(self: Arc<Self>) {
            self.0.unpark();
        }
    }
    let waker = Waker::from(Arc::new(Unpark(std::thread::current())));
    let mut cx = Context::from_waker(&waker);
    let mut fut = std::pin::pin!(fut);
    loop {
        match fut.as_mut().poll(&mut cx) {
            Poll::Ready(out) => return out,
            Poll::Pending => std::thread::park(),
        }
    }
}
