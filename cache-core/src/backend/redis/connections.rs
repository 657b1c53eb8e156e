//! The connections to one Redis server, kept per tokio runtime.
//!
//! A redis-rs multiplexed connection is driven by a task, spawned on the
//! runtime that made the connection, which writes the requests it receives
//! through a channel and sends each reply back through another. When that
//! task runs on another thread than the caller, every request wakes that
//! thread and is woken by it, and those two thread switches can cost more
//! than the round trip to a Redis on the same host. So:
//!
//! - an async caller on a tokio runtime uses connections made on that
//!   runtime (by a task spawned there), which its own threads drive;
//! - everything else (blocking calls, callers outside any runtime, tasks
//!   of the crate's I/O runtime, and every call under
//!   [`ConnectionRuntime::Shared`]) uses connections made on the crate's
//!   I/O runtime, which outlive any caller's runtime.
//!
//! A runtime's connections are forgotten when it shuts down (a task spawned
//! on it forgets them when the runtime drops it); other runtimes' are not
//! touched. Connect and response timeouts are timers of the crate's I/O
//! runtime, so that a caller's runtime needs no time driver. A runtime that
//! cannot make connections (one built without `enable_io`: tokio panics in
//! the connecting task) falls back to the shared connections.

use std::future::Future;
use std::num::NonZeroUsize;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, Weak};
use std::time::Duration;

use ::redis::aio::MultiplexedConnection;
use ::redis::{AsyncConnectionConfig, FromRedisValue, RedisError};
use futures_util::future::{BoxFuture, FutureExt};
use tokio::runtime::{self, Handle};
use tokio::sync::oneshot;

use super::commands::Request;
use super::error::{task_failed, timed_out};
use super::lazy::Lazy;
use super::settings::Timeouts;
use crate::runtime::io_handle;

/// Which runtime drives the connections of an async call made on a tokio
/// runtime (blocking calls and calls made outside any runtime always use
/// the crate's own I/O runtime). Set with
/// [`RedisBackendBuilder::connection_runtime`](super::RedisBackendBuilder::connection_runtime)
/// or the URL option `connection_runtime=caller|shared`; it applies to
/// standalone servers and Sentinel masters (a cluster's connections are
/// always on the crate's I/O runtime).
///
/// ```
/// use cache_core::backend::redis::ConnectionRuntime;
/// use cache_core::backend::RedisBackend;
///
/// let backend = RedisBackend::from_url("redis://127.0.0.1:6379/0?connection_runtime=shared")?;
/// assert_eq!(backend.connection_runtime(), ConnectionRuntime::Shared);
/// assert_eq!(ConnectionRuntime::default(), ConnectionRuntime::Caller);
/// # Ok::<(), cache_core::Error>(())
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ConnectionRuntime {
    /// The caller's runtime (the default): each tokio runtime that calls
    /// the store gets its own connections, made on first use and driven
    /// by its own threads, so a request costs no switch to another
    /// thread. They close when that runtime shuts down. The runtime needs
    /// its I/O driver (`enable_io` or `enable_all`, which
    /// `#[tokio::main]`, `#[tokio::test]` and `Runtime::new` turn on), but
    /// not its time driver. A current-thread runtime drives its
    /// connections only while its `block_on` runs: a future polled
    /// elsewhere (another executor inside `Handle::enter`, or
    /// `Handle::block_on` on another thread) times out.
    #[default]
    Caller,
    /// The crate's I/O runtime, for every call: one set of connections for
    /// the whole process, whatever runtime calls. Each request then
    /// switches to the crate's I/O thread and back. For applications that
    /// start many short-lived runtimes (each would connect anew, with a
    /// TLS handshake for `rediss://`), or whose runtimes have no I/O
    /// driver.
    Shared,
}

impl ConnectionRuntime {
    /// `caller` or `shared`, as the URL option spells it.
    pub(super) fn parse(text: &str) -> Option<Self> {
        match text {
            "caller" => Some(Self::Caller),
            "shared" => Some(Self::Shared),
            _ => None,
        }
    }
}

