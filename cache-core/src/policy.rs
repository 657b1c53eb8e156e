//! What a read-through call does when things go wrong: fail-safe stale
//! values, refresh ahead of expiry, stale-while-revalidate, computation
//! timeouts and single-flight across processes.
//!
//! A [`Policy`] is set as the cache's default
//! ([`CacheBuilder::policy`](crate::CacheBuilder::policy)), per memoized
//! function (`#[memoize(timeout = 60, fail_safe = 3600, refresh_ahead = 0.8)]`)
//! and per call ([`Cache::get_or_set_with_policy`](crate::Cache::get_or_set_with_policy));
//! each option left unset falls back to the next level. The engine applies
//! it the same way for the macros and for the `Cache` API.
//!
//! | option | Flask-Caching | FusionCache | what the caller sees |
//! |---|---|---|---|
//! | `timeout` | `timeout` | `Duration` | a fresh value for this long |
//! | `fail_safe` | — | `IsFailSafeEnabled`, `FailSafeMaxDuration` | the last good value, for this long past its timeout, when the computation fails or times out |
//! | `fail_safe_throttle` | — | `FailSafeThrottleDuration` | after a failure, the stale value is served as fresh for this long before the next attempt |
//! | `refresh_ahead` | — | `EagerRefreshThreshold` | the current value while one background computation replaces it, once this fraction of the timeout has passed |
//! | `stale_while_revalidate` | — | (fail-safe + soft timeout 0) | an expired value, for this long past its timeout, at once, while one background computation replaces it |
//! | `soft_timeout` | — | `FactorySoftTimeout` | the stale value when the computation takes longer; the computation finishes in the background and stores its value |
//! | `hard_timeout` | — | `FactoryHardTimeout` | the stale value, or an error, when the computation takes longer; the computation is dropped |
//! | `lock = distributed` | — | (distributed locker) | one computation per key across every process sharing the store |
//!
//! Entries written with `fail_safe`, `stale_while_revalidate` or
//! `refresh_ahead` carry their logical expiry inside the stored value (so
//! that every process agrees on it) and live in the store for the timeout
//! plus the longer of the two windows. Every other read (`get`, a function
//! without these options) treats such an entry as absent once its timeout
//! has passed.
//!
//! Background work (refresh ahead, stale-while-revalidate, the end of a
//! computation past its soft timeout) needs a computation that can outlive
//! its caller: [`Cache::get_or_set_with_policy`](crate::Cache::get_or_set_with_policy)
//! takes one (`'static`), and the macros build one when the function's
//! attribute sets one of these options. A call whose computation borrows
//! (`get_or_set_with`) applies the other options and leaves these out.

use std::time::Duration;

use crate::{Error, Result};

/// How a computation is shared between callers that miss the same key.
///
/// ```
/// use cache_core::{Lock, Policy};
///
/// let policy = Policy::new().lock(Lock::Distributed);
/// # let _ = policy;
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Lock {
    /// Callers in this process wait for one computation (single-flight);
    /// each process computes once. The default.
    #[default]
    Local,
    /// One process computes while the others wait for its value, through
    /// a lock in the store (`SET NX PX` with a random token, released by
    /// compare-and-delete, expiring after
    /// [`lock_expiry`](Policy::lock_expiry) if its holder dies). Waiters
    /// poll for the value with backoff and take the lock over when it
    /// expires; after the lock's expiry they compute themselves. On the
    /// memory store it is the same as [`Lock::Local`].
    Distributed,
}

/// The resilience options of a read-through call; see the [module
/// docs](self) for what each does and how they combine.
///
/// Durations are wall-clock; `refresh_ahead` is a fraction of the timeout
/// strictly between 0 and 1.
///
/// ```
/// use std::time::Duration;
/// use cache_core::Policy;
///
/// let policy = Policy::new()
///     .timeout(Duration::from_secs(60))
///     .fail_safe(Duration::from_secs(3600))
///     .refresh_ahead(0.8)
///     .soft_timeout(Duration::from_millis(100))
///     .hard_timeout(Duration::from_secs(2));
/// assert!(policy.check().is_ok());
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Policy {
    pub(crate) timeout: Option<Duration>,
    pub(crate) fail_safe: Option<Duration>,
    pub(crate) fail_safe_throttle: Option<Duration>,
    pub(crate) refresh_ahead: Option<f64>,
    pub(crate) stale_while_revalidate: Option<Duration>,
    pub(crate) soft_timeout: Option<Duration>,
    pub(crate) hard_timeout: Option<Duration>,
    pub(crate) lock: Option<Lock>,
    pub(crate) lock_expiry: Option<Duration>,
}

