//! `crate = path`: a framework that re-exports cache-core offers the
//! macros, and the generated code names the framework's path. Here
//! `::cache_core` names this crate itself, which has no `__private`: a path
//! the expansion wrote as `::cache_core::…` instead of through `crate`
//! would not compile.
#![deny(warnings, missing_docs)]

extern crate cache_core as real_cache_core;
extern crate self as cache_core;

/// A framework that re-exports cache-core.
pub mod framework {
    /// cache-core under the framework's name. The glob brings the hidden
    /// `__private` module along, which the generated code calls.
    pub mod cache {
        pub use real_cache_core::*;
    }
}

/// The application: it names cache-core only through the framework.
pub mod app {
    use std::sync::atomic::{AtomicU32, Ordering};
    use std::sync::LazyLock;

    use crate::framework::cache::{cached, memoize, Cache};

    /// How often `square` ran.
    pub static SQUARES: AtomicU32 = AtomicU32::new(0);

    /// The application's own cache.
    pub static CACHE: LazyLock<Cache> =
        LazyLock::new(|| Cache::builder().key_prefix("app:").build().unwrap());

    /// In the process-wide cache.
    #[memoize(crate = crate::framework::cache, timeout = 60)]
    pub fn square(x: u64) -> u64 {
        SQUARES.fetch_add(1, Ordering::SeqCst);
        x * x
    }

    /// The string form, as serde and tokio write it; an `Option`, a key
    /// template, an async function.
    #[memoize(crate = "crate::framework::cache", cache = CACHE, key = "user:{id}")]
    pub async fn name(id: u64) -> Option<String> {
        (id != 0).then(|| format!("user {id}"))
    }

    /// `#[cached]` with a `Result`.
    #[cached(crate = crate::framework::cache, cache = CACHE)]
    pub fn settings() -> Result<String, String> {
        Ok("dark".to_owned())
    }

    /// Keyed by its own value.
    #[derive(serde::Serialize)]
    pub struct Point {
        /// Abscissa.
        pub x: i64,
    }

    impl Point {
        /// `self` in the key.
        #[memoize(crate = crate::framework::cache)]
        pub fn double(&self) -> i64 {
            2 * self.x
        }
    }

    /// Holds its cache.
    pub struct Repo {
        /// Where `consume` caches.
        pub cache: Cache,
    }

    impl Repo {
        /// By value, with the cache taken from `self` (cloned before the
        /// body takes `self`).
        #[memoize(crate = crate::framework::cache, ignore(self), cache = self.cache)]
        pub fn consume(self, id: u64) -> u64 {
            drop(self);
            id + 1
        }
    }
}

#[tokio::main]
async fn main() {
    use std::sync::atomic::Ordering;

    use app::{Point, Repo};

    assert_eq!(app::square(3), 9);
    assert_eq!(app::square(3), 9);
    assert_eq!(app::SQUARES.load(Ordering::SeqCst), 1);
    assert!(app::square_invalidate(3).unwrap());
    assert_eq!(app::square_refresh(3), 9);
    assert_eq!(app::square_uncached(3), 9);
    assert_eq!(app::square_invalidate_all().unwrap(), 1);

    assert_eq!(app::name(1).await.as_deref(), Some("user 1"));
    assert_eq!(app::name(0).await, None);
    assert!(app::name_invalidate(1).await.unwrap());
    assert!(!app::name_invalidate(0).await.unwrap(), "None is not stored");

    assert_eq!(app::settings().as_deref(), Ok("dark"));
    assert!(app::settings_invalidate().unwrap());

    let p = Point { x: 4 };
    assert_eq!(p.double(), 8);
    assert!(p.double_invalidate().unwrap());

    let cache = framework::cache::Cache::builder().build().unwrap();
    let repo = Repo {
        cache: cache.clone(),
    };
    assert_eq!(repo.consume(1), 2);
    assert_eq!(cache.stats().sets, 1);
}
