//! Handler-shaped functions, as axum writes them: extractor patterns keyed
//! by the names they bind, the cache taken from an argument, `Json<T>` and
//! `Html<T>` return types. The extractors here are stand-ins of axum's
//! (one-field tuple structs): the macros read syntax only.
#![deny(warnings, missing_docs)]

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use cache_core::{cached, memoize, Cache};
use serde::{Deserialize, Serialize};

/// axum's `Path`.
pub struct Path<T>(pub T);
/// axum's `Query`.
pub struct Query<T>(pub T);
/// axum's `State`.
pub struct State<T>(pub T);
/// axum's `Json`.
pub struct Json<T>(pub T);
/// axum's `Html`.
pub struct Html<T>(pub T);

/// The application state: not `Serialize`.
#[derive(Clone)]
pub struct AppState {
    cache: Cache,
    loads: Arc<AtomicUsize>,
}

/// Query parameters.
#[derive(Serialize, Deserialize, Clone)]
pub struct Params {
    page: u32,
    sort: String,
}

/// A cached value.
#[derive(Serialize, Deserialize, Clone, PartialEq, Debug)]
pub struct Profile {
    id: u64,
    load: usize,
}

/// The state gives the cache and the database: `ignore(state)` leaves it
/// out of the key, which is `id` alone. A tag names the bound `id`.
#[memoize(cache = state.cache, ignore(state), tags = ["user:{id:04}"])]
pub async fn get_user(State(state): State<AppState>, Path(id): Path<u64>) -> Json<Profile> {
    let load = state.loads.fetch_add(1, Ordering::SeqCst) + 1;
    Json(Profile { id, load })
}

/// The body does not read `state`: only `cache` does, so it is not part
/// of the key, and needs no `ignore`. `unless` reads a bound name, a
/// reference.
#[memoize(cache = state.cache, unless = *x == 0)]
pub async fn square(State(state): State<AppState>, Path(x): Path<u64>) -> u64 {
    x * x
}

/// A tuple in a wrapper, a `Query`, and a `_` (not part of the key).
#[memoize(cache = state.cache)]
pub fn listing(
    Path((user, kind)): Path<(u64, String)>,
    Query(q): Query<Params>,
    Path(_): Path<u8>,
    state: &AppState,
) -> Result<Html<String>, String> {
    Ok(Html(format!("{user} {kind} {} {}", q.page, q.sort)))
}

/// A key closure: the entry is the page alone.
#[memoize(cache = state.cache, key = |q: &Params| q.page)]
pub fn by_page(Query(q): Query<Params>, state: &AppState) -> Option<Json<u32>> {
    let _ = &q.sort;
    Some(Json(q.page))
}

/// A template reading a field, with a padded number.
#[cached(cache = state.cache, key = "page:{q.page:04}:{q.sort}")]
pub fn page_title(Query(q): Query<Params>, State(state): State<AppState>) -> String {
    state.loads.fetch_add(1, Ordering::SeqCst);
    format!("{} by {}", q.page, q.sort)
}

/// A service whose cache and tenant are its own.
pub struct Tenant {
    name: String,
    cache: Cache,
}

impl Tenant {
    /// `{self.name}` in the key: each tenant has its own entry.
    #[cached(cache = self.cache, key = "{self.name}/{id:x}")]
    pub fn label(&self, id: u32) -> String {
        format!("{}:{id}", self.name)
    }
}

/// A cache passed as an argument.
#[memoize(cache = cache)]
pub fn with_cache(cache: &Cache, mut x: u32) -> u32 {
    x += 1;
    x
}

#[tokio::main]
async fn main() {
    let state = AppState {
        cache: Cache::builder().key_prefix("handlers:").build().unwrap(),
        loads: Arc::default(),
    };
    let s = || State(state.clone());

    let Json(first) = get_user(s(), Path(5)).await;
    let Json(again) = get_user(s(), Path(5)).await;
    assert_eq!(first, again, "the second call is a hit");
    assert_eq!(get_user(s(), Path(6)).await.0.load, 2, "another id misses");
    let stats = get_user_stats(&state);
    assert_eq!((stats.hits, stats.misses), (1, 2));
    assert!(get_user_invalidate(&state, 5).await.unwrap());
    assert!(!get_user_invalidate(&state, 5).await.unwrap());
    assert_eq!(get_user(s(), Path(5)).await.0.load, 3);
    assert_eq!(state.cache.invalidate_tag("user:0006").await.unwrap(), 1);
    assert_eq!(get_user_invalidate_all(&state).await.unwrap(), 1);
    assert_eq!(get_user_refresh(s(), Path(7)).await.0.load, 4);
    assert_eq!(get_user_uncached(s(), Path(7)).await.0.load, 5);

    assert_eq!(square(s(), Path(3)).await, 9);
    assert!(square_invalidate(&state, 3).await.unwrap());
    assert_eq!(square(s(), Path(0)).await, 0);
    assert!(!square_invalidate(&state, 0).await.unwrap(), "`unless` skipped the cache");

    let q = || Params {
        page: 2,
        sort: "name".into(),
    };
    let html = listing(Path((1, "a".into())), Query(q()), Path(9), &state).unwrap();
    assert_eq!(html.0, "1 a 2 name");
    assert!(listing(Path((1, "a".into())), Query(q()), Path(8), &state).is_ok());
    assert!(listing_invalidate(1, "a".into(), q(), &state).unwrap());
    assert_eq!(listing_invalidate_all(&state).unwrap(), 0);

    assert_eq!(by_page(Query(q()), &state).map(|j| j.0), Some(2));
    assert!(by_page_invalidate(q(), &state).unwrap());

    assert_eq!(page_title(Query(q()), s()), "2 by name");
    let key = format!(
        "{}{}::page_title:1:page:0002:name",
        cache_core::key::Namespace::new(state.cache.key_prefix()).memoized(),
        module_path!()
    );
    assert!(state.cache.backend().contains(&key).await.unwrap());
    assert!(page_title_invalidate(q(), &state).unwrap());

    let tenant = Tenant {
        name: "acme".into(),
        cache: state.cache.clone(),
    };
    assert_eq!(tenant.label(255), "acme:255");
    assert!(tenant.label_invalidate(255).unwrap());

    assert_eq!(with_cache(&state.cache, 1), 2);
    assert!(with_cache_invalidate(&state.cache, 1).unwrap());
    assert_eq!(with_cache_invalidate_all(&state.cache).unwrap(), 0);
}
