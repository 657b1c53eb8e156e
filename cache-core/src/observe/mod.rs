//! Observing a cache: tracing spans, statistics, `metrics` and listeners.
//!
//! The engine emits one event per outcome (a hit, a miss, a coalesced
//! wait, a stale value served, a write, an invalidation, an error, a
//! circuit-breaker transition) and every consumer reads that event:
//!
//! - **statistics**: [`Cache::stats`] for the whole cache,
//!   [`Cache::function_stats`] (or the generated `<fn>_stats()`) per
//!   memoized function; see [`Stats`](crate::Stats);
//! - **tracing**: spans named `cache.get`, `cache.set`, `cache.delete`,
//!   `cache.get_or_set` (the `Cache` API), `cache.call` (a memoized call)
//!   and `cache.compute` (the computation a miss runs, inside the call's
//!   span), at `debug` level, with the fields `cache.name`, `cache.store`,
//!   `cache.function`, `cache.outcome` (`hit`, `miss`, `coalesced`, `stale`
//!   or `error`) and, only when `trace` is enabled for `cache_core`,
//!   `cache.key`. Values are never recorded. Store errors are `debug`
//!   events with `error.type` (the [`ErrorKind`]); the first error of an
//!   outage is a `warn`, rate-limited;
//! - **metrics** (feature `metrics`): counters and histograms through the
//!   [`metrics`](https://docs.rs/metrics) facade, named below;
//! - **listeners**: a [`Listener`] given to
//!   [`CacheBuilder::listener`](crate::CacheBuilder::listener) receives
//!   every [`Event`].
//!
//! Nothing is paid for a consumer that is not there: the counters are
//! striped per thread, a disabled span is one relaxed load, an absent
//! listener a `None` check, and without a recorder the metric handles are
//! no-ops.
//!
//! # Metrics
//!
//! Names follow the OpenTelemetry conventions (dotted lowercase names,
//! units in the metadata, durations in seconds as `db.client.operation.duration`,
//! `error.type` for the error's kind); a Prometheus exporter writes them
//! as `cache_lookups_total`, `cache_store_duration_seconds` and so on.
//!
//! | name | kind | labels | what |
//! |---|---|---|---|
//! | `cache.lookups` | counter | `cache.outcome` = `hit`, `miss`, `coalesced`, `stale` | lookups and read-through calls by outcome |
//! | `cache.sets` | counter | | values stored |
//! | `cache.deletes` | counter | | keys removed (deletes, invalidations, `clear`) |
//! | `cache.errors` | counter | `error.type`, `cache.operation` | store and codec errors |
//! | `cache.store.duration` | histogram (s) | `cache.operation` | calls to a store outside the process |
//! | `cache.compute.duration` | histogram (s) | | the computation a miss runs |
//! | `cache.breaker.transitions` | counter | `cache.breaker.state` = `open`, `closed` | circuit-breaker transitions (per cache) |
//! | `cache.breaker.skipped` | counter | | store calls skipped while the breaker is open |
//! | `cache.breaker.open` | gauge | | 1 while the breaker is open, 0 otherwise |
//!
//! Every metric carries `cache.name` (see
//! [`CacheBuilder::name`](crate::CacheBuilder::name); the key prefix by
//! default) and `cache.store` (`memory`, `redis`, `null` or `custom`);
//! lookups, errors and computations of a memoized function carry
//! `cache.function`, its path (`module::function`); writes, deletes,
//! store calls and the breaker are counted per cache. Metric handles are registered at a cache's (or a
//! function's) first event: install the recorder before the first call.
//!
//! OpenTelemetry: the metrics reach an OpenTelemetry `Meter` through a
//! `metrics` recorder that bridges to it (such as `metrics-exporter-otel`),
//! or a collector scrapes the Prometheus exporter; the spans reach it
//! through `tracing-opentelemetry`.
//!
//! ```
//! use std::sync::atomic::{AtomicU64, Ordering};
//! use std::sync::Arc;
//! use cache_core::observe::{Event, EventKind};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> cache_core::Result<()> {
//! let hits = Arc::new(AtomicU64::new(0));
//! let seen = Arc::clone(&hits);
//! let cache = cache_core::Cache::builder()
//!     .name("users")
//!     .listener(move |event: &Event<'_>| {
//!         if event.kind == EventKind::Hit {
//!             seen.fetch_add(1, Ordering::Relaxed);
//!         }
//!     })
//!     .build()?;
//! cache.set("k", &1u8, None).await?;
//! cache.get::<u8>("k").await?;
//! assert_eq!(hits.load(Ordering::Relaxed), 1);
//! # Ok(())
//! # }
//! ```

mod functions;
#[cfg(feature = "metrics")]
mod metrics;
pub(crate) mod spans;

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

