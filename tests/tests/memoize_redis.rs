//! `#[memoize]` and `#[cached]` against real `redis-server` processes: what
//! a user of the macros notices when the store is Redis. Every test starts
//! its own server (`cache_tests::redis_server`) and points its own
//! functions at it, under its own key prefix.
//!
//! A free function names its cache in the attribute (`cache = FLASK`),
//! but the server's URL is only known once the test has started it: the
//! cache is a [`LateCache`] static that the test connects first thing.

use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use cache_core::{memoize, Cache};
use cache_examples::late_cache::LateCache;
use cache_examples::shared_fns::{profile_name, profile_name_runs};
use cache_tests::keys::{memoized_key, stored_value};
use cache_tests::redis_server::RedisServer;
use serde::{Deserialize, Serialize};

fn redis_cache(url: &str, prefix: &str) -> Cache {
    Cache::builder()
        .url(url)
        .key_prefix(prefix)
        .build()
        .expect("a redis URL from the harness builds")
}

/// Connects a [`LateCache`] to a test's server.
trait Connect {
    fn connect(&self, server: &RedisServer, prefix: &str) -> &Cache;
    fn connect_url(&self, url: &str, prefix: &str) -> &Cache;
}

impl Connect for LateCache {
    fn connect(&self, server: &RedisServer, prefix: &str) -> &Cache {
        self.connect_url(&server.url(), prefix)
    }

    fn connect_url(&self, url: &str, prefix: &str) -> &Cache {
        self.set(redis_cache(url, prefix))
    }
}

fn runs(counter: &AtomicUsize) -> usize {
    counter.load(Ordering::SeqCst)
}

/// The full key under which `cache` stores a call of the memoized function
/// `name` of `owner` (its module, or its `Self` type for a method) with
/// `args`, at version 1.
fn function_key(cache: &Cache, owner: &str, name: &str, args: &impl Serialize) -> String {
    memoized_key(cache, &format!("{owner}::{name}"), 1, args)
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Profile {
    id: u64,
    name: String,
    /// Which run of the body produced it.
    load: usize,
}

// --- The Flask-Caching scenario (cache_examples::shared_fns::flask) --------------

#[tokio::test]
async fn invalidate_removes_only_that_users_entry_and_clear_spares_other_prefixes_in_redis() {
    use cache_examples::shared_fns::flask::{scenario, Step, FLASK};

    let server = RedisServer::start();
    FLASK.connect(&server, "flask:");
    server.cli(&["SET", "other-app:not-ours", "theirs"]);
    scenario(|step| match step {
        Step::Loaded => assert_eq!(server.cli(&["DBSIZE"]), "3", "one Redis key per user"),
        Step::Cleared => {
            assert_eq!(server.cli(&["DBSIZE"]), "1");
            assert_eq!(server.cli(&["GET", "other-app:not-ours"]), "theirs");
        }
    })
    .await;
}

// --- Expiry --------------------------------------------------------------------

static TTL: LateCache = LateCache::new();
static TTL_RUNS: AtomicUsize = AtomicUsize::new(0);

#[memoize(timeout = 1, cache = TTL)]
async fn short_lived(id: u64) -> u64 {
    tokio::task::yield_now().await;
    TTL_RUNS.fetch_add(1, Ordering::SeqCst);
    id
}

#[tokio::test]
async fn entries_expire_in_redis_after_the_timeout() {
    let server = RedisServer::start();
    let cache = TTL.connect(&server, "ttl:");
    let key = function_key(cache, module_path!(), "short_lived", &(1u64,));

    assert_eq!(short_lived(1).await, 1);
    assert_eq!(short_lived(1).await, 1);
    assert_eq!(runs(&TTL_RUNS), 1);
    let pttl: i64 = server.cli(&["PTTL", &key]).parse().unwrap();
    assert!(
        (1..=1000).contains(&pttl),
        "timeout = 1 gives the Redis key a 1 s expiry, PTTL {pttl}"
    );

    // Redis expires keys to the millisecond: wait out what is left.
    tokio::time::sleep(Duration::from_millis(pttl.unsigned_abs() + 50)).await;
    assert_eq!(
        server.cli(&["EXISTS", &key]),
        "0",
        "Redis expired the entry"
    );
    assert_eq!(short_lived(1).await, 1);
    assert_eq!(runs(&TTL_RUNS), 2, "the expired entry is computed again");
}

// --- invalidate_all ----------------------------------------------------------

#[test]
fn invalidate_all_removes_every_redis_entry_of_that_function_and_no_other() {
    use cache_examples::shared_fns::name_prefix::*;

    let server = RedisServer::start();
    CACHE.connect(&server, "invalidate-all:");
    for id in 0..3 {
        get_user(id);
        get_user_profile(id);
    }
    assert_eq!(server.cli(&["DBSIZE"]), "6");

    assert_eq!(get_user_invalidate_all().unwrap(), 3);
    assert_eq!(
        server.cli(&["DBSIZE"]),
        "3",
        "get_user_profile's keys are still in Redis"
    );
    for id in 0..3 {
        assert_eq!(get_user(id), id);
        assert_eq!(get_user_profile(id), format!("profile {id}"));
    }
    assert_eq!(runs(&USER_RUNS), 6, "every get_user entry was removed");
    assert_eq!(
        runs(&PROFILE_RUNS),
        3,
        "get_user_profile's entries survive get_user_invalidate_all"
    );
}

// --- Two processes ---------------------------------------------------------------

/// Runs the peer process; returns its `name: value` output lines.
fn peer(server: &RedisServer, prefix: &str, command: &[&str]) -> Vec<(String, String)> {
    let output = Command::new(cache_tests::examples::build_example("memoize_peer"))
        .arg(server.url())
        .arg(prefix)
        .args(command)
        .output()
        .expect("cannot run memoize_peer");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "memoize_peer {command:?} failed ({}): {stdout}{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    stdout
        .lines()
        .filter_map(|line| line.split_once(": "))
        .map(|(name, value)| (name.to_owned(), value.to_owned()))
        .collect()
}

fn field<'a>(lines: &'a [(String, String)], name: &str) -> &'a str {
    lines.iter().find(|(n, _)| n == name).map_or_else(
        || panic!("memoize_peer printed no `{name}`: {lines:?}"),
        |(_, value)| value.as_str(),
    )
}

