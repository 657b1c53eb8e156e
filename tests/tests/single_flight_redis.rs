//! Single-flight on Redis at the end of a computation: callers that miss
//! while the leader computes, but get to the flight after the leader stored
//! its value and ended the flight, read that value instead of computing
//! again. As a web app sees it: one request starts a 300 ms computation and
//! 200 more arrive between 290 and 310 ms.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use cache_core::{memoize, Cache};
use cache_tests::redis_server::RedisServer;
use tokio::time::Instant;

const COMPUTATION: Duration = Duration::from_millis(300);
const LATE_CALLERS: u32 = 200;
const ROUNDS: u64 = 10;

/// When the `i`th late caller arrives: spread over 290..310 ms after `start`.
fn arrival(start: Instant, i: u32) -> Instant {
    start + Duration::from_millis(290) + Duration::from_micros(100) * i
}

/// Starts one call at `start`, then [`LATE_CALLERS`] calls around the end
/// of its computation, and returns what they all got.
async fn one_round<F, Fut>(call: F) -> Vec<u64>
where
    F: Fn() -> Fut + Clone + Send + 'static,
    Fut: std::future::Future<Output = u64> + Send + 'static,
{
    let start = Instant::now();
    let mut tasks = vec![tokio::spawn(call.clone()())];
    for i in 0..LATE_CALLERS {
        let call = call.clone();
        tasks.push(tokio::spawn(async move {
            tokio::time::sleep_until(arrival(start, i)).await;
            call().await
        }));
    }
    let mut values = Vec::with_capacity(tasks.len());
    for task in tasks {
        values.push(task.await.expect("a caller panicked"));
    }
    values
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn callers_arriving_as_the_computation_ends_share_it_on_redis() {
    let server = RedisServer::start();
    let cache = server.cache("late-joiners:");
    for round in 0..ROUNDS {
        let runs = Arc::new(AtomicUsize::new(0));
        let (cache, counted) = (cache.clone(), Arc::clone(&runs));
        let values = one_round(move || {
            let (cache, runs) = (cache.clone(), Arc::clone(&counted));
            async move {
                cache
                    .get_or_set_with(&format!("report:{round}"), None, || async {
                        runs.fetch_add(1, Ordering::SeqCst);
                        tokio::time::sleep(COMPUTATION).await;
                        round * 100
                    })
                    .await
            }
        })
        .await;
        assert!(values.iter().all(|&v| v == round * 100));
        assert_eq!(
            runs.load(Ordering::SeqCst),
            1,
            "round {round}: one computation for {} callers",
            values.len()
        );
    }
}

struct Reports {
    cache: Cache,
    runs: AtomicUsize,
}

impl Reports {
    #[memoize(ignore(self), cache = self.cache, timeout = 60)]
    async fn report(&self, id: u64) -> u64 {
        self.runs.fetch_add(1, Ordering::SeqCst);
        tokio::time::sleep(COMPUTATION).await;
        id * 100
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn memoized_calls_arriving_as_the_computation_ends_share_it_on_redis() {
    let server = RedisServer::start();
    let reports = Arc::new(Reports {
        cache: server.cache("late-memoized:"),
        runs: AtomicUsize::new(0),
    });
    for round in 0..ROUNDS {
        let before = reports.runs.load(Ordering::SeqCst);
        let shared = Arc::clone(&reports);
        let values = one_round(move || {
            let reports = Arc::clone(&shared);
            async move { reports.report(round).await }
        })
        .await;
        assert!(values.iter().all(|&v| v == round * 100));
        assert_eq!(
            reports.runs.load(Ordering::SeqCst) - before,
            1,
            "round {round}: one computation for {} callers",
            values.len()
        );
    }
}
