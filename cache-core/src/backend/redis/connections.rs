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

use std::num::NonZeroUsize;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError, Weak};
use std::time::Duration;

use ::redis::aio::MultiplexedConnection;
use ::redis::{AsyncConnectionConfig, FromRedisValue, RedisError};
use arc_swap::ArcSwap;
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
/// always on the crate's I/O runtime: redis-rs's cluster task needs the
/// timers of the runtime it runs on, which a caller's runtime may not
/// have).
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
    /// the store gets its own connection (or
    /// [`connections`](super::RedisBackendBuilder::connections)), made on
    /// first use and driven by its own threads, so that a request costs no
    /// switch to another thread. They close when that runtime shuts down.
    /// The runtime needs its I/O driver (`enable_io` or `enable_all`,
    /// which `#[tokio::main]`, `#[tokio::test]` and `Runtime::new` turn
    /// on), but not its time driver; one without I/O driver uses the
    /// shared connections instead, after tokio's panic message about it,
    /// printed by the task that tried to connect (with `panic = "abort"`,
    /// choose [`Shared`](Self::Shared) for such runtimes). A
    /// current-thread runtime drives its connections only while its
    /// `block_on` runs: a future polled elsewhere (by another executor
    /// inside `Handle::enter`, or `Handle::block_on` on another thread)
    /// times out.
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
    homes: Arc<Homes>,
}

/// The runtimes that use a server, each with its connections. Read by
/// every request without a lock; replaced whole, one writer at a time,
/// when a runtime comes or goes.
struct Homes {
    list: ArcSwap<Vec<Arc<Home>>>,
    edit: Mutex<()>,
}

/// The connections one runtime drives, used in turn.
struct Home {
    runtime: runtime::Id,
    slots: Box<[Lazy<Connected, RedisError>]>,
    next: AtomicUsize,
    /// Set when this runtime could not make a connection (no I/O driver):
    /// its calls use the shared connections from then on.
    unable: AtomicBool,
    /// Dropped with the home (the store was dropped, or the home
    /// forgotten): ends the task that forgets the home when its runtime
    /// shuts down.
    _stop: Option<oneshot::Sender<()>>,
}

