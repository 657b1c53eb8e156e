//! Tagged writes and `invalidate_tag` (the design is in [`crate::tags`]).

use std::future::Future;
use std::time::Duration;

use bytes::Bytes;

use crate::backend::Ttl;
use crate::key::key_for_message;
use crate::Result;
use tracing::Instrument as _;

use super::{Cache, CacheValue, Coalesce, Looked, OnError, StoreValue};

impl Cache {
    /// The index key of each tag: `<ns>!<tag>` (see
    /// [`key::Namespace`](crate::key::Namespace)).
    pub(crate) fn tag_keys(&self, tags: impl IntoIterator<Item = impl AsRef<str>>) -> Vec<String> {
        tags.into_iter().map(|t| self.tag_key(t.as_ref())).collect()
    }

    /// `<ns>!`: the start of every tag index key of this cache.
    pub(crate) fn tag_prefix(&self) -> &str {
        self.inner.keys.tags()
    }

    fn tag_key(&self, tag: &str) -> String {
        let prefix = self.tag_prefix();
        let mut key = String::with_capacity(prefix.len() + tag.len());
        key.push_str(prefix);
        key.push_str(tag);
        key
    }

    /// Lists `full`, just written in memory, under `tags`.
    pub(super) async fn list_under_tags(
        &self,
        full: &str,
        ttl: Ttl,
        tags: &[String],
    ) -> Result<()> {
        let tags: Vec<&str> = tags.iter().map(String::as_str).collect();
        let result = self.inner.backend.add_to_tags(full, &tags, ttl).await;
        if result.is_err() {
            self.forget_refused(full).await;
        }
        result
    }

    /// Writes encoded bytes and lists them under `tags`. If that fails,
    /// removes what may have been written (best effort), so that no value
    /// is left in the store without the tags it was written with.
    pub(super) async fn write_tagged(
        &self,
        full: &str,
        bytes: Bytes,
        ttl: Ttl,
        tags: &[String],
    ) -> Result<()> {
        let tags: Vec<&str> = tags.iter().map(String::as_str).collect();
        let result = self
            .timed(
                "set",
                self.inner.backend.set_tagged(full, bytes, ttl, &tags),
            )
            .await;
        self.observe(&result);
        if result.is_err() {
            self.forget_refused(full).await;
        }
        result
    }

