//! The circuit breaker in front of a remote store.
//!
//! A store that fails with a connection error or a timeout is probably
//! down, frozen or unreachable, and the next call would wait for the same
//! timeout. So the first such failure *opens* the breaker: every call
//! fails at once with [`ErrorKind::CircuitOpen`] (no I/O, no waiting),
//! which the cache treats like any store error (a miss, a skipped write,
//! the function's own value). Meanwhile one background probe pings the
//! store, first after the configured break and then every break after
//! that; when it answers, the breaker *closes* and calls reach the store
//! again. The open and close transitions are logged once each, at
//! `info` (the cache's outage warning says what failed).
//!
//! Other errors (a value the store refuses, a wrong type under a key, a
//! codec error) say nothing about the store's health and leave the breaker
//! closed.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;

use super::{Backend, Ttl};
use crate::error::Chain;
use crate::{Error, ErrorKind, Result};

/// A [`Backend`] that skips its store while the store is failing.
pub(crate) struct Breaker {
    store: Arc<dyn Backend>,
    state: Arc<State>,
}

/// What the breaker and its probe share.
pub(crate) struct State {
    open: AtomicBool,
    /// How long the breaker stays open before each probe.
    pause: Duration,
    /// Calls refused while open.
    skipped: AtomicU64,
    /// Times the breaker opened.
    opened: AtomicU64,
    /// Called on every transition with `true` when it opens.
    on_change: Option<Box<dyn Fn(bool) + Send + Sync>>,
    /// Bumped at each opening: a probe of an earlier one stops.
    generation: AtomicU64,
    /// The failure that opened the breaker, for the errors of skipped calls.
    cause: std::sync::Mutex<Arc<str>>,
}

impl State {
    /// Whether calls are skipped now.
    pub(crate) fn is_open(&self) -> bool {
        self.open.load(Ordering::Acquire)
    }

    /// Calls refused while open, since the cache was built.
    #[cfg(test)]
    pub(crate) fn skipped(&self) -> u64 {
        self.skipped.load(Ordering::Relaxed)
    }

    /// Times the breaker opened, since the cache was built.
    #[cfg(test)]
    pub(crate) fn opened(&self) -> u64 {
        self.opened.load(Ordering::Relaxed)
    }

    /// Closes the breaker (the store answered); logs it if it was open.
    fn close(&self) {
        if self
            .open
            .compare_exchange(true, false, Ordering::AcqRel, Ordering::Acquire)
            .is_ok()
        {
            tracing::info!("cache store answered: circuit breaker closed");
            if let Some(f) = &self.on_change {
                f(false);
            }
        }
    }
}

impl Breaker {
    /// Wraps `store`; `pause` is the break before each probe (non-zero).
    pub(crate) fn new(
        store: Arc<dyn Backend>,
        pause: Duration,
        on_change: Option<Box<dyn Fn(bool) + Send + Sync>>,
    ) -> Self {
        Self {
            store,
            state: Arc::new(State {
                open: AtomicBool::new(false),
                pause,
                skipped: AtomicU64::new(0),
                opened: AtomicU64::new(0),
                on_change,
                generation: AtomicU64::new(0),
                cause: std::sync::Mutex::new(Arc::from("")),
            }),
        }
    }

    pub(crate) fn state(&self) -> Arc<State> {
        Arc::clone(&self.state)
    }

    /// Fails at once while the breaker is open.
    #[inline]
    fn check(&self) -> Result<()> {
        if self.state.is_open() {
            return Err(self.skip());
        }
        Ok(())
    }

