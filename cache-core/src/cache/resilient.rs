//! The read-through engine under a [`Policy`]: fail-safe stale values,
//! computation timeouts, refresh ahead of expiry, stale-while-revalidate
//! and the distributed lock (see [`crate::policy`]).
//!
//! A call whose resolved policy [`is_plain`](Policy::is_plain) never comes
//! here: it takes [`Cache::compute`] and costs what it cost before.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use futures_util::future::{select, Either};

use crate::backend::Ttl;
use crate::codec::{now_millis, Decoded};
use crate::flight::Join;
use crate::key::key_for_message;
use crate::local::ident::{self, TailBuf};
use crate::local::Read;
use crate::policy::{Lock, Policy, DEFAULT_FAIL_SAFE_THROTTLE};
use crate::{runtime, Error, ErrorKind};

use super::{Cache, CacheValue, Coalesce, OnError};
use crate::observe::{Call, Function, Outcome};

/// Turns a hard timeout into the computation's error type, for
/// computations that can fail; `None` for those that cannot (they are
/// waited for when no stale value is at hand).
pub(crate) type OnTimeout<E> = Option<fn(Error) -> E>;

/// Decides whether a computed value is stored.
pub(crate) type StoreIf<T> = Arc<dyn Fn(&T) -> bool + Send + Sync>;

/// Where a detached call reports its outcome: its function (if any) and
/// its span, owned (the computation may outlive the call).
pub(crate) struct Report {
    pub(crate) function: Option<Arc<Function>>,
    pub(crate) span: tracing::Span,
}

/// What the caller of [`Cache::compute_policy`] already read.
pub(crate) enum Seen<T> {
    /// Nothing the engine can use (or a miss by a read that could not see
    /// stale values): the engine reads.
    Nothing,
    /// The entry as read, fresh or not.
    Read(Option<Decoded<T>>),
}

impl Cache {
    /// The policy of a call: `call` (or the function's), with every option
    /// left unset taken from the cache's default policy.
    #[inline]
    pub(crate) fn resolve(&self, call: Option<&Policy>) -> Policy {
        match call {
            Some(call) => call.or(&self.inner.policy),
            None => self.inner.policy,
        }
    }

    /// Whether entries of a function with `policy` carry a logical expiry
    /// (its options or the cache's default keep stale values).
    #[inline]
    pub(crate) fn reads_timed(&self, policy: Option<&Policy>) -> bool {
        self.inner.policy_timed || policy.is_some_and(Policy::is_timed)
    }

    /// A typed read of the memory store that sees values kept with a
    /// logical expiry as themselves (no decoding): a fresh value, or none.
    /// Uncounted (the call reports its outcome).
    pub(crate) fn read_local_fresh<T: CacheValue>(
        &self,
        local: &crate::local::LocalTier,
        ident: &crate::local::Ident<'_>,
    ) -> Option<T> {
        let value = match local.read_entry::<T>(ident) {
            Read::Hit(d) => d.is_fresh(now_millis()).then_some(d.value),
            Read::Miss => None,
            Read::Refused(e) => self.logged::<T>(ident.text().as_bytes(), Err(e)),
        };
        value
    }

    /// The physical TTL and the logical expiry of a value computed now.
    fn lifetimes(&self, policy: &Policy) -> (Ttl, Option<u64>) {
        let ttl = self.ttl(policy.timeout);
        if !policy.is_timed() {
            return (ttl, None);
        }
        match ttl {
            Ttl::Never => (Ttl::Never, Some(u64::MAX)),
            Ttl::After(fresh) => {
                let until = now_millis().saturating_add(millis(fresh));
                let kept = Ttl::from_duration(fresh.saturating_add(policy.grace()));
                (kept, Some(until))
            }
        }
    }

    /// The entry under `full` with its logical expiry, fresh or stale,
    /// uncounted (the call reports its one outcome). Errors are logged and
    /// counted, and are misses.
    pub(crate) async fn read_entry<T: CacheValue>(&self, full: &str) -> Option<Decoded<T>> {
        if let Some(local) = &self.inner.local {
            let mut buf = TailBuf::new();
            return match local.read_entry::<T>(&ident::parse(full, &mut buf)) {
                Read::Hit(d) => Some(d),
                Read::Miss => None,
                Read::Refused(e) => self.logged::<Decoded<T>>(full.as_bytes(), Err(e)),
            };
        }
        let result = self.inner.backend.get(full).await;
        self.observe(&result);
        match result {
            Ok(bytes) => bytes.and_then(|b| self.decode_entry_logged(full, &b)),
            Err(e) => {
                self.note_error(&e, "get", full);
                None
            }
        }
    }

