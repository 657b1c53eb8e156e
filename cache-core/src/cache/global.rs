//! The process-wide cache that `#[memoize]` and `#[cached]` use when not
//! given `cache = …`.

use std::sync::OnceLock;

use crate::{Error, Result};

use super::Cache;

static GLOBAL: OnceLock<Cache> = OnceLock::new();

/// Sets the process-wide cache used by `#[memoize]` and `#[cached]` when
/// they are not given `cache = …`. Call it once at start-up, before the
/// first memoized call; it fails if the global cache is already set (or was
/// already used, which fixes it to the in-memory default).
///
/// ```
/// let cache = cache_core::Cache::from_url("memory://")?;
/// cache_core::init(cache)?;
/// assert!(cache_core::init(cache_core::Cache::default()).is_err());
/// # Ok::<(), cache_core::Error>(())
/// ```
pub fn init(cache: Cache) -> Result<()> {
    GLOBAL.set(cache).map_err(|_| {
        Error::config(
            "cache_core::init called twice, or after the global cache was first used; call it once at start-up",
        )
    })
}

/// The process-wide cache: the one given to [`init`], or an in-memory cache
/// with the default settings if `init` was never called.
///
/// ```
/// let cache = cache_core::global();
/// assert!(!cache.key_prefix().is_empty());
/// ```
pub fn global() -> &'static Cache {
    GLOBAL.get_or_init(Cache::default)
}
