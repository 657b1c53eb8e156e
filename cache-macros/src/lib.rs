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
mod expand;
mod fallback;
mod helpers;
mod tags;
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
/// | `cache = expr` | the cache to use: an expression of type `Cache`, `&Cache`, `LazyLock<Cache>`…, evaluated at each call (it may use `self`, not the other arguments); default `cache_core::global()` |
/// | `ignore(a, self)` | arguments left out of the key (they need not be `Serialize`); on `#[cached]`, arguments declared not to change the result |
/// | `key = "user:{user_id}"` | a readable key: the template rendered with the named arguments' `Display`, each value escaped (see "Key templates"), instead of the encoded arguments |
/// | `unless = expr` | a `bool` expression over the arguments (and `self`), evaluated before the lookup: when `true`, the body runs without the cache, no read and no write (Flask-Caching's `unless`); `name_refresh` skips the cache too. A closure is a compile error: see `store_if` |
/// | `store_if = f` | a closure or function taking `&V`, the value that would be stored (the `Ok` / `Some` value): the value is stored only when it returns `true`, and returned either way (Flask-Caching's `response_filter`) |
/// | `version = 2` | part of the key (default 1): bump it when the function's result changes meaning, to leave old entries behind |
/// | `result` | the return type is a `Result` under another name: store `Ok` only |
/// | `option` | the return type is an `Option` under another name: do not store `None` |
/// | `cache_none` | with an `Option` return type, store `None` too |
/// | `method` | the function is an associated function in an `impl` block (see "Keys") |
/// | `tags = ["user:{user_id}", "all"]` | tags every entry carries, rendered from the named arguments as `key` templates are (any argument, keyed or not); `cache.invalidate_tag("user:5")` then removes every entry tagged `user:5`, whichever function or process wrote it (see `cache_core::tags`) |
/// | `crate = path` | where the generated code finds cache-core (default `::cache_core`): the path of a crate or module that re-exports it, such as `crate = my_framework::cache`; `crate = "path"` also works (see "From a crate that re-exports cache-core") |
///
/// # Return types
///
/// - `Result<T, E>` (any type whose last path segment is `Result`, or the
///   `result` option): only `Ok(T)` is stored; an `Err` is returned and the
///   next call runs the body again.
/// - `Option<T>` (or `option`): `None` is not stored unless `cache_none`.
/// - Anything else is stored as is.
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
/// | `name_refresh(args…) -> R` | runs the body and stores its result, replacing the entry |
/// | `name_uncached(args…) -> R` | runs the body without touching the cache |
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
/// result: a function with arguments needs either `key = "…{arg}…"` or
/// every argument listed in `ignore(…)` (ignored arguments need not be
/// `Serialize`); anything else is a compile error that points at the
/// arguments, because the first call's result would be returned for every
/// other argument list. For one entry per argument list, use
/// [`macro@memoize`]. A `_` argument needs no listing.
///
/// A `self` receiver is an argument like the others: `ignore(self)` says
/// that one entry serves every value of `Self` (with `cache = self.cache`,
/// one entry per cache). For an entry per receiver, use `#[memoize]`, which
/// keys on `self` (`Self: Serialize`).
///
/// With `key = "…{arg}…"` the key is the template rendered with the named
/// arguments (escaped as described in [`macro@memoize`], "Key templates"),
/// and `name_invalidate` takes exactly those arguments. The template alone
/// decides what is in the key, so `ignore` does not go with it.
///
/// Everything else (options, return types, generated functions, keys,
/// behaviour) is as for [`macro@memoize`].
#[proc_macro_attribute]
pub fn cached(args: TokenStream, item: TokenStream) -> TokenStream {
    expand::expand(Kind::Cached, args.into(), item.into()).into()
}