    /// Stores a computed value under the policy (with its logical expiry
    /// when the policy keeps stale values). Fail-open.
    async fn store_computed<T: CacheValue>(
        &self,
        full: &str,
        value: &T,
        policy: &Policy,
        tags: &[String],
    ) {
        let (ttl, until) = self.lifetimes(policy);
        if let Err(e) = self.write_full_until(full, value, until, ttl, tags).await {
            self.on_error(OnError::Open, e, "set", full, ()).ok();
        }
    }

    /// Serves `stale` instead of a failed or late computation: logged, and
    /// written back as fresh for the fail-safe throttle (within the
    /// fail-safe window), so the failing source is not called by every
    /// request.
    async fn serve_stale<T: CacheValue>(
        &self,
        full: &str,
        stale: &Decoded<T>,
        policy: &Policy,
        tags: &[String],
        why: &str,
    ) {
        tracing::warn!(key = %key_for_message(full), "{why}: serving the stale value (fail-safe)");
        let now = now_millis();
        let Some(deadline) = stale
            .fresh_until
            .map(|until| until.saturating_add(millis(policy.fail_safe.unwrap_or_default())))
        else {
            return;
        };
        let throttle = millis(
            policy
                .fail_safe_throttle
                .unwrap_or(DEFAULT_FAIL_SAFE_THROTTLE),
        );
        let left = deadline.saturating_sub(now);
        if left == 0 || throttle == 0 {
            return;
        }
        let until = now.saturating_add(throttle).min(deadline);
        let ttl = Ttl::from_duration(Duration::from_millis(left));
        if let Err(e) = self
            .write_full_until(full, &stale.value, Some(until), ttl, tags)
            .await
        {
            self.on_error(OnError::Open, e, "set", full, ()).ok();
        }
    }