/// After a failed computation served a stale value, the stale value is
/// served as fresh this long before the next attempt, unless set.
pub const DEFAULT_FAIL_SAFE_THROTTLE: Duration = Duration::from_secs(1);

/// How long a distributed lock lives unless set: a holder that dies frees
/// the key after this.
pub const DEFAULT_LOCK_EXPIRY: Duration = Duration::from_secs(10);

impl Policy {
    /// A policy with nothing set: every option falls back to the cache's
    /// default policy.
    ///
    /// ```
    /// assert_eq!(cache_core::Policy::new(), cache_core::Policy::default());
    /// ```
    pub const fn new() -> Self {
        Self {
            timeout: None,
            fail_safe: None,
            fail_safe_throttle: None,
            refresh_ahead: None,
            stale_while_revalidate: None,
            soft_timeout: None,
            hard_timeout: None,
            lock: None,
            lock_expiry: None,
        }
    }

    /// How long a computed value is fresh (`Duration::ZERO`: forever).
    ///
    /// ```
    /// let p = cache_core::Policy::new().timeout(std::time::Duration::from_secs(30));
    /// # let _ = p;
    /// ```
    #[must_use]
    pub const fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// Keeps a value this long past its timeout, to be served when the
    /// computation fails (returns `Err`) or times out. Off by default.
    ///
    /// ```
    /// let p = cache_core::Policy::new().fail_safe(std::time::Duration::from_secs(3600));
    /// # let _ = p;
    /// ```
    #[must_use]
    pub const fn fail_safe(mut self, window: Duration) -> Self {
        self.fail_safe = Some(window);
        self
    }

    /// After a failed computation served a stale value, how long the stale
    /// value is served as fresh before the next attempt (default
    /// [`DEFAULT_FAIL_SAFE_THROTTLE`]), so a failing source is not called
    /// by every request.
    ///
    /// ```
    /// let p = cache_core::Policy::new().fail_safe_throttle(std::time::Duration::from_secs(5));
    /// # let _ = p;
    /// ```
    #[must_use]
    pub const fn fail_safe_throttle(mut self, throttle: Duration) -> Self {
        self.fail_safe_throttle = Some(throttle);
        self
    }

    /// Once this fraction of a value's timeout has passed, a hit starts one
    /// background computation that replaces it, while callers keep
    /// getting the current value. Strictly between 0 and 1.
    ///
    /// ```
    /// let p = cache_core::Policy::new().refresh_ahead(0.8);
    /// # let _ = p;
    /// ```
    #[must_use]
    pub const fn refresh_ahead(mut self, fraction: f64) -> Self {
        self.refresh_ahead = Some(fraction);
        self
    }

    /// Serves a value up to this long past its timeout at once, while one
    /// background computation replaces it.
    ///
    /// ```
    /// let p = cache_core::Policy::new().stale_while_revalidate(std::time::Duration::from_secs(30));
    /// # let _ = p;
    /// ```
    #[must_use]
    pub const fn stale_while_revalidate(mut self, window: Duration) -> Self {
        self.stale_while_revalidate = Some(window);
        self
    }

    /// When a computation takes longer than this and a stale value is at
    /// hand (fail-safe), the caller gets the stale value; the computation
    /// finishes in the background and stores its value.
    ///
    /// ```
    /// let p = cache_core::Policy::new().soft_timeout(std::time::Duration::from_millis(100));
    /// # let _ = p;
    /// ```
    #[must_use]
    pub const fn soft_timeout(mut self, timeout: Duration) -> Self {
        self.soft_timeout = Some(timeout);
        self
    }

