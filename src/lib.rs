//! Shared support code for the workspace examples, tests and benchmarks.
//!
//! - [`redis_server`]: starts and stops throwaway `redis-server` processes
//!   for integration tests. Every test that needs Redis gets its own server
//!   from here; no test repeats that code, and none touches a server it
//!   did not start.
//! - [`redis_cluster`]: a three-primary Redis Cluster built from those
//!   servers, shared by the tests of one test binary.
//! - [`redis_sentinel`]: a master, a replica and three sentinels, one
//!   deployment per test.
//! - [`shared_fns`]: memoized functions that tests and examples call from
//!   several processes, so that they share cache keys, and the scenarios
//!   that the memory and the Redis tests both run on their own store.
//! - [`late_cache`]: a `static` cache that a test sets once it has started
//!   its server, for memoized free functions (`cache = NAME`).
//! - [`down_backend`]: a store whose every call fails, for fail-open tests.
//! - [`keys`]: memoized calls' full keys, for tests that look at the store.
//! - [`look_alike`]: types whose encodings line up, for the shape rule.
//! - [`examples`]: builds an example from a test, to run it as a process.
//! - [`paired`]: interleaved comparisons for the benches, robust to a
//!   machine whose speed drifts.
//! - [`blocking_harness`]: a deadline that turns a hang into a failure, and
//!   the runtimes that tests of blocking calls block in.
//! - [`fs_store`]: a file-system store written against the public
//!   `Backend` trait, as a framework author would: used by
//!   `examples/custom_backend.rs`, checked by `tests/custom_backend.rs`.

pub mod blocking_harness;
pub mod down_backend;
pub mod examples;
pub mod fs_store;
pub mod keys;
pub mod late_cache;
pub mod look_alike;
pub mod paired;
pub mod redis_cluster;
pub mod redis_sentinel;
pub mod redis_server;
pub mod shared_fns;