    /// The read-through engine under `policy` (not plain): reads, then on a
    /// miss or a stale value computes once per key in this process (and,
    /// with [`Lock::Distributed`], across processes), within the hard
    /// timeout, and serves the stale value in the fail-safe window when the
    /// computation fails or times out.
    #[expect(
        clippy::too_many_arguments,
        reason = "the one crate-private engine behind every read-through call with a policy"
    )]
    pub(crate) async fn compute_policy<T, E, F, Fut>(
        &self,
        full: &str,
        tags: &[String],
        policy: &Policy,
        coalesce: Coalesce,
        seen: Seen<T>,
        call: &Call<'_>,
        store_if: impl Fn(&T) -> bool,
        on_timeout: OnTimeout<E>,
        f: F,
    ) -> Result<T, E>
    where
        T: CacheValue,
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<T, E>>,
    {
        let found = match seen {
            Seen::Nothing => self.read_entry::<T>(full).await,
            Seen::Read(found) => found,
        };
        let now = now_millis();
        if let Some(d) = found.as_ref().filter(|d| d.is_fresh(now)) {
            self.call_outcome(call, full, Outcome::Hit);
            return Ok(d.value.clone());
        }
        let fallback = found.filter(|d| within(d, policy.fail_safe, now));
        let mut f = Some(f);
        loop {
            let leader = if coalesce == Coalesce::Wait {
                match self.inner.flights.join(full) {
                    Join::Follower(flight) => {
                        let Some(shared) = flight.wait().await else {
                            // The leader gave up: its value may be stored anyway.
                            if let Some(d) = self.fresh_value::<T>(full).await {
                                self.call_outcome(call, full, Outcome::Coalesced);
                                return Ok(d);
                            }
                            continue;
                        };
                        if let Some(v) = shared.downcast_ref::<T>() {
                            self.call_outcome(call, full, Outcome::Coalesced);
                            return Ok(v.clone());
                        }
                        None // another type under the key: compute alone
                    }
                    Join::Leader(leader) => {
                        // A computation may have finished between our read and our join.
                        if let Some(v) = self.fresh_value::<T>(full).await {
                            self.call_outcome(call, full, Outcome::Hit);
                            leader.finish(|| Arc::new(v.clone()));
                            return Ok(v);
                        }
                        Some(leader)
                    }
                }
            } else {
                None
            };
            let held = match self.distributed_lock::<T>(full, policy).await {
                Locked::Value(v) => {
                    // Another process computed it: this caller waited.
                    self.call_outcome(call, full, Outcome::Coalesced);
                    if let Some(leader) = leader {
                        leader.finish(|| Arc::new(v.clone()));
                    }
                    return Ok(v);
                }
                Locked::Held(lock) => Some(lock),
                Locked::Without => None,
            };
            let f = f
                .take()
                .expect("the computation runs at most once: the loop returns after it");
            let hard = policy
                .hard_timeout
                .filter(|_| fallback.is_some() || on_timeout.is_some());
            let outcome = bounded(hard, self.computed(call, f())).await;
            let value = self
                .settle(
                    full, tags, policy, outcome, fallback, hard, on_timeout, &store_if,
                )
                .await;
            // Released once the value is stored: whoever takes the lock
            // next finds it.
            if let Some(lock) = held {
                self.release_lock(&lock).await;
            }
            let value = value?;
            if let Some(leader) = leader {
                leader.finish(|| Arc::new(value.clone()));
            }
            return Ok(value);
        }
    }

    /// What a computation's outcome gives the caller: its value (stored),
    /// the stale value instead of an error or a timeout, or the error.
    #[expect(
        clippy::too_many_arguments,
        reason = "the engine's state at the end of a computation"
    )]
    async fn settle<T: CacheValue, E>(
        &self,
        full: &str,
        tags: &[String],
        policy: &Policy,
        outcome: Option<Result<T, E>>,
        fallback: Option<Decoded<T>>,
        hard: Option<Duration>,
        on_timeout: OnTimeout<E>,
        store_if: impl Fn(&T) -> bool,
    ) -> Result<T, E> {
        Ok(match (outcome, fallback) {
            (Some(Ok(value)), _) => {
                if store_if(&value) {
                    self.store_computed(full, &value, policy, tags).await;
                }
                value
            }
            (Some(Err(e)), None) => return Err(e),
            (Some(Err(_)), Some(stale)) => {
                self.serve_stale(full, &stale, policy, tags, "computation failed")
                    .await;
                stale.value
            }
            (None, Some(stale)) => {
                self.serve_stale(full, &stale, policy, tags, "computation timed out")
                    .await;
                stale.value
            }
            (None, None) => {
                let to_error = on_timeout.expect("a hard timeout applies only when it can end");
                return Err(to_error(Error::new(
                    ErrorKind::Timeout,
                    format!(
                        "the computation of `{}` took longer than its hard timeout ({:?})",
                        key_for_message(full),
                        hard.unwrap_or_default()
                    ),
                )));
            }
        })
    }

    /// A fresh value under `full` (a second look).
    pub(super) async fn fresh_value<T: CacheValue>(&self, full: &str) -> Option<T> {
        self.read_entry::<T>(full)
            .await
            .filter(|d| d.is_fresh(now_millis()))
            .map(|d| d.value)
    }

    /// [`compute_policy`](Self::compute_policy) for a computation that can
    /// outlive its caller: adds refresh ahead, stale-while-revalidate and
    /// the soft timeout, which run it in the background.
    #[expect(
        clippy::too_many_arguments,
        reason = "the one crate-private engine behind every detached read-through call"
    )]
    pub(crate) async fn compute_detached<T, E, F, Fut>(
        &self,
        full: String,
        tags: Vec<String>,
        policy: Policy,
        coalesce: Coalesce,
        seen: Seen<T>,
        report: Report,
        store_if: StoreIf<T>,
        on_timeout: OnTimeout<E>,
        f: F,
    ) -> Result<T, E>
    where
        T: CacheValue,
        E: Send + 'static,
        F: FnOnce() -> Fut + Send + 'static,
        Fut: Future<Output = Result<T, E>> + Send + 'static,
    {
        let found = match seen {
            Seen::Nothing => self.read_entry::<T>(&full).await,
            Seen::Read(found) => found,
        };
        let now = now_millis();
        let reported = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let function = report.function.clone();
        let call = Call {
            function: function.as_deref(),
            span: report.span.clone(),
            reported: Some(Arc::clone(&reported)),
        };
        if let Some(d) = &found {
            let fresh = d.is_fresh(now);
            if (fresh && refresh_due(d, &policy, self.ttl(policy.timeout), now))
                || (!fresh && within(d, policy.stale_while_revalidate, now))
            {
                let outcome = if fresh { Outcome::Hit } else { Outcome::Stale };
                self.call_outcome(&call, &full, outcome);
                self.refresh_in_background(full, tags, policy, store_if, f);
                return Ok(d.value.clone());
            }
            if fresh {
                self.call_outcome(&call, &full, Outcome::Hit);
                return Ok(d.value.clone());
            }
        }
        let stale = found
            .as_ref()
            .filter(|d| within(d, policy.fail_safe, now))
            .map(|d| d.value.clone());
        let this = self.clone();
        let key = full.clone();
        let soft = policy.soft_timeout;
        let run = async move {
            let call = Call {
                function: report.function.as_deref(),
                span: report.span,
                reported: Some(reported),
            };
            this.compute_policy(
                &key,
                &tags,
                &policy,
                coalesce,
                Seen::Read(found),
                &call,
                |v: &T| store_if(v),
                on_timeout,
                f,
            )
            .await
        };
        let (Some(soft), Some(stale)) = (soft, stale) else {
            return run.await;
        };
        // The computation runs as a task that stores its own value; the
        // caller waits for it at most the soft timeout.
        let task = runtime::spawn(run);
        match select(task, std::pin::pin!(runtime::sleep(soft))).await {
            Either::Left((joined, _)) => match joined {
                Ok(result) => result,
                Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
                Err(_) => Ok(stale), // the runtime is shutting down
            },
            Either::Right(((), _)) => {
                self.call_outcome(&call, &full, Outcome::Stale);
                tracing::debug!(key = %key_for_message(&full), "computation past its soft timeout: serving the stale value while it finishes in the background");
                Ok(stale)
            }
        }
    }

    /// Starts one background computation of `full` that replaces its value,
    /// unless one is running in this process (or, with a distributed lock,
    /// in another).
    fn refresh_in_background<T, E, F, Fut>(
        &self,
        full: String,
        tags: Vec<String>,
        policy: Policy,
        store_if: StoreIf<T>,
        f: F,
    ) where
        T: CacheValue,
        E: Send + 'static,
        F: FnOnce() -> Fut + Send + 'static,
        Fut: Future<Output = Result<T, E>> + Send + 'static,
    {
        if self.inner.flights.is_running(&full) {
            return;
        }
        let this = self.clone();
        runtime::spawn(async move {
            let Join::Leader(leader) = this.inner.flights.join(&full) else {
                return;
            };
            let Some(held) = this.try_lock_once(&full, &policy).await else {
                return; // another process refreshes it
            };
            let refreshed = bounded(policy.hard_timeout, f()).await;
            match &refreshed {
                Some(Ok(value)) if store_if(value) => {
                    this.store_computed(&full, value, &policy, &tags).await;
                }
                Some(Ok(_)) => {}
                Some(Err(_)) => {
                    tracing::debug!(key = %key_for_message(&full), "background refresh failed; the current value stays");
                }
                None => {
                    tracing::debug!(key = %key_for_message(&full), "background refresh timed out; the current value stays");
                }
            }
            // Released once the value is stored (see `lock.rs`).
            if let Some(lock) = held {
                this.release_lock(&lock).await;
            }
            if let Some(Ok(value)) = refreshed {
                leader.finish(|| Arc::new(value));
            }
        });
    }
}

