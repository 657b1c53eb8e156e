//! The Flask-Caching tutorial app, in Rust: axum and cache-core.
//!
//! | route | what it shows |
//! |---|---|
//! | `GET /` | `CacheLayer::new(cache).timeout(60 s)` on the route: the whole response is one entry, like Flask's `@cache.cached(timeout=60)` on a view |
//! | `GET /user/{id}` | `#[memoize(timeout = 120, cache = app.cache, tags = ["user:{user_id}"])]`: one entry per user, in the cache the state holds, tagged with the user |
//! | `POST /user/{id}` | invalidate on change: update, then `cache.invalidate_tag("user:{id}")` drops every entry of that user |
//! | `POST /clear-cache` | `cache.clear()`: removes this app's keys, and only those |
//! | `GET /stats` | the cache's counters, per function too, and how many times the slow paths ran |
//! | `GET /metrics` | the cache's metrics (feature `metrics` of cache-core) in the Prometheus text format, through `metrics-exporter-prometheus` |
//!
//! Configuration, from the environment:
//!
//! | variable | default | |
//! |---|---|---|
//! | `CACHE_URL` | `memory://` | the store, e.g. `redis://127.0.0.1:6379/0`; add `?near_cache=32MiB` for a near cache (hits served in process, kept coherent by Redis invalidations) |
//! | `CACHE_KEY_PREFIX` | `web_app:` | every key of this app starts with it |
//! | `BIND` | `127.0.0.1:3000` | the address to listen on (port `0`: any free port) |
//! | `RUST_LOG` | `info` | the log filter (logs go to stderr) |
//!
//! ```text
//! cargo run --example web_app
//! CACHE_URL=redis://127.0.0.1:6379/0 cargo run --example web_app
//! CACHE_URL='redis://127.0.0.1:6379/0?near_cache=32MiB' cargo run --example web_app
//! curl -s localhost:3000/user/1; curl -s localhost:3000/stats
//! ```
//!
//! The first line on stdout is the address it listens on
//! (`listening on http://127.0.0.1:3000`). The cache is an optimization
//! here, never a dependency: if the store is down, every page is still
//! served, computed each time, and the outage is logged once.

use std::collections::{BTreeMap, HashMap};
use std::io::IsTerminal;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::extract::{FromRequest, Path, Request, State};
use axum::http::{header, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Form, Json, Router};
use cache_core::http::CacheLayer;
use cache_core::{memoize, Cache, ErrorKind};
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use tracing::{info, warn};
use tracing_subscriber::filter::{EnvFilter, LevelFilter};

/// How long the slow paths (rendering the home page, a database query) take.
const SLOW: Duration = Duration::from_millis(300);

// --- The "database" ---------------------------------------------------------

/// A user profile, as the API returns it and as the cache stores it
/// (cached values are `Serialize + Deserialize + Clone`).
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Profile {
    id: u64,
    name: String,
    email: String,
}

/// The fields `POST /user/{id}` may change; the others stay as they are.
#[derive(Debug, Deserialize)]
struct ProfileUpdate {
    name: Option<String>,
    email: Option<String>,
}

/// Stands in for a real database: profiles live in memory so that they can
/// change, queries are slow, and each query is counted so that `/stats`
/// shows when the cache saved one.
struct Database {
    profiles: RwLock<HashMap<u64, Profile>>,
    /// Queries run, per user id.
    queries: Mutex<BTreeMap<u64, u64>>,
}

impl Database {
    fn with_sample_users() -> Self {
        let users = [
            "Ada Lovelace",
            "Grace Hopper",
            "Alan Turing",
            "Edsger Dijkstra",
            "Barbara Liskov",
        ];
        let profiles = (1..)
            .zip(users)
            .map(|(id, name)| {
                let login = name.split(' ').next().unwrap_or(name).to_lowercase();
                let email = format!("{login}@example.com");
                let name = name.to_owned();
                (id, Profile { id, name, email })
            })
            .collect();
        Self {
            profiles: RwLock::new(profiles),
            queries: Mutex::new(BTreeMap::new()),
        }
    }

    /// The slow query that caching saves.
    async fn load_profile(&self, id: u64) -> Option<Profile> {
        info!(user_id = id, "database: loading profile (slow)");
        tokio::time::sleep(SLOW).await;
        *lock(&self.queries).entry(id).or_default() += 1;
        read(&self.profiles).get(&id).cloned()
    }

    /// Applies `update`; returns the new profile, or `None` for an unknown user.
    fn update_profile(&self, id: u64, update: ProfileUpdate) -> Option<Profile> {
        let mut profiles = self
            .profiles
            .write()
            .unwrap_or_else(PoisonError::into_inner);
        let profile = profiles.get_mut(&id)?;
        if let Some(name) = update.name {
            profile.name = name;
        }
        if let Some(email) = update.email {
            profile.email = email;
        }
        Some(profile.clone())
    }

