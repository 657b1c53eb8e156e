//! Attribute macros for `cache-core`. Use them through
//! `cache_core::{memoize, cached}`; the generated code calls
//! `cache_core::__private`, whose API this crate pins exactly.
//!
//! Parsing and validation of the options live in `attr.rs`, the checks of
//! the function's shape in `analyze.rs`, code generation in `expand.rs`
//! (the cached function) and `helpers.rs` (the generated helpers), the
//! `tags` option in `tags.rs` (parsing, checks and code), the
//! `syn::visit` walks that read the function's syntax in `walk.rs`; this
//! file only holds the entry points and their documentation.

mod analyze;
mod attr;
mod bindings;
mod expand;
mod fallback;
mod helpers;
mod key;
mod policy;
mod ret;
mod tags;
mod template;
mod walk;

use proc_macro::TokenStream;

use crate::attr::Kind;

/// Caches a function's result per distinct argument list.
///
/// ```
/// use cache_core::memoize;
/// # #[derive(Clone, serde::Serialize, serde::Deserialize)]
/// # pub struct Profile { name: String }
///
/// #[memoize(timeout = 120)]
/// async fn get_user_profile(user_id: u64) -> Profile {
///     Profile { name: format!("user {user_id}") } // a database call, say
/// }
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> cache_core::Result<()> {
/// let first = get_user_profile(5).await; // runs the body
/// let again = get_user_profile(5).await; // from the cache
/// assert_eq!(first.name, again.name);
///
/// // After user 5 edits the profile: only user 5's entry goes.
/// assert!(get_user_profile_invalidate(5).await?);
/// # Ok(())
/// # }
/// ```
///
/// Works on `fn` and `async fn`: free functions, methods and associated
/// functions, generic or not, with borrowed arguments (`&str`, `&[T]`,
/// `&T`). A sync function uses the blocking path of the cache and may be
/// called from anywhere, inside a tokio runtime or not.
///
/// # Options
///
/// | option | meaning |
/// |---|---|
/// | `timeout = 120` | seconds an entry lives; `0` = never expires; absent = the cache's default timeout |
/// | `cache = expr` | the cache to use: an expression of type `Cache`, `&Cache`, `LazyLock<Cache>`…, evaluated at each call before the body runs; it may read `self` and the arguments, as in `cache = state.cache` (see "A cache from an argument"); default `cache_core::global()` |
/// | `ignore(a, self)` | arguments, or names bound by argument patterns, left out of the key (they need not be `Serialize`); on `#[cached]`, arguments declared not to change the result |
/// | `key = "user:{user_id}"` | a readable key: the template rendered with the named arguments (or their fields, `{user.id}`, or with a format spec, `{id:04}`), each value escaped (see "Key templates"), instead of the encoded arguments |
/// | `key = \|id, q\| (*id, q.page)` | the key computed by a closure whose parameters name the arguments it reads, each received by reference: any `Serialize` value, encoded as the arguments are (Flask-Caching's `make_cache_key`; see "Key closures") |
/// | `unless = expr` | a `bool` expression over the arguments (and `self`), evaluated before the lookup: when `true`, the body runs without the cache, no read and no write (Flask-Caching's `unless`); `name_refresh` skips the cache too. A closure is a compile error: see `store_if` |
/// | `store_if = f` | a closure or function taking `&V`, the value that would be stored (the `Ok` / `Some` value): the value is stored only when it returns `true`, and returned either way (Flask-Caching's `response_filter`) |
/// | `version = 2` | part of the key (default 1): bump it when the function's result changes meaning, to leave old entries behind |
/// | `result` | the return type is a `Result` under another name: store `Ok` only |
/// | `option` | the return type is an `Option` under another name: do not store `None` |
/// | `cache_none` | with an `Option` return type, store `None` too |
/// | `method` | the function is an associated function in an `impl` block (see "Keys") |
/// | `tags = ["user:{user_id}", "all"]` | tags every entry carries, rendered from the named arguments as `key` templates are (any argument, keyed or not); `cache.invalidate_tag("user:5")` then removes every entry tagged `user:5`, whichever function or process wrote it (see `cache_core::tags`) |
/// | `fail_safe = 3600` | when the body returns `Err` (or times out), the last good value, for this long (seconds, or `"30m"`, `"2s"`, `"250ms"`) past its timeout (see `cache_core::policy`) |
/// | `fail_safe_throttle = "5s"` | after a failure, the stale value is served as fresh this long before the body runs again (default 1 s) |
/// | `hard_timeout = "2s"` | a body slower than this is dropped: the stale value, or a `Timeout` error when the error type has `From<cache_core::Error>` (otherwise the body is waited for) |
/// | `refresh_ahead = 0.8` | past this fraction of its timeout, a hit starts one background computation |
/// | `stale_while_revalidate = 30` | an expired value, up to this long, at once, while one background computation replaces it |
/// | `soft_timeout = "100ms"` | with a stale value at hand, a body slower than this finishes in the background while the caller gets the stale value |
/// | `lock = distributed` | one computation per argument list across every process sharing the store; `lock_expiry = "5s"` (default 10 s) bounds how long a dead holder blocks others |
/// | `crate = path` | where the generated code finds cache-core (default `::cache_core`): the path of a crate or module that re-exports it, such as `crate = my_framework::cache`; `crate = "path"` also works (see "From a crate that re-exports cache-core") |
///
/// The three background options (`refresh_ahead`, `stale_while_revalidate`,
/// `soft_timeout`) run the body after the call returns, so it gets its own
/// copies of the arguments: a borrowed argument `&T` is copied with
/// `ToOwned` (`&str` becomes a `String`), and a `&self` method's receiver
/// with `Clone`; the arguments must be `Send + 'static` once owned.
///
/// # Return types
///
/// - `Result<T, E>` (any type whose last path segment is `Result`, or the
///   `result` option): only `Ok(T)` is stored; an `Err` is returned and the
///   next call runs the body again.
/// - `Option<T>` (or `option`): `None` is not stored unless `cache_none`.
/// - `Json<T>` and `Html<T>` (axum's response wrappers, or any one-field
///   tuple struct of that name), alone or as the `T` of a `Result` or
///   `Option`: the `T` is stored, and put back in its wrapper on a hit.
/// - Anything else is stored as is.
///
/// An HTTP response is not a value to store: `impl IntoResponse` is a
/// compile error, and so is axum's `Response` (a type named `Response`
/// that can be stored, an API's reply say, is stored as any other). Memoize
/// the function that computes the data and build the response in the
/// handler, or cache whole responses with the HTTP layer
/// `cache_core::http::CacheLayer` (feature `tower`).
///
/// The stored type must be `Serialize + DeserializeOwned + Clone + Send +
/// Sync + 'static`; the key arguments must be `Serialize` (a compile error
/// points at any that is not). `&mut` arguments and `&mut self` are
/// rejected: a cache hit skips the body and whatever it would change (a
/// function pointer or closure whose own parameters are `&mut`, such as
/// `fn(&mut Vec<u8>)` or `&dyn Fn(&mut String)`, lends nothing mutable and
/// is accepted).
/// `impl Trait` arguments must be `ignore`d.
///
/// # Keys
///
/// `<prefix><owner>::<name>:<version>:<args>`, where `<args>` is a stable
/// encoding of the key arguments (and of the type names of the function's
/// type parameters, so each instantiation of a generic function has its own
/// entries). The owner is `module_path!()` for a free function and
/// `std::any::type_name::<Self>()` for a function in an `impl` block. A
/// function counts as being in an `impl` block when it has a `self`
/// receiver, mentions `Self` in its signature, its body or an option such
/// as `cache = Self::CACHE` (a nested item's `Self` is that item's own and
/// does not count), or is given the `method`
/// option: an associated function that does none of these needs `method`
/// (without it, the generated code calls `name_uncached` as a free
/// function, and the compiler says it cannot find it).
///
/// With `&self`, the receiver is part of the key: `Self` must be
/// `Serialize`, or write `ignore(self)` to key the entries by the other
/// arguments only.
///
/// ## Arguments written as patterns
///
/// An argument written as a pattern is keyed by the names it binds, in
/// order, as if each were an argument: `Path(id): Path<u64>` by `id`,
/// `Path((a, b)): Path<(u64, String)>` by `a` then `b`, `(w, h): (u32,
/// u32)` by `w` then `h`. A `_` binds nothing and is left out of the key
/// (it cannot change the result); `ignore(…)`, `cache`, `key` and
/// `unless` name the bound names. So axum's extractors work as they are
/// written: only the `T` they wrap needs `Serialize`.
///
/// `name_invalidate` takes each bound name as a parameter, with its type,
/// which the macro reads from the argument's type: from a name, a tuple
/// pattern over a tuple type, and a one-field wrapper over a type of the
/// same name with one type argument, `Wrapper(p): Wrapper<T>` (`p` is a
/// `T`, as with axum's `Path`, `Query`, `State`, `Json`, `Form` and
/// `Extension`; a compile error says so if the wrapper holds something
/// else). A name whose type the syntax does not give (in a struct pattern,
/// say) must be left out of the key; otherwise the error, on the name, says
/// to bind the argument to a name instead (`Query(params): Query<Params>`).
///
/// `f` borrows the bound names before the arguments move into the body:
/// in `cache`, `key` and `unless`, a name bound by a pattern is a
/// reference (`unless = *id == 0`), and a plain argument is itself.
///
/// ## A cache from an argument
///
/// `cache = <expr>` is evaluated at each call, before the body runs, and
/// may read the arguments: a cache held by the application's state, as
/// axum hands it to a handler, needs no global.
///
/// ```
/// use cache_core::{memoize, Cache};
/// # mod axum { pub mod extract {
/// #     pub struct Path<T>(pub T);
/// #     pub struct State<T>(pub T);
/// # } }
/// use axum::extract::{Path, State};
/// # #[derive(Clone, serde::Serialize, serde::Deserialize)]
/// # pub struct Profile { name: String }
///
/// #[derive(Clone)]
/// pub struct AppState {
///     cache: Cache,
///     // a database pool, say
/// }
///
/// // The body reads `state` too, so `ignore(state)` leaves it out of the
/// // key (`AppState` is not `Serialize`): one entry per `id`.
/// #[memoize(cache = state.cache, ignore(state), timeout = 120)]
/// async fn get_user(State(state): State<AppState>, Path(id): Path<u64>) -> Profile {
///     let _db = &state; // state.db.load(id).await, say
///     Profile { name: format!("user {id}") }
/// }
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> cache_core::Result<()> {
/// let state = AppState { cache: Cache::builder().key_prefix("app:").build()? };
/// // `Router::new().route("/user/{id}", get(get_user)).with_state(state)`
/// get_user(State(state.clone()), Path(5)).await; // runs the body
/// get_user(State(state.clone()), Path(5)).await; // from `state.cache`
/// assert!(get_user_invalidate(&state, 5).await?);
/// assert_eq!(get_user_invalidate_all(&state).await?, 0);
/// # Ok(())
/// # }
/// ```
///
/// An argument that `cache` reads and the body does not (as far as the
/// syntax shows) only selects the cache, and is left out of the key
/// without `ignore`; one the body reads too is part of the key unless
/// `ignore`d. When the cache comes from an argument that moves into the
/// body, `f` clones the `Cache` handle first (a reference count).
///
/// The generated helpers need the same cache: besides their usual
/// parameters, they take the arguments `cache` reads, by reference (`&T`
/// for an argument or a name of type `T`), in the function's order, as
/// `get_user_invalidate(&state, 5)` and `get_user_invalidate_all(&state)`
/// above.
///
/// ## Key templates
///
/// With `key = "user:{user_id}"`, `<args>` is the template rendered with
/// the arguments it names: `…::get_user:1:user:5`. The template's text is
/// written as is; each value is written with `Display` and escaped: ASCII
/// letters, digits, `-`, `.`, `_` and `~` stay as they are, and every other
/// byte becomes `%XX` (`"1:2"` is written `1%3A2`, `"a b"` is `a%20b`), so
/// distinct values never share a key. Two rules on the template's text,
/// checked at compile time, let every key be read back into its values:
///
/// - each placeholder has a *separator* on both sides (any character but
///   an ASCII letter, digit, `-`, `.`, `_` or `~`; or the start or end of
///   the template): `user:{id}`, `{a}/{b}`, `lang={lang}`, not `{a}{b}`,
///   `user-{id}` or `v{n}`;
/// - the text holds no `%`, the escape character.
///
/// So two templates of one function (before and after a change, say) give
/// one key only where the keys read the same, piece by piece between the
/// separators: `user:{id}` and `user:{name}` both give `user:5`. Bump
/// `version` when a new template gives old keys a new meaning. `{{` and
/// `}}` are literal braces. A generic function's template key ends with
/// its type parameters, escaped the same way: `user:5<u8>`.
///
/// A placeholder may read a field of an argument, `{user.id}`, `{pair.0}`
/// (or of `self`, in a method: `{self.tenant}`), and take a format spec
/// after `:`, as `format!` does: `{id:04}` (`0005`), `{mask:x}`,
/// `{name:?}`, `{n:+}`. Only specs that write the whole value are
/// accepted, so distinct values still give distinct keys: a precision
/// (`{x:.2}` writes 1.001 and 1.004 alike), a fill character other than a
/// space (`{n:0<4}` writes 5 as 5000 is written), a width taken from an
/// argument and `{p:p}` (an address) are compile errors, and a width is
/// accepted on numbers only (padded, `"a"` and `"a   "` would meet).
/// `name_invalidate` takes the arguments the placeholders read (all of
/// `user` for `{user.id}`).
///
/// ## Key closures
///
/// For a key that is neither the arguments nor a template (a case-folded
/// search term, one field of a query), give a closure whose parameters
/// name the arguments it reads. It receives each by reference (annotated
/// or not) and returns any `Serialize` value, which is encoded as key
/// arguments are, after the function's own prefix: the keys of two
/// functions never meet, whatever their closures return.
///
/// ```
/// use cache_core::memoize;
///
/// #[derive(serde::Serialize, serde::Deserialize, Clone)]
/// pub struct Search { term: String, page: u32, trace_id: u64 }
///
/// #[memoize(key = |q: &Search| (q.term.to_lowercase(), q.page))]
/// fn search(q: Search) -> Vec<String> {
///     vec![format!("{} p{}", q.term.to_lowercase(), q.page)]
/// }
///
/// # fn main() -> cache_core::Result<()> {
/// let q = |term: &str, trace_id| Search { term: term.into(), page: 1, trace_id };
/// search(q("Rust", 1)); // runs the body
/// search(q("rust", 2)); // the same entry
/// assert!(search_invalidate(q("RUST", 3))?);
/// # Ok(())
/// # }
/// ```
///
/// `name_invalidate` takes exactly the closure's parameters (a closure
/// that reads another argument is an error, which says which). The
/// closure is not called: its parameters and body are inlined, so a
/// function path (`key = make_key`) is refused; write `key = |a, b|
/// make_key(a, b)`.
///
/// # Generated functions
///
/// Next to `fn name(args…) -> R`, with the same visibility and generics
/// (async when `name` is async; for methods, in the same `impl` block and
/// taking `&self`, or the same receiver for `_refresh` and `_uncached`):
///
/// | function | what it does |
/// |---|---|
/// | `name_invalidate(key args…) -> cache_core::Result<bool>` | removes the entry of these arguments only; `true` if there was one |
/// | `name_invalidate_all() -> cache_core::Result<u64>` | removes every entry of `name` (all argument lists, written by any process sharing the store) |
/// | `name_stats() -> cache_core::Stats` | the function's statistics in its cache: hits, misses, coalesced waits, stale values served, errors, computation time (always a plain `fn`; takes what `cache = …` reads, as `_invalidate_all`) |
/// | `name_refresh(args…) -> R` | runs the body and stores its result, replacing the entry |
/// | `name_uncached(args…) -> R` | runs the body without touching the cache |
///
/// The key arguments of `name_invalidate` are the arguments in the key,
/// in order (names bound by patterns each on their own, see "Arguments
/// written as patterns"), or those a template or key closure reads. When
/// `cache = …` reads arguments, both helpers also take those, by
/// reference, in the function's order (see "A cache from an argument").
///
/// Generated code names everything through `::cache_core::__private`: it
/// needs the `cache_core` crate under that name, unless the `crate` option
/// names another path to it.
///
/// # From a crate that re-exports cache-core
///
/// A framework can offer the macros to crates that do not depend on
/// cache-core by re-exporting it, hidden `__private` module included
/// (`pub use cache_core::*;` in a module does, and so does
/// `pub use cache_core as cache;`); its users give that path as `crate`,
/// as serde's `#[serde(crate = "…")]` and tokio's
/// `#[tokio::main(crate = "…")]` do:
///
/// ```
/// // The framework's crate:
/// pub mod framework {
///     pub mod cache {
///         pub use cache_core::*;
///     }
/// }
///
/// // Its users, who need no `cache_core` dependency:
/// use framework::cache::memoize;
///
/// #[memoize(crate = framework::cache, timeout = 60)]
/// fn square(x: u64) -> u64 {
///     x * x
/// }
///
/// # fn main() {
/// assert_eq!(square(3), 9);
/// # }
/// ```
///
/// The path is resolved where the function is, so a function in a
/// submodule writes `crate = crate::framework::cache` or
/// `crate = ::framework::cache`. A path without `__private` is one error,
/// on the path.
///
/// # Behaviour
///
/// Concurrent callers that miss the same key in one process wait for one
/// computation and share its result. If the cache fails (Redis down, a
/// timeout), the function still runs and returns its value; the error is
/// logged through `tracing` and counted in `Cache::stats`.
///
/// # Not supported
///
/// `const fn`, `unsafe fn`, `extern` functions and functions in trait
/// definitions or trait impls (the helpers cannot be added to a trait
/// impl): memoize an inherent function and call it from there.
#[proc_macro_attribute]
pub fn memoize(args: TokenStream, item: TokenStream) -> TokenStream {
    expand::expand(Kind::Memoize, args.into(), item.into()).into()
}

/// Caches a function's result as one entry (as Flask-Caching's
/// `@cache.cached`), or one entry per rendered `key`.
///
/// ```
/// use cache_core::cached;
/// # pub struct Db;
///
/// #[cached(timeout = 60)]
/// async fn index() -> String {
///     "<h1>Home</h1>".to_string() // an expensive render, say
/// }
///
/// #[cached(timeout = 60, ignore(db))] // one entry, whatever `db`
/// fn settings(db: &Db) -> String {
///     "dark mode".to_string() // a slow read from `db`, say
/// }
///
/// #[cached(timeout = 60, key = "page:{slug}")]
/// fn page(slug: &str) -> String {
///     format!("<h1>{slug}</h1>")
/// }
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> cache_core::Result<()> {
/// assert_eq!(index().await, "<h1>Home</h1>");
/// assert_eq!(settings(&Db), "dark mode");
/// assert_eq!(page("about"), "<h1>about</h1>"); // stored under "…page:about"
/// page_invalidate("about")?;
/// index_invalidate().await?;
/// # Ok(())
/// # }
/// ```
///
/// One entry serves every call, so the arguments must not change the
/// result: a function with arguments needs either a `key` (a template or
/// a closure) or every argument listed in `ignore(…)` (ignored arguments
/// need not be `Serialize`); anything else is a compile error that points
/// at the arguments, because the first call's result would be returned for
/// every other argument list. For one entry per argument list, use
/// [`macro@memoize`]. A `_` argument needs no listing, nor does an
/// argument only `cache = …` reads (it selects the cache: one entry per
/// cache).
///
/// A `self` receiver is an argument like the others: `ignore(self)` says
/// that one entry serves every value of `Self` (with `cache = self.cache`,
/// one entry per cache). For an entry per receiver, use `#[memoize]`, which
/// keys on `self` (`Self: Serialize`).
///
/// With `key = "…{arg}…"` the key is the template rendered with the named
/// arguments (escaped as described in [`macro@memoize`], "Key templates"),
/// and `name_invalidate` takes exactly those arguments; with `key = |a|
/// …`, the closure's value ("Key closures"), and `name_invalidate` takes
/// its parameters. The key alone decides what is in it, so `ignore` does
/// not go with it.
///
/// Everything else (options, return types, generated functions, keys,
/// behaviour) is as for [`macro@memoize`].
#[proc_macro_attribute]
pub fn cached(args: TokenStream, item: TokenStream) -> TokenStream {
    expand::expand(Kind::Cached, args.into(), item.into()).into()
}
