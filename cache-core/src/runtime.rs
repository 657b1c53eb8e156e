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
//!   connection tasks) runs on it, so it cannot deadlock;
//! - inside another blocking call's computation (a sync memoized function
//!   calling another): the same as for the outer call's caller, whatever
//!   runtime the outer call entered.

use std::cell::Cell;
use std::future::Future;
use std::pin::pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll, Wake, Waker};
use std::thread::{self, Thread};
use std::time::Duration;

use tokio::runtime::{Handle, Runtime, RuntimeFlavor};

/// Wakes a thread parked in [`park_on`]. The flag tells a wake-up meant for
/// this call from one meant for an outer call parked on the same thread
/// (whose computation made this call), or from any other `unpark`.
struct Signal {
    thread: Thread,
    woken: AtomicBool,
}

impl Wake for Signal {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }
    fn wake_by_ref(self: &Arc<Self>) {
        self.woken.store(true, Ordering::Release);
        self.thread.unpark();
    }
}

/// A [`Signal`] and a waker for it, made once per thread and reused.
struct Parker {
    signal: Arc<Signal>,
    waker: Waker,
}

impl Parker {
    fn new() -> Self {
        let signal = Arc::new(Signal {
            thread: thread::current(),
            woken: AtomicBool::new(false),
        });
        let waker = Waker::from(Arc::clone(&signal));
        Self { signal, waker }
    }
}

/// Where a blocking call's caller runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Caller {
    /// Outside any tokio runtime.
    NoRuntime,
    /// In a current-thread runtime (or a flavour we know nothing about),
    /// whose only thread the call blocks.
    CurrentThread,
    /// In a multi-thread runtime, whose worker can step aside.
    MultiThread,
}

