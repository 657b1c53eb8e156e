//! The counters behind [`Cache::stats`](crate::Cache::stats) and the
//! per-function statistics: outcomes of lookups, writes, errors by kind,
//! circuit-breaker transitions and latencies.
//!
//! The counters sit on the hit path of every call, from every thread, so
//! they are striped: each thread adds to its own cache-line-sized slot
//! (no line bouncing between cores), and a snapshot sums the slots.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use serde::Serialize;

use crate::ErrorKind;

/// Counts of what a cache (or one memoized function in it) did since the
/// cache was built.
///
/// Every read-through call (a memoized call, `get_or_set_with`) has one
/// outcome: a **hit** (the value was in the cache), a **miss** (this
/// caller ran the computation), a **coalesced** wait (another caller in
/// this process was computing the same key and this one received its
/// value), or a **stale** serve (an expired value served instead of an
/// error). A plain [`get`](crate::Cache::get) is a hit or a miss.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> cache_core::Result<()> {
/// let cache = cache_core::Cache::default();
/// cache.get::<u32>("missing").await?;
/// cache.get_or_set_with("answer", None, || async { 42u32 }).await;
/// cache.get_or_set_with("answer", None, || async { 0u32 }).await;
/// let stats = cache.stats();
/// assert_eq!((stats.hits, stats.misses), (1, 2));
/// assert_eq!(stats.compute.count, 1);
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct Stats {
    /// Lookups that found a value.
    pub hits: u64,
    /// Lookups that found nothing (or a value that cannot be read as the
    /// requested type); for a read-through call, the caller then computed.
    pub misses: u64,
    /// Read-through callers that missed while another caller in this
    /// process computed the same key, and received its value (single-flight).
    pub coalesced: u64,
    /// Read-through callers served an expired value instead of an error.
    pub stale: u64,
    /// Values stored.
    pub sets: u64,
    /// Keys removed by `delete`, `delete_many`, invalidations and `clear`.
    pub deletes: u64,
    /// Store and codec errors, including those absorbed by `ignore_errors`
    /// and by memoized functions; [`errors_by_kind`](Self::errors_by_kind)
    /// splits them.
    pub errors: u64,
    /// [`errors`](Self::errors) by [`ErrorKind`].
    pub errors_by_kind: ErrorCounts,
    /// Times the circuit breaker opened (the store is skipped while open).
    pub breaker_opened: u64,
    /// Times the circuit breaker closed again.
    pub breaker_closed: u64,
    /// Store calls skipped because the circuit breaker was open.
    pub breaker_skipped: u64,
    /// Calls to a store outside the process (the in-process memory store's
    /// reads are not timed: they are the hit path).
    pub store: Latency,
    /// Computations run on a miss (the cached function's body).
    pub compute: Latency,
}

impl Stats {
    /// The share of read-through calls and lookups that did not run a
    /// computation: (hits + coalesced) / (hits + misses + coalesced + stale),
    /// or 0 when there were none.
    ///
    /// ```
    /// assert_eq!(cache_core::Stats::default().hit_ratio(), 0.0);
    /// ```
    #[expect(
        clippy::cast_precision_loss,
        reason = "a ratio needs no more than f64 precision"
    )]
    pub fn hit_ratio(&self) -> f64 {
        let lookups = self.hits + self.misses + self.coalesced + self.stale;
        if lookups == 0 {
            0.0
        } else {
            (self.hits + self.coalesced) as f64 / lookups as f64
        }
    }
}

impl Stats {
    /// Adds `other`'s counts to these (the cache's own and its functions').
    pub(crate) fn add(&mut self, other: &Stats) {
        self.hits += other.hits;
        self.misses += other.misses;
        self.coalesced += other.coalesced;
        self.stale += other.stale;
        self.sets += other.sets;
        self.deletes += other.deletes;
        self.errors += other.errors;
        for (mine, theirs) in self.errors_by_kind.0.iter_mut().zip(other.errors_by_kind.0) {
            *mine += theirs;
        }
        self.breaker_opened += other.breaker_opened;
        self.breaker_closed += other.breaker_closed;
        self.breaker_skipped += other.breaker_skipped;
        self.store.add(&other.store);
        self.compute.add(&other.compute);
    }
}

/// Error counts by [`ErrorKind`].
///
/// ```
/// use cache_core::{ErrorKind, Stats};
/// assert_eq!(Stats::default().errors_by_kind.get(ErrorKind::Timeout), 0);
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ErrorCounts([u64; KINDS]);

impl ErrorCounts {
    /// How many errors of `kind` there were.
    ///
    /// ```
    /// # use cache_core::{ErrorKind, Stats};
    /// let by_kind = Stats::default().errors_by_kind;
    /// assert_eq!(by_kind.get(ErrorKind::Connection), 0);
    /// ```
    pub fn get(&self, kind: ErrorKind) -> u64 {
        self.0[kind_index(kind)]
    }

    /// The kinds with at least one error, with their counts.
    ///
    /// ```
    /// # use cache_core::Stats;
    /// assert_eq!(Stats::default().errors_by_kind.iter().count(), 0);
    /// ```
    pub fn iter(&self) -> impl Iterator<Item = (ErrorKind, u64)> + '_ {
        ALL_KINDS
            .iter()
            .map(|&kind| (kind, self.get(kind)))
            .filter(|&(_, n)| n > 0)
    }
}

impl Serialize for ErrorCounts {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut map = serializer.serialize_map(None)?;
        for (kind, n) in self.iter() {
            map.serialize_entry(crate::observe::kind_label(kind), &n)?;
        }
        map.end()
    }
}

