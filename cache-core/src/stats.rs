//! Hit, miss, set, delete and error counters.
//!
//! The counters sit on the hit path of every call, from every thread, so
//! they are striped: each thread adds to its own cache-line-sized slot
//! (no line bouncing between cores), and a snapshot sums the slots.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use serde::Serialize;

/// Counts of what the cache did since it was built.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> cache_core::Result<()> {
/// let cache = cache_core::Cache::default();
/// cache.get::<u32>("missing").await?;
/// assert_eq!(cache.stats().misses, 1);
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct Stats {
    /// Lookups that found a value.
    pub hits: u64,
    /// Lookups that found nothing (or an undecodable value).
    pub misses: u64,
    /// Values stored.
    pub sets: u64,
    /// Keys removed by `delete`, `delete_many` and `clear`.
    pub deletes: u64,
    /// Backend and codec errors, including those absorbed by `ignore_errors`
    /// and by memoized functions.
    pub errors: u64,
    /// Store calls skipped because the circuit breaker was open (see
    /// [`CacheBuilder::circuit_breaker`](crate::CacheBuilder::circuit_breaker)).
    pub circuit_skips: u64,
    /// Times the circuit breaker opened.
    pub circuit_opens: u64,
}

impl Stats {
    /// Hits divided by lookups, or 0 when there were none.
    ///
    /// ```
    /// assert_eq!(cache_core::Stats::default().hit_ratio(), 0.0);
    /// ```
    #[expect(
        clippy::cast_precision_loss,
        reason = "a ratio needs no more than f64 precision"
    )]
    pub fn hit_ratio(&self) -> f64 {
        let lookups = self.hits + self.misses;
        if lookups == 0 {
            0.0
        } else {
            self.hits as f64 / lookups as f64
        }
    }
}

const STRIPES: usize = 8;

#[derive(Default)]
#[repr(align(128))]
struct Stripe {
    hits: AtomicU64,
    misses: AtomicU64,
    sets: AtomicU64,
    deletes: AtomicU64,
    errors: AtomicU64,
}

#[derive(Default)]
pub(crate) struct Counters {
    stripes: [Stripe; STRIPES],
}

fn slot() -> usize {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    thread_local! {
        static SLOT: usize = NEXT.fetch_add(1, Ordering::Relaxed) % STRIPES;
    }
    SLOT.with(|s| *s)
}

impl Counters {
    #[inline]
    fn mine(&self) -> &Stripe {
        &self.stripes[slot()]
    }
    #[inline]
    pub(crate) fn hit(&self) {
        self.mine().hits.fetch_add(1, Ordering::Relaxed);
    }
    #[inline]
    pub(crate) fn miss(&self) {
        self.mine().misses.fetch_add(1, Ordering::Relaxed);
    }
    pub(crate) fn set(&self, n: u64) {
        self.mine().sets.fetch_add(n, Ordering::Relaxed);
    }
    pub(crate) fn deleted(&self, n: u64) {
        self.mine().deletes.fetch_add(n, Ordering::Relaxed);
    }
    pub(crate) fn error(&self) {
        self.mine().errors.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn snapshot(&self) -> Stats {
        let sum = |f: fn(&Stripe) -> &AtomicU64| -> u64 {
            self.stripes
                .iter()
                .map(|s| f(s).load(Ordering::Relaxed))
                .sum()
        };
        Stats {
            hits: sum(|s| &s.hits),
            misses: sum(|s| &s.misses),
            sets: sum(|s| &s.sets),
            deletes: sum(|s| &s.deletes),
            errors: sum(|s| &s.errors),
            circuit_skips: 0,
            circuit_opens: 0,
        }
    }
}