/// A connection, numbered so that a request that finds it broken forgets
/// that one and not its replacement.
#[derive(Clone)]
struct Connected {
    serial: u64,
    conn: MultiplexedConnection,
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

/// What a runtime's home offers a call.
enum Found {
    /// A connection.
    Ready(Connected, usize),
    /// A slot to connect.
    Connect(Arc<Home>, usize),
    /// Nothing: the runtime cannot make connections.
    Unable,
    /// Nothing: the runtime has no home yet.
    Missing,
}

/// Where [`Connections::ready`] found no connection to lend: the runtime
/// and slot it chose, if it found a home, so that [`Connections::lease`]
/// connects that slot and not the next one (which would leave slots
/// unused).
pub(super) struct Unready {
    slot: Option<(runtime::Id, usize)>,
}

/// One connection, for one request.
pub(super) struct Lease<'a> {
    owner: &'a Connections,
    runtime: runtime::Id,
    slot: usize,
    connected: Connected,
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
            homes: Arc::new(Homes {
                list: ArcSwap::from_pointee(Vec::new()),
                edit: Mutex::new(()),
            }),
        }
    }

    /// Whether some runtime holds a connection.
    pub(super) fn is_connected(&self) -> bool {
        self.homes.list.load().iter().any(|home| {
            home.slots
                .iter()
                .any(|slot| slot.with_current(|_| ()).is_some())
        })
    }

    /// The next connection of the runtime of a call made here, if it is
    /// connected: the path of almost every request, without a lock, an
    /// allocation or an await. Otherwise, what [`lease`](Self::lease)
    /// starts from.
    pub(super) fn ready(&self) -> Result<Lease<'_>, Unready> {
        let mut runtime = self.place().handle().id();
        let mut found = self.find(runtime, None);
        if matches!(found, Found::Unable) {
            runtime = io_handle().id();
            found = self.find(runtime, None);
        }
        match found {
            Found::Ready(connected, slot) => Ok(self.lent(runtime, slot, connected)),
            Found::Connect(_, slot) => Err(Unready {
                slot: Some((runtime, slot)),
            }),
            Found::Unable | Found::Missing => Err(Unready { slot: None }),
        }
    }

    /// A connection for a call made here, connecting first if needed: the
    /// slot [`ready`](Self::ready) found unconnected, or the next one of
    /// this runtime's.
    pub(super) async fn lease(&self, unready: Unready) -> Result<Lease<'_>, RedisError> {
        let mut place = self.place();
        let mut hint = unready.slot;
        loop {
            let runtime = place.handle().id();
            let slot = match hint {
                Some((hinted, slot)) if hinted == runtime => {
                    hint = None;
                    Some(slot)
                }
                _ => None,
            };
            let (home, at) = match self.find(runtime, slot) {
                Found::Ready(connected, at) => {
                    return Ok(self.lent(runtime, at, connected));
                }
                Found::Connect(home, at) => (home, at),
                Found::Unable => {
                    place = Place::Io;
                    continue;
                }
                Found::Missing => {
                    self.add_home(&place);
                    continue;
                }
            };
            let connected = home.slots[at]
                .get(|| self.start_connecting(&place, &home))
                .await;
            match connected {
                Ok(connected) => return Ok(self.lent(runtime, at, connected)),
                // This runtime cannot make connections: the shared ones.
                Err(_) if home.unable.load(Ordering::Relaxed) => place = Place::Io,
                Err(e) => return Err(e),
            }
        }
    }

    fn lent(&self, runtime: runtime::Id, slot: usize, connected: Connected) -> Lease<'_> {
        Lease {
            owner: self,
            runtime,
            slot,
            connected,
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

    /// What `runtime`'s home offers: its next connection, without a lock
    /// when it is connected.
    fn find(&self, runtime: runtime::Id, slot: Option<usize>) -> Found {
        let homes = self.homes.list.load();
        let Some(home) = homes.iter().find(|home| home.runtime == runtime) else {
            return Found::Missing;
        };
        if home.unable.load(Ordering::Relaxed) {
            return Found::Unable;
        }
        let slot = match slot {
            Some(slot) if slot < home.slots.len() => slot,
            _ if home.slots.len() == 1 => 0,
            _ => home.next.fetch_add(1, Ordering::Relaxed) % home.slots.len(),
        };
        match home.slots[slot].current() {
            Some(connected) => Found::Ready(connected, slot),
            None => Found::Connect(home.clone(), slot),
        }
    }

    /// Gives `place`'s runtime a home, unless it has one.
    fn add_home(&self, place: &Place) {
        let runtime = place.handle().id();
        let stopped = {
            let _edit = self
                .homes
                .edit
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            let homes = self.homes.list.load();
            if homes.iter().any(|home| home.runtime == runtime) {
                return;
            }
            let (stop, stopped) = match place {
                Place::Caller(_) => {
                    let (stop, stopped) = oneshot::channel();
                    (Some(stop), Some(stopped))
                }
                Place::Io => (None, None),
            };
            let home = Home {
                runtime,
                slots: (0..self.per_runtime.get()).map(|_| Lazy::new()).collect(),
                next: AtomicUsize::new(0),
                unable: AtomicBool::new(false),
                _stop: stop,
            };
            let mut list = Vec::with_capacity(homes.len() + 1);
            list.extend(homes.iter().cloned());
            list.push(Arc::new(home));
            self.homes.list.store(Arc::new(list));
            stopped
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
    }

    /// Forgets the connection `serial` of `runtime`'s slot `slot`, if it
    /// is still there: the next request on that slot connects anew.
    fn forget(&self, runtime: runtime::Id, slot: usize, serial: u64) {
        let homes = self.homes.list.load();
        if let Some(home) = homes.iter().find(|home| home.runtime == runtime) {
            home.slots[slot].reset_if(|current| current.serial == serial);
        }
    }

    /// Connects on `place`'s runtime (where the connection's task will
    /// live), within the connect timeout. A connecting task that panics
    /// on a caller's runtime marks `home` unable to connect.
    fn start_connecting(
        &self,
        place: &Place,
        home: &Arc<Home>,
    ) -> BoxFuture<'static, Result<Connected, RedisError>> {
        static SERIAL: AtomicU64 = AtomicU64::new(0);
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
        let home = matches!(place, Place::Caller(_)).then(|| Arc::downgrade(home));
        async move {
            match task.await {
                Ok(connected) => connected.map(|conn| Connected {
                    serial: SERIAL.fetch_add(1, Ordering::Relaxed),
                    conn,
                }),
                Err(join) => {
                    let unable = home.filter(|_| join.is_panic()).and_then(|h| h.upgrade());
                    if let Some(home) = unable {
                        home.unable.store(true, Ordering::Relaxed);
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

impl Lease<'_> {
    /// Sends `request` and parses the reply, within `timeout`. A
    /// connection that fails in a way that leaves it unusable is
    /// forgotten: the next request on its slot connects anew.
    pub(super) async fn send<T: FromRedisValue>(
        mut self,
        request: Request<'_>,
        timeout: Duration,
    ) -> Result<T, RedisError> {
        let conn = &mut self.connected.conn;
        let reply = within(timeout, async {
            match request {
                Request::Cmd(cmd) => cmd.query_async(conn).await,
                Request::Pipe(pipe) => pipe.query_async(conn).await,
            }
        })
        .await
        .unwrap_or_else(|_| Err(timed_out("the request", timeout)));
        if let Err(e) = &reply {
            if e.is_unrecoverable_error() {
                self.owner
                    .forget(self.runtime, self.slot, self.connected.serial);
            }
        }
        reply
    }
}

/// Forgets a runtime's connections when dropped: by that runtime, as it
/// shuts down (or after the store is gone, when it does nothing).
struct Forget {
    homes: Weak<Homes>,
    runtime: runtime::Id,
}

impl Drop for Forget {
    fn drop(&mut self) {
        let Some(homes) = self.homes.upgrade() else {
            return;
        };
        let before = {
            let _edit = homes.edit.lock().unwrap_or_else(PoisonError::into_inner);
            let list = homes.list.load();
            if !list.iter().any(|home| home.runtime == self.runtime) {
                return;
            }
            let rest = list
                .iter()
                .filter(|home| home.runtime != self.runtime)
                .cloned()
                .collect();
            homes.list.swap(Arc::new(rest))
        };
        // The forgotten home goes (with its connections) once no request
        // holds it, with the lock released.
        drop(before);
    }
}

use crate::runtime::timeout as within;