    /// When a computation takes longer than this, it is dropped and the
    /// caller gets the stale value if one is at hand (fail-safe), or an
    /// [`ErrorKind::Timeout`](crate::ErrorKind::Timeout) error converted
    /// into the computation's error type. A computation that cannot fail
    /// (`get_or_set_with_policy`) is waited for when there is no stale
    /// value.
    ///
    /// ```
    /// let p = cache_core::Policy::new().hard_timeout(std::time::Duration::from_secs(2));
    /// # let _ = p;
    /// ```
    #[must_use]
    pub const fn hard_timeout(mut self, timeout: Duration) -> Self {
        self.hard_timeout = Some(timeout);
        self
    }

    /// How callers that miss the same key share one computation.
    ///
    /// ```
    /// let p = cache_core::Policy::new().lock(cache_core::Lock::Distributed);
    /// # let _ = p;
    /// ```
    #[must_use]
    pub const fn lock(mut self, lock: Lock) -> Self {
        self.lock = Some(lock);
        self
    }

    /// How long a distributed lock lives (default
    /// [`DEFAULT_LOCK_EXPIRY`]): longer than the computation takes, short
    /// enough that a dead holder does not keep others waiting long.
    ///
    /// ```
    /// let p = cache_core::Policy::new().lock_expiry(std::time::Duration::from_secs(5));
    /// # let _ = p;
    /// ```
    #[must_use]
    pub const fn lock_expiry(mut self, expiry: Duration) -> Self {
        self.lock_expiry = Some(expiry);
        self
    }

    /// Checks the options: `refresh_ahead` strictly between 0 and 1, and
    /// no zero duration where one makes no sense.
    ///
    /// ```
    /// let err = cache_core::Policy::new().refresh_ahead(1.5).check().unwrap_err();
    /// assert!(err.to_string().contains("refresh_ahead"));
    /// ```
    pub fn check(&self) -> Result<()> {
        if let Some(f) = self.refresh_ahead {
            if !(f > 0.0 && f < 1.0) {
                return Err(Error::config(format!(
                    "refresh_ahead is a fraction of the timeout strictly between 0 and 1, not {f}"
                )));
            }
        }
        for (name, value) in [
            ("soft_timeout", self.soft_timeout),
            ("hard_timeout", self.hard_timeout),
            ("lock_expiry", self.lock_expiry),
        ] {
            if value == Some(Duration::ZERO) {
                return Err(Error::config(format!("{name} must be longer than zero")));
            }
        }
        Ok(())
    }

    /// Each option left unset taken from `defaults`.
    #[must_use]
    pub(crate) fn or(self, defaults: &Policy) -> Policy {
        Policy {
            timeout: self.timeout.or(defaults.timeout),
            fail_safe: self.fail_safe.or(defaults.fail_safe),
            fail_safe_throttle: self.fail_safe_throttle.or(defaults.fail_safe_throttle),
            refresh_ahead: self.refresh_ahead.or(defaults.refresh_ahead),
            stale_while_revalidate: self
                .stale_while_revalidate
                .or(defaults.stale_while_revalidate),
            soft_timeout: self.soft_timeout.or(defaults.soft_timeout),
            hard_timeout: self.hard_timeout.or(defaults.hard_timeout),
            lock: self.lock.or(defaults.lock),
            lock_expiry: self.lock_expiry.or(defaults.lock_expiry),
        }
    }

    /// This policy with the timeout `ttl` resolved to.
    pub(crate) fn with_ttl(mut self, ttl: crate::Ttl) -> Self {
        self.timeout = Some(ttl.duration().unwrap_or(Duration::ZERO));
        self
    }

    /// Whether entries carry their logical expiry: a window past it.
    pub(crate) fn is_timed(&self) -> bool {
        self.fail_safe.is_some()
            || self.stale_while_revalidate.is_some()
            || self.refresh_ahead.is_some_and(|f| f > 0.0 && f < 1.0)
    }

    /// Whether the engine's plain path does (no option that changes what
    /// a call does).
    pub(crate) fn is_plain(&self) -> bool {
        !self.is_timed()
            && self.soft_timeout.is_none()
            && self.hard_timeout.is_none()
            && self.lock.unwrap_or_default() == Lock::Local
    }

    /// How long past its logical expiry an entry is kept.
    pub(crate) fn grace(&self) -> Duration {
        self.fail_safe
            .unwrap_or_default()
            .max(self.stale_while_revalidate.unwrap_or_default())
    }
}
