//! The spans of cache operations and memoized calls, at `debug` level.
//! Fields are computed only when a subscriber enables the span; the key
//! is recorded only when `trace` is enabled too; values never are.
//!
//! Everything that runs only for an enabled span is out of line: on the
//! hit path with no subscriber at `debug`, a span is one relaxed load of
//! tracing's global level.

use tracing::{Level, Span};

use super::Outcome;

/// A `debug` span named `$name` over `$cache`'s operation, with the
/// fields every cache span has.
macro_rules! span {
    ($cache:expr, $name:literal) => {{
        #[cold]
        #[inline(never)]
        fn make(observer: &$crate::observe::Observer) -> ::tracing::Span {
            ::tracing::debug_span!(
                target: "cache_core",
                $name,
                cache.name = %observer.name,
                cache.store = observer.store,
                cache.function = ::tracing::field::Empty,
                cache.outcome = ::tracing::field::Empty,
                cache.key = ::tracing::field::Empty,
            )
        }
        if ::tracing::level_enabled!(::tracing::Level::DEBUG) {
            make($cache.observer())
        } else {
            ::tracing::Span::none()
        }
    }};
}
pub(crate) use span;

/// The span of one memoized call.
#[inline]
pub(crate) fn call(cache: &crate::Cache, function: &'static str, owner: &'static str) -> Span {
    let span = span!(cache, "cache.call");
    if !span.is_disabled() {
        record_function(&span, owner, function);
    }
    span
}

#[cold]
fn record_function(span: &Span, owner: &'static str, function: &'static str) {
    span.record(
        "cache.function",
        tracing::field::display(Path(owner, function)),
    );
}

/// The span of the computation a miss runs, inside the call's span.
pub(crate) fn compute() -> Span {
    tracing::debug_span!(target: "cache_core", "cache.compute")
}

struct Path(&'static str, &'static str);

impl std::fmt::Display for Path {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}::{}", self.0, self.1)
    }
}

/// Records the key on `span` when `trace` is enabled for this crate.
#[inline]
pub(crate) fn key(span: &Span, key: impl FnOnce() -> String) {
    if !span.is_disabled() {
        record_key(span, key);
    }
}

#[cold]
fn record_key(span: &Span, key: impl FnOnce() -> String) {
    if tracing::enabled!(target: "cache_core", Level::TRACE) {
        span.record(
            "cache.key",
            tracing::field::display(crate::key::key_for_message(&key())),
        );
    }
}

/// Records an outcome on `span`.
#[inline]
pub(crate) fn outcome(span: &Span, outcome: Outcome) {
    if !span.is_disabled() {
        record_outcome(span, outcome_label(outcome));
    }
}

/// Records that the call ended with an error.
pub(crate) fn failed(span: &Span) {
    if !span.is_disabled() {
        record_outcome(span, "error");
    }
}

#[cold]
fn record_outcome(span: &Span, label: &'static str) {
    span.record("cache.outcome", label);
}

/// Records the outcome of a plain read: a hit, a miss or an error.
pub(crate) fn lookup<T>(span: &Span, read: &crate::Result<Option<T>>) {
    match read {
        Ok(Some(_)) => outcome(span, Outcome::Hit),
        Ok(None) => outcome(span, Outcome::Miss),
        Err(_) => failed(span),
    }
}

pub(crate) fn outcome_label(outcome: Outcome) -> &'static str {
    match outcome {
        Outcome::Hit => "hit",
        Outcome::Miss => "miss",
        Outcome::Coalesced => "coalesced",
        Outcome::Stale => "stale",
    }
}