    fn user_count(&self) -> usize {
        read(&self.profiles).len()
    }

    fn queries(&self) -> BTreeMap<u64, u64> {
        lock(&self.queries).clone()
    }
}

// --- The cached functions ---------------------------------------------------

/// One cache entry per user for 120 seconds, like Flask's
/// `@cache.memoize(timeout=120)`, in the cache the app's state holds
/// (`cache = app.cache`). `ignore(app)` leaves the state out of the key, so
/// the key is the user id alone; the generated
/// `get_user_profile_invalidate(&app, user_id)` takes the state for its
/// cache, and the id. The entry carries the tag `user:<id>`, so that
/// `cache.invalidate_tag("user:5")` drops it together with every other
/// entry about that user.
///
/// An unknown user (`None`) is not cached: creating it shows up at once.
#[memoize(timeout = 120, cache = app.cache, ignore(app), tags = ["user:{user_id}"])]
async fn get_user_profile(app: &AppState, user_id: u64) -> Option<Profile> {
    app.db.load_profile(user_id).await
}

// --- The web app ------------------------------------------------------------

/// What every handler can reach.
#[derive(Clone)]
struct AppState {
    db: Arc<Database>,
    /// The same cache the macros use (`cache_core::global()`), for the home
    /// page's layer, `/clear-cache` and `/stats`.
    cache: Cache,
    home_renders: Arc<AtomicU64>,
    /// Renders the metrics for `/metrics`.
    metrics: PrometheusHandle,
}

fn router(state: AppState) -> Router {
    // The home page's whole response (status, body, content type) is one
    // cache entry for 60 seconds, like Flask's `@cache.cached(timeout=60)`
    // on the view: a hit never reaches the handler. `route_layer` wraps the
    // routes added before it, so the routes below are not cached this way.
    let home_page = CacheLayer::new(state.cache.clone()).timeout(Duration::from_secs(60));
    Router::new()
        .route("/", get(index))
        .route_layer(home_page)
        .route("/user/{id}", get(show_user).post(update_user))
        .route("/clear-cache", post(clear_cache))
        .route("/stats", get(stats))
        .route("/metrics", get(metrics))
        .with_state(state)
}

/// The home page: slow to render, so the layer in [`router`] caches it.
async fn index(State(app): State<AppState>) -> Html<String> {
    info!("rendering the home page (slow)");
    tokio::time::sleep(SLOW).await;
    let render = app.home_renders.fetch_add(1, Ordering::Relaxed) + 1;
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs();
    Html(format!(
        "<h1>Welcome</h1>\n<p>{} users. Rendered at unix time {now} (render #{render}).</p>\n",
        app.db.user_count()
    ))
}

async fn show_user(
    State(app): State<AppState>,
    Path(id): Path<u64>,
) -> Result<Json<Profile>, StatusCode> {
    get_user_profile(&app, id)
        .await
        .map(Json)
        .ok_or(StatusCode::NOT_FOUND)
}

/// Updates a profile, then invalidates the user's tag: the next
/// `GET /user/{id}` loads the new profile, and every other user stays cached.
async fn update_user(
    State(app): State<AppState>,
    Path(id): Path<u64>,
    JsonOrForm(update): JsonOrForm<ProfileUpdate>,
) -> Result<Json<Profile>, StatusCode> {
    let profile = app
        .db
        .update_profile(id, update)
        .ok_or(StatusCode::NOT_FOUND)?;
    // Flask: cache.delete_memoized(get_user_profile, id), for every entry
    // tagged with the user (here the profile; any other function tagged
    // `user:{id}` too). `get_user_profile_invalidate(&app, id)` would drop
    // the profile alone. If the store is down this fails and the outage is
    // logged; the 120 s timeout bounds how long an old profile can be
    // served once the store is back.
    match app.cache.invalidate_tag(&format!("user:{id}")).await {
        Ok(removed) => info!(user_id = id, removed, "cache entries invalidated"),
        Err(error) => warn!(user_id = id, %error, "cache entries NOT invalidated"),
    }
    Ok(Json(profile))
}

/// Removes every key under this app's prefix, and nothing else: another app
/// sharing the Redis database keeps its keys (no `FLUSHDB`).
async fn clear_cache(State(app): State<AppState>) -> Response {
    match app.cache.clear().await {
        Ok(removed) => {
            info!(removed, prefix = app.cache.key_prefix(), "cache cleared");
            Json(json!({ "removed": removed })).into_response()
        }
        // `clear` reports a store failure even with `ignore_errors(true)`:
        // the caller must know stale entries may still be there. The page
        // still answers, and says so.
        Err(error) if error.kind() != ErrorKind::Config => {
            info!(%error, "cache not cleared: the store did not answer");
            Json(json!({ "removed": 0, "error": error.to_string() })).into_response()
        }
        // A configuration error (an empty prefix on a shared store, which
        // `clear` refuses) is a bug in this app.
        Err(error) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            Json(json!({ "error": error.to_string() })),
        )
            .into_response(),
    }
}

