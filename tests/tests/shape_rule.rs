//! The shape rule, end to end: a value is read back only as a value of the
//! shape that wrote it, on the memory store and on a real Redis, including
//! two releases of one program sharing a store during a rolling deploy.

use std::time::Duration;

use cache_core::Cache;
use cache_tests::look_alike::{A, B};
use cache_tests::redis_server::RedisServer;

/// One type as two releases define it: the same name, fields swapped.
mod release1 {
    use serde::{Deserialize, Serialize};

    #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
    pub struct Price {
        pub cents: u64,
        pub stock: u64,
    }

    #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
    pub enum Status {
        Active,
        Banned,
    }
}

mod release2 {
    use serde::{Deserialize, Serialize};

    #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
    pub struct Price {
        pub stock: u64,
        pub cents: u64,
    }

    #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
    pub enum Status {
        Banned,
        Active,
    }
}

fn memory() -> Cache {
    Cache::builder().key_prefix("shape").build().unwrap()
}

async fn another_type_is_a_miss(cache: &Cache) {
    cache.set("a", &A { a: 1, b: 2 }, None).await.unwrap();
    assert_eq!(cache.get::<B>("a").await.unwrap(), None, "A read as B");
    assert_eq!(cache.get::<(u32, u32)>("a").await.unwrap(), None);
    assert_eq!(cache.get::<A>("a").await.unwrap(), Some(A { a: 1, b: 2 }));

    cache.set("n", &42u64, None).await.unwrap();
    assert_eq!(
        cache.get::<f64>("n").await.unwrap(),
        None,
        "u64 read as f64"
    );
    cache
        .set("big", &9_007_199_254_740_993u64, None)
        .await
        .unwrap();
    assert_eq!(cache.get::<f64>("big").await.unwrap(), None, "would round");
    assert_eq!(cache.get::<u8>("big").await.unwrap(), None, "does not fit");

    cache.set("s", &"text".to_string(), None).await.unwrap();
    assert_eq!(cache.get::<Vec<u64>>("s").await.unwrap(), None);
    // The same data under the same names is a correct read.
    cache.set("borrowed", &"text", None).await.unwrap();
    assert_eq!(
        cache.get::<String>("borrowed").await.unwrap().as_deref(),
        Some("text")
    );

    let errors = cache.stats().errors;
    assert!(errors >= 6, "every refused read is counted: {errors}");
}

/// Release 1 and release 2 share one store: each reads its own values
/// and misses the other's, in both directions, and `get_or_set_with`
/// overwrites the entry it could not read.
async fn a_rolling_deploy_never_reads_the_other_release(old: &Cache, new: &Cache) {
    let p1 = release1::Price {
        cents: 1001,
        stock: 3,
    };
    let p2 = release2::Price {
        stock: 3,
        cents: 1001,
    };
    old.set("price", &p1, None).await.unwrap();
    assert_eq!(new.get::<release2::Price>("price").await.unwrap(), None);
    let got = new
        .get_or_set_with("price", None, || async { p2.clone() })
        .await;
    assert_eq!(got, p2);
    assert_eq!(new.get::<release2::Price>("price").await.unwrap(), Some(p2));
    assert_eq!(old.get::<release1::Price>("price").await.unwrap(), None);

    old.set("status", &vec![release1::Status::Active], None)
        .await
        .unwrap();
    assert_eq!(
        new.get::<Vec<release2::Status>>("status").await.unwrap(),
        None,
        "variants reordered"
    );
}

#[tokio::test]
async fn memory_reads_only_the_shape_that_wrote() {
    let cache = memory();
    another_type_is_a_miss(&cache).await;
    a_rolling_deploy_never_reads_the_other_release(&cache, &cache.clone()).await;
}

#[tokio::test]
async fn redis_reads_only_the_shape_that_wrote() {
    let server = RedisServer::start();
    let cache = server.cache("shape");
    another_type_is_a_miss(&cache).await;
    a_rolling_deploy_never_reads_the_other_release(&cache, &server.cache("shape")).await;
}

#[tokio::test]
async fn json_entries_follow_the_same_rule() {
    let server = RedisServer::start();
    let json = |s: &RedisServer| {
        Cache::builder()
            .url(s.url())
            .key_prefix("shape")
            .codec(cache_core::Codec::Json)
            .build()
            .unwrap()
    };
    another_type_is_a_miss(&json(&server)).await;
    a_rolling_deploy_never_reads_the_other_release(&json(&server), &server.cache("shape")).await;
}

/// Bytes under a key in a format this release does not write (an older
/// release's envelope, another program's data) are a miss; the memoized
/// computation then replaces them.
#[tokio::test]
async fn foreign_bytes_are_replaced_by_the_computation() {
    let server = RedisServer::start();
    let cache = server.cache("shape");
    let key = cache.full_key("k");
    for junk in [&b"\x01\x00\x01\x02"[..], b"\x03short", b"hello", b"\x04{}"] {
        cache
            .backend()
            .set(&key, junk.to_vec().into(), cache_core::Ttl::Never)
            .await
            .unwrap();
        let v = cache
            .get_or_set_with("k", Duration::from_secs(60), || async { A { a: 5, b: 6 } })
            .await;
        assert_eq!(v, A { a: 5, b: 6 });
        assert_eq!(cache.get::<A>("k").await.unwrap(), Some(A { a: 5, b: 6 }));
        cache.delete("k").await.unwrap();
    }
}
