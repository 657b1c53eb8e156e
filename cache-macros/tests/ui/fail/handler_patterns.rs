//! Extractor patterns the macros cannot key by name, or that do not fit
//! the type read for them.
use cache_core::{memoize, Cache};
use serde::Serialize;

pub struct Path<T>(pub T);
pub struct Query<T>(pub T);
pub struct State<T>(pub T);

#[derive(Clone)]
pub struct AppState {
    cache: Cache,
}

#[derive(Serialize)]
pub struct Params {
    page: u32,
    sort: String,
}

// A struct pattern: the type of `page` cannot be read from the syntax.
#[memoize]
fn listing(Query(Params { page, .. }): Query<Params>) -> u32 {
    page
}

// A wrapper without type argument.
#[derive(Serialize)]
pub struct UserId(u64);

#[memoize]
fn user(UserId(id): UserId) -> u64 {
    id
}

// `cache` reads a name whose type is unknown.
pub struct Ctx {
    cache: Cache,
}

#[memoize(cache = cache)]
fn in_context(Ctx { cache }: Ctx, id: u64) -> u64 {
    id
}

// The body reads `state` too, so it is part of the key: not `Serialize`.
#[memoize(cache = state.cache)]
async fn profile(State(state): State<AppState>, Path(id): Path<u64>) -> String {
    format!("{id} {}", state.cache.key_prefix())
}

// A wrapper of another shape: `Meters<u8>` holds a `Vec<u8>`, not a `u8`.
pub struct Meters<T>(Vec<T>);

#[memoize]
fn total(Meters(v): Meters<u8>) -> usize {
    v.len()
}

// `ignore` names the bound names.
#[memoize(ignore(stat))]
fn named(State(state): State<u64>, Path((a, _)): Path<(u64, u64)>) -> u64 {
    state + a
}

fn main() {}
