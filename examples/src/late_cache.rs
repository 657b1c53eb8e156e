//! [`LateCache`]: a `static` cache for memoized free functions whose test
//! builds the cache at run time (after starting its server).

use std::ops::Deref;
use std::sync::OnceLock;

use cache_core::Cache;

/// The cache of free memoized functions whose test starts the server: the
/// attribute says `cache = NAME`, and the test calls `NAME.set(…)` before
/// the first call.
///
/// ```
/// use cache_core::{memoize, Cache};
/// use cache_examples::late_cache::LateCache;
///
/// static CACHE: LateCache = LateCache::new();
///
/// #[memoize(cache = CACHE)]
/// fn double(x: u64) -> u64 {
///     x * 2
/// }
///
/// CACHE.set(Cache::default());
/// assert_eq!(double(2), 4);
/// ```
pub struct LateCache(OnceLock<Cache>);

impl LateCache {
    /// An unset cache, for a `static`.
    pub const fn new() -> Self {
        Self(OnceLock::new())
    }

    /// Sets the cache.
    ///
    /// # Panics
    ///
    /// If it was already set: one test sets each static.
    pub fn set(&self, cache: Cache) -> &Cache {
        assert!(
            self.0.set(cache).is_ok(),
            "a LateCache is set by one test only"
        );
        self
    }
}

impl Default for LateCache {
    fn default() -> Self {
        Self::new()
    }
}

impl Deref for LateCache {
    type Target = Cache;

    fn deref(&self) -> &Cache {
        self.0
            .get()
            .expect("the test sets this cache before calling its functions")
    }
}
