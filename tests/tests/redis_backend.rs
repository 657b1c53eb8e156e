//! `RedisBackend` and `Cache` against real `redis-server` processes, one per
//! test, started by the shared harness (`cache_tests::redis_server`).

use std::sync::Arc;
use std::time::Duration;

use cache_core::backend::RedisBackend;
use cache_core::{Backend, Cache, ErrorKind};
use cache_tests::redis_server::RedisServer;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_backend_passes_the_conformance_suite() {
    let server = RedisServer::start();
    server.cli(&["SET", "not-ours", "v"]);
    let backend = RedisBackend::from_url(&server.url()).unwrap();
    cache_core::testing::conformance(Arc::new(backend)).await;
    // The suite removed its own keys, and only those.
    assert_eq!(server.cli(&["DBSIZE"]), "1");
    assert_eq!(server.cli(&["GET", "not-ours"]), "v");
}

#[tokio::test]
async fn caches_with_different_prefixes_share_a_db_without_seeing_each_other() {
    let server = RedisServer::start();
    let (a, b) = (server.cache("a:"), server.cache("b:"));
    a.set("k", &1u32, None).await.unwrap();
    b.set("k", &2u32, None).await.unwrap();
    b.set("only-b", &3u32, None).await.unwrap();
    assert_eq!(a.get::<u32>("k").await.unwrap(), Some(1));
    assert_eq!(b.get::<u32>("k").await.unwrap(), Some(2));
    assert!(!a.has("only-b").await.unwrap());

    assert_eq!(a.clear().await.unwrap(), 1);
    assert_eq!(a.get::<u32>("k").await.unwrap(), None);
    assert_eq!(b.get::<u32>("k").await.unwrap(), Some(2));
    assert_eq!(b.get::<u32>("only-b").await.unwrap(), Some(3));
    assert_eq!(server.cli(&["DBSIZE"]), "2");
}

#[tokio::test]
async fn a_prefix_with_glob_characters_clears_only_its_own_keys() {
    let server = RedisServer::start();
    let mine = server.cache("app*[1]?:");
    // Prefixes that the unescaped pattern `app*[1]?:*` would match, and
    // near misses.
    let lookalikes = [
        "appX1Y:",
        "app*1?:",
        "app*[1]x:",
        "app*[1]?",
        "app",
        "app*[2]?:",
    ];
    for k in ["one", "two", "three"] {
        mine.set(k, &k.to_string(), None).await.unwrap();
    }
    for prefix in lookalikes {
        server
            .cache(prefix)
            .set("k", &prefix.to_string(), None)
            .await
            .unwrap();
    }

    assert_eq!(mine.clear().await.unwrap(), 3);
    assert_eq!(mine.get::<String>("one").await.unwrap(), None);
    for prefix in lookalikes {
        assert_eq!(
            server
                .cache(prefix)
                .get::<String>("k")
                .await
                .unwrap()
                .as_deref(),
            Some(prefix),
            "clearing `app*[1]?:` removed a key under `{prefix}`"
        );
    }
    assert_eq!(server.cli(&["DBSIZE"]), lookalikes.len().to_string());
}

#[tokio::test]
async fn keys_written_by_others_survive_clear() {
    let server = RedisServer::start();
    server.cli(&["SET", "other:k", "theirs"]);
    server.cli(&["SET", "app", "no colon"]);
    server.cli(&["RPUSH", "app-queue", "job"]);
    let app = server.cache("app:");
    for i in 0..1_200u32 {
        // More than one SCAN batch.
        app.set(&format!("k{i}"), &i, None).await.unwrap();
    }

    assert_eq!(app.clear().await.unwrap(), 1_200);
    assert_eq!(server.cli(&["GET", "other:k"]), "theirs");
    assert_eq!(server.cli(&["GET", "app"]), "no colon");
    assert_eq!(server.cli(&["LLEN", "app-queue"]), "1");
    assert_eq!(server.cli(&["DBSIZE"]), "3");
}

#[tokio::test]
async fn a_ten_mib_value_round_trips() {
    let server = RedisServer::start();
    let cache = server.cache("app:");
    let big: Vec<u8> = (0..10 * 1024 * 1024u32).map(|i| (i % 251) as u8).collect();
    cache.set("big", &big, None).await.unwrap();
    let back = cache.get::<Vec<u8>>("big").await.unwrap().unwrap();
    assert!(back == big, "the 10 MiB value came back different");
}

