//! Methods: `&self` in the key (Self: Serialize), `ignore(self)` with the
//! cache held by `self`, by-value and `Arc<Self>` receivers, associated
//! functions, and a generic impl.
#![deny(warnings, missing_docs)]

use std::sync::Arc;

use cache_core::{memoize, Cache};
use serde::Serialize;

/// Keyed by its own value.
#[derive(Serialize, Clone)]
pub struct Point {
    x: i64,
    y: i64,
}

impl Point {
    /// `self` is part of the key.
    #[memoize]
    pub fn norm1(&self) -> i64 {
        self.x.abs() + self.y.abs()
    }

    /// By value, still part of the key.
    #[memoize]
    pub fn into_sum(self, scale: i64) -> i64 {
        (self.x + self.y) * scale
    }

    /// An associated function that names `Self` in its signature.
    #[memoize]
    pub fn origin_norm(p: Self) -> i64 {
        p.norm1()
    }

    /// An associated function whose body names `Self`.
    #[memoize]
    pub fn sum_of(x: i64, y: i64) -> i64 {
        Self { x, y }.into_sum(1)
    }

    /// An associated function that names neither: `method` says it is one.
    #[memoize(method)]
    pub fn twice(x: i64) -> i64 {
        2 * x
    }
}

/// Holds its cache; not `Serialize`.
pub struct Repo {
    cache: Cache,
    calls: std::sync::atomic::AtomicU32,
}

impl Repo {
    /// The receiver is left out of the key; the cache comes from `self`.
    #[memoize(ignore(self), cache = self.cache, timeout = 30)]
    pub async fn name(&self, id: u64) -> String {
        self.calls.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        format!("user {id}")
    }

    /// An `Arc<Self>` receiver.
    #[memoize(ignore(self), cache = self.cache)]
    pub fn shared(self: Arc<Self>, id: u64) -> u64 {
        id + 1
    }
}

/// A generic impl: each `Wrapper<T>` has its own entries.
#[derive(Serialize)]
pub struct Wrapper<T>(T);

impl<T: Serialize + Clone + Send + Sync + 'static> Wrapper<T> {
    /// Generic receiver type.
    #[memoize]
    pub fn get(&self) -> String {
        std::any::type_name::<T>().to_string()
    }
}

#[tokio::main]
async fn main() {
    let p = Point { x: 3, y: -4 };
    assert_eq!(p.norm1(), 7);
    assert!(p.norm1_invalidate().unwrap());
    assert_eq!(p.norm1_refresh(), 7);
    assert_eq!(p.norm1_uncached(), 7);
    assert!(p.norm1_invalidate_all().unwrap() >= 1);
    assert_eq!(p.clone().into_sum(2), -2);
    assert!(p.into_sum_invalidate(2).unwrap());
    assert_eq!(Point::origin_norm(Point { x: 1, y: 1 }), 2);
    assert_eq!(Point::sum_of(1, 2), 3);
    assert_eq!(Point::twice(4), 8);
    assert!(Point::twice_invalidate(4).unwrap());

    let repo = Repo {
        cache: Cache::builder().key_prefix("repo:").build().unwrap(),
        calls: 0.into(),
    };
    assert_eq!(repo.name(1).await, "user 1");
    assert_eq!(repo.name(1).await, "user 1");
    assert_eq!(repo.calls.load(std::sync::atomic::Ordering::SeqCst), 1);
    assert_eq!(repo.name_stats().hits, 1);
    assert!(repo.name_invalidate(1).await.unwrap());
    assert_eq!(repo.name_refresh(1).await, "user 1");
    assert_eq!(repo.name_invalidate_all().await.unwrap(), 1);
    assert_eq!(repo.cache.stats().sets, 2);

    let repo = Arc::new(repo);
    assert_eq!(repo.clone().shared(1), 2);
    assert!(repo.shared_invalidate(1).unwrap());

    assert_eq!(Wrapper(1u8).get(), "u8");
    assert_eq!(
        Wrapper("x".to_string()).get(),
        std::any::type_name::<String>()
    );
}