    #[cold]
    fn skip(&self) -> Error {
        self.state.skipped.fetch_add(1, Ordering::Relaxed);
        let cause = Arc::clone(
            &self
                .state
                .cause
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner),
        );
        Error::new(
            ErrorKind::CircuitOpen,
            format!("skipped: the store failed moments ago ({cause}) and has not answered a probe since"),
        )
    }

    /// Opens the breaker when `result` says the store is unreachable.
    #[inline]
    fn watch<T>(&self, result: Result<T>) -> Result<T> {
        if let Err(e) = &result {
            if matches!(e.kind(), ErrorKind::Connection | ErrorKind::Timeout) {
                self.trip(e);
            }
        }
        result
    }

    #[cold]
    fn trip(&self, error: &Error) {
        *self
            .state
            .cause
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) =
            Arc::from(Chain(error).to_string());
        if self.state.open.swap(true, Ordering::AcqRel) {
            return; // already open: its probe runs
        }
        let generation = self.state.generation.fetch_add(1, Ordering::AcqRel) + 1;
        self.state.opened.fetch_add(1, Ordering::Relaxed);
        // At `info`: the cache's outage warning (one per outage) says what
        // failed; this says what the cache does about it.
        tracing::info!(
            error = %Chain(error),
            pause_ms = u64::try_from(self.state.pause.as_millis()).unwrap_or(u64::MAX),
            "cache store unreachable: circuit breaker open, calls skip the store until a probe answers"
        );
        if let Some(f) = &self.state.on_change {
            f(true);
        }
        // The probe does not keep the store alive: once the last cache on
        // it is dropped, it stops.
        let (store, state) = (Arc::downgrade(&self.store), Arc::clone(&self.state));
        crate::runtime::io_handle().spawn(async move {
            loop {
                tokio::time::sleep(state.pause).await;
                let current = state.generation.load(Ordering::Acquire) == generation;
                if !current || !state.is_open() {
                    return; // closed by a ping, or a later opening probes
                }
                let Some(store) = store.upgrade() else {
                    return;
                };
                match store.ping().await {
                    Ok(()) => {
                        state.close();
                        return;
                    }
                    Err(e) => {
                        tracing::debug!(error = %Chain(&e), "cache store probe failed; circuit breaker stays open");
                    }
                }
            }
        });
    }
}

/// Forwards one call through the breaker.
macro_rules! guarded {
    ($self:ident . $call:ident ( $($arg:expr),* )) => {{
        $self.check()?;
        $self.watch($self.store.$call($($arg),*).await)
    }};
}

