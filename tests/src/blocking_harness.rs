//! Support for tests of blocking calls: a deadline that turns a deadlock or
//! a stall into a test failure instead of a hung test binary, and the
//! runtimes such tests block in.
//!
//! ```
//! use std::time::Duration;
//! use cache_tests::blocking_harness::{current_thread_runtime, within_deadline};
//!
//! let answer = within_deadline(Duration::from_secs(20), || {
//!     current_thread_runtime().block_on(async { 42 })
//! });
//! assert_eq!(answer, 42);
//! ```

use std::sync::mpsc;
use std::time::Duration;

/// Runs `body` on its own thread and returns what it returns; panics if it
/// takes longer than `limit` (the thread is left behind), and passes a
/// panic of `body` on as is.
///
/// # Panics
///
/// When `body` panics, or does not return within `limit`.
///
/// ```
/// use std::time::Duration;
/// let n = cache_tests::blocking_harness::within_deadline(Duration::from_secs(5), || 1 + 1);
/// assert_eq!(n, 2);
/// ```
pub fn within_deadline<T: Send + 'static>(
    limit: Duration,
    body: impl FnOnce() -> T + Send + 'static,
) -> T {
    let (done, finished) = mpsc::channel();
    let worker = std::thread::spawn(move || {
        let _ = done.send(body());
    });
    match finished.recv_timeout(limit) {
        Ok(value) => {
            worker
                .join()
                .expect("the body returned, so its thread ends");
            value
        }
        // The body panicked (its sender was dropped unsent): report its panic.
        Err(mpsc::RecvTimeoutError::Disconnected) => {
            std::panic::resume_unwind(worker.join().expect_err("the body panicked"))
        }
        Err(mpsc::RecvTimeoutError::Timeout) => {
            panic!("deadlock or stall: the blocking calls did not return within {limit:?}")
        }
    }
}

/// A current-thread runtime with I/O and timers, as `#[tokio::test]` and
/// `#[tokio::main(flavor = "current_thread")]` build.
///
/// # Panics
///
/// If the runtime cannot be built (out of file descriptors).
///
/// ```
/// let rt = cache_tests::blocking_harness::current_thread_runtime();
/// assert_eq!(rt.block_on(async { 1 }), 1);
/// ```
pub fn current_thread_runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a current-thread runtime builds")
}

/// A multi-thread runtime with `workers` worker threads, I/O and timers.
///
/// # Panics
///
/// If the runtime cannot be built (out of threads or file descriptors).
///
/// ```
/// let rt = cache_tests::blocking_harness::multi_thread_runtime(2);
/// assert_eq!(rt.block_on(async { 1 }), 1);
/// ```
pub fn multi_thread_runtime(workers: usize) -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(workers)
        .enable_all()
        .build()
        .expect("a multi-thread runtime builds")
}
