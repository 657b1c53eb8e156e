//! The full keys of memoized calls, as the store sees them, for tests that
//! look at the store directly.
//!
//! A key given to the `Cache` API is always stored as `<ns>|<key>`
//! ([`Cache::full_key`]), so a memoized function's entry,
//! `<ns>#<fn path>:<version>:<args>`, can never be named through that API:
//! a test reaches it through the cache's backend, under the key built here
//! from the same parts the macros use ([`cache_core::key::Namespace`],
//! [`cache_core::key::write_function_key`]).

use cache_core::key::{self, Namespace};
use cache_core::Cache;
use serde::de::DeserializeOwned;
use serde::Serialize;

/// `<ns>#<function>:<version>:`: the start of every key of one memoized
/// function of `cache`, where `function` is its path (`module_path!()` and
/// its name for a free function, `type_name::<Self>()` and its name for a
/// method). A `#[cached(key = "…")]` function's key is this followed by
/// the rendered template.
///
/// ```
/// let cache = cache_core::Cache::builder().key_prefix("app").build()?;
/// let prefix = cache_tests::keys::memoized_prefix(&cache, "shop::index", 3);
/// assert_eq!(prefix, "app#shop::index:3:");
/// # Ok::<(), cache_core::Error>(())
/// ```
pub fn memoized_prefix(cache: &Cache, function: &str, version: u32) -> String {
    let mut full = Namespace::new(cache.key_prefix()).memoized().to_owned();
    key::write_function_prefix(&mut full, function, version);
    full
}

/// `<ns>#<function>:<version>:<args>`: the full key under which `cache`
/// stores the call of the memoized `function` (see [`memoized_prefix`])
/// with `args`, a tuple of its key arguments.
///
/// # Panics
///
/// When `args` cannot be encoded (a test's arguments always can).
///
/// ```
/// let cache = cache_core::Cache::builder().key_prefix("app").build()?;
/// let key = cache_tests::keys::memoized_key(&cache, "shop::price", 1, &(5u64,));
/// assert_eq!(key, "app#shop::price:1:05");
/// # Ok::<(), cache_core::Error>(())
/// ```
pub fn memoized_key<A: Serialize + ?Sized>(
    cache: &Cache,
    function: &str,
    version: u32,
    args: &A,
) -> String {
    let mut full = Namespace::new(cache.key_prefix()).memoized().to_owned();
    key::write_function_key(&mut full, function, version, args)
        .expect("the test's key arguments encode");
    full
}

/// Whether the store behind `cache` holds the full key `full`.
///
/// # Panics
///
/// When the store does not answer.
pub async fn is_stored(cache: &Cache, full: &str) -> bool {
    cache
        .backend()
        .contains(full)
        .await
        .expect("the store answers")
}

/// The value the store behind `cache` holds under the full key `full`,
/// read as a `T` (`None`: no entry). Values of unsigned caches only.
///
/// # Panics
///
/// When the store does not answer, or the entry is not a `T`.
pub async fn stored_value<T: Serialize + DeserializeOwned>(cache: &Cache, full: &str) -> Option<T> {
    let bytes = cache
        .backend()
        .get(full)
        .await
        .expect("the store answers")?;
    Some(cache_core::codec::decode(&bytes).expect("the entry holds a value of this type"))
}
