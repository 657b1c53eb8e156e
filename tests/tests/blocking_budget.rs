//! Many blocking calls from one task of a current-thread runtime, as a
//! `#[tokio::test]` or a `#[tokio::main(flavor = "current_thread")]` app
//! makes them: each call completes whatever cooperative budget the task has
//! left, since a task blocked in a call never yields to get a new one.
//! Every loop runs under a deadline, so a stall fails the test.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use cache_core::{memoize, Cache};
use cache_tests::blocking_harness::{current_thread_runtime, within_deadline};
use cache_tests::redis_server::RedisServer;

const CALLS: u64 = 10_000;

/// Far above what the loops take on a loaded machine (a few seconds), far
/// below "hangs forever".
const DEADLINE: Duration = Duration::from_secs(60);

struct Squares {
    cache: Cache,
    runs: AtomicUsize,
}

impl Squares {
    #[memoize(ignore(self), cache = self.cache, timeout = 60)]
    fn square(&self, x: u64) -> u64 {
        self.runs.fetch_add(1, Ordering::SeqCst);
        x * x
    }
}

#[test]
fn ten_thousand_blocking_calls_complete_in_one_current_thread_task() {
    let server = RedisServer::start();
    let cache = server.cache("budget-blocking:");
    within_deadline(DEADLINE, move || {
        current_thread_runtime().block_on(async {
            let sync = cache.blocking();
            sync.set("n", &7u64, None).unwrap();
            for i in 0..CALLS {
                assert_eq!(sync.get::<u64>("n").unwrap(), Some(7), "call {i}");
            }
        });
    });
}

#[test]
fn ten_thousand_sync_memoized_calls_complete_in_one_current_thread_task() {
    let server = RedisServer::start();
    let squares = Squares {
        cache: server.cache("budget-memoized:"),
        runs: AtomicUsize::new(0),
    };
    let runs = within_deadline(DEADLINE, move || {
        current_thread_runtime().block_on(async {
            for i in 0..CALLS {
                let x = i % 500;
                assert_eq!(squares.square(x), x * x, "call {i}");
            }
        });
        squares.runs.load(Ordering::SeqCst)
    });
    assert_eq!(runs, 500, "one run per distinct argument, then hits");
}

#[test]
fn bursts_of_blocking_calls_between_async_calls_complete_in_one_spawned_task() {
    let server = RedisServer::start();
    let cache = server.cache("budget-mixed:");
    within_deadline(DEADLINE, move || {
        let rt = current_thread_runtime();
        rt.block_on(async {
            tokio::spawn(async move {
                // An async call may yield and renew the task's budget; the
                // 200 blocking calls after it must not need that.
                for burst in 0..CALLS / 200 {
                    cache.set("n", &burst, None).await.unwrap();
                    for i in 0..200 {
                        let got = cache.blocking().get::<u64>("n").unwrap();
                        assert_eq!(got, Some(burst), "burst {burst}, call {i}");
                    }
                    assert_eq!(cache.get::<u64>("n").await.unwrap(), Some(burst));
                }
            })
            .await
            .unwrap();
        });
    });
}
