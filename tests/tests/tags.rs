//! Tags on the memory store and on a standalone Redis server: what
//! `invalidate_tag` removes (exactly the tagged entries, whoever wrote
//! them, under this prefix only), tags with any characters, memoized
//! functions with `tags = [...]`, and what happens when the store fails.
//! The same scenarios run on both stores; Redis Cluster runs them in
//! `redis_cluster.rs`, where its harness lives.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use cache_core::bytes::Bytes;
use cache_core::testing::{tag_conformance, DownBackend};
use cache_core::{
    async_trait, memoize, tags, Backend, Cache, ErrorKind, MemoryBackend, NullBackend, Result, Ttl,
};
use cache_tests::redis_server::RedisServer;

/// Two handles on one store under one prefix (two processes, as far as the
/// store can tell), and a third under another prefix.
struct Stores {
    a: Cache,
    b: Cache,
    other: Cache,
}

fn memory() -> Stores {
    let store = MemoryBackend::new();
    let build = |prefix: &str| {
        Cache::builder()
            .backend(store.clone())
            .key_prefix(prefix)
            .build()
            .unwrap()
    };
    Stores {
        a: build("app"),
        b: build("app"),
        other: build("other"),
    }
}

fn redis(server: &RedisServer) -> Stores {
    Stores {
        a: server.cache("app"),
        b: server.cache("app"),
        other: server.cache("other"),
    }
}

/// `invalidate_tag` removes what carries the tag, from either handle, and
/// leaves the rest: untagged entries, entries of other tags, and entries
/// of another prefix tagged the same.
async fn removes_exactly_the_tagged_entries(s: &Stores) {
    s.a.set_with_tags("profile:5", &"Ada", None, &["user:5", "team:2"])
        .await
        .unwrap();
    s.b.set_with_tags("avatar:5", &vec![1u8, 2], None, &["user:5"])
        .await
        .unwrap();
    s.a.set_with_tags("profile:6", &"Grace", None, &["user:6", "team:2"])
        .await
        .unwrap();
    s.a.set("untagged", &1u32, None).await.unwrap();
    s.other
        .set_with_tags("profile:5", &"theirs", None, &["user:5"])
        .await
        .unwrap();

    // The first handle wrote one of the two, the second invalidates both.
    assert_eq!(s.b.invalidate_tag("user:5").await.unwrap(), 2);
    for (cache, key) in [(&s.a, "profile:5"), (&s.b, "avatar:5")] {
        assert!(!cache.has(key).await.unwrap(), "{key} is tagged user:5");
    }
    assert_eq!(
        s.a.get::<String>("profile:6").await.unwrap().as_deref(),
        Some("Grace")
    );
    assert_eq!(s.a.get::<u32>("untagged").await.unwrap(), Some(1));
    assert_eq!(
        s.other.get::<String>("profile:5").await.unwrap().as_deref(),
        Some("theirs"),
        "another prefix's tag of the same name is its own"
    );
    assert_eq!(s.a.invalidate_tag("user:5").await.unwrap(), 0, "taken once");

    // An entry with several tags goes with any of them.
    assert_eq!(s.a.invalidate_tag("team:2").await.unwrap(), 1);
    assert!(!s.b.has("profile:6").await.unwrap());
    assert_eq!(s.other.invalidate_tag("user:5").await.unwrap(), 1);
}

/// A tag invalidated earlier lists the entries written after.
async fn an_invalidated_tag_takes_new_entries(s: &Stores) {
    s.a.set_with_tags("k1", &1u32, None, &["again"])
        .await
        .unwrap();
    assert_eq!(s.a.invalidate_tag("again").await.unwrap(), 1);
    s.b.set_with_tags("k2", &2u32, None, &["again"])
        .await
        .unwrap();
    s.a.set_with_tags("k1", &3u32, None, &["again"])
        .await
        .unwrap();
    assert_eq!(s.a.get::<u32>("k1").await.unwrap(), Some(3));
    assert_eq!(s.b.invalidate_tag("again").await.unwrap(), 2);
    assert!(!s.a.has("k1").await.unwrap() && !s.a.has("k2").await.unwrap());
}

/// Tags are literal: glob characters, NUL, and tags that extend another.
async fn odd_tags_are_literal(s: &Stores) {
    let odd = ["*", "?", "[ab]", "a", "b", "t\0x", "t", "t*", "", "\\"];
    for (i, tag) in odd.iter().enumerate() {
        s.a.set_with_tags(&format!("odd:{i}"), &i, None, [tag])
            .await
            .unwrap();
    }
    for (i, tag) in odd.iter().enumerate() {
        assert_eq!(
            s.b.invalidate_tag(tag).await.unwrap(),
            1,
            "tag {tag:?} removes its own entry only"
        );
        assert!(!s.a.has(&format!("odd:{i}")).await.unwrap());
        for (j, kept) in odd.iter().enumerate().skip(i + 1) {
            assert!(
                s.a.has(&format!("odd:{j}")).await.unwrap(),
                "tag {tag:?} removed the entry of {kept:?}"
            );
        }
    }
}

