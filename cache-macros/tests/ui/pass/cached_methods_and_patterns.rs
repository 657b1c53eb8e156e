//! `#[cached]` on methods; argument patterns, `mut` arguments, and names
//! that collide with the expansion's own locals.
#![deny(warnings, missing_docs)]

use std::sync::LazyLock;

use cache_core::{cached, memoize, Cache};

static CACHE: LazyLock<Cache> =
    LazyLock::new(|| Cache::builder().key_prefix("pat:").build().unwrap());

/// A service.
pub struct Site {
    name: String,
}

impl Site {
    /// One entry shared by every `Site`: `ignore(self)` says so.
    #[cached(cache = CACHE, ignore(self))]
    pub fn banner(&self) -> String {
        format!("welcome to {}", self.name)
    }

    /// A template naming an argument of a method.
    #[cached(cache = CACHE, key = "site:{section}")]
    pub async fn section(&self, section: u32) -> String {
        format!("{} / {section}", self.name)
    }
}

/// A `_` argument cannot change the result: `#[cached]` needs no `ignore`.
#[cached(cache = CACHE)]
pub fn motd(_: u8) -> String {
    "hello".to_owned()
}

/// Patterns and `mut` bindings: the key is `w`, `h` and `scale` (a `_`
/// argument cannot change the result).
#[memoize(cache = CACHE)]
pub fn area((w, h): (u32, u32), mut scale: u32, _: u8) -> u32 {
    scale += 1;
    w * h * scale
}

/// Arguments named like the expansion's locals.
#[memoize(cache = CACHE)]
pub fn shadow(
    cache: u32,
    memo: u32,
    lookup: u32,
    call: u32,
    result: u32,
    value: u32,
    full: u32,
) -> u32 {
    cache + memo + lookup + call + result + value + full
}

/// Deprecated functions stay deprecated; their helpers do not warn.
#[deprecated = "use `area`"]
#[memoize(cache = CACHE)]
pub fn old_area(w: u32) -> u32 {
    w
}

/// Lint expectations about the body still hold.
#[expect(clippy::needless_return)]
#[memoize(cache = CACHE)]
pub fn explicit_return(x: u32) -> u32 {
    return x;
}

#[tokio::main]
async fn main() {
    let a = Site { name: "a".into() };
    let b = Site { name: "b".into() };
    assert_eq!(a.banner(), "welcome to a");
    assert_eq!(b.banner(), "welcome to a");
    assert!(b.banner_invalidate().unwrap());
    assert_eq!(b.banner(), "welcome to b");
    assert_eq!(a.section(1).await, "a / 1");
    assert_eq!(b.section(1).await, "a / 1");
    assert!(b.section_invalidate(1).await.unwrap());
    assert_eq!(b.section(1).await, "b / 1");
    assert_eq!(b.section_invalidate_all().await.unwrap(), 1);

    assert_eq!(motd(1), "hello");
    assert!(motd_invalidate().unwrap());
    assert_eq!(area((2, 3), 1, 0), 12);
    assert!(area_invalidate(2, 3, 1).unwrap());
    assert_eq!(shadow(1, 1, 1, 1, 1, 1, 1), 7);
    #[allow(deprecated)]
    let old = old_area(2);
    assert_eq!(old, 2);
    assert_eq!(explicit_return(3), 3);
}
