//! The conformance kit itself: it rejects a store that breaks a rule the
//! `Backend` docs say it checks. Here a store whose `add` is a `get` then a
//! `set`, correct one call at a time but not atomic, and one whose
//! `take_tag` reads the index, then removes it in a second step.

use std::sync::Arc;

use cache_core::bytes::Bytes;
use cache_core::{async_trait, testing, Backend, MemoryBackend, Result, Ttl};

/// A memory store whose `add` reads, yields, then writes: two concurrent
/// adds of an absent key both see it absent and both report storing.
struct CheckThenSet(MemoryBackend);

#[async_trait]
impl Backend for CheckThenSet {
    async fn get(&self, key: &str) -> Result<Option<Bytes>> {
        self.0.get(key).await
    }
    async fn set(&self, key: &str, value: Bytes, ttl: Ttl) -> Result<()> {
        self.0.set(key, value, ttl).await
    }
    async fn add(&self, key: &str, value: Bytes, ttl: Ttl) -> Result<bool> {
        if self.0.get(key).await?.is_some() {
            return Ok(false);
        }
        tokio::task::yield_now().await;
        self.0.set(key, value, ttl).await?;
        Ok(true)
    }
    async fn delete_many(&self, keys: &[&str]) -> Result<u64> {
        self.0.delete_many(keys).await
    }
    async fn incr(&self, key: &str, delta: i64, ttl: Ttl) -> Result<i64> {
        self.0.incr(key, delta, ttl).await
    }
    async fn clear_prefix(&self, prefix: &str) -> Result<u64> {
        self.0.clear_prefix(prefix).await
    }
}

/// Runs the kit on `backend` and returns its panic message, if it panicked.
async fn verdict(backend: Arc<dyn Backend>) -> Option<String> {
    let outcome = tokio::spawn(testing::conformance(backend)).await;
    let panic = outcome.err()?.into_panic();
    Some(
        panic
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| panic.downcast_ref::<&str>().map(|s| (*s).to_owned()))
            .unwrap_or_default(),
    )
}

/// The kit's verdict on a store whose `add` checks, then sets.
async fn rejects_check_then_set() {
    let message = verdict(Arc::new(CheckThenSet(MemoryBackend::new())))
        .await
        .expect("the kit must reject a non-atomic add");
    assert!(
        message.contains("add must be atomic"),
        "rejected for the wrong rule: {message}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_kit_rejects_an_add_that_checks_then_sets() {
    rejects_check_then_set().await;
}

#[tokio::test(flavor = "current_thread")]
async fn the_kit_rejects_an_add_that_checks_then_sets_on_a_current_thread_runtime() {
    rejects_check_then_set().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_kit_accepts_the_same_store_with_its_own_atomic_add() {
    assert_eq!(verdict(Arc::new(MemoryBackend::new())).await, None);
}

/// A memory store whose `take_tag` returns the index, yields, then takes
/// it again and drops what that finds: keys listed in between are lost.
struct TakeThenClear(MemoryBackend);

#[async_trait]
impl Backend for TakeThenClear {
    async fn get(&self, key: &str) -> Result<Option<Bytes>> {
        self.0.get(key).await
    }
    async fn set(&self, key: &str, value: Bytes, ttl: Ttl) -> Result<()> {
        self.0.set(key, value, ttl).await
    }
    async fn add(&self, key: &str, value: Bytes, ttl: Ttl) -> Result<bool> {
        self.0.add(key, value, ttl).await
    }
    async fn delete_many(&self, keys: &[&str]) -> Result<u64> {
        self.0.delete_many(keys).await
    }
    async fn incr(&self, key: &str, delta: i64, ttl: Ttl) -> Result<i64> {
        self.0.incr(key, delta, ttl).await
    }
    async fn clear_prefix(&self, prefix: &str) -> Result<u64> {
        self.0.clear_prefix(prefix).await
    }
    async fn add_to_tags(&self, key: &str, tags: &[&str], ttl: Ttl) -> Result<()> {
        self.0.add_to_tags(key, tags, ttl).await
    }
    async fn take_tag(&self, tag: &str) -> Result<Vec<String>> {
        let keys = self.0.take_tag(tag).await?;
        for _ in 0..10 {
            tokio::task::yield_now().await;
        }
        self.0.take_tag(tag).await?;
        Ok(keys)
    }
}

/// The tag kit's verdict on `backend`: its panic message, if it panicked.
async fn tag_verdict(backend: Arc<dyn Backend>) -> Option<String> {
    let outcome = tokio::spawn(testing::tag_conformance(backend)).await;
    let panic = outcome.err()?.into_panic();
    Some(
        panic
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| panic.downcast_ref::<&str>().map(|s| (*s).to_owned()))
            .unwrap_or_default(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_tag_kit_rejects_a_take_in_two_steps_and_accepts_the_memory_store() {
    let message = tag_verdict(Arc::new(TakeThenClear(MemoryBackend::new())))
        .await
        .expect("the kit must reject a take that loses keys listed meanwhile");
    assert!(
        message.contains("takes racing with writers"),
        "rejected for the wrong rule: {message}"
    );
    assert_eq!(tag_verdict(Arc::new(MemoryBackend::new())).await, None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_tag_kit_rejects_a_store_without_tags_by_name() {
    let message = tag_verdict(Arc::new(CheckThenSet(MemoryBackend::new())))
        .await
        .expect("a store without tags fails the tag kit");
    assert!(message.contains("unsupported"), "{message}");
}