#[test]
fn two_processes_share_memoized_entries_and_invalidations() {
    // Build the peer first: a build can outlast the entries' timeout.
    cache_tests::examples::build_example("memoize_peer");
    let server = RedisServer::start();
    let prefix = "peers:";
    // The shared function uses the global cache: what a real process does
    // at start-up. No other test in this binary uses the global cache.
    cache_core::init(redis_cache(&server.url(), prefix)).expect("nothing else set it");
    let this_process = format!("loaded by process {}", std::process::id());

    let ours = profile_name(7);
    assert!(ours.ends_with(&this_process), "{ours}");
    assert_eq!(profile_name_runs(), 1);

    let peer_reads_7 = peer(&server, prefix, &["get", "7"]);
    assert_eq!(
        field(&peer_reads_7, "value"),
        ours,
        "the peer reads this process's entry"
    );
    assert_eq!(field(&peer_reads_7, "body ran"), "no");

    let peer_computes_8 = peer(&server, prefix, &["get", "8"]);
    assert_eq!(field(&peer_computes_8, "body ran"), "yes");
    assert_eq!(profile_name(8), field(&peer_computes_8, "value"));
    assert_eq!(profile_name_runs(), 1, "this process read the peer's entry");

    assert_eq!(
        field(&peer(&server, prefix, &["invalidate", "7"]), "removed"),
        "yes"
    );
    assert_eq!(profile_name(7), ours);
    assert_eq!(
        profile_name_runs(),
        2,
        "the peer's invalidation reached this process"
    );
}

// --- A return type that changed between deployments ------------------------------

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Card {
    id: u64,
    name: String,
    tags: Vec<String>,
}

/// A service owning its cache: one function, tested on either store.
struct Cards {
    cache: Cache,
    loads: AtomicUsize,
}

impl Cards {
    /// This deployment returns a `Card`; the previous one returned the
    /// user's tags as a `Vec<String>`, under the same name and version.
    #[memoize(ignore(self), cache = self.cache)]
    async fn user_card(&self, id: u64) -> Card {
        tokio::task::yield_now().await;
        self.loads.fetch_add(1, Ordering::SeqCst);
        Card {
            id,
            name: format!("user {id}"),
            tags: vec!["admin".to_owned()],
        }
    }
}

/// What the previous deployment's `user_card` (the same method, returning
/// `tags`) stored for `id`. No `Cache` call can write under a memoized
/// function's key, so this does what that method's expansion did: it
/// calls the runtime of `#[memoize]`, which stores a typed value in
/// memory and its encoding in Redis.
async fn previous_deployment_stored(cache: &Cache, id: u64, tags: Vec<String>) {
    use cache_core::__private::{full_key, refresh_async, Hashed, Memo};

    let memo = Memo {
        owner: std::any::type_name::<Cards>(),
        name: "user_card",
        prefix: None,
        version: 1,
        timeout: None,
        policy: None,
    };
    let full = full_key(cache, &memo, &Hashed(&(&id,)));
    let stored = refresh_async(
        cache,
        &memo,
        full,
        |_| true,
        || async { Ok::<_, std::convert::Infallible>(tags) },
    )
    .await;
    assert!(stored.is_ok());
}

