//! The macros' runtime for functions with resilience options (see
//! [`crate::policy`]): the computation that can outlive the call, and how
//! a hard timeout becomes the function's error.

use std::future::Future;
use std::marker::PhantomData;
use std::sync::Arc;

use tracing::Instrument as _;

use crate::cache::{Coalesce, Report, Seen};
use crate::memo::{key_error, policy_of, Memo, Target, Value};
use crate::{Cache, Error, Result};

/// What a hard timeout with no stale value at hand returns for a function
/// whose error type is `E`: an error made by `E::from` when `E` has
/// `From<cache_core::Error>` ([`FromTimeout`]), none otherwise
/// ([`NoTimeoutError`]: the computation is waited for).
#[derive(Debug)]
pub struct TimeoutProbe<E>(PhantomData<E>);

/// The probe of the computation `f`'s error type.
pub fn timeout_probe<T, E, F, Fut>(f: &F) -> TimeoutProbe<E>
where
    F: FnOnce() -> Fut,
    Fut: Future<Output = std::result::Result<T, E>>,
{
    let _ = f;
    TimeoutProbe(PhantomData)
}

/// The probe of the sync computation `f`'s error type.
pub fn timeout_probe_sync<T, E, F>(f: &F) -> TimeoutProbe<E>
where
    F: FnOnce() -> std::result::Result<T, E>,
{
    let _ = f;
    TimeoutProbe(PhantomData)
}

/// Picked first (`(&probe).on_timeout()`) when `E: From<Error>`.
pub trait FromTimeout<E> {
    /// `Some(E::from)`.
    fn on_timeout(&self) -> Option<fn(Error) -> E>;
}

impl<E: From<Error>> FromTimeout<E> for TimeoutProbe<E> {
    fn on_timeout(&self) -> Option<fn(Error) -> E> {
        Some(E::from)
    }
}

/// Picked otherwise: no error to return, the computation is waited for.
pub trait NoTimeoutError<E> {
    /// `None`.
    fn on_timeout(&self) -> Option<fn(Error) -> E>;
}

impl<E> NoTimeoutError<E> for &TimeoutProbe<E> {
    fn on_timeout(&self) -> Option<fn(Error) -> E> {
        None
    }
}

/// Where a detached call stores, and its policy; `None` (logged) when its
/// key could not be built: the function runs uncached.
fn resolve(
    cache: &Cache,
    memo: &Memo,
    target: Result<impl Into<Target>>,
) -> Option<(Target, crate::Policy, Report)> {
    match target {
        Ok(target) => {
            let report = Report {
                function: Some(cache.observer().functions.of(memo)),
                span: crate::observe::spans::call(cache, memo.name, memo.owner),
            };
            let policy = policy_of(cache, memo, cache.ttl(memo.timeout()));
            Some((target.into(), policy, report))
        }
        Err(e) => {
            key_error(cache, memo, &e);
            None
        }
    }
}

/// A memoized call of an async function with `refresh_ahead`,
/// `stale_while_revalidate` or `soft_timeout`: `f` owns its arguments, so
/// it can run in the background.
pub async fn call_detached<T, E, F, Fut>(
    cache: &Cache,
    memo: &Memo,
    target: Result<impl Into<Target>>,
    store_if: impl Fn(&T) -> bool + Send + Sync + 'static,
    on_timeout: Option<fn(Error) -> E>,
    f: F,
) -> std::result::Result<T, E>
where
    T: Value,
    E: Send + 'static,
    F: FnOnce() -> Fut + Send + 'static,
    Fut: Future<Output = std::result::Result<T, E>> + Send + 'static,
{
    let Some((Target { full, tags, .. }, policy, report)) = resolve(cache, memo, target) else {
        return f().await;
    };
    let span = report.span.clone();
    cache
        .compute_detached(
            full,
            tags,
            policy,
            Coalesce::Wait,
            Seen::Nothing,
            report,
            Arc::new(store_if),
            on_timeout,
            f,
        )
        .instrument(span)
        .await
}

/// [`call_detached`] for a sync function: its background runs are on the
/// blocking threads of the crate's I/O runtime.
pub fn call_detached_sync<T, E, F>(
    cache: &Cache,
    memo: &Memo,
    target: Result<impl Into<Target>>,
    store_if: impl Fn(&T) -> bool + Send + Sync + 'static,
    on_timeout: Option<fn(Error) -> E>,
    f: F,
) -> std::result::Result<T, E>
where
    T: Value,
    E: Send + 'static,
    F: FnOnce() -> std::result::Result<T, E> + Send + 'static,
{
    let Some((Target { full, tags, .. }, policy, report)) = resolve(cache, memo, target) else {
        return f();
    };
    let span = report.span.clone();
    let blocking = move || async move {
        match crate::runtime::io_handle().spawn_blocking(f).await {
            Ok(result) => result,
            Err(e) => std::panic::resume_unwind(e.into_panic()),
        }
    };
    cache.block_on(
        cache
            .compute_detached(
                full,
                tags,
                policy,
                Coalesce::for_blocking_call(),
                Seen::Nothing,
                report,
                Arc::new(store_if),
                on_timeout,
                blocking,
            )
            .instrument(span),
    )
}
