//! A guide to caching functions with `#[cached]` and `#[memoize]`, and a
//! map from Flask-Caching to this crate.
//!
//! This module holds documentation only. Every example compiles; the ones
//! that need a Redis server are not run by the tests.
//!
//! # Contents
//!
//! - [Cache a function's result](#cache-a-functions-result)
//! - [One entry per argument list](#one-entry-per-argument-list)
//! - [Invalidate](#invalidate)
//! - [Clear the cache](#clear-the-cache)
//! - [Choose the store, prefix and default timeout](#choose-the-store-prefix-and-default-timeout)
//! - [Skip the cache for some calls: `unless`](#skip-the-cache-for-some-calls-unless)
//! - [Do not store some results: `store_if`](#do-not-store-some-results-store_if)
//! - [`Result` and `Option`](#result-and-option)
//! - [Keys you choose](#keys-you-choose)
//! - [Sync functions](#sync-functions)
//! - [Methods](#methods)
//! - [When the store fails, and concurrent misses](#when-the-store-fails-and-concurrent-misses)
//! - [Coming from Flask-Caching](#coming-from-flask-caching)
//!
//! # Cache a function's result
//!
//! [`#[cached]`](macro@crate::cached) keeps one entry for the whole
//! function, whatever its arguments: a rendered page, a configuration
//! read from a slow service.
//!
//! ```
//! use cache_core::cached;
//!
//! #[cached(timeout = 60)] // seconds; the entry is recomputed a minute later
//! async fn index() -> String {
//!     "<h1>Home</h1>".to_string() // an expensive render, say
//! }
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! assert_eq!(index().await, "<h1>Home</h1>"); // runs the body
//! assert_eq!(index().await, "<h1>Home</h1>"); // from the cache
//! # }
//! ```
//!
//! One entry serves every call, so on a function with arguments
//! `#[cached]` needs every argument listed in `ignore(…)` (the arguments
//! cannot change the result: a database handle, a request id) or a
//! [`key`](#keys-you-choose) naming the ones that select the entry;
//! otherwise it is a compile error, because the first call's result would
//! be returned for every argument. For one entry per argument list, use
//! [`#[memoize]`](#one-entry-per-argument-list). On a method, `self` is an
//! argument too: `ignore(self)` shares the entry between every value of
//! the type.
//!
//! ```
//! use cache_core::cached;
//! # pub struct Db;
//!
//! #[cached(timeout = 60, ignore(db))] // one entry, whatever `db`
//! fn site_settings(db: &Db) -> String {
//!     "dark mode".to_string() // a slow read from `db`, say
//! }
//! # assert_eq!(site_settings(&Db), "dark mode");
//! ```
//!
//! The value is stored in the process-wide cache, [`global()`](crate::global):
//! in memory unless [`init`](crate::init) was given another one (see
//! [below](#choose-the-store-prefix-and-default-timeout)). A cached value
//! must be `Serialize + DeserializeOwned + Clone + Send + Sync + 'static` ([`CacheValue`](crate::CacheValue)):
//! what a remote store needs to share it between processes.
//!
//! # One entry per argument list
//!
//! [`#[memoize]`](macro@crate::memoize) keys the entry on the arguments:
//! `get_user_profile(1)` and `get_user_profile(2)` have an entry each. The
//! arguments must be `Serialize`; borrowed ones (`&str`, `&[T]`) are fine.
//!
//! ```
//! use cache_core::memoize;
//! use serde::{Deserialize, Serialize};
//!
//! #[derive(Clone, Serialize, Deserialize)]
//! pub struct Profile {
//!     pub name: String,
//! }
//!
//! #[memoize(timeout = 120)]
//! pub async fn get_user_profile(user_id: u64) -> Profile {
//!     Profile { name: format!("user {user_id}") } // a database call, say
//! }
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! let ada = get_user_profile(1).await; // runs the body
//! let grace = get_user_profile(2).await; // runs the body: other arguments
//! let ada_again = get_user_profile(1).await; // from the cache
//! assert_eq!(ada.name, ada_again.name);
//! # let _ = grace;
//! # }
//! ```
//!
//! `timeout = 0` keeps entries until they are invalidated or evicted;
//! without `timeout`, the cache's default timeout applies (300 s unless
//! configured).
//!
//! # Invalidate
//!
//! Each cached or memoized function `f` comes with generated functions,
//! next to it and with its visibility:
//!
//! | function | what it does |
//! |---|---|
//! | `f_invalidate(args…)` | removes the entry of these arguments only; `Ok(true)` if there was one |
//! | `f_invalidate_all()` | removes every entry of `f`, all argument lists, written by any process sharing the store |
//! | `f_refresh(args…)` | runs the body and stores the result, replacing the entry |
//! | `f_uncached(args…)` | runs the body without touching the cache |
//!
//! ```
//! # use cache_core::memoize;
//! # #[memoize(timeout = 120)]
//! # async fn get_user_profile(user_id: u64) -> String { format!("user {user_id}") }
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> cache_core::Result<()> {
//! get_user_profile(5).await;
//! get_user_profile(6).await;
//!
//! // After user 5 edits the profile: only user 5's entry goes.
//! assert!(get_user_profile_invalidate(5).await?);
//! // After a migration of every profile: all of them go.
//! assert_eq!(get_user_profile_invalidate_all().await?, 1);
//! # Ok(())
//! # }
//! ```
//!
//! The invalidation functions return a [`Result`](crate::Result): if the
//! store is down the entry may still be there, and a caller who must know
//! can check. The error is returned whatever
//! [`ignore_errors`](crate::CacheBuilder::ignore_errors) says: that
//! setting makes reads and writes fail-open, never an invalidation. `#[cached]` functions have `f_invalidate()` with no
//! arguments (or with the template's arguments, see
//! [Keys you choose](#keys-you-choose)).
//!
//! To invalidate entries of several functions (and of the `Cache` API)
//! together, tag them: `#[memoize(tags = ["user:{user_id}"])]`, then
//! `cache.invalidate_tag("user:5")` removes every entry tagged `user:5`,
//! in every process. See [`tags`](crate::tags).
//!
//! # Clear the cache
//!
//! [`Cache::clear`](crate::Cache::clear) removes every key under the
//! cache's prefix, and nothing else: on Redis it scans for the prefix and
//! unlinks what it finds, never `FLUSHDB`, so another application sharing
//! the database keeps its data.
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> cache_core::Result<()> {
//! let removed = cache_core::global().clear().await?;
//! # let _ = removed;
//! # Ok(())
//! # }
//! ```
//!
//! # Choose the store, prefix and default timeout
//!
//! Call [`init`](crate::init) once at start-up, before the first cached
//! call, to set the cache the macros use. Everything it stores is under
//! its key prefix (default `"cache"`); give each application its own so
//! that they can share a store and clear only their own keys. The prefix
//! is a namespace: no two prefixes can reach each other's keys, even when
//! one extends the other (see [`key::Namespace`](crate::key::Namespace)).
//!
//! ```no_run
//! use std::time::Duration;
//! use cache_core::Cache;
//!
//! fn main() -> cache_core::Result<()> {
//!     let cache = Cache::builder()
//!         .url("redis://127.0.0.1:6379/0") // or rediss://, redis+sentinel://, redis+cluster://, memory://
//!         .key_prefix("shop:")
//!         .default_timeout(Duration::from_secs(600)) // for functions without `timeout`
//!         .build()?;
//!     cache_core::init(cache)?;
//!     // … start the application
//!     Ok(())
//! }
//! ```
//!
//! Connecting is lazy; [`Cache::ping`](crate::Cache::ping) checks the
//! server answers. A function can also use another cache than the global
//! one with `cache = <expr>`: any expression that gives a
//! [`Cache`](crate::Cache) or a reference to one (a `static`
//! `LazyLock<Cache>`, a field of `self`), evaluated at each call.
//!
//! ```
//! use std::sync::LazyLock;
//! use std::time::Duration;
//! use cache_core::{memoize, Cache};
//!
//! static PRICES: LazyLock<Cache> = LazyLock::new(|| {
//!     Cache::builder()
//!         .key_prefix("prices:")
//!         .default_timeout(Duration::from_secs(30))
//!         .build()
//!         .expect("an in-memory cache always builds")
//! });
//!
//! #[memoize(cache = PRICES)] // 30 s, the default of PRICES
//! fn price_in_cents(item: u64) -> u64 {
//!     item * 150
//! }
//!
//! assert_eq!(price_in_cents(2), 300);
//! ```
//!
//! # Skip the cache for some calls: `unless`
//!
//! `unless = <expression>` is a `bool` expression over the function's
//! arguments (and `self`), evaluated before the lookup, as Flask-Caching's
//! `unless`: when it is `true`, the body runs and its value is returned
//! without reading or writing the cache. `f_refresh` skips the cache in
//! the same way.
//!
//! ```
//! use cache_core::memoize;
//!
//! // An editor's preview is rendered fresh and never lands in the entry
//! // that readers get.
//! #[memoize(timeout = 60, ignore(preview), unless = preview)]
//! fn article(id: u64, preview: bool) -> String {
//!     format!("article {id}{}", if preview { " (draft)" } else { "" })
//! }
//!
//! assert_eq!(article(1, false), "article 1"); // stored
//! assert_eq!(article(1, true), "article 1 (draft)"); // neither read nor stored
//! assert_eq!(article(1, false), "article 1"); // from the cache
//! ```
//!
//! A closure given to `unless` is a compile error: to decide from the
//! result, use `store_if`.
//!
//! # Do not store some results: `store_if`
//!
//! `store_if = <closure or function>` is given a reference to the value
//! that would be stored (the `Ok` value of a `Result`, the `Some` value of
//! an `Option`), as Flask-Caching's `response_filter`: the value is stored
//! only when it returns `true`. Either way it is returned to the caller;
//! when it is not stored, the next call runs the body again.
//!
//! ```
//! use cache_core::memoize;
//!
//! #[memoize(timeout = 60, store_if = |hits| !hits.is_empty())]
//! fn search(query: &str) -> Vec<u64> {
//!     // An empty result may be an index still filling up: do not keep it.
//!     query.bytes().map(u64::from).collect()
//! }
//!
//! assert!(search("").is_empty()); // not stored
//! assert_eq!(search("a"), vec![97]); // stored
//! ```
//!
//! # `Result` and `Option`
//!
//! - A function returning `Result<T, E>` stores `Ok(T)` only: an `Err` is
//!   returned as is and the next call tries again. `E` need not be
//!   serializable. The `result` option does the same for a `Result` type
//!   under another name (an alias whose last segment is not `Result`).
//! - A function returning `Option<T>` does not store `None` (a missing row
//!   may appear later) unless given `cache_none`. The `option` option
//!   marks an `Option` under another name.
//! - Anything else is stored as is.
//!
//! ```
//! use cache_core::memoize;
//!
//! #[memoize(timeout = 300)]
//! async fn fetch_rate(currency: &str) -> Result<f64, String> {
//!     match currency {
//!         "EUR" => Ok(1.08),
//!         other => Err(format!("no rate for {other}")), // not stored
//!     }
//! }
//!
//! #[memoize(timeout = 300, cache_none)] // "no such user" is remembered too
//! async fn find_user(id: u64) -> Option<String> {
//!     (id == 1).then(|| "ada".to_string())
//! }
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! assert!(fetch_rate("XYZ").await.is_err());
//! assert_eq!(find_user(2).await, None);
//! # }
//! ```
//!
//! # Keys you choose
//!
//! An entry's key is `<ns>#<module path>::<name>:<version>:<args>`
//! (`<ns>` is the cache's prefix, escaped), where `<args>` is a stable
//! encoding of the key arguments (maps and sets sorted): the same in
//! every process, on every platform, in every run, so processes running
//! the same code share entries. Three options change it:
//!
//! - `key = "user:{id}"`: a readable key rendered from the named
//!   arguments with `Display` (Flask-Caching's `key_prefix=` on `cached`).
//!   `f_invalidate` then takes exactly the arguments the template names.
//!   The template's text is written as is and the values are escaped
//!   (letters, digits and `-._~` stay, any other byte is `%XX`: `"1:2"`
//!   is `1%3A2`), so two argument lists never share a key. A placeholder
//!   needs a separator on each side (`user:{id}`, `{a}/{b}`; not `{a}{b}`
//!   or `user-{id}`) and the text holds no `%`: both are checked at
//!   compile time, so that a key always reads back as one list of values
//!   (see [`macro@crate::memoize`], "Key templates").
//! - `ignore(a, b)`: arguments left out of the key (a database handle, a
//!   request id); they need not be `Serialize`.
//! - `version = N` (default 1): bump it when the function's result changes
//!   meaning; the old entries are no longer read and expire on their own.
//!
//! ```
//! use cache_core::{cached, memoize};
//!
//! pub struct Db; // not Serialize
//!
//! #[cached(timeout = 60, key = "page:{slug}")]
//! fn page(slug: &str, request_id: u64) -> String {
//!     format!("<h1>{slug}</h1><!-- request {request_id} -->")
//! }
//!
//! #[memoize(timeout = 60, ignore(db), version = 2)]
//! fn order_total(db: &Db, order: u64) -> u64 {
//!     let _ = db;
//!     order * 100
//! }
//!
//! # fn main() -> cache_core::Result<()> {
//! page("about", 1); // stored under "cache:<module>::page:1:page:about"
//! page_invalidate("about")?;
//! assert_eq!(order_total(&Db, 3), 300);
//! # Ok(())
//! # }
//! ```
//!
//! A value read back as another type than the one stored (after a
//! deployment changed the return type without bumping `version`) is a
//! miss: the body runs and its result replaces the entry. Never a panic,
//! never a wrong value.
//!
//! # Sync functions
//!
//! Both macros work on plain `fn`s too: the generated helpers are then
//! sync as well. They use the cache's blocking path, which works outside
//! any async runtime and inside a tokio runtime of either flavour.
//!
//! ```
//! use cache_core::memoize;
//!
//! #[memoize(timeout = 10)]
//! fn fibonacci(n: u64) -> u64 {
//!     if n < 2 { n } else { fibonacci(n - 1) + fibonacci(n - 2) }
//! }
//!
//! # fn main() -> cache_core::Result<()> {
//! assert_eq!(fibonacci(50), 12_586_269_025);
//! fibonacci_invalidate_all()?;
//! # Ok(())
//! # }
//! ```
//!
//! # Methods
//!
//! In an `impl` block, memoized methods are keyed by their `Self` type
//! instead of the module, and the generated helpers are methods too. With
//! `&self`, the receiver is part of the key (`Self: Serialize`), unless
//! `ignore(self)`; a service that owns its cache passes it with
//! `cache = self.cache`.
//!
//! ```
//! use cache_core::{memoize, Cache};
//!
//! pub struct UserService {
//!     cache: Cache,
//! }
//!
//! impl UserService {
//!     #[memoize(ignore(self), cache = self.cache, timeout = 30)]
//!     pub async fn display_name(&self, id: u64) -> String {
//!         format!("user {id}") // a call to another service, say
//!     }
//! }
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> cache_core::Result<()> {
//! let service = UserService { cache: Cache::builder().key_prefix("users:").build()? };
//! assert_eq!(service.display_name(1).await, "user 1");
//! service.display_name_invalidate(1).await?;
//! # Ok(())
//! # }
//! ```
//!
//! An associated function without `self` that mentions `Self` nowhere
//! needs the `method` option, so the macro knows it is in an `impl` block.
//!
//! A framework that re-exports cache-core (`pub use cache_core::*;` in a
//! module, hidden `__private` included) can offer the macros to crates that
//! do not depend on cache-core: they write `crate = my_framework::cache`
//! and the generated code names that path instead of `::cache_core` (see
//! [`macro@crate::memoize`], "From a crate that re-exports cache-core").
//!
//! # When the store fails, and concurrent misses
//!
//! A cached function never fails because of the cache: if Redis is down
//! or slow, the body runs and its value is returned; the error is logged
//! through `tracing` (once per outage at `warn`) and counted in
//! [`Cache::stats`](crate::Cache::stats). When the store answers again,
//! caching resumes with the same `Cache`.
//!
//! Concurrent calls in one process that miss the same key wait for one
//! run of the body and share its result, so a popular entry that expires
//! does not send a burst of identical queries to the database.
//!
//! # Coming from Flask-Caching
//!
//! | Flask-Caching | this crate |
//! |---|---|
//! | `cache = Cache(app)`, `cache.init_app(app)` | [`cache_core::init(cache)`](crate::init), once at start-up; [`global()`](crate::global) returns it |
//! | `CACHE_TYPE = "RedisCache"` + `CACHE_REDIS_URL` | [`Cache::from_url("redis://host:6379/0")`](crate::Cache::from_url) or `Cache::builder().url(…)` |
//! | `CACHE_TYPE = "SimpleCache"` / `"NullCache"` | `memory://` (the default) / `null://` |
//! | `CACHE_TYPE = "RedisSentinelCache"` / `"RedisClusterCache"` | `redis+sentinel://…` / `redis+cluster://…` |
//! | `CACHE_KEY_PREFIX` | [`CacheBuilder::key_prefix`](crate::CacheBuilder::key_prefix) |
//! | `CACHE_DEFAULT_TIMEOUT` | [`CacheBuilder::default_timeout`](crate::CacheBuilder::default_timeout) (300 s by default, as Flask-Caching) |
//! | `CACHE_IGNORE_ERRORS` | [`CacheBuilder::ignore_errors`](crate::CacheBuilder::ignore_errors) (cached functions are always fail-open; invalidation and `clear` errors are always returned) |
//! | `@cache.cached(timeout=60)` | `#[cached(timeout = 60)]` |
//! | `@cache.cached(key_prefix="…")`, `make_cache_key=` | `#[cached(key = "page:{slug}")]` |
//! | `@cache.memoize(timeout=120)` | `#[memoize(timeout = 120)]` |
//! | `unless=lambda: …` | `unless = <bool expression>`: over the arguments (and `self`), checked before the call; when true the call skips the cache, no read and no write |
//! | `response_filter=lambda r: …` | `store_if = \|value\| …`: store the value only when it returns true |
//! | `cache.delete_memoized(f, 5)` | `f_invalidate(5)` |
//! | `cache.delete_memoized(f)` | `f_invalidate_all()` |
//! | `cache.delete_memoized_verhash(f)` | bump `version = N` |
//! | `cache.clear()` | `cache_core::global().clear()`: only keys under the prefix |
//! | `cache.get` / `set` / `add` / `delete` / `has` | [`Cache::get`](crate::Cache::get) / [`set`](crate::Cache::set) / [`add`](crate::Cache::add) / [`delete`](crate::Cache::delete) / [`has`](crate::Cache::has) |
//! | `cache.get_many` / `set_many` / `delete_many` | [`Cache::get_many`](crate::Cache::get_many) / [`set_many`](crate::Cache::set_many) / [`delete_many`](crate::Cache::delete_many) |
//! | `cache.inc` / `dec` | [`Cache::incr`](crate::Cache::incr) / [`decr`](crate::Cache::decr) |
//!
//! Every [`Cache`](crate::Cache) operation is `async`; sync code uses the
//! same operations through [`Cache::blocking`](crate::Cache::blocking).
//! Values are typed: `get::<T>` names the type it reads, and a value of
//! another type is a miss.
//!
//! ```
//! use std::time::Duration;
//! use cache_core::Cache;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> cache_core::Result<()> {
//! let cache = Cache::builder().key_prefix("app:").build()?; // cache = Cache(config=…)
//! cache.set("greeting", &"hello".to_string(), Duration::from_secs(60)).await?; // cache.set("greeting", "hello", timeout=60)
//! assert_eq!(cache.get::<String>("greeting").await?.as_deref(), Some("hello"));
//! assert!(!cache.add("greeting", &"hi".to_string(), None).await?); // already there
//! cache.set_many(&[("a", 1u32), ("b", 2)], None).await?;
//! assert_eq!(cache.get_many::<u32>(&["a", "b", "c"]).await?, vec![Some(1), Some(2), None]);
//! assert_eq!(cache.incr("visits", 1).await?, 1); // cache.inc("visits")
//! assert_eq!(cache.delete_many(&["a", "b"]).await?, 2);
//! assert!(cache.has("greeting").await?);
//! assert!(cache.delete("greeting").await?);
//! # Ok(())
//! # }
//! ```