#[tokio::test]
async fn bytes_that_do_not_decode_are_a_miss_and_get_or_set_with_overwrites_them() {
    let server = RedisServer::start();
    let cache = server.cache("app:");
    // A bincode format byte followed by junk, a `vec!["a"]` as releases
    // without shape fingerprints wrote it (format byte 0x01, then
    // bincode), and text that is no format at all.
    server.cli(&[
        "SET",
        &cache.full_key("framed"),
        "\u{3}\u{ff}\u{ff}\u{ff}junk",
    ]);
    server.cli(&["SET", &cache.full_key("legacy"), "\u{1}\u{1}\u{1}a"]);
    server.cli(&["SET", &cache.full_key("text"), "not a cached value"]);

    assert_eq!(cache.get::<Vec<String>>("framed").await.unwrap(), None);
    assert_eq!(cache.get::<Vec<String>>("legacy").await.unwrap(), None);
    assert_eq!(cache.get::<String>("text").await.unwrap(), None);
    assert_eq!(cache.stats().errors, 3, "decode failures are counted");
    assert_eq!(cache.stats().misses, 3);

    let fresh = cache
        .get_or_set_with("text", None, || async { "fresh".to_string() })
        .await;
    assert_eq!(fresh, "fresh");
    assert_eq!(
        cache.get::<String>("text").await.unwrap().as_deref(),
        Some("fresh")
    );
    assert_ne!(
        server.cli(&["GET", &cache.full_key("text")]),
        "not a cached value"
    );
}

#[tokio::test]
async fn a_counter_from_incr_reads_back_as_i64() {
    let server = RedisServer::start();
    let cache = server.cache("app:");
    assert_eq!(cache.incr("visits", 5).await.unwrap(), 5);
    assert_eq!(cache.incr("visits", -2).await.unwrap(), 3);
    assert_eq!(cache.get::<i64>("visits").await.unwrap(), Some(3));
    let key = cache.full_key("visits");
    assert_eq!(server.cli(&["GET", &key]), "3");
    // A new counter gets the default timeout (300 s).
    let ttl: i64 = server.cli(&["PTTL", &key]).parse().unwrap();
    assert!((1..=300_000).contains(&ttl), "PTTL {ttl}");
}

#[tokio::test]
async fn incr_works_on_a_value_written_by_set_and_keeps_its_ttl() {
    let server = RedisServer::start();
    let cache = server.cache("app:");
    cache.set("n", &5i64, Duration::ZERO).await.unwrap();
    assert_eq!(cache.incr("n", 1).await.unwrap(), 6);
    assert_eq!(cache.decr("n", 10).await.unwrap(), -4);
    assert_eq!(cache.get::<i64>("n").await.unwrap(), Some(-4));
    assert_eq!(
        server.cli(&["PTTL", &cache.full_key("n")]),
        "-1",
        "a value set to never expire keeps no TTL"
    );
}

#[tokio::test]
async fn incr_of_text_is_a_backend_error_naming_the_key() {
    let server = RedisServer::start();
    let cache = server.cache("app:");
    cache.set("name", &"Ada".to_string(), None).await.unwrap();
    let err = cache.incr("name", 1).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Backend, "{err}");
    assert!(err.to_string().contains(&cache.full_key("name")), "{err}");
    server.cli(&["SET", &cache.full_key("max"), &i64::MAX.to_string()]);
    let err = cache.incr("max", 1).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Backend, "{err}");
    assert!(err.to_string().contains(&cache.full_key("max")), "{err}");
    assert_eq!(cache.get::<i64>("max").await.unwrap(), Some(i64::MAX));
}

#[tokio::test]
async fn a_wrong_type_key_is_an_error_or_a_miss_never_a_panic() {
    let server = RedisServer::start();
    let strict = server.cache("app:");
    server.cli(&["LPUSH", &strict.full_key("k"), "x"]);
    let err = strict.get::<String>("k").await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Backend, "{err}");
    // The server's reply is the cause, not part of the message.
    let cause = std::error::Error::source(&err).map(ToString::to_string);
    assert!(
        cause.as_deref().is_some_and(|c| c.contains("WRONGTYPE")),
        "{err}: {cause:?}"
    );
    assert_eq!(strict.get_many::<String>(&["k"]).await.unwrap(), vec![None]);

    let lenient = Cache::builder()
        .url(server.url())
        .key_prefix("app:")
        .ignore_errors(true)
        .build()
        .unwrap();
    assert_eq!(lenient.get::<String>("k").await.unwrap(), None);
    assert_eq!(lenient.stats().errors, 1);
    // Read-through computes (fail-open) and SET replaces the list.
    let v = lenient
        .get_or_set_with("k", None, || async { "computed".to_string() })
        .await;
    assert_eq!(v, "computed");
    assert_eq!(
        strict.get::<String>("k").await.unwrap().as_deref(),
        Some("computed")
    );
}

