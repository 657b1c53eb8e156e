//! Building a TLS Redis store installs rustls's process-wide crypto
//! provider only when the application lets it. (Its own test binary: the
//! provider is process-wide.)

use cache_core::backend::RedisBackend;
use rustls::crypto::CryptoProvider;

#[test]
fn the_crypto_provider_is_installed_only_when_the_application_lets_the_store_do_it() {
    assert!(CryptoProvider::get_default().is_none());
    RedisBackend::builder()
        .url("rediss://127.0.0.1:1/0")
        .keep_crypto_provider()
        .build()
        .unwrap();
    assert!(
        CryptoProvider::get_default().is_none(),
        "keep_crypto_provider leaves the process-wide provider alone"
    );
    RedisBackend::builder()
        .url("redis://127.0.0.1:1/0")
        .build()
        .unwrap();
    assert!(
        CryptoProvider::get_default().is_none(),
        "no TLS, no provider"
    );
    RedisBackend::builder()
        .url("rediss://127.0.0.1:1/0")
        .build()
        .unwrap();
    assert!(
        CryptoProvider::get_default().is_some(),
        "a TLS store installs one when the application has none"
    );
}