/// A cache's methods, memoized with tags rendered from the arguments.
struct Dashboards {
    cache: Cache,
    runs: AtomicUsize,
}

impl Dashboards {
    fn new(cache: &Cache) -> Self {
        Self {
            cache: cache.clone(),
            runs: AtomicUsize::new(0),
        }
    }

    fn runs(&self) -> usize {
        self.runs.load(Ordering::SeqCst)
    }

    #[memoize(cache = self.cache, ignore(self), tags = ["user:{user}", "team:{team}"])]
    async fn dashboard(&self, user: u64, team: &str) -> String {
        tokio::task::yield_now().await; // a database call, say
        self.runs.fetch_add(1, Ordering::SeqCst);
        format!("{user} in {team}")
    }

    #[memoize(cache = self.cache, ignore(self), tags = ["user:{user}"])]
    fn settings(&self, user: u64) -> u64 {
        self.runs.fetch_add(1, Ordering::SeqCst);
        user * 10
    }
}

async fn memoized_entries_carry_their_tags(s: &Stores) {
    let (a, b) = (Dashboards::new(&s.a), Dashboards::new(&s.b));
    assert_eq!(a.dashboard(5, "red team").await, "5 in red team");
    a.dashboard(6, "red team").await;
    a.dashboard(5, "blue").await;
    let cache = a.cache.clone();
    let a = Arc::new(a);
    let in_thread = Arc::clone(&a);
    tokio::task::spawn_blocking(move || in_thread.settings(5))
        .await
        .unwrap();
    assert_eq!(a.runs(), 4);
    // The other handle reads them: one store.
    b.dashboard(5, "blue").await;
    assert_eq!(b.runs(), 0);

    // user:5 is on three entries; the team tag was escaped like a key template's value.
    assert_eq!(cache.invalidate_tag("user:5").await.unwrap(), 3);
    let red = format!("team:{}", tags::escape(&"red team").unwrap());
    assert_eq!(red, "team:red%20team");
    assert_eq!(
        s.b.invalidate_tag(&red).await.unwrap(),
        1,
        "dashboard(6, red team)"
    );
    b.dashboard(5, "blue").await;
    b.dashboard(6, "red team").await;
    assert_eq!(b.runs(), 2, "both were invalidated");

    // `_refresh` stores with the tags too.
    b.dashboard_refresh(7, "blue").await;
    assert_eq!(s.a.invalidate_tag("team:blue").await.unwrap(), 2);
}

async fn read_through_carries_its_tags(s: &Stores) {
    let v =
        s.a.get_or_set_with_tags("rt", None, ["rt-tag"], || async { 1u32 })
            .await;
    assert_eq!(v, 1);
    let r: std::result::Result<u32, String> =
        s.b.try_get_or_set_with_tags("rt2", None, ["rt-tag"], || async { Ok(2) })
            .await;
    assert_eq!(r, Ok(2));
    let failed: std::result::Result<u32, String> =
        s.b.try_get_or_set_with_tags("rt3", None, ["rt-tag"], || async { Err("no".into()) })
            .await;
    assert!(failed.is_err());
    assert_eq!(s.a.invalidate_tag("rt-tag").await.unwrap(), 2);
    let blocking = s.a.clone();
    tokio::task::spawn_blocking(move || {
        let b = blocking.blocking();
        b.set_with_tags("bk", &1u8, None, ["blocking"]).unwrap();
        assert_eq!(b.invalidate_tag("blocking").unwrap(), 1);
        assert!(!b.has("bk").unwrap());
    })
    .await
    .unwrap();
}

async fn clear_removes_the_indexes(s: &Stores) {
    s.a.set_with_tags("c", &1u8, None, ["cleared"])
        .await
        .unwrap();
    s.a.clear().await.unwrap();
    s.a.set("c", &2u8, None).await.unwrap();
    assert_eq!(
        s.a.invalidate_tag("cleared").await.unwrap(),
        0,
        "clear removed the index with the entry"
    );
    assert!(s.a.has("c").await.unwrap());
}