#[async_trait]
impl Backend for Breaker {
    async fn get(&self, key: &str) -> Result<Option<Bytes>> {
        guarded!(self.get(key))
    }
    async fn get_many(&self, keys: &[&str]) -> Result<Vec<Option<Bytes>>> {
        guarded!(self.get_many(keys))
    }
    async fn set(&self, key: &str, value: Bytes, ttl: Ttl) -> Result<()> {
        guarded!(self.set(key, value, ttl))
    }
    async fn set_many(&self, items: &[(&str, Bytes)], ttl: Ttl) -> Result<()> {
        guarded!(self.set_many(items, ttl))
    }
    async fn add(&self, key: &str, value: Bytes, ttl: Ttl) -> Result<bool> {
        guarded!(self.add(key, value, ttl))
    }
    async fn delete(&self, key: &str) -> Result<bool> {
        guarded!(self.delete(key))
    }
    async fn delete_many(&self, keys: &[&str]) -> Result<u64> {
        guarded!(self.delete_many(keys))
    }
    async fn contains(&self, key: &str) -> Result<bool> {
        guarded!(self.contains(key))
    }
    async fn incr(&self, key: &str, delta: i64, ttl: Ttl) -> Result<i64> {
        guarded!(self.incr(key, delta, ttl))
    }
    async fn clear_prefix(&self, prefix: &str) -> Result<u64> {
        guarded!(self.clear_prefix(prefix))
    }
    async fn clear_prefixes(&self, prefixes: &[&str]) -> Result<u64> {
        guarded!(self.clear_prefixes(prefixes))
    }
    /// A ping always reaches the store: it is how a caller checks it. An
    /// answer closes the breaker.
    async fn ping(&self) -> Result<()> {
        let answered = self.watch(self.store.ping().await);
        if answered.is_ok() {
            self.state.close();
        }
        answered
    }
    async fn set_tagged(&self, key: &str, value: Bytes, ttl: Ttl, tags: &[&str]) -> Result<()> {
        guarded!(self.set_tagged(key, value, ttl, tags))
    }
    async fn add_to_tags(&self, key: &str, tags: &[&str], ttl: Ttl) -> Result<()> {
        guarded!(self.add_to_tags(key, tags, ttl))
    }
    async fn take_tag(&self, tag: &str) -> Result<Vec<String>> {
        guarded!(self.take_tag(tag))
    }
    async fn delete_if_equals(&self, key: &str, expected: &[u8]) -> Result<bool> {
        guarded!(self.delete_if_equals(key, expected))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicUsize;

    /// A store that fails with `kind` while `down` is set, and counts calls.
    #[derive(Default)]
    struct Flaky {
        down: AtomicBool,
        calls: AtomicUsize,
        timeout: AtomicBool,
    }

    struct Shared(Arc<Flaky>);

    #[async_trait]
    impl Backend for Shared {
        async fn get(&self, _key: &str) -> Result<Option<Bytes>> {
            self.0.calls.fetch_add(1, Ordering::SeqCst);
            if self.0.down.load(Ordering::SeqCst) {
                let kind = if self.0.timeout.load(Ordering::SeqCst) {
                    ErrorKind::Timeout
                } else {
                    ErrorKind::Backend
                };
                return Err(Error::new(kind, "down"));
            }
            Ok(None)
        }
        async fn set(&self, _: &str, _: Bytes, _: Ttl) -> Result<()> {
            Ok(())
        }
        async fn add(&self, _: &str, _: Bytes, _: Ttl) -> Result<bool> {
            Ok(true)
        }
        async fn delete_many(&self, _: &[&str]) -> Result<u64> {
            Ok(0)
        }
        async fn incr(&self, _: &str, d: i64, _: Ttl) -> Result<i64> {
            Ok(d)
        }
        async fn clear_prefix(&self, _: &str) -> Result<u64> {
            Ok(0)
        }
        async fn ping(&self) -> Result<()> {
            if self.0.down.load(Ordering::SeqCst) {
                Err(Error::new(ErrorKind::Timeout, "down"))
            } else {
                Ok(())
            }
        }
    }

    #[tokio::test]
    async fn opens_on_a_timeout_skips_calls_and_closes_when_a_probe_answers() {
        let flaky = Arc::new(Flaky::default());
        let changes = Arc::new(AtomicUsize::new(0));
        let seen = Arc::clone(&changes);
        let breaker = Breaker::new(
            Arc::new(Shared(Arc::clone(&flaky))),
            Duration::from_millis(20),
            Some(Box::new(move |_| {
                seen.fetch_add(1, Ordering::SeqCst);
            })),
        );
        flaky.down.store(true, Ordering::SeqCst);
        flaky.timeout.store(true, Ordering::SeqCst);
        assert_eq!(
            breaker.get("k").await.unwrap_err().kind(),
            ErrorKind::Timeout
        );
        for _ in 0..10 {
            let e = breaker.get("k").await.unwrap_err();
            assert_eq!(e.kind(), ErrorKind::CircuitOpen);
        }
        assert_eq!(
            flaky.calls.load(Ordering::SeqCst),
            1,
            "open: no call reaches the store"
        );
        assert_eq!(breaker.state.skipped(), 10);
        assert_eq!(changes.load(Ordering::SeqCst), 1);
        flaky.down.store(false, Ordering::SeqCst);
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        while breaker.state.is_open() {
            assert!(
                std::time::Instant::now() < deadline,
                "the probe never closed it"
            );
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        assert_eq!(breaker.get("k").await.unwrap(), None);
        assert_eq!(changes.load(Ordering::SeqCst), 2);
        assert_eq!(breaker.state.opened(), 1);
    }

    #[tokio::test]
    async fn a_dropped_breaker_does_not_keep_its_store_alive_through_the_probe() {
        let flaky = Arc::new(Flaky::default());
        let breaker = Breaker::new(
            Arc::new(Shared(Arc::clone(&flaky))),
            Duration::from_millis(10),
            None,
        );
        flaky.down.store(true, Ordering::SeqCst);
        flaky.timeout.store(true, Ordering::SeqCst);
        breaker.get("k").await.unwrap_err();
        assert!(breaker.state.is_open());
        drop(breaker);
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert_eq!(
            Arc::strong_count(&flaky),
            1,
            "the store went with the breaker"
        );
    }

    #[tokio::test]
    async fn store_errors_that_are_not_outages_leave_it_closed() {
        let flaky = Arc::new(Flaky::default());
        let breaker = Breaker::new(
            Arc::new(Shared(Arc::clone(&flaky))),
            Duration::from_millis(20),
            None,
        );
        flaky.down.store(true, Ordering::SeqCst);
        for _ in 0..3 {
            assert_eq!(
                breaker.get("k").await.unwrap_err().kind(),
                ErrorKind::Backend
            );
        }
        assert!(!breaker.state.is_open());
        assert_eq!(flaky.calls.load(Ordering::SeqCst), 3);
    }
}
