//! What the examples share with the tests of the workspace.
//!
//! - [`fs_store`]: a file-system store written against the public
//!   `Backend` trait, as a framework author would: used by
//!   `examples/custom_backend.rs`, checked by the tests.
//! - [`shared_fns`]: memoized functions that tests and examples call from
//!   several processes, so that they share cache keys, and the scenarios
//!   that the memory and the Redis tests both run on their own store.
//! - [`late_cache`]: a `static` cache that is set once its store is known,
//!   for memoized free functions (`cache = NAME`).

pub mod fs_store;
pub mod late_cache;
pub mod shared_fns;
