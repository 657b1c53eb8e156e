//! The argument forms a user reaches for first compile and do what they
//! say, on memory and on Redis: borrowed strings and slices stored as
//! their owned form, batches of owned keys and pairs.

use cache_core::Cache;
use cache_tests::redis_server::RedisServer;

async fn forms(cache: &Cache) {
    // A borrowed `str` (not `&'static`) is stored as a `String`.
    let text = String::from("hello");
    let borrowed: &str = &text;
    cache.set("s", borrowed, None).await.unwrap();
    assert_eq!(
        cache.get::<String>("s").await.unwrap().as_deref(),
        Some("hello")
    );
    assert!(!cache.add("s", "other", None).await.unwrap());
    let bytes: &[u8] = &[1, 2, 3];
    cache.set("b", bytes, None).await.unwrap();
    assert_eq!(
        cache.get::<Vec<u8>>("b").await.unwrap(),
        Some(vec![1, 2, 3])
    );

    // Batches of owned keys and pairs.
    let pairs: Vec<(String, u32)> = (0..3).map(|i| (format!("k{i}"), i)).collect();
    cache.set_many(pairs, None).await.unwrap();
    let keys: Vec<String> = (0..4).map(|i| format!("k{i}")).collect();
    assert_eq!(
        cache.get_many::<u32>(&keys).await.unwrap(),
        vec![Some(0), Some(1), Some(2), None]
    );
    cache.set_many(&[("k0", 10u32)], None).await.unwrap();
    assert_eq!(cache.get::<u32>("k0").await.unwrap(), Some(10));
    assert_eq!(cache.delete_many(keys.iter()).await.unwrap(), 3);
    assert_eq!(cache.delete_many(["s", "b"]).await.unwrap(), 2);

    // The blocking door takes the same forms.
    let blocking = cache.clone();
    tokio::task::spawn_blocking(move || {
        let b = blocking.blocking();
        b.set("t", "text", None).unwrap();
        b.set_many(vec![("u".to_string(), 1u8)], None).unwrap();
        assert_eq!(b.get::<String>("t").unwrap().as_deref(), Some("text"));
        assert_eq!(
            b.get_many::<u8>(vec!["u".to_string()]).unwrap(),
            vec![Some(1)]
        );
        assert_eq!(b.delete_many(vec!["t", "u"]).unwrap(), 2);
    })
    .await
    .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn argument_forms_work_in_memory() {
    forms(&Cache::default()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn argument_forms_work_on_redis() {
    let server = RedisServer::start();
    forms(&server.cache("forms")).await;
}
