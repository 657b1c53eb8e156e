//! Every option of `#[memoize]` and `#[cached]`, together and apart.
#![deny(warnings, missing_docs)]

use std::sync::LazyLock;

use cache_core::{cached, memoize, Cache};

static CACHE: LazyLock<Cache> =
    LazyLock::new(|| Cache::builder().key_prefix("opts:").build().unwrap());
const TTL: u64 = 60;

fn not_empty(s: &String) -> bool {
    !s.is_empty()
}

/// Everything at once.
#[memoize(timeout = 120, cache = CACHE, ignore(trace), unless = page == 0, store_if = |v: &String| !v.is_empty(), version = 3)]
pub fn render(page: u32, trace: &dyn Fn(&str)) -> String {
    trace("render");
    format!("page {page}")
}

/// A constant timeout, a function path for `store_if`.
#[memoize(timeout = TTL, store_if = not_empty)]
pub fn label(x: u8) -> String {
    x.to_string()
}

/// Never expires.
#[memoize(timeout = 0, cache = &*CACHE)]
pub fn forever(x: u8) -> u8 {
    x
}

/// A readable key for `#[memoize]`.
#[memoize(cache = CACHE, key = "user:{id}:{lang}")]
pub fn greeting(id: u64, lang: &str, style: &dyn std::fmt::Debug) -> String {
    format!("{id} {lang} {style:?}")
}

/// One entry for the whole function: its argument cannot change the result.
#[cached(timeout = 60, cache = CACHE, version = 2, ignore(request_id))]
pub async fn index(request_id: u64) -> String {
    format!("home {request_id}")
}

/// One entry per rendered key; `{{` is a literal brace. `store_if` needs
/// no type annotation; `unless` may use any argument.
#[cached(cache = CACHE, key = "page:{{{slug}}}", store_if = |s| s.len() <= 100, unless = slug.starts_with('_'))]
pub fn page(slug: &str, _request: std::time::Instant) -> String {
    format!("<h1>{slug}</h1>")
}

/// `#[cached]` on an `Option` with `cache_none`.
#[cached(cache = CACHE, cache_none)]
pub fn config() -> Option<String> {
    None
}

/// Where memoized functions' keys start in `CACHE`.
fn memoized() -> String {
    cache_core::key::Namespace::new(CACHE.key_prefix()).memoized().to_owned()
}

#[tokio::main]
async fn main() {
    assert_eq!(render(1, &|_| {}), "page 1");
    assert!(render_invalidate(1).unwrap());
    assert_eq!(render(0, &|_| {}), "page 0");
    assert!(!render_invalidate(0).unwrap(), "`unless` bypassed the cache");
    assert_eq!(label(1), "1");
    assert_eq!(forever(1), 1);
    assert_eq!(greeting(5, "en", &()), "5 en ()");
    assert_eq!(greeting(5, "en", &1), "5 en ()");
    let key = format!("{}{}::greeting:1:user:5:en", memoized(), module_path!());
    assert!(CACHE.backend().contains(&key).await.unwrap());
    assert!(greeting_invalidate(5, "en").unwrap());

    assert_eq!(index(1).await, "home 1");
    assert_eq!(index(2).await, "home 1");
    assert!(index_invalidate().await.unwrap());
    assert_eq!(index(2).await, "home 2");
    assert_eq!(page("a", std::time::Instant::now()), "<h1>a</h1>");
    let key = format!("{}{}::page:1:page:{{a}}", memoized(), module_path!());
    assert!(CACHE.backend().contains(&key).await.unwrap());
    assert!(page_invalidate("a").unwrap());
    assert_eq!(page("_a", std::time::Instant::now()), "<h1>_a</h1>");
    assert!(!page_invalidate("_a").unwrap());
    assert_eq!(config(), None);
    assert!(config_invalidate().unwrap());
}
