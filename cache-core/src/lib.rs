//! Caching for Rust in the spirit of Flask-Caching: a typed [`Cache`]
//! handle over an in-memory store (the default) or Redis, with
//! `#[memoize]`/`#[cached]` attribute macros.
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> cache_core::Result<()> {
//! use std::time::Duration;
//! use cache_core::Cache;
//!
//! let cache = Cache::builder().key_prefix("app:").build()?;
//! cache.set("user:1", &"Ada".to_string(), Duration::from_secs(60)).await?;
//! assert_eq!(cache.get::<String>("user:1").await?.as_deref(), Some("Ada"));
//!
//! let profile = cache.get_or_set_with("user:2", None, || async { "Grace".to_string() }).await;
//! assert_eq!(profile, "Grace");
//! # Ok(())
//! # }
//! ```
//!
//! # Stores
//!
//! | URL | store |
//! |---|---|
//! | `memory://?max_capacity=64MiB` | [`MemoryBackend`]: in-process, bounded by bytes, typed hits with no decoding |
//! | `null://` | [`NullBackend`]: stores nothing (caching off) |
//!
//! Any other store plugs in by implementing [`Backend`]; the
//! `testing` feature's [`testing::conformance`] checks it behaves.
//!
//! # Feature flags
//!
//! | feature | default | what it adds |
//! |---|---|---|
//! | `macros` | yes | `#[memoize]` and `#[cached]` |
//! | `json` | no | [`Codec::Json`] |
//! | `testing` | no | [`testing`]: the backend conformance suite |

#![cfg_attr(docsrs, feature(doc_cfg))]
#![warn(missing_docs)]

pub mod backend;
mod blocking;
mod cache;
pub mod codec;
mod config;
mod error;
mod flight;
pub mod key;
mod memo;
mod runtime;
#[cfg(feature = "testing")]
#[cfg_attr(docsrs, doc(cfg(feature = "testing")))]
pub mod testing;

pub use backend::{Backend, MemoryBackend, NullBackend, Ttl};
pub use blocking::Blocking;
pub use cache::{global, init, Cache, CacheBuilder, Stats, DEFAULT_KEY_PREFIX, DEFAULT_TIMEOUT};
pub use codec::Codec;
pub use error::{Error, ErrorKind, Result};

/// Re-exported so a custom [`Backend`] can be written with only this crate
/// as a dependency.
pub use async_trait::async_trait;
/// Re-exported: [`Backend`] values are [`Bytes`](bytes::Bytes).
pub use bytes;

#[doc(hidden)]
pub mod __private {
    //! Used by the code the macros generate. Not public API.
    pub use crate::memo::*;
    pub use serde;
    pub use std;
    pub use tracing;

    /// Type-checks that key arguments can be serialized, with an error that
    /// points at the argument.
    pub fn assert_key_arg<T: serde::Serialize + ?Sized>(_: &T) {}
}
