//! `key = |…| …` closures and key templates with fields and format specs:
//! the keys they write, and the helpers they give.
#![deny(warnings, missing_docs)]

use std::sync::LazyLock;

use cache_core::{cached, memoize, Cache};
use serde::{Deserialize, Serialize};

static CACHE: LazyLock<Cache> =
    LazyLock::new(|| Cache::builder().key_prefix("forms:").build().unwrap());

/// A user.
#[derive(Serialize, Deserialize, Clone)]
pub struct User {
    id: u64,
    name: String,
    /// A pair.
    pub pair: (u8, i8),
}

/// The key is the user's id alone (Flask's `make_cache_key`).
#[memoize(cache = CACHE, key = |user: &User| user.id)]
pub fn greeting(user: &User, style: &str) -> String {
    format!("{style} {}", user.name)
}

/// A closure with no annotation, a return type and two parameters; the
/// function is generic, so the type parameter is in the key too.
#[memoize(cache = CACHE, key = |a, b| -> (u64, usize) { (*a, b.len()) })]
pub fn pair<T: Serialize + Clone + Send + Sync + 'static + for<'de> Deserialize<'de>>(
    a: u64,
    b: Vec<T>,
) -> usize {
    b.len() + a as usize
}

/// A closure that formats (and so captures its argument in the string).
#[cached(cache = CACHE, key = |id| format!("u{id}"))]
pub async fn formatted(id: u64, _trace: bool) -> u64 {
    id
}

/// Fields, tuple fields and format specs.
#[memoize(cache = CACHE, key = "user:{user.id:06}/{user.pair.0:x}/{user.pair.1:+}/{name:?}/{n: >5}")]
pub fn specs(user: &User, name: &str, n: i32) -> String {
    format!("{} {name} {n}", user.id)
}

/// A value type that happens to be called `Response` is stored as any other.
#[derive(Serialize, Deserialize, Clone, PartialEq, Debug)]
pub struct Response {
    status: u16,
}

/// Memoized like any function.
#[memoize(cache = CACHE)]
pub fn api(status: u16) -> Response {
    Response { status }
}

fn full_key(name: &str, args: &str) -> String {
    format!(
        "{}{}::{name}:1:{args}",
        cache_core::key::Namespace::new(CACHE.key_prefix()).memoized(),
        module_path!()
    )
}

#[tokio::main]
async fn main() {
    let user = User {
        id: 7,
        name: "ada".into(),
        pair: (255, 3),
    };
    assert_eq!(greeting(&user, "hi"), "hi ada");
    assert_eq!(greeting(&user, "hello"), "hi ada", "the style is not in the key");
    assert!(greeting_invalidate(&user).unwrap());

    assert_eq!(pair(1, vec![1u8, 2]), 3);
    assert_eq!(pair(1, vec![9u8, 9]), 3, "only the length is in the key");
    assert_eq!(pair(1, vec![9u16, 9]), 3);
    assert!(pair_invalidate(1, vec![0u8, 0]).unwrap());
    assert!(!pair_invalidate(1, vec![0u8, 0]).unwrap());
    assert!(pair_invalidate(1, vec![0u16, 0]).unwrap());

    assert_eq!(formatted(1, true).await, 1);
    assert!(formatted_invalidate(1).await.unwrap());

    assert_eq!(specs(&user, "a b", 42), "7 a b 42");
    let key = full_key("specs", "user:000007/ff/%2B3/%22a%20b%22/%20%20%2042");
    assert!(CACHE.backend().contains(&key).await.unwrap(), "{key}");
    assert!(specs_invalidate(&user, "a b", 42).unwrap());

    assert_eq!(api(200), Response { status: 200 });
    assert!(api_invalidate(200).unwrap());
}
