//! The spans and events a cache gives a `tracing` subscriber: their names,
//! fields and parents, the key only at `trace` level, never a value.

use std::collections::BTreeMap;
use std::sync::{Arc, LazyLock, Mutex};

use cache_core::{memoize, Cache};
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Subscriber};
use tracing_subscriber::filter::LevelFilter;
use tracing_subscriber::layer::{Context, SubscriberExt as _};
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::Layer;

/// A span as the subscriber saw it: name, parent's name, fields.
#[derive(Debug, Clone, Default)]
struct SeenSpan {
    name: &'static str,
    parent: Option<&'static str>,
    fields: BTreeMap<String, String>,
}

/// Records every span (with the fields recorded later) and every event's
/// fields, in order.
#[derive(Clone, Default)]
struct Recorder {
    spans: Arc<Mutex<Vec<SeenSpan>>>,
    ids: Arc<Mutex<BTreeMap<u64, usize>>>,
    events: Arc<Mutex<Vec<BTreeMap<String, String>>>>,
}

struct Fields<'a>(&'a mut BTreeMap<String, String>);

impl Visit for Fields<'_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.insert(field.name().to_owned(), value.to_owned());
    }
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        self.0.insert(field.name().to_owned(), format!("{value:?}"));
    }
}

impl<S: Subscriber + for<'a> LookupSpan<'a>> Layer<S> for Recorder {
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        let mut span = SeenSpan {
            name: attrs.metadata().name(),
            parent: ctx.span(id).and_then(|s| s.parent()).map(|p| p.name()),
            ..SeenSpan::default()
        };
        attrs.record(&mut Fields(&mut span.fields));
        let mut spans = self.spans.lock().unwrap();
        self.ids.lock().unwrap().insert(id.into_u64(), spans.len());
        spans.push(span);
    }

    fn on_record(&self, id: &Id, values: &Record<'_>, _: Context<'_, S>) {
        let Some(&i) = self.ids.lock().unwrap().get(&id.into_u64()) else {
            return;
        };
        values.record(&mut Fields(&mut self.spans.lock().unwrap()[i].fields));
    }

    fn on_event(&self, event: &Event<'_>, _: Context<'_, S>) {
        let mut fields = BTreeMap::new();
        event.record(&mut Fields(&mut fields));
        self.events.lock().unwrap().push(fields);
    }
}

impl Recorder {
    fn spans(&self, name: &str) -> Vec<SeenSpan> {
        self.spans
            .lock()
            .unwrap()
            .iter()
            .filter(|s| s.name == name)
            .cloned()
            .collect()
    }
}

/// Runs `f` on a current-thread runtime with a subscriber at `level` that
/// records into the returned recorder.
fn traced<F: std::future::Future>(level: LevelFilter, f: impl FnOnce() -> F) -> Recorder {
    let recorder = Recorder::default();
    let subscriber = tracing_subscriber::registry().with(recorder.clone().with_filter(level));
    tracing::subscriber::with_default(subscriber, || {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
            .block_on(f());
    });
    recorder
}

static CACHE: LazyLock<Cache> = LazyLock::new(|| Cache::builder().name("traced").build().unwrap());

#[memoize(cache = CACHE)]
async fn secret_of(user: u64) -> String {
    tokio::task::yield_now().await;
    format!("secret-{user}")
}

fn fields(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

#[test]
fn a_memoized_call_has_a_span_with_its_function_and_outcome_and_a_miss_computes_inside_it() {
    let recorder = traced(LevelFilter::DEBUG, || async {
        assert_eq!(secret_of(1).await, "secret-1");
        assert_eq!(secret_of(1).await, "secret-1");
    });
    let calls = recorder.spans("cache.call");
    let path = format!("{}::secret_of", module_path!());
    let expected = |outcome: &str| {
        fields(&[
            ("cache.name", "traced"),
            ("cache.store", "memory"),
            ("cache.function", &path),
            ("cache.outcome", outcome),
        ])
    };
    assert_eq!(calls.len(), 2, "{calls:?}");
    assert_eq!(calls[0].fields, expected("miss"));
    assert_eq!(calls[1].fields, expected("hit"));
    let computes = recorder.spans("cache.compute");
    assert_eq!(computes.len(), 1, "only the miss computes");
    assert_eq!(computes[0].parent, Some("cache.call"));
    let everything = format!(
        "{:?}{:?}",
        recorder.spans.lock().unwrap(),
        recorder.events.lock().unwrap()
    );
    assert!(
        !everything.contains("secret-1"),
        "no value is recorded: {everything}"
    );
}

#[test]
fn the_key_is_recorded_only_at_trace_level() {
    let cache = Cache::builder().key_prefix("keys").build().unwrap();
    let run = |level| {
        let cache = cache.clone();
        traced(level, move || async move {
            cache.set("user:7", &7u32, None).await.unwrap();
            assert_eq!(cache.get::<u32>("user:7").await.unwrap(), Some(7));
            cache
                .get_or_set_with("user:8", None, || async { 8u32 })
                .await;
        })
    };
    let debug = run(LevelFilter::DEBUG);
    let get = &debug.spans("cache.get")[0];
    assert_eq!(get.fields["cache.outcome"], "hit");
    assert!(!get.fields.contains_key("cache.key"), "{get:?}");
    assert_eq!(
        debug.spans("cache.get_or_set")[0].fields["cache.outcome"],
        "miss"
    );

    let trace = run(LevelFilter::TRACE);
    let get = &trace.spans("cache.get")[0];
    assert_eq!(get.fields["cache.key"], "keys|user:7");
    assert_eq!(
        trace.spans("cache.set")[0].fields["cache.key"],
        "keys|user:7"
    );
    let read_through = &trace.spans("cache.get_or_set")[0];
    assert_eq!(read_through.fields["cache.key"], "keys|user:8");
    assert_eq!(
        read_through.fields["cache.outcome"], "hit",
        "stored by the run at debug level"
    );
}

#[test]
fn no_span_is_made_below_debug_level() {
    let recorder = traced(LevelFilter::INFO, || async {
        secret_of(2).await;
        secret_of(2).await;
    });
    assert!(recorder.spans.lock().unwrap().is_empty());
}

#[test]
fn a_store_error_is_an_event_with_its_kind() {
    let cache = Cache::builder()
        .backend(cache_core::testing::DownBackend)
        .name("down")
        .ignore_errors(true)
        // Each call reaches the store: no breaker in between.
        .circuit_breaker(std::time::Duration::ZERO)
        .build()
        .unwrap();
    let recorder = traced(LevelFilter::DEBUG, || async {
        assert_eq!(cache.get::<u32>("k").await.unwrap(), None);
        assert_eq!(cache.get::<u32>("k").await.unwrap(), None);
    });
    let errors: Vec<_> = recorder
        .events
        .lock()
        .unwrap()
        .iter()
        .filter(|e| e.contains_key("error.type"))
        .cloned()
        .collect();
    assert_eq!(errors.len(), 2, "{errors:?}");
    assert!(errors
        .iter()
        .all(|e| e["error.type"] == "connection" && e["op"] == "get"));
    let get = &recorder.spans("cache.get")[0];
    assert_eq!(get.fields["cache.store"], "custom");
    assert_eq!(
        get.fields["cache.outcome"], "miss",
        "absorbed by ignore_errors"
    );
    assert_eq!(
        cache
            .stats()
            .errors_by_kind
            .get(cache_core::ErrorKind::Connection),
        2
    );
}
