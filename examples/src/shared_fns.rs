//! Memoized functions shared by several binaries: the integration tests
//! and `examples/memoize_peer.rs` call the same function, with the same
//! key (`<ns>#cache_examples::shared_fns::profile_name:1:<args>`, `<ns>` being
//! the cache's prefix, escaped), to show that
//! processes sharing a store and a prefix share entries and invalidations.
//!
//! A function's key starts with its `module_path!()`, so two binaries
//! share entries only when they memoize the *same* function: a copy in each
//! binary would live in two modules and have two keys. Hence this module.
//!
//! The functions use the process-wide cache: each process points it at the
//! shared store with [`cache_core::init`] before the first call.

use std::sync::atomic::{AtomicUsize, Ordering};

use cache_core::memoize;

static PROFILE_NAME_RUNS: AtomicUsize = AtomicUsize::new(0);

/// A user's display name, "loaded" by this process: the value names the
/// process that ran the body, so a reader can tell whose entry it got.
///
/// ```no_run
/// use cache_core::Cache;
/// use cache_examples::shared_fns::{profile_name, profile_name_runs};
///
/// cache_core::init(Cache::builder().url("redis://127.0.0.1:6379/0").key_prefix("demo:").build()?)?;
/// let name = profile_name(7); // from the cache if any process computed it
/// println!("{name} (body runs in this process: {})", profile_name_runs());
/// # Ok::<(), cache_core::Error>(())
/// ```
#[memoize(timeout = 60)]
pub fn profile_name(id: u64) -> String {
    PROFILE_NAME_RUNS.fetch_add(1, Ordering::SeqCst);
    format!("user {id}, loaded by process {}", std::process::id())
}

/// How many times [`profile_name`]'s body ran in this process.
///
/// ```
/// let before = cache_examples::shared_fns::profile_name_runs();
/// cache_examples::shared_fns::profile_name_uncached(1);
/// assert_eq!(cache_examples::shared_fns::profile_name_runs(), before + 1);
/// ```
pub fn profile_name_runs() -> usize {
    PROFILE_NAME_RUNS.load(Ordering::SeqCst)
}

/// Two functions in one module, one name a prefix of the other's, for the
/// `<fn>_invalidate_all` tests: clearing `get_user` must not clear
/// `get_user_profile`. Each test binary points [`CACHE`](name_prefix::CACHE)
/// at its store (memory or a Redis server) before the first call.
pub mod name_prefix {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use cache_core::memoize;

    use crate::late_cache::LateCache;

    /// The cache both functions use.
    pub static CACHE: LateCache = LateCache::new();
    /// How many times [`get_user`]'s body ran.
    pub static USER_RUNS: AtomicUsize = AtomicUsize::new(0);
    /// How many times [`get_user_profile`]'s body ran.
    pub static PROFILE_RUNS: AtomicUsize = AtomicUsize::new(0);

    /// Its name is a prefix of the next function's name.
    ///
    /// ```
    /// use cache_examples::shared_fns::name_prefix::{get_user, CACHE};
    /// CACHE.set(cache_core::Cache::default());
    /// assert_eq!(get_user(4), 4);
    /// ```
    #[memoize(cache = CACHE)]
    pub fn get_user(id: u64) -> u64 {
        USER_RUNS.fetch_add(1, Ordering::SeqCst);
        id
    }

    /// A profile line for `id`.
    ///
    /// ```
    /// use cache_examples::shared_fns::name_prefix::{get_user_profile, CACHE};
    /// CACHE.set(cache_core::Cache::default());
    /// assert_eq!(get_user_profile(4), "profile 4");
    /// ```
    #[memoize(cache = CACHE)]
    pub fn get_user_profile(id: u64) -> String {
        PROFILE_RUNS.fetch_add(1, Ordering::SeqCst);
        format!("profile {id}")
    }
}

/// The Flask-Caching scenario of the README (a memoized profile, one
/// user's invalidation, an admin clear), run by the memory and the Redis
/// tests on their own store. Each test binary points
/// [`FLASK`](flask::FLASK) at its store, with the prefix `flask:`, then
/// calls [`scenario`](flask::scenario).
pub mod flask {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use cache_core::memoize;
    use serde::{Deserialize, Serialize};

    use crate::late_cache::LateCache;

    /// The app's cache.
    pub static FLASK: LateCache = LateCache::new();
    /// How many times [`get_user_profile`]'s body ran.
    pub static PROFILE_LOADS: AtomicUsize = AtomicUsize::new(0);

    /// A user's profile.
    #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
    pub struct Profile {
        /// The user.
        pub id: u64,
        /// Their name.
        pub name: String,
        /// Which run of the body produced it.
        pub load: usize,
    }

    /// The memoized view of a profile.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// use cache_examples::shared_fns::flask::{get_user_profile, FLASK};
    /// FLASK.set(cache_core::Cache::default());
    /// assert_eq!(get_user_profile(3).await.name, "user 3");
    /// # }
    /// ```
    #[memoize(timeout = 120, cache = FLASK)]
    pub async fn get_user_profile(user_id: u64) -> Profile {
        tokio::task::yield_now().await; // a database call, say
        let load = PROFILE_LOADS.fetch_add(1, Ordering::SeqCst) + 1;
        Profile {
            id: user_id,
            name: format!("user {user_id}"),
            load,
        }
    }

    /// Where the scenario is when it calls back for the store's own checks.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub enum Step {
        /// Users 1 and 2 were loaded once each.
        Loaded,
        /// `FLASK.clear()` removed this app's two entries.
        Cleared,
    }

    /// Runs the scenario on [`FLASK`], calling `check` at each [`Step`].
    ///
    /// # Panics
    ///
    /// When the cache does not behave as the scenario says.
    pub async fn scenario(check: impl Fn(Step)) {
        assert_eq!(get_user_profile(1).await.load, 1);
        assert_eq!(get_user_profile(2).await.load, 2);
        check(Step::Loaded);

        // User 5 was never loaded: nothing to remove, and 1 and 2 stay cached.
        assert!(!get_user_profile_invalidate(5).await.unwrap());
        assert_eq!(get_user_profile(1).await.load, 1);
        assert_eq!(get_user_profile(2).await.load, 2);
        assert_eq!(
            PROFILE_LOADS.load(Ordering::SeqCst),
            2,
            "cached calls must not run the body"
        );

        // After user 1 edits the profile: only user 1's entry goes.
        assert!(get_user_profile_invalidate(1).await.unwrap());
        assert_eq!(get_user_profile(1).await.load, 3);
        assert_eq!(get_user_profile(2).await.load, 2);

        // An admin endpoint: everything under this app's prefix goes, and only that.
        assert_eq!(FLASK.clear().await.unwrap(), 2);
        check(Step::Cleared);
        assert_eq!(get_user_profile(1).await.load, 4);
        assert_eq!(get_user_profile(2).await.load, 5);
    }
}