#[tokio::test]
async fn many_operations_use_the_prefix_and_keep_order() {
    let server = RedisServer::start();
    let cache = server.cache("app:");
    cache
        .set_many(&[("a", 1u32), ("b", 2), ("c", 3)], Duration::from_secs(60))
        .await
        .unwrap();
    assert_eq!(
        cache.get_many::<u32>(&["c", "missing", "a"]).await.unwrap(),
        vec![Some(3), None, Some(1)]
    );
    assert_eq!(cache.delete_many(&["a", "b", "missing"]).await.unwrap(), 2);
    assert!(cache
        .add("c", &9u32, None)
        .await
        .is_ok_and(|stored| !stored));
    assert!(cache.add("d", &4u32, None).await.unwrap());
    assert!(cache.delete("d").await.unwrap());
    // What an operator sees: the prefix, `|`, the key given to the cache.
    assert_eq!(server.cli(&["KEYS", "*"]), "app:|c");
}

#[tokio::test]
async fn the_url_selects_the_database() {
    let server = RedisServer::start();
    let cache = Cache::builder()
        .url(server.url_for_db(3))
        .key_prefix("app:")
        .build()
        .unwrap();
    cache.set("k", &"in db 3".to_string(), None).await.unwrap();
    assert_eq!(server.cli(&["-n", "3", "DBSIZE"]), "1");
    assert_eq!(server.cli(&["-n", "0", "DBSIZE"]), "0");
    assert_eq!(cache.clear().await.unwrap(), 1);
}

#[tokio::test]
async fn credentials_in_the_url_are_used_and_never_shown() {
    let server = RedisServer::start_with_args(&["--requirepass", "s3cret-pw"]);
    let port = server.port();
    server.cli(&[
        "-a",
        "s3cret-pw",
        "--no-auth-warning",
        "ACL",
        "SETUSER",
        "app",
        "on",
        ">app-pw",
        "~app:|*",
        "~app:#*",
        "+@all",
    ]);

    let with_password = Cache::from_url(&format!("redis://:s3cret-pw@127.0.0.1:{port}/0")).unwrap();
    with_password.ping().await.unwrap();
    with_password.set("k", &1u8, None).await.unwrap();
    let as_user = Cache::builder()
        .url(format!("redis://app:app-pw@127.0.0.1:{port}/0"))
        .key_prefix("app:")
        .build()
        .unwrap();
    as_user.set("k", &2u8, None).await.unwrap();
    assert_eq!(as_user.get::<u8>("k").await.unwrap(), Some(2));

    let wrong = Cache::from_url(&format!("redis://:wrong-pw@127.0.0.1:{port}/0")).unwrap();
    let err = wrong.ping().await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Connection, "{err}");
    assert!(
        err.to_string().contains(&format!("127.0.0.1:{port}/0")),
        "{err}"
    );
    assert!(!format!("{err} {err:?}").contains("wrong-pw"), "{err:?}");

    let without = Cache::from_url(&format!("redis://127.0.0.1:{port}/0")).unwrap();
    let err = without.get::<u8>("k").await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Connection, "{err}");
    assert!(err.to_string().contains("requires a password"), "{err}");

    let backend =
        RedisBackend::from_url(&format!("redis://app:app-pw@127.0.0.1:{port}/0")).unwrap();
    backend.ping().await.unwrap();
    let shown = format!("{backend:?}");
    assert!(
        !shown.contains("app-pw") && shown.contains("app"),
        "{shown}"
    );
}

#[tokio::test]
async fn from_url_does_not_connect() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let port = listener.local_addr().unwrap().port();
    let cache = Cache::from_url(&format!("redis://127.0.0.1:{port}/0")).unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(
        listener.accept().unwrap_err().kind(),
        std::io::ErrorKind::WouldBlock,
        "building the cache opened a connection"
    );
    drop(cache);
}

#[test]
fn bad_redis_urls_are_config_errors() {
    for url in [
        "redis+cluster://127.0.0.1:7000,127.0.0.1:7001/1",
        "redis+sentinel://127.0.0.1:26379",
        "redis://127.0.0.1:6379/0?timeout=1s",
        "redis://127.0.0.1:6379/0?response_timeout=soon",
        "redis://127.0.0.1:6379/zero",
    ] {
        let err = Cache::from_url(url).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Config, "{url}: {err}");
    }
    let err = Cache::from_url("redis+cluster://:pw1234@h1,h2/5").unwrap_err();
    assert!(!err.to_string().contains("pw1234"), "{err}");
}

#[tokio::test]
async fn the_resp3_protocol_works_too() {
    let server = RedisServer::start();
    let cache = Cache::builder()
        .url(format!("{}?protocol=resp3", server.url()))
        .key_prefix("app:")
        .build()
        .unwrap();
    cache.set("k", &vec![1u8, 2, 3], None).await.unwrap();
    assert_eq!(
        cache.get::<Vec<u8>>("k").await.unwrap(),
        Some(vec![1, 2, 3])
    );
    assert_eq!(
        cache.get_many::<Vec<u8>>(&["k", "x"]).await.unwrap().len(),
        2
    );
    assert_eq!(cache.incr("n", 4).await.unwrap(), 4);
    assert_eq!(cache.clear().await.unwrap(), 2);
}
