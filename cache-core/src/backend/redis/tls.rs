//! TLS: the root certificates to trust, the rustls crypto provider, and
//! redis-rs clients that use them.

use ::redis::{ConnectionInfo, RedisError};

use crate::{Error, Result};

/// The TLS root certificates for redis-rs, after checking they may be
/// used: only with TLS, and only if they hold a PEM certificate.
pub(super) fn tls_certificates(
    shown: &str,
    tls: bool,
    pem: Option<Vec<u8>>,
) -> Result<Option<::redis::TlsCertificates>> {
    match pem {
        None => Ok(None),
        Some(_) if !tls => Err(Error::config(format!(
            "`{shown}`: TLS root certificates were given for a URL without TLS; use `rediss://`"
        ))),
        Some(pem) if !contains(&pem, b"-----BEGIN CERTIFICATE-----") => Err(Error::config(format!(
            "`{shown}`: the TLS root certificates hold no PEM certificate (`-----BEGIN CERTIFICATE-----`)"
        ))),
        Some(pem) => Ok(Some(::redis::TlsCertificates {
            client_tls: None,
            root_cert: Some(pem),
        })),
    }
}

/// redis-rs builds its rustls configuration with the process-wide crypto
/// provider. When the application has not installed one, install ring
/// (the provider this crate enables), so that `rediss://` works even when
/// another crate in the build also enables rustls's aws-lc-rs provider.
pub(super) fn install_crypto_provider() {
    if rustls::crypto::CryptoProvider::get_default().is_none() {
        // Losing a race with another installer is fine: one is in place.
        let _ = rustls::crypto::ring::default_provider().install_default();
    }
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// A redis-rs client for `info`, trusting `certificates` when given.
pub(super) fn client(
    info: ConnectionInfo,
    certificates: Option<::redis::TlsCertificates>,
) -> std::result::Result<::redis::Client, RedisError> {
    match certificates {
        None => ::redis::Client::open(info),
        Some(certificates) => ::redis::Client::build_with_tls(info, certificates),
    }
}
