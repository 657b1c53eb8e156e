//! The runtime the `#[memoize]` and `#[cached]` macros call. Hidden from
//! the docs (`cache_core::__private`); its API is not stable and may change
//! with any release of the macros, which pin this crate exactly.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use tracing::Instrument as _;

use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::cache::{Coalesce, Looked, OnError};
use crate::key::{self, EncodedArgs, KeyOut};
use crate::observe::{Call, Function};
pub use crate::template::{padded_value, template_value, PaddedValue, Template, TemplateValue};

mod lookup;

use crate::{Cache, Result};
pub(crate) use lookup::key_error;
use lookup::render_tags;
pub use lookup::{lookup, lookup_tagged, Lookup};

/// The fixed facts of one memoized function, built by the macros at each
/// call (it is a handful of constants, so that costs nothing).
#[derive(Debug)]
pub struct Memo {
    /// Where the function lives: `module_path!()` for free functions,
    /// `std::any::type_name::<Self>()` for methods and associated functions.
    pub owner: &'static str,
    /// The function's name.
    pub name: &'static str,
    /// `<owner>::<name>:<version>:` when the macro could build it at compile
    /// time (free functions with a literal version).
    pub prefix: Option<&'static str>,
    /// The `version = N` option (default 1): bump it to orphan old entries.
    pub version: u32,
    /// The `timeout = N` option in seconds; `None` uses the cache's default.
    pub timeout: Option<u64>,
    /// The resilience options (`fail_safe = …`, `hard_timeout = …`,
    /// `lock = distributed`, …); `None` uses the cache's default policy.
    pub policy: Option<&'static crate::Policy>,
}

impl Memo {
    pub(crate) fn timeout(&self) -> Option<Duration> {
        self.timeout.map(Duration::from_secs)
    }

    /// Writes `<owner>::<name>:<version>:` to `out`.
    #[inline]
    fn write_prefix(&self, out: &mut impl KeyOut) {
        if let Some(prefix) = self.prefix {
            out.push_str(prefix);
            return;
        }
        out.push_str(self.owner);
        out.push_str("::");
        key::write_function_prefix_to(out, self.name, self.version);
    }
}

/// What a memoized function stores: the bounds of a cached value, named
/// once so that a missing one is reported with a message that says what a
/// cached value needs (on the function's return type, where the macros
/// point it).
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be stored in the cache",
    label = "the value this function caches",
    note = "a memoized function's value (for `Result` the `Ok` type, for `Option` the `Some` type) must be `Serialize + DeserializeOwned + Clone + Send + Sync + 'static`"
)]
pub trait Value: Serialize + DeserializeOwned + Clone + Send + Sync + 'static {}

impl<T: Serialize + DeserializeOwned + Clone + Send + Sync + 'static> Value for T {}

/// A return type named `Response`: storable only if it is a value (an
/// API's response type, say), not an HTTP response. Checked by the macros
/// with this message, on the return type.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be stored in the cache: an HTTP response is not a cached value",
    label = "the value this function caches",
    note = "memoize the function that computes the data and build the response from its value in the handler (a `Json<T>` return type is fine: the `T` is cached), or cache whole responses with the HTTP layer `cache_core::http::CacheLayer` (feature `tower`)"
)]
pub trait ResponseValue: Value {}

impl<T: Value> ResponseValue for T {}

/// Type-checks a return type named `Response` (see [`ResponseValue`]).
#[inline(always)]
pub fn assert_response_value<T: ResponseValue>() {}

/// How the macros describe one call's key: the part after `<path>:<version>:`.
pub trait KeyArgs {
    /// Appends the argument part of the key.
    #[doc(hidden)]
    #[expect(
        private_bounds,
        reason = "KeyOut is the crate-private key writer; macros never name it"
    )]
    fn write(&self, out: &mut impl KeyOut) -> Result<()>;

    /// Encodes the arguments into `out`, for keys written as `<args>` hex
    /// (`None` for other keys, such as templates).
    #[doc(hidden)]
    #[expect(
        private_interfaces,
        reason = "EncodedArgs is the crate-private encoding; macros never name it"
    )]
    fn encode(&self, out: &mut EncodedArgs) -> Option<Result<()>> {
        let _ = out;
        None
    }
}

/// Key arguments identified by their serde encoding (see [`crate::key`]).
#[derive(Debug)]
pub struct Hashed<'a, A: ?Sized>(pub &'a A);

#[expect(
    private_bounds,
    reason = "KeyOut is the crate-private key writer; macros never name it"
)]
impl<A: Serialize + ?Sized> KeyArgs for Hashed<'_, A> {
    #[inline]
    fn write(&self, out: &mut impl KeyOut) -> Result<()> {
        key::write_args_to(out, self.0)
    }

    #[inline]
    #[expect(
        private_interfaces,
        reason = "EncodedArgs is the crate-private encoding; macros never name it"
    )]
    fn encode(&self, out: &mut EncodedArgs) -> Option<Result<()>> {
        Some(out.encode(self.0))
    }
}

