//! The error policy: how a store failure is logged (once per outage,
//! rate-limited), counted, absorbed or returned. Every store call goes
//! through [`Cache::observe`] and, on failure, [`Cache::on_error`] with an
//! [`OnError`] policy (or [`Cache::note_error`] where a read becomes a miss).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use crate::error::Chain;
use crate::key::key_for_message;
use crate::{Error, Result};

use super::Cache;

/// Warnings about store errors are at least this far apart.
const WARN_INTERVAL: Duration = Duration::from_secs(30);

/// Lets an event through at most once per [`WARN_INTERVAL`].
#[derive(Default)]
pub(super) struct RateLimit {
    /// Milliseconds since `RateLimit::epoch()` of the last event let
    /// through, plus one (0 = never).
    last: AtomicU64,
}

impl RateLimit {
    fn epoch() -> Instant {
        static EPOCH: OnceLock<Instant> = OnceLock::new();
        *EPOCH.get_or_init(Instant::now)
    }

    pub(super) fn due(&self) -> bool {
        let now = u64::try_from(Self::epoch().elapsed().as_millis()).unwrap_or(u64::MAX) + 1;
        let last = self.last.load(Ordering::Relaxed);
        let interval = u64::try_from(WARN_INTERVAL.as_millis()).unwrap_or(u64::MAX);
        (last == 0 || now.saturating_sub(last) >= interval)
            && self
                .last
                .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
    }
}

/// What a failed store call does, decided per operation rather than by
/// a family of `*_strict` / `*_open` functions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum OnError {
    /// As the cache is configured: returned, or with
    /// [`ignore_errors`](crate::CacheBuilder::ignore_errors) logged, counted
    /// and replaced by the operation's fallback.
    Configured,
    /// Always logged, counted and replaced by the fallback: the cache is
    /// an optimization here (read-through, memoized writes).
    Open,
    /// Always returned: the caller must know (invalidations, counters,
    /// `clear`), whatever `ignore_errors` says.
    Strict,
}

impl Cache {
    /// Records the outcome of a backend call for the outage log policy.
    #[inline]
    pub(super) fn observe<T>(&self, result: &Result<T>) {
        if result.is_ok()
            && self.inner.degraded.load(Ordering::Relaxed)
            && self.inner.degraded.swap(false, Ordering::Relaxed)
            && self.inner.warned.swap(false, Ordering::Relaxed)
        {
            tracing::info!(prefix = %self.inner.prefix, "cache backend is answering again");
        }
    }

    /// Logs and counts an error: at `warn` for the first error of an
    /// outage, at `debug` after that, so a dead store does not flood logs.
    /// A store that fails some calls and answers others (full with
    /// `noeviction`, a read-only replica) starts an "outage" at every
    /// failure: warnings are also spaced by [`WARN_INTERVAL`].
    pub(super) fn note_error(&self, error: &Error, op: &'static str, key: &str) {
        if error.kind() == crate::ErrorKind::CircuitOpen {
            // Counted as a skip; the breaker's opening was logged once.
            self.emit(None, Some(key), crate::observe::Emit::BreakerSkipped { op });
            tracing::trace!(op, key = %key_for_message(key), "store call skipped: circuit breaker open");
            return;
        }
        self.error_event(error, op, key);
        let new_outage = !self.inner.degraded.swap(true, Ordering::Relaxed);
        if new_outage && self.inner.warnings.due() {
            self.inner.warned.store(true, Ordering::Relaxed);
            tracing::warn!(
                op,
                key = %key_for_message(key),
                error = %Chain(error),
                error.type = crate::observe::kind_label(error.kind()),
                "cache backend error; cache calls that fail are skipped while it lasts (further errors are logged at debug level until it recovers)"
            );
        } else {
            tracing::debug!(op, key = %key_for_message(key), error = %Chain(error), error.type = crate::observe::kind_label(error.kind()), "cache backend error");
        }
    }

    /// Applies `policy` to a failed store call: either logs, counts and
    /// returns `fallback`, or counts and returns the error with the
    /// operation and key in its message.
    pub(crate) fn on_error<T>(
        &self,
        policy: OnError,
        error: Error,
        op: &'static str,
        key: &str,
        fallback: T,
    ) -> Result<T> {
        let absorb = match policy {
            OnError::Configured => self.inner.ignore_errors,
            OnError::Open => true,
            OnError::Strict => false,
        };
        if absorb {
            self.note_error(&error, op, key);
            Ok(fallback)
        } else {
            if error.kind() == crate::ErrorKind::CircuitOpen {
                self.emit(None, Some(key), crate::observe::Emit::BreakerSkipped { op });
            } else {
                self.error_event(&error, op, key);
            }
            tracing::debug!(op, key = %key_for_message(key), error = %Chain(&error), error.type = crate::observe::kind_label(error.kind()), "cache backend error returned to the caller");
            Err(error.context(format_args!("{op} `{}`", key_for_message(key))))
        }
    }

    /// Reports a store or codec error to every consumer (statistics by
    /// kind, metrics, listener).
    pub(crate) fn error_event(&self, error: &Error, op: &'static str, key: &str) {
        self.emit(
            None,
            (!key.is_empty()).then_some(key),
            crate::observe::Emit::Error {
                kind: error.kind(),
                op,
            },
        );
    }
}
