//! Hardening tests against real `redis-server` processes (started by
//! `cache_tests::redis_server`, on loopback only):
//!
//! - `load_with_faults`: 50 tasks share one `Cache` for about 20 seconds
//!   of memoized reads, invalidations and typed reads and writes while the
//!   server is restarted twice and stalled once past the response timeout.
//!   No call returns a wrong value, hangs or panics, and caching recovers.
//! - `acl_user_limited_to_the_prefix_can_do_everything_the_cache_needs`:
//!   the smallest Redis ACL that lets an application use every operation
//!   of the cache under its own key prefix, and nothing else.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use cache_core::backend::RedisBackend;
use cache_core::{memoize, Cache, ErrorKind, Stats};
use cache_examples::late_cache::LateCache;
use cache_tests::redis_server::{redis_cli, RedisServer};
use serde::{Deserialize, Serialize};

/// A 64-bit mixer (splitmix64): values and the workers' random choices.
fn mix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

fn mix_str(s: &str) -> u64 {
    s.bytes().fold(0, |h, b| mix(h ^ u64::from(b)))
}

/// What every value in these tests looks like. Memoized results and
/// direct entries have the same shape on purpose: if a reply were ever
/// delivered to the wrong request, it would decode as the other kind of
/// value and be caught as a wrong value, not hidden as a decode error.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Value {
    id: u64,
    name: String,
    words: Vec<u64>,
}

fn derived(id: u64, name: String) -> Value {
    let seed = mix(id) ^ mix_str(&name);
    Value {
        id,
        words: (0..6).map(|i| mix(seed ^ i)).collect(),
        name,
    }
}

// --- load_with_faults ----------------------------------------------------------

const TASKS: usize = 50;
/// Memoized argument lists: `IDS` ids × `SALTS`.
const IDS: u64 = 200;
const SALTS: [&str; 2] = ["red", "green"];
/// Keys written and read directly with `set` / `get`.
const DIRECT_KEYS: u64 = 300;

const CONNECT_TIMEOUT: Duration = Duration::from_millis(400);
const RESPONSE_TIMEOUT: Duration = Duration::from_millis(300);
/// The hang bound for one call: a few times (connect + response timeout).
const CALL_BOUND: Duration = Duration::from_secs(5);
/// The whole scenario, hangs included, fails rather than blocks past this.
const GLOBAL_TIMEOUT: Duration = Duration::from_secs(50);

/// When the faults happen, from the start of the load.
const RESTART_1_AT: Duration = Duration::from_secs(4);
const DEBUG_SLEEP_AT: Duration = Duration::from_secs(8);
const RESTART_2_AT: Duration = Duration::from_secs(12);
/// How long the server sleeps: well past the response timeout.
const DEBUG_SLEEP_SECS: &str = "1";
/// After the last fault, time for the cache to reconnect before the final
/// window is measured.
const SETTLE: Duration = Duration::from_secs(1);
/// The load ends then (or later, to give the final window this long).
const LOAD_END: Duration = Duration::from_secs(20);
const MIN_FINAL_WINDOW: Duration = Duration::from_secs(4);

static LOAD: LateCache = LateCache::new();
static SCORE_RUNS: AtomicU64 = AtomicU64::new(0);

/// A pure function of its arguments, memoized in Redis.
#[memoize(cache = LOAD, timeout = 120)]
async fn score(id: u64, salt: String) -> Value {
    SCORE_RUNS.fetch_add(1, Ordering::SeqCst);
    tokio::task::yield_now().await; // a database call, say
    derived(id, salt)
}

fn direct_key(n: u64) -> String {
    format!("direct:{n}")
}

fn direct_value(n: u64) -> Value {
    derived(n, direct_key(n))
}

/// What the workers did, shared with the controller (which snapshots it
/// at phase boundaries).
#[derive(Default)]
struct Counters {
    memo_calls: AtomicU64,
    gets: AtomicU64,
    get_hits: AtomicU64,
    sets: AtomicU64,
    invalidations: AtomicU64,
    /// `<fn>_invalidate` returns store errors (a lost invalidation must be
    /// noticed): expected while the server is down or asleep.
    invalidation_errors: AtomicU64,
    wrong_values: AtomicU64,
    /// Errors that should not happen: from `get`/`set` with
    /// `ignore_errors`, or an invalidation error other than
    /// `Connection`/`Timeout`/`CircuitOpen`.
    unexpected_errors: AtomicU64,
    max_latency_us: AtomicU64,
    /// The first few problems, for the failure message.
    problems: Mutex<Vec<String>>,
}

