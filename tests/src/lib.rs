//! The test support of the workspace, by audience: the Redis harness for
//! integration tests, and the tools of the benchmarks.
//!
//! - [`redis_server`]: starts and stops throwaway `redis-server` processes
//!   for integration tests. Every test that needs Redis gets its own server
//!   from here; no test repeats that code, and none touches a server it
//!   did not start.
//! - [`redis_cluster`]: a three-primary Redis Cluster built from those
//!   servers, shared by the tests of one test binary.
//! - [`redis_sentinel`]: a master, a replica and three sentinels, one
//!   deployment per test.
//! - [`keys`]: memoized calls' full keys, for tests that look at the store.
//! - [`look_alike`]: types whose encodings line up, for the shape rule.
//! - [`examples`]: builds an example of `cache-examples` from a test, to
//!   run it as a process.
//! - [`blocking_harness`]: a deadline that turns a hang into a failure, and
//!   the runtimes that tests of blocking calls block in.
//! - [`paired`]: interleaved comparisons for the benches, robust to a
//!   machine whose speed drifts.
//!
//! The stores and memoized functions the examples share with the tests are
//! in `cache-examples`; a store that is down is `cache_core::testing::DownBackend`.

pub mod blocking_harness;
pub mod examples;
pub mod keys;
pub mod look_alike;
pub mod paired;
pub mod redis_cluster;
pub mod redis_sentinel;
pub mod redis_server;
pub mod zipf;