async fn all_scenarios(s: &Stores) {
    removes_exactly_the_tagged_entries(s).await;
    an_invalidated_tag_takes_new_entries(s).await;
    odd_tags_are_literal(s).await;
    memoized_entries_carry_their_tags(s).await;
    read_through_carries_its_tags(s).await;
    clear_removes_the_indexes(s).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tags_on_the_memory_store() {
    all_scenarios(&memory()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tags_on_redis() {
    let server = RedisServer::start();
    all_scenarios(&redis(&server)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn stores_pass_the_tag_conformance_suite() {
    let server = RedisServer::start();
    server.cli(&["SET", "neighbour", "v"]);
    tag_conformance(Arc::new(MemoryBackend::new())).await;
    let redis = cache_core::RedisBackend::from_url(&server.url()).unwrap();
    tag_conformance(Arc::new(redis)).await;
    assert_eq!(server.cli(&["GET", "neighbour"]), "v");
    assert_eq!(
        server.cli(&["DBSIZE"]),
        "1",
        "the suite cleans up after itself"
    );
}

/// On Redis an index is a sorted set that lives as long as its
/// longest-lived entry, and drops expired entries as it is written to.
#[tokio::test]
async fn redis_indexes_expire_with_their_entries() {
    let server = RedisServer::start();
    let cache = server.cache("ttl");
    let index = "ttl!t";
    cache
        .set_with_tags("short", &1u8, Duration::from_millis(200), ["t"])
        .await
        .unwrap();
    let pttl: i64 = server.cli(&["PTTL", index]).parse().unwrap();
    assert!((200..=1_500).contains(&pttl), "index PTTL {pttl}");
    cache
        .set_with_tags("long", &1u8, Duration::from_secs(100), ["t"])
        .await
        .unwrap();
    let pttl: i64 = server.cli(&["PTTL", index]).parse().unwrap();
    assert!(
        pttl > 99_000,
        "the index lives as long as its longest entry: {pttl}"
    );
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    cache
        .set_with_tags("other", &1u8, Duration::from_secs(10), ["t"])
        .await
        .unwrap();
    assert_eq!(
        server.cli(&["ZCARD", index]),
        "2",
        "the expired entry was dropped from the index"
    );
    cache
        .set_with_tags("forever", &1u8, Duration::ZERO, ["t"])
        .await
        .unwrap();
    assert_eq!(
        server.cli(&["PTTL", index]),
        "-1",
        "an entry that never expires keeps its index"
    );
    cache
        .set_with_tags("later", &1u8, Duration::from_secs(5), ["t"])
        .await
        .unwrap();
    assert_eq!(server.cli(&["PTTL", index]), "-1");
    assert_eq!(cache.invalidate_tag("t").await.unwrap(), 4);
    assert_eq!(server.cli(&["EXISTS", index]), "0");
}

/// A write whose tags cannot be listed leaves no value behind: here the
/// user may `SET` and `UNLINK` but not run scripts.
#[tokio::test]
async fn a_value_whose_tags_cannot_be_listed_is_removed() {
    let server = RedisServer::start();
    server.cli(&[
        "ACL", "SETUSER", "noscript", "on", ">pw", "~*", "+@all", "-eval",
    ]);
    let url = format!("redis://noscript:pw@127.0.0.1:{}/0", server.port());
    let cache = Cache::builder().url(url).key_prefix("acl").build().unwrap();
    let err = cache
        .set_with_tags("k", &1u8, None, ["t"])
        .await
        .expect_err("EVAL is refused");
    assert_eq!(err.kind(), ErrorKind::Backend, "{err}");
    assert_eq!(
        server.cli(&["EXISTS", "acl|k"]),
        "0",
        "the untagged value was removed"
    );
    cache.set("plain", &1u8, None).await.unwrap();
    assert!(cache.invalidate_tag("t").await.is_err());
}

/// `invalidate_tag` reports a store failure whatever `ignore_errors` says;
/// tagged writes follow `set`, and memoized functions still run.
#[tokio::test]
async fn a_stopped_server_fails_invalidation_even_when_ignoring_errors() {
    let mut server = RedisServer::start();
    let url = server.url();
    let lenient = Cache::builder()
        .url(&url)
        .key_prefix("down")
        .ignore_errors(true)
        .build()
        .unwrap();
    let strict = server.cache("down");
    lenient.set_with_tags("k", &1u8, None, ["t"]).await.unwrap();
    let dashboards = Dashboards::new(&lenient);
    dashboards.dashboard(1, "x").await;
    server.stop();

    for cache in [&lenient, &strict] {
        let err = cache.invalidate_tag("t").await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Connection, "{err}");
        assert!(err.to_string().contains("down!t"), "names the tag: {err}");
    }
    lenient.set_with_tags("k", &2u8, None, ["t"]).await.unwrap();
    assert!(strict.set_with_tags("k", &2u8, None, ["t"]).await.is_err());
    assert_eq!(dashboards.dashboard(2, "x").await, "2 in x");
    assert_eq!(dashboards.runs(), 2);

    server.restart();
    // The breaker opened during the outage; an answered ping closes it.
    strict.ping().await.unwrap();
    assert_eq!(
        strict.invalidate_tag("t").await.unwrap(),
        0,
        "the restarted server is empty"
    );
}

/// A store whose deletes fail after the tag was taken: the keys are
/// listed again, so a retry finds them.
struct FailingDeletes {
    inner: MemoryBackend,
    fail: Arc<AtomicBool>,
}

#[async_trait]
impl Backend for FailingDeletes {
    async fn get(&self, key: &str) -> Result<Option<Bytes>> {
        self.inner.get(key).await
    }
    async fn set(&self, key: &str, value: Bytes, ttl: Ttl) -> Result<()> {
        self.inner.set(key, value, ttl).await
    }
    async fn add(&self, key: &str, value: Bytes, ttl: Ttl) -> Result<bool> {
        self.inner.add(key, value, ttl).await
    }
    async fn delete_many(&self, keys: &[&str]) -> Result<u64> {
        if self.fail.load(Ordering::SeqCst) {
            return DownBackend.delete_many(keys).await;
        }
        self.inner.delete_many(keys).await
    }
    async fn incr(&self, key: &str, delta: i64, ttl: Ttl) -> Result<i64> {
        self.inner.incr(key, delta, ttl).await
    }
    async fn clear_prefix(&self, prefix: &str) -> Result<u64> {
        self.inner.clear_prefix(prefix).await
    }
    async fn add_to_tags(&self, key: &str, tags: &[&str], ttl: Ttl) -> Result<()> {
        self.inner.add_to_tags(key, tags, ttl).await
    }
    async fn take_tag(&self, tag: &str) -> Result<Vec<String>> {
        self.inner.take_tag(tag).await
    }
}

#[tokio::test]
async fn keys_that_could_not_be_removed_stay_listed_for_a_retry() {
    let fail = Arc::new(AtomicBool::new(true));
    // The failures are the store's: no breaker in the way of the retry.
    let cache = Cache::builder()
        .backend(FailingDeletes {
            inner: MemoryBackend::new(),
            fail: Arc::clone(&fail),
        })
        .circuit_breaker(std::time::Duration::ZERO)
        .build()
        .unwrap();
    cache.set_with_tags("a", &1u8, None, ["t"]).await.unwrap();
    cache.set_with_tags("b", &1u8, None, ["t"]).await.unwrap();
    let err = cache.invalidate_tag("t").await.unwrap_err();
    assert!(err.to_string().contains("listed under it again"), "{err}");
    fail.store(false, Ordering::SeqCst);
    assert_eq!(cache.invalidate_tag("t").await.unwrap(), 2);
}

/// A store that leaves the tag methods out: tags are refused with a clear
/// error, and no value is left behind.
struct NoTags(MemoryBackend);

#[async_trait]
impl Backend for NoTags {
    async fn get(&self, key: &str) -> Result<Option<Bytes>> {
        self.0.get(key).await
    }
    async fn set(&self, key: &str, value: Bytes, ttl: Ttl) -> Result<()> {
        self.0.set(key, value, ttl).await
    }
    async fn add(&self, key: &str, value: Bytes, ttl: Ttl) -> Result<bool> {
        self.0.add(key, value, ttl).await
    }
    async fn delete_many(&self, keys: &[&str]) -> Result<u64> {
        self.0.delete_many(keys).await
    }
    async fn incr(&self, key: &str, delta: i64, ttl: Ttl) -> Result<i64> {
        self.0.incr(key, delta, ttl).await
    }
    async fn clear_prefix(&self, prefix: &str) -> Result<u64> {
        self.0.clear_prefix(prefix).await
    }
}

#[tokio::test]
async fn a_store_without_tags_refuses_them_clearly() {
    let cache = Cache::new(NoTags(MemoryBackend::new()));
    let err = cache
        .set_with_tags("k", &1u8, None, ["t"])
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Unsupported, "{err}");
    assert!(!cache.has("k").await.unwrap(), "no value escapes its tags");
    cache.set_with_tags("k", &1u8, None, [""; 0]).await.unwrap();
    assert!(cache.has("k").await.unwrap(), "no tags: a plain set");
    assert_eq!(
        cache.invalidate_tag("t").await.unwrap_err().kind(),
        ErrorKind::Unsupported
    );
    // The null store accepts tags and forgets them, like values.
    let null = Cache::new(NullBackend);
    null.set_with_tags("k", &1u8, None, ["t"]).await.unwrap();
    assert_eq!(null.invalidate_tag("t").await.unwrap(), 0);
}
