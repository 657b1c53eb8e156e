//! `RedisBackend` and `Cache` through Redis Sentinel: a real master, its
//! replica and three sentinels per test (`cache_tests::redis_sentinel`),
//! failed over while the same `Cache` keeps working.

use std::sync::Arc;
use std::time::{Duration, Instant};

use cache_core::backend::RedisBackend;
use cache_core::{Backend, Cache, ErrorKind};
use cache_tests::redis_sentinel::RedisSentinel;

/// The generous bound for a failover to be over, for the cache.
const RECOVERY_BOUND: Duration = Duration::from_secs(20);

fn cache(deployment: &RedisSentinel) -> Cache {
    Cache::builder()
        .url(format!(
            "{}?connect_timeout=500ms&response_timeout=500ms",
            deployment.url()
        ))
        .key_prefix("app:")
        .build()
        .expect("a sentinel URL from the harness builds")
}

fn exists(server: &cache_tests::redis_server::RedisServer, key: &str) -> bool {
    server.cli(&["EXISTS", key]) == "1"
}

/// Waits until `server` (a replica) holds `n` keys.
fn wait_for_keys(server: &cache_tests::redis_server::RedisServer, n: usize) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while server.cli(&["DBSIZE"]) != n.to_string() {
        assert!(Instant::now() < deadline, "the replica did not catch up");
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sentinel_backend_passes_the_conformance_suite() {
    let deployment = RedisSentinel::start();
    let master = deployment.server(deployment.master_port());
    master.cli(&["SET", "not-ours", "v"]);
    let backend = RedisBackend::from_url(&deployment.url()).unwrap();
    cache_core::testing::conformance(Arc::new(backend.clone())).await;
    assert_eq!(master.cli(&["DBSIZE"]), "1");
    let shown = format!("{backend:?}");
    assert!(
        shown.contains(&format!("127.0.0.1:{}/0", master.port())),
        "the backend found the master: {shown}"
    );

    // The database in the URL is the master's.
    let db2 = Cache::from_url(&deployment.url().replace("/mymaster/0", "/mymaster/2")).unwrap();
    db2.set("k", &1u8, None).await.unwrap();
    assert_eq!(master.cli(&["-n", "2", "DBSIZE"]), "1");

    // A name the sentinels do not monitor is a configuration error naming them.
    let wrong =
        RedisBackend::from_url(&deployment.url().replace("/mymaster/0", "/nope/0")).unwrap();
    let err = wrong.ping().await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Config, "{err}");
    assert!(err.to_string().contains("no master named `nope`"), "{err}");
    let first = deployment.sentinels()[0].port();
    assert!(
        err.to_string().contains(&format!("127.0.0.1:{first}")),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failover_is_followed_by_the_same_cache_and_loses_no_later_write() {
    let deployment = RedisSentinel::start();
    let cache = cache(&deployment);
    for i in 0..20u32 {
        cache.set(&format!("before-{i}"), &i, None).await.unwrap();
    }
    let old_port = deployment.master_port();
    let old = deployment.server(old_port);
    let [first, second] = deployment.servers();
    let new = if first.port() == old_port {
        second
    } else {
        first
    };
    wait_for_keys(new, 20);

    // Write through the cache until a write lands on the promoted replica
    // (and not on the old master, which keeps accepting writes until the
    // sentinels reconfigure it).
    let issued = Instant::now();
    deployment.failover();
    let (mut failed, mut to_old_master, mut attempt) = (0, 0, 0u32);
    let recovery = loop {
        attempt += 1;
        let key = format!("during-{attempt}");
        if cache.set(&key, &attempt, None).await.is_ok() {
            let full = cache.full_key(&key);
            let old_demoted = old.cli(&["ROLE"]).starts_with("slave");
            if exists(new, &full) && (old_demoted || !exists(old, &full)) {
                break issued.elapsed();
            }
            to_old_master += 1;
        } else {
            failed += 1;
        }
        assert!(
            issued.elapsed() < RECOVERY_BOUND,
            "no write reached the new master within {RECOVERY_BOUND:?} of SENTINEL FAILOVER"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    };
    eprintln!(
        "Sentinel failover recovery: the first write through the same Cache landed on the new \
         master {recovery:?} after SENTINEL FAILOVER ({attempt} writes: {failed} failed, \
         {to_old_master} were taken by the old master before the sentinels announced the switch)"
    );
    assert_eq!(
        deployment.wait_for_new_master(old_port, RECOVERY_BOUND),
        new.port()
    );

    // Everything written from then on is on the new master, and reads back.
    let last = attempt;
    for i in 0..50u32 {
        cache.set(&format!("after-{i}"), &i, None).await.unwrap();
    }
    for i in 0..50u32 {
        assert!(
            exists(new, &cache.full_key(&format!("after-{i}"))),
            "after-{i}"
        );
        assert_eq!(
            cache.get::<u32>(&format!("after-{i}")).await.unwrap(),
            Some(i)
        );
    }
    assert_eq!(
        cache.get::<u32>(&format!("during-{last}")).await.unwrap(),
        Some(last)
    );
    for i in 0..20u32 {
        assert_eq!(
            cache.get::<u32>(&format!("before-{i}")).await.unwrap(),
            Some(i),
            "written before the failover, replicated"
        );
    }
    assert_eq!(cache.incr("counter", 2).await.unwrap(), 2);
    assert!(cache.add("added", &1u8, None).await.unwrap());
    assert!(cache.clear().await.unwrap() >= 73);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn when_the_master_dies_the_cache_works_again_once_the_replica_is_promoted() {
    let mut deployment = RedisSentinel::start();
    let cache = cache(&deployment);
    cache.set("kept", &7u32, None).await.unwrap();
    let old_port = deployment.master_port();
    let replica = deployment
        .servers()
        .iter()
        .find(|server| server.port() != old_port)
        .unwrap()
        .port();
    wait_for_keys(deployment.server(replica), 1);

    deployment.stop(old_port);
    let killed = Instant::now();
    let mut errors = 0;
    let recovery = loop {
        let started = Instant::now();
        match cache.set("after", &1u32, None).await {
            Ok(()) => break killed.elapsed(),
            Err(err) => {
                errors += 1;
                assert!(
                    matches!(
                        err.kind(),
                        ErrorKind::Connection | ErrorKind::Timeout | ErrorKind::CircuitOpen
                    ),
                    "{err}"
                );
                assert!(err.to_string().contains("mymaster"), "{err}");
                assert!(
                    started.elapsed() < Duration::from_secs(5),
                    "a failed write took {:?}",
                    started.elapsed()
                );
            }
        }
        assert!(
            killed.elapsed() < RECOVERY_BOUND,
            "no write succeeded within {RECOVERY_BOUND:?} of the master's death"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    eprintln!(
        "Sentinel failover after the master was killed: writes work again {recovery:?} later \
         ({errors} failed meanwhile; down-after-milliseconds is 1000)"
    );
    assert_eq!(
        deployment.wait_for_new_master(old_port, RECOVERY_BOUND),
        replica
    );
    assert_eq!(cache.get::<u32>("kept").await.unwrap(), Some(7));
    assert_eq!(cache.get::<u32>("after").await.unwrap(), Some(1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sentinel_and_master_passwords_are_used_and_never_shown() {
    let deployment = RedisSentinel::start_with_passwords("master-pw", "sentinel-pw");
    let url = deployment
        .url()
        .replace("redis+sentinel://", "redis+sentinel://:master-pw@");
    let backend = |url: &str, sentinel_password: Option<&str>| {
        let builder = RedisBackend::builder().url(url);
        match sentinel_password {
            Some(password) => builder.sentinel_password(password),
            None => builder,
        }
        .build()
        .unwrap()
    };

    let good = Cache::builder()
        .backend(backend(&url, Some("sentinel-pw")))
        .key_prefix("app:")
        .build()
        .unwrap();
    good.set("k", &1u8, None).await.unwrap();
    assert_eq!(good.get::<u8>("k").await.unwrap(), Some(1));

    let no_sentinel_password = backend(&url, None).ping().await.unwrap_err();
    assert_eq!(no_sentinel_password.kind(), ErrorKind::Connection);
    assert!(
        no_sentinel_password
            .to_string()
            .contains("requires a password"),
        "{no_sentinel_password}"
    );
    let wrong_master_password = backend(&url.replace("master-pw", "wrong-pw"), Some("sentinel-pw"))
        .ping()
        .await
        .unwrap_err();
    assert_eq!(wrong_master_password.kind(), ErrorKind::Connection);
    assert!(
        wrong_master_password
            .to_string()
            .contains("refused the credentials"),
        "{wrong_master_password}"
    );
    for err in [no_sentinel_password, wrong_master_password] {
        let shown = format!("{err} {err:?}");
        assert!(
            !shown.contains("master-pw")
                && !shown.contains("sentinel-pw")
                && !shown.contains("wrong-pw"),
            "{shown}"
        );
    }
}
