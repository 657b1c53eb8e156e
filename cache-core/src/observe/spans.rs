//! The spans of cache operations and memoized calls, at `debug` level.
//! Fields are computed only when a subscriber enables the span; the key
//! is recorded only when `trace` is enabled too; values never are.

use tracing::{Level, Span};

use super::Outcome;

/// A `debug` span named `$name` over `$cache`'s operation, with the
/// fields every cache span has.
macro_rules! span {
    ($cache:expr, $name:literal) => {
        ::tracing::debug_span!(
            target: "cache_core",
            $name,
            cache.name = %$cache.observer().name,
            cache.store = $cache.observer().store,
            cache.function = ::tracing::field::Empty,
            cache.outcome = ::tracing::field::Empty,
            cache.key = ::tracing::field::Empty,
        )
    };
}
pub(crate) use span;

/// The span of one memoized call.
#[inline]
pub(crate) fn call(cache: &crate::Cache, function: &'static str, owner: &'static str) -> Span {
    let span = span!(cache, "cache.call");
    if !span.is_disabled() {
        span.record(
            "cache.function",
            tracing::field::display(Path(owner, function)),
        );
    }
    span
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
    if !span.is_disabled() && tracing::enabled!(target: "cache_core", Level::TRACE) {
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
        span.record("cache.outcome", outcome_label(outcome));
    }
}

/// Records the outcome of a plain read: a hit, a miss or an error.
pub(crate) fn lookup<T>(span: &Span, read: &crate::Result<Option<T>>) {
    match read {
        Ok(Some(_)) => outcome(span, Outcome::Hit),
        Ok(None) => outcome(span, Outcome::Miss),
        Err(_) => failed(span),
    }
}

/// Records that the call ended with an error.
pub(crate) fn failed(span: &Span) {
    if !span.is_disabled() {
        span.record("cache.outcome", "error");
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
