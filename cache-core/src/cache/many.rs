//! The batch operations of [`Cache`] and `clear`.

use std::time::Duration;

use crate::key::key_for_message;
use crate::{Error, Result};

use super::{Cache, CacheValue, KeyValue, OnError, StoreValue};

/// How messages name a batch: its size and first key.
fn batch(full: &[String]) -> String {
    format!(
        "{} keys starting with `{}`",
        full.len(),
        full.first().map_or("", String::as_str)
    )
}

impl Cache {
    /// The full keys of `keys`, in order.
    fn full_keys(&self, keys: impl IntoIterator<Item = impl AsRef<str>>) -> Vec<String> {
        keys.into_iter()
            .map(|k| self.full_key(k.as_ref()))
            .collect()
    }

    /// Returns the values under `keys`, in the same order, in one round
    /// trip on remote stores.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> cache_core::Result<()> {
    /// let cache = cache_core::Cache::default();
    /// cache.set("a", &1u32, None).await?;
    /// assert_eq!(cache.get_many::<u32>(&["a", "b"]).await?, vec![Some(1), None]);
    /// # Ok(())
    /// # }
    /// ```
    pub async fn get_many<T>(
        &self,
        keys: impl IntoIterator<Item = impl AsRef<str>>,
    ) -> Result<Vec<Option<T>>>
    where
        T: CacheValue,
    {
        let full = self.full_keys(keys);
        if let Some(local) = &self.inner.local {
            return Ok(full
                .iter()
                .map(|k| {
                    let mut buf = crate::local::TailBuf::new();
                    self.read_local::<T>(local, &crate::local::ident::parse(k, &mut buf))
                })
                .collect());
        }
        let refs: Vec<&str> = full.iter().map(String::as_str).collect();
        let result = self
            .timed("get_many", self.inner.backend.get_many(&refs))
            .await;
        self.observe(&result);
        match result {
            Ok(values) => Ok(values
                .iter()
                .zip(&full)
                .map(|(bytes, key)| self.decode_counted(key, bytes.as_deref()))
                .collect()),
            Err(e) => {
                let fallback = vec![None; full.len()];
                self.on_error(OnError::Configured, e, "get_many", &batch(&full), fallback)
            }
        }
    }

    /// Stores every `(key, value)` pair with one timeout, in one round trip
    /// on remote stores.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> cache_core::Result<()> {
    /// let cache = cache_core::Cache::default();
    /// cache.set_many(&[("a", 1u32), ("b", 2)], None).await?;
    /// assert_eq!(cache.get::<u32>("b").await?, Some(2));
    /// # Ok(())
    /// # }
    /// ```
    pub async fn set_many<T>(
        &self,
        items: impl IntoIterator<Item = impl KeyValue<T>>,
        timeout: impl Into<Option<Duration>>,
    ) -> Result<()>
    where
        T: StoreValue + ?Sized,
    {
        let ttl = self.ttl(timeout.into());
        let items: Vec<_> = items.into_iter().collect();
        let full = self.full_keys(items.iter().map(KeyValue::key));
        if let Some(local) = &self.inner.local {
            for (item, key) in items.iter().zip(&full) {
                if let Err(e) = local.insert(key, item.value(), &self.inner.format, ttl) {
                    return self.on_error(OnError::Configured, e, "set", key, ());
                }
            }
            self.emit(None, None, crate::observe::Emit::Set(items.len() as u64));
            return Ok(());
        }
        let mut encoded = Vec::with_capacity(items.len());
        for (item, key) in items.iter().zip(&full) {
            match self.inner.format.encode(key, item.value()) {
                Ok(bytes) => encoded.push((key.as_str(), bytes)),
                Err(e) => {
                    self.forget_refused(key).await;
                    return self.on_error(OnError::Configured, e, "set_many", key, ());
                }
            }
        }
        let result = self
            .timed("set_many", self.inner.backend.set_many(&encoded, ttl))
            .await;
        for (key, _) in &encoded {
            self.near_forget(key);
        }
        self.observe(&result);
        match result {
            Ok(()) => {
                self.emit(None, None, crate::observe::Emit::Set(items.len() as u64));
                Ok(())
            }
            Err(e) => self.on_error(OnError::Configured, e, "set_many", &batch(&full), ()),
        }
    }

    /// Removes `keys`; returns how many held a live value.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> cache_core::Result<()> {
    /// let cache = cache_core::Cache::default();
    /// cache.set("a", &1u32, None).await?;
    /// assert_eq!(cache.delete_many(&["a", "b"]).await?, 1);
    /// # Ok(())
    /// # }
    /// ```
    pub async fn delete_many(
        &self,
        keys: impl IntoIterator<Item = impl AsRef<str>>,
    ) -> Result<u64> {
        let full = self.full_keys(keys);
        let refs: Vec<&str> = full.iter().map(String::as_str).collect();
        match self.remove_many_full(&refs).await {
            Ok(n) => Ok(n),
            Err(e) => self.on_error(OnError::Configured, e, "delete_many", &batch(&full), 0),
        }
    }

    /// Removes every key of this cache's namespace, and nothing else:
    /// its entries and its tag indexes; returns how many keys were removed
    /// (entries and tag indexes). On Redis this is one pass of
    /// `SCAN MATCH <ns>[|#!]*` (see [`key::Namespace`](crate::key::Namespace))
    /// and `UNLINK`, never `FLUSHDB`.
    ///
    /// A failure is returned even with `ignore_errors`: whoever clears must
    /// know that stale entries may still be there.
    ///
    /// A cache with an empty prefix over a shared store refuses to clear:
    /// its namespace is every key that starts with `|`, `#` or `!`, which other
    /// programs may well use. The memory store is not shared, so it clears.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> cache_core::Result<()> {
    /// let cache = cache_core::Cache::default();
    /// cache.set("a", &1u8, None).await?;
    /// assert_eq!(cache.clear().await?, 1);
    /// # Ok(())
    /// # }
    /// ```
    pub async fn clear(&self) -> Result<u64> {
        if self.inner.prefix.is_empty() && !self.is_local() {
            return Err(Error::config(
                "clear() needs a key prefix: with an empty prefix it would remove every key starting with `|`, `#` or `!` in the store, including keys this cache may not have written",
            ));
        }
        let keys = &self.inner.keys;
        self.clear_full_prefixes(&[keys.plain(), keys.memoized(), keys.tags()])
            .await
    }

    pub(crate) async fn clear_full_prefix(&self, prefix: &str) -> Result<u64> {
        self.clear_full_prefixes(&[prefix]).await
    }

    async fn clear_full_prefixes(&self, prefixes: &[&str]) -> Result<u64> {
        let result = self
            .timed("clear", self.inner.backend.clear_prefixes(prefixes))
            .await;
        self.near_flush();
        self.observe(&result);
        match result {
            Ok(n) => {
                self.emit(None, None, crate::observe::Emit::Deleted(n));
                Ok(n)
            }
            Err(e) => {
                // Reported whatever the error policy: a caller who clears
                // must know the stale entries are still there.
                self.error_event(&e, "clear", "");
                let shown: Vec<String> = prefixes
                    .iter()
                    .map(|p| format!("`{}*`", key_for_message(p)))
                    .collect();
                Err(e.context(format_args!("clear {}", shown.join(" and "))))
            }
        }
    }
}
