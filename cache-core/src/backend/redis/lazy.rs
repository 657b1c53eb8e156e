//! A connection made once, on first use, for every caller.

use std::sync::{Arc, Mutex, PoisonError};

use arc_swap::ArcSwapOption;
use futures_util::future::{BoxFuture, FutureExt, Shared};

/// A connection (or anything costly to set up) made on first use and
/// shared by every caller: callers that arrive while an attempt is under
/// way wait for that attempt; a failed attempt is not kept, so the next
/// caller tries afresh, and every caller that waited for it gets the same
/// error (a clone: [`crate::Error`] and redis-rs errors share their
/// cause). [`reset`](Self::reset) forgets the value (the Sentinel store
/// does, when the master changes).
///
/// Reading a value that is set takes no lock (an `ArcSwap` load): the
/// connections of a store are read by every request of every thread.
pub(super) struct Lazy<C, E> {
    /// The value; written only with `state` locked.
    current: ArcSwapOption<C>,
    state: Mutex<LazyState<C, E>>,
}

struct LazyState<C, E> {
    pending: Option<Shared<BoxFuture<'static, std::result::Result<C, E>>>>,
    /// Bumped by every reset, so that an attempt started before a reset
    /// does not install a value the reset meant to forget.
    generation: u64,
}

impl<C, E> Lazy<C, E>
where
    C: Clone + Send + Sync + 'static,
    E: Clone + Send + Sync + 'static,
{
    pub(super) fn new() -> Self {
        Self {
            current: ArcSwapOption::empty(),
            state: Mutex::new(LazyState {
                pending: None,
                generation: 0,
            }),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, LazyState<C, E>> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The value, if one is set.
    pub(super) fn current(&self) -> Option<C> {
        self.current.load().as_deref().cloned()
    }

    /// What `read` makes of the value, if one is set, without cloning it.
    pub(super) fn with_current<R>(&self, read: impl FnOnce(&C) -> R) -> Option<R> {
        self.current.load().as_deref().map(read)
    }

    /// How many times the value was reset.
    pub(super) fn generation(&self) -> u64 {
        self.lock().generation
    }

    /// The value, made by `start` (or by an attempt already under way) if
    /// there is none.
    pub(super) async fn get(
        &self,
        start: impl FnOnce() -> BoxFuture<'static, std::result::Result<C, E>>,
    ) -> std::result::Result<C, E> {
        if let Some(current) = self.current() {
            return Ok(current);
        }
        let (attempt, generation) = {
            let mut state = self.lock();
            if let Some(current) = self.current() {
                return Ok(current);
            }
            let attempt = state
                .pending
                .get_or_insert_with(|| start().shared())
                .clone();
            (attempt, state.generation)
        };
        let result = attempt.clone().await;
        let mut state = self.lock();
        if state.generation == generation {
            if let Ok(value) = &result {
                // Every waiter of this attempt gets the same value.
                self.current.store(Some(Arc::new(value.clone())));
            }
        }
        // Forget a settled attempt (a failure in particular, so that the
        // next call tries afresh), unless a newer one replaced it.
        if state
            .pending
            .as_ref()
            .is_some_and(|pending| pending.ptr_eq(&attempt))
        {
            state.pending = None;
        }
        result
    }

    /// Forgets the value, and any attempt under way.
    pub(super) fn reset(&self) {
        let mut state = self.lock();
        self.current.store(None);
        state.pending = None;
        state.generation += 1;
    }

    /// Forgets the value if `is_stale` says it is stale; returns whether it did.
    pub(super) fn reset_if(&self, is_stale: impl FnOnce(&C) -> bool) -> bool {
        let mut state = self.lock();
        if self.current.load().as_deref().is_some_and(is_stale) {
            self.current.store(None);
            state.pending = None;
            state.generation += 1;
            true
        } else {
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn lazy_shares_one_attempt_and_forgets_failures_and_resets() {
        let lazy: Lazy<u32, String> = Lazy::new();
        let failed = lazy.get(|| async { Err("down".to_owned()) }.boxed()).await;
        assert_eq!(failed, Err("down".to_owned()));
        assert_eq!(lazy.current(), None, "a failure is not kept");
        assert_eq!(lazy.get(|| async { Ok(1) }.boxed()).await, Ok(1));
        assert_eq!(lazy.get(|| async { Ok(2) }.boxed()).await, Ok(1));
        assert!(!lazy.reset_if(|&v| v == 2));
        assert!(lazy.reset_if(|&v| v == 1));
        assert_eq!(lazy.generation(), 1);
        assert_eq!(lazy.get(|| async { Ok(3) }.boxed()).await, Ok(3));
    }
}
