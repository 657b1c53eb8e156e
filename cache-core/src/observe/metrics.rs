//! The `metrics` consumer: counters and histograms named as documented in
//! [`crate::observe`], through the facade's global recorder.
//!
//! The counters of the hit path are registered once per cache and per
//! function (at its first event) and kept as handles; the rarer events
//! (errors, store calls, computations) register through the macros.

use metrics::{Counter, Gauge, Label};

use super::{kind_label, Emit, Function, Observer, Outcome};
use crate::Cache;

/// The lookup counters of one cache, or of one function in it, and the
/// labels they carry.
pub(crate) struct Handles {
    labels: Vec<Label>,
    hit: Counter,
    miss: Counter,
    coalesced: Counter,
    stale: Counter,
}

impl Handles {
    fn new(labels: Vec<Label>) -> Self {
        describe();
        let lookup = |outcome: &'static str| {
            let mut labels = labels.clone();
            labels.push(Label::new("cache.outcome", outcome));
            metrics::counter!("cache.lookups", labels)
        };
        Self {
            hit: lookup("hit"),
            miss: lookup("miss"),
            coalesced: lookup("coalesced"),
            stale: lookup("stale"),
            labels,
        }
    }
}

/// The handles of one cache: its lookups, and what only the cache counts
/// (writes, deletes and the breaker belong to the store, not a function).
pub(crate) struct CacheHandles {
    lookups: Handles,
    sets: Counter,
    deletes: Counter,
    opened: Counter,
    closed: Counter,
    skipped: Counter,
    open: Gauge,
}

impl CacheHandles {
    fn new(labels: Vec<Label>) -> Self {
        let transition = |state: &'static str| {
            let mut labels = labels.clone();
            labels.push(Label::new("cache.breaker.state", state));
            metrics::counter!("cache.breaker.transitions", labels)
        };
        Self {
            sets: metrics::counter!("cache.sets", labels.clone()),
            deletes: metrics::counter!("cache.deletes", labels.clone()),
            opened: transition("open"),
            closed: transition("closed"),
            skipped: metrics::counter!("cache.breaker.skipped", labels.clone()),
            open: metrics::gauge!("cache.breaker.open", labels.clone()),
            lookups: Handles::new(labels),
        }
    }
}

/// Describes the metrics (units and help texts) once per process.
fn describe() {
    static DESCRIBED: std::sync::Once = std::sync::Once::new();
    DESCRIBED.call_once(|| {
        use metrics::Unit;
        metrics::describe_counter!(
            "cache.lookups",
            "Cache lookups and read-through calls by outcome (hit, miss, coalesced, stale)"
        );
        metrics::describe_counter!("cache.sets", "Values stored in the cache");
        metrics::describe_counter!(
            "cache.deletes",
            "Keys removed by deletes, invalidations and clear"
        );
        metrics::describe_counter!(
            "cache.errors",
            "Store and codec errors by error.type and cache.operation"
        );
        metrics::describe_histogram!(
            "cache.store.duration",
            Unit::Seconds,
            "Duration of calls to a store outside the process"
        );
        metrics::describe_histogram!(
            "cache.compute.duration",
            Unit::Seconds,
            "Duration of the computations run on cache misses"
        );
        metrics::describe_counter!(
            "cache.breaker.transitions",
            "Circuit-breaker transitions by cache.breaker.state"
        );
        metrics::describe_counter!(
            "cache.breaker.skipped",
            "Store calls skipped while the circuit breaker is open"
        );
        metrics::describe_gauge!(
            "cache.breaker.open",
            "1 while the circuit breaker is open, 0 otherwise"
        );
    });
}

impl Observer {
    fn labels(&self, function: Option<&Function>) -> Vec<Label> {
        let mut labels = vec![
            Label::new("cache.name", self.name.to_string()),
            Label::new("cache.store", self.store),
        ];
        if let Some(function) = function {
            labels.push(Label::new("cache.function", function.path().to_owned()));
        }
        labels
    }

    #[inline]
    fn cache_handles(&self) -> &CacheHandles {
        self.metrics
            .get_or_init(|| CacheHandles::new(self.labels(None)))
    }

    #[inline]
    fn handles<'a>(&'a self, function: Option<&'a Function>) -> &'a Handles {
        match function {
            Some(f) => f.metrics.get_or_init(|| Handles::new(self.labels(Some(f)))),
            None => &self.cache_handles().lookups,
        }
    }

    pub(super) fn store_duration(&self, op: &'static str, seconds: f64) {
        let mut labels = self.labels(None);
        labels.push(Label::new("cache.operation", op));
        metrics::histogram!("cache.store.duration", labels).record(seconds);
    }
}

impl Cache {
    #[inline]
    pub(super) fn emit_metrics(&self, function: Option<&Function>, event: Emit) {
        let observer = &self.inner.observer;
        match event {
            Emit::Outcome(outcome) => {
                let handles = observer.handles(function);
                match outcome {
                    Outcome::Hit => handles.hit.increment(1),
                    Outcome::Miss => handles.miss.increment(1),
                    Outcome::Coalesced => handles.coalesced.increment(1),
                    Outcome::Stale => handles.stale.increment(1),
                }
            }
            Emit::Set(n) => observer.cache_handles().sets.increment(n),
            Emit::Deleted(n) => observer.cache_handles().deletes.increment(n),
            Emit::Error { kind, op } => {
                let mut labels = observer.handles(function).labels.clone();
                labels.push(Label::new("error.type", kind_label(kind)));
                labels.push(Label::new("cache.operation", op));
                metrics::counter!("cache.errors", labels).increment(1);
            }
            Emit::BreakerOpened => {
                let handles = observer.cache_handles();
                handles.opened.increment(1);
                handles.open.set(1.0);
            }
            Emit::BreakerClosed => {
                let handles = observer.cache_handles();
                handles.closed.increment(1);
                handles.open.set(0.0);
            }
            Emit::BreakerSkipped { .. } => observer.cache_handles().skipped.increment(1),
        }
    }

    pub(super) fn compute_duration(&self, function: Option<&Function>, seconds: f64) {
        let labels = self.inner.observer.handles(function).labels.clone();
        metrics::histogram!("cache.compute.duration", labels).record(seconds);
    }
}
