//! Shared support code for the workspace examples, tests and benchmarks.
//!
//! - [`redis_server`]: starts and stops throwaway `redis-server` processes
//!   for integration tests. Every test that needs Redis gets its own server
//!   from here; no test repeats that code, and none touches a server it
//!   did not start.

pub mod redis_server;