impl Counters {
    fn problem(&self, counter: &AtomicU64, what: String) {
        counter.fetch_add(1, Ordering::SeqCst);
        let mut problems = self
            .problems
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if problems.len() < 10 {
            problems.push(what);
        }
    }

    fn latency(&self, op: &str, elapsed: Duration) {
        let us = u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX);
        self.max_latency_us.fetch_max(us, Ordering::SeqCst);
        if elapsed >= CALL_BOUND {
            let mut problems = self
                .problems
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            if problems.len() < 10 {
                problems.push(format!("{op} took {elapsed:?}"));
            }
        }
    }

    fn ops(&self) -> u64 {
        self.memo_calls.load(Ordering::SeqCst)
            + self.gets.load(Ordering::SeqCst)
            + self.sets.load(Ordering::SeqCst)
            + self.invalidations.load(Ordering::SeqCst)
    }
}

/// The cache's counters, calls and body runs at one moment.
#[derive(Clone, Copy)]
struct Snapshot {
    stats: Stats,
    memo_calls: u64,
    body_runs: u64,
}

impl Snapshot {
    fn take(cache: &Cache, counters: &Counters) -> Self {
        Self {
            stats: cache.stats(),
            memo_calls: counters.memo_calls.load(Ordering::SeqCst),
            body_runs: SCORE_RUNS.load(Ordering::SeqCst),
        }
    }
}

/// Hit ratios over the window from `from` to `to`.
#[derive(Debug, Clone, Copy)]
struct Window {
    /// Hits / lookups from `cache.stats()`: memoized reads and `get`s.
    stats_hit_ratio: f64,
    /// 1 − body runs / memoized calls.
    memo_hit_ratio: f64,
    lookups: u64,
    memo_calls: u64,
}

#[allow(clippy::cast_precision_loss)]
fn window(from: Snapshot, to: Snapshot) -> Window {
    let hits = to.stats.hits - from.stats.hits;
    let lookups = hits + to.stats.misses - from.stats.misses;
    let memo_calls = to.memo_calls - from.memo_calls;
    let body_runs = to.body_runs - from.body_runs;
    Window {
        stats_hit_ratio: if lookups == 0 {
            0.0
        } else {
            hits as f64 / lookups as f64
        },
        memo_hit_ratio: if memo_calls == 0 {
            0.0
        } else {
            1.0 - body_runs as f64 / memo_calls as f64
        },
        lookups,
        memo_calls,
    }
}

/// What the controller saw.
struct Timeline {
    before: Window,
    after: Window,
    restart_durations: Vec<Duration>,
    /// `stats().errors` gained while the server slept.
    errors_during_sleep: u64,
    /// `stats().errors` gained during each restart and until the cache
    /// answered again.
    errors_during_restarts: Vec<u64>,
}