pub(crate) use functions::{Function, Functions};

pub(crate) use crate::stats::Outcome;
use crate::{Cache, ErrorKind};

/// What happened; carried by an [`Event`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum EventKind {
    /// A lookup found a value.
    Hit,
    /// A lookup found nothing; for a read-through call, this caller computes.
    Miss,
    /// A read-through caller received the value another caller computed.
    Coalesced,
    /// An expired value was served instead of an error.
    Stale,
    /// A value was stored.
    Set,
    /// Keys were removed (a delete, an invalidation or `clear`).
    Invalidated {
        /// How many keys existed and were removed.
        removed: u64,
    },
    /// A store or codec error (absorbed or returned).
    Error {
        /// Its kind.
        kind: ErrorKind,
        /// The operation that failed (`get`, `set`, `delete`, …).
        operation: &'static str,
    },
    /// The circuit breaker opened: the store is skipped for a while.
    BreakerOpened,
    /// The circuit breaker closed: the store is called again.
    BreakerClosed,
    /// A store call was skipped because the circuit breaker is open.
    BreakerSkipped {
        /// The operation skipped.
        operation: &'static str,
    },
}

impl EventKind {
    /// A short lowercase name: `hit`, `miss`, `coalesced`, `stale`, `set`,
    /// `invalidated`, `error`, `breaker_opened`, `breaker_closed`,
    /// `breaker_skipped`.
    ///
    /// ```
    /// assert_eq!(cache_core::observe::EventKind::Coalesced.as_str(), "coalesced");
    /// ```
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Hit => "hit",
            Self::Miss => "miss",
            Self::Coalesced => "coalesced",
            Self::Stale => "stale",
            Self::Set => "set",
            Self::Invalidated { .. } => "invalidated",
            Self::Error { .. } => "error",
            Self::BreakerOpened => "breaker_opened",
            Self::BreakerClosed => "breaker_closed",
            Self::BreakerSkipped { .. } => "breaker_skipped",
        }
    }
}

/// One thing a cache did, as a [`Listener`] receives it.
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub struct Event<'a> {
    /// What happened.
    pub kind: EventKind,
    /// The cache's name ([`CacheBuilder::name`](crate::CacheBuilder::name)).
    pub cache: &'a str,
    /// The store: `memory`, `redis`, `null` or `custom`.
    pub store: &'static str,
    /// The memoized function's path (`module::function`), when the event
    /// comes from one.
    pub function: Option<&'a str>,
    /// The full key (prefix included), when the event concerns one key.
    pub key: Option<&'a str>,
}

/// Receives a cache's [`Event`]s: for framework authors who feed their own
/// metrics, audit logs or tests. Set with
/// [`CacheBuilder::listener`](crate::CacheBuilder::listener).
///
/// It is called synchronously on the caller's thread, on the hit path
/// too: keep it short, and hand anything slow to another task. A closure
/// `Fn(&Event<'_>)` is a listener.
///
/// ```
/// use cache_core::observe::{Event, Listener};
///
/// struct Log;
/// impl Listener for Log {
///     fn on_event(&self, event: &Event<'_>) {
///         println!("{} {:?}", event.kind.as_str(), event.key);
///     }
/// }
/// let cache = cache_core::Cache::builder().listener(Log).build()?;
/// # Ok::<(), cache_core::Error>(())
/// ```
pub trait Listener: Send + Sync + 'static {
    /// Called once per event.
    fn on_event(&self, event: &Event<'_>);
}

impl<F> Listener for F
where
    F: Fn(&Event<'_>) + Send + Sync + 'static,
{
    fn on_event(&self, event: &Event<'_>) {
        self(event);
    }
}

/// The label of an [`ErrorKind`] in metrics and serialized statistics:
/// `connection`, `timeout`, `codec`, `config`, `backend`, `too_large`,
/// `invalid_input`, `unsupported`.
pub(crate) fn kind_label(kind: ErrorKind) -> &'static str {
    match kind {
        ErrorKind::Connection => "connection",
        ErrorKind::Timeout => "timeout",
        ErrorKind::Codec => "codec",
        ErrorKind::Config => "config",
        ErrorKind::Backend => "backend",
        ErrorKind::TooLarge => "too_large",
        ErrorKind::InvalidInput => "invalid_input",
        ErrorKind::Unsupported => "unsupported",
        #[allow(unreachable_patterns)]
        _ => "other",
    }
}