    /// Stores `value` under `key` for `timeout`, as [`set`](Cache::set),
    /// and lists it under each of `tags`, so that
    /// [`invalidate_tag`](Cache::invalidate_tag) of any of them removes it,
    /// from whichever process shares the store. Tags are any strings; each
    /// cache prefix has its own.
    ///
    /// If the tags cannot be recorded, the value is removed too (a value
    /// that its tags could not reach would outlive their invalidation) and
    /// the error is handled as [`set`](Cache::set)'s. A store that does not
    /// support tags (a custom [`Backend`](crate::Backend) that leaves the
    /// tag methods out) fails with [`ErrorKind::Unsupported`](crate::ErrorKind::Unsupported).
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> cache_core::Result<()> {
    /// let cache = cache_core::Cache::default();
    /// cache.set_with_tags("profile:5", &"Ada", None, &["user:5", "team:2"]).await?;
    /// cache.set_with_tags("avatar:5", &[1u8, 2, 3], None, &["user:5"]).await?;
    /// cache.set_with_tags("team-page:2", &"Team 2", None, &["team:2"]).await?;
    ///
    /// assert_eq!(cache.invalidate_tag("user:5").await?, 2);
    /// assert!(!cache.has("profile:5").await? && !cache.has("avatar:5").await?);
    /// assert!(cache.has("team-page:2").await?);
    /// # Ok(())
    /// # }
    /// ```
    pub async fn set_with_tags<T>(
        &self,
        key: &str,
        value: &T,
        timeout: impl Into<Option<Duration>>,
        tags: impl IntoIterator<Item = impl AsRef<str>>,
    ) -> Result<()>
    where
        T: StoreValue + ?Sized,
    {
        let full = self.full_key(key);
        let ttl = self.ttl(timeout.into());
        let tags = self.tag_keys(tags);
        self.store_full(&full, value, ttl, &tags, OnError::Configured)
            .await
    }

    /// [`get_or_set_with`](Cache::get_or_set_with), storing a computed
    /// value under `tags` as [`set_with_tags`](Cache::set_with_tags) does.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> cache_core::Result<()> {
    /// let cache = cache_core::Cache::default();
    /// let name = cache
    ///     .get_or_set_with_tags("profile:5", None, ["user:5"], || async { "Ada".to_string() })
    ///     .await;
    /// assert_eq!(name, "Ada");
    /// assert_eq!(cache.invalidate_tag("user:5").await?, 1);
    /// # Ok(())
    /// # }
    /// ```
    pub async fn get_or_set_with_tags<T, F, Fut>(
        &self,
        key: &str,
        timeout: impl Into<Option<Duration>>,
        tags: impl IntoIterator<Item = impl AsRef<str>>,
        f: F,
    ) -> T
    where
        T: CacheValue,
        F: FnOnce() -> Fut,
        Fut: Future<Output = T>,
    {
        let computed: Result<T, std::convert::Infallible> = self
            .try_get_or_set_with_tags(key, timeout, tags, || async { Ok(f().await) })
            .await;
        match computed {
            Ok(v) => v,
            Err(never) => match never {},
        }
    }

    /// [`try_get_or_set_with`](Cache::try_get_or_set_with), storing an `Ok`
    /// value under `tags` as [`set_with_tags`](Cache::set_with_tags) does.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> cache_core::Result<()> {
    /// let cache = cache_core::Cache::default();
    /// let r: Result<u32, String> = cache
    ///     .try_get_or_set_with_tags("stock:7", None, ["product:7"], || async { Ok(12) })
    ///     .await;
    /// assert_eq!(r, Ok(12));
    /// cache.invalidate_tag("product:7").await?;
    /// assert!(!cache.has("stock:7").await?);
    /// # Ok(())
    /// # }
    /// ```
    pub async fn try_get_or_set_with_tags<T, E, F, Fut>(
        &self,
        key: &str,
        timeout: impl Into<Option<Duration>>,
        tags: impl IntoIterator<Item = impl AsRef<str>>,
        f: F,
    ) -> Result<T, E>
    where
        T: CacheValue,
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<T, E>>,
    {
        let full = self.full_key(key);
        let ttl = self.ttl(timeout.into());
        let tags = self.tag_keys(tags);
        let span = crate::observe::spans::span!(self, "cache.get_or_set");
        let call = crate::observe::Call::api(span.clone());
        self.compute(
            &full,
            ttl,
            &tags,
            Coalesce::Wait,
            Looked::No,
            &call,
            |_| true,
            f,
        )
        .instrument(span)
        .await
    }

    /// Removes every entry of this cache listed under `tag` (written with
    /// it by [`set_with_tags`](Cache::set_with_tags), the `_with_tags`
    /// read-throughs, or a memoized function's `tags = [...]`), by any
    /// process that shares the store, and nothing else; returns how many
    /// entries were removed. The cost is the number of entries under the
    /// tag, whatever the size of the store (see [`crate::tags`]).
    ///
    /// Every entry written with the tag before this call starts is gone
    /// when it returns. A write that runs concurrently either is removed
    /// or stays listed under the tag for its next invalidation: as for
    /// [`delete`](Cache::delete), a value computed from data older than
    /// the change that prompted the invalidation, and written after it,
    /// survives until its timeout.
    ///
    /// A failure is returned even with `ignore_errors`, as for `delete` in
    /// the generated `<fn>_invalidate` and for `clear`: whoever invalidates
    /// must know that stale entries may still be there. The entries the
    /// store failed to remove are listed under the tag again (if the store
    /// lets us), so calling it again finishes the job.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> cache_core::Result<()> {
    /// let cache = cache_core::Cache::default();
    /// cache.set_with_tags("a", &1u8, None, &["t"]).await?;
    /// cache.set("b", &2u8, None).await?;
    /// assert_eq!(cache.invalidate_tag("t").await?, 1);
    /// assert_eq!(cache.invalidate_tag("t").await?, 0);
    /// assert!(cache.has("b").await?);
    /// # Ok(())
    /// # }
    /// ```
    pub async fn invalidate_tag(&self, tag: &str) -> Result<u64> {
        let index = self.tag_key(tag);
        let taken = self
            .timed("invalidate_tag", self.inner.backend.take_tag(&index))
            .await;
        self.observe(&taken);
        let keys = match taken {
            Ok(keys) => keys,
            Err(e) => return self.on_error(OnError::Strict, e, "invalidate_tag", &index, 0),
        };
        if keys.is_empty() {
            return Ok(0);
        }
        let refs: Vec<&str> = keys.iter().map(String::as_str).collect();
        match self.remove_many_full(&refs).await {
            Ok(n) => Ok(n),
            Err(e) => {
                // The index is gone: list the keys again, so that the
                // entries still there stay reachable by their tag.
                let relisted = relist(self, &refs, &index).await;
                let e = e.context(format_args!(
                    "{} entries taken from the tag, {}",
                    keys.len(),
                    if relisted {
                        "listed under it again for the next invalidation"
                    } else {
                        "and they could not be listed under it again: those still stored live until their timeout"
                    }
                ));
                self.on_error(OnError::Strict, e, "invalidate_tag", &index, 0)
            }
        }
    }
}

/// Lists `keys` under `index` again after their removal failed; whether
/// that worked. Their TTLs are not known here, so the index keeps them
/// until it is taken.
async fn relist(cache: &Cache, keys: &[&str], index: &str) -> bool {
    let mut relisted = true;
    for key in keys {
        if let Err(e) = cache
            .inner
            .backend
            .add_to_tags(key, &[index], Ttl::Never)
            .await
        {
            tracing::debug!(key = %key_for_message(key), tag = %key_for_message(index), error = %e, "could not list a key under its tag again");
            relisted = false;
            break;
        }
    }
    relisted
}