/// One worker: a random mix of memoized reads (55 %), invalidations
/// (5 %), `set`s (15 %) and `get`s (25 %) until `stop`, each call timed
/// and its result checked.
async fn worker(seed: u64, cache: Cache, counters: Arc<Counters>, stop: Arc<AtomicBool>) {
    let mut state = mix(seed);
    let mut next = move || {
        state = mix(state);
        state
    };
    while !stop.load(Ordering::SeqCst) {
        let r = next();
        let choice = r % 100;
        let id = (r >> 8) % IDS;
        let salt = SALTS[usize::from((r >> 20) & 1 == 1)];
        let n = (r >> 24) % DIRECT_KEYS;
        let started = Instant::now();
        match choice {
            0..55 => {
                let got = score(id, salt.to_owned()).await;
                counters.latency("memoized call", started.elapsed());
                counters.memo_calls.fetch_add(1, Ordering::SeqCst);
                let expected = derived(id, salt.to_owned());
                if got != expected {
                    counters.problem(
                        &counters.wrong_values,
                        format!("score({id}, {salt:?}) returned {got:?}"),
                    );
                }
            }
            55..60 => {
                let result = score_invalidate(id, salt.to_owned()).await;
                counters.latency("invalidation", started.elapsed());
                counters.invalidations.fetch_add(1, Ordering::SeqCst);
                if let Err(e) = result {
                    counters.invalidation_errors.fetch_add(1, Ordering::SeqCst);
                    if !matches!(
                        e.kind(),
                        ErrorKind::Connection | ErrorKind::Timeout | ErrorKind::CircuitOpen
                    ) {
                        counters.problem(
                            &counters.unexpected_errors,
                            format!("score_invalidate({id}, {salt:?}): {e}"),
                        );
                    }
                }
            }
            60..75 => {
                let result = cache
                    .set(&direct_key(n), &direct_value(n), Duration::from_secs(120))
                    .await;
                counters.latency("set", started.elapsed());
                counters.sets.fetch_add(1, Ordering::SeqCst);
                if let Err(e) = result {
                    counters.problem(
                        &counters.unexpected_errors,
                        format!("set with ignore_errors failed: {e}"),
                    );
                }
            }
            _ => {
                let result = cache.get::<Value>(&direct_key(n)).await;
                counters.latency("get", started.elapsed());
                counters.gets.fetch_add(1, Ordering::SeqCst);
                match result {
                    Ok(None) => {}
                    Ok(Some(v)) if v == direct_value(n) => {
                        counters.get_hits.fetch_add(1, Ordering::SeqCst);
                    }
                    Ok(Some(v)) => counters.problem(
                        &counters.wrong_values,
                        format!("get({:?}) returned {v:?}", direct_key(n)),
                    ),
                    Err(e) => counters.problem(
                        &counters.unexpected_errors,
                        format!("get with ignore_errors failed: {e}"),
                    ),
                }
            }
        }
        // A little think time: 50 busy tasks, not 50 spinning ones.
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
}

async fn sleep_until(start: Instant, at: Duration) {
    tokio::time::sleep_until((start + at).into()).await;
}

/// Restarts the server off the async threads; returns how long it took.
async fn restart(server: RedisServer) -> (RedisServer, Duration) {
    tokio::task::spawn_blocking(move || {
        let mut server = server;
        let started = Instant::now();
        server.restart();
        let took = started.elapsed();
        (server, took)
    })
    .await
    .expect("restarting redis-server panicked")
}

/// Waits until the cache reaches the server again (bounded).
async fn until_answering(cache: &Cache) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while let Err(e) = cache.ping().await {
        assert!(
            Instant::now() < deadline,
            "the cache did not reconnect: {e}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The controller: measures the fault-free start, restarts the server,
/// makes it sleep past the response timeout, restarts it again, then
/// measures the final window and stops the workers.
async fn inject_faults(
    server: RedisServer,
    cache: &Cache,
    counters: &Counters,
    stop: &AtomicBool,
    start: Instant,
) -> (RedisServer, Timeline) {
    let first = Snapshot::take(cache, counters);
    sleep_until(start, RESTART_1_AT).await;
    let before = window(first, Snapshot::take(cache, counters));

    let mut restart_durations = Vec::new();
    let mut errors_during_restarts = Vec::new();
    let errors = cache.stats().errors;
    let (server, took) = restart(server).await;
    restart_durations.push(took);
    until_answering(cache).await;
    errors_during_restarts.push(cache.stats().errors - errors);

    sleep_until(start, DEBUG_SLEEP_AT).await;
    let errors = cache.stats().errors;
    let port = server.port();
    // Its own connection (redis-cli): the server stops answering everyone.
    let slept =
        tokio::task::spawn_blocking(move || redis_cli(port, &["DEBUG", "SLEEP", DEBUG_SLEEP_SECS]))
            .await
            .expect("redis-cli DEBUG SLEEP panicked");
    assert_eq!(slept, "OK");
    let errors_during_sleep = cache.stats().errors - errors;

    sleep_until(start, RESTART_2_AT).await;
    let errors = cache.stats().errors;
    let (server, took) = restart(server).await;
    restart_durations.push(took);
    until_answering(cache).await;
    errors_during_restarts.push(cache.stats().errors - errors);

    // The faults are over: let the cache settle, then measure.
    tokio::time::sleep(SETTLE).await;
    let settled = Snapshot::take(cache, counters);
    let end = LOAD_END.max(start.elapsed() + MIN_FINAL_WINDOW);
    sleep_until(start, end).await;
    let after = window(settled, Snapshot::take(cache, counters));
    stop.store(true, Ordering::SeqCst);
    (
        server,
        Timeline {
            before,
            after,
            restart_durations,
            errors_during_sleep,
            errors_during_restarts,
        },
    )
}

/// After the load: every direct key holds nothing or exactly its value.
async fn check_direct_keys(cache: &Cache) -> u64 {
    let keys: Vec<String> = (0..DIRECT_KEYS).map(direct_key).collect();
    let refs: Vec<&str> = keys.iter().map(String::as_str).collect();
    let values = cache.get_many::<Value>(&refs).await.unwrap();
    let mut present = 0;
    for (n, value) in (0..DIRECT_KEYS).zip(values) {
        if let Some(value) = value {
            assert_eq!(value, direct_value(n), "{} after the load", direct_key(n));
            present += 1;
        }
    }
    present
}

async fn run_load_with_faults() {
    let server = RedisServer::start();
    let backend = RedisBackend::builder()
        .url(server.url())
        .connect_timeout(CONNECT_TIMEOUT)
        .response_timeout(RESPONSE_TIMEOUT)
        .build()
        .unwrap();
    let cache = LOAD
        .set(
            Cache::builder()
                .backend(backend)
                .key_prefix("load:")
                .ignore_errors(true)
                .build()
                .unwrap(),
        )
        .clone();
    cache.ping().await.unwrap();

    let counters = Arc::new(Counters::default());
    let stop = Arc::new(AtomicBool::new(false));
    let start = Instant::now();
    let workers: Vec<_> = (0..TASKS)
        .map(|i| {
            tokio::spawn(worker(
                i as u64,
                cache.clone(),
                Arc::clone(&counters),
                Arc::clone(&stop),
            ))
        })
        .collect();
    let (server, timeline) = inject_faults(server, &cache, &counters, &stop, start).await;
    let mut panics = Vec::new();
    for worker in workers {
        if let Err(e) = worker.await {
            panics.push(e.to_string());
        }
    }
    let load_time = start.elapsed();
    let direct_present = check_direct_keys(&cache).await;
    drop(server);

    let outcome = Outcome {
        load_time,
        panics,
        direct_present,
        stats: cache.stats(),
        timeline,
    };
    eprintln!("{}", outcome.summary(&counters));
    outcome.check(&counters);
}

/// What `load_with_faults` measured.
struct Outcome {
    load_time: Duration,
    panics: Vec<String>,
    /// Direct keys holding their value at the end.
    direct_present: u64,
    stats: Stats,
    timeline: Timeline,
}

fn load(counter: &AtomicU64) -> u64 {
    counter.load(Ordering::SeqCst)
}

impl Outcome {
    /// The numbers, on one line.
    fn summary(&self, c: &Counters) -> String {
        let Self {
            load_time,
            panics,
            direct_present,
            stats,
            timeline,
        } = self;
        let max_latency = Duration::from_micros(load(&c.max_latency_us));
        let mut summary = String::new();
        let _ = write!(
            summary,
            "load_with_faults summary: {TASKS} tasks for {load_time:.1?}; \
             ops total={}; memoized calls={}; body executions={}; gets={} (hits {}); sets={}; \
             invalidations={} (returned errors {}); errors absorbed (stats().errors)={}; \
             wrong values={}; unexpected errors={}; task panics={}; max call latency={max_latency:.1?}; \
             hit ratio before faults={:.3} (memoized {:.3}, {} lookups); \
             hit ratio after faults={:.3} (memoized {:.3}, {} lookups); \
             restarts took {:.0?}; errors during restarts {:?}; errors during DEBUG SLEEP {}s={}; \
             direct keys present at the end={direct_present}/{DIRECT_KEYS}",
            c.ops(),
            load(&c.memo_calls),
            SCORE_RUNS.load(Ordering::SeqCst),
            load(&c.gets),
            load(&c.get_hits),
            load(&c.sets),
            load(&c.invalidations),
            load(&c.invalidation_errors),
            stats.errors,
            load(&c.wrong_values),
            load(&c.unexpected_errors),
            panics.len(),
            timeline.before.stats_hit_ratio,
            timeline.before.memo_hit_ratio,
            timeline.before.lookups,
            timeline.after.stats_hit_ratio,
            timeline.after.memo_hit_ratio,
            timeline.after.lookups,
            timeline.restart_durations,
            timeline.errors_during_restarts,
            DEBUG_SLEEP_SECS,
            timeline.errors_during_sleep,
        );
        summary
    }

    fn check(&self, c: &Counters) {
        let timeline = &self.timeline;
        let max_latency = Duration::from_micros(load(&c.max_latency_us));
        let problems = c
            .problems
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone();
        assert!(
            self.panics.is_empty(),
            "worker tasks panicked: {:?}",
            self.panics
        );
        assert_eq!(
            load(&c.wrong_values),
            0,
            "wrong values were returned: {problems:#?}"
        );
        assert_eq!(
            load(&c.unexpected_errors),
            0,
            "unexpected errors: {problems:#?}"
        );
        assert!(
            max_latency < CALL_BOUND,
            "a call took {max_latency:?} (bound {CALL_BOUND:?}): {problems:#?}"
        );
        assert!(
            timeline.errors_during_sleep > 0,
            "DEBUG SLEEP {DEBUG_SLEEP_SECS} delayed no reply past the {RESPONSE_TIMEOUT:?} response timeout"
        );
        assert!(
            timeline.before.memo_calls > 0 && timeline.after.memo_calls > 0,
            "the workers ran in both windows"
        );
        assert!(
            timeline.after.stats_hit_ratio > 0.5,
            "caching did not recover after the faults: {:?}",
            timeline.after
        );
        assert!(
            timeline.after.memo_hit_ratio > 0.5,
            "memoized calls ran their body again and again after the faults: {:?}",
            timeline.after
        );
    }
}

/// 50 tasks, two restarts and one stall past the response timeout: every
/// value returned is right, no call hangs, no task panics, and caching
/// recovers once the faults are over.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn load_with_faults() {
    tokio::time::timeout(GLOBAL_TIMEOUT, run_load_with_faults())
        .await
        .unwrap_or_else(|_| panic!("load_with_faults did not finish within {GLOBAL_TIMEOUT:?}"));
}

// --- ACL ------------------------------------------------------------------------

/// The Redis ACL rules (for `ACL SETUSER <user> on ><password> …`) that
/// are enough for everything `Cache` does on a standalone Redis server,
/// for a cache with the prefix `app` (a Sentinel master also needs
/// `+role`: the store asks the master it was given for its `ROLE`):
///
/// - `~app|*` and `~app#*`: the cache's namespace only, that is the keys
///   given to it (`app|<key>`) and its memoized functions' keys
///   (`app#<fn path>:…`), not those of a cache with the prefix `app:` or
///   `apple`; add `~app!*` for tags (their indexes, `app!<tag>`);
///   `resetchannels`: no pub/sub. (A prefix holding `%`, `|`, `#` or `!`
///   is escaped in keys, as `%25`, `%7C`, `%23` and `%21`, and one holding
///   `*`, `?`, `[` or `\` needs those escaped with `\` in the pattern.)
/// - `-@all`, then each command the Redis store sends: `GET` (`get`,
///   memoized reads), `MGET` (`get_many`), `SET` (`set`, `add` as
///   `SET NX`, `set_many` as a pipeline of `SET`s, memoized writes),
///   `UNLINK` (`delete`, `delete_many`, `<fn>_invalidate`, `clear`),
///   `EXISTS` (`has`), `EVAL` of a script that runs `SET NX PX` and
///   `INCRBY` (`incr` and `decr` on a cache with a default timeout; the
///   script's commands need their own rules; a plain `INCRBY` without a
///   timeout), `SCAN` (`clear`, `<fn>_invalidate_all`; `SCAN`
///   lists key names whatever the key pattern, but only those under the
///   prefix are matched and removed) and `PING` (`ping`). Tags need
///   `EVAL` too, and the commands of their scripts: `TIME`,
///   `ZREMRANGEBYSCORE`, `ZADD`, `ZRANGE`, `PEXPIREAT`, `PERSIST`,
///   `ZRANGEBYSCORE` and `UNLINK`.
///
/// Connecting needs nothing more: `AUTH` and `HELLO` are always allowed
/// (whatever the default user may do); `SELECT` is
/// only sent for a database other than 0 (add `+select` then); with
/// `?protocol=resp3`, `HELLO` is sent instead of `AUTH`. redis-rs also
/// sends `CLIENT SETINFO` on each connection and ignores its failure: on
/// Redis 7.2 and later add `+client|setinfo` to keep it out of `ACL LOG`
/// (older servers do not know the subcommand and reject the rule).
/// `DEL`, `EXPIRE`, `TTL`, `KEYS`, `FLUSHDB` and `FLUSHALL` are not needed.
const ACL_RULES: &[&str] = &[
    "~app|*",
    "~app#*",
    "~app!*",
    "resetchannels",
    "-@all",
    "+get",
    "+mget",
    "+set",
    "+unlink",
    "+exists",
    "+eval",
    "+incrby",
    "+scan",
    "+ping",
    // The tag scripts' commands.
    "+time",
    "+zremrangebyscore",
    "+zadd",
    "+zrange",
    "+pexpireat",
    "+persist",
    "+zrangebyscore",
];

/// The password of the `default` user (the administrator).
const ADMIN_PASSWORD: &str = "adminpw";

/// `redis-cli` as the administrator.
fn admin(server: &RedisServer, args: &[&str]) -> String {
    let mut all = vec!["-a", ADMIN_PASSWORD, "--no-auth-warning"];
    all.extend_from_slice(args);
    server.cli(&all)
}

static ACL_APP: LateCache = LateCache::new();
static PRICE_RUNS: AtomicU64 = AtomicU64::new(0);

#[memoize(cache = ACL_APP)]
async fn price(item: u64) -> u64 {
    PRICE_RUNS.fetch_add(1, Ordering::SeqCst);
    tokio::task::yield_now().await; // a price service, say
    item * 100
}

/// `ACL LOG` as `(reason, object)` pairs: what the server refused, and
/// why (`command`, `key`, `auth`, …).
fn acl_log(server: &RedisServer) -> Vec<(String, String)> {
    let raw = admin(server, &["ACL", "LOG"]);
    let lines: Vec<&str> = raw.lines().collect();
    let field = |entry: &[&str], name: &str| {
        entry
            .iter()
            .position(|line| *line == name)
            .and_then(|i| entry.get(i + 1))
            .map_or_else(String::new, |v| (*v).to_owned())
    };
    // Each entry starts with its `count` field.
    let starts: Vec<usize> = lines
        .iter()
        .enumerate()
        .filter(|(_, line)| **line == "count")
        .map(|(i, _)| i)
        .collect();
    starts
        .iter()
        .enumerate()
        .map(|(k, &from)| {
            let to = starts.get(k + 1).copied().unwrap_or(lines.len());
            let entry = &lines[from..to];
            (field(entry, "reason"), field(entry, "object"))
        })
        .collect()
}

/// What the server refused, except `CLIENT SETINFO` (sent by redis-rs on
/// connect, failure ignored; only Redis 7.2+ knows it).
fn refused(server: &RedisServer) -> Vec<(String, String)> {
    acl_log(server)
        .into_iter()
        .filter(|(_, object)| object != "client|setinfo")
        .collect()
}

/// Whether `err` reports the server's ACL refusal (`NOPERM`).
/// Whether the server's reply, the error's cause, is an ACL refusal.
fn refused_by_acl(err: &cache_core::Error) -> bool {
    cause(err).to_ascii_lowercase().contains("noperm")
}

/// The error's cause (the server's reply, the I/O error), as text.
fn cause(err: &cache_core::Error) -> String {
    std::error::Error::source(err).map_or_else(String::new, ToString::to_string)
}

fn acl_cache(url: &str, prefix: &str) -> Cache {
    Cache::builder()
        .url(url)
        .key_prefix(prefix)
        .build()
        .unwrap()
}

/// Every operation of the cache, as the ACL user.
async fn every_operation(cache: &Cache) {
    cache.ping().await.unwrap();
    cache.set("user:1", &"ada".to_owned(), None).await.unwrap();
    assert_eq!(
        cache.get::<String>("user:1").await.unwrap().as_deref(),
        Some("ada")
    );
    assert!(cache.has("user:1").await.unwrap());
    assert!(!cache.has("user:2").await.unwrap());
    assert!(cache.add("lock", &1u8, None).await.unwrap());
    assert!(!cache.add("lock", &2u8, None).await.unwrap());
    cache
        .set_many(&[("a", 1u32), ("b", 2), ("c", 3)], Duration::ZERO)
        .await
        .unwrap();
    assert_eq!(
        cache.get_many::<u32>(&["a", "b", "zz"]).await.unwrap(),
        vec![Some(1), Some(2), None]
    );
    assert!(cache.delete("a").await.unwrap());
    assert_eq!(cache.delete_many(&["b", "c", "zz"]).await.unwrap(), 2);
    // With the default timeout: MULTI, SET NX PX, INCRBY, EXEC.
    assert_eq!(cache.incr("visits", 5).await.unwrap(), 5);
    assert_eq!(cache.decr("visits", 2).await.unwrap(), 3);
    assert_eq!(
        cache
            .get_or_set_with("computed", None, || async { 7u64 })
            .await,
        7
    );
    cache.blocking().set("sync", &1u8, None).unwrap();

    assert_eq!(price(3).await, 300);
    assert_eq!(price(3).await, 300);
    assert_eq!(price(4).await, 400);
    assert_eq!(PRICE_RUNS.load(Ordering::SeqCst), 2, "the second call hit");
    assert!(price_invalidate(3).await.unwrap());
    assert_eq!(price(3).await, 300);
    assert_eq!(PRICE_RUNS.load(Ordering::SeqCst), 3);
    assert_eq!(price_invalidate_all().await.unwrap(), 2);
    assert_eq!(price(4).await, 400);
    assert_eq!(PRICE_RUNS.load(Ordering::SeqCst), 4);
}

/// A user whose ACL allows only the commands in [`ACL_RULES`] on the keys
/// of the namespace `app` can use every operation of a cache with the
/// prefix `app`; a cache with another prefix (`app:` included) gets clear
/// errors (the ACL is enforced), and `clear()` never touches the keys of
/// others.
#[tokio::test]
async fn acl_user_limited_to_the_prefix_can_do_everything_the_cache_needs() {
    // The default user needs a password too: a client that does not
    // authenticate as `app` can do nothing.
    let server = RedisServer::start_with_args(&["--requirepass", ADMIN_PASSWORD]);
    let port = server.port();
    let mut setuser = vec!["ACL", "SETUSER", "app", "on", ">secretpw"];
    setuser.extend_from_slice(ACL_RULES);
    assert_eq!(admin(&server, &setuser), "OK");
    // Another application's key (written by the admin, the default user):
    // the key `1` of its cache, whose prefix is `other:`.
    assert_eq!(admin(&server, &["SET", "other:|1", "theirs"]), "OK");

    let url = format!("redis://app:secretpw@127.0.0.1:{port}/");
    let app = ACL_APP.set(acl_cache(&url, "app"));
    every_operation(app).await;
    app.set_with_tags("tagged", &1u32, None, ["t"])
        .await
        .unwrap();
    assert_eq!(app.invalidate_tag("t").await.unwrap(), 1);
    app.set_with_tags("tagged", &1u32, Duration::ZERO, ["t"])
        .await
        .unwrap();
    assert_eq!(
        refused(&server),
        vec![],
        "the server refused commands the cache sent: the ACL rules miss one"
    );

    // The keys are there, and clear() removes exactly those.
    let namespace = |server: &RedisServer| {
        let plain = admin(server, &["--scan", "--pattern", "app|*"]);
        let memoized = admin(server, &["--scan", "--pattern", "app#*"]);
        let tags = admin(server, &["--scan", "--pattern", "app!*"]);
        let count = |keys: String| keys.lines().count();
        (count(plain), count(memoized), count(tags))
    };
    let (plain, memoized, tags) = namespace(&server);
    assert!(plain >= 5, "app| keys before clear: {plain}");
    assert!(memoized >= 1, "app# keys before clear: {memoized}");
    assert_eq!(tags, 1, "the index of the tag `t`");
    assert_eq!(app.clear().await.unwrap(), (plain + memoized + tags) as u64);
    assert_eq!(namespace(&server), (0, 0, 0));
    assert_eq!(admin(&server, &["GET", "other:|1"]), "theirs");
    assert_eq!(admin(&server, &["DBSIZE"]), "1");
    assert_eq!(refused(&server), vec![], "clear() needs nothing more");

    // RESP3 (`HELLO 3 AUTH …` on connect) works with the same rules.
    let resp3 = acl_cache(&format!("{url}?protocol=resp3"), "app");
    resp3.set("k", &1u32, None).await.unwrap();
    assert_eq!(resp3.get::<u32>("k").await.unwrap(), Some(1));
    assert_eq!(resp3.clear().await.unwrap(), 1);
    assert_eq!(refused(&server), vec![], "RESP3 needs nothing more");

    // The same user, another prefix: refused by the server, reported as
    // errors (not panics, not silent misses), with nothing written.
    let other = acl_cache(&url, "other:");
    let err = other.set("1", &"mine".to_owned(), None).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Backend, "{err}");
    let message = err.to_string();
    assert!(refused_by_acl(&err), "{err:?}");
    assert!(message.contains(&other.full_key("1")), "{message}");
    assert!(!message.contains("secretpw"), "{message}");
    assert!(!cause(&err).contains("secretpw"), "{err:?}");
    let err = other.get::<String>("1").await.unwrap_err();
    assert!(refused_by_acl(&err), "{err:?}");
    let err = other
        .set_many(&[("1", 1u32), ("2", 2)], None)
        .await
        .unwrap_err();
    assert!(refused_by_acl(&err), "{err:?}");
    let err = other.clear().await.unwrap_err();
    assert!(refused_by_acl(&err), "{err:?}");
    assert_eq!(admin(&server, &["GET", "other:|1"]), "theirs");
    assert_eq!(admin(&server, &["EXISTS", &other.full_key("2")]), "0");
    // Nor a prefix that starts with this one's text: `app:` is another
    // namespace (its keys are `app:|<key>` and `app:#…`).
    let lookalike = acl_cache(&url, "app:");
    let err = lookalike.set("k", &1u32, None).await.unwrap_err();
    assert!(refused_by_acl(&err), "{err:?}");
    assert!(err.to_string().contains("app:|k"), "{err}");
    let refusals = refused(&server);
    assert!(
        refusals
            .iter()
            .any(|(reason, object)| reason == "key" && object.starts_with("other:")),
        "the server's ACL LOG shows the refused keys: {refusals:?}"
    );

    // Another database: `SELECT` is sent on connect, and refused.
    let db1 = acl_cache(&format!("redis://app:secretpw@127.0.0.1:{port}/1"), "app");
    let err = db1.ping().await.unwrap_err();
    assert!(cause(&err).contains("'select'"), "{err}: {}", cause(&err));
    assert!(
        err.to_string().contains(&format!("127.0.0.1:{port}/1")),
        "{err}"
    );
    // With `+select`, the next call connects and works.
    assert_eq!(admin(&server, &["ACL", "SETUSER", "app", "+select"]), "OK");
    db1.set("k", &1u32, None).await.unwrap();
    assert_eq!(db1.get::<u32>("k").await.unwrap(), Some(1));
    assert_eq!(admin(&server, &["-n", "1", "EXISTS", "app|k"]), "1");

    // A wrong password: a connection error that names the server, not the
    // password.
    let wrong = acl_cache(&format!("redis://app:not-it@127.0.0.1:{port}/"), "app");
    let err = wrong.ping().await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Connection, "{err}");
    assert!(
        err.to_string().contains(&format!("127.0.0.1:{port}")),
        "{err}"
    );
    assert!(!err.to_string().contains("not-it"), "{err}");
}