/// The cache's counters next to the slow paths' counters: a hit is a slow
/// path that did not run.
async fn stats(State(app): State<AppState>) -> Json<Value> {
    Json(json!({
        "cache": app.cache.stats(),
        "get_user_profile": get_user_profile_stats(&app),
        "functions": app.cache.function_stats(),
        "slow_paths": {
            "home_renders": app.home_renders.load(Ordering::Relaxed),
            "profile_loads": app.db.queries(),
        },
    }))
}

/// The metrics in the Prometheus text format, for a scraper: the cache's
/// `cache_lookups_total{cache_outcome="hit",…}`, `cache_store_duration_seconds`
/// and the rest (see `cache_core::observe`).
async fn metrics(State(app): State<AppState>) -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        app.metrics.render(),
    )
}

/// A request body as JSON (`Content-Type: application/json`) or as an HTML
/// form (anything else), like Flask's `request.get_json() or request.form`.
struct JsonOrForm<T>(T);

impl<S, T> FromRequest<S> for JsonOrForm<T>
where
    S: Send + Sync,
    T: DeserializeOwned,
{
    type Rejection = Response;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let is_json = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|value| value.to_str().ok())
            .is_some_and(|value| value.starts_with("application/json"));
        if is_json {
            let Json(value) = Json::from_request(req, state)
                .await
                .map_err(IntoResponse::into_response)?;
            Ok(Self(value))
        } else {
            let Form(value) = Form::from_request(req, state)
                .await
                .map_err(IntoResponse::into_response)?;
            Ok(Self(value))
        }
    }
}

// --- Start-up ---------------------------------------------------------------

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let stderr = std::io::stderr();
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::builder()
                .with_default_directive(LevelFilter::INFO.into())
                .from_env_lossy(),
        )
        .with_writer(std::io::stderr)
        .with_ansi(stderr.is_terminal())
        .init();

    // The metrics recorder first: a cache registers its metrics at its
    // first event. Buckets make the durations Prometheus histograms, from
    // a memory hit's microseconds to a slow computation's seconds.
    let metrics = PrometheusBuilder::new()
        .with_recommended_naming(true)
        .set_buckets(&[
            0.000_1, 0.000_5, 0.001, 0.002_5, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
        ])?
        .install_recorder()?;

    let cache_url = env_or("CACHE_URL", "memory://");
    let prefix = env_or("CACHE_KEY_PREFIX", "web_app:");
    let bind = env_or("BIND", "127.0.0.1:3000");

    // Building does not connect. `ignore_errors(true)`: a store failure is a
    // miss (reads) or a no-op (writes), logged once per outage and counted
    // in `stats().errors`, so no endpoint fails because of the cache.
    // Memoized functions are fail-open in any case.
    let cache = Cache::builder()
        .url(&cache_url)
        .key_prefix(&prefix)
        .name("web_app")
        .default_timeout(Duration::from_secs(300))
        .ignore_errors(true)
        .build()?;
    // Check the store once, to say clearly at start-up if it is not there.
    match cache.ping().await {
        Ok(()) => info!(store = %redact(&cache_url), prefix, "cache store is reachable"),
        Err(error) => warn!(
            store = %redact(&cache_url),
            %error,
            "cache store is unreachable: serving every page uncached until it comes back"
        ),
    }
    // The macros use the global cache: set it before the first cached call.
    cache_core::init(cache.clone())?;

    let state = AppState {
        db: Arc::new(Database::with_sample_users()),
        cache,
        home_renders: Arc::default(),
        metrics,
    };
    let listener = tokio::net::TcpListener::bind(&bind).await?;
    // The first line on stdout, for whoever started us (tests use port 0).
    println!("listening on http://{}", listener.local_addr()?);
    axum::serve(listener, router(state))
        .with_graceful_shutdown(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await?;
    Ok(())
}

fn env_or(name: &str, default: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| default.to_owned())
}

/// The URL without its password, for logs: `redis://:***@host:6379/0`.
fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme_end), Some(at)) if at > scheme_end => {
            let userinfo = &url[scheme_end + 3..at];
            let user = userinfo.split_once(':').map_or(userinfo, |(user, _)| user);
            format!("{}{user}:***{}", &url[..scheme_end + 3], &url[at..])
        }
        _ => url.to_owned(),
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

fn read<T>(lock: &RwLock<T>) -> std::sync::RwLockReadGuard<'_, T> {
    lock.read().unwrap_or_else(PoisonError::into_inner)
}