/// What the engine reports; [`Cache::emit`] hands it to every consumer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Emit {
    /// A lookup's or a read-through call's outcome.
    Outcome(Outcome),
    /// `n` values stored.
    Set(u64),
    /// `n` keys removed.
    Deleted(u64),
    /// A store or codec error.
    Error { kind: ErrorKind, op: &'static str },
    /// The circuit breaker opened. (This and the two variants below are
    /// reported by the resilience policies; the consumers handle them all.)
    #[allow(dead_code)]
    BreakerOpened,
    /// The circuit breaker closed.
    #[allow(dead_code)]
    BreakerClosed,
    /// A store call skipped because the breaker is open.
    #[allow(dead_code)]
    BreakerSkipped { op: &'static str },
}

/// A cache's observers: its name and store label, its listener, its
/// per-function statistics and metric handles.
pub(crate) struct Observer {
    pub(crate) name: Box<str>,
    pub(crate) store: &'static str,
    listener: Option<Arc<dyn Listener>>,
    pub(crate) functions: Functions,
    #[cfg(feature = "metrics")]
    metrics: std::sync::OnceLock<metrics::CacheHandles>,
}

impl Observer {
    pub(crate) fn new(
        name: Box<str>,
        store: &'static str,
        listener: Option<Arc<dyn Listener>>,
    ) -> Self {
        Self {
            name,
            store,
            listener,
            functions: Functions::default(),
            #[cfg(feature = "metrics")]
            metrics: std::sync::OnceLock::new(),
        }
    }

    pub(crate) fn has_listener(&self) -> bool {
        self.listener.is_some()
    }
}

impl fmt::Debug for Observer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Observer")
            .field("name", &self.name)
            .field("store", &self.store)
            .field("listener", &self.listener.is_some())
            .finish_non_exhaustive()
    }
}

/// The store label of a backend given to the builder.
pub(crate) fn store_label(backend: &dyn std::any::Any) -> &'static str {
    if backend.is::<crate::MemoryBackend>() {
        "memory"
    } else if backend.is::<crate::NullBackend>() {
        "null"
    } else {
        #[cfg(feature = "redis")]
        if backend.is::<crate::backend::RedisBackend>() {
            return "redis";
        }
        "custom"
    }
}

/// The statistics consumer.
#[inline]
fn count(counters: &crate::stats::Counters, event: Emit) {
    match event {
        Emit::Outcome(outcome) => counters.outcome(outcome),
        Emit::Set(n) => counters.set(n),
        Emit::Deleted(n) => counters.deleted(n),
        Emit::Error { kind, .. } => counters.error(kind),
        Emit::BreakerOpened => counters.breaker_opened(),
        Emit::BreakerClosed => counters.breaker_closed(),
        Emit::BreakerSkipped { .. } => counters.breaker_skipped(),
    }
}

impl Cache {
    pub(crate) fn observer(&self) -> &Observer {
        &self.inner.observer
    }

    /// Hands an event to every consumer: the statistics (of `function`
    /// when there is one, else of the cache: [`Cache::stats`] adds the
    /// functions' up, so the hit path counts once); the metrics; the
    /// listener. `key` is
    /// the full key the event concerns, for the listener. The crate's one
    /// entry point for events: the engine calls it at each outcome.
    #[inline]
    pub(crate) fn emit(&self, function: Option<&Function>, key: Option<&str>, event: Emit) {
        count(function.map_or(&self.inner.stats, |f| &f.stats), event);
        #[cfg(feature = "metrics")]
        self.emit_metrics(function, event);
        if self.inner.observer.listener.is_some() {
            self.notify(function, key, event);
        }
    }

    /// [`emit`](Self::emit) of an outcome.
    #[inline]
    pub(crate) fn outcome(&self, function: Option<&Function>, key: Option<&str>, outcome: Outcome) {
        self.emit(function, key, Emit::Outcome(outcome));
    }

    #[cold]
    #[inline(never)]
    fn notify(&self, function: Option<&Function>, key: Option<&str>, event: Emit) {
        let Some(listener) = &self.inner.observer.listener else {
            return;
        };
        let kind = match event {
            Emit::Outcome(Outcome::Hit) => EventKind::Hit,
            Emit::Outcome(Outcome::Miss) => EventKind::Miss,
            Emit::Outcome(Outcome::Coalesced) => EventKind::Coalesced,
            Emit::Outcome(Outcome::Stale) => EventKind::Stale,
            Emit::Set(_) => EventKind::Set,
            Emit::Deleted(removed) => EventKind::Invalidated { removed },
            Emit::Error { kind, op } => EventKind::Error {
                kind,
                operation: op,
            },
            Emit::BreakerOpened => EventKind::BreakerOpened,
            Emit::BreakerClosed => EventKind::BreakerClosed,
            Emit::BreakerSkipped { op } => EventKind::BreakerSkipped { operation: op },
        };
        listener.on_event(&Event {
            kind,
            cache: &self.inner.observer.name,
            store: self.inner.observer.store,
            function: function.map(Function::path),
            key,
        });
    }

