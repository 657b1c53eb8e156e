//! Running async code from sync code: the bridge behind [`Cache::blocking`](crate::Cache::blocking)
//! and sync memoized functions.
//!
//! The future is polled on the calling thread, which parks between polls.
//! Remote backends' futures run inside the context of a small runtime owned
//! by this crate (one worker thread, started on first use), whose driver
//! delivers their I/O and timers. That is what makes the blocking calls
//! safe everywhere:
//!
//! - outside any runtime: nothing else is needed;
//! - on a multi-thread tokio runtime: the call goes through
//!   `block_in_place`, so the worker's other tasks move to another thread;
//! - on a current-thread tokio runtime: that runtime's thread is blocked for
//!   the duration of the call, but nothing the call waits for (I/O, timers,
//!   connection tasks) runs on it, so it cannot deadlock.

use std::future::Future;
use std::pin::pin;
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll, Wake, Waker};
use std::thread::{self, Thread};

use tokio::runtime::{Handle, Runtime, RuntimeFlavor};

struct ThreadWaker(Thread);

impl Wake for ThreadWaker {
    fn wake(self: Arc<Self>) {
        self.0.unpark();
    }
    fn wake_by_ref(self: &Arc<Self>) {
        self.0.unpark();
    }
}

thread_local! {
    static WAKER: Waker = Waker::from(Arc::new(ThreadWaker(thread::current())));
}

/// The crate's own runtime, for I/O that must progress while a caller
/// blocks. Created on first use.
pub(crate) fn io_handle() -> &'static Handle {
    static IO: OnceLock<Runtime> = OnceLock::new();
    IO.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("cache-core-io")
            .enable_all()
            .build()
            .expect("cannot start the cache-core I/O runtime (out of threads?)")
    })
    .handle()
}

/// Whether the calling thread is inside a current-thread tokio runtime,
/// where waiting for another task of that runtime would deadlock.
pub(crate) fn on_current_thread_runtime() -> bool {
    Handle::try_current().is_ok_and(|h| h.runtime_flavor() == RuntimeFlavor::CurrentThread)
}

/// Runs `fut` to completion on this thread. `needs_io` is false when the
/// future never touches tokio I/O or timers (the in-memory store), which
/// skips the crate runtime entirely.
pub(crate) fn block_on<F: Future>(fut: F, needs_io: bool) -> F::Output {
    if !needs_io {
        return park_on(fut);
    }
    let run = move || {
        let _io = io_handle().enter();
        park_on(fut)
    };
    if Handle::try_current().is_ok_and(|h| h.runtime_flavor() == RuntimeFlavor::MultiThread) {
        tokio::task::block_in_place(run)
    } else {
        run()
    }
}

fn park_on<F: Future>(fut: F) -> F::Output {
    let mut fut = pin!(fut);
    WAKER.with(|waker| {
        let mut cx = Context::from_waker(waker);
        loop {
            match fut.as_mut().poll(&mut cx) {
                Poll::Ready(out) => return out,
                Poll::Pending => thread::park(),
            }
        }
    })
}

/// Polls `fut` inside the context of the crate's I/O runtime: sockets,
/// timers and tasks that redis-rs creates while it runs (connections,
/// reconnections, response timeouts) belong to that runtime, whatever
/// runtime (or none) the caller is on.
#[cfg(feature = "redis")]
pub(crate) async fn on_io<F: Future>(fut: F) -> F::Output {
    let mut fut = pin!(fut);
    std::future::poll_fn(|cx| {
        let _io = io_handle().enter();
        fut.as_mut().poll(cx)
    })
    .await
}
