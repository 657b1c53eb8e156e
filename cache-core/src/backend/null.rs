//! A store that stores nothing.

use async_trait::async_trait;
use bytes::Bytes;

use crate::backend::{Backend, Ttl};
use crate::Result;

/// A store that keeps nothing: every read is a miss, every write succeeds
/// and is forgotten. Use it to switch caching off (`null://`) without
/// touching the code that uses the cache; memoized functions then run
/// their body on every call.
///
/// `incr` returns `delta` (as if the counter were new every time),
/// `add` always reports that it stored, and tags are accepted and
/// forgotten like values (invalidating one removes nothing).
///
/// ```
/// # tokio_test_block_on(async {
/// use cache_core::Cache;
///
/// let cache = Cache::from_url("null://")?;
/// cache.set("k", &1u32, None).await?;
/// assert_eq!(cache.get::<u32>("k").await?, None);
/// # Ok::<(), cache_core::Error>(())
/// # });
/// # fn tokio_test_block_on<F: std::future::Future>(f: F) -> F::Output {
/// #     tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(f)
/// # }
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct NullBackend;

#[async_trait]
impl Backend for NullBackend {
    async fn get(&self, _key: &str) -> Result<Option<Bytes>> {
        Ok(None)
    }

    async fn get_many(&self, keys: &[&str]) -> Result<Vec<Option<Bytes>>> {
        Ok(vec![None; keys.len()])
    }

    async fn set(&self, _key: &str, _value: Bytes, _ttl: Ttl) -> Result<()> {
        Ok(())
    }

    async fn set_many(&self, _items: &[(&str, Bytes)], _ttl: Ttl) -> Result<()> {
        Ok(())
    }

    async fn add(&self, _key: &str, _value: Bytes, _ttl: Ttl) -> Result<bool> {
        Ok(true)
    }

    async fn delete_many(&self, _keys: &[&str]) -> Result<u64> {
        Ok(0)
    }

    async fn incr(&self, _key: &str, delta: i64, _ttl: Ttl) -> Result<i64> {
        Ok(delta)
    }

    async fn clear_prefix(&self, _prefix: &str) -> Result<u64> {
        Ok(0)
    }

    async fn set_tagged(&self, _key: &str, _value: Bytes, _ttl: Ttl, _tags: &[&str]) -> Result<()> {
        Ok(())
    }

    async fn add_to_tags(&self, _key: &str, _tags: &[&str], _ttl: Ttl) -> Result<()> {
        Ok(())
    }

    async fn take_tag(&self, _tag: &str) -> Result<Vec<String>> {
        Ok(Vec::new())
    }
}
