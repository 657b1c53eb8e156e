//! The `tags` option: templates over any named argument (keyed or not,
//! `Serialize` or not), on `#[memoize]` and `#[cached]`, sync and async,
//! generic functions and methods; entries carry the rendered tags.
#![deny(warnings, missing_docs)]

use std::fmt;
use std::sync::LazyLock;

use cache_core::{cached, memoize, Cache};

static CACHE: LazyLock<Cache> =
    LazyLock::new(|| Cache::builder().key_prefix("tags:").build().unwrap());

/// Displayed in a tag, never in a key.
pub struct Region(&'static str);

impl fmt::Display for Region {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0)
    }
}

/// Tags over a keyed argument and an ignored one.
#[memoize(cache = CACHE, ignore(region), tags = ["user:{user}", "region:{region}", "all"])]
pub async fn profile(user: u64, region: &Region) -> String {
    format!("{user} in {region}")
}

/// A sync generic function; the tag does not name the type parameter.
#[memoize(cache = CACHE, tags = ["item:{id}"])]
pub fn describe<T: Default + fmt::Debug>(id: u32) -> String {
    format!("{id}: {:?}", T::default())
}

/// `#[cached]` with a key and the same argument in a tag; `_`-prefixed
/// arguments may be named.
#[cached(cache = CACHE, key = "page:{slug}", tags = ["page:{slug}", "seen:{_seen}"])]
pub fn page(slug: &str, _seen: u8) -> String {
    format!("<h1>{slug}</h1>")
}

/// No tags at all.
#[memoize(cache = CACHE, tags = [])]
pub fn untagged(x: u8) -> u8 {
    x
}

/// A method.
pub struct Service;

impl Service {
    /// Tags on a method.
    #[memoize(cache = CACHE, ignore(self), tags = ["svc:{x}"])]
    pub fn compute(&self, x: u8) -> u8 {
        x + 1
    }
}

#[tokio::main]
async fn main() {
    profile(5, &Region("eu west")).await;
    profile(6, &Region("us")).await;
    assert_eq!(describe::<u8>(1), "1: 0");
    assert_eq!(describe::<String>(1), "1: \"\"");
    page("home", 3);
    untagged(1);
    Service.compute(1);
    assert_eq!(CACHE.invalidate_tag("region:eu%20west").await.unwrap(), 1);
    assert_eq!(CACHE.invalidate_tag("all").await.unwrap(), 1);
    assert_eq!(CACHE.invalidate_tag("item:1").await.unwrap(), 2);
    assert_eq!(CACHE.invalidate_tag("seen:3").await.unwrap(), 1);
    assert_eq!(CACHE.invalidate_tag("svc:1").await.unwrap(), 1);
    assert_eq!(CACHE.invalidate_tag("user:5").await.unwrap(), 0);
    // `_refresh` stores under the tags too.
    profile_refresh(7, &Region("eu")).await;
    assert_eq!(CACHE.invalidate_tag("user:7").await.unwrap(), 1);
}