/// Marks a `None` result that must not be stored (`Option` returns
/// without `cache_none`).
#[derive(Debug, Clone, Copy)]
pub struct NotCached;

/// Where one call's value is stored: its full key and, for a function
/// with `tags = [...]`, the full index keys of its rendered tags; and what
/// the call reports its outcome to.
pub struct Target {
    pub(crate) full: String,
    pub(crate) tags: Vec<String>,
    pub(crate) function: Option<Arc<Function>>,
    pub(crate) span: tracing::Span,
}

impl std::fmt::Debug for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Target")
            .field("full", &self.full)
            .field("tags", &self.tags)
            .finish_non_exhaustive()
    }
}

impl From<String> for Target {
    /// The target of a function without tags.
    fn from(full: String) -> Self {
        Self {
            full,
            tags: Vec::new(),
            function: None,
            span: tracing::Span::none(),
        }
    }
}

impl Target {
    fn of_call(full: String, function: Arc<Function>, span: tracing::Span) -> Self {
        Self {
            full,
            tags: Vec::new(),
            function: Some(function),
            span,
        }
    }
}

/// The full key (prefix included) of one call.
pub fn full_key(cache: &Cache, memo: &Memo, args: &impl KeyArgs) -> Result<String> {
    let mut full =
        String::with_capacity(cache.memo_prefix().len() + memo.owner.len() + memo.name.len() + 24);
    full.push_str(cache.memo_prefix());
    memo.write_prefix(&mut full);
    args.write(&mut full)?;
    Ok(full)
}

