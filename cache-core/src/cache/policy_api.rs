//! Read-through calls with a [`Policy`]: the `Cache` API of
//! [`crate::policy`].

use std::future::Future;
use std::sync::Arc;

use crate::{Error, Policy};

use tracing::Instrument as _;

use super::resilient::{Report, Seen};
use super::{Cache, CacheValue, Coalesce};

impl Cache {
    /// [`get_or_set_with`](Cache::get_or_set_with) under `policy` (each
    /// option it leaves unset comes from the cache's default policy): a
    /// fresh value, or `f`'s, computed once per key (across processes with
    /// [`Lock::Distributed`](crate::Lock::Distributed)), with the stale
    /// value served in the fail-safe window when `f` takes longer than the
    /// soft or hard timeout, refreshed ahead of expiry, or served while
    /// revalidating (see [`crate::policy`]). `f` is `'static` so that it
    /// can finish in the background.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> cache_core::Result<()> {
    /// use std::time::Duration;
    /// use cache_core::{Cache, Policy};
    ///
    /// let cache = Cache::default();
    /// let policy = Policy::new()
    ///     .timeout(Duration::from_secs(60))
    ///     .refresh_ahead(0.8)
    ///     .fail_safe(Duration::from_secs(3600));
    /// let rates = cache.get_or_set_with_policy("rates", &policy, || async { vec![1.1f64, 0.9] }).await;
    /// assert_eq!(rates, vec![1.1, 0.9]);
    /// # Ok(())
    /// # }
    /// ```
    pub async fn get_or_set_with_policy<T, F, Fut>(&self, key: &str, policy: &Policy, f: F) -> T
    where
        T: CacheValue,
        F: FnOnce() -> Fut + Send + 'static,
        Fut: Future<Output = T> + Send + 'static,
    {
        let computed: Result<T, std::convert::Infallible> = self
            .run_policy(key, policy, None, || async move { Ok(f().await) })
            .await;
        match computed {
            Ok(v) => v,
            Err(never) => match never {},
        }
    }

    /// [`get_or_set_with_policy`](Cache::get_or_set_with_policy) for a
    /// fallible computation: only `Ok` values are stored. With fail-safe,
    /// an `Err` is replaced by the stale value when there is one; a hard
    /// timeout with no stale value returns an
    /// [`ErrorKind::Timeout`](crate::ErrorKind::Timeout) error converted
    /// with `E::from`.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> cache_core::Result<()> {
    /// use std::time::Duration;
    /// use cache_core::{Cache, Policy};
    ///
    /// let cache = Cache::default();
    /// let policy = Policy::new().hard_timeout(Duration::from_millis(10));
    /// let slow = cache
    ///     .try_get_or_set_with_policy("slow", &policy, || async {
    ///         tokio::time::sleep(Duration::from_secs(5)).await;
    ///         Ok::<u32, cache_core::Error>(1)
    ///     })
    ///     .await;
    /// assert_eq!(slow.unwrap_err().kind(), cache_core::ErrorKind::Timeout);
    /// # Ok(())
    /// # }
    /// ```
    pub async fn try_get_or_set_with_policy<T, E, F, Fut>(
        &self,
        key: &str,
        policy: &Policy,
        f: F,
    ) -> Result<T, E>
    where
        T: CacheValue,
        E: From<Error> + Send + 'static,
        F: FnOnce() -> Fut + Send + 'static,
        Fut: Future<Output = Result<T, E>> + Send + 'static,
    {
        self.run_policy(key, policy, Some(E::from), f).await
    }

    async fn run_policy<T, E, F, Fut>(
        &self,
        key: &str,
        policy: &Policy,
        on_timeout: super::resilient::OnTimeout<E>,
        f: F,
    ) -> Result<T, E>
    where
        T: CacheValue,
        E: Send + 'static,
        F: FnOnce() -> Fut + Send + 'static,
        Fut: Future<Output = Result<T, E>> + Send + 'static,
    {
        let policy = self.resolve(Some(policy));
        let full = self.full_key(key);
        let span = crate::observe::spans::span!(self, "cache.get_or_set");
        let report = Report {
            function: None,
            span: span.clone(),
        };
        self.compute_detached(
            full,
            Vec::new(),
            policy,
            Coalesce::Wait,
            Seen::Nothing,
            report,
            Arc::new(|_: &T| true),
            on_timeout,
            f,
        )
        .instrument(span)
        .await
    }
}
