//! `cache_core::http::CacheLayer` over real HTTP: an axum server on a free
//! loopback port, a reqwest client, and every scenario run twice, on the
//! memory store and on a real `redis-server` from the harness.
//!
//! Whether a response came from the cache is observed from the handlers'
//! run counters and from what the client receives, never from timing.

use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::{Query, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use cache_core::http::CacheLayer;
use cache_core::{Cache, MemoryBackend};
use cache_tests::redis_server::RedisServer;
use tokio::sync::Semaphore;

// --- Fixture ----------------------------------------------------------------

/// Where the scenarios' caches live.
enum Store {
    Memory(MemoryBackend),
    Redis(RedisServer),
}

impl Store {
    fn memory() -> Self {
        Self::Memory(MemoryBackend::new())
    }

    fn redis() -> Self {
        Self::Redis(RedisServer::start())
    }

    /// A cache under `prefix` on this store (every cache of one store
    /// shares it).
    fn cache(&self, prefix: &str) -> Cache {
        match self {
            Self::Memory(store) => Cache::builder()
                .backend(store.clone())
                .key_prefix(prefix)
                .build()
                .unwrap(),
            Self::Redis(server) => server.cache(prefix),
        }
    }
}

/// Runs `$scenario(store)` on each store, as one test per store.
macro_rules! on_each_store {
    ($($scenario:ident),* $(,)?) => {$(
        mod $scenario {
            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn memory() {
                super::$scenario(super::Store::memory()).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn redis() {
                super::$scenario(super::Store::redis()).await;
            }
        }
    )*};
}

/// How many times each handler ran.
#[derive(Default)]
struct Runs(Mutex<HashMap<&'static str, usize>>);

impl Runs {
    fn bump(&self, name: &'static str) -> usize {
        let mut runs = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        let n = runs.entry(name).or_default();
        *n += 1;
        *n
    }

    fn of(&self, name: &'static str) -> usize {
        let runs = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        runs.get(name).copied().unwrap_or(0)
    }
}

#[derive(Clone)]
struct AppState {
    runs: Arc<Runs>,
    /// Lets a gated stream go on (see [`gated`]).
    gate: Arc<Semaphore>,
}

/// A running server with the test routes, each under `layer`.
struct App {
    base: String,
    client: reqwest::Client,
    state: AppState,
}

impl App {
    async fn start(layer: CacheLayer) -> Self {
        let state = AppState {
            runs: Arc::default(),
            gate: Arc::new(Semaphore::new(0)),
        };
        let router = Router::new()
            .route("/page", get(page).post(page))
            .route("/p", get(page))
            .route("/q", get(page))
            .route("/no-store", get(no_store))
            .route("/private", get(private))
            .route("/missing", get(missing))
            .route("/search", get(search))
            .route("/vary", get(vary))
            .route("/slow", get(slow))
            .route("/stream", get(stream))
            .route("/gated", get(gated))
            .route("/gated-length", get(gated_length))
            .route_layer(layer)
            .with_state(state.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
        let client = reqwest::Client::builder()
            .no_proxy()
            .timeout(Duration::from_secs(30))
            .build()
            .unwrap();
        Self {
            base,
            client,
            state,
        }
    }

    fn runs(&self, name: &'static str) -> usize {
        self.state.runs.of(name)
    }

    async fn get(&self, path: &str) -> Got {
        self.send(self.client.get(format!("{}{path}", self.base)))
            .await
    }

    async fn get_with(&self, path: &str, name: &str, value: &str) -> Got {
        self.send(
            self.client
                .get(format!("{}{path}", self.base))
                .header(name, value),
        )
        .await
    }

    async fn send(&self, request: reqwest::RequestBuilder) -> Got {
        let response = request.send().await.expect("the server answers");
        let status = response.status();
        let headers = response.headers().clone();
        let body = response.bytes().await.expect("a whole body");
        Got {
            status,
            headers,
            body,
        }
    }
}

/// A response as the client received it.
#[derive(Debug)]
struct Got {
    status: StatusCode,
    headers: HeaderMap,
    body: Bytes,
}

impl Got {
    fn cache_status(&self) -> &str {
        self.headers
            .get("x-cache")
            .map_or("(none)", |v| v.to_str().unwrap())
    }

    fn text(&self) -> &str {
        std::str::from_utf8(&self.body).unwrap()
    }
}

// --- Handlers ---------------------------------------------------------------

/// A page with every stored header, one that is not stored, and its run
/// number in the body (a second run would give another body).
async fn page(State(app): State<AppState>) -> Response {
    let run = app.runs.bump("page");
    (
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (header::ETAG, "\"v1\""),
            (header::LAST_MODIFIED, "Tue, 15 Nov 1994 12:45:26 GMT"),
            (header::CACHE_CONTROL, "public, max-age=60"),
            (header::CONTENT_LANGUAGE, "en"),
        ],
        [("x-request-id", run.to_string())],
        format!("<h1>page</h1><p>run {run}</p>"),
    )
        .into_response()
}

async fn no_store(State(app): State<AppState>) -> impl IntoResponse {
    let run = app.runs.bump("no-store");
    ([(header::CACHE_CONTROL, "no-store")], format!("run {run}"))
}

async fn private(State(app): State<AppState>) -> impl IntoResponse {
    let run = app.runs.bump("private");
    (
        [(header::CACHE_CONTROL, "private, max-age=60")],
        format!("run {run}"),
    )
}

async fn missing(State(app): State<AppState>) -> impl IntoResponse {
    let run = app.runs.bump("missing");
    (StatusCode::NOT_FOUND, format!("run {run}"))
}

async fn search(State(app): State<AppState>, Query(query): Query<Vec<(String, String)>>) -> String {
    let run = app.runs.bump("search");
    format!("{query:?} run {run}")
}

async fn vary(State(app): State<AppState>, headers: HeaderMap) -> impl IntoResponse {
    let run = app.runs.bump("vary");
    let language = headers
        .get(header::ACCEPT_LANGUAGE)
        .map_or("-", |v| v.to_str().unwrap())
        .to_owned();
    (
        [(header::VARY, "Accept-Language")],
        format!("{language} run {run}"),
    )
}

/// Slow enough for every concurrent request to arrive while it runs.
async fn slow(State(app): State<AppState>) -> String {
    let run = app.runs.bump("slow");
    tokio::time::sleep(Duration::from_millis(300)).await;
    format!("slow run {run}")
}

/// 10 MiB in 64 KiB chunks, no `Content-Length`.
const STREAM_CHUNKS: usize = 160;
const CHUNK: usize = 64 * 1024;

fn chunk(i: usize) -> Bytes {
    Bytes::from(vec![u8::try_from(i % 251).unwrap(); CHUNK])
}

fn streamed() -> Vec<u8> {
    (0..STREAM_CHUNKS).flat_map(|i| chunk(i).to_vec()).collect()
}

async fn stream(State(app): State<AppState>) -> Body {
    app.runs.bump("stream");
    let chunks = (0..STREAM_CHUNKS).map(|i| Ok::<_, Infallible>(chunk(i)));
    Body::from_stream(futures_util::stream::iter(chunks))
}

/// 2 MiB (past the layer's 1 MiB limit), then nothing more until the test
/// opens the gate, then 2 MiB more: a layer that waited for the whole body
/// before answering would never answer.
async fn gated(State(app): State<AppState>) -> Body {
    app.runs.bump("gated");
    Body::from_stream(gated_chunks(app.gate, 32))
}

/// A declared `Content-Length` of 4 MiB, and no byte before the gate opens:
/// the layer must answer without reading the body.
async fn gated_length(State(app): State<AppState>) -> Response {
    app.runs.bump("gated-length");
    let mut response = Body::from_stream(gated_chunks(app.gate, 0)).into_response();
    response
        .headers_mut()
        .insert(header::CONTENT_LENGTH, HeaderValue::from(64 * CHUNK));
    response
}

/// 64 chunks, the ones from `before` on only once the gate is opened.
fn gated_chunks(
    gate: Arc<Semaphore>,
    before: usize,
) -> impl futures_util::Stream<Item = Result<Bytes, Infallible>> {
    futures_util::stream::unfold(0, move |i| {
        let gate = Arc::clone(&gate);
        async move {
            if i == 64 {
                return None;
            }
            if i == before {
                gate.acquire().await.unwrap().forget();
            }
            Some((Ok(chunk(i)), i + 1))
        }
    })
}

// --- Scenarios --------------------------------------------------------------

on_each_store!(
    a_hit_replays_the_stored_response_byte_for_byte,
    no_store_and_private_responses_are_never_stored,
    request_no_cache_refreshes_and_no_store_bypasses,
    query_order_shares_an_entry_and_different_queries_do_not,
    a_response_varies_on_the_request_headers_it_names,
    concurrent_misses_run_the_handler_once,
    large_bodies_stream_through_unread_and_unstored,
    other_statuses_and_methods_are_not_stored,
    invalidate_removes_one_paths_entries_under_one_prefix,
    invalidate_tag_removes_every_path_with_the_tag,
);

async fn a_hit_replays_the_stored_response_byte_for_byte(store: Store) {
    let app = App::start(CacheLayer::new(store.cache("bytes"))).await;
    let miss = app.get("/page").await;
    let hit = app.get("/page").await;

    assert_eq!(miss.status, StatusCode::OK);
    assert_eq!((miss.cache_status(), hit.cache_status()), ("MISS", "HIT"));
    assert_eq!(app.runs("page"), 1, "the hit did not run the handler");
    assert_eq!(hit.status, miss.status);
    assert_eq!(hit.body, miss.body);
    for name in [
        "content-type",
        "etag",
        "last-modified",
        "cache-control",
        "content-language",
    ] {
        assert_eq!(hit.headers.get(name), miss.headers.get(name), "{name}");
        assert!(hit.headers.contains_key(name), "{name}");
    }
    assert_eq!(miss.headers["x-request-id"], "1");
    assert!(
        !hit.headers.contains_key("x-request-id"),
        "headers outside the allowlist are not replayed"
    );
    assert!(!miss.headers.contains_key("age"));
    let age: u64 = hit.headers["age"].to_str().unwrap().parse().unwrap();
    assert!(age < 30, "age {age}");
}

async fn no_store_and_private_responses_are_never_stored(store: Store) {
    let app = App::start(CacheLayer::new(store.cache("directives"))).await;
    for path in ["/no-store", "/private"] {
        let first = app.get(path).await;
        let second = app.get(path).await;
        assert_eq!((first.text(), second.text()), ("run 1", "run 2"), "{path}");
        assert_eq!(
            (first.cache_status(), second.cache_status()),
            ("MISS", "MISS")
        );
    }
}

async fn request_no_cache_refreshes_and_no_store_bypasses(store: Store) {
    let app = App::start(CacheLayer::new(store.cache("refresh"))).await;
    app.get("/page").await;

    let refreshed = app.get_with("/page", "cache-control", "no-cache").await;
    assert_eq!(refreshed.cache_status(), "MISS");
    assert!(refreshed.text().contains("run 2"), "{}", refreshed.text());
    let after = app.get("/page").await;
    assert_eq!(after.cache_status(), "HIT");
    assert_eq!(
        after.body, refreshed.body,
        "no-cache stored the fresh response"
    );

    let bypassed = app.get_with("/page", "cache-control", "no-store").await;
    assert!(bypassed.text().contains("run 3"), "{}", bypassed.text());
    assert_eq!(
        app.get("/page").await.body,
        refreshed.body,
        "no-store did not replace the stored response"
    );

    let ignoring =
        App::start(CacheLayer::new(store.cache("refresh-off")).request_cache_control(false)).await;
    ignoring.get("/page").await;
    let hit = ignoring
        .get_with("/page", "cache-control", "no-cache")
        .await;
    assert_eq!(hit.cache_status(), "HIT");
    assert_eq!(ignoring.runs("page"), 1);
}

async fn query_order_shares_an_entry_and_different_queries_do_not(store: Store) {
    let app = App::start(CacheLayer::new(store.cache("query")).query_string(true)).await;
    let first = app.get("/search?a=1&b=2").await;
    let reordered = app.get("/search?b=2&a=1").await;
    assert_eq!(reordered.cache_status(), "HIT");
    assert_eq!(reordered.body, first.body);
    let other = app.get("/search?a=1&b=3").await;
    assert_eq!(other.cache_status(), "MISS");
    assert_eq!(app.runs("search"), 2);

    let shared = App::start(CacheLayer::new(store.cache("no-query"))).await;
    let first = shared.get("/search?a=1").await;
    let other = shared.get("/search?b=2").await;
    assert_eq!(other.cache_status(), "HIT");
    assert_eq!(
        other.body, first.body,
        "without query_string every query shares the path's entry"
    );
    assert_eq!(shared.runs("search"), 1);
}

async fn a_response_varies_on_the_request_headers_it_names(store: Store) {
    let app = App::start(CacheLayer::new(store.cache("vary"))).await;
    let en = app.get_with("/vary", "accept-language", "en").await;
    let fr = app.get_with("/vary", "accept-language", "fr").await;
    assert_eq!((en.text(), fr.text()), ("en run 1", "fr run 2"));
    assert_eq!(fr.cache_status(), "MISS");

    let en_again = app.get_with("/vary", "accept-language", "en").await;
    let fr_again = app.get_with("/vary", "accept-language", "fr").await;
    assert_eq!((en_again.text(), fr_again.text()), ("en run 1", "fr run 2"));
    assert_eq!(
        (en_again.cache_status(), fr_again.cache_status()),
        ("HIT", "HIT")
    );
    assert_eq!(en_again.headers["vary"], "Accept-Language");
    assert_eq!(app.get("/vary").await.text(), "- run 3");
}

async fn concurrent_misses_run_the_handler_once(store: Store) {
    const REQUESTS: usize = 200;
    let app = Arc::new(App::start(CacheLayer::new(store.cache("herd"))).await);
    let tasks: Vec<_> = (0..REQUESTS)
        .map(|_| {
            let app = Arc::clone(&app);
            tokio::spawn(async move { app.get("/slow").await })
        })
        .collect();
    let mut bodies = Vec::with_capacity(REQUESTS);
    for task in tasks {
        let got = task.await.unwrap();
        assert_eq!(got.status, StatusCode::OK);
        bodies.push(got.body);
    }
    assert_eq!(app.runs("slow"), 1, "{REQUESTS} concurrent misses, one run");
    assert!(bodies.iter().all(|b| b == "slow run 1"));
}

async fn large_bodies_stream_through_unread_and_unstored(store: Store) {
    let app = App::start(CacheLayer::new(store.cache("large"))).await;
    let expected = streamed();
    for run in 1..=2 {
        let got = app.get("/stream").await;
        assert_eq!(got.cache_status(), "MISS");
        assert_eq!(got.body.len(), expected.len());
        assert!(got.body == expected, "the 10 MiB body arrives untouched");
        assert_eq!(app.runs("stream"), run, "never stored");
    }

    for path in ["/gated", "/gated-length"] {
        // The response (its head, then the first chunks) must arrive while
        // the handler's stream waits for the gate.
        let response = tokio::time::timeout(
            Duration::from_secs(10),
            app.client.get(format!("{}{path}", app.base)).send(),
        )
        .await
        .unwrap_or_else(|_| panic!("{path}: the layer held the response back"))
        .unwrap();
        assert_eq!(response.headers()["x-cache"], "MISS");
        app.state.gate.add_permits(1);
        let body = response.bytes().await.unwrap();
        let want: Vec<u8> = (0..64).flat_map(|i| chunk(i).to_vec()).collect();
        assert!(body == want, "{path}: the body arrives whole and in order");
    }
    app.state.gate.add_permits(1);
    assert_eq!(app.get("/gated-length").await.cache_status(), "MISS");
    assert_eq!(app.runs("gated-length"), 2, "never stored");
}

async fn other_statuses_and_methods_are_not_stored(store: Store) {
    let app = App::start(CacheLayer::new(store.cache("methods"))).await;
    let first = app.get("/missing").await;
    let second = app.get("/missing").await;
    assert_eq!(first.status, StatusCode::NOT_FOUND);
    assert_eq!((first.text(), second.text()), ("run 1", "run 2"));

    for run in 1..=2 {
        let posted = app
            .send(app.client.post(format!("{}/page", app.base)))
            .await;
        assert_eq!(posted.cache_status(), "MISS");
        assert_eq!(app.runs("page"), run);
    }
    let got = app.get("/page").await;
    assert_eq!(
        got.cache_status(),
        "MISS",
        "a POST response is not served to a GET"
    );

    let with_404 = App::start(
        CacheLayer::new(store.cache("methods-404"))
            .statuses([StatusCode::OK, StatusCode::NOT_FOUND]),
    )
    .await;
    with_404.get("/missing").await;
    let hit = with_404.get("/missing").await;
    assert_eq!((hit.status, hit.text()), (StatusCode::NOT_FOUND, "run 1"));
}

async fn invalidate_removes_one_paths_entries_under_one_prefix(store: Store) {
    let layer = CacheLayer::new(store.cache("one")).query_string(true);
    let app = App::start(layer.clone()).await;
    let other_prefix = App::start(CacheLayer::new(store.cache("two")).query_string(true)).await;
    for app in [&app, &other_prefix] {
        for path in ["/p", "/p?x=1", "/q"] {
            app.get(path).await;
            assert_eq!(app.get(path).await.cache_status(), "HIT", "{path}");
        }
    }

    assert!(layer.invalidate("/p").await.unwrap());
    assert!(!layer.invalidate("/nothing-here").await.unwrap());
    assert_eq!(app.get("/p").await.cache_status(), "MISS");
    assert_eq!(app.get("/p?x=1").await.cache_status(), "MISS");
    assert_eq!(app.get("/q").await.cache_status(), "HIT");
    for path in ["/p", "/p?x=1", "/q"] {
        assert_eq!(
            other_prefix.get(path).await.cache_status(),
            "HIT",
            "{path} under another prefix"
        );
    }
    assert_eq!(app.get("/p").await.cache_status(), "HIT", "stored again");
}

async fn invalidate_tag_removes_every_path_with_the_tag(store: Store) {
    let cache = store.cache("tags");
    let layer = CacheLayer::new(cache.clone()).tag_with(|request| {
        let path = request.uri.path();
        (path == "/p" || path == "/q").then_some("pq")
    });
    let app = App::start(layer).await;
    for path in ["/p", "/q", "/page"] {
        app.get(path).await;
    }
    cache
        .set_with_tags("other", &1u8, None, ["pq"])
        .await
        .unwrap();

    assert_eq!(cache.invalidate_tag("pq").await.unwrap(), 3);
    assert_eq!(app.get("/p").await.cache_status(), "MISS");
    assert_eq!(app.get("/q").await.cache_status(), "MISS");
    assert_eq!(app.get("/page").await.cache_status(), "HIT");
    assert!(
        !cache.has("other").await.unwrap(),
        "one tag for every entry"
    );
}

// --- The hooks --------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hooks_decide_what_is_stored_and_how_it_is_keyed() {
    let store = Store::memory();

    // response_filter: Flask's; here only bodies with an even run are kept.
    let filtered = App::start(
        CacheLayer::new(store.cache("filter"))
            .response_filter(|response| response.body().ends_with(b"run 2")),
    )
    .await;
    assert_eq!(filtered.get("/search").await.cache_status(), "MISS");
    assert_eq!(filtered.get("/search").await.cache_status(), "MISS");
    let kept = filtered.get("/search").await;
    assert_eq!((kept.cache_status(), kept.text()), ("HIT", "[] run 2"));

    // unless: requests it matches neither read nor store.
    let bypassing = App::start(
        CacheLayer::new(store.cache("unless"))
            .unless(|request| request.headers.contains_key("authorization")),
    )
    .await;
    bypassing.get("/page").await;
    let authorized = bypassing
        .get_with("/page", "authorization", "Bearer x")
        .await;
    assert_eq!(authorized.cache_status(), "MISS");
    assert_eq!(bypassing.get("/page").await.cache_status(), "HIT");
    assert_eq!(bypassing.runs("page"), 2);

    // key_with: only `page` identifies a search; the status header renamed.
    let keyed = App::start(
        CacheLayer::new(store.cache("key"))
            .key_with(|request| {
                let query = request.uri.query().unwrap_or_default();
                query
                    .split('&')
                    .filter(|p| p.starts_with("page="))
                    .collect()
            })
            .status_header(Some(axum::http::HeaderName::from_static("x-cache-status"))),
    )
    .await;
    keyed.get("/search?page=2&utm=mail").await;
    let shared = keyed.get("/search?utm=feed&page=2").await;
    assert_eq!(shared.headers["x-cache-status"], "HIT");
    assert!(!shared.headers.contains_key("x-cache"));
    assert!(keyed.get("/search?page=3").await.text().ends_with("run 2"));

    // vary_on, stored_headers, and no status header at all.
    let varying = App::start(
        CacheLayer::new(store.cache("vary-on"))
            .vary_on([header::ACCEPT_LANGUAGE])
            .stored_headers([header::ETAG])
            .status_header(None),
    )
    .await;
    let en = varying.get_with("/page", "accept-language", "en").await;
    let fr = varying.get_with("/page", "accept-language", "fr").await;
    assert_ne!(en.body, fr.body);
    let en_again = varying.get_with("/page", "accept-language", "en").await;
    assert_eq!(en_again.body, en.body);
    assert_eq!(en_again.headers["etag"], "\"v1\"");
    assert!(!en_again.headers.contains_key("content-type"));
    assert!(!en_again.headers.contains_key("x-cache"));
    assert!(en_again.headers.contains_key("age"));
}

// --- Failures of the store --------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn requests_are_served_while_redis_is_down() {
    let mut redis = RedisServer::start();
    let app = App::start(CacheLayer::new(redis.cache("down"))).await;
    app.get("/page").await;
    assert_eq!(app.get("/page").await.cache_status(), "HIT");

    redis.stop();
    for run in 2..=4 {
        let got = app.get("/page").await;
        assert_eq!(got.status, StatusCode::OK);
        assert_eq!(got.cache_status(), "MISS");
        assert!(got.text().contains(&format!("run {run}")), "{}", got.text());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn requests_are_served_when_redis_was_never_there() {
    // Port 1 (tcpmux): nothing listens there.
    let cache = Cache::builder()
        .url("redis://127.0.0.1:1/0")
        .key_prefix("never")
        .build()
        .unwrap();
    let layer = CacheLayer::new(cache.clone());
    let app = App::start(layer.clone()).await;
    for run in 1..=3 {
        let got = app.get("/page").await;
        assert_eq!((got.status, got.cache_status()), (StatusCode::OK, "MISS"));
        assert!(got.text().contains(&format!("run {run}")));
    }
    assert!(cache.stats().errors > 0, "the failures are counted");
    assert!(
        layer.invalidate("/page").await.is_err(),
        "an invalidation that did not happen is reported"
    );
}

#[tokio::test]
async fn an_invalid_path_is_refused_with_a_clear_error() {
    let layer = CacheLayer::new(Cache::default());
    for path in ["user/5", "/user/5?tab=1", "/a#b", ""] {
        let err = layer.invalidate(path).await.unwrap_err();
        assert_eq!(err.kind(), cache_core::ErrorKind::InvalidInput, "{path}");
        assert!(err.to_string().contains("starts with `/`"), "{err}");
    }
}
