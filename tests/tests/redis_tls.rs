//! `rediss://` through rustls, against a TLS-only `redis-server` with a
//! certificate from a test CA.

use std::time::{Duration, Instant};

use cache_core::backend::RedisBackend;
use cache_core::{Cache, ErrorKind};
use cache_tests::redis_server::RedisServer;

#[tokio::test]
async fn tls_with_the_servers_ca_works() {
    let server = RedisServer::start_tls();
    let backend = RedisBackend::builder()
        .url(server.url())
        .tls_root_certificates(server.tls_ca_pem())
        .build()
        .unwrap();
    let cache = Cache::builder()
        .backend(backend)
        .key_prefix("tls:")
        .build()
        .unwrap();
    cache.ping().await.unwrap();
    cache.set("k", &"secret".to_string(), None).await.unwrap();
    assert_eq!(
        cache.get::<String>("k").await.unwrap().as_deref(),
        Some("secret")
    );
    assert_eq!(cache.blocking().incr("n", 2).unwrap(), 2);
    assert_eq!(server.cli(&["EXISTS", &cache.full_key("k")]), "1");
    assert_eq!(cache.clear().await.unwrap(), 2);
}

#[tokio::test]
async fn tls_with_an_untrusted_certificate_is_a_connection_error() {
    let server = RedisServer::start_tls();
    // The test CA is not among the system's roots.
    let cache = Cache::builder()
        .url(format!("{}?connect_timeout=500ms", server.url()))
        .build()
        .unwrap();
    let started = Instant::now();
    let err = cache.ping().await.unwrap_err();
    assert!(
        started.elapsed() < Duration::from_millis(2_500),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(err.kind(), ErrorKind::Connection, "{err}");
    assert!(
        err.to_string().contains(&format!(
            "cannot connect to Redis at 127.0.0.1:{}/0",
            server.port()
        )),
        "{err}"
    );
}

#[tokio::test]
async fn plain_text_to_a_tls_port_fails_within_the_timeout() {
    let server = RedisServer::start_tls();
    let url = format!(
        "redis://127.0.0.1:{}/0?connect_timeout=400ms&response_timeout=300ms",
        server.port()
    );
    let cache = Cache::from_url(&url).unwrap();
    let started = Instant::now();
    let err = cache.ping().await.unwrap_err();
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
    assert!(
        matches!(err.kind(), ErrorKind::Connection | ErrorKind::Timeout),
        "{err}"
    );
}