/// What the previous deployment left under `user_card(7)`'s key is read as
/// a miss: the body runs, its result is returned and replaces the entry.
async fn an_entry_of_the_old_return_type_is_a_miss_and_is_overwritten(cache: Cache) {
    let cards = Cards {
        cache,
        loads: AtomicUsize::new(0),
    };
    let key = function_key(
        &cards.cache,
        std::any::type_name::<Cards>(),
        "user_card",
        &(7u64,),
    );
    let old_value = vec!["ada".to_owned(), "admin".to_owned()];
    previous_deployment_stored(&cards.cache, 7, old_value.clone()).await;
    assert_eq!(
        stored_value::<Vec<String>>(&cards.cache, &key).await,
        Some(old_value),
        "the old entry is under the key that user_card(7) reads"
    );
    let errors = cards.cache.stats().errors;

    let expected = Card {
        id: 7,
        name: "user 7".to_owned(),
        tags: vec!["admin".to_owned()],
    };
    assert_eq!(cards.user_card(7).await, expected);
    assert_eq!(runs(&cards.loads), 1, "the old entry was not used");
    assert_eq!(
        cards.cache.stats().errors,
        errors + 1,
        "the undecodable entry is counted, once"
    );
    assert_eq!(
        stored_value::<Card>(&cards.cache, &key).await.as_ref(),
        Some(&expected),
        "the entry now holds the new type"
    );
    assert_eq!(cards.user_card(7).await, expected);
    assert_eq!(runs(&cards.loads), 1, "the rewritten entry is a hit");
}

#[tokio::test]
async fn an_old_return_type_in_redis_is_a_miss_and_is_overwritten() {
    let server = RedisServer::start();
    an_entry_of_the_old_return_type_is_a_miss_and_is_overwritten(redis_cache(
        &server.url(),
        "types:",
    ))
    .await;
}

/// The memory store keeps typed values: a value of another type takes
/// another path (a failed downcast, then a decode of its bytes), held to
/// the same behaviour here.
#[tokio::test]
async fn an_old_return_type_in_memory_is_a_miss_and_is_overwritten() {
    let cache = Cache::builder().key_prefix("types:").build().unwrap();
    an_entry_of_the_old_return_type_is_a_miss_and_is_overwritten(cache).await;
}

// --- Fail-open --------------------------------------------------------------------

static FLAKY: LateCache = LateCache::new();
static FLAKY_RUNS: AtomicUsize = AtomicUsize::new(0);

#[memoize(cache = FLAKY)]
async fn flaky_store_profile(id: u64) -> Profile {
    tokio::task::yield_now().await;
    let load = FLAKY_RUNS.fetch_add(1, Ordering::SeqCst) + 1;
    Profile {
        id,
        name: format!("user {id}"),
        load,
    }
}

/// Calls `flaky_store_profile(id)` and checks the value is right, whatever
/// the cache did; returns which run of the body produced it.
async fn checked_profile(id: u64) -> usize {
    let profile = flaky_store_profile(id).await;
    assert_eq!(profile.id, id);
    assert_eq!(profile.name, format!("user {id}"));
    profile.load
}

#[tokio::test]
async fn a_stopped_redis_never_breaks_the_function_and_caching_resumes_after_a_restart() {
    let mut server = RedisServer::start();
    let url = format!(
        "{}?connect_timeout=400ms&response_timeout=300ms",
        server.url()
    );
    let cache = FLAKY.connect_url(&url, "flaky:");
    assert_eq!(checked_profile(3).await, 1);
    assert_eq!(checked_profile(3).await, 1);

    server.stop();
    let failed = || {
        let stats = cache.stats();
        stats.errors + stats.breaker_skipped
    };
    let before = failed();
    assert_eq!(checked_profile(3).await, 2, "no store: the body runs");
    assert_eq!(checked_profile(3).await, 3);
    assert!(
        failed() >= before + 4,
        "each failed (or skipped: the breaker opens) read and write is counted: {:?}",
        cache.stats()
    );
    assert!(cache.circuit_open());

    server.restart();
    let deadline = Instant::now() + Duration::from_secs(10);
    while let Err(e) = cache.ping().await {
        assert!(Instant::now() < deadline, "no reconnection: {e}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(checked_profile(3).await, 4, "the restarted server is empty");
    assert_eq!(checked_profile(3).await, 4, "and caches again");
    assert_eq!(server.cli(&["DBSIZE"]), "1");
}

// --- Single-flight ------------------------------------------------------------------

static FLIGHT: LateCache = LateCache::new();
static FLIGHT_RUNS: AtomicUsize = AtomicUsize::new(0);

#[memoize(cache = FLIGHT)]
async fn slow_report(id: u64) -> String {
    FLIGHT_RUNS.fetch_add(1, Ordering::SeqCst);
    tokio::time::sleep(Duration::from_millis(100)).await;
    format!("report {id}")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_misses_of_one_redis_key_run_the_body_once() {
    let server = RedisServer::start();
    FLIGHT.connect(&server, "flight:");
    let tasks: Vec<_> = (0..100).map(|_| tokio::spawn(slow_report(7))).collect();
    for task in tasks {
        assert_eq!(task.await.unwrap(), "report 7");
    }
    assert_eq!(runs(&FLIGHT_RUNS), 1);
    assert_eq!(server.cli(&["DBSIZE"]), "1");
}
