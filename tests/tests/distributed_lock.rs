//! `Lock::Distributed` across real processes: this test binary spawns
//! itself as children that share one Redis. Each round, four processes of
//! 50 tasks each miss one key at the same moment: exactly one computation.
//! A holder killed mid-computation is taken over when its lock expires.
//!
//! Rounds: 5 by default; `CACHE_SOAK_LOCK_ROUNDS=100` for the long run.

use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use cache_core::{Cache, Lock, Policy};
use cache_tests::redis_server::RedisServer;

/// Set in a child: the Redis URL, and what to do.
const CHILD_URL: &str = "CACHE_LOCK_CHILD_URL";
const CHILD_ROLE: &str = "CACHE_LOCK_CHILD_ROLE";
const PROCESSES: i64 = 4;
const TASKS: usize = 50;

fn rounds() -> usize {
    std::env::var("CACHE_SOAK_LOCK_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(5)
}

/// The rounds' policy: the default lock expiry (10 s), far longer than a
/// computation even on a loaded machine.
fn policy() -> Policy {
    Policy::new()
        .timeout(Duration::from_secs(60))
        .lock(Lock::Distributed)
}

/// The holder's: a lock that expires 1 s after its holder dies.
fn short_lock() -> Policy {
    policy().lock_expiry(Duration::from_secs(1))
}

fn cache(url: &str) -> Cache {
    Cache::builder().url(url).key_prefix("dl").build().unwrap()
}

/// Children kill on drop.
struct Children(Vec<Child>);

impl Drop for Children {
    fn drop(&mut self) {
        for child in &mut self.0 {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

fn spawn(url: &str, role: &str) -> Child {
    Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "child", "--nocapture", "--test-threads=1"])
        .env(CHILD_URL, url)
        .env(CHILD_ROLE, role)
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("the test binary spawns itself")
}

async fn counter(cache: &Cache, key: &str) -> i64 {
    cache.get::<i64>(key).await.unwrap().unwrap_or(0)
}

async fn wait_for(cache: &Cache, key: &str, at_least: i64, what: &str) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while counter(cache, key).await < at_least {
        assert!(Instant::now() < deadline, "{what}: not within 30 s");
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}

/// What a child process does (and nothing, in a normal test run).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn child() {
    let (Ok(url), Ok(role)) = (std::env::var(CHILD_URL), std::env::var(CHILD_ROLE)) else {
        return;
    };
    let cache = cache(&url);
    match role.as_str() {
        "rounds" => {
            for round in 0..rounds() {
                cache.incr(&format!("ready:{round}"), 1).await.unwrap();
                wait_for(&cache, &format!("go:{round}"), 1, "go").await;
                let tasks: Vec<_> = (0..TASKS)
                    .map(|_| {
                        let cache = cache.clone();
                        tokio::spawn(async move {
                            let c = cache.clone();
                            cache
                                .get_or_set_with_policy(
                                    &format!("value:{round}"),
                                    &policy(),
                                    move || async move {
                                        c.incr(&format!("computed:{round}"), 1).await.unwrap();
                                        tokio::time::sleep(Duration::from_millis(50)).await;
                                        round as u64
                                    },
                                )
                                .await
                        })
                    })
                    .collect();
                for task in tasks {
                    assert_eq!(task.await.unwrap(), round as u64);
                }
                let stats = cache.stats();
                let failures = stats.errors + stats.breaker_skipped;
                if failures > 0 {
                    eprintln!("round {round}: store failures {stats:?}");
                }
                cache.incr(&format!("done:{round}"), 1).await.unwrap();
            }
        }
        "holder" => {
            let c = cache.clone();
            cache
                .get_or_set_with_policy("held", &short_lock(), move || async move {
                    c.incr("holder-started", 1).await.unwrap();
                    tokio::time::sleep(Duration::from_secs(60)).await;
                    0u64
                })
                .await;
        }
        other => panic!("unknown child role {other}"),
    }
}

#[tokio::test]
async fn four_processes_missing_one_key_compute_it_once() {
    let server = RedisServer::start();
    let url = server.url();
    let cache = cache(&url);
    let _children = Children((0..PROCESSES).map(|_| spawn(&url, "rounds")).collect());
    let mut computations = Vec::new();
    for round in 0..rounds() {
        wait_for(
            &cache,
            &format!("ready:{round}"),
            PROCESSES,
            "children ready",
        )
        .await;
        cache.incr(&format!("go:{round}"), 1).await.unwrap();
        wait_for(&cache, &format!("done:{round}"), PROCESSES, "round done").await;
        computations.push(counter(&cache, &format!("computed:{round}")).await);
    }
    eprintln!(
        "{} rounds of {PROCESSES} processes x {TASKS} tasks: computations per round {computations:?}",
        computations.len()
    );
    assert!(
        computations.iter().all(|&n| n == 1),
        "one computation per round across processes: {computations:?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_killed_holder_is_taken_over_after_its_lock_expires() {
    let server = RedisServer::start();
    let url = server.url();
    let cache = cache(&url);
    let mut holder = Children(vec![spawn(&url, "holder")]);
    wait_for(&cache, "holder-started", 1, "the holder computes").await;
    assert_eq!(server.cli(&["EXISTS", &cache.lock_key("held")]), "1");
    // Killed mid-computation: its lock stays until it expires (1 s).
    holder.0[0].kill().unwrap();
    holder.0[0].wait().unwrap();
    let runs = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let r = Arc::clone(&runs);
    let v = cache
        .get_or_set_with_policy("held", &short_lock(), move || async move {
            r.fetch_add(1, Ordering::SeqCst);
            7u64
        })
        .await;
    assert_eq!(v, 7, "this process took over");
    assert_eq!(runs.load(Ordering::SeqCst), 1);
    let waited = started.elapsed();
    assert!(
        waited < Duration::from_secs(5),
        "took over at the lock's expiry, not after the wait bound: {waited:?}"
    );
    assert_eq!(cache.get::<u64>("held").await.unwrap(), Some(7));
}