thread_local! {
    /// This thread's parker while no [`park_on`] holds it: nested calls
    /// (which find it taken) make their own.
    static PARKER: Cell<Option<Parker>> = const { Cell::new(None) };

    /// While a blocking call runs on this thread, where its caller was.
    /// A blocking call made by its computation (a sync memoized function
    /// calling another) acts for that same caller: the runtime it finds
    /// current is the crate's I/O runtime, which the outer call entered,
    /// and not one it may block or step aside from.
    static BLOCKING_FOR: Cell<Option<Caller>> = const { Cell::new(None) };
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

/// Where a blocking call made now on this thread comes from: the caller of
/// the outermost blocking call running on this thread, if any.
fn caller() -> Caller {
    BLOCKING_FOR
        .get()
        .unwrap_or_else(|| match Handle::try_current() {
            Err(_) => Caller::NoRuntime,
            Ok(handle) => match handle.runtime_flavor() {
                RuntimeFlavor::MultiThread => Caller::MultiThread,
                _ => Caller::CurrentThread,
            },
        })
}

/// Whether a blocking call made now would block the only thread of a
/// current-thread tokio runtime, where waiting for another task of that
/// runtime would deadlock. A nested blocking call answers for the
/// outermost one's caller.
pub(crate) fn on_current_thread_runtime() -> bool {
    caller() == Caller::CurrentThread
}

/// Restores [`BLOCKING_FOR`] when a blocking call ends, even by a panic.
struct Restore(Option<Caller>);

impl Drop for Restore {
    fn drop(&mut self) {
        BLOCKING_FOR.set(self.0);
    }
}

/// Runs `fut` to completion on this thread. `needs_io` is false when the
/// future never touches tokio I/O or timers (the in-memory store), which
/// skips the crate runtime entirely.
///
/// A call made while another blocking call computes on this thread (they
/// nest) parks the same way, on behalf of the outermost call's caller: it
/// steps aside with `block_in_place` only when that caller is a
/// multi-thread runtime worker.
pub(crate) fn block_on<F: Future>(fut: F, needs_io: bool) -> F::Output {
    let caller = caller();
    let _restore = Restore(BLOCKING_FOR.replace(Some(caller)));
    let run = move || {
        let _io = needs_io.then(|| io_handle().enter());
        park_on(fut)
    };
    if needs_io && caller == Caller::MultiThread {
        tokio::task::block_in_place(run)
    } else {
        run()
    }
}

/// Polls `fut` until it is ready, parking the thread in between.
///
/// The future is polled outside tokio's cooperative budget
/// (`unconstrained`). Inside a runtime the budget belongs to the caller's
/// task, and the tokio resources the future uses (channels, timers) would
/// spend it: once it is gone they answer "pending" and defer their wake-up
/// until the task yields, which a task blocked here never does. A blocking
/// call runs to completion whatever budget its caller has left.
fn park_on<F: Future>(fut: F) -> F::Output {
    let parker = PARKER.take().unwrap_or_else(Parker::new);
    parker.signal.woken.store(false, Ordering::Relaxed);
    let mut fut = pin!(tokio::task::unconstrained(fut));
    let mut cx = Context::from_waker(&parker.waker);
    let out = loop {
        match fut.as_mut().poll(&mut cx) {
            Poll::Ready(out) => break out,
            Poll::Pending => {
                while !parker.signal.woken.swap(false, Ordering::Acquire) {
                    thread::park();
                }
            }
        }
    };
    PARKER.set(Some(parker));
    out
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

/// `fut`, or `Err(Elapsed)` once `limit` has passed, timed by the crate's
/// I/O runtime (the caller's runtime may have no timers).
pub(crate) fn timeout<F: Future>(limit: Duration, fut: F) -> tokio::time::Timeout<F> {
    let _io = io_handle().enter();
    tokio::time::timeout(limit, fut)
}

/// A sleep timed by the crate's I/O runtime (the caller's runtime may have
/// no timers).
pub(crate) fn sleep(duration: Duration) -> tokio::time::Sleep {
    let _io = io_handle().enter();
    tokio::time::sleep(duration)
}

/// Runs `fut` in the background: on the caller's runtime when there is
/// one, on the crate's I/O runtime otherwise.
pub(crate) fn spawn<F>(fut: F) -> tokio::task::JoinHandle<F::Output>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    match Handle::try_current() {
        Ok(handle) => handle.spawn(fut),
        Err(_) => io_handle().spawn(fut),
    }
}

#[cfg(test)]
mod tests {
    use std::future::Future;
    use std::pin::pin;
    use std::sync::mpsc;
    use std::task::Poll;
    use std::time::Duration;

    use tokio::sync::oneshot;

    use super::block_on;

    /// A receiver whose value a thread sends after `delay`.
    fn later(delay: Duration, value: u32) -> oneshot::Receiver<u32> {
        let (tx, rx) = oneshot::channel();
        std::thread::spawn(move || {
            std::thread::sleep(delay);
            let _ = tx.send(value);
        });
        rx
    }

    /// Polls `first` then `second` until both are done.
    async fn both<A: Future, B: Future>(first: A, second: B) -> (A::Output, B::Output) {
        let (mut first, mut second) = (pin!(first), pin!(second));
        let (mut a, mut b) = (None, None);
        std::future::poll_fn(|cx| {
            if a.is_none() {
                if let Poll::Ready(v) = first.as_mut().poll(cx) {
                    a = Some(v);
                }
            }
            if b.is_none() {
                if let Poll::Ready(v) = second.as_mut().poll(cx) {
                    b = Some(v);
                }
            }
            if a.is_some() && b.is_some() {
                Poll::Ready((a.take().unwrap(), b.take().unwrap()))
            } else {
                Poll::Pending
            }
        })
        .await
    }

    #[test]
    fn a_nested_call_does_not_swallow_a_wake_up_meant_for_the_outer_call() {
        let (done, finished) = mpsc::channel();
        std::thread::spawn(move || {
            // The outer call waits for `outer`, which is ready while the
            // nested call (made by the second half of the outer future)
            // still parks for `inner`.
            let outer = later(Duration::from_millis(20), 1);
            let out = block_on(
                both(async { outer.await.unwrap() }, async {
                    block_on(later(Duration::from_millis(200), 2), false).unwrap()
                }),
                false,
            );
            let _ = done.send(out);
        });
        let out = finished
            .recv_timeout(Duration::from_secs(10))
            .expect("the outer call never woke up");
        assert_eq!(out, (1, 2));
    }
}
