//! What a writer sees during a forced Sentinel failover
//! (`SENTINEL FAILOVER`): how many acknowledged writes are lost, and in
//! which window, with the default settings and with
//! `min-replicas-to-write 1` on the servers. The figures are printed (run
//! with `--nocapture`); the test asserts only that no write acknowledged
//! well after the switch is lost. `CACHE_SOAK_FAILOVERS=N` repeats each
//! run N times.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use cache_core::Cache;
use cache_tests::redis_sentinel::RedisSentinel;

const RECOVERY_BOUND: Duration = Duration::from_secs(20);

/// Writes acknowledged after the sentinels all named the new master by
/// more than this must never be lost.
const SETTLED: Duration = Duration::from_secs(1);

struct Outcome {
    acknowledged: usize,
    failed: usize,
    lost: Vec<Duration>,
    switch: Duration,
    writes_per_s: f64,
}

async fn one_failover(min_replicas: bool) -> Outcome {
    let deployment = RedisSentinel::start();
    if min_replicas {
        for server in deployment.servers() {
            server.cli(&["CONFIG", "SET", "min-replicas-to-write", "1"]);
            server.cli(&["CONFIG", "SET", "min-replicas-max-lag", "1"]);
        }
    }
    let cache = Cache::builder()
        .url(format!(
            "{}?connect_timeout=500ms&response_timeout=500ms",
            deployment.url()
        ))
        .key_prefix("window")
        .build()
        .unwrap();
    let old_port = deployment.master_port();
    let stop = Arc::new(AtomicBool::new(false));
    let start = Instant::now();
    let writer = {
        let (cache, stop) = (cache.clone(), stop.clone());
        tokio::spawn(async move {
            let (mut acked, mut failed) = (Vec::new(), 0usize);
            let mut i = 0u64;
            while !stop.load(Ordering::Relaxed) {
                i += 1;
                match cache.set(&format!("w{i}"), &i, None).await {
                    Ok(()) => acked.push((i, start.elapsed())),
                    Err(_) => failed += 1,
                }
            }
            (acked, failed)
        })
    };
    tokio::time::sleep(Duration::from_millis(500)).await;
    let failover_at = start.elapsed();
    deployment.failover();
    let new_port =
        tokio::task::block_in_place(|| deployment.wait_for_new_master(old_port, RECOVERY_BOUND));
    let switch = start.elapsed();
    tokio::time::sleep(Duration::from_secs(2)).await;
    stop.store(true, Ordering::Relaxed);
    let (acked, failed) = writer.await.unwrap();
    let elapsed = start.elapsed();
    // Let the old master resynchronize from the new one, then look at what
    // the new master holds.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let held: std::collections::HashSet<String> = deployment
        .server(new_port)
        .cli(&["--scan", "--pattern", "window|w*"])
        .lines()
        .map(str::to_owned)
        .collect();
    let lost: Vec<Duration> = acked
        .iter()
        .filter(|(i, _)| !held.contains(&cache.full_key(&format!("w{i}"))))
        .map(|(_, at)| at.saturating_sub(failover_at))
        .collect();
    #[allow(clippy::cast_precision_loss)]
    let writes_per_s = acked.len() as f64 / elapsed.as_secs_f64();
    Outcome {
        acknowledged: acked.len(),
        failed,
        lost,
        switch: switch.saturating_sub(failover_at),
        writes_per_s,
    }
}

async fn report(min_replicas: bool) {
    let runs: usize = std::env::var("CACHE_SOAK_FAILOVERS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1);
    for _ in 0..runs {
        let o = one_failover(min_replicas).await;
        let first = o.lost.first().copied().unwrap_or_default();
        let last = o.lost.last().copied().unwrap_or_default();
        eprintln!(
            "failover (min-replicas-to-write {}): {} writes acknowledged ({:.0}/s), {} failed; \
             the sentinels named the new master {:?} after SENTINEL FAILOVER; {} acknowledged \
             writes lost, acknowledged between {first:?} and {last:?} after it",
            u8::from(min_replicas),
            o.acknowledged,
            o.writes_per_s,
            o.failed,
            o.switch,
            o.lost.len(),
        );
        assert!(
            o.lost.iter().all(|at| *at <= o.switch + SETTLED),
            "a write acknowledged more than {SETTLED:?} after the switch was lost: {:?} (switch at {:?})",
            o.lost,
            o.switch
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_writes_lost_in_a_failover_with_default_settings() {
    report(false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_writes_lost_in_a_failover_with_min_replicas_to_write() {
    report(true).await;
}
