//! Values tampered with in a real Redis, by `redis-cli`: what a cache with a
//! signing key and a size bound accepts, and what it refuses.

use std::sync::atomic::{AtomicUsize, Ordering};

use cache_core::backend::RedisBackend;
use cache_core::{memoize, Backend, Cache, Codec, ErrorKind, Ttl};
use cache_tests::redis_server::RedisServer;
use serde::{Deserialize, Serialize};

const SECRET: &str = "a signing key of at least 32 bytes, from a secret store";

fn cache(server: &RedisServer, prefix: &str, signed: bool) -> Cache {
    let builder = Cache::builder().url(server.url()).key_prefix(prefix);
    let builder = if signed {
        builder.signing_key(SECRET)
    } else {
        builder
    };
    builder
        .build()
        .expect("a redis URL from the harness builds")
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Account {
    id: u64,
    role: String,
}

#[tokio::test]
async fn a_value_altered_by_redis_cli_is_a_miss_only_when_signed() {
    let server = RedisServer::start();
    let admin = Account {
        id: 1,
        role: "user".into(),
    };
    for (signed, prefix) in [(false, "plain:"), (true, "signed:")] {
        let cache = cache(&server, prefix, signed);
        cache.set("account", &admin, None).await.unwrap();
        // Overwrite the role's text in place: "user" -> "root".
        let key = cache.full_key("account");
        let stored = server.cli(&["STRLEN", &key]);
        let offset = stored.parse::<usize>().unwrap() - "user".len() - usize::from(signed) * 32;
        server.cli(&["SETRANGE", &key, &offset.to_string(), "root"]);

        let read = cache.get::<Account>("account").await.unwrap();
        if signed {
            assert_eq!(read, None, "a tampered signed value must not be served");
            assert_eq!(cache.stats().errors, 1, "the bad tag is counted");
        } else {
            // What signing protects against: the altered value is served.
            assert_eq!(read.map(|a| a.role), Some("root".to_owned()));
        }
    }
}

#[tokio::test]
async fn a_decimal_written_by_anyone_is_refused_when_signed() {
    let server = RedisServer::start();
    let plain = cache(&server, "plain:", false);
    let signed = cache(&server, "signed:", true);
    for cache in [&plain, &signed] {
        cache.set("limit", &10u64, None).await.unwrap();
        assert_eq!(cache.get::<u64>("limit").await.unwrap(), Some(10));
    }
    server.cli(&["SET", &plain.full_key("limit"), "1000000"]);
    server.cli(&["SET", &signed.full_key("limit"), "1000000"]);
    assert_eq!(plain.get::<u64>("limit").await.unwrap(), Some(1_000_000));
    assert_eq!(signed.get::<u64>("limit").await.unwrap(), None);
}

#[tokio::test]
async fn a_signed_value_copied_under_another_key_is_refused() {
    let server = RedisServer::start();
    let cache = cache(&server, "app:", true);
    let guest = Account {
        id: 2,
        role: "guest".into(),
    };
    let root = Account {
        id: 1,
        role: "root".into(),
    };
    cache.set("session:guest", &guest, None).await.unwrap();
    cache.set("session:root", &root, None).await.unwrap();
    server.cli(&[
        "COPY",
        &cache.full_key("session:root"),
        &cache.full_key("session:guest"),
        "REPLACE",
    ]);
    assert_eq!(cache.get::<Account>("session:guest").await.unwrap(), None);
    assert_eq!(
        cache.get::<Account>("session:root").await.unwrap(),
        Some(root)
    );
}

#[tokio::test]
async fn another_process_with_the_same_key_reads_signed_values() {
    let server = RedisServer::start();
    let writer = cache(&server, "app:", true);
    let reader = cache(&server, "app:", true);
    let stranger = Cache::builder()
        .url(server.url())
        .key_prefix("app:")
        .signing_key("some other key, also 32 bytes long")
        .build()
        .unwrap();
    let account = Account {
        id: 3,
        role: "editor".into(),
    };
    writer.set("a", &account, None).await.unwrap();
    writer.set("n", &5i64, None).await.unwrap();
    assert_eq!(reader.get::<Account>("a").await.unwrap(), Some(account));
    assert_eq!(reader.get::<i64>("n").await.unwrap(), Some(5));
    assert_eq!(stranger.get::<Account>("a").await.unwrap(), None);
    // Counters stay decimals the server can add to; signed or not.
    assert_eq!(writer.incr("visits", 2).await.unwrap(), 2);
    assert_eq!(reader.incr("visits", 0).await.unwrap(), 2);
}

struct Scores {
    cache: Cache,
    runs: AtomicUsize,
}

impl Scores {
    #[memoize(ignore(self), cache = self.cache)]
    async fn score(&self, id: u64) -> Account {
        tokio::task::yield_now().await;
        self.runs.fetch_add(1, Ordering::SeqCst);
        Account {
            id,
            role: format!("level {}", id % 3),
        }
    }
}

#[tokio::test]
async fn a_tampered_memoized_entry_is_recomputed_and_rewritten() {
    let server = RedisServer::start();
    let scores = Scores {
        cache: cache(&server, "app:", true),
        runs: AtomicUsize::new(0),
    };
    let expected = scores.score(4).await;
    assert_eq!(scores.score(4).await, expected);
    assert_eq!(
        scores.runs.load(Ordering::SeqCst),
        1,
        "the second call is a hit"
    );

    // The cache's only key: the memoized entry.
    let keys = server.cli(&["KEYS", "app:#*"]);
    let key = keys.lines().next().expect("the memoized entry is in Redis");
    server.cli(&["SETRANGE", key, "2", "\u{7f}"]);
    assert_eq!(scores.score(4).await, expected);
    assert_eq!(
        scores.runs.load(Ordering::SeqCst),
        2,
        "the tampered entry is a miss"
    );
    assert_eq!(scores.score(4).await, expected);
    assert_eq!(scores.runs.load(Ordering::SeqCst), 2, "and was rewritten");
}

#[tokio::test]
async fn values_over_the_size_bound_are_refused_both_ways() {
    let server = RedisServer::start();
    let cache = Cache::builder()
        .url(server.url())
        .key_prefix("app:")
        .max_value_size(1024)
        .build()
        .unwrap();
    cache.set("big", &"small for now", None).await.unwrap();
    let err = cache.set("big", &"x".repeat(2000), None).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::TooLarge);
    assert!(err.to_string().contains("1024 bytes"), "{err}");
    // The refused write still replaced the old value: it is not served.
    assert_eq!(server.cli(&["EXISTS", &cache.full_key("big")]), "0");
    assert_eq!(cache.get::<String>("big").await.unwrap(), None);

    // A valid JSON envelope of 2011 bytes written by someone else, straight
    // to the store: not decoded, a miss; a cache with the default bound
    // reads it.
    let planted = cache_core::codec::encode(&"x".repeat(2000), Codec::Json).unwrap();
    assert_eq!(planted.len(), 2011);
    RedisBackend::from_url(&server.url())
        .unwrap()
        .set(&cache.full_key("planted"), planted, Ttl::Never)
        .await
        .unwrap();
    let errors = cache.stats().errors;
    assert_eq!(cache.get::<String>("planted").await.unwrap(), None);
    assert_eq!(cache.stats().errors, errors + 1, "the refusal is counted");
    let unbounded = Cache::builder()
        .url(server.url())
        .key_prefix("app:")
        .build()
        .unwrap();
    assert_eq!(
        unbounded
            .get::<String>("planted")
            .await
            .unwrap()
            .map(|s| s.len()),
        Some(2000)
    );

    cache.set("small", &"x".repeat(500), None).await.unwrap();
    assert_eq!(
        cache.get::<String>("small").await.unwrap().map(|s| s.len()),
        Some(500)
    );
}