/// [`full_key`] with the call's rendered `tags = [...]`: for
/// `<fn>_refresh`, which stores under them.
pub fn tagged_key(
    cache: &Cache,
    memo: &Memo,
    args: &impl KeyArgs,
    tags: &[Template<'_>],
) -> Result<Target> {
    Ok(Target {
        full: full_key(cache, memo, args)?,
        tags: render_tags(cache, tags)?,
        function: None,
        span: tracing::Span::none(),
    })
}

/// A memoized call of a sync function: returns the cached `Ok` value or
/// runs `f`, storing its `Ok` value when `store_if` agrees. Never fails
/// because of the cache.
pub fn call_sync<T, E>(
    cache: &Cache,
    memo: &Memo,
    lookup: Lookup<T>,
    store_if: impl Fn(&T) -> bool,
    on_timeout: Option<fn(crate::Error) -> E>,
    f: impl FnOnce() -> Result<T, E>,
) -> Result<T, E>
where
    T: Value,
{
    let (target, looked) = match lookup {
        Lookup::Hit(v) => return Ok(v),
        Lookup::Miss(Ok(target)) => (*target, Looked::No),
        Lookup::Missed(target) => (*target, Looked::Missed),
        Lookup::Miss(Err(e)) => {
            key_error(cache, memo, &e);
            return f();
        }
    };
    let ttl = cache.ttl(memo.timeout());
    let coalesce = Coalesce::for_blocking_call();
    let Target {
        full,
        tags,
        function,
        span,
    } = &target;
    let call = Call::new(function.as_deref(), span.clone());
    if memo.policy.is_some() {
        let policy = policy_of(cache, memo, ttl);
        return cache.block_on(
            cache
                .compute_policy(
                    full,
                    tags,
                    &policy,
                    coalesce,
                    crate::cache::Seen::Nothing,
                    &call,
                    store_if,
                    on_timeout,
                    || async { f() },
                )
                .instrument(span.clone()),
        );
    }
    cache.block_on(
        cache
            .compute(
                full,
                ttl,
                tags,
                coalesce,
                looked,
                &call,
                store_if,
                || async { f() },
            )
            .instrument(span.clone()),
    )
}

/// A function's policy with the cache's defaults, and its timeout.
pub(crate) fn policy_of(cache: &Cache, memo: &Memo, ttl: crate::Ttl) -> crate::Policy {
    let policy = cache.resolve(memo.policy);
    policy.with_ttl(ttl)
}

/// A memoized call of an async function; see [`call_sync`].
pub async fn call_async<T, E, Fut>(
    cache: &Cache,
    memo: &Memo,
    lookup: Lookup<T>,
    store_if: impl Fn(&T) -> bool,
    on_timeout: Option<fn(crate::Error) -> E>,
    f: impl FnOnce() -> Fut,
) -> Result<T, E>
where
    T: Value,
    Fut: Future<Output = Result<T, E>>,
{
    let (
        Target {
            full,
            tags,
            function,
            span,
        },
        looked,
    ) = match lookup {
        Lookup::Hit(v) => return Ok(v),
        Lookup::Miss(Ok(target)) => (*target, Looked::No),
        Lookup::Missed(target) => (*target, Looked::Missed),
        Lookup::Miss(Err(e)) => {
            key_error(cache, memo, &e);
            return f().await;
        }
    };
    let ttl = cache.ttl(memo.timeout());
    let call = Call::new(function.as_deref(), span.clone());
    if memo.policy.is_some() {
        let policy = policy_of(cache, memo, ttl);
        return cache
            .compute_policy(
                &full,
                &tags,
                &policy,
                Coalesce::Wait,
                crate::cache::Seen::Nothing,
                &call,
                store_if,
                on_timeout,
                f,
            )
            .instrument(span)
            .await;
    }
    cache
        .compute(
            &full,
            ttl,
            &tags,
            Coalesce::Wait,
            looked,
            &call,
            store_if,
            f,
        )
        .instrument(span)
        .await
}

/// Runs `f` and stores its `Ok` value (when `store_if` agrees), replacing
/// the cached entry: the `<fn>_refresh` helper of a sync function.
/// `full` is [`full_key`] (or [`tagged_key`]) of the call, built before
/// `f` takes the arguments.
pub fn refresh_sync<T, E>(
    cache: &Cache,
    memo: &Memo,
    full: Result<impl Into<Target>>,
    store_if: impl Fn(&T) -> bool,
    f: impl FnOnce() -> Result<T, E>,
) -> Result<T, E>
where
    T: Value,
{
    let value = f()?;
    if store_if(&value) {
        match full.map(Into::into) {
            Ok(Target { full, tags, .. }) => {
                cache
                    .block_on(cache.store_full(
                        &full,
                        &value,
                        cache.ttl(memo.timeout()),
                        &tags,
                        OnError::Open,
                    ))
                    .ok();
            }
            Err(e) => key_error(cache, memo, &e),
        }
    }
    Ok(value)
}

/// The `<fn>_refresh` helper of an async function; see [`refresh_sync`].
pub async fn refresh_async<T, E, Fut>(
    cache: &Cache,
    memo: &Memo,
    full: Result<impl Into<Target>>,
    store_if: impl Fn(&T) -> bool,
    f: impl FnOnce() -> Fut,
) -> Result<T, E>
where
    T: Value,
    Fut: Future<Output = Result<T, E>>,
{
    let value = f().await?;
    if store_if(&value) {
        match full.map(Into::into) {
            Ok(Target { full, tags, .. }) => {
                let ttl = cache.ttl(memo.timeout());
                cache
                    .store_full(&full, &value, ttl, &tags, OnError::Open)
                    .await
                    .ok();
            }
            Err(e) => key_error(cache, memo, &e),
        }
    }
    Ok(value)
}

/// Removes the entry for one argument list: `<fn>_invalidate` (async).
/// `full` is [`full_key`] of the call, built before the first `.await` so
/// that the future holds no reference to the arguments. Returns whether
/// there was an entry. Errors are returned (not absorbed) so a caller who
/// must know the entry is gone can check.
pub async fn invalidate_async(cache: &Cache, full: Result<String>) -> Result<bool> {
    cache.delete_full(&full?, OnError::Strict).await
}

/// `<fn>_invalidate` for a sync function.
pub fn invalidate_sync(cache: &Cache, full: Result<String>) -> Result<bool> {
    cache.block_on(cache.delete_full(&full?, OnError::Strict))
}

/// What the stubs of `<fn>_invalidate` and `<fn>_invalidate_all` return:
/// the macros emit them next to an attribute with a compile error, so they
/// never run; they keep the helpers' call sites free of follow-on errors.
pub fn not_generated() -> crate::Error {
    crate::Error::new(
        crate::ErrorKind::Config,
        "this helper was not generated: its #[memoize] or #[cached] attribute has a compile error",
    )
}

/// Removes every entry of the function (all argument lists, written by any
/// process sharing the store): `<fn>_invalidate_all` (async). Returns how
/// many were removed.
pub async fn invalidate_all_async(cache: &Cache, memo: &Memo) -> Result<u64> {
    let mut prefix = String::from(cache.memo_prefix());
    memo.write_prefix(&mut prefix);
    cache.clear_full_prefix(&prefix).await
}

/// The statistics of the function in `cache`: `<fn>_stats`. Zero until
/// the function ran with that cache.
pub fn function_stats(cache: &Cache, memo: &Memo) -> crate::Stats {
    cache
        .observer()
        .functions
        .find(memo)
        .map(|f| f.stats.snapshot())
        .unwrap_or_default()
}

/// `<fn>_invalidate_all` for a sync function.
pub fn invalidate_all_sync(cache: &Cache, memo: &Memo) -> Result<u64> {
    cache.block_on(invalidate_all_async(cache, memo))
}
