//! An attribute with an error still emits the function and stubs of its
//! helpers, with their signatures: the only errors are the attributes'.
use std::fmt::Display;

use cache_core::memoize;

struct Repo {
    prefix: String,
}

impl Repo {
    #[memoize(timout = 60)]
    async fn find<'a, T: Display + serde::Serialize>(&self, id: T, name: &'a str) -> String {
        format!("{}{id}{name}", self.prefix)
    }

    #[memoize(key = "{missing}")]
    fn by_key(&self, id: u64) -> Result<u64, String> {
        Ok(id)
    }
}

#[memoize(ignore(nothing))]
fn pattern((a, b): (u8, u8), _label: &str) -> u8 {
    a + b
}

#[tokio::main]
async fn main() {
    let repo = Repo { prefix: "r".into() };
    let _: String = repo.find(1u8, "a").await;
    let _: cache_core::Result<bool> = repo.find_invalidate(1u8, "a").await;
    let _: cache_core::Result<u64> = repo.find_invalidate_all().await;
    let _: String = repo.find_refresh(1u8, "a").await;
    let _: String = repo.find_uncached(1u8, "a").await;
    let _: Result<u64, String> = repo.by_key(1);
    let _: cache_core::Result<bool> = repo.by_key_invalidate();
    let _: Result<u64, String> = repo.by_key_refresh(1);
    let _: u8 = pattern((1, 2), "x");
    let _: cache_core::Result<bool> = pattern_invalidate(1, 2, "x");
    let _: u8 = pattern_uncached((1, 2), "x");
}
