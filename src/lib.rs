//! Shared support code for the workspace examples, tests and benchmarks.