/// `fut`'s output, or `None` once `limit` (if any) has passed.
async fn bounded<F: Future>(limit: Option<Duration>, fut: F) -> Option<F::Output> {
    match limit {
        Some(limit) => runtime::timeout(limit, fut).await.ok(),
        None => Some(fut.await),
    }
}

/// Whether `d` is past its logical expiry by less than `window`.
fn within<T>(d: &Decoded<T>, window: Option<Duration>, now: u64) -> bool {
    match (d.fresh_until, window) {
        (Some(until), Some(window)) => now < until.saturating_add(millis(window)),
        _ => false,
    }
}

/// Whether a fresh value is past the refresh-ahead point of its life.
fn refresh_due<T>(d: &Decoded<T>, policy: &Policy, ttl: Ttl, now: u64) -> bool {
    let (Some(fraction), Some(until), Ttl::After(timeout)) =
        (policy.refresh_ahead, d.fresh_until, ttl)
    else {
        return false;
    };
    if !(fraction > 0.0 && fraction < 1.0) {
        return false;
    }
    let early = timeout.mul_f64(1.0 - fraction);
    now >= until.saturating_sub(millis(early))
}

pub(crate) fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// What waiting for the distributed lock of a key ended with.
pub(crate) enum Locked<T> {
    /// Another process computed the value.
    Value(T),
    /// This caller holds the lock and computes.
    Held(HeldLock),
    /// No lock: the policy has none, the store is in process or failing,
    /// or the wait ran out. The caller computes.
    Without,
}

/// A distributed lock this process holds.
pub(crate) struct HeldLock {
    pub(crate) key: String,
    pub(crate) token: String,
}

/// Used by the distributed lock (see `lock.rs`).
pub(crate) fn lock_applies(cache: &Cache, policy: &Policy) -> bool {
    policy.lock == Some(Lock::Distributed) && !cache.is_local()
}
