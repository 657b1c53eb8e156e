//! `#[memoize]` and `#[cached]` against the in-memory store: what a user
//! of the macros notices. Every test uses its own functions and its own
//! cache (`cache = …`, built with its own key prefix), because tests run in
//! parallel in one process.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Barrier, LazyLock};
use std::time::Duration;

use cache_core::testing::DownBackend;
use cache_core::{cached, memoize, Cache, MemoryBackend};
use cache_tests::keys::{is_stored, memoized_key, memoized_prefix, stored_value};
use serde::{Deserialize, Serialize};

fn cache(prefix: &str) -> Cache {
    Cache::builder()
        .key_prefix(prefix)
        .build()
        .expect("an in-memory cache always builds")
}

fn runs(counter: &AtomicUsize) -> usize {
    counter.load(Ordering::SeqCst)
}

/// Whether the store behind `cache` holds the full key `full`, from a
/// sync test.
fn stored(cache: &Cache, full: &str) -> bool {
    tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap()
        .block_on(is_stored(cache, full))
}

/// The path of this file's free function `name`, as its keys spell it.
fn function(name: &str) -> String {
    format!("{}::{name}", module_path!())
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Profile {
    id: u64,
    name: String,
    /// Which run of the body produced it.
    load: usize,
}

// --- The Flask-Caching scenario (cache_examples::shared_fns::flask) --------------

static SHARED_STORE: LazyLock<MemoryBackend> = LazyLock::new(MemoryBackend::new);

fn on_shared_store(prefix: &str) -> Cache {
    Cache::builder()
        .backend(SHARED_STORE.clone())
        .key_prefix(prefix)
        .build()
        .unwrap()
}

#[tokio::test]
async fn invalidate_removes_only_that_users_entry_and_clear_removes_everything_under_the_prefix() {
    use cache_examples::shared_fns::flask::{scenario, Step, FLASK};

    FLASK.set(on_shared_store("flask:"));
    let other_app = on_shared_store("other-app:");
    other_app.set("not-ours", &1u32, None).await.unwrap();
    scenario(|step| {
        if step == Step::Cleared {
            assert_eq!(
                other_app.blocking().get::<u32>("not-ours").unwrap(),
                Some(1)
            );
        }
    })
    .await;
}

// --- invalidate_all ----------------------------------------------------------

#[test]
fn invalidate_all_removes_every_entry_of_that_function_and_no_other() {
    use cache_examples::shared_fns::name_prefix::*;

    CACHE.set(cache("invalidate-all:"));
    for id in 0..3 {
        get_user(id);
        get_user_profile(id);
    }
    assert_eq!(get_user_invalidate_all().unwrap(), 3);

    for id in 0..3 {
        get_user(id);
        get_user_profile(id);
    }
    assert_eq!(runs(&USER_RUNS), 6, "every get_user entry was removed");
    assert_eq!(
        runs(&PROFILE_RUNS),
        3,
        "get_user_profile's entries survive get_user_invalidate_all"
    );
    assert_eq!(get_user_profile_invalidate_all().unwrap(), 3);
    assert_eq!(get_user_invalidate_all().unwrap(), 3);
}

// --- Expiry --------------------------------------------------------------------

static TTL_CACHE: LazyLock<Cache> = LazyLock::new(|| cache("ttl:"));
static TTL_RUNS: AtomicUsize = AtomicUsize::new(0);

#[memoize(timeout = 1, cache = TTL_CACHE)]
async fn short_lived(id: u64) -> u64 {
    tokio::task::yield_now().await;
    TTL_RUNS.fetch_add(1, Ordering::SeqCst);
    id
}

#[tokio::test]
async fn entries_expire_after_the_timeout() {
    short_lived(1).await;
    short_lived(1).await;
    assert_eq!(runs(&TTL_RUNS), 1);
    tokio::time::sleep(Duration::from_millis(1200)).await;
    short_lived(1).await;
    assert_eq!(runs(&TTL_RUNS), 2, "the entry expired after 1 s");
}

// --- Single-flight ------------------------------------------------------------------

static FLIGHT_CACHE: LazyLock<Cache> = LazyLock::new(|| cache("flight:"));
static ASYNC_FLIGHT_RUNS: AtomicUsize = AtomicUsize::new(0);
static SYNC_FLIGHT_RUNS: AtomicUsize = AtomicUsize::new(0);

#[memoize(cache = FLIGHT_CACHE)]
async fn slow_async(id: u64) -> u64 {
    ASYNC_FLIGHT_RUNS.fetch_add(1, Ordering::SeqCst);
    tokio::time::sleep(Duration::from_millis(50)).await;
    id * 10
}

#[memoize(cache = FLIGHT_CACHE)]
fn slow_sync(id: u64) -> u64 {
    SYNC_FLIGHT_RUNS.fetch_add(1, Ordering::SeqCst);
    std::thread::sleep(Duration::from_millis(50));
    id * 100
}

#[tokio::test(flavor = "multi_thread", worker_threads = 8)]
async fn concurrent_async_misses_of_one_key_run_the_body_once() {
    let tasks: Vec<_> = (0..100).map(|_| tokio::spawn(slow_async(7))).collect();
    for task in tasks {
        assert_eq!(task.await.unwrap(), 70);
    }
    assert_eq!(runs(&ASYNC_FLIGHT_RUNS), 1);
}

#[test]
fn concurrent_sync_misses_from_threads_run_the_body_once() {
    let start = Barrier::new(16);
    std::thread::scope(|s| {
        let handles: Vec<_> = (0..16)
            .map(|_| {
                s.spawn(|| {
                    start.wait();
                    slow_sync(3)
                })
            })
            .collect();
        for handle in handles {
            assert_eq!(handle.join().unwrap(), 300);
        }
    });
    assert_eq!(runs(&SYNC_FLIGHT_RUNS), 1);
}

// --- What is stored ----------------------------------------------------------------

static STORE_CACHE: LazyLock<Cache> = LazyLock::new(|| cache("store:"));
static RESULT_RUNS: AtomicUsize = AtomicUsize::new(0);
static OPTION_RUNS: AtomicUsize = AtomicUsize::new(0);
static NONE_RUNS: AtomicUsize = AtomicUsize::new(0);
static STORE_IF_RUNS: AtomicUsize = AtomicUsize::new(0);

#[memoize(cache = STORE_CACHE)]
fn parse_port(s: &str) -> Result<u16, String> {
    RESULT_RUNS.fetch_add(1, Ordering::SeqCst);
    s.parse().map_err(|e| format!("{s}: {e}"))
}

#[memoize(cache = STORE_CACHE)]
async fn find_user(id: u64) -> Option<String> {
    tokio::task::yield_now().await;
    OPTION_RUNS.fetch_add(1, Ordering::SeqCst);
    (id == 1).then(|| "ada".to_string())
}

#[memoize(cache = STORE_CACHE, cache_none)]
async fn find_user_remembering_misses(id: u64) -> Option<String> {
    tokio::task::yield_now().await;
    NONE_RUNS.fetch_add(1, Ordering::SeqCst);
    (id == 1).then(|| "ada".to_string())
}

#[memoize(cache = STORE_CACHE, store_if = |rows| !rows.is_empty())]
fn search(query: &str) -> Vec<u32> {
    STORE_IF_RUNS.fetch_add(1, Ordering::SeqCst);
    query.bytes().map(u32::from).collect()
}

#[test]
fn err_results_are_returned_but_not_cached() {
    assert!(parse_port("http").is_err());
    assert!(parse_port("http").is_err());
    assert_eq!(runs(&RESULT_RUNS), 2, "an Err is computed again");
    assert_eq!(parse_port("80"), Ok(80));
    assert_eq!(parse_port("80"), Ok(80));
    assert_eq!(runs(&RESULT_RUNS), 3, "an Ok is cached");
}

#[tokio::test]
async fn none_is_not_cached_unless_cache_none() {
    assert_eq!(find_user(2).await, None);
    assert_eq!(find_user(2).await, None);
    assert_eq!(find_user(1).await.as_deref(), Some("ada"));
    assert_eq!(find_user(1).await.as_deref(), Some("ada"));
    assert_eq!(runs(&OPTION_RUNS), 3, "None twice, Some once");

    assert_eq!(find_user_remembering_misses(2).await, None);
    assert_eq!(find_user_remembering_misses(2).await, None);
    assert_eq!(runs(&NONE_RUNS), 1, "with cache_none, None is cached too");
    assert!(find_user_remembering_misses_invalidate(2).await.unwrap());
}

#[test]
fn store_if_returns_the_value_without_storing_it_when_false() {
    assert_eq!(search(""), Vec::<u32>::new());
    assert_eq!(search(""), Vec::<u32>::new());
    assert_eq!(runs(&STORE_IF_RUNS), 2, "empty results are not stored");
    assert_eq!(search("a"), vec![97]);
    assert_eq!(search("a"), vec![97]);
    assert_eq!(runs(&STORE_IF_RUNS), 3);
}

// --- unless: bypass the cache ----------------------------------------------------------------

static BYPASS: LazyLock<Cache> = LazyLock::new(|| cache("bypass:"));
static ARTICLE_RUNS: AtomicUsize = AtomicUsize::new(0);
static RATE_RUNS: AtomicUsize = AtomicUsize::new(0);

/// Editors preview drafts: a preview must neither be served from the
/// cache nor land in the entry readers get.
#[memoize(cache = BYPASS, ignore(preview), unless = preview)]
fn article(id: u64, preview: bool) -> String {
    let run = ARTICLE_RUNS.fetch_add(1, Ordering::SeqCst) + 1;
    let kind = if preview { "draft" } else { "published" };
    format!("article {id}, {kind}, run {run}")
}

#[memoize(cache = BYPASS, unless = currency.is_empty() || currency == "TEST")]
async fn rate(currency: &str) -> usize {
    tokio::task::yield_now().await;
    let _ = currency; // a call to a rates service, say
    RATE_RUNS.fetch_add(1, Ordering::SeqCst) + 1
}

#[test]
fn unless_runs_the_body_without_reading_or_writing_the_cache() {
    assert_eq!(article(1, false), "article 1, published, run 1");
    let before = BYPASS.stats();
    assert_eq!(
        article(1, true),
        "article 1, draft, run 2",
        "not read: the cached entry is there, but a preview runs the body"
    );
    assert_eq!(
        article(1, false),
        "article 1, published, run 1",
        "not written: the draft did not replace the published entry"
    );
    let after = BYPASS.stats();
    assert_eq!(
        (
            after.hits - before.hits,
            after.misses - before.misses,
            after.sets - before.sets
        ),
        (1, 0, 0),
        "the bypassed call does not count as a lookup or a write"
    );
    assert_eq!(
        article_refresh(1, true),
        "article 1, draft, run 3",
        "refresh runs the body too"
    );
    assert_eq!(
        article(1, false),
        "article 1, published, run 1",
        "and, for a preview, stores nothing"
    );
    assert_eq!(article_refresh(1, false), "article 1, published, run 4");
    assert_eq!(article(1, true), "article 1, draft, run 5");
    assert_eq!(article(1, false), "article 1, published, run 4");
}

#[tokio::test]
async fn unless_is_any_bool_expression_over_the_arguments() {
    assert_eq!(rate("EUR").await, 1);
    assert_eq!(rate("EUR").await, 1);
    assert_eq!(rate("TEST").await, 2);
    assert_eq!(rate("TEST").await, 3);
    assert_eq!(rate("").await, 4);
    assert_eq!(rate("EUR").await, 1);
    assert!(
        !rate_invalidate("TEST").await.unwrap(),
        "nothing stored for it"
    );
}

// --- Versions --------------------------------------------------------------------------

static VERSION_CACHE: LazyLock<Cache> = LazyLock::new(|| cache("version:"));

/// Version 2 of a function whose version 1 stored prices in cents.
#[memoize(cache = VERSION_CACHE, version = 2)]
async fn price(item: u64) -> f64 {
    tokio::task::yield_now().await;
    f64::from(u32::try_from(item).unwrap()) * 1.5
}

#[tokio::test]
async fn a_new_version_ignores_and_leaves_the_old_versions_entries() {
    // What the previous deployment (version = 1) left in the cache for
    // item 5: its `price`, in this module, under the same name.
    {
        #[memoize(cache = VERSION_CACHE, version = 1)]
        async fn price(item: u64) -> f64 {
            tokio::task::yield_now().await;
            f64::from(u32::try_from(item).unwrap()) * 150.0
        }
        assert!((price(5).await - 750.0).abs() < f64::EPSILON);
    }
    let old_key = memoized_key(&VERSION_CACHE, &function("price"), 1, &(5u64,));
    assert_eq!(
        stored_value::<f64>(&VERSION_CACHE, &old_key).await,
        Some(750.0)
    );

    assert!((price(5).await - 7.5).abs() < f64::EPSILON);
    let new_key = memoized_key(&VERSION_CACHE, &function("price"), 2, &(5u64,));
    assert_eq!(
        stored_value::<f64>(&VERSION_CACHE, &new_key).await,
        Some(7.5)
    );
    assert_eq!(
        stored_value::<f64>(&VERSION_CACHE, &old_key).await,
        Some(750.0),
        "the old entry is orphaned: never read, left to expire"
    );
}

// --- Which cache --------------------------------------------------------------------------

static EXPLICIT: LazyLock<Cache> = LazyLock::new(|| cache("explicit:"));

#[memoize(cache = EXPLICIT)]
fn double(x: u64) -> u64 {
    x * 2
}

#[memoize]
fn triple_in_the_global_cache(x: u64) -> u64 {
    x * 3
}

#[test]
fn cache_option_stores_in_that_cache() {
    let before = EXPLICIT.stats();
    assert_eq!(double(21), 42);
    assert_eq!(double(21), 42);
    let after = EXPLICIT.stats();
    assert_eq!(after.misses - before.misses, 1, "one miss, counted once");
    assert_eq!(after.sets - before.sets, 1);
    assert_eq!(after.hits - before.hits, 1);
    assert!(stored(
        &EXPLICIT,
        &memoized_key(&EXPLICIT, &function("double"), 1, &(21u64,))
    ));
}

#[test]
fn without_cache_option_the_global_cache_is_used() {
    assert_eq!(triple_in_the_global_cache(5), 15);
    let global = cache_core::global();
    let key = memoized_key(global, &function("triple_in_the_global_cache"), 1, &(5u64,));
    assert!(stored(global, &key));
    assert!(triple_in_the_global_cache_invalidate(5).unwrap());
}

// --- Generated helpers ----------------------------------------------------------------------

static HELPERS: LazyLock<Cache> = LazyLock::new(|| cache("helpers:"));
static REFRESH_RUNS: AtomicUsize = AtomicUsize::new(0);
static UNCACHED_RUNS: AtomicUsize = AtomicUsize::new(0);

#[memoize(cache = HELPERS)]
async fn counted(id: u64) -> usize {
    tokio::task::yield_now().await;
    let _ = id;
    REFRESH_RUNS.fetch_add(1, Ordering::SeqCst) + 1
}

#[memoize(cache = HELPERS)]
fn report(id: u64) -> String {
    UNCACHED_RUNS.fetch_add(1, Ordering::SeqCst);
    format!("report {id}")
}

#[tokio::test]
async fn refresh_recomputes_and_replaces_the_entry() {
    assert_eq!(counted(1).await, 1);
    assert_eq!(counted(1).await, 1);
    assert_eq!(counted_refresh(1).await, 2);
    assert_eq!(
        counted(1).await,
        2,
        "the refreshed value is what is cached now"
    );
    assert_eq!(runs(&REFRESH_RUNS), 2);
}

#[test]
fn uncached_runs_the_body_without_touching_the_cache() {
    let before = HELPERS.stats();
    assert_eq!(report_uncached(9), "report 9");
    assert_eq!(report_uncached(9), "report 9");
    assert_eq!(runs(&UNCACHED_RUNS), 2);
    let after = HELPERS.stats();
    assert_eq!(
        (after.hits, after.misses, after.sets),
        (before.hits, before.misses, before.sets)
    );
    let key = memoized_key(&HELPERS, &function("report"), 1, &(9u64,));
    assert!(!stored(&HELPERS, &key));
    assert_eq!(report(9), "report 9");
    assert!(stored(&HELPERS, &key), "the key checked is report(9)'s");
}

// --- #[cached] ------------------------------------------------------------------------------

static PAGES: LazyLock<Cache> = LazyLock::new(|| cache("pages:"));
static INDEX_RUNS: AtomicUsize = AtomicUsize::new(0);

#[cached(cache = PAGES, timeout = 60, ignore(request_id))]
async fn index(request_id: u64) -> String {
    tokio::task::yield_now().await;
    INDEX_RUNS.fetch_add(1, Ordering::SeqCst);
    format!("home, rendered for request {request_id}")
}

#[cached(cache = PAGES, key = "page:{slug}")]
fn page(slug: &str, request_id: u64) -> String {
    format!("{slug}, rendered for request {request_id}")
}

#[tokio::test]
async fn cached_keeps_one_entry_whatever_the_arguments() {
    assert_eq!(index(1).await, "home, rendered for request 1");
    assert_eq!(index(2).await, "home, rendered for request 1");
    assert_eq!(runs(&INDEX_RUNS), 1);
    assert!(index_invalidate().await.unwrap());
    assert_eq!(index(3).await, "home, rendered for request 3");
}

#[test]
fn cached_key_template_gives_a_readable_key_per_rendering() {
    assert_eq!(page("about", 1), "about, rendered for request 1");
    assert_eq!(page("about", 2), "about, rendered for request 1");
    assert_eq!(page("team", 3), "team, rendered for request 3");
    let key = memoized_prefix(&PAGES, &function("page"), 1) + "page:about";
    assert!(stored(&PAGES, &key));
    assert!(page_invalidate("about").unwrap());
    assert_eq!(page("about", 4), "about, rendered for request 4");
}

// --- Key templates ------------------------------------------------------------------------

static TEMPLATES: LazyLock<Cache> = LazyLock::new(|| cache("templates:"));

#[memoize(cache = TEMPLATES, key = "pair:{a}:{b}")]
fn pair(a: &str, b: &str) -> String {
    format!("{a}|{b}")
}

#[memoize(cache = TEMPLATES, key = "user:{id}")]
fn user_label(id: i64) -> String {
    format!("user {id}")
}

#[memoize(cache = TEMPLATES, key = "len:{value}")]
fn display_len<T: std::fmt::Display>(value: T) -> usize {
    value.to_string().len()
}

/// The full key (namespace included) of a template entry in `TEMPLATES`.
fn template_key(function: &str, args: &str) -> String {
    let ns = cache_core::key::Namespace::new(TEMPLATES.key_prefix());
    format!("{}{}::{function}:1:{args}", ns.memoized(), module_path!())
}

#[test]
fn template_values_holding_the_separator_never_share_a_key() {
    assert_eq!(pair("1:2", "3"), "1:2|3");
    assert_eq!(
        pair("1", "2:3"),
        "1|2:3",
        "another argument list, another entry"
    );
    assert!(stored(&TEMPLATES, &template_key("pair", "pair:1%3A2:3")));
    assert!(stored(&TEMPLATES, &template_key("pair", "pair:1:2%3A3")));
    assert!(pair_invalidate("1:2", "3").unwrap());
    assert!(!pair_invalidate("1:2", "3").unwrap());
    assert_eq!(pair("1", "2:3"), "1|2:3");
    assert!(pair_invalidate("1", "2:3").unwrap());
}

#[test]
fn template_values_are_readable_when_plain_and_escaped_otherwise() {
    user_label(5);
    user_label(-5);
    display_len("a b");
    display_len(7u8);
    assert!(stored(&TEMPLATES, &template_key("user_label", "user:5")));
    assert!(stored(&TEMPLATES, &template_key("user_label", "user:-5")));
    assert!(stored(
        &TEMPLATES,
        &template_key("display_len", "len:a%20b<%26str>")
    ));
    assert!(stored(
        &TEMPLATES,
        &template_key("display_len", "len:7<u8>")
    ));
}

// --- Fail-open ------------------------------------------------------------------------------

static DOWN: LazyLock<Cache> = LazyLock::new(|| {
    Cache::builder()
        .backend(DownBackend)
        .key_prefix("down:")
        .build()
        .unwrap()
});
static DOWN_RUNS: AtomicUsize = AtomicUsize::new(0);

#[memoize(cache = DOWN)]
async fn resilient_async(id: u64) -> Profile {
    tokio::task::yield_now().await;
    let load = DOWN_RUNS.fetch_add(1, Ordering::SeqCst) + 1;
    Profile {
        id,
        name: format!("user {id}"),
        load,
    }
}

#[memoize(cache = DOWN)]
fn resilient_sync(id: u64) -> Result<u64, String> {
    DOWN_RUNS.fetch_add(1, Ordering::SeqCst);
    id.checked_add(1).ok_or_else(|| "overflow".to_string())
}

#[tokio::test(flavor = "multi_thread")]
async fn a_failing_backend_never_breaks_the_function() {
    let counted = || {
        let stats = DOWN.stats();
        stats.errors + stats.breaker_skipped
    };
    let before = counted();
    for round in 1..=3 {
        let profile = resilient_async(7).await;
        assert_eq!((profile.id, profile.name.as_str()), (7, "user 7"));
        assert_eq!(resilient_sync(7), Ok(8));
        let failed = counted();
        assert!(
            failed >= before + 4 * round,
            "each failed (or, with the breaker open, skipped) read and write is counted: {:?}",
            DOWN.stats()
        );
    }
    assert_eq!(
        runs(&DOWN_RUNS),
        6,
        "nothing could be cached, so every call ran"
    );
    assert!(
        resilient_async_invalidate(7).await.is_err(),
        "invalidation reports the outage: the caller must know the entry may still be there"
    );
}

// --- Methods ----------------------------------------------------------------------------------

#[derive(Serialize)]
struct Tenant {
    id: u32,
}

static TENANTS: LazyLock<Cache> = LazyLock::new(|| cache("tenants:"));
static GREETING_RUNS: AtomicUsize = AtomicUsize::new(0);

impl Tenant {
    /// `self` is part of the key: each tenant has its own entries.
    #[memoize(cache = TENANTS)]
    fn greeting(&self, name: &str) -> String {
        GREETING_RUNS.fetch_add(1, Ordering::SeqCst);
        format!("tenant {} greets {name}", self.id)
    }
}

/// A service that owns its cache; not `Serialize`.
struct UserService {
    cache: Cache,
    loads: AtomicUsize,
}

impl UserService {
    #[memoize(ignore(self), cache = self.cache, timeout = 30)]
    async fn name(&self, id: u64) -> String {
        tokio::task::yield_now().await;
        self.loads.fetch_add(1, Ordering::SeqCst);
        format!("user {id}")
    }
}

#[test]
fn memoized_method_keys_on_self_and_arguments() {
    let (a, b) = (Tenant { id: 1 }, Tenant { id: 2 });
    assert_eq!(a.greeting("ada"), "tenant 1 greets ada");
    assert_eq!(a.greeting("ada"), "tenant 1 greets ada");
    assert_eq!(b.greeting("ada"), "tenant 2 greets ada");
    assert_eq!(runs(&GREETING_RUNS), 2);
    assert!(a.greeting_invalidate("ada").unwrap());
    assert!(b.greeting_invalidate("ada").unwrap());
    assert_eq!(a.greeting_invalidate_all().unwrap(), 0);
}

#[tokio::test]
async fn memoized_method_with_ignored_self_uses_the_cache_it_owns() {
    let service = UserService {
        cache: cache("service:"),
        loads: AtomicUsize::new(0),
    };
    assert_eq!(service.name(1).await, "user 1");
    assert_eq!(service.name(1).await, "user 1");
    assert_eq!(service.loads.load(Ordering::SeqCst), 1);
    assert_eq!(service.cache.stats().sets, 1);
    assert!(service.name_invalidate(1).await.unwrap());
    assert_eq!(service.name(1).await, "user 1");
    assert_eq!(service.loads.load(Ordering::SeqCst), 2);
    assert_eq!(service.name_invalidate_all().await.unwrap(), 1);
}