/// How many timed calls there were and how long they took.
///
/// ```
/// let latency = cache_core::Stats::default().store;
/// assert_eq!(latency.mean(), None);
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct Latency {
    /// Calls timed.
    pub count: u64,
    /// Their total duration.
    pub total: Duration,
    /// The longest of them.
    pub max: Duration,
}

impl Latency {
    /// The mean duration, `None` when nothing was timed.
    ///
    /// ```
    /// assert_eq!(cache_core::Stats::default().compute.mean(), None);
    /// ```
    pub fn mean(&self) -> Option<Duration> {
        let count = u32::try_from(self.count).unwrap_or(u32::MAX);
        (count > 0).then(|| self.total / count)
    }

    fn add(&mut self, other: &Latency) {
        self.count += other.count;
        self.total += other.total;
        self.max = self.max.max(other.max);
    }
}

const KINDS: usize = 9;

const ALL_KINDS: [ErrorKind; KINDS - 1] = [
    ErrorKind::Connection,
    ErrorKind::Timeout,
    ErrorKind::Codec,
    ErrorKind::Config,
    ErrorKind::Backend,
    ErrorKind::TooLarge,
    ErrorKind::InvalidInput,
    ErrorKind::Unsupported,
];

/// The slot of `kind`; the last one counts kinds added later.
fn kind_index(kind: ErrorKind) -> usize {
    ALL_KINDS
        .iter()
        .position(|&k| k == kind)
        .unwrap_or(KINDS - 1)
}

const STRIPES: usize = 8;

#[derive(Default)]
struct Timing {
    count: AtomicU64,
    nanos: AtomicU64,
    max: AtomicU64,
}

impl Timing {
    fn record(&self, elapsed: Duration) {
        let nanos = u64::try_from(elapsed.as_nanos()).unwrap_or(u64::MAX);
        self.count.fetch_add(1, Ordering::Relaxed);
        self.nanos.fetch_add(nanos, Ordering::Relaxed);
        self.max.fetch_max(nanos, Ordering::Relaxed);
    }
}

#[derive(Default)]
#[repr(align(128))]
struct Stripe {
    hits: AtomicU64,
    misses: AtomicU64,
    coalesced: AtomicU64,
    stale: AtomicU64,
    sets: AtomicU64,
    deletes: AtomicU64,
    errors: [AtomicU64; KINDS],
    breaker_opened: AtomicU64,
    breaker_closed: AtomicU64,
    breaker_skipped: AtomicU64,
    store: Timing,
    compute: Timing,
}

/// What a read-through call or lookup ended with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Outcome {
    Hit,
    Miss,
    Coalesced,
    /// Reported by the fail-safe policy; every consumer handles it.
    #[allow(dead_code)]
    Stale,
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

fn add(counter: &AtomicU64, n: u64) {
    counter.fetch_add(n, Ordering::Relaxed);
}

impl Counters {
    #[inline]
    fn mine(&self) -> &Stripe {
        &self.stripes[slot()]
    }
    #[inline]
    pub(crate) fn outcome(&self, outcome: Outcome) {
        let stripe = self.mine();
        add(
            match outcome {
                Outcome::Hit => &stripe.hits,
                Outcome::Miss => &stripe.misses,
                Outcome::Coalesced => &stripe.coalesced,
                Outcome::Stale => &stripe.stale,
            },
            1,
        );
    }
    pub(crate) fn set(&self, n: u64) {
        add(&self.mine().sets, n);
    }
    pub(crate) fn deleted(&self, n: u64) {
        add(&self.mine().deletes, n);
    }
    pub(crate) fn error(&self, kind: ErrorKind) {
        add(&self.mine().errors[kind_index(kind)], 1);
    }
    pub(crate) fn breaker_opened(&self) {
        add(&self.mine().breaker_opened, 1);
    }
    pub(crate) fn breaker_closed(&self) {
        add(&self.mine().breaker_closed, 1);
    }
    pub(crate) fn breaker_skipped(&self) {
        add(&self.mine().breaker_skipped, 1);
    }
    pub(crate) fn store_call(&self, elapsed: Duration) {
        self.mine().store.record(elapsed);
    }
    pub(crate) fn computation(&self, elapsed: Duration) {
        self.mine().compute.record(elapsed);
    }

    pub(crate) fn snapshot(&self) -> Stats {
        let sum = |f: &dyn Fn(&Stripe) -> &AtomicU64| -> u64 {
            self.stripes
                .iter()
                .map(|s| f(s).load(Ordering::Relaxed))
                .sum()
        };
        let latency = |f: &dyn Fn(&Stripe) -> &Timing| Latency {
            count: sum(&|s| &f(s).count),
            total: Duration::from_nanos(sum(&|s| &f(s).nanos)),
            max: Duration::from_nanos(
                self.stripes
                    .iter()
                    .map(|s| f(s).max.load(Ordering::Relaxed))
                    .max()
                    .unwrap_or(0),
            ),
        };
        let errors_by_kind = ErrorCounts(std::array::from_fn(|i| sum(&|s| &s.errors[i])));
        Stats {
            hits: sum(&|s| &s.hits),
            misses: sum(&|s| &s.misses),
            coalesced: sum(&|s| &s.coalesced),
            stale: sum(&|s| &s.stale),
            sets: sum(&|s| &s.sets),
            deletes: sum(&|s| &s.deletes),
            errors: errors_by_kind.0.iter().sum(),
            errors_by_kind,
            breaker_opened: sum(&|s| &s.breaker_opened),
            breaker_closed: sum(&|s| &s.breaker_closed),
            breaker_skipped: sum(&|s| &s.breaker_skipped),
            store: latency(&|s| &s.store),
            compute: latency(&|s| &s.compute),
        }
    }
}