    /// Records how long a call to a store outside the process took.
    pub(crate) fn store_latency(&self, op: &'static str, elapsed: Duration) {
        self.inner.stats.store_call(elapsed);
        #[cfg(feature = "metrics")]
        self.inner
            .observer
            .store_duration(op, elapsed.as_secs_f64());
        #[cfg(not(feature = "metrics"))]
        let _ = op;
    }

    /// Records how long a computation run on a miss took.
    pub(crate) fn compute_latency(&self, function: Option<&Function>, elapsed: Duration) {
        function
            .map_or(&self.inner.stats, |f| &f.stats)
            .computation(elapsed);
        #[cfg(feature = "metrics")]
        self.compute_duration(function, elapsed.as_secs_f64());
    }

    /// Runs a call to the store, timed when the store is outside the
    /// process.
    pub(crate) async fn timed<T>(
        &self,
        op: &'static str,
        call: impl std::future::Future<Output = crate::Result<T>>,
    ) -> crate::Result<T> {
        if self.is_local() {
            return call.await;
        }
        let started = std::time::Instant::now();
        let result = call.await;
        self.store_latency(op, started.elapsed());
        result
    }

    /// Per-function statistics of this cache: every memoized function that
    /// ran with it, by path (`module::function`; for methods,
    /// `Type::method`).
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> cache_core::Result<()> {
    /// use std::sync::LazyLock;
    /// use cache_core::{memoize, Cache};
    ///
    /// static CACHE: LazyLock<Cache> = LazyLock::new(Cache::default);
    ///
    /// #[memoize(cache = CACHE)]
    /// async fn square(x: u64) -> u64 { x * x }
    ///
    /// square(3).await;
    /// square(3).await;
    /// let all = CACHE.function_stats();
    /// let (path, stats) = all.iter().next().unwrap();
    /// assert!(path.ends_with("::square"));
    /// assert_eq!((stats.hits, stats.misses), (1, 1));
    /// assert_eq!(square_stats().hits, 1);
    /// # Ok(())
    /// # }
    /// ```
    pub fn function_stats(&self) -> std::collections::BTreeMap<String, crate::Stats> {
        self.inner
            .observer
            .functions
            .all()
            .into_iter()
            .map(|f| (f.path().to_owned(), f.stats.snapshot()))
            .collect()
    }

    /// The name used in spans, metrics and events
    /// ([`CacheBuilder::name`](crate::CacheBuilder::name)).
    ///
    /// ```
    /// let cache = cache_core::Cache::builder().key_prefix("shop").build()?;
    /// assert_eq!(cache.name(), "shop");
    /// # Ok::<(), cache_core::Error>(())
    /// ```
    pub fn name(&self) -> &str {
        &self.inner.observer.name
    }
}

/// What a read-through call reports its outcome to: the memoized
/// function it belongs to (if any) and its span.
pub(crate) struct Call<'a> {
    pub(crate) function: Option<&'a Function>,
    pub(crate) span: tracing::Span,
    /// Shared by the caller and a computation it leaves running in the
    /// background (a soft timeout): whichever reports first is the call's
    /// one outcome.
    pub(crate) reported: Option<std::sync::Arc<std::sync::atomic::AtomicBool>>,
}

impl<'a> Call<'a> {
    /// A call of `function` (if any), in `span`.
    pub(crate) fn new(function: Option<&'a Function>, span: tracing::Span) -> Self {
        Self {
            function,
            span,
            reported: None,
        }
    }
}

impl Call<'static> {
    /// A read-through call of the `Cache` API, in `span`.
    pub(crate) fn api(span: tracing::Span) -> Self {
        Self::new(None, span)
    }
}

impl Cache {
    /// Reports a read-through call's outcome: on its span, and to every
    /// consumer.
    #[inline]
    pub(crate) fn call_outcome(&self, call: &Call<'_>, full: &str, outcome: Outcome) {
        if call
            .reported
            .as_ref()
            .is_some_and(|r| r.swap(true, std::sync::atomic::Ordering::AcqRel))
        {
            return;
        }
        spans::outcome(&call.span, outcome);
        spans::key(&call.span, || full.to_owned());
        self.outcome(call.function, Some(full), outcome);
    }

    /// Runs a miss's computation in a `cache.compute` span, timed.
    pub(crate) async fn computed<T, E>(
        &self,
        call: &Call<'_>,
        computation: impl std::future::Future<Output = Result<T, E>>,
    ) -> Result<T, E> {
        use tracing::Instrument as _;
        let started = std::time::Instant::now();
        let result = computation.instrument(spans::compute()).await;
        self.compute_latency(call.function, started.elapsed());
        if result.is_err() {
            spans::failed(&call.span);
        }
        result
    }
}

#[cfg(test)]
mod tests;