/// The connections to one server, per runtime.
pub(super) struct Connections {
    client: ::redis::Client,
    timeouts: Timeouts,
    per_runtime: NonZeroUsize,
    placement: ConnectionRuntime,
    homes: Arc<Mutex<Vec<Home>>>,
}

/// The connections of one runtime.
struct Home {
    runtime: runtime::Id,
    pool: Arc<Pool>,
    /// Dropped with the home (the store was dropped): ends the task that
    /// forgets the home when its runtime shuts down.
    _stop: Option<oneshot::Sender<()>>,
}

/// The connections one runtime drives, used in turn.
struct Pool {
    slots: Box<[Lazy<Arc<MultiplexedConnection>, RedisError>]>,
    next: AtomicUsize,
    /// Set when this runtime could not make a connection (no I/O driver):
    /// its calls use the shared connections from then on.
    unable: AtomicBool,
}

/// Where a call's connections live.
enum Place {
    /// The caller's runtime, through its handle.
    Caller(Handle),
    /// The crate's I/O runtime.
    Io,
}

impl Place {
    fn handle(&self) -> &Handle {
        match self {
            Self::Caller(handle) => handle,
            Self::Io => io_handle(),
        }
    }
}

/// One connection of a pool, for one request.
pub(super) struct Lease {
    pool: Arc<Pool>,
    slot: usize,
    conn: Arc<MultiplexedConnection>,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Connections {
    /// Connections to what `client` points at, `per_runtime` on each
    /// runtime that uses them. Does not connect.
    pub(super) fn new(
        client: ::redis::Client,
        timeouts: Timeouts,
        per_runtime: NonZeroUsize,
        placement: ConnectionRuntime,
    ) -> Self {
        Self {
            client,
            timeouts,
            per_runtime,
            placement,
            homes: Arc::new(Mutex::new(Vec::new())),
        }
    }

    /// Whether some runtime holds a connection.
    pub(super) fn is_connected(&self) -> bool {
        lock(&self.homes)
            .iter()
            .any(|home| home.pool.slots.iter().any(|slot| slot.current().is_some()))
    }

    /// A connection for a call made here (connecting first if needed),
    /// the next one of this runtime's pool.
    pub(super) async fn lease(&self) -> Result<Lease, RedisError> {
        let mut place = self.place();
        loop {
            let pool = self.pool(&place);
            if pool.unable.load(Ordering::Relaxed) {
                place = Place::Io;
                continue;
            }
            let slot = if pool.slots.len() == 1 {
                0
            } else {
                pool.next.fetch_add(1, Ordering::Relaxed) % pool.slots.len()
            };
            let connected = pool.slots[slot]
                .get(|| self.start_connecting(&place, &pool))
                .await;
            match connected {
                Ok(conn) => return Ok(Lease { pool, slot, conn }),
                // This runtime cannot make connections: the shared ones.
                Err(_) if pool.unable.load(Ordering::Relaxed) => place = Place::Io,
                Err(e) => return Err(e),
            }
        }
    }

    /// Where a call made here gets its connections.
    fn place(&self) -> Place {
        if self.placement == ConnectionRuntime::Shared {
            return Place::Io;
        }
        match Handle::try_current() {
            Ok(handle) if handle.id() != io_handle().id() => Place::Caller(handle),
            _ => Place::Io,
        }
    }

    /// The pool of `place`'s runtime, made on its first call.
    fn pool(&self, place: &Place) -> Arc<Pool> {
        let runtime = place.handle().id();
        let (pool, stopped) = {
            let mut homes = lock(&self.homes);
            if let Some(home) = homes.iter().find(|home| home.runtime == runtime) {
                return home.pool.clone();
            }
            let pool = Arc::new(Pool::new(self.per_runtime));
            let (stop, stopped) = match place {
                Place::Caller(_) => {
                    let (stop, stopped) = oneshot::channel();
                    (Some(stop), Some(stopped))
                }
                Place::Io => (None, None),
            };
            homes.push(Home {
                runtime,
                pool: pool.clone(),
                _stop: stop,
            });
            (pool, stopped)
        };
        if let Some(stopped) = stopped {
            // Spawned with the lock released: on a runtime that is
            // shutting down, the task is dropped at once, and forgets the
            // home it was spawned for.
            let forget = Forget {
                homes: Arc::downgrade(&self.homes),
                runtime,
            };
            drop(place.handle().spawn(async move {
                let _forget = forget;
                let _ = stopped.await;
            }));
        }
        pool
    }

    /// Connects on `place`'s runtime (where the connection's task will
    /// live), within the connect timeout. A connecting task that panics
    /// on a caller's runtime marks `pool` unable to connect.
    fn start_connecting(
        &self,
        place: &Place,
        pool: &Arc<Pool>,
    ) -> BoxFuture<'static, Result<Arc<MultiplexedConnection>, RedisError>> {
        let client = self.client.clone();
        // Timeouts are ours, on the I/O runtime's timers.
        let config = AsyncConnectionConfig::new()
            .set_connection_timeout(None)
            .set_response_timeout(None);
        let limit = self.timeouts.connect;
        let connect = within(limit, async move {
            client
                .get_multiplexed_async_connection_with_config(&config)
                .await
        });
        let task = place.handle().spawn(async move {
            connect
                .await
                .unwrap_or_else(|_| Err(timed_out("connecting", limit)))
        });
        let pool = matches!(place, Place::Caller(_)).then(|| Arc::downgrade(pool));
        async move {
            match task.await {
                Ok(connected) => connected.map(Arc::new),
                Err(join) => {
                    if let Some(pool) = pool.filter(|_| join.is_panic()).and_then(|p| p.upgrade()) {
                        pool.unable.store(true, Ordering::Relaxed);
                        tracing::warn!(
                            "a tokio runtime could not make a Redis connection (no I/O driver?): \
                             its calls use the crate's shared connections"
                        );
                    }
                    Err(task_failed(&join))
                }
            }
        }
        .boxed()
    }
}

