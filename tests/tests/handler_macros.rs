//! `#[memoize]` and `#[cached]` on axum handlers, over real HTTP: the
//! cache comes from `State`, the key from the extractors' bound names (or
//! a key closure, or a template reading fields), and `Json<T>` responses
//! store their `T`. Whether a request was served from the cache is
//! observed by counting the handler bodies' runs, never by timing.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Html;
use axum::routing::get;
use axum::{Json, Router};
use cache_core::{cached, memoize, Cache};
use cache_tests::keys::memoized_prefix;
use proptest::prelude::*;
use serde::{Deserialize, Serialize};

/// What the handlers share: the cache they use, and how many times each
/// body ran.
#[derive(Clone)]
struct AppState {
    cache: Cache,
    runs: Arc<Runs>,
}

#[derive(Default)]
struct Runs {
    users: AtomicUsize,
    searches: AtomicUsize,
    orgs: AtomicUsize,
    items: AtomicUsize,
    pairs: AtomicUsize,
}

impl AppState {
    fn new(prefix: &str) -> Self {
        Self {
            cache: Cache::builder().key_prefix(prefix).build().unwrap(),
            runs: Arc::default(),
        }
    }
}

fn count(counter: &AtomicUsize) -> usize {
    counter.load(Ordering::SeqCst)
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Profile {
    id: u64,
    name: String,
}

/// One entry per user id; `state` gives the cache and is left out of the key.
#[memoize(cache = state.cache, ignore(state), timeout = 60)]
async fn get_user(State(state): State<AppState>, Path(id): Path<u64>) -> Json<Profile> {
    state.runs.users.fetch_add(1, Ordering::SeqCst);
    tokio::task::yield_now().await; // a database query, say
    Json(Profile {
        id,
        name: format!("user {id}"),
    })
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Search {
    term: String,
    page: u32,
}

/// The key is the term, case-folded, and the page: `?term=Rust` and
/// `?term=rust` share an entry (Flask-Caching's `make_cache_key`).
#[memoize(cache = state.cache, key = |q: &Search| (q.term.to_lowercase(), q.page))]
async fn search(State(state): State<AppState>, Query(q): Query<Search>) -> Json<Vec<String>> {
    state.runs.searches.fetch_add(1, Ordering::SeqCst);
    tokio::task::yield_now().await; // a database query, say
    Json(vec![format!("{} p{}", q.term.to_lowercase(), q.page)])
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Org {
    id: u64,
    /// Only shown; not part of the key.
    greeting: String,
}

/// One entry per organization id, under a readable key.
#[cached(cache = state.cache, key = "org:{org.id:06}")]
async fn org_page(State(state): State<AppState>, Query(org): Query<Org>) -> Html<String> {
    state.runs.orgs.fetch_add(1, Ordering::SeqCst);
    tokio::task::yield_now().await; // a database query, say
    Html(format!("<h1>{} {}</h1>", org.greeting, org.id))
}

/// `Ok` is stored, a 404 is not.
#[memoize(cache = state.cache, ignore(state))]
async fn get_item(
    State(state): State<AppState>,
    Path(id): Path<u64>,
) -> Result<Json<String>, StatusCode> {
    state.runs.items.fetch_add(1, Ordering::SeqCst);
    tokio::task::yield_now().await; // a database query, say
    if id < 100 {
        Ok(Json(format!("item {id}")))
    } else {
        Err(StatusCode::NOT_FOUND)
    }
}

/// Two path parameters, keyed in order.
#[memoize(cache = state.cache, ignore(state))]
async fn pair(State(state): State<AppState>, Path((a, b)): Path<(u64, String)>) -> String {
    state.runs.pairs.fetch_add(1, Ordering::SeqCst);
    tokio::task::yield_now().await; // a database query, say
    format!("{a}/{b}")
}

fn router(state: AppState) -> Router {
    Router::new()
        .route("/user/{id}", get(get_user))
        .route("/search", get(search))
        .route("/org", get(org_page))
        .route("/item/{id}", get(get_item))
        .route("/pair/{a}/{b}", get(pair))
        .with_state(state)
}

/// The app, served on a free port until the test ends.
struct Server {
    base: String,
    client: reqwest::Client,
    task: tokio::task::JoinHandle<()>,
}

impl Server {
    async fn start(state: AppState) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let task = tokio::spawn(async move {
            axum::serve(listener, router(state)).await.unwrap();
        });
        Self {
            base,
            client: reqwest::Client::new(),
            task,
        }
    }

    async fn get(&self, path: &str) -> (StatusCode, String) {
        let response = self
            .client
            .get(format!("{}{path}", self.base))
            .send()
            .await
            .unwrap();
        let status = StatusCode::from_u16(response.status().as_u16()).unwrap();
        (status, response.text().await.unwrap())
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.task.abort();
    }
}

#[tokio::test]
async fn the_same_path_parameter_is_served_from_the_cache_and_another_misses() {
    let state = AppState::new("handlers-users");
    let server = Server::start(state.clone()).await;
    let runs = &state.runs.users;

    let (status, first) = server.get("/user/1").await;
    assert_eq!(status, StatusCode::OK);
    let profile: Profile = serde_json::from_str(&first).unwrap();
    assert_eq!(profile.name, "user 1");
    assert_eq!(server.get("/user/1").await.1, first);
    assert_eq!(count(runs), 1, "the second request is a hit");

    server.get("/user/2").await;
    assert_eq!(count(runs), 2, "another id misses");
    server.get("/user/2").await;
    assert_eq!(count(runs), 2);
}

#[tokio::test]
async fn invalidate_with_the_state_and_the_id_drops_exactly_that_entry() {
    let state = AppState::new("handlers-invalidate");
    let server = Server::start(state.clone()).await;
    let runs = &state.runs.users;
    server.get("/user/1").await;
    server.get("/user/2").await;
    assert_eq!(count(runs), 2);

    assert!(get_user_invalidate(&state, 1).await.unwrap());
    assert!(
        !get_user_invalidate(&state, 1).await.unwrap(),
        "nothing left to remove"
    );
    server.get("/user/1").await;
    assert_eq!(count(runs), 3, "user 1 is computed again");
    server.get("/user/2").await;
    assert_eq!(count(runs), 3, "user 2 is still cached");

    assert_eq!(get_user_invalidate_all(&state).await.unwrap(), 2);
    server.get("/user/2").await;
    assert_eq!(count(runs), 4);
}

#[tokio::test]
async fn each_state_uses_its_own_cache() {
    let a = AppState::new("handlers-tenant-a");
    let b = AppState {
        cache: Cache::builder()
            .key_prefix("handlers-tenant-b")
            .build()
            .unwrap(),
        runs: Arc::clone(&a.runs),
    };
    let server_a = Server::start(a.clone()).await;
    let server_b = Server::start(b.clone()).await;
    server_a.get("/user/7").await;
    server_b.get("/user/7").await;
    assert_eq!(count(&a.runs.users), 2, "b's cache does not hold a's entry");
    assert!(get_user_invalidate(&b, 7).await.unwrap());
    server_a.get("/user/7").await;
    assert_eq!(count(&a.runs.users), 2, "a's entry is untouched");
}

#[tokio::test]
async fn a_key_closure_decides_which_queries_share_an_entry() {
    let state = AppState::new("handlers-search");
    let server = Server::start(state.clone()).await;
    let runs = &state.runs.searches;

    let (_, body) = server.get("/search?term=Rust&page=1").await;
    assert_eq!(body, r#"["rust p1"]"#);
    server.get("/search?term=rust&page=1").await;
    server.get("/search?term=RUST&page=1").await;
    assert_eq!(count(runs), 1, "case-folded terms share the entry");
    server.get("/search?term=rust&page=2").await;
    assert_eq!(count(runs), 2, "another page misses");

    let query = Search {
        term: "rUsT".into(),
        page: 1,
    };
    assert!(search_invalidate(&state, query).await.unwrap());
    server.get("/search?term=rust&page=2").await;
    assert_eq!(count(runs), 2, "page 2 is still cached");
    server.get("/search?term=rust&page=1").await;
    assert_eq!(count(runs), 3);
}

#[tokio::test]
async fn a_template_reading_a_field_gives_one_readable_entry_per_id() {
    let state = AppState::new("handlers-orgs");
    let server = Server::start(state.clone()).await;
    let runs = &state.runs.orgs;

    let (_, page) = server.get("/org?id=42&greeting=hello").await;
    assert_eq!(page, "<h1>hello 42</h1>");
    let (_, again) = server.get("/org?id=42&greeting=bonjour").await;
    assert_eq!(again, page, "the greeting is not part of the key");
    assert_eq!(count(runs), 1);
    server.get("/org?id=43&greeting=hello").await;
    assert_eq!(count(runs), 2);

    let function = format!("{}::org_page", module_path!());
    let key = format!("{}org:000042", memoized_prefix(&state.cache, &function, 1));
    assert!(state.cache.backend().contains(&key).await.unwrap(), "{key}");

    let org = Org {
        id: 42,
        greeting: "any".into(),
    };
    assert!(org_page_invalidate(&state, org).await.unwrap());
    assert!(!state.cache.backend().contains(&key).await.unwrap());
}

#[tokio::test]
async fn errors_are_answered_but_not_cached() {
    let state = AppState::new("handlers-items");
    let server = Server::start(state.clone()).await;
    let runs = &state.runs.items;

    assert_eq!(
        server.get("/item/1").await,
        (StatusCode::OK, r#""item 1""#.into())
    );
    server.get("/item/1").await;
    assert_eq!(count(runs), 1);
    assert_eq!(server.get("/item/404").await.0, StatusCode::NOT_FOUND);
    assert_eq!(server.get("/item/404").await.0, StatusCode::NOT_FOUND);
    assert_eq!(count(runs), 3, "a 404 is computed each time");
    assert!(!get_item_invalidate(&state, 404).await.unwrap());
}

#[tokio::test]
async fn tuple_path_parameters_are_keyed_in_order() {
    let state = AppState::new("handlers-pairs");
    let server = Server::start(state.clone()).await;
    let runs = &state.runs.pairs;

    assert_eq!(server.get("/pair/1/a").await.1, "1/a");
    server.get("/pair/1/a").await;
    assert_eq!(count(runs), 1);
    server.get("/pair/1/b").await;
    server.get("/pair/2/a").await;
    assert_eq!(count(runs), 3);
    assert!(pair_invalidate(&state, 1, "b".into()).await.unwrap());
    assert!(!pair_invalidate(&state, 2, "b".into()).await.unwrap());
}

// --- Keys never collide -------------------------------------------------------

#[derive(Debug, Clone, Serialize, Deserialize)]
struct User {
    id: u64,
    name: String,
}

static RUNS: AtomicUsize = AtomicUsize::new(0);

/// A padded number and a string that may hold the separator and digits.
#[cached(cache = cache, key = "{user.id:04}:{user.name}")]
fn by_template(cache: &Cache, user: &User) -> u64 {
    RUNS.fetch_add(1, Ordering::SeqCst);
    user.id
}

/// The same parts, through a closure.
#[memoize(cache = cache, key = |user: &User| (user.id, user.name.clone()))]
fn by_closure(cache: &Cache, user: &User) -> u64 {
    RUNS.fetch_add(1, Ordering::SeqCst);
    user.id
}

/// Two functions with the same key closure: each has its own entries.
#[memoize(cache = cache, key = |user: &User| (user.id, user.name.clone()))]
fn first_of_two(cache: &Cache, user: &User) -> u64 {
    user.id
}

#[memoize(cache = cache, key = |user: &User| (user.id, user.name.clone()))]
fn second_of_two(cache: &Cache, user: &User) -> u64 {
    user.id + 1
}

fn user() -> impl Strategy<Value = User> {
    (0u64..20_000, "[0-9:%a]{0,6}").prop_map(|(id, name)| User { id, name })
}

/// How many times the body runs for `a` then `b`, on an empty cache.
fn runs_for(f: fn(&Cache, &User) -> u64, a: &User, b: &User) -> usize {
    let cache = Cache::default();
    let before = RUNS.load(Ordering::SeqCst);
    f(&cache, a);
    f(&cache, b);
    RUNS.load(Ordering::SeqCst) - before
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    /// Two users share an entry exactly when the key's parts are equal.
    #[test]
    fn templates_and_key_closures_give_distinct_users_distinct_entries(a in user(), b in user()) {
        let same = (a.id, &a.name) == (b.id, &b.name);
        let expected = if same { 1 } else { 2 };
        prop_assert_eq!(runs_for(by_template, &a, &b), expected, "{:?} {:?}", a, b);
        prop_assert_eq!(runs_for(by_closure, &a, &b), expected, "{:?} {:?}", a, b);
    }
}

#[test]
fn equal_key_values_of_two_functions_are_two_entries() {
    let cache = Cache::default();
    let ada = User {
        id: 1,
        name: "ada".into(),
    };
    assert_eq!(first_of_two(&cache, &ada), 1);
    assert_eq!(second_of_two(&cache, &ada), 2, "not the first one's entry");
    assert!(first_of_two_invalidate(&cache, &ada).unwrap());
    assert!(second_of_two_invalidate(&cache, &ada).unwrap());
}
