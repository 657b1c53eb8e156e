//! A store that is down: for tests of what a cache, or code built on one,
//! does when its store fails.

use async_trait::async_trait;
use bytes::Bytes;

use crate::{Backend, Error, ErrorKind, Result, Ttl};

/// Every operation fails with a [`ErrorKind::Connection`] error naming
/// `127.0.0.1:1`, as a dead server would.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let cache = cache_core::Cache::new(cache_core::testing::DownBackend);
/// assert!(cache.ping().await.is_err());
/// # }
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct DownBackend;

fn down() -> Error {
    Error::new(
        ErrorKind::Connection,
        "cannot connect to 127.0.0.1:1: connection refused",
    )
}

#[async_trait]
impl Backend for DownBackend {
    async fn get(&self, _: &str) -> Result<Option<Bytes>> {
        Err(down())
    }
    async fn set(&self, _: &str, _: Bytes, _: Ttl) -> Result<()> {
        Err(down())
    }
    async fn add(&self, _: &str, _: Bytes, _: Ttl) -> Result<bool> {
        Err(down())
    }
    async fn delete_many(&self, _: &[&str]) -> Result<u64> {
        Err(down())
    }
    async fn incr(&self, _: &str, _: i64, _: Ttl) -> Result<i64> {
        Err(down())
    }
    async fn clear_prefix(&self, _: &str) -> Result<u64> {
        Err(down())
    }
    async fn ping(&self) -> Result<()> {
        Err(down())
    }
    async fn add_to_tags(&self, _: &str, _: &[&str], _: Ttl) -> Result<()> {
        Err(down())
    }
    async fn take_tag(&self, _: &str) -> Result<Vec<String>> {
        Err(down())
    }
}