impl Pool {
    fn new(size: NonZeroUsize) -> Self {
        Self {
            slots: (0..size.get()).map(|_| Lazy::new()).collect(),
            next: AtomicUsize::new(0),
            unable: AtomicBool::new(false),
        }
    }
}

impl Lease {
    /// Sends `request` and parses the reply, within `timeout`. A
    /// connection that fails in a way that leaves it unusable is
    /// forgotten: the next request on its slot connects anew.
    pub(super) async fn send<T: FromRedisValue>(
        self,
        request: Request<'_>,
        timeout: Duration,
    ) -> Result<T, RedisError> {
        let mut conn = MultiplexedConnection::clone(&self.conn);
        let reply = within(timeout, async {
            match request {
                Request::Cmd(cmd) => cmd.query_async(&mut conn).await,
                Request::Pipe(pipe) => pipe.query_async(&mut conn).await,
            }
        })
        .await
        .unwrap_or_else(|_| Err(timed_out("the request", timeout)));
        if let Err(e) = &reply {
            if e.is_unrecoverable_error() {
                self.pool.slots[self.slot].reset_if(|current| Arc::ptr_eq(current, &self.conn));
            }
        }
        reply
    }
}

/// Forgets a runtime's connections when dropped: by that runtime, as it
/// shuts down (or after the store is gone, when it does nothing).
struct Forget {
    homes: Weak<Mutex<Vec<Home>>>,
    runtime: runtime::Id,
}

impl Drop for Forget {
    fn drop(&mut self) {
        let Some(homes) = self.homes.upgrade() else {
            return;
        };
        let gone = {
            let mut homes = lock(&homes);
            homes
                .iter()
                .position(|home| home.runtime == self.runtime)
                .map(|at| homes.swap_remove(at))
        };
        // Dropped with the lock released.
        drop(gone);
    }
}

/// `fut`, or `Err(())` once `limit` has passed, timed by the crate's I/O
/// runtime (the caller's runtime may have no timers).
fn within<F: Future>(limit: Duration, fut: F) -> tokio::time::Timeout<F> {
    let _io = io_handle().enter();
    tokio::time::timeout(limit, fut)
}
